//! The render model: exactly what the templates read, nothing more. Built from a plan and an environment by
//! `from_plan` (in `adapter.rs`); the templates never see the plan itself.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::environment::{Hostnames, Images};

/// Which deployment model a render targets. Both files are always rendered; this picks the primary one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Compose,
    Swarm,
}

/// Everything a render reads.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    pub plan_hash: String,
    pub plan_version: u32,
    pub target: Target,
    pub stack_name: String,
    pub domain: String,
    pub hostnames: Hostnames,
    pub images: Images,
    pub self_signed_tls: bool,
    pub trusted_proxies: Vec<String>,
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    /// Named volumes (mount sources that are not absolute host paths), declared once in `volumes:`.
    pub volumes: Vec<String>,
    pub secrets: Vec<SecretRef>,
    pub nginx: Nginx,
    pub gateway: Gateway,
    pub kafka: Kafka,
    pub tidb: Tidb,
    pub redis: Vec<RedisRole>,
    pub mongodb: Mongodb,
    pub observability: Observability,
}

/// A machine of the plan with the Swarm node labels that placement constraints select on.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub manager: bool,
    pub cpus: f64,
    pub memory_mb: u64,
    pub labels: BTreeMap<String, String>,
}

/// A Docker secret: a file in the secrets directory and its content-hashed name.
#[derive(Debug, Clone, Serialize)]
pub struct SecretRef {
    /// Template key (`jwt_signing_key`).
    pub id: String,
    /// Docker object name (`cc_jwt_signing_key_1a2b3c4d`): changes whenever the content does.
    pub name: String,
    /// Path of the file, relative to the output directory when possible.
    pub file: String,
    /// The copy Compose mounts (see `SecretFile::compose_path`).
    pub compose_file: String,
    /// sha256 of the content, for the `MANIFEST` only; templates never see it.
    #[serde(skip)]
    pub sha256: String,
}

/// Whether a service may run two versions side by side during an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Stateless,
    Stateful,
}

/// One Swarm/Compose service, fully resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub image: String,
    pub kind: Kind,
    /// `replicated` or `global` (node-exporter, cAdvisor, Promtail).
    pub mode: String,
    pub replicas: u32,
    /// Overrides the image's entrypoint when not empty.
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub cpu_reservation: String,
    pub cpu_limit: String,
    pub memory_reservation_mb: u64,
    pub memory_limit_mb: u64,
    pub constraints: Vec<String>,
    pub max_replicas_per_node: Option<u32>,
    pub ports: Vec<Port>,
    pub networks: Vec<String>,
    pub volumes: Vec<Mount>,
    pub secrets: Vec<Mount>,
    /// `source` is the path of a rendered file; the render replaces it by the hashed config name.
    pub configs: Vec<Mount>,
    pub healthcheck: Healthcheck,
    pub stop_grace_period_s: u32,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub sysctls: BTreeMap<String, String>,
    pub update: UpdatePolicy,
    /// Writable tmpfs mounts (read-only root filesystems still need `/tmp`).
    pub tmpfs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Port {
    pub target: u16,
    pub published: u16,
    pub protocol: String,
    /// `host` (bypasses the routing mesh: real client IPs, no extra hop) or `ingress`.
    pub mode: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub source: String,
    pub target: String,
    /// Owner uid, gid and mode of a mounted secret (Swarm only): the user the image's process runs as, so
    /// the secret can be private to it (`0400`) and still readable.
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

impl Healthcheck {
    /// The longest a new task can take to be declared unhealthy: start period plus every failing retry.
    pub fn window_s(&self) -> u32 {
        self.start_period_s + (self.interval_s + self.timeout_s) * self.retries
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdatePolicy {
    /// `start-first` or `stop-first`.
    pub order: String,
    pub parallelism: u32,
    pub delay_s: u32,
    /// How long Swarm watches a new task before calling the update good: longer than the health-check window.
    pub monitor_s: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Nginx {
    /// One per CPU of the container's limit: `auto` would count the host's CPUs and over-allocate.
    pub worker_processes: u32,
    pub worker_connections: u32,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub client_max_body_size_mb: u32,
    pub websocket_read_timeout_s: u32,
    pub upstream_keepalive: u32,
    pub hsts_max_age_s: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gateway {
    /// Time the gateway spreads its 1012 closes over when draining; `stop_grace_period` must exceed it.
    pub drain_window_s: u32,
    pub port: u16,
    pub api_port: u16,
    pub metrics_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct Kafka {
    pub cluster_id: String,
    pub brokers: Vec<KafkaBroker>,
    /// `1@kafka-1:9093,2@kafka-2:9093,...`
    pub controller_quorum_voters: String,
    /// `kafka-1:9092,kafka-2:9092,...`
    pub bootstrap_servers: String,
    pub replication_factor: u32,
    pub min_insync_replicas: u32,
    pub default_partitions: u32,
    pub retention_hours: u32,
    pub network_threads: u32,
    pub io_threads: u32,
    pub heap_mb: u64,
    pub topics: Vec<KafkaTopic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KafkaBroker {
    pub node_id: u32,
    pub service: String,
    /// Member of the KRaft controller quorum (3 in HA, whatever the broker count; 1 on a single host).
    pub controller: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KafkaTopic {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tidb {
    pub pd: Vec<TidbMember>,
    pub tikv: Vec<TidbMember>,
    pub sql_service: String,
    pub sql_replicas: u32,
    /// `pd-1:2379,pd-2:2379,...`
    pub pd_endpoints: String,
    /// `pd-1=http://pd-1:2380,...`
    pub pd_initial_cluster: String,
    pub max_replicas: u32,
    pub location_labels: Vec<String>,
    pub tikv_block_cache_mb: u64,
    pub sql_memory_quota_mb: u64,
}

/// A PD or TiKV member: its own service, pinned to one host, with its location labels.
#[derive(Debug, Clone, Serialize)]
pub struct TidbMember {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedisRole {
    /// `cache`, `pubsub` or `sessions`.
    pub role: String,
    /// `standalone`, `primary_replica` or `cluster`.
    pub topology: String,
    pub nodes: Vec<RedisNode>,
    pub maxmemory_mb: u64,
    pub maxmemory_policy: String,
    pub appendonly: bool,
    pub rdb_snapshots: bool,
    /// `host:port` list the clients use.
    pub endpoints: String,
    /// Sentinel services watching the primary (primary/replica topology with HA); empty otherwise.
    pub sentinels: Vec<String>,
    /// Sentinels that must agree before a failover: a majority.
    pub sentinel_quorum: u32,
    /// Replicas of each primary in cluster mode (`redis-cli --cluster create --cluster-replicas N`).
    pub cluster_replicas: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedisNode {
    pub service: String,
    /// The primary's service for a replica in primary/replica topology.
    pub replica_of: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mongodb {
    pub replica_set: String,
    pub members: Vec<MongodbMember>,
    pub cache_size_gb: f64,
    /// `mongo-1:27017,mongo-2:27017,...`
    pub hosts: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MongodbMember {
    pub id: u32,
    pub service: String,
    pub priority: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Observability {
    pub scrape_interval_s: u32,
    pub prometheus_retention_days: u32,
    pub prometheus_retention_size_gb: u64,
    pub loki_retention_hours: u32,
    pub scrape_jobs: Vec<ScrapeJob>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScrapeJob {
    pub job: String,
    /// Static `host:port` targets, or one Swarm DNS name resolved with `dns_sd_configs` (`tasks.<service>`).
    pub targets: Vec<String>,
    pub dns_name: Option<String>,
    pub port: u16,
    pub metrics_path: String,
}
