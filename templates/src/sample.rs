//! Hand-written models of four deployment sizes and a fixed environment, for tests and benchmarks of the
//! templates independent of the sizing crate.

use std::collections::BTreeMap;

use crate::assemble::{APP_ROLES, Parts, Sizing, assemble};
use crate::environment::{Domain, Environment, Hostnames, Images, SecretFile, SecretKey};
use crate::error::RenderError;
use crate::manifest::sha256_hex;
use crate::model::{
    Host, Kafka, KafkaBroker, KafkaTopic, Model, Mongodb, MongodbMember, RedisNode, RedisRole,
    Target, Tidb, TidbMember, Ulimit,
};

/// A fixed environment: domain `chat.example.com`, default images, secrets under `../secrets/`.
pub fn environment() -> Environment {
    let domain = Domain::parse("chat.example.com").unwrap_or_else(|_| unreachable!());
    let defaults: BTreeMap<&str, &str> = Images::DEFAULTS.into_iter().collect();
    let image = |key: &str| defaults.get(key).copied().unwrap_or_default().to_owned();
    Environment {
        hostnames: Hostnames::derive(&domain, &BTreeMap::new()),
        domain,
        stack_name: "cc".into(),
        images: Images {
            ccserver: "registry.example.com/cc/ccserver:0.1.0".into(),
            nginx: image("nginx"),
            kafka: image("kafka"),
            pd: image("pd"),
            tikv: image("tikv"),
            tidb: image("tidb"),
            redis: image("redis"),
            mongodb: image("mongodb"),
            prometheus: image("prometheus"),
            alertmanager: image("alertmanager"),
            grafana: image("grafana"),
            loki: image("loki"),
            promtail: image("promtail"),
            node_exporter: image("node_exporter"),
            cadvisor: image("cadvisor"),
            kafka_exporter: image("kafka_exporter"),
            redis_exporter: image("redis_exporter"),
            mongodb_exporter: image("mongodb_exporter"),
        },
        trusted_proxies: Vec::new(),
        self_signed_tls: false,
        secrets: SecretKey::ALL
            .iter()
            .map(|key| {
                (
                    *key,
                    SecretFile {
                        path: format!("../secrets/{}", key.file_name()),
                        compose_path: format!("../secrets/compose/{}", key.file_name()),
                        sha256: sha256_hex(key.id().as_bytes()),
                    },
                )
            })
            .collect(),
    }
}

/// The sample sizes: `dev` (one host), `25k`, `250k`, `1m` MAU.
pub const SIZES: [&str; 4] = ["dev", "25k", "250k", "1m"];

struct Scale {
    hosts: u32,
    app_replicas: [u32; 2],
    nginx: u32,
    brokers: u32,
    tikv: u32,
    sql: u32,
    redis_cluster: bool,
    partitions: u32,
    ha: bool,
}

fn scale(size: &str) -> Option<Scale> {
    Some(match size {
        "dev" => Scale {
            hosts: 1,
            app_replicas: [1, 1],
            nginx: 1,
            brokers: 1,
            tikv: 1,
            sql: 1,
            redis_cluster: false,
            partitions: 3,
            ha: false,
        },
        "25k" => Scale {
            hosts: 6,
            app_replicas: [2, 2],
            nginx: 2,
            brokers: 3,
            tikv: 3,
            sql: 2,
            redis_cluster: false,
            partitions: 12,
            ha: true,
        },
        "250k" => Scale {
            hosts: 15,
            app_replicas: [8, 6],
            nginx: 3,
            brokers: 5,
            tikv: 6,
            sql: 4,
            redis_cluster: true,
            partitions: 48,
            ha: true,
        },
        "1m" => Scale {
            hosts: 40,
            app_replicas: [30, 20],
            nginx: 6,
            brokers: 9,
            tikv: 12,
            sql: 8,
            redis_cluster: true,
            partitions: 96,
            ha: true,
        },
        _ => return None,
    })
}

fn sized(replicas: u32, cpu: f64, memory_mb: u64, constraints: &[String]) -> Sizing {
    Sizing {
        replicas,
        cpu_reservation: cpu / 2.0,
        cpu_limit: cpu,
        memory_reservation_mb: memory_mb / 2,
        memory_limit_mb: memory_mb,
        constraints: constraints.to_vec(),
        max_replicas_per_node: None,
        ulimits: BTreeMap::new(),
        sysctls: BTreeMap::new(),
    }
}

/// The model of one sample size, or `None` for an unknown size.
pub fn model(size: &str) -> Option<Result<Model, RenderError>> {
    let scale = scale(size)?;
    Some(assemble(parts(size, &scale), &environment()))
}

fn parts(size: &str, scale: &Scale) -> Parts {
    let host_name = |index: u32| format!("node-{}", index + 1);
    let hosts: Vec<Host> = (0..scale.hosts)
        .map(|index| Host {
            name: host_name(index),
            manager: index < 3,
            cpus: 8.0,
            memory_mb: 32_768,
            labels: BTreeMap::from([
                ("cc.host".to_owned(), host_name(index)),
                ("cc.zone".to_owned(), format!("zone-{}", index % 3 + 1)),
                ("cc.role.app".to_owned(), "true".to_owned()),
                ("cc.role.monitoring".to_owned(), "true".to_owned()),
            ]),
        })
        .collect();
    // Members of a quorum go round-robin over the hosts so that no two share one.
    let pinned = |index: u32| {
        vec![format!(
            "node.labels.cc.host == {}",
            host_name(index % scale.hosts)
        )]
    };
    let app = if scale.ha {
        vec!["node.labels.cc.role.app == true".to_owned()]
    } else {
        Vec::new()
    };
    let mut sizing = BTreeMap::new();
    let mut nginx = sized(scale.nginx, 2.0, 1024, &app);
    nginx.max_replicas_per_node = Some(1);
    nginx.ulimits.insert(
        "nofile".into(),
        Ulimit {
            soft: 500_000,
            hard: 500_000,
        },
    );
    nginx
        .sysctls
        .insert("net.core.somaxconn".into(), "65535".into());
    sizing.insert("nginx".to_owned(), nginx);
    for ((role, _), replicas) in APP_ROLES.iter().zip(scale.app_replicas) {
        let mut entry = sized(replicas, 2.0, 2048, &app);
        if scale.ha {
            entry.max_replicas_per_node = Some(replicas.div_ceil(scale.hosts.max(1)).max(1));
        }
        entry.ulimits.insert(
            "nofile".into(),
            Ulimit {
                soft: 500_000,
                hard: 500_000,
            },
        );
        if *role == "gateway" {
            entry
                .sysctls
                .insert("net.core.somaxconn".into(), "65535".into());
            entry
                .sysctls
                .insert("net.ipv4.ip_local_port_range".into(), "1024 65535".into());
        }
        sizing.insert((*role).to_owned(), entry);
    }
    let kafka_brokers: Vec<KafkaBroker> = (1..=scale.brokers)
        .map(|node_id| KafkaBroker {
            node_id,
            service: format!("kafka-{node_id}"),
            controller: node_id <= 3,
        })
        .collect();
    for (index, broker) in kafka_brokers.iter().enumerate() {
        let mut entry = sized(1, 4.0, 8192, &pinned(index as u32));
        entry.ulimits.insert(
            "nofile".into(),
            Ulimit {
                soft: 128_000,
                hard: 128_000,
            },
        );
        sizing.insert(broker.service.clone(), entry);
    }
    let replication = if scale.ha { 3 } else { 1 };
    let topic = |name: &str, partitions: u32, retention_hours: u32| KafkaTopic {
        name: name.to_owned(),
        partitions,
        replication_factor: replication,
        configs: BTreeMap::from([
            (
                "min.insync.replicas".to_owned(),
                (if scale.ha { 2 } else { 1 }).to_string(),
            ),
            (
                "retention.ms".to_owned(),
                (u64::from(retention_hours) * 3_600_000).to_string(),
            ),
        ]),
    };
    let kafka = Kafka {
        cluster_id: "Q2NwbGF0Zm9ybUNsdXN0ZXI".into(),
        controller_quorum_voters: kafka_brokers
            .iter()
            .filter(|broker| broker.controller)
            .map(|broker| format!("{}@{}:9093", broker.node_id, broker.service))
            .collect::<Vec<_>>()
            .join(","),
        bootstrap_servers: kafka_brokers
            .iter()
            .map(|broker| format!("{}:9092", broker.service))
            .collect::<Vec<_>>()
            .join(","),
        brokers: kafka_brokers,
        replication_factor: replication,
        min_insync_replicas: if scale.ha { 2 } else { 1 },
        default_partitions: scale.partitions,
        retention_hours: 168,
        network_threads: 8,
        io_threads: 16,
        heap_mb: 4096,
        topics: vec![
            topic("cc.messages", scale.partitions, 168),
            topic("cc.events", scale.partitions, 72),
            topic("cc.webhooks", scale.partitions / 2, 168),
            topic("cc.notifications", scale.partitions / 2, 72),
            topic("cc.moderation", scale.partitions / 4, 168),
        ],
    };
    let quorum = if scale.ha { 3 } else { 1 };
    let member = |prefix: &str, index: u32| TidbMember {
        name: format!("{prefix}-{}", index + 1),
        labels: BTreeMap::from([
            ("zone".to_owned(), format!("zone-{}", index % 3 + 1)),
            ("host".to_owned(), host_name(index % scale.hosts)),
        ]),
    };
    let pd: Vec<TidbMember> = (0..quorum).map(|index| member("pd", index)).collect();
    let tikv: Vec<TidbMember> = (0..scale.tikv).map(|index| member("tikv", index)).collect();
    for (index, member) in pd.iter().enumerate() {
        sizing.insert(
            member.name.clone(),
            sized(1, 2.0, 4096, &pinned(index as u32)),
        );
    }
    for (index, member) in tikv.iter().enumerate() {
        let mut entry = sized(1, 8.0, 16_384, &pinned(index as u32));
        entry.ulimits.insert(
            "nofile".into(),
            Ulimit {
                soft: 1_000_000,
                hard: 1_000_000,
            },
        );
        sizing.insert(member.name.clone(), entry);
    }
    let mut sql = sized(scale.sql, 4.0, 8192, &app);
    sql.max_replicas_per_node = Some(1);
    sizing.insert("tidb".to_owned(), sql);
    let tidb = Tidb {
        pd_endpoints: pd
            .iter()
            .map(|m| format!("{}:2379", m.name))
            .collect::<Vec<_>>()
            .join(","),
        pd_initial_cluster: pd
            .iter()
            .map(|m| format!("{0}=http://{0}:2380", m.name))
            .collect::<Vec<_>>()
            .join(","),
        pd,
        tikv,
        sql_service: "tidb".into(),
        sql_replicas: scale.sql,
        max_replicas: quorum,
        location_labels: vec!["zone".into(), "host".into()],
        tikv_block_cache_mb: 6144,
        sql_memory_quota_mb: 4096,
    };
    let mut redis = Vec::new();
    let mut next_host = 0;
    for (role, policy, appendonly) in [
        ("cache", "allkeys-lru", false),
        ("pubsub", "noeviction", false),
        ("sessions", "noeviction", true),
    ] {
        let cluster = scale.redis_cluster && role != "pubsub";
        let (topology, count) = match (scale.ha, cluster) {
            (false, _) => ("standalone", 1),
            (true, false) => ("primary_replica", 2),
            (true, true) => ("cluster", 6),
        };
        let nodes: Vec<RedisNode> = (1..=count)
            .map(|index| RedisNode {
                service: format!("redis-{role}-{index}"),
                replica_of: (topology == "primary_replica" && index > 1)
                    .then(|| format!("redis-{role}-1")),
            })
            .collect();
        for node in &nodes {
            sizing.insert(
                node.service.clone(),
                sized(1, 2.0, 4096, &pinned(next_host)),
            );
            next_host += 1;
        }
        redis.push(RedisRole {
            role: role.to_owned(),
            topology: topology.to_owned(),
            endpoints: nodes
                .iter()
                .map(|n| format!("{}:6379", n.service))
                .collect::<Vec<_>>()
                .join(","),
            nodes,
            maxmemory_mb: 3072,
            maxmemory_policy: policy.to_owned(),
            appendonly,
            rdb_snapshots: role == "sessions",
            sentinels: Vec::new(),
            sentinel_quorum: 0,
            cluster_replicas: u32::from(topology == "cluster"),
        });
    }
    let members: Vec<MongodbMember> = (1..=quorum)
        .map(|id| MongodbMember {
            id: id - 1,
            service: format!("mongo-{id}"),
            priority: if id == 1 { 2 } else { 1 },
        })
        .collect();
    for (index, member) in members.iter().enumerate() {
        sizing.insert(
            member.service.clone(),
            sized(1, 2.0, 8192, &pinned(index as u32 + 1)),
        );
    }
    let mongodb = Mongodb {
        replica_set: "cc".into(),
        hosts: members
            .iter()
            .map(|m| format!("{}:27017", m.service))
            .collect::<Vec<_>>()
            .join(","),
        members,
        cache_size_gb: 3.0,
    };
    let monitoring = if scale.ha {
        vec!["node.labels.cc.role.monitoring == true".to_owned()]
    } else {
        Vec::new()
    };
    for name in [
        "prometheus",
        "alertmanager",
        "grafana",
        "loki",
        "kafka-exporter",
        "redis-exporter",
        "mongodb-exporter",
    ] {
        sizing.insert(name.to_owned(), sized(1, 1.0, 2048, &monitoring));
    }
    for name in ["promtail", "node-exporter", "cadvisor"] {
        sizing.insert(name.to_owned(), sized(1, 0.5, 256, &[]));
    }
    Parts {
        plan_hash: sha256_hex(size.as_bytes()),
        plan_version: 1,
        target: if scale.ha {
            Target::Swarm
        } else {
            Target::Compose
        },
        hosts,
        kafka,
        tidb,
        redis,
        mongodb,
        prometheus_retention_days: 15,
        prometheus_retention_size_gb: 50,
        loki_retention_hours: 168,
        gateway_drain_window_s: 30,
        nginx_worker_connections: 16_384,
        sizing,
    }
}
