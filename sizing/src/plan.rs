//! The plan: the file format `ccctl plan -o plan.yaml` writes and `render`, `check` and `deploy` read.
//!
//! Stability rules: this is format version [`PLAN_FORMAT_VERSION`]. Within a version fields are only ever
//! added (with `#[serde(default)]`), never renamed or removed. Every collection is a `Vec` in a defined order
//! or a `BTreeMap`, so the same inputs always serialise to the same bytes. Names of services and stores are
//! stable snake_case strings (see [`service_names`]).
//!
//! Units are in the field names: CPU in millicores (1000 = one vCPU), memory in MiB, disk in GiB, rates per
//! second, retention in days or milliseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The plan format version this library writes and the newest it reads.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Stable names of the application services and stores, as used in [`Plan::services`] keys and in
/// [`TaskRef::service`].
pub mod service_names {
    /// NGINX edge: TLS, WebSocket upgrade, routing, rate limits.
    pub const NGINX: &str = "nginx";
    /// WebSocket gateway.
    pub const GATEWAY: &str = "gateway";
    /// Chat REST API.
    pub const API: &str = "api";
    /// Moderation engine.
    pub const MODERATION: &str = "moderation";
    /// Push notifications fan-out.
    pub const NOTIFICATIONS: &str = "notifications";
    /// Outbound webhooks.
    pub const WEBHOOKS: &str = "webhooks";
    /// The six application services, in the order tables print them.
    pub const APPLICATION: [&str; 6] = [NGINX, GATEWAY, API, MODERATION, NOTIFICATIONS, WEBHOOKS];

    /// TiDB placement driver member.
    pub const TIDB_PD: &str = "tidb_pd";
    /// TiKV storage node.
    pub const TIDB_TIKV: &str = "tidb_tikv";
    /// TiDB SQL server.
    pub const TIDB_SQL: &str = "tidb_sql";
    /// Kafka broker (KRaft; the first `controllers` brokers also run the controller role).
    pub const KAFKA: &str = "kafka";
    /// Redis cache role (instances of a role are `redis_<role>`).
    pub const REDIS_CACHE: &str = "redis_cache";
    /// Redis pub/sub role.
    pub const REDIS_PUBSUB: &str = "redis_pubsub";
    /// Redis sessions/rate-limit role.
    pub const REDIS_SESSIONS: &str = "redis_sessions";
    /// Redis Sentinel, one group per role that runs primary + replica (`redis_<role>_sentinel`).
    pub const SENTINEL_SUFFIX: &str = "_sentinel";
    /// MongoDB replica-set member.
    pub const MONGODB: &str = "mongodb";
    /// Prometheus server.
    pub const PROMETHEUS: &str = "prometheus";
    /// Loki log store.
    pub const LOKI: &str = "loki";
    /// Grafana.
    pub const GRAFANA: &str = "grafana";
    /// Prometheus node exporter (global: one per host).
    pub const NODE_EXPORTER: &str = "node_exporter";
    /// cAdvisor (global: one per host).
    pub const CADVISOR: &str = "cadvisor";
}

/// A complete, explained-by-coefficients deployment topology.
///
/// `hash` is the lowercase hex SHA-256 of the canonical JSON of the plan with `hash` set to the empty
/// string (see [`crate::plan_file`]). A plan whose content no longer matches its hash was edited by hand
/// and is rejected by [`crate::plan_file::from_yaml`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Plan format version ([`PLAN_FORMAT_VERSION`]).
    pub version: u32,
    /// SHA-256 (hex) of the canonical content without the hash.
    pub hash: String,
    /// Version of the coefficient data files the plan was computed with.
    pub coefficients_version: u32,
    /// The validated inputs the plan was made from (defaults filled in).
    pub inputs: PlanInputs,
    /// Deployment target.
    pub target: Target,
    /// Why this target: the recommendation rule, or "chosen with --target" plus the recommendation.
    pub target_reason: String,
    /// Whether the plan is highly available (quorums of 3, ≥2 replicas per service, 3 Swarm managers).
    pub ha: bool,
    /// Whether this is the single-host development/CI size.
    pub development: bool,
    /// Load figures derived from the inputs.
    pub workload: Workload,
    /// Application services keyed by name (`nginx`, `gateway`, `api`, `moderation`, `notifications`,
    /// `webhooks`).
    pub services: BTreeMap<String, ServicePlan>,
    /// Stateful stores.
    pub data_stores: DataStores,
    /// Metrics, logs and dashboards.
    pub observability: Observability,
    /// Machines, their roles and labels, and the tasks placed on each.
    pub hosts: Vec<HostPlan>,
    /// Sums over all hosts.
    pub totals: Totals,
    /// Side-by-side with the published reference totals, when a reference row has this MAU and PCC.
    pub reference: Option<ReferenceComparison>,
    /// Things the operator must know (not highly available, out of recommended range, host too small…).
    pub warnings: Vec<Warning>,
}

/// Deployment target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Docker Compose on one host (development, CI).
    Compose,
    /// Docker Swarm (recommended up to about 200k MAU / 20k PCC).
    Swarm,
    /// Kubernetes (above Swarm's range).
    Kubernetes,
}

impl Target {
    /// The stable lowercase name (`compose`, `swarm`, `kubernetes`).
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Compose => "compose",
            Target::Swarm => "swarm",
            Target::Kubernetes => "kubernetes",
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The inputs of a plan after validation, with every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInputs {
    /// Monthly active users.
    pub mau: u64,
    /// Peak concurrent connections (users online at the peak).
    pub pcc: u64,
    /// PCC / MAU actually used (given, or derived from an explicit PCC).
    pub concurrency: f64,
    /// Whether PCC was given explicitly (`--pcc`) rather than derived from the concurrency ratio.
    pub pcc_explicit: bool,
    /// Messages sent per daily active user per day.
    pub messages_per_active_user_per_day: f64,
    /// Average number of recipients of one message (1:1 = 1; a group of 8 = 7 others + the sender's
    /// other devices ≈ 8).
    pub average_group_size: f64,
    /// Peak-hour rate divided by the daily average rate.
    pub peak_to_average: f64,
    /// Average stored size of one message (text, metadata), bytes.
    pub average_message_bytes: u64,
    /// Share of messages that carry an attachment (0–1).
    pub attachment_share: f64,
    /// Average attachment size, KiB.
    pub average_attachment_kib: u64,
    /// How long message history is kept, days.
    pub history_retention_days: u32,
    /// The size of each host.
    pub host_size: HostSize,
    /// The target asked for (`None`: recommended automatically).
    pub requested_target: Option<Target>,
    /// The HA setting asked for (`None`: on for production sizes, off for the development size).
    pub requested_ha: Option<bool>,
}

/// A host size such as `8c32g` (8 vCPU, 32 GiB RAM) with an optional disk (`8c32g500d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSize {
    /// vCPUs.
    pub cpus: u32,
    /// RAM, GiB.
    pub memory_gib: u32,
    /// Data disk, GiB.
    pub disk_gib: u32,
}

/// Load figures derived from the inputs. Rates are at the peak unless named otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Monthly active users (copied from the inputs for the tables).
    pub mau: u64,
    /// Peak concurrent connections.
    pub pcc: u64,
    /// Daily active users.
    pub daily_active_users: u64,
    /// Messages sent per day.
    pub messages_per_day: u64,
    /// Messages sent per second at the peak.
    pub peak_messages_sent_per_second: u64,
    /// Message deliveries per second at the peak (after fan-out to recipients).
    pub peak_messages_delivered_per_second: u64,
    /// Realtime events (receipts, typing, presence) delivered per second at the peak.
    pub peak_events_delivered_per_second: u64,
    /// REST requests per second at the peak.
    pub peak_rest_requests_per_second: u64,
    /// New WebSocket connections per second when every client reconnects at once (a gateway restart).
    pub reconnect_connections_per_second: u64,
    /// Push notifications per second at the peak.
    pub peak_notifications_per_second: u64,
    /// Webhook deliveries per second at the peak.
    pub peak_webhooks_per_second: u64,
    /// Message history growth per day (one copy, before replication), MiB.
    pub message_storage_growth_mib_per_day: u64,
    /// Message history at full retention (one copy), GiB.
    pub message_storage_at_retention_gib: u64,
    /// Attachment growth per day, GiB.
    pub attachment_storage_growth_gib_per_day: u64,
    /// Attachments at full retention, GiB.
    pub attachment_storage_at_retention_gib: u64,
}

/// CPU, memory and disk of one instance (replica, member, node) of a service or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU reserved for scheduling, millicores.
    pub cpu_reservation_millicores: u64,
    /// CPU limit, millicores.
    pub cpu_limit_millicores: u64,
    /// Memory reserved for scheduling, MiB.
    pub memory_reservation_mib: u64,
    /// Memory limit, MiB.
    pub memory_limit_mib: u64,
    /// Persistent volume, GiB (0 for stateless).
    pub disk_gib: u64,
}

/// A ulimit with soft and hard values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// What one replica of a service is planned to carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// What is counted: `connections`, `requests_per_second`, `messages_per_second`, …
    pub unit: String,
    /// The most one replica carries (the coefficient), before the utilisation target.
    pub per_replica: u64,
    /// The load the whole service must carry at the peak.
    pub required: u64,
    /// Free capacity at the peak, percent of `replicas × per_replica` (0–100).
    pub headroom_percent: u64,
}

/// One application service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePlan {
    /// Stable name (also the key in [`Plan::services`]).
    pub name: String,
    /// Number of replicas.
    pub replicas: u32,
    /// Resources of each replica.
    pub resources: Resources,
    /// The dimension that decides the replica count, and the headroom at the peak.
    pub capacity: Capacity,
    /// Container ulimits by name (`nofile`).
    pub ulimits: BTreeMap<String, Ulimit>,
    /// Namespaced sysctls set on the container (`net.core.somaxconn`).
    pub sysctls: BTreeMap<String, String>,
    /// Swarm `max_replicas_per_node`: the most replicas the placement puts on one host.
    pub max_replicas_per_node: u32,
    /// Node labels a host must carry to run this service (Swarm `node.labels.<k> == <v>`).
    pub node_labels: BTreeMap<String, String>,
}

/// A fixed-size member set of a store (PD, TiKV, TiDB SQL, MongoDB…), each member with the same resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSet {
    /// Number of members.
    pub count: u32,
    /// Resources of each member.
    pub resources: Resources,
    /// Node labels a host must carry to run a member.
    pub node_labels: BTreeMap<String, String>,
}

/// All stateful stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStores {
    /// TiDB: the primary relational store.
    pub tidb: TidbPlan,
    /// Kafka: the event backbone.
    pub kafka: KafkaPlan,
    /// Redis roles keyed by role name (`cache`, `pubsub`, `sessions`).
    pub redis: BTreeMap<String, RedisPlan>,
    /// MongoDB replica set.
    pub mongodb: MongodbPlan,
    /// Object storage for attachments (an external S3-compatible service; `None` without attachments).
    pub object_storage: Option<ObjectStoragePlan>,
}

/// TiDB cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TidbPlan {
    /// Placement driver members (quorum: odd).
    pub pd: MemberSet,
    /// TiKV storage nodes.
    pub tikv: MemberSet,
    /// TiDB SQL servers (stateless).
    pub sql: MemberSet,
    /// Raft replicas of each region (PD `max-replicas`).
    pub tikv_replicas: u32,
    /// TiKV `storage.block-cache.capacity`, MiB.
    pub tikv_block_cache_mib: u64,
    /// TiDB `mem-quota-query`-style memory budget per SQL server, MiB.
    pub sql_memory_quota_mib: u64,
}

/// Kafka cluster in KRaft mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaPlan {
    /// Brokers.
    pub brokers: u32,
    /// KRaft controller voters (odd); the first `controllers` brokers run `broker,controller`.
    pub controllers: u32,
    /// Resources of each broker.
    pub resources: Resources,
    /// JVM heap of each broker, MiB (the rest of the memory is page cache).
    pub heap_mib: u64,
    /// Default replication factor.
    pub default_replication_factor: u32,
    /// Default `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// Topics, in a fixed order.
    pub topics: Vec<KafkaTopic>,
    /// Node labels a host must carry to run a broker.
    pub node_labels: BTreeMap<String, String>,
}

/// One Kafka topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopic {
    /// Topic name (`chat.messages`).
    pub name: String,
    /// Partitions.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u32,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// `retention.ms`.
    pub retention_ms: u64,
}

/// How a Redis role is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisTopology {
    /// One primary; with HA a replica on another host and a Sentinel group for failover.
    StandaloneWithReplica,
    /// Redis Cluster: `masters` ≥ 3 shards, each with `replicas_per_master` replicas.
    Cluster,
}

/// Redis persistence mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisPersistence {
    /// Nothing on disk (cache, pub/sub).
    None,
    /// RDB snapshots.
    Rdb,
    /// Append-only file.
    Aof,
}

/// One Redis role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisPlan {
    /// `cache`, `pubsub` or `sessions`.
    pub role: String,
    /// Layout.
    pub topology: RedisTopology,
    /// Primaries (1 for standalone).
    pub masters: u32,
    /// Replicas of each primary (0 without HA).
    pub replicas_per_master: u32,
    /// Sentinels watching a standalone primary (0 for cluster or without HA; otherwise odd).
    pub sentinels: u32,
    /// `maxmemory` of each primary, MB.
    pub maxmemory_mb: u64,
    /// `maxmemory-policy`.
    pub eviction_policy: String,
    /// Persistence.
    pub persistence: RedisPersistence,
    /// Resources of each instance (primary or replica).
    pub resources: Resources,
    /// Resources of each Sentinel.
    pub sentinel_resources: Resources,
    /// Node labels a host must carry to run an instance.
    pub node_labels: BTreeMap<String, String>,
}

/// MongoDB replica set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongodbPlan {
    /// Replica-set members (odd).
    pub members: u32,
    /// Resources of each member.
    pub resources: Resources,
    /// WiredTiger cache of each member, MiB.
    pub wiredtiger_cache_mib: u64,
    /// Node labels a host must carry to run a member.
    pub node_labels: BTreeMap<String, String>,
}

/// Object storage for attachments: an external S3-compatible service sized here, not placed on hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStoragePlan {
    /// Capacity needed at full retention (one logical copy), GiB.
    pub capacity_gib: u64,
    /// Growth per day, GiB.
    pub growth_gib_per_day: u64,
}

/// Prometheus, Loki, Grafana and the per-host exporters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observability {
    /// Prometheus (two independent replicas with HA).
    pub prometheus: ObservabilityComponent,
    /// Loki (single binary).
    pub loki: ObservabilityComponent,
    /// Grafana (`retention_days` 0: it keeps no data of its own).
    pub grafana: ObservabilityComponent,
    /// Node exporter: a global service, one task per host.
    pub node_exporter: GlobalService,
    /// cAdvisor: a global service, one task per host.
    pub cadvisor: GlobalService,
}

/// One observability component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservabilityComponent {
    /// Replicas.
    pub replicas: u32,
    /// Data retention, days.
    pub retention_days: u32,
    /// Volume of each replica, GiB (also in `resources.disk_gib`).
    pub disk_gib: u64,
    /// Resources of each replica.
    pub resources: Resources,
    /// Node labels a host must carry to run a replica.
    pub node_labels: BTreeMap<String, String>,
}

/// A service with one task on every host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalService {
    /// Resources of the task on each host.
    pub resources: Resources,
}

/// A host's role in the orchestrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostRole {
    /// Swarm manager / Kubernetes control-plane node (3 with HA: a Raft quorum).
    Manager,
    /// Runs workloads.
    Worker,
}

/// One machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPlan {
    /// Name (`cc-1`, `cc-2`, …); the inventory maps it to an address.
    pub name: String,
    /// Roles, sorted (managers also run workloads).
    pub roles: Vec<HostRole>,
    /// Node labels: `cc.<service>=true` for every service placed here.
    pub labels: BTreeMap<String, String>,
    /// vCPUs, millicores.
    pub cpu_millicores: u64,
    /// RAM, MiB.
    pub memory_mib: u64,
    /// Data disk, GiB.
    pub disk_gib: u64,
    /// Tasks placed on this host, sorted by service then replica.
    pub tasks: Vec<TaskRef>,
    /// What the placed tasks (and the global services) reserve.
    pub utilisation: Utilisation,
}

/// One task of a service or store: its name and replica index (0-based).
///
/// Redis roles (`redis_<role>`) number their instances `shard × (1 + replicas_per_master) + member`, where
/// member 0 is the shard's primary. Sentinels are `redis_<role>_sentinel`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRef {
    /// Service or store name ([`service_names`]).
    pub service: String,
    /// Replica or member index, from 0.
    pub replica: u32,
}

/// Reservations against a host's (or all hosts') capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utilisation {
    /// CPU reserved, millicores (tasks, global services and the system reserve).
    pub cpu_reserved_millicores: u64,
    /// Memory reserved, MiB.
    pub memory_reserved_mib: u64,
    /// Disk reserved, GiB.
    pub disk_reserved_gib: u64,
    /// CPU reserved, percent of the capacity (rounded up).
    pub cpu_percent: u64,
    /// Memory reserved, percent (rounded up).
    pub memory_percent: u64,
    /// Disk reserved, percent (rounded up).
    pub disk_percent: u64,
}

/// Sums over all hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Hosts.
    pub hosts: u32,
    /// Placed tasks (global services excluded).
    pub tasks: u32,
    /// vCPUs of all hosts.
    pub cpus: u64,
    /// RAM of all hosts, GiB.
    pub memory_gib: u64,
    /// Disk of all hosts, GiB.
    pub disk_gib: u64,
    /// What is reserved across all hosts.
    pub utilisation: Utilisation,
}

/// Our totals next to the published reference totals for the same MAU and PCC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceComparison {
    /// Reference MAU.
    pub mau: u64,
    /// Reference PCC.
    pub pcc: u64,
    /// Reference whole-cluster vCPU.
    pub reference_cpus: u64,
    /// Reference whole-cluster RAM, GiB (2 GiB per vCPU).
    pub reference_memory_gib: u64,
    /// Our hosts' vCPUs.
    pub plan_cpus: u64,
    /// Our hosts' RAM, GiB.
    pub plan_memory_gib: u64,
    /// Our vCPUs / reference vCPUs, percent (rounded).
    pub cpu_ratio_percent: u64,
    /// Our RAM / reference RAM, percent (rounded).
    pub memory_ratio_percent: u64,
    /// Reference gateway replicas at one per 1,500 PCC (fewest).
    pub reference_gateway_replicas_min: u32,
    /// Reference gateway replicas at one per 1,000 PCC (most).
    pub reference_gateway_replicas_max: u32,
    /// Our gateway replicas.
    pub plan_gateway_replicas: u32,
    /// Where the reference figures come from.
    pub source: String,
}

/// A warning for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    /// Stable snake_case code (`not_highly_available`, `above_swarm_range`, `host_too_small`,
    /// `compose_multi_host`, …).
    pub code: String,
    /// The message, with what to do about it.
    pub message: String,
}

impl Plan {
    /// The placement as `(host name, task)` pairs, in host order.
    pub fn placement(&self) -> impl Iterator<Item = (&str, &TaskRef)> {
        self.hosts.iter().flat_map(|host| {
            host.tasks
                .iter()
                .map(move |task| (host.name.as_str(), task))
        })
    }

    /// The host a task runs on.
    pub fn host_of(&self, service: &str, replica: u32) -> Option<&HostPlan> {
        self.hosts.iter().find(|host| {
            host.tasks
                .iter()
                .any(|task| task.service == service && task.replica == replica)
        })
    }
}
