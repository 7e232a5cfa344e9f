//! Properties of the sizing model: monotonic in MAU and PCC, quorums odd and spread, every task fits its
//! host, deterministic output, and an explanation for every number.

use std::collections::{BTreeMap, BTreeSet};

use cc_sizing::plan_file::{self, PlanFileError};
use cc_sizing::{Coefficients, Plan, Planned, RawInputs, RawValue, Resources};
use proptest::prelude::*;

fn planned(mau: u64, pcc: Option<u64>, host_size: Option<&str>, ha: Option<bool>) -> Planned {
    let raw = RawInputs {
        mau: Some(RawValue::Integer(mau as i64)),
        pcc: pcc.map(|pcc| RawValue::Integer(pcc as i64)),
        host_size: host_size.map(Into::into),
        ha,
        ..RawInputs::default()
    };
    let valid = raw
        .validate(Coefficients::embedded().expect("data"))
        .expect("valid inputs");
    cc_sizing::plan(&valid).expect("plan")
}

fn add_totals(figures: &mut BTreeMap<String, u64>, name: &str, count: u64, resources: &Resources) {
    figures.insert(format!("{name}.count"), count);
    figures.insert(
        format!("{name}.cpu"),
        count * resources.cpu_reservation_millicores,
    );
    figures.insert(
        format!("{name}.memory"),
        count * resources.memory_reservation_mib,
    );
    figures.insert(format!("{name}.disk"), count * resources.disk_gib);
    // Each task at least as large as before: the placement's monotonicity rests on it.
    figures.insert(
        format!("{name}.task_cpu"),
        resources.cpu_reservation_millicores,
    );
    figures.insert(
        format!("{name}.task_memory"),
        resources.memory_reservation_mib,
    );
    figures.insert(format!("{name}.task_disk"), resources.disk_gib);
}

/// Every resource figure the plan commits to, by name: counts and totals (count × per-instance size).
fn resources(plan: &Plan) -> BTreeMap<String, u64> {
    let mut figures = BTreeMap::new();
    let workload = serde_json::to_value(&plan.workload).expect("json");
    for (key, value) in workload.as_object().expect("object") {
        figures.insert(format!("workload.{key}"), value.as_u64().expect("number"));
    }
    for service in plan.services.values() {
        add_totals(
            &mut figures,
            &service.name,
            u64::from(service.replicas),
            &service.resources,
        );
    }
    let stores = &plan.data_stores;
    add_totals(
        &mut figures,
        "tidb_pd",
        u64::from(stores.tidb.pd.count),
        &stores.tidb.pd.resources,
    );
    add_totals(
        &mut figures,
        "tidb_tikv",
        u64::from(stores.tidb.tikv.count),
        &stores.tidb.tikv.resources,
    );
    add_totals(
        &mut figures,
        "tidb_sql",
        u64::from(stores.tidb.sql.count),
        &stores.tidb.sql.resources,
    );
    add_totals(
        &mut figures,
        "kafka",
        u64::from(stores.kafka.brokers),
        &stores.kafka.resources,
    );
    for redis in stores.redis.values() {
        let instances = u64::from(redis.masters * (1 + redis.replicas_per_master));
        add_totals(
            &mut figures,
            &format!("redis_{}", redis.role),
            instances,
            &redis.resources,
        );
        figures.insert(
            format!("redis_{}.maxmemory_total", redis.role),
            u64::from(redis.masters) * redis.maxmemory_mb,
        );
        // Sentinels give way to cluster nodes: the role's tasks with its Sentinels never shrink.
        let sentinels = u64::from(redis.sentinels);
        for (name, node, sentinel) in [
            (
                "cpu",
                redis.resources.cpu_reservation_millicores,
                redis.sentinel_resources.cpu_reservation_millicores,
            ),
            (
                "memory",
                redis.resources.memory_reservation_mib,
                redis.sentinel_resources.memory_reservation_mib,
            ),
            (
                "disk",
                redis.resources.disk_gib,
                redis.sentinel_resources.disk_gib,
            ),
        ] {
            figures.insert(
                format!("redis_{}_with_sentinels.{name}", redis.role),
                instances * node + sentinels * sentinel,
            );
        }
        figures.insert(
            format!("redis_{}_with_sentinels.count", redis.role),
            instances + sentinels,
        );
    }
    for (index, topic) in stores.kafka.topics.iter().enumerate() {
        figures.insert(
            format!("kafka.topics[{index}].partitions"),
            u64::from(topic.partitions),
        );
    }
    add_totals(
        &mut figures,
        "mongodb",
        u64::from(stores.mongodb.members),
        &stores.mongodb.resources,
    );
    let observability = &plan.observability;
    add_totals(
        &mut figures,
        "prometheus",
        u64::from(observability.prometheus.replicas),
        &observability.prometheus.resources,
    );
    add_totals(&mut figures, "loki", 1, &observability.loki.resources);
    // The placement is monotonic by construction (see `placement.rs`): hosts and every total must never
    // shrink either. Utilisation percentages are ratios and may.
    let totals = &plan.totals;
    for (name, value) in [
        ("totals.hosts", u64::from(totals.hosts)),
        ("totals.tasks", u64::from(totals.tasks)),
        ("totals.cpus", totals.cpus),
        ("totals.memory_gib", totals.memory_gib),
        ("totals.disk_gib", totals.disk_gib),
        (
            "totals.utilisation.cpu_reserved_millicores",
            totals.utilisation.cpu_reserved_millicores,
        ),
        (
            "totals.utilisation.memory_reserved_mib",
            totals.utilisation.memory_reserved_mib,
        ),
        (
            "totals.utilisation.disk_reserved_gib",
            totals.utilisation.disk_reserved_gib,
        ),
    ] {
        figures.insert(name.to_owned(), value);
    }
    figures
}

fn assert_not_less(small: &Plan, large: &Plan) -> Result<(), TestCaseError> {
    let before = resources(small);
    let after = resources(large);
    for (name, value) in &before {
        let grown = after.get(name).copied().unwrap_or(0);
        prop_assert!(
            grown >= *value,
            "{name} fell from {value} to {grown} (MAU {} PCC {} → MAU {} PCC {})",
            small.inputs.mau,
            small.inputs.pcc,
            large.inputs.mau,
            large.inputs.pcc
        );
    }
    Ok(())
}

/// The resources of one task, looked up from the plan by service name.
fn task_resources(plan: &Plan, service: &str) -> Resources {
    if let Some(plan_service) = plan.services.get(service) {
        return plan_service.resources;
    }
    let stores = &plan.data_stores;
    match service {
        "tidb_pd" => stores.tidb.pd.resources,
        "tidb_tikv" => stores.tidb.tikv.resources,
        "tidb_sql" => stores.tidb.sql.resources,
        "kafka" => stores.kafka.resources,
        "mongodb" => stores.mongodb.resources,
        "prometheus" => plan.observability.prometheus.resources,
        "loki" => plan.observability.loki.resources,
        "grafana" => plan.observability.grafana.resources,
        other => {
            let role = other
                .trim_start_matches("redis_")
                .trim_end_matches("_sentinel");
            let redis = &stores.redis[role];
            if other.ends_with("_sentinel") {
                redis.sentinel_resources
            } else {
                redis.resources
            }
        }
    }
}

fn check_fits_and_quorums(plan: &Plan) -> Result<(), TestCaseError> {
    let globals = [
        plan.observability.node_exporter.resources,
        plan.observability.cadvisor.resources,
    ];
    let too_small: BTreeSet<&str> = plan
        .warnings
        .iter()
        .filter(|warning| warning.code == "host_too_small")
        .map(|warning| warning.message.as_str())
        .collect();
    for host in &plan.hosts {
        let mut cpu: u64 = globals.iter().map(|r| r.cpu_reservation_millicores).sum();
        let mut memory: u64 = globals.iter().map(|r| r.memory_reservation_mib).sum();
        let mut disk = 0;
        for task in &host.tasks {
            let resources = task_resources(plan, &task.service);
            cpu += resources.cpu_reservation_millicores;
            memory += resources.memory_reservation_mib;
            disk += resources.disk_gib;
        }
        let fits = cpu <= host.cpu_millicores && memory <= host.memory_mib && disk <= host.disk_gib;
        let warned = host.tasks.len() == 1
            && too_small.iter().any(|message| {
                message.contains(&format!(
                    "{} #{}",
                    host.tasks[0].service, host.tasks[0].replica
                ))
            });
        prop_assert!(
            fits || warned,
            "{} overcommitted without a warning: {:?}",
            host.name,
            host.tasks
        );
        prop_assert!(host.utilisation.cpu_percent <= 100 || warned);
    }

    // Members of one quorum (and a Redis primary and its replicas) are on distinct hosts.
    let mut groups: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (host, task) in plan.placement() {
        let group = match task.service.as_str() {
            "tidb_pd" | "tidb_tikv" | "kafka" | "mongodb" | "prometheus" => task.service.clone(),
            service if service.ends_with("_sentinel") => service.to_owned(),
            service if service.starts_with("redis_") => {
                let redis = &plan.data_stores.redis[service.trim_start_matches("redis_")];
                format!(
                    "{service}/{}",
                    task.replica / (1 + redis.replicas_per_master)
                )
            }
            _ => continue,
        };
        groups.entry(group.clone()).or_default().insert(host);
        *counts.entry(group).or_default() += 1;
    }
    for (group, hosts) in &groups {
        prop_assert_eq!(hosts.len(), counts[group], "{} shares a host", group);
    }

    if plan.ha {
        let stores = &plan.data_stores;
        let managers = plan
            .hosts
            .iter()
            .filter(|host| host.roles.contains(&cc_sizing::HostRole::Manager))
            .count() as u32;
        let mut quorums = vec![
            ("pd", stores.tidb.pd.count),
            ("kafka controllers", stores.kafka.controllers),
            ("mongodb", stores.mongodb.members),
            ("managers", managers),
        ];
        for redis in stores.redis.values() {
            if redis.sentinels > 0 {
                quorums.push(("sentinels", redis.sentinels));
            } else {
                prop_assert!(redis.masters >= 3, "cluster mode needs 3 primaries");
            }
            prop_assert!(redis.replicas_per_master >= 1);
        }
        for (name, count) in quorums {
            prop_assert!(
                count >= 3 && count % 2 == 1,
                "{name}: {count} is not odd and ≥ 3"
            );
        }
        prop_assert!(stores.tidb.tikv.count >= 3 && stores.tidb.tikv_replicas >= 3);
        prop_assert!(stores.kafka.brokers >= 3);
        for topic in &stores.kafka.topics {
            prop_assert_eq!(topic.replication_factor, 3);
            prop_assert_eq!(topic.min_insync_replicas, 2);
        }
    }
    Ok(())
}

fn mau_strategy() -> impl Strategy<Value = u64> {
    // Log-uniform from 1 to 5M so small and large sizes are both common.
    (0.0_f64..6.7).prop_map(|exponent| 10_f64.powf(exponent).round().max(1.0) as u64)
}

fn host_strategy() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("4c16g200d")),
        Just(Some("16c64g1000d")),
        Just(Some("2c4g"))
    ]
}

proptest! {
    // PROPTEST_CASES raises the count (2000 before a change to the model or the placement).
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn more_mau_never_gives_less(mau in mau_strategy(), factor in 1.0_f64..4.0, host in host_strategy()) {
        let larger = ((mau as f64) * factor).round() as u64;
        let small = planned(mau, None, host, None);
        let large = planned(larger, None, host, None);
        assert_not_less(&small.plan, &large.plan)?;
    }

    #[test]
    fn more_pcc_never_gives_less(mau in mau_strategy(), low in 0.0_f64..1.0, high in 0.0_f64..1.0, host in host_strategy()) {
        let (low, high) = if low <= high { (low, high) } else { (high, low) };
        let pcc = |share: f64| ((mau as f64 * share).round() as u64).clamp(1, mau);
        let small = planned(mau, Some(pcc(low)), host, None);
        let large = planned(mau, Some(pcc(high)), host, None);
        assert_not_less(&small.plan, &large.plan)?;
    }

    #[test]
    fn tasks_fit_and_quorums_are_odd_and_spread(mau in mau_strategy(), host in host_strategy(), ha in proptest::option::of(any::<bool>())) {
        let planned = planned(mau, None, host, ha);
        check_fits_and_quorums(&planned.plan)?;
    }
}

/// Fixed sizes across the whole range: the ten reference rows, 250k, 1M and the development size.
const SIZES: [(u64, Option<u64>); 13] = [
    (10_000, Some(500)),
    (25_000, Some(1_250)),
    (50_000, Some(2_500)),
    (100_000, Some(5_000)),
    (200_000, Some(10_000)),
    (10_000, Some(1_000)),
    (25_000, Some(2_500)),
    (50_000, Some(5_000)),
    (100_000, Some(10_000)),
    (200_000, Some(20_000)),
    (250_000, None),
    (1_000_000, None),
    (1_000, None),
];

#[test]
fn same_input_gives_byte_identical_output() {
    for (mau, pcc) in SIZES {
        let first = plan_file::to_yaml(&planned(mau, pcc, None, None).plan).expect("yaml");
        let second = plan_file::to_yaml(&planned(mau, pcc, None, None).plan).expect("yaml");
        assert_eq!(first, second, "MAU {mau}");
    }
}

#[test]
fn fixed_sizes_fit_and_spread_quorums() {
    for (mau, pcc) in SIZES {
        check_fits_and_quorums(&planned(mau, pcc, None, None).plan).expect("holds");
    }
}

/// Paths of every number in a JSON value (`hosts[3].cpu_millicores` → `hosts[*].cpu_millicores`), plus the
/// string values of sysctls, which are numbers too.
fn number_paths(value: &serde_json::Value, path: &str, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Number(_) => {
            out.insert(path.to_owned());
        }
        serde_json::Value::String(_) if path.contains(".sysctls.") => {
            out.insert(path.to_owned());
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let key = if path == "hosts" || path.rsplit('.').next() == Some("tasks") {
                    format!("{path}[*]")
                } else {
                    format!("{path}[{index}]")
                };
                number_paths(item, &key, out);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields {
                let key = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                number_paths(item, &key, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_number_is_explained() {
    for (mau, pcc) in SIZES {
        for ha in [None, Some(true), Some(false)] {
            let planned = planned(mau, pcc, None, ha);
            let json = serde_json::to_value(&planned.plan).expect("json");
            let mut paths = BTreeSet::new();
            number_paths(&json, "", &mut paths);
            let explained: BTreeSet<&str> = planned
                .explanations
                .iter()
                .map(|e| e.path.as_str())
                .collect();
            let missing: Vec<&String> = paths
                .iter()
                .filter(|path| !explained.contains(path.as_str()))
                .collect();
            assert!(
                missing.is_empty(),
                "MAU {mau}: unexplained numbers {missing:?}"
            );
            for explanation in &planned.explanations {
                for coefficient in &explanation.coefficients {
                    assert!(
                        !coefficient.source.is_empty(),
                        "{} has no source",
                        coefficient.name
                    );
                }
            }
        }
    }
}

#[test]
fn every_coefficient_is_used() {
    let coefficients = Coefficients::embedded().expect("data");
    let mut used = BTreeSet::new();
    for (mau, pcc) in SIZES {
        for ha in [None, Some(true), Some(false)] {
            for explanation in planned(mau, pcc, None, ha).explanations {
                used.extend(explanation.coefficients.into_iter().map(|c| c.name));
            }
        }
    }
    let unused: Vec<&str> = coefficients
        .iter()
        .map(|c| c.name.as_str())
        .filter(|name| !used.contains(*name))
        .collect();
    assert!(
        unused.is_empty(),
        "coefficients no explanation cites: {unused:?}"
    );
}

#[test]
fn plan_files_round_trip_and_reject_edits_and_newer_versions() {
    let plan = planned(250_000, None, None, None).plan;
    let yaml = plan_file::to_yaml(&plan).expect("yaml");
    let loaded = plan_file::from_yaml(&yaml).expect("loads");
    assert_eq!(loaded, plan);
    assert_eq!(plan_file::content_hash(&loaded), plan.hash);

    let edited = yaml.replacen("replicas: 2", "replicas: 7", 1);
    assert_ne!(edited, yaml);
    assert!(matches!(
        plan_file::from_yaml(&edited),
        Err(PlanFileError::HashMismatch { .. })
    ));

    let newer = yaml.replacen("version: 1", "version: 2", 1);
    let error = plan_file::from_yaml(&newer).expect_err("newer");
    assert!(matches!(
        error,
        PlanFileError::NewerVersion {
            found: 2,
            supported: 1
        }
    ));
    assert!(error.to_string().contains("upgrade ccctl"));

    let json = plan_file::to_json(&plan).expect("json");
    assert_eq!(plan_file::from_yaml(&json).expect("JSON is YAML"), plan);
}

#[test]
fn development_size_is_one_compose_host_without_ha() {
    let plan = planned(1_000, None, None, None).plan;
    assert_eq!(plan.target, cc_sizing::Target::Compose);
    assert!(!plan.ha && plan.development);
    assert_eq!(plan.hosts.len(), 1);
    assert!(
        plan.warnings
            .iter()
            .any(|warning| warning.code == "not_highly_available")
    );
}

#[test]
fn target_follows_the_swarm_range() {
    assert_eq!(
        planned(200_000, Some(20_000), None, None).plan.target,
        cc_sizing::Target::Swarm
    );
    let large = planned(250_000, None, None, None).plan;
    assert_eq!(large.target, cc_sizing::Target::Kubernetes);
    assert!(
        large
            .target_reason
            .contains("above Docker Swarm's recommended range")
    );
}

#[test]
fn redis_roles_have_their_eviction_and_persistence() {
    use cc_sizing::RedisPersistence;
    for (mau, pcc) in SIZES {
        for ha in [None, Some(true), Some(false)] {
            let plan = planned(mau, pcc, None, ha).plan;
            let redis = &plan.data_stores.redis;
            let roles: Vec<(&str, &str, RedisPersistence)> = redis
                .values()
                .map(|role| {
                    (
                        role.role.as_str(),
                        role.eviction_policy.as_str(),
                        role.persistence,
                    )
                })
                .collect();
            assert_eq!(
                roles,
                [
                    ("cache", "allkeys-lru", RedisPersistence::None),
                    ("pubsub", "noeviction", RedisPersistence::None),
                    ("sessions", "noeviction", RedisPersistence::Aof),
                ],
                "MAU {mau}"
            );
            assert!(redis["sessions"].resources.disk_gib >= 1, "MAU {mau}");
            assert_eq!(redis["cache"].resources.disk_gib, 0, "MAU {mau}");
        }
    }
}
