//! Human-readable tables of a plan and of its explanations. Plain text, no colour, deterministic.

use std::fmt::Write as _;

use cc_sizing::explain::thousands;
use cc_sizing::{Explanation, Plan, RedisPersistence, RedisTopology, Resources, service_names};

/// Columns padded to their widest cell; cells that look like numbers are right-aligned.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(cell.chars().count());
        }
    }
    let numeric = |cell: &str| {
        !cell.is_empty()
            && cell
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | '/' | '%' | ' ' | '-' | '×'))
            && cell.chars().any(|c| c.is_ascii_digit())
    };
    let mut out = String::new();
    let mut line = |cells: Vec<String>, header: bool| {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            let width = widths[index];
            let pad = width - cell.chars().count();
            if index > 0 {
                text.push_str("  ");
            }
            if !header && numeric(cell) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if index + 1 < cells.len() {
                    text.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(
        headers.iter().map(|header| (*header).to_owned()).collect(),
        true,
    );
    for row in rows {
        line(row.clone(), false);
    }
    out
}

/// `1 host`, `3 hosts`.
fn count(value: impl Into<u64>, noun: &str) -> String {
    let value = value.into();
    format!(
        "{} {noun}{}",
        thousands(value),
        if value == 1 { "" } else { "s" }
    )
}

fn cpu(resources: &Resources) -> String {
    format!(
        "{}/{}",
        thousands(resources.cpu_reservation_millicores),
        thousands(resources.cpu_limit_millicores)
    )
}

fn memory(resources: &Resources) -> String {
    format!(
        "{}/{}",
        thousands(resources.memory_reservation_mib),
        thousands(resources.memory_limit_mib)
    )
}

fn days(retention_ms: u64) -> String {
    let hours = retention_ms / 3_600_000;
    if hours % 24 == 0 {
        format!("{} d", hours / 24)
    } else {
        format!("{hours} h")
    }
}

/// The whole plan as text.
pub fn render(plan: &Plan) -> String {
    let inputs = &plan.inputs;
    let size = inputs.host_size;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for {} MAU, {} PCC (concurrency {}): {}, {}, {} of {}c{}g{}d",
        thousands(inputs.mau),
        thousands(inputs.pcc),
        inputs.concurrency,
        plan.target,
        if plan.ha {
            "highly available"
        } else {
            "not highly available"
        },
        count(plan.totals.hosts, "host"),
        size.cpus,
        size.memory_gib,
        size.disk_gib
    );
    let _ = writeln!(out, "Target: {}", plan.target_reason);
    let _ = writeln!(
        out,
        "Plan hash: {} (format version {})",
        plan.hash, plan.version
    );

    let workload = &plan.workload;
    let _ = writeln!(out, "\nWorkload");
    let rows = [
        ("daily active users", thousands(workload.daily_active_users)),
        ("messages per day", thousands(workload.messages_per_day)),
        (
            "peak messages sent/s",
            thousands(workload.peak_messages_sent_per_second),
        ),
        (
            "peak messages delivered/s (fan-out)",
            thousands(workload.peak_messages_delivered_per_second),
        ),
        (
            "peak events delivered/s (receipts, typing)",
            thousands(workload.peak_events_delivered_per_second),
        ),
        (
            "peak REST requests/s",
            thousands(workload.peak_rest_requests_per_second),
        ),
        (
            "new connections/s in a mass reconnect",
            thousands(workload.reconnect_connections_per_second),
        ),
        (
            "peak push notifications/s",
            thousands(workload.peak_notifications_per_second),
        ),
        (
            "peak webhooks/s",
            thousands(workload.peak_webhooks_per_second),
        ),
        (
            "message storage growth MiB/day",
            thousands(workload.message_storage_growth_mib_per_day),
        ),
        (
            "message storage at retention GiB (one copy)",
            thousands(workload.message_storage_at_retention_gib),
        ),
        (
            "attachment growth GiB/day",
            thousands(workload.attachment_storage_growth_gib_per_day),
        ),
        (
            "attachments at retention GiB",
            thousands(workload.attachment_storage_at_retention_gib),
        ),
    ];
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(name, value)| vec![name.to_owned(), value])
        .collect();
    out.push_str(&table(&["FIGURE", "VALUE"], &rows));

    let _ = writeln!(
        out,
        "\nServices (CPU in millicores, memory in MiB: reservation/limit)"
    );
    let rows: Vec<Vec<String>> = service_names::APPLICATION
        .iter()
        .filter_map(|name| plan.services.get(*name))
        .map(|service| {
            let capacity = &service.capacity;
            vec![
                service.name.clone(),
                service.replicas.to_string(),
                cpu(&service.resources),
                memory(&service.resources),
                format!("{} {}", thousands(capacity.per_replica), capacity.unit),
                thousands(capacity.required),
                format!("{}%", capacity.headroom_percent),
                service.max_replicas_per_node.to_string(),
                thousands(service.ulimits.get("nofile").map_or(0, |limit| limit.soft)),
                service
                    .sysctls
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "SERVICE",
            "REPLICAS",
            "CPU",
            "MEMORY",
            "CAPACITY/REPLICA",
            "PEAK LOAD",
            "HEADROOM",
            "MAX/NODE",
            "NOFILE",
            "SYSCTLS",
        ],
        &rows,
    ));

    let stores = &plan.data_stores;
    let tidb = &stores.tidb;
    let kafka = &stores.kafka;
    let mongodb = &stores.mongodb;
    let _ = writeln!(out, "\nData stores (per member; disk in GiB)");
    let member = |name: &str, count: u32, resources: &Resources, notes: String| {
        vec![
            name.to_owned(),
            count.to_string(),
            cpu(resources),
            memory(resources),
            thousands(resources.disk_gib),
            notes,
        ]
    };
    let mut rows = vec![
        member(
            "tidb pd",
            tidb.pd.count,
            &tidb.pd.resources,
            "placement driver quorum".to_owned(),
        ),
        member(
            "tidb tikv",
            tidb.tikv.count,
            &tidb.tikv.resources,
            format!(
                "{} per region, block cache {} MiB",
                count(tidb.tikv_replicas, "replica"),
                thousands(tidb.tikv_block_cache_mib)
            ),
        ),
        member(
            "tidb sql",
            tidb.sql.count,
            &tidb.sql.resources,
            format!("query memory {} MiB", thousands(tidb.sql_memory_quota_mib)),
        ),
        member(
            "kafka",
            kafka.brokers,
            &kafka.resources,
            format!(
                "KRaft, {}, RF {}, min ISR {}, heap {} MiB",
                count(kafka.controllers, "controller"),
                kafka.default_replication_factor,
                kafka.min_insync_replicas,
                thousands(kafka.heap_mib)
            ),
        ),
    ];
    for redis in stores.redis.values() {
        let instances = redis.masters * (1 + redis.replicas_per_master);
        let topology = match redis.topology {
            RedisTopology::StandaloneWithReplica if redis.replicas_per_master == 0 => {
                "standalone".to_owned()
            }
            RedisTopology::StandaloneWithReplica => {
                format!("primary + replica, {}", count(redis.sentinels, "sentinel"))
            }
            RedisTopology::Cluster => format!(
                "cluster, {} primaries × {} replica{}",
                redis.masters,
                redis.replicas_per_master,
                if redis.replicas_per_master == 1 {
                    ""
                } else {
                    "s"
                }
            ),
        };
        let persistence = match redis.persistence {
            RedisPersistence::None => "no persistence",
            RedisPersistence::Rdb => "RDB",
            RedisPersistence::Aof => "AOF",
        };
        rows.push(member(
            &format!("redis {}", redis.role),
            instances,
            &redis.resources,
            format!(
                "{topology}, maxmemory {} MB, {}, {persistence}",
                thousands(redis.maxmemory_mb),
                redis.eviction_policy
            ),
        ));
    }
    rows.push(member(
        "mongodb",
        mongodb.members,
        &mongodb.resources,
        format!(
            "replica set, WiredTiger cache {} MiB",
            thousands(mongodb.wiredtiger_cache_mib)
        ),
    ));
    out.push_str(&table(
        &["STORE", "MEMBERS", "CPU", "MEMORY", "DISK", "NOTES"],
        &rows,
    ));
    match &stores.object_storage {
        Some(storage) => {
            let _ = writeln!(
                out,
                "object storage: external S3-compatible, {} GiB at full retention, +{} GiB/day",
                thousands(storage.capacity_gib),
                thousands(storage.growth_gib_per_day)
            );
        }
        None => {
            let _ = writeln!(out, "object storage: none (no attachments)");
        }
    }

    let _ = writeln!(out, "\nKafka topics");
    let rows: Vec<Vec<String>> = kafka
        .topics
        .iter()
        .map(|topic| {
            vec![
                topic.name.clone(),
                topic.partitions.to_string(),
                topic.replication_factor.to_string(),
                topic.min_insync_replicas.to_string(),
                days(topic.retention_ms),
            ]
        })
        .collect();
    out.push_str(&table(
        &["TOPIC", "PARTITIONS", "RF", "MIN ISR", "RETENTION"],
        &rows,
    ));

    let observability = &plan.observability;
    let _ = writeln!(out, "\nObservability");
    let component =
        |name: &str, replicas: String, retention: String, disk: u64, resources: &Resources| {
            vec![
                name.to_owned(),
                replicas,
                retention,
                thousands(disk),
                cpu(resources),
                memory(resources),
            ]
        };
    let rows = vec![
        component(
            "prometheus",
            observability.prometheus.replicas.to_string(),
            format!("{} d", observability.prometheus.retention_days),
            observability.prometheus.disk_gib,
            &observability.prometheus.resources,
        ),
        component(
            "loki",
            observability.loki.replicas.to_string(),
            format!("{} d", observability.loki.retention_days),
            observability.loki.disk_gib,
            &observability.loki.resources,
        ),
        component(
            "grafana",
            observability.grafana.replicas.to_string(),
            "-".to_owned(),
            observability.grafana.disk_gib,
            &observability.grafana.resources,
        ),
        component(
            "node-exporter",
            "every host".to_owned(),
            "-".to_owned(),
            0,
            &observability.node_exporter.resources,
        ),
        component(
            "cadvisor",
            "every host".to_owned(),
            "-".to_owned(),
            0,
            &observability.cadvisor.resources,
        ),
    ];
    out.push_str(&table(
        &[
            "COMPONENT",
            "REPLICAS",
            "RETENTION",
            "DISK",
            "CPU",
            "MEMORY",
        ],
        &rows,
    ));

    let _ = writeln!(
        out,
        "\nHosts (reserved share of each host; tasks as service#replica)"
    );
    let rows: Vec<Vec<String>> = plan
        .hosts
        .iter()
        .map(|host| {
            vec![
                host.name.clone(),
                host.roles
                    .iter()
                    .map(|role| match role {
                        cc_sizing::HostRole::Manager => "manager",
                        cc_sizing::HostRole::Worker => "worker",
                    })
                    .collect::<Vec<_>>()
                    .join("+"),
                format!("{}%", host.utilisation.cpu_percent),
                format!("{}%", host.utilisation.memory_percent),
                format!("{}%", host.utilisation.disk_percent),
                host.tasks
                    .iter()
                    .map(|task| format!("{}#{}", task.service, task.replica))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    out.push_str(&table(
        &["HOST", "ROLES", "CPU", "MEMORY", "DISK", "TASKS"],
        &rows,
    ));

    let totals = &plan.totals;
    let _ = writeln!(
        out,
        "\nTotals: {}, {} vCPU, {} GiB RAM, {} GiB disk, {}; reserved {}% CPU, {}% memory, {}% disk",
        count(totals.hosts, "host"),
        thousands(totals.cpus),
        thousands(totals.memory_gib),
        thousands(totals.disk_gib),
        count(totals.tasks, "task"),
        totals.utilisation.cpu_percent,
        totals.utilisation.memory_percent,
        totals.utilisation.disk_percent
    );

    if let Some(reference) = &plan.reference {
        let _ = writeln!(out, "\nReference comparison ({})", reference.source);
        let rows = vec![
            vec![
                "vCPU".to_owned(),
                thousands(reference.reference_cpus),
                thousands(reference.plan_cpus),
                format!("{}%", reference.cpu_ratio_percent),
            ],
            vec![
                "RAM GiB".to_owned(),
                thousands(reference.reference_memory_gib),
                thousands(reference.plan_memory_gib),
                format!("{}%", reference.memory_ratio_percent),
            ],
            vec![
                "gateway replicas".to_owned(),
                format!(
                    "{}-{}",
                    reference.reference_gateway_replicas_min,
                    reference.reference_gateway_replicas_max
                ),
                reference.plan_gateway_replicas.to_string(),
                "conservative, not yet benchmarked".to_owned(),
            ],
        ];
        out.push_str(&table(&["", "REFERENCE", "THIS PLAN", "RATIO"], &rows));
    }

    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings");
        for warning in &plan.warnings {
            let _ = writeln!(out, "- [{}] {}", warning.code, warning.message);
        }
    }
    out
}

/// Every explanation: path = value, the formula, then each coefficient with its unit and source.
pub fn explanations(explanations: &[Explanation]) -> String {
    let mut out =
        String::from("\nExplanations (path = value: formula; coefficients with unit and source)\n");
    for explanation in explanations {
        let _ = writeln!(
            out,
            "{} = {}\n    {}",
            explanation.path, explanation.value, explanation.formula
        );
        for coefficient in &explanation.coefficients {
            let _ = writeln!(
                out,
                "    · {} = {} {} — {}",
                coefficient.name,
                cc_sizing::explain::number(coefficient.value),
                coefficient.unit,
                coefficient.source
            );
        }
    }
    out
}
