//! Bin packing of tasks onto hosts with anti-affinity.
//!
//! Hard rule: no two tasks sharing an anti-affinity group (members of one quorum, a Redis primary and its
//! replica) on one host. Soft rule: replicas of one service spread over hosts when there is room. Tasks are
//! placed largest first onto the allowed host with the most free capacity (balanced utilisation), starting
//! from the lower bound of hosts; a task that fits on none of them opens a new host. One pass: the time to
//! plan stays in milliseconds even at 100M MAU. A task larger than an empty host gets a host of its own and
//! a `host_too_small` warning.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::explain::{ceil_div_u64, thousands};
use crate::model::Ctx;
use crate::plan::{
    HostPlan, HostRole, Observability, Resources, TaskRef, Totals, Utilisation, Warning,
};

/// One task to place.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) service: String,
    pub(crate) replica: u32,
    pub(crate) resources: Resources,
    /// Groups whose members must be on different hosts.
    pub(crate) anti_affinity: Vec<String>,
}

/// The outcome of placement.
pub(crate) struct Placed {
    pub(crate) hosts: Vec<HostPlan>,
    pub(crate) totals: Totals,
    pub(crate) warnings: Vec<Warning>,
}

/// CPU (millicores), memory (MiB) and disk (GiB) amounts.
#[derive(Debug, Clone, Copy, Default)]
struct Amount {
    cpu: u64,
    memory: u64,
    disk: u64,
}

impl Amount {
    fn of(resources: &Resources) -> Amount {
        Amount {
            cpu: resources.cpu_reservation_millicores,
            memory: resources.memory_reservation_mib,
            disk: resources.disk_gib,
        }
    }

    fn fits_in(self, free: Amount) -> bool {
        self.cpu <= free.cpu && self.memory <= free.memory && self.disk <= free.disk
    }
}

struct Bin {
    free: Amount,
    tasks: Vec<usize>,
    /// Interned anti-affinity groups and services on this host (a handful each: linear search is fastest).
    groups: Vec<u32>,
    services: Vec<u32>,
}

/// Tasks with their service and groups interned as numbers, so packing compares integers.
struct Interned {
    service: Vec<u32>,
    groups: Vec<Vec<u32>>,
}

fn intern(tasks: &[Task]) -> Interned {
    fn id<'a>(names: &mut BTreeMap<&'a str, u32>, name: &'a str) -> u32 {
        let next = names.len() as u32;
        *names.entry(name).or_insert(next)
    }
    let mut services = BTreeMap::new();
    let mut groups = BTreeMap::new();
    Interned {
        service: tasks
            .iter()
            .map(|task| id(&mut services, &task.service))
            .collect(),
        groups: tasks
            .iter()
            .map(|task| {
                task.anti_affinity
                    .iter()
                    .map(|group| id(&mut groups, group))
                    .collect()
            })
            .collect(),
    }
}

pub(crate) fn place(ctx: &mut Ctx, tasks: &[Task], observability: &Observability) -> Placed {
    let size = ctx.inputs.host_size;
    let capacity = Amount {
        cpu: u64::from(size.cpus) * 1000,
        memory: u64::from(size.memory_gib) * 1024,
        disk: u64::from(size.disk_gib),
    };
    let system = Amount {
        cpu: ctx.rec.c_u64("hosts.system_reserved_millicores"),
        memory: ctx.rec.c_u64("hosts.system_reserved_memory_mib"),
        disk: ctx.rec.c_u64("hosts.system_reserved_disk_gib"),
    };
    let globals = Amount {
        cpu: observability
            .node_exporter
            .resources
            .cpu_reservation_millicores
            + observability.cadvisor.resources.cpu_reservation_millicores,
        memory: observability.node_exporter.resources.memory_reservation_mib
            + observability.cadvisor.resources.memory_reservation_mib,
        disk: 0,
    };
    let fixed = Amount {
        cpu: system.cpu + globals.cpu,
        memory: system.memory + globals.memory,
        disk: system.disk,
    };
    let allocatable = Amount {
        cpu: capacity.cpu.saturating_sub(fixed.cpu),
        memory: capacity.memory.saturating_sub(fixed.memory),
        disk: capacity.disk.saturating_sub(fixed.disk),
    };

    // Largest first by dominant share; ties in a fixed order (service, replica) for determinism.
    let share = |task: &Task| {
        let amount = Amount::of(&task.resources);
        let part = |need: u64, have: u64| {
            need.saturating_mul(1_000_000)
                .checked_div(have)
                .unwrap_or(u64::MAX)
        };
        part(amount.cpu, allocatable.cpu)
            .max(part(amount.memory, allocatable.memory))
            .max(part(amount.disk, allocatable.disk))
    };
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by(|&a, &b| {
        share(&tasks[b])
            .cmp(&share(&tasks[a]))
            .then_with(|| tasks[a].service.cmp(&tasks[b].service))
            .then_with(|| tasks[a].replica.cmp(&tasks[b].replica))
    });
    let (fitting, oversized): (Vec<usize>, Vec<usize>) = order
        .into_iter()
        .partition(|&index| Amount::of(&tasks[index].resources).fits_in(allocatable));

    let quorum = u64::from(ctx.quorum);
    let mut group_sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for &index in &fitting {
        for group in &tasks[index].anti_affinity {
            *group_sizes.entry(group.as_str()).or_default() += 1;
        }
    }
    let largest_group = group_sizes.values().copied().max().unwrap_or(0);
    let sum = fitting.iter().fold(Amount::default(), |total, &index| {
        let amount = Amount::of(&tasks[index].resources);
        Amount {
            cpu: total.cpu + amount.cpu,
            memory: total.memory + amount.memory,
            disk: total.disk + amount.disk,
        }
    });
    let lower_bound = quorum
        .max(largest_group)
        .max(ceil_div_u64(sum.cpu, allocatable.cpu))
        .max(ceil_div_u64(sum.memory, allocatable.memory))
        .max(ceil_div_u64(sum.disk, allocatable.disk))
        .max(1);

    let interned = intern(tasks);
    // Up to SEARCH_LIMIT hosts: try the lower bound, then one more host at a time, until a strict pass
    // (no host opened) places everything; one host at a time keeps the count monotonic in the load (a
    // one-pass packing that opens hosts on demand sometimes needs fewer hosts for more load). Larger
    // plans use that one-pass packing: the retries would cost seconds at 100M MAU.
    let mut count = lower_bound as usize;
    let bins = loop {
        let bins = pack(tasks, &interned, &fitting, count, allocatable);
        if bins.len() == count || count >= SEARCH_LIMIT {
            break bins;
        }
        count += 1;
    };

    let mut warnings = Vec::new();
    let mut host_tasks: Vec<Vec<usize>> = bins.into_iter().map(|bin| bin.tasks).collect();
    for &index in &oversized {
        let task = &tasks[index];
        warnings.push(Warning {
            code: "host_too_small".to_owned(),
            message: format!(
                "host too small: {} #{} needs {} millicores, {} MiB and {} GiB but a {}c{}g{}d host offers {} millicores, {} MiB and {} GiB after the system reserve and exporters; it gets a host of its own and will not fit: choose a larger --host-size",
                task.service,
                task.replica,
                thousands(task.resources.cpu_reservation_millicores),
                thousands(task.resources.memory_reservation_mib),
                thousands(task.resources.disk_gib),
                size.cpus,
                size.memory_gib,
                size.disk_gib,
                thousands(allocatable.cpu),
                thousands(allocatable.memory),
                thousands(allocatable.disk),
            ),
        });
        host_tasks.push(vec![index]);
    }

    let managers = if ctx.ha { quorum as usize } else { 1 };
    let mut hosts = Vec::with_capacity(host_tasks.len());
    let mut total_reserved = Amount::default();
    for (position, indexes) in host_tasks.into_iter().enumerate() {
        let mut refs: Vec<TaskRef> = indexes
            .iter()
            .map(|&index| TaskRef {
                service: tasks[index].service.clone(),
                replica: tasks[index].replica,
            })
            .collect();
        refs.sort();
        let mut reserved = fixed;
        for &index in &indexes {
            let amount = Amount::of(&tasks[index].resources);
            reserved.cpu += amount.cpu;
            reserved.memory += amount.memory;
            reserved.disk += amount.disk;
        }
        total_reserved.cpu += reserved.cpu;
        total_reserved.memory += reserved.memory;
        total_reserved.disk += reserved.disk;
        let labels = refs
            .iter()
            .map(|task| (format!("cc.{}", task.service), "true".to_owned()))
            .collect();
        let roles = if position < managers {
            vec![HostRole::Manager, HostRole::Worker]
        } else {
            vec![HostRole::Worker]
        };
        hosts.push(HostPlan {
            name: format!("cc-{}", position + 1),
            roles,
            labels,
            cpu_millicores: capacity.cpu,
            memory_mib: capacity.memory,
            disk_gib: capacity.disk,
            tasks: refs,
            utilisation: utilisation(reserved, capacity),
        });
    }
    let host_count = hosts.len() as u64;
    let all = Amount {
        cpu: capacity.cpu * host_count,
        memory: capacity.memory * host_count,
        disk: capacity.disk * host_count,
    };
    let totals = Totals {
        hosts: hosts.len() as u32,
        tasks: tasks.len() as u32,
        cpus: all.cpu / 1000,
        memory_gib: all.memory / 1024,
        disk_gib: all.disk,
        utilisation: utilisation(total_reserved, all),
    };
    explain(ctx, lower_bound, &totals);
    Placed {
        hosts,
        totals,
        warnings,
    }
}

fn utilisation(reserved: Amount, capacity: Amount) -> Utilisation {
    let percent = |used: u64, have: u64| {
        if have == 0 {
            0
        } else {
            (used * 100).div_ceil(have)
        }
    };
    Utilisation {
        cpu_reserved_millicores: reserved.cpu,
        memory_reserved_mib: reserved.memory,
        disk_reserved_gib: reserved.disk,
        cpu_percent: percent(reserved.cpu, capacity.cpu),
        memory_percent: percent(reserved.memory, capacity.memory),
        disk_percent: percent(reserved.disk, capacity.disk),
    }
}

/// How many of the roomiest hosts a task may be tried on before a new host is opened.
const SEARCH_LIMIT: usize = 128;

/// Places every task on `count` hosts, opening more when a task fits on none of them.
///
/// Each task goes to the host with the most free room (sum of the free shares of CPU, memory and disk)
/// that it fits on without breaking anti-affinity, preferring hosts that do not run its service yet. Hosts
/// are kept ordered by room so that the search usually stops after a few hosts.
fn pack(
    tasks: &[Task],
    interned: &Interned,
    order: &[usize],
    count: usize,
    allocatable: Amount,
) -> Vec<Bin> {
    let mut bins: Vec<Bin> = (0..count)
        .map(|_| Bin {
            free: allocatable,
            tasks: Vec::new(),
            groups: Vec::new(),
            services: Vec::new(),
        })
        .collect();
    let room = |free: Amount| {
        let part = |have: u64, total: u64| (have * 1_000_000).checked_div(total).unwrap_or(0);
        part(free.cpu, allocatable.cpu)
            + part(free.memory, allocatable.memory)
            + part(free.disk, allocatable.disk)
    };
    let mut by_room: BTreeSet<(Reverse<u64>, usize)> = (0..count)
        .map(|position| (Reverse(room(allocatable)), position))
        .collect();
    for &index in order {
        let amount = Amount::of(&tasks[index].resources);
        let service = interned.service[index];
        let groups = &interned.groups[index];
        let mut chosen = None;
        let mut fallback = None;
        // Only the roomiest hosts are searched: when none of them takes the task, the rest (fuller) rarely
        // would, and a full scan per task would make very large plans slow. Plans with fewer hosts than
        // the limit are searched exhaustively.
        for &(_, position) in by_room.iter().take(SEARCH_LIMIT) {
            let bin = &bins[position];
            if !amount.fits_in(bin.free) || groups.iter().any(|group| bin.groups.contains(group)) {
                continue;
            }
            if !bin.services.contains(&service) {
                chosen = Some(position);
                break;
            }
            if fallback.is_none() {
                fallback = Some(position);
            }
        }
        let position = if let Some(position) = chosen.or(fallback) {
            position
        } else {
            bins.push(Bin {
                free: allocatable,
                tasks: Vec::new(),
                groups: Vec::new(),
                services: Vec::new(),
            });
            by_room.insert((Reverse(room(allocatable)), bins.len() - 1));
            bins.len() - 1
        };
        let bin = &mut bins[position];
        by_room.remove(&(Reverse(room(bin.free)), position));
        bin.free.cpu -= amount.cpu;
        bin.free.memory -= amount.memory;
        bin.free.disk -= amount.disk;
        bin.tasks.push(index);
        bin.groups.extend(groups.iter().copied());
        if !bin.services.contains(&service) {
            bin.services.push(service);
        }
        by_room.insert((Reverse(room(bin.free)), position));
    }
    // Hosts without tasks still count: the lower bound asked for them (quorum of managers).
    bins
}

fn explain(ctx: &mut Ctx, lower_bound: u64, totals: &Totals) {
    let rec = &mut ctx.rec;
    let host_names = [
        "hosts.system_reserved_millicores",
        "hosts.system_reserved_memory_mib",
        "hosts.system_reserved_disk_gib",
    ];
    rec.explain(
        "hosts[*].cpu_millicores",
        ctx.inputs.host_size.cpus * 1000,
        "inputs.host_size.cpus × 1000",
        &[],
    );
    rec.explain(
        "hosts[*].memory_mib",
        ctx.inputs.host_size.memory_gib * 1024,
        "inputs.host_size.memory_gib × 1024",
        &[],
    );
    rec.explain(
        "hosts[*].disk_gib",
        ctx.inputs.host_size.disk_gib,
        "inputs.host_size.disk_gib",
        &[],
    );
    rec.explain(
        "hosts[*].tasks[*].replica",
        "0…replicas−1",
        "replica or member index of the task's service",
        &[],
    );
    for (field, what) in [
        ("cpu_reserved_millicores", "CPU"),
        ("memory_reserved_mib", "memory"),
        ("disk_reserved_gib", "disk"),
    ] {
        rec.explain(
            format!("hosts[*].utilisation.{field}"),
            "per host",
            format!("system reserve + node_exporter + cadvisor + Σ {what} reservations of the tasks placed on the host"),
            &host_names,
        );
        let total = match field {
            "cpu_reserved_millicores" => totals.utilisation.cpu_reserved_millicores,
            "memory_reserved_mib" => totals.utilisation.memory_reserved_mib,
            _ => totals.utilisation.disk_reserved_gib,
        };
        rec.explain(
            format!("totals.utilisation.{field}"),
            total,
            format!("Σ hosts[*].utilisation.{field}"),
            &[],
        );
    }
    for field in ["cpu_percent", "memory_percent", "disk_percent"] {
        rec.explain(
            format!("hosts[*].utilisation.{field}"),
            "per host",
            "ceil(100 × reserved / host capacity)",
            &[],
        );
        let total = match field {
            "cpu_percent" => totals.utilisation.cpu_percent,
            "memory_percent" => totals.utilisation.memory_percent,
            _ => totals.utilisation.disk_percent,
        };
        rec.explain(
            format!("totals.utilisation.{field}"),
            total,
            "ceil(100 × reserved on all hosts / capacity of all hosts)",
            &[],
        );
    }
    rec.explain(
        "totals.hosts",
        totals.hosts,
        format!(
            "bin packing: start at max(quorum.members with HA, largest anti-affinity group, Σ reservations / allocatable per host) = {lower_bound} hosts, place the largest tasks first on the emptiest allowed host, open a host when a task fits nowhere; tasks larger than a host get their own"
        ),
        &["quorum.members"],
    );
    rec.explain(
        "totals.tasks",
        totals.tasks,
        "Σ replicas and members of every service and store (global exporters not counted)",
        &[],
    );
    rec.explain(
        "totals.cpus",
        totals.cpus,
        "totals.hosts × inputs.host_size.cpus",
        &[],
    );
    rec.explain(
        "totals.memory_gib",
        totals.memory_gib,
        "totals.hosts × inputs.host_size.memory_gib",
        &[],
    );
    rec.explain(
        "totals.disk_gib",
        totals.disk_gib,
        "totals.hosts × inputs.host_size.disk_gib",
        &[],
    );
}
