//! The sizing model: validated inputs → a complete, explained plan. Pure and deterministic.

mod observability;
mod services;
mod stores;
mod target;
mod workload;

use std::collections::BTreeMap;

use crate::coefficients::{CoefficientError, Coefficients};
use crate::explain::{Explanation, Recorder, ceil_div, number, thousands};
use crate::inputs::ValidInputs;
use crate::placement::{self, Task};
use crate::plan::{PLAN_FORMAT_VERSION, Plan, PlanInputs, Resources};
use crate::plan_file;

/// A plan and the explanation of each of its numbers.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan (sealed: its hash is set).
    pub plan: Plan,
    /// One explanation per number, in plan order.
    pub explanations: Vec<Explanation>,
}

/// Why no plan could be made. Input problems are reported earlier, by validation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// The embedded data files are broken.
    #[error(transparent)]
    Coefficients(#[from] CoefficientError),
    /// The model asked for coefficients the data files do not define.
    #[error("sizing/data lacks the coefficients {0:?}")]
    MissingCoefficients(Vec<String>),
}

/// Plans a deployment from validated inputs with the embedded coefficients.
pub fn plan(valid: &ValidInputs) -> Result<Planned, PlanError> {
    plan_with(valid, Coefficients::embedded()?)
}

/// Plans a deployment with the given coefficients.
pub fn plan_with(valid: &ValidInputs, coefficients: &Coefficients) -> Result<Planned, PlanError> {
    let mut ctx = Ctx::new(coefficients, valid);
    explain_inputs(&mut ctx, valid);

    let workload = workload::compute(&mut ctx);
    let mut services = services::compute(&mut ctx, &workload);
    let data_stores = stores::compute(&mut ctx, &workload);
    let application_tasks = services
        .values()
        .map(|service| u64::from(service.replicas))
        .sum::<u64>()
        + stores::task_count(&data_stores);
    let observability = observability::compute(&mut ctx, &workload, application_tasks);

    let mut tasks = services::tasks(&services);
    tasks.extend(stores::tasks(&data_stores));
    tasks.extend(observability::tasks(&observability));
    let placed = placement::place(&mut ctx, &tasks, &observability);
    for service in services.values_mut() {
        service.max_replicas_per_node = placed
            .hosts
            .iter()
            .map(|host| {
                host.tasks
                    .iter()
                    .filter(|task| task.service == service.name)
                    .count() as u32
            })
            .max()
            .unwrap_or(1)
            .max(1);
        let path = format!("services.{}.max_replicas_per_node", service.name);
        ctx.rec.explain(
            path,
            service.max_replicas_per_node,
            "the most replicas the placement puts on one host (Swarm refuses to schedule more)",
            &[],
        );
    }

    let (target, target_reason) = target::choose(&mut ctx);
    let development_pcc = ctx.rec.c_u64("development.max_pcc");
    ctx.rec.explain(
        "development",
        ctx.development,
        format!(
            "{} PCC ≤ {development_pcc} development.max_pcc",
            ctx.inputs.pcc
        ),
        &["development.max_pcc"],
    );
    ctx.rec.explain(
        "ha",
        ctx.ha,
        match ctx.inputs.requested_ha {
            Some(_) => "given (--ha/--no-ha)".to_owned(),
            None => "on unless the development size".to_owned(),
        },
        &["development.max_pcc"],
    );
    ctx.rec.explain(
        "target",
        target,
        target_reason.clone(),
        &[
            "target.swarm_max_mau",
            "target.swarm_max_pcc",
            "development.max_pcc",
        ],
    );
    let mut warnings = placed.warnings;
    warnings.extend(target::warnings(
        &mut ctx,
        target,
        placed.hosts.len(),
        &data_stores,
    ));
    let reference = target::reference(&mut ctx, &placed.totals, &services);

    if !ctx.rec.missing.is_empty() {
        return Err(PlanError::MissingCoefficients(
            ctx.rec.missing.into_iter().collect(),
        ));
    }
    ctx.rec.explain(
        "version",
        PLAN_FORMAT_VERSION,
        "plan file format version",
        &[],
    );
    ctx.rec.explain(
        "coefficients_version",
        crate::coefficients::COEFFICIENTS_VERSION,
        "version of sizing/data/*.toml",
        &[],
    );
    let mut plan = Plan {
        version: PLAN_FORMAT_VERSION,
        hash: String::new(),
        coefficients_version: crate::coefficients::COEFFICIENTS_VERSION,
        inputs: ctx.inputs.clone(),
        target,
        target_reason,
        ha: ctx.ha,
        development: ctx.development,
        workload,
        services,
        data_stores,
        observability,
        hosts: placed.hosts,
        totals: placed.totals,
        reference,
        warnings,
    };
    plan_file::seal(&mut plan);
    Ok(Planned {
        plan,
        explanations: ctx.rec.explanations,
    })
}

/// Model state shared by the parts: the recorder, the inputs and the size class.
pub(crate) struct Ctx<'a> {
    pub(crate) rec: Recorder<'a>,
    pub(crate) inputs: PlanInputs,
    /// The single-host development/CI size (PCC at most `development.max_pcc`).
    pub(crate) development: bool,
    pub(crate) ha: bool,
    /// Members of a quorum: 3 with HA, 1 without.
    pub(crate) quorum: u32,
}

impl<'a> Ctx<'a> {
    fn new(coefficients: &'a Coefficients, valid: &ValidInputs) -> Self {
        let mut rec = Recorder::new(coefficients);
        let inputs = valid.inputs.clone();
        let development_max = rec.c_u64("development.max_pcc");
        let development = inputs.pcc <= development_max;
        let ha = inputs.requested_ha.unwrap_or(!development);
        let quorum = if ha {
            rec.c_u64("quorum.members") as u32
        } else {
            1
        };
        Ctx {
            rec,
            inputs,
            development,
            ha,
            quorum,
        }
    }

    /// `quorum.members` with HA, 1 without, with its explanation text.
    pub(crate) fn quorum_formula(&self) -> (String, Vec<&'static str>) {
        if self.ha {
            (
                format!("{} (quorum.members, HA)", self.quorum),
                vec!["quorum.members"],
            )
        } else {
            ("1 (not HA)".to_owned(), vec![])
        }
    }

    /// A per-instance CPU or memory coefficient, scaled down for the development size.
    pub(crate) fn scaled(&mut self, name: &'static str) -> Figure {
        let value = self.rec.c(name);
        self.scale(Figure {
            value: value.ceil() as u64,
            formula: format!("{} ({name})", thousands(value.ceil() as u64)),
            names: vec![name],
        })
    }

    /// Applies the development scale to a figure.
    pub(crate) fn scale(&mut self, figure: Figure) -> Figure {
        if !self.development {
            return figure;
        }
        let scale = self.rec.c("development.resource_scale");
        let mut names = figure.names;
        names.push("development.resource_scale");
        Figure {
            value: ((figure.value as f64) * scale).ceil() as u64,
            formula: format!(
                "({}) × {} (development.resource_scale)",
                figure.formula,
                number(scale)
            ),
            names,
        }
    }

    /// Records the five resource figures of one instance and returns them.
    pub(crate) fn resources(
        &mut self,
        path: &str,
        cpu: Figure,
        memory: Figure,
        disk: Figure,
        limits: Limits,
    ) -> Resources {
        let cpu_factor = self.rec.c(limits.cpu);
        let memory_factor = self.rec.c(limits.memory);
        let resources = Resources {
            cpu_reservation_millicores: cpu.value,
            cpu_limit_millicores: ceil_div(cpu.value as f64 * cpu_factor, 1.0),
            memory_reservation_mib: memory.value,
            memory_limit_mib: ceil_div(memory.value as f64 * memory_factor, 1.0),
            disk_gib: disk.value,
        };
        let mut cpu_names = cpu.names.clone();
        cpu_names.push(limits.cpu);
        let mut memory_names = memory.names.clone();
        memory_names.push(limits.memory);
        self.rec.explain(
            format!("{path}.cpu_reservation_millicores"),
            resources.cpu_reservation_millicores,
            cpu.formula,
            &cpu.names,
        );
        self.rec.explain(
            format!("{path}.cpu_limit_millicores"),
            resources.cpu_limit_millicores,
            format!(
                "ceil({} reservation × {} ({}))",
                resources.cpu_reservation_millicores,
                number(cpu_factor),
                limits.cpu
            ),
            &cpu_names,
        );
        self.rec.explain(
            format!("{path}.memory_reservation_mib"),
            resources.memory_reservation_mib,
            memory.formula,
            &memory.names,
        );
        self.rec.explain(
            format!("{path}.memory_limit_mib"),
            resources.memory_limit_mib,
            format!(
                "ceil({} reservation × {} ({}))",
                resources.memory_reservation_mib,
                number(memory_factor),
                limits.memory
            ),
            &memory_names,
        );
        self.rec.explain(
            format!("{path}.disk_gib"),
            resources.disk_gib,
            disk.formula,
            &disk.names,
        );
        resources
    }
}

/// A computed number with its formula and the coefficients in it.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) value: u64,
    pub(crate) formula: String,
    pub(crate) names: Vec<&'static str>,
}

impl Figure {
    /// A figure that is a constant of the design, not a coefficient (zero disk of a stateless service).
    pub(crate) fn fixed(value: u64, why: &str) -> Figure {
        Figure {
            value,
            formula: format!("{value}: {why}"),
            names: vec![],
        }
    }
}

/// Which limit factors apply: services or stores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    cpu: &'static str,
    memory: &'static str,
}

/// Limit factors of stateless services.
pub(crate) const SERVICE_LIMITS: Limits = Limits {
    cpu: "services.cpu_limit_factor",
    memory: "services.memory_limit_factor",
};

/// Limit factors of stateful stores and observability.
pub(crate) const STORE_LIMITS: Limits = Limits {
    cpu: "stores.cpu_limit_factor",
    memory: "stores.memory_limit_factor",
};

/// Node labels selecting the hosts of one service: `cc.<service>=true`.
pub(crate) fn node_labels(service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(format!("cc.{service}"), "true".to_owned())])
}

/// A volume spread over members so that the total never shrinks as the data grows: each member gets
/// `clamp(ceil(total / minimum members), min, cap)` and the member count is at least `ceil(total / cap)`.
pub(crate) struct Volume {
    pub(crate) per_member_gib: u64,
    pub(crate) members_for_data: u64,
}

pub(crate) fn spread_volume(
    total_gib: f64,
    minimum_members: u32,
    cap_gib: u64,
    min_gib: u64,
) -> Volume {
    let even = ceil_div(total_gib, f64::from(minimum_members.max(1)));
    Volume {
        per_member_gib: even.min(cap_gib).max(min_gib),
        members_for_data: ceil_div(total_gib, cap_gib.max(1) as f64),
    }
}

/// The largest volume of one store member: a share of the host's data disk after the system reserve.
pub(crate) fn volume_cap_gib(ctx: &mut Ctx) -> (u64, String, Vec<&'static str>) {
    let disk = u64::from(ctx.inputs.host_size.disk_gib);
    let reserved = ctx.rec.c_u64("hosts.system_reserved_disk_gib");
    let share = ctx.rec.c("stores.max_volume_share_of_host");
    let cap = ((disk.saturating_sub(reserved)) as f64 * share).floor() as u64;
    (
        cap.max(1),
        format!(
            "floor(({disk} GiB host disk − {reserved} hosts.system_reserved_disk_gib) × {} stores.max_volume_share_of_host) = {cap} GiB",
            number(share)
        ),
        vec![
            "hosts.system_reserved_disk_gib",
            "stores.max_volume_share_of_host",
        ],
    )
}

/// Tasks of a member set: `count` tasks with the same resources.
pub(crate) fn member_tasks(
    service: &str,
    count: u32,
    resources: &Resources,
    anti_affinity: Option<&str>,
) -> Vec<Task> {
    (0..count)
        .map(|replica| Task {
            service: service.to_owned(),
            replica,
            resources: *resources,
            anti_affinity: anti_affinity.map(str::to_owned).into_iter().collect(),
        })
        .collect()
}

fn explain_inputs(ctx: &mut Ctx, valid: &ValidInputs) {
    let inputs = valid.inputs.clone();
    let origin = |name: &str| {
        if valid.defaulted.contains(name) {
            format!("default (defaults.{name})")
        } else {
            "given".to_owned()
        }
    };
    let default_name = |name: &'static str| -> Vec<String> {
        if valid.defaulted.contains(name) {
            vec![format!("defaults.{name}")]
        } else {
            vec![]
        }
    };
    let note = |ctx: &mut Ctx, field: &'static str, value: String| {
        let names = default_name(field);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        ctx.rec
            .explain(format!("inputs.{field}"), value, origin(field), &refs);
    };
    ctx.rec
        .explain("inputs.mau", inputs.mau, "given (--mau)", &[]);
    if inputs.pcc_explicit {
        ctx.rec
            .explain("inputs.pcc", inputs.pcc, "given (--pcc)", &[]);
        ctx.rec.explain(
            "inputs.concurrency",
            inputs.concurrency,
            format!("{} PCC / {} MAU", inputs.pcc, inputs.mau),
            &[],
        );
    } else {
        let names = default_name("concurrency");
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        ctx.rec.explain(
            "inputs.pcc",
            inputs.pcc,
            format!(
                "max(1, ceil({} MAU × {} concurrency))",
                inputs.mau,
                number(inputs.concurrency)
            ),
            &refs,
        );
        note(ctx, "concurrency", number(inputs.concurrency));
    }
    note(
        ctx,
        "messages_per_active_user_per_day",
        number(inputs.messages_per_active_user_per_day),
    );
    note(ctx, "average_group_size", number(inputs.average_group_size));
    note(ctx, "peak_to_average", number(inputs.peak_to_average));
    note(
        ctx,
        "average_message_bytes",
        inputs.average_message_bytes.to_string(),
    );
    note(ctx, "attachment_share", number(inputs.attachment_share));
    note(
        ctx,
        "average_attachment_kib",
        inputs.average_attachment_kib.to_string(),
    );
    note(
        ctx,
        "history_retention_days",
        inputs.history_retention_days.to_string(),
    );
    let host_origin = if valid.defaulted.contains("host_size") {
        vec![
            "defaults.host_cpus",
            "defaults.host_memory_gib",
            "defaults.host_disk_gib",
        ]
    } else {
        vec![]
    };
    let host_formula = origin("host_size");
    let size = inputs.host_size;
    ctx.rec.explain(
        "inputs.host_size.cpus",
        size.cpus,
        &host_formula,
        &host_origin,
    );
    ctx.rec.explain(
        "inputs.host_size.memory_gib",
        size.memory_gib,
        &host_formula,
        &host_origin,
    );
    ctx.rec.explain(
        "inputs.host_size.disk_gib",
        size.disk_gib,
        &host_formula,
        &host_origin,
    );
}
