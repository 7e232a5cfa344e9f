//! `from_plan`: the one place that reads a `cc_sizing` plan and turns it into the render model. Checks that
//! the plan is possible (a hand-edited, re-sealed plan can be anything) and names the field at fault.
//!
//! Derived here because the plan does not carry them: per-member placement (`node.labels.cc.host == <host>`,
//! from the plan's task placement; deploy must label each node `cc.host=<plan host name>`), the Kafka cluster
//! id (from the domain, so it is stable across re-plans), Kafka thread counts (from the broker CPU limit),
//! `nofile` for the data stores, the sizes of the exporters/Alertmanager/Promtail, the gateway drain window,
//! NGINX `worker_connections` (from its `nofile`), and TiDB location labels (`host` only: the plan has no
//! zones).

use std::collections::BTreeMap;

use base64::Engine as _;
use cc_sizing::{
    MemberSet, Plan, RedisPersistence, RedisTopology, Resources, service_names as names,
};
use sha2::{Digest, Sha256};

use crate::assemble::{APP_ROLES, Parts, Sizing, assemble};
use crate::environment::Environment;
use crate::error::RenderError;
use crate::model::{
    Host, Kafka, KafkaBroker, KafkaTopic, Model, Mongodb, MongodbMember, RedisNode, RedisRole,
    Target, Tidb, TidbMember, Ulimit,
};

/// The gateway spreads its 1012 closes over this window when draining (see the gateway's drain setting).
const GATEWAY_DRAIN_WINDOW_S: u32 = 30;
const DATA_STORE_NOFILE: u64 = 1_048_576;
pub(crate) const REDIS_ROLES: [&str; 3] = ["cache", "pubsub", "sessions"];

/// Builds the render model of `plan` in `env`. Every impossible value is reported, each with its field.
pub fn from_plan(plan: &Plan, env: &Environment) -> Result<Model, RenderError> {
    let mut problems = Vec::new();
    crate::plan_check::check(plan, &mut problems);
    if !problems.is_empty() {
        return Err(RenderError::Invalid(problems));
    }
    let mut adapter = Adapter {
        plan,
        sizing: BTreeMap::new(),
    };
    let hosts = plan
        .hosts
        .iter()
        .map(|host| {
            let mut labels = host.labels.clone();
            labels.insert("cc.host".into(), host.name.clone());
            Host {
                name: host.name.clone(),
                manager: host.roles.contains(&cc_sizing::HostRole::Manager),
                cpus: host.cpu_millicores as f64 / 1000.0,
                memory_mb: host.memory_mib,
                labels,
            }
        })
        .collect();
    let nginx_worker_connections = adapter.app_services();
    let kafka = adapter.kafka(env);
    let tidb = adapter.tidb();
    let redis = adapter.redis();
    let mongodb = adapter.mongodb();
    adapter.observability();
    let observability = &plan.observability;
    let parts = Parts {
        plan_hash: plan.hash.clone(),
        plan_version: plan.version,
        target: match plan.target {
            cc_sizing::Target::Compose => Target::Compose,
            // Kubernetes plans render the Swarm stack too; the CLI says so.
            cc_sizing::Target::Swarm | cc_sizing::Target::Kubernetes => Target::Swarm,
        },
        hosts,
        kafka,
        tidb,
        redis,
        mongodb,
        prometheus_retention_days: observability.prometheus.retention_days,
        // Leave a fifth of the volume free for compaction.
        prometheus_retention_size_gb: (observability.prometheus.disk_gib * 4 / 5).max(1),
        loki_retention_hours: observability.loki.retention_days * 24,
        gateway_drain_window_s: GATEWAY_DRAIN_WINDOW_S,
        nginx_worker_connections,
        sizing: adapter.sizing,
    };
    assemble(parts, env)
}

struct Adapter<'a> {
    plan: &'a Plan,
    sizing: BTreeMap<String, Sizing>,
}

fn constraints(labels: &BTreeMap<String, String>) -> Vec<String> {
    labels
        .iter()
        .map(|(key, value)| format!("node.labels.{key} == {value}"))
        .collect()
}

fn sized(replicas: u32, resources: &Resources, labels: &BTreeMap<String, String>) -> Sizing {
    Sizing {
        replicas,
        cpu_reservation: resources.cpu_reservation_millicores as f64 / 1000.0,
        cpu_limit: resources.cpu_limit_millicores as f64 / 1000.0,
        memory_reservation_mb: resources.memory_reservation_mib,
        memory_limit_mb: resources.memory_limit_mib,
        constraints: constraints(labels),
        max_replicas_per_node: None,
        ulimits: BTreeMap::new(),
        sysctls: BTreeMap::new(),
    }
}

fn joined(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

impl Adapter<'_> {
    /// One member of a store: its own service, pinned to the host the plan placed it on.
    fn member(
        &mut self,
        service: String,
        plan_service: &str,
        index: u32,
        set: &MemberSet,
        nofile: Option<u64>,
    ) {
        let mut sizing = sized(1, &set.resources, &set.node_labels);
        self.pin(&mut sizing, plan_service, index);
        if let Some(nofile) = nofile {
            sizing.ulimits.insert(
                "nofile".into(),
                Ulimit {
                    soft: nofile,
                    hard: nofile,
                },
            );
        }
        self.sizing.insert(service, sizing);
    }

    fn pin(&self, sizing: &mut Sizing, plan_service: &str, index: u32) {
        if self.plan.hosts.len() > 1
            && let Some(host) = self.plan.host_of(plan_service, index)
        {
            sizing
                .constraints
                .push(format!("node.labels.cc.host == {}", host.name));
        }
    }

    /// Returns NGINX's `worker_connections`.
    fn app_services(&mut self) -> u32 {
        let mut worker_connections = 16_384;
        for name in names::APPLICATION {
            let Some(service) = self.plan.services.get(name) else {
                continue;
            };
            let mut sizing = sized(service.replicas, &service.resources, &service.node_labels);
            sizing.max_replicas_per_node =
                (service.max_replicas_per_node > 0).then_some(service.max_replicas_per_node);
            sizing.ulimits = service
                .ulimits
                .iter()
                .map(|(key, limit)| {
                    (
                        key.clone(),
                        Ulimit {
                            soft: limit.soft,
                            hard: limit.hard,
                        },
                    )
                })
                .collect();
            sizing.sysctls = service.sysctls.clone();
            if name == names::NGINX
                && let Some(nofile) = service.ulimits.get("nofile")
            {
                // Each proxied connection holds two descriptors (client and upstream); NGINX preallocates
                // every connection slot per worker, so the count is capped to keep memory bounded.
                worker_connections = u32::try_from(nofile.soft / 2)
                    .unwrap_or(u32::MAX)
                    .clamp(1024, 65_536);
            }
            self.sizing.insert(name.to_owned(), sizing);
        }
        debug_assert!(
            APP_ROLES
                .iter()
                .all(|(role, _)| names::APPLICATION.contains(role))
        );
        worker_connections
    }

    fn kafka(&mut self, env: &Environment) -> Kafka {
        let plan = &self.plan.data_stores.kafka;
        let brokers: Vec<KafkaBroker> = (1..=plan.brokers)
            .map(|node_id| KafkaBroker {
                node_id,
                service: format!("kafka-{node_id}"),
                controller: node_id <= plan.controllers,
            })
            .collect();
        let set = MemberSet {
            count: plan.brokers,
            resources: plan.resources,
            node_labels: plan.node_labels.clone(),
        };
        for broker in &brokers {
            self.member(
                broker.service.clone(),
                names::KAFKA,
                broker.node_id - 1,
                &set,
                Some(DATA_STORE_NOFILE),
            );
        }
        // KRaft cluster ids are 16 bytes, base64url: derived from the domain so re-plans keep the same id.
        let digest = Sha256::digest(format!("cc-kafka-cluster:{}", env.domain).as_bytes());
        let cluster_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        let cpus = (plan.resources.cpu_limit_millicores / 1000).max(1) as u32;
        let retention_ms = plan
            .topics
            .iter()
            .map(|topic| topic.retention_ms)
            .max()
            .unwrap_or(604_800_000);
        Kafka {
            cluster_id,
            controller_quorum_voters: joined(
                brokers
                    .iter()
                    .filter(|broker| broker.controller)
                    .map(|broker| format!("{}@{}:9093", broker.node_id, broker.service)),
            ),
            bootstrap_servers: joined(
                brokers
                    .iter()
                    .map(|broker| format!("{}:9092", broker.service)),
            ),
            brokers,
            replication_factor: plan.default_replication_factor,
            min_insync_replicas: plan.min_insync_replicas,
            default_partitions: plan
                .topics
                .iter()
                .map(|topic| topic.partitions)
                .max()
                .unwrap_or(1),
            retention_hours: u32::try_from(retention_ms / 3_600_000)
                .unwrap_or(u32::MAX)
                .max(1),
            network_threads: cpus.max(3),
            io_threads: (cpus * 2).max(8),
            heap_mb: plan.heap_mib,
            topics: plan
                .topics
                .iter()
                .map(|topic| KafkaTopic {
                    name: topic.name.clone(),
                    partitions: topic.partitions,
                    replication_factor: topic.replication_factor,
                    configs: BTreeMap::from([
                        (
                            "min.insync.replicas".to_owned(),
                            topic.min_insync_replicas.to_string(),
                        ),
                        ("retention.ms".to_owned(), topic.retention_ms.to_string()),
                    ]),
                })
                .collect(),
        }
    }

    fn tidb(&mut self) -> Tidb {
        let plan = &self.plan.data_stores.tidb;
        let members = |this: &mut Self,
                       prefix: &str,
                       plan_service: &str,
                       set: &MemberSet|
         -> Vec<TidbMember> {
            (0..set.count)
                .map(|index| {
                    let name = format!("{prefix}-{}", index + 1);
                    this.member(
                        name.clone(),
                        plan_service,
                        index,
                        set,
                        Some(DATA_STORE_NOFILE),
                    );
                    let host = this
                        .plan
                        .host_of(plan_service, index)
                        .map_or_else(|| name.clone(), |host| host.name.clone());
                    TidbMember {
                        name,
                        labels: BTreeMap::from([("host".to_owned(), host)]),
                    }
                })
                .collect()
        };
        let pd = members(self, "pd", names::TIDB_PD, &plan.pd);
        let tikv = members(self, "tikv", names::TIDB_TIKV, &plan.tikv);
        let mut sql = sized(plan.sql.count, &plan.sql.resources, &plan.sql.node_labels);
        sql.max_replicas_per_node = Some(
            plan.sql
                .count
                .div_ceil(self.plan.hosts.len().max(1) as u32)
                .max(1),
        );
        self.sizing.insert("tidb".into(), sql);
        Tidb {
            pd_endpoints: joined(pd.iter().map(|member| format!("{}:2379", member.name))),
            pd_initial_cluster: joined(
                pd.iter()
                    .map(|member| format!("{0}=http://{0}:2380", member.name)),
            ),
            pd,
            tikv,
            sql_service: "tidb".into(),
            sql_replicas: plan.sql.count,
            max_replicas: plan.tikv_replicas,
            location_labels: vec!["host".into()],
            tikv_block_cache_mb: plan.tikv_block_cache_mib,
            sql_memory_quota_mb: plan.sql_memory_quota_mib,
        }
    }

    fn redis(&mut self) -> Vec<RedisRole> {
        let mut roles = Vec::new();
        for role in REDIS_ROLES {
            let Some(plan) = self.plan.data_stores.redis.get(role) else {
                continue;
            };
            let plan_service = format!("redis_{role}");
            let node_count = plan.masters * (1 + plan.replicas_per_master);
            let topology = match (plan.topology, plan.replicas_per_master) {
                (RedisTopology::Cluster, _) => "cluster",
                (RedisTopology::StandaloneWithReplica, 0) => "standalone",
                (RedisTopology::StandaloneWithReplica, _) => "primary_replica",
            };
            let set = MemberSet {
                count: node_count,
                resources: plan.resources,
                node_labels: plan.node_labels.clone(),
            };
            let nodes: Vec<RedisNode> = (1..=node_count)
                .map(|index| {
                    let service = format!("redis-{role}-{index}");
                    self.member(
                        service.clone(),
                        &plan_service,
                        index - 1,
                        &set,
                        Some(65_536),
                    );
                    RedisNode {
                        service,
                        replica_of: (topology == "primary_replica" && index > 1)
                            .then(|| format!("redis-{role}-1")),
                    }
                })
                .collect();
            let sentinel_plan_service = format!("redis_{role}{}", names::SENTINEL_SUFFIX);
            // Sentinels go where the plan put them: hosts labelled `cc.redis_<role>_sentinel`.
            let sentinel_set = MemberSet {
                count: plan.sentinels,
                resources: plan.sentinel_resources,
                node_labels: BTreeMap::from([(
                    format!("cc.{sentinel_plan_service}"),
                    "true".to_owned(),
                )]),
            };
            let sentinels: Vec<String> = if topology == "primary_replica" {
                (1..=plan.sentinels)
                    .map(|index| {
                        let service = format!("redis-{role}-sentinel-{index}");
                        self.member(
                            service.clone(),
                            &sentinel_plan_service,
                            index - 1,
                            &sentinel_set,
                            None,
                        );
                        service
                    })
                    .collect()
            } else {
                Vec::new()
            };
            roles.push(RedisRole {
                role: role.to_owned(),
                topology: topology.to_owned(),
                endpoints: joined(nodes.iter().map(|node| format!("{}:6379", node.service))),
                nodes,
                maxmemory_mb: plan.maxmemory_mb,
                maxmemory_policy: plan.eviction_policy.clone(),
                appendonly: plan.persistence == RedisPersistence::Aof,
                rdb_snapshots: plan.persistence == RedisPersistence::Rdb,
                sentinel_quorum: (sentinels.len() as u32) / 2 + 1,
                cluster_replicas: plan.replicas_per_master,
                sentinels,
            });
        }
        roles
    }

    fn mongodb(&mut self) -> Mongodb {
        let plan = &self.plan.data_stores.mongodb;
        let set = MemberSet {
            count: plan.members,
            resources: plan.resources,
            node_labels: plan.node_labels.clone(),
        };
        let members: Vec<MongodbMember> = (1..=plan.members)
            .map(|id| {
                let service = format!("mongo-{id}");
                self.member(service.clone(), names::MONGODB, id - 1, &set, Some(64_000));
                MongodbMember {
                    id: id - 1,
                    service,
                    // The first member is preferred as primary; the others stay electable.
                    priority: if id == 1 { 2 } else { 1 },
                }
            })
            .collect();
        Mongodb {
            replica_set: "cc".into(),
            hosts: joined(
                members
                    .iter()
                    .map(|member| format!("{}:27017", member.service)),
            ),
            members,
            // WiredTiger accepts fractions of a GiB down to 0.25.
            cache_size_gb: ((plan.wiredtiger_cache_mib as f64 / 1024.0) * 100.0).round() / 100.0,
        }
    }

    fn observability(&mut self) {
        let plan = &self.plan.observability;
        for (name, component) in [
            ("prometheus", &plan.prometheus),
            ("grafana", &plan.grafana),
            ("loki", &plan.loki),
        ] {
            let mut sizing = sized(
                component.replicas,
                &component.resources,
                &component.node_labels,
            );
            sizing.max_replicas_per_node = Some(1);
            self.sizing.insert(name.into(), sizing);
        }
        // Not in the plan: small fixed sizes, next to Prometheus.
        let small = Resources {
            cpu_reservation_millicores: 100,
            cpu_limit_millicores: 500,
            memory_reservation_mib: 64,
            memory_limit_mib: 256,
            disk_gib: 0,
        };
        for name in [
            "alertmanager",
            "kafka-exporter",
            "redis-exporter",
            "mongodb-exporter",
        ] {
            self.sizing
                .insert(name.into(), sized(1, &small, &plan.prometheus.node_labels));
        }
        self.sizing
            .insert("promtail".into(), sized(1, &small, &BTreeMap::new()));
        self.sizing.insert(
            "node-exporter".into(),
            sized(1, &plan.node_exporter.resources, &BTreeMap::new()),
        );
        self.sizing.insert(
            "cadvisor".into(),
            sized(1, &plan.cadvisor.resources, &BTreeMap::new()),
        );
    }
}
