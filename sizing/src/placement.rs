//! Placement of tasks onto hosts with anti-affinity, monotonic in the load by construction.
//!
//! Every service's tasks form a *stripe* (a Redis role's Sentinels follow its nodes in the role's stripe).
//! For a host count `k`, a stripe is dealt round-robin onto consecutive hosts from a start that depends only
//! on the stripe's name, `k` and one of a few fixed patterns — never on the load. A `k` is feasible when
//! one pattern overloads no host (a task larger than a host must be alone on its host) and no stripe with
//! anti-affinity is longer than `k` (so its members land on distinct hosts by construction). The plan takes
//! the smallest feasible `k` at or above a lower bound.
//!
//! Why the host count never falls when MAU or PCC grows: with more load every stripe keeps at least as many
//! tasks, each at least as large (the sizing model guarantees this, and a Redis node is larger than a
//! Sentinel it may replace in the stripe), and task `i` of a stripe goes to the same host for the same `k`
//! and pattern. So each host's load can only grow: a `k` infeasible for less load stays infeasible for
//! more, the lower bound (sums and counts) can only grow, and the smallest feasible `k` can only grow.
//!
//! Several strategies (every stripe sharing one ring; the big stores and services on hosts of their own,
//! the rest sharing; every stripe on its own hosts) each give such a count; the plan takes the smallest, and
//! a minimum of non-decreasing counts is non-decreasing. A shared ring is searched only up to fixed numbers
//! of hosts and tasks (leaving a strategy out, which happens only for more load, can only raise the
//! minimum); every stripe on its own hosts is a closed formula and always answers. Once the count is settled, a balanced packing onto
//! exactly that many hosts evens out utilisation; where it cannot place everything, the dealt placement
//! stays. Which tasks share a host may change with the load; how many hosts there are never falls.

use std::collections::BTreeMap;

use crate::explain::{ceil_div_u64, thousands};
use crate::model::Ctx;
use crate::plan::{
    HostPlan, HostRole, Observability, Resources, TaskRef, Totals, Utilisation, Warning,
    service_names as names,
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

    fn plus(self, other: Amount) -> Amount {
        Amount {
            cpu: self.cpu + other.cpu,
            memory: self.memory + other.memory,
            disk: self.disk + other.disk,
        }
    }

    fn min(self, other: Amount) -> Amount {
        Amount {
            cpu: self.cpu.min(other.cpu),
            memory: self.memory.min(other.memory),
            disk: self.disk.min(other.disk),
        }
    }
}

/// The fixed order of stripes: their index decides where each starts. Heavy stores and light services
/// alternate so that neighbouring starts rarely stack two heavy stripes; the patterns permute it further.
/// Stripes not listed (none today) follow in name order.
const STRIPE_ORDER: [&str; 17] = [
    names::TIDB_TIKV,
    names::GATEWAY,
    names::KAFKA,
    names::API,
    names::MONGODB,
    names::NGINX,
    names::TIDB_SQL,
    names::MODERATION,
    names::REDIS_SESSIONS,
    names::TIDB_PD,
    names::REDIS_CACHE,
    names::NOTIFICATIONS,
    names::PROMETHEUS,
    names::REDIS_PUBSUB,
    names::WEBHOOKS,
    names::LOKI,
    names::GRAFANA,
];

/// Patterns tried per host count: as many as keep each host count's search within a fixed budget of work
/// (tasks placed plus hosts cleared), so fewer for larger rings. Fewer patterns for more load can only make
/// a host count infeasible, never feasible, which keeps the count monotonic.
const PATTERN_BUDGET: usize = 4096;
const MAX_PATTERNS: usize = 128;

fn patterns(ring_tasks: usize, hosts: usize) -> usize {
    (PATTERN_BUDGET / (ring_tasks + hosts).max(1)).clamp(1, MAX_PATTERNS)
}

/// One stripe: the tasks dealt together, in order.
struct Stripe<'a> {
    name: &'a str,
    tasks: Vec<usize>,
    /// Whether its members must be on distinct hosts.
    distinct: bool,
}

/// A task's stripe and its rank inside it: a Redis role's Sentinels follow its nodes.
fn stripe_of(service: &str) -> (&str, u8) {
    match service.strip_suffix(names::SENTINEL_SUFFIX) {
        Some(role) if role.starts_with("redis_") => (role, 1),
        _ => (service, 0),
    }
}

fn stripes(tasks: &[Task]) -> Vec<Stripe<'_>> {
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, task) in tasks.iter().enumerate() {
        by_name
            .entry(stripe_of(&task.service).0)
            .or_default()
            .push(index);
    }
    let mut ordered: Vec<(usize, &str)> = by_name
        .keys()
        .map(|name| {
            let rank = STRIPE_ORDER
                .iter()
                .position(|known| known == name)
                .unwrap_or(STRIPE_ORDER.len());
            (rank, *name)
        })
        .collect();
    ordered.sort_unstable();
    ordered
        .into_iter()
        .map(|(_, name)| {
            let mut members = by_name.remove(name).unwrap_or_default();
            members
                .sort_by_key(|&index| (stripe_of(&tasks[index].service).1, tasks[index].replica));
            Stripe {
                name,
                distinct: members
                    .iter()
                    .any(|&index| !tasks[index].anti_affinity.is_empty()),
                tasks: members,
            }
        })
        .collect()
}

/// Where stripe `position` (in `0..count`) starts on `hosts` hosts under `pattern`. Pattern 0 spreads the
/// stripes evenly around the ring; the others are fixed pseudo-random starts. None depends on the load.
fn start(position: usize, count: usize, hosts: usize, pattern: usize) -> usize {
    if pattern == 0 {
        return hosts * position / count;
    }
    let seed = (pattern as u64) << 40 ^ (hosts as u64) << 20 ^ position as u64;
    (mix(seed) % hosts as u64) as usize
}

/// SplitMix64's finaliser: a fixed, well-spread function of its input.
fn mix(seed: u64) -> u64 {
    let mut value = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

/// Deals `stripes` onto `hosts` hosts under `pattern`; the host of each of their tasks, or `None` when a
/// host would be overloaded or a stripe needing distinct hosts is longer than `hosts`.
fn deal(
    stripes: &[&Stripe],
    sizes: &[Amount],
    oversized: &[bool],
    hosts: usize,
    pattern: usize,
    allocatable: Amount,
) -> Option<Vec<(usize, usize)>> {
    let mut load = vec![Amount::default(); hosts];
    // A host with a task larger than a host holds nothing else.
    let mut alone = vec![false; hosts];
    let mut count = vec![0_u32; hosts];
    let mut placed = Vec::new();
    for (position, stripe) in stripes.iter().enumerate() {
        if stripe.distinct && stripe.tasks.len() > hosts {
            return None;
        }
        let first = start(position, stripes.len(), hosts, pattern);
        for (offset, &task) in stripe.tasks.iter().enumerate() {
            let host = (first + offset) % hosts;
            if alone[host] || (oversized[task] && count[host] > 0) {
                return None;
            }
            let grown = load[host].plus(sizes[task]);
            if !oversized[task] && !grown.fits_in(allocatable) {
                return None;
            }
            load[host] = grown;
            alone[host] = oversized[task];
            count[host] += 1;
            placed.push((task, host));
        }
    }
    Some(placed)
}

/// Hosts of a stripe placed alone (closed form): round-robin over `k` hosts puts at most `ceil(n / k)`
/// tasks on a host, each no larger than the stripe's largest; `k` is the fewest for which that fits (and
/// at least `n` when members need distinct hosts). Non-decreasing in the stripe's length and task sizes.
fn dedicated_hosts(
    stripe: &Stripe,
    sizes: &[Amount],
    oversized: &[bool],
    allocatable: Amount,
) -> usize {
    let length = stripe.tasks.len();
    let largest = stripe
        .tasks
        .iter()
        .fold(Amount::default(), |largest, &task| Amount {
            cpu: largest.cpu.max(sizes[task].cpu),
            memory: largest.memory.max(sizes[task].memory),
            disk: largest.disk.max(sizes[task].disk),
        });
    let per_host = if stripe.tasks.iter().any(|&task| oversized[task]) {
        1
    } else {
        let fit = |have: u64, need: u64| have.checked_div(need).unwrap_or(u64::MAX);
        fit(allocatable.cpu, largest.cpu)
            .min(fit(allocatable.memory, largest.memory))
            .min(fit(allocatable.disk, largest.disk))
            .max(1)
    };
    let hosts = (length as u64).div_ceil(per_host) as usize;
    if stripe.distinct {
        hosts.max(length)
    } else {
        hosts
    }
}

/// Stripes that get hosts of their own, per strategy; the other stripes share one ring. The plan takes the
/// strategy needing the fewest hosts. Each strategy's count is non-decreasing in the load, so their minimum
/// is too; a strategy that cannot be searched cheaply (see the limits) is left out only when the load is
/// larger, which can only raise the minimum.
const STRATEGIES: [&[&str]; 4] = [
    &[],
    &[names::TIDB_TIKV],
    &[names::TIDB_TIKV, names::KAFKA, names::MONGODB],
    &[
        names::TIDB_TIKV,
        names::KAFKA,
        names::MONGODB,
        names::GATEWAY,
        names::API,
        names::TIDB_SQL,
        names::NGINX,
    ],
];

/// The shared ring is searched up to this many hosts, and only when it holds at most this many tasks
/// (both fixed numbers, so leaving a strategy out happens only for more load). Past them every stripe gets
/// hosts of its own, which at that scale wastes little.
const RING_HOST_LIMIT: usize = 64;
const RING_TASK_LIMIT: usize = 192;

/// The hosts of one strategy: (host count, task → host), or `None` when its ring is over the limits.
fn strategy(
    dedicated: Option<&[&str]>,
    stripes: &[Stripe],
    sizes: &[Amount],
    oversized: &[bool],
    allocatable: Amount,
    quorum: usize,
) -> Option<(usize, Vec<(usize, usize)>)> {
    let alone = |stripe: &Stripe| dedicated.is_none_or(|names| names.contains(&stripe.name));
    let ring: Vec<&Stripe> = stripes.iter().filter(|stripe| !alone(stripe)).collect();
    let mut placed = Vec::new();
    let mut hosts = 0;
    if !ring.is_empty() {
        let tasks: usize = ring.iter().map(|stripe| stripe.tasks.len()).sum();
        if tasks > RING_TASK_LIMIT {
            return None;
        }
        let longest_distinct = ring
            .iter()
            .filter(|stripe| stripe.distinct)
            .map(|stripe| stripe.tasks.len())
            .max()
            .unwrap_or(0);
        let sum = ring
            .iter()
            .flat_map(|stripe| &stripe.tasks)
            .fold(Amount::default(), |total, &task| {
                total.plus(sizes[task].min(allocatable))
            });
        let lower_bound = (quorum.max(longest_distinct).max(1) as u64)
            .max(ceil_div_u64(sum.cpu, allocatable.cpu))
            .max(ceil_div_u64(sum.memory, allocatable.memory))
            .max(ceil_div_u64(sum.disk, allocatable.disk)) as usize;
        let (count, dealt) = (lower_bound..=RING_HOST_LIMIT).find_map(|count| {
            (0..patterns(tasks, count)).find_map(|pattern| {
                deal(&ring, sizes, oversized, count, pattern, allocatable)
                    .map(|dealt| (count, dealt))
            })
        })?;
        placed = dealt;
        hosts = count;
    }
    for stripe in stripes.iter().filter(|stripe| alone(stripe)) {
        let count = dedicated_hosts(stripe, sizes, oversized, allocatable);
        placed.extend(
            stripe
                .tasks
                .iter()
                .enumerate()
                .map(|(offset, &task)| (task, hosts + offset % count.max(1))),
        );
        hosts += count;
    }
    // Managers need a quorum of hosts even when the tasks need fewer.
    Some((hosts.max(quorum), placed))
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
    let fixed = system.plus(globals);
    let allocatable = Amount {
        cpu: capacity.cpu.saturating_sub(fixed.cpu),
        memory: capacity.memory.saturating_sub(fixed.memory),
        disk: capacity.disk.saturating_sub(fixed.disk),
    };

    let sizes: Vec<Amount> = tasks
        .iter()
        .map(|task| Amount::of(&task.resources))
        .collect();
    let oversized: Vec<bool> = sizes
        .iter()
        .map(|size| !size.fits_in(allocatable))
        .collect();
    let stripes = stripes(tasks);

    // The fewest hosts over the strategies (the first on a tie); the all-dedicated one always answers.
    let quorum = ctx.quorum as usize;
    let candidates = STRATEGIES
        .iter()
        .map(|names| Some(*names))
        .chain([None])
        .filter_map(|dedicated| {
            strategy(dedicated, &stripes, &sizes, &oversized, allocatable, quorum)
        });
    let (count, placed) = candidates
        .reduce(|best, next| if next.0 < best.0 { next } else { best })
        .unwrap_or_default();
    // The count is settled; within it, a balanced packing usually evens out the hosts' utilisation. When it
    // does not place everything, the dealt placement (which fits by construction) stays.
    let host_tasks = balanced(tasks, &sizes, &oversized, count, allocatable).unwrap_or_else(|| {
        let mut host_tasks: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (task, host) in placed {
            host_tasks[host].push(task);
        }
        host_tasks
    });

    let mut warnings = Vec::new();
    for (task, _) in tasks.iter().zip(&oversized).filter(|(_, big)| **big) {
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
    }

    let managers = if ctx.ha { quorum } else { 1 };
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
    explain(ctx, &totals);
    Placed {
        hosts,
        totals,
        warnings,
    }
}

/// Plans with more tasks keep the dealt placement: the balanced one costs tasks × hosts.
const BALANCE_TASK_LIMIT: usize = 400;

/// Largest tasks first (by dominant share, then service and replica), each onto the allowed host with the
/// most free room, preferring a host without a replica of its service; `None` if a task fits nowhere.
fn balanced(
    tasks: &[Task],
    sizes: &[Amount],
    oversized: &[bool],
    count: usize,
    allocatable: Amount,
) -> Option<Vec<Vec<usize>>> {
    if tasks.len() > BALANCE_TASK_LIMIT || oversized.iter().any(|big| *big) {
        return None;
    }
    let share = |size: Amount| {
        let part = |need: u64, have: u64| {
            need.saturating_mul(1_000_000)
                .checked_div(have)
                .unwrap_or(u64::MAX)
        };
        part(size.cpu, allocatable.cpu)
            .max(part(size.memory, allocatable.memory))
            .max(part(size.disk, allocatable.disk))
    };
    let room = |free: Amount| {
        let part = |have: u64, total: u64| (have * 1_000_000).checked_div(total).unwrap_or(0);
        part(free.cpu, allocatable.cpu)
            + part(free.memory, allocatable.memory)
            + part(free.disk, allocatable.disk)
    };
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by(|&a, &b| {
        share(sizes[b])
            .cmp(&share(sizes[a]))
            .then_with(|| tasks[a].service.cmp(&tasks[b].service))
            .then_with(|| tasks[a].replica.cmp(&tasks[b].replica))
    });
    let mut free = vec![allocatable; count];
    let mut hosts: Vec<Vec<usize>> = vec![Vec::new(); count];
    for task in order {
        let allowed = |host: usize| {
            sizes[task].fits_in(free[host])
                && hosts[host].iter().all(|&other| {
                    tasks[other]
                        .anti_affinity
                        .iter()
                        .all(|group| !tasks[task].anti_affinity.contains(group))
                })
        };
        let has_service = |host: usize| {
            hosts[host]
                .iter()
                .any(|&other| tasks[other].service == tasks[task].service)
        };
        // Key: a host without the service first, then the most room, then the lowest index.
        let host = (0..count)
            .filter(|&host| allowed(host))
            .max_by_key(|&host| {
                (
                    !has_service(host),
                    room(free[host]),
                    std::cmp::Reverse(host),
                )
            })?;
        free[host] = Amount {
            cpu: free[host].cpu - sizes[task].cpu,
            memory: free[host].memory - sizes[task].memory,
            disk: free[host].disk - sizes[task].disk,
        };
        hosts[host].push(task);
    }
    Some(hosts)
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

fn explain(ctx: &mut Ctx, totals: &Totals) {
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
            "the fewest hosts over {} strategies (every service sharing hosts; the largest stores and services on hosts of their own; every service on hosts of its own). Shared: services are dealt round-robin onto consecutive hosts from a start fixed by the service, the host count and one of {} fixed patterns, on the fewest hosts from max(quorum.members with HA, the longest service whose members need distinct hosts, Σ reservations / allocatable per host) up that overloads no host. Own hosts: max(members that must be apart, ceil(tasks / tasks that fit one host)). A task larger than a host is alone on its host. No task's host depends on the load, so more MAU or PCC never gives fewer hosts",
            STRATEGIES.len() + 1,
            MAX_PATTERNS
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
