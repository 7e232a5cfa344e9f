//! Target recommendation, warnings, and the comparison with the reference totals.

use std::collections::BTreeMap;

use crate::explain::{ceil_div, number, thousands};
use crate::model::Ctx;
use crate::plan::{
    DataStores, ReferenceComparison, ServicePlan, Target, Totals, Warning, service_names as names,
};

/// The recommended target and why.
fn recommend(ctx: &mut Ctx) -> (Target, String) {
    let mau = ctx.inputs.mau;
    let pcc = ctx.inputs.pcc;
    let max_mau = ctx.rec.c_u64("target.swarm_max_mau");
    let max_pcc = ctx.rec.c_u64("target.swarm_max_pcc");
    let development_pcc = ctx.rec.c_u64("development.max_pcc");
    if ctx.development {
        (
            Target::Compose,
            format!(
                "compose: {} PCC is within the single-host development/CI size (at most {} PCC, development.max_pcc)",
                thousands(pcc),
                thousands(development_pcc)
            ),
        )
    } else if mau <= max_mau && pcc <= max_pcc {
        (
            Target::Swarm,
            format!(
                "swarm: {} MAU / {} PCC is within Docker Swarm's recommended range (up to about {} MAU / {} PCC)",
                thousands(mau),
                thousands(pcc),
                thousands(max_mau),
                thousands(max_pcc)
            ),
        )
    } else {
        (
            Target::Kubernetes,
            format!(
                "kubernetes: {} MAU / {} PCC is above Docker Swarm's recommended range (up to about {} MAU / {} PCC)",
                thousands(mau),
                thousands(pcc),
                thousands(max_mau),
                thousands(max_pcc)
            ),
        )
    }
}

pub(crate) fn choose(ctx: &mut Ctx) -> (Target, String) {
    let (recommended, reason) = recommend(ctx);
    match ctx.inputs.requested_target {
        Some(requested) if requested == recommended => {
            (requested, format!("{reason} (also chosen with --target)"))
        }
        Some(requested) => (
            requested,
            format!("{requested}: chosen with --target; the recommendation is {reason}"),
        ),
        None => (recommended, reason),
    }
}

pub(crate) fn warnings(
    ctx: &mut Ctx,
    target: Target,
    hosts: usize,
    stores: &DataStores,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let mut warn = |code: &str, message: String| {
        warnings.push(Warning {
            code: code.to_owned(),
            message,
        });
    };
    if !ctx.ha {
        warn(
            "not_highly_available",
            "not highly available: one instance of every store and service, so one host or process failure stops the platform; use --ha (the default for production sizes) for production".to_owned(),
        );
    }
    let max_mau = ctx.rec.c_u64("target.swarm_max_mau");
    let max_pcc = ctx.rec.c_u64("target.swarm_max_pcc");
    if target == Target::Swarm && (ctx.inputs.mau > max_mau || ctx.inputs.pcc > max_pcc) {
        warn(
            "above_swarm_range",
            format!(
                "above Swarm's recommended range: {} MAU / {} PCC exceeds about {} MAU / {} PCC; consider --target kubernetes",
                thousands(ctx.inputs.mau),
                thousands(ctx.inputs.pcc),
                thousands(max_mau),
                thousands(max_pcc)
            ),
        );
    }
    if target == Target::Compose && hosts > 1 {
        warn(
            "compose_multi_host",
            format!(
                "Docker Compose runs on one host but this plan needs {hosts} hosts: use --target swarm, or a larger --host-size"
            ),
        );
    }
    if target == Target::Compose && !ctx.development {
        warn(
            "compose_not_for_production",
            "Docker Compose is meant for development and CI; use swarm or kubernetes for production".to_owned(),
        );
    }
    if let Some(storage) = &stores.object_storage {
        warn(
            "object_storage_external",
            format!(
                "attachments need an external S3-compatible object store of about {} GiB at full retention (growing {} GiB/day); it is not placed on these hosts",
                thousands(storage.capacity_gib),
                thousands(storage.growth_gib_per_day)
            ),
        );
    }
    warnings
}

pub(crate) fn reference(
    ctx: &mut Ctx,
    totals: &Totals,
    services: &BTreeMap<String, ServicePlan>,
) -> Option<ReferenceComparison> {
    let coefficients = ctx.rec.coefficients();
    let row = coefficients
        .reference_rows
        .iter()
        .find(|row| row.mau == ctx.inputs.mau && row.pcc == ctx.inputs.pcc)
        .copied()?;
    let source = coefficients.reference_source.clone();
    let memory_per_cpu = ctx.rec.c("reference.memory_gib_per_cpu");
    let low = ctx.rec.c("reference.gateway_pcc_per_replica_low");
    let high = ctx.rec.c("reference.gateway_pcc_per_replica_high");
    let reference_memory = ceil_div(row.cpus as f64 * memory_per_cpu, 1.0);
    let percent =
        |ours: u64, theirs: u64| (ours * 100 + theirs / 2).checked_div(theirs).unwrap_or(0);
    let gateway = services
        .get(names::GATEWAY)
        .map_or(0, |service| service.replicas);
    let comparison = ReferenceComparison {
        mau: row.mau,
        pcc: row.pcc,
        reference_cpus: row.cpus,
        reference_memory_gib: reference_memory,
        plan_cpus: totals.cpus,
        plan_memory_gib: totals.memory_gib,
        cpu_ratio_percent: percent(totals.cpus, row.cpus),
        memory_ratio_percent: percent(totals.memory_gib, reference_memory),
        reference_gateway_replicas_min: ceil_div(row.pcc as f64, high) as u32,
        reference_gateway_replicas_max: ceil_div(row.pcc as f64, low) as u32,
        plan_gateway_replicas: gateway,
        source,
    };
    let rec = &mut ctx.rec;
    rec.explain(
        "reference.mau",
        row.mau,
        "reference row (sizing/data/reference.toml)",
        &[],
    );
    rec.explain("reference.pcc", row.pcc, "reference row", &[]);
    rec.explain(
        "reference.reference_cpus",
        row.cpus,
        "reference row: whole-cluster vCPU",
        &[],
    );
    rec.explain(
        "reference.reference_memory_gib",
        reference_memory,
        format!(
            "{} vCPU × {} reference.memory_gib_per_cpu",
            row.cpus,
            number(memory_per_cpu)
        ),
        &["reference.memory_gib_per_cpu"],
    );
    rec.explain("reference.plan_cpus", totals.cpus, "totals.cpus", &[]);
    rec.explain(
        "reference.plan_memory_gib",
        totals.memory_gib,
        "totals.memory_gib",
        &[],
    );
    rec.explain(
        "reference.cpu_ratio_percent",
        comparison.cpu_ratio_percent,
        format!("round(100 × {} / {})", totals.cpus, row.cpus),
        &[],
    );
    rec.explain(
        "reference.memory_ratio_percent",
        comparison.memory_ratio_percent,
        format!("round(100 × {} / {reference_memory})", totals.memory_gib),
        &[],
    );
    rec.explain(
        "reference.reference_gateway_replicas_min",
        comparison.reference_gateway_replicas_min,
        format!(
            "ceil({} PCC / {} reference.gateway_pcc_per_replica_high)",
            row.pcc,
            number(high)
        ),
        &["reference.gateway_pcc_per_replica_high"],
    );
    rec.explain(
        "reference.reference_gateway_replicas_max",
        comparison.reference_gateway_replicas_max,
        format!(
            "ceil({} PCC / {} reference.gateway_pcc_per_replica_low)",
            row.pcc,
            number(low)
        ),
        &["reference.gateway_pcc_per_replica_low"],
    );
    rec.explain(
        "reference.plan_gateway_replicas",
        gateway,
        "services.gateway.replicas (gateway.connections_per_replica is conservative until benchmarked)",
        &["gateway.connections_per_replica"],
    );
    Some(comparison)
}
