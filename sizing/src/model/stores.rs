//! Data stores: TiDB, Kafka, the three Redis roles, MongoDB and object storage.

use std::collections::BTreeMap;

use crate::explain::{ceil_div, number, thousands};
use crate::model::{
    Ctx, Figure, STORE_LIMITS, member_tasks, node_labels, spread_volume, volume_cap_gib,
};
use crate::placement::Task;
use crate::plan::{
    DataStores, KafkaPlan, KafkaTopic, MemberSet, MongodbPlan, ObjectStoragePlan, RedisPersistence,
    RedisPlan, RedisTopology, TidbPlan, Workload, service_names as names,
};

const GIB: f64 = 1_073_741_824.0;

pub(crate) fn compute(ctx: &mut Ctx, workload: &Workload) -> DataStores {
    let tidb = tidb(ctx, workload);
    let kafka = kafka(ctx, workload);
    let mut redis = BTreeMap::new();
    for role in ["cache", "pubsub", "sessions"] {
        redis.insert(role.to_owned(), redis_role(ctx, workload, role));
    }
    let mongodb = mongodb(ctx, workload);
    let object_storage = (workload.attachment_storage_at_retention_gib > 0).then(|| {
        ctx.rec.explain(
            "data_stores.object_storage.capacity_gib",
            workload.attachment_storage_at_retention_gib,
            "workload.attachment_storage_at_retention_gib (external S3-compatible storage, not placed on hosts)",
            &[],
        );
        ctx.rec.explain(
            "data_stores.object_storage.growth_gib_per_day",
            workload.attachment_storage_growth_gib_per_day,
            "workload.attachment_storage_growth_gib_per_day",
            &[],
        );
        ObjectStoragePlan {
            capacity_gib: workload.attachment_storage_at_retention_gib,
            growth_gib_per_day: workload.attachment_storage_growth_gib_per_day,
        }
    });
    DataStores {
        tidb,
        kafka,
        redis,
        mongodb,
        object_storage,
    }
}

fn tidb(ctx: &mut Ctx, workload: &Workload) -> TidbPlan {
    let (quorum_text, quorum_names) = ctx.quorum_formula();
    let quorum = ctx.quorum;

    ctx.rec.explain(
        "data_stores.tidb.pd.count",
        quorum,
        format!("{quorum_text}: PD is a Raft group"),
        &quorum_names,
    );
    let pd_disk = ctx.rec.c_u64("tidb.pd.disk_gib");
    let pd_cpu = ctx.scaled("tidb.pd.cpu_reservation_millicores");
    let pd_memory = ctx.scaled("tidb.pd.memory_reservation_mib");
    let pd_resources = ctx.resources(
        "data_stores.tidb.pd.resources",
        pd_cpu,
        pd_memory,
        Figure {
            value: pd_disk,
            formula: format!("{pd_disk} (tidb.pd.disk_gib)"),
            names: vec!["tidb.pd.disk_gib"],
        },
        STORE_LIMITS,
    );

    let replicas = quorum;
    ctx.rec.explain(
        "data_stores.tidb.tikv_replicas",
        replicas,
        format!("{quorum_text}: Raft replicas of each region"),
        &quorum_names,
    );
    let fill = ctx.rec.c("stores.disk_fill_target");
    let total = workload.message_storage_at_retention_gib as f64 * f64::from(replicas) / fill;
    let (cap, cap_formula, mut cap_names) = volume_cap_gib(ctx);
    let volume = spread_volume(total, replicas, cap, 1);
    let writes_per_message = ctx.rec.c("tidb.writes_per_message");
    let writes_per_node = ctx.rec.c("tidb.tikv.writes_per_second_per_node");
    let utilisation = ctx.rec.c("services.target_utilisation");
    let for_writes = ceil_div(
        workload.peak_messages_sent_per_second as f64 * writes_per_message * f64::from(replicas),
        writes_per_node * utilisation,
    );
    let tikv_count = u64::from(replicas)
        .max(volume.members_for_data)
        .max(for_writes) as u32;
    ctx.rec.explain(
        "data_stores.tidb.tikv.count",
        tikv_count,
        format!(
            "max({replicas} tikv_replicas, ceil({total:.0} GiB data / {cap} GiB per store) = {}, ceil({} sent/s × {} tidb.writes_per_message × {replicas} replicas / ({} tidb.tikv.writes_per_second_per_node × {})) = {for_writes}); data = {} GiB at retention × {replicas} replicas / {} stores.disk_fill_target; store cap = {cap_formula}",
            volume.members_for_data,
            workload.peak_messages_sent_per_second,
            number(writes_per_message),
            number(writes_per_node),
            number(utilisation),
            workload.message_storage_at_retention_gib,
            number(fill),
        ),
        &[
            "tidb.writes_per_message",
            "tidb.tikv.writes_per_second_per_node",
            "services.target_utilisation",
            "stores.disk_fill_target",
            "hosts.system_reserved_disk_gib",
            "stores.max_volume_share_of_host",
        ],
    );
    let tikv_cpu = ctx.scaled("tidb.tikv.cpu_reservation_millicores");
    let tikv_memory = ctx.scaled("tidb.tikv.memory_reservation_mib");
    cap_names.push("stores.disk_fill_target");
    let tikv_resources = ctx.resources(
        "data_stores.tidb.tikv.resources",
        tikv_cpu,
        tikv_memory,
        Figure {
            value: volume.per_member_gib,
            formula: format!(
                "min(ceil({total:.0} GiB data / {replicas} replicas), {cap} GiB store cap), at least 1"
            ),
            names: cap_names,
        },
        STORE_LIMITS,
    );
    let block_share = ctx.rec.c("tidb.tikv.block_cache_share");
    let block_cache = (tikv_resources.memory_reservation_mib as f64 * block_share).floor() as u64;
    ctx.rec.explain(
        "data_stores.tidb.tikv_block_cache_mib",
        block_cache,
        format!(
            "floor({} MiB TiKV memory × {} tidb.tikv.block_cache_share)",
            tikv_resources.memory_reservation_mib,
            number(block_share)
        ),
        &["tidb.tikv.block_cache_share"],
    );

    let (minimum, minimum_text, mut sql_names): (u64, String, Vec<&str>) = if ctx.ha {
        let value = ctx.rec.c_u64("services.ha_min_replicas");
        (
            value,
            format!("{value} services.ha_min_replicas"),
            vec!["services.ha_min_replicas"],
        )
    } else {
        (1, "1 (not HA)".to_owned(), vec![])
    };
    let queries_per_request = ctx.rec.c("tidb.queries_per_rest_request");
    let queries_per_server = ctx.rec.c("tidb.sql.queries_per_second_per_server");
    let for_queries = ceil_div(
        workload.peak_rest_requests_per_second as f64 * queries_per_request,
        queries_per_server * utilisation,
    );
    let sql_count = minimum.max(for_queries) as u32;
    sql_names.extend([
        "tidb.queries_per_rest_request",
        "tidb.sql.queries_per_second_per_server",
        "services.target_utilisation",
    ]);
    ctx.rec.explain(
        "data_stores.tidb.sql.count",
        sql_count,
        format!(
            "max({minimum_text}, ceil({} req/s × {} tidb.queries_per_rest_request / ({} tidb.sql.queries_per_second_per_server × {})))",
            thousands(workload.peak_rest_requests_per_second),
            number(queries_per_request),
            number(queries_per_server),
            number(utilisation)
        ),
        &sql_names,
    );
    let sql_cpu = ctx.scaled("tidb.sql.cpu_reservation_millicores");
    let sql_memory = ctx.scaled("tidb.sql.memory_reservation_mib");
    let sql_resources = ctx.resources(
        "data_stores.tidb.sql.resources",
        sql_cpu,
        sql_memory,
        Figure::fixed(0, "TiDB SQL servers are stateless"),
        STORE_LIMITS,
    );
    let quota_share = ctx.rec.c("tidb.sql.memory_quota_share");
    let quota = (sql_resources.memory_reservation_mib as f64 * quota_share).floor() as u64;
    ctx.rec.explain(
        "data_stores.tidb.sql_memory_quota_mib",
        quota,
        format!(
            "floor({} MiB TiDB memory × {} tidb.sql.memory_quota_share)",
            sql_resources.memory_reservation_mib,
            number(quota_share)
        ),
        &["tidb.sql.memory_quota_share"],
    );

    TidbPlan {
        pd: MemberSet {
            count: quorum,
            resources: pd_resources,
            node_labels: node_labels(names::TIDB_PD),
        },
        tikv: MemberSet {
            count: tikv_count,
            resources: tikv_resources,
            node_labels: node_labels(names::TIDB_TIKV),
        },
        sql: MemberSet {
            count: sql_count,
            resources: sql_resources,
            node_labels: node_labels(names::TIDB_SQL),
        },
        tikv_replicas: replicas,
        tikv_block_cache_mib: block_cache,
        sql_memory_quota_mib: quota,
    }
}

fn kafka(ctx: &mut Ctx, workload: &Workload) -> KafkaPlan {
    let (quorum_text, quorum_names) = ctx.quorum_formula();
    let quorum = ctx.quorum;
    let replication = quorum;
    let min_insync = if ctx.ha {
        ctx.rec.c_u64("kafka.min_insync_replicas") as u32
    } else {
        1
    };
    ctx.rec.explain(
        "data_stores.kafka.default_replication_factor",
        replication,
        format!("{quorum_text}: every partition on {replication} brokers"),
        &quorum_names,
    );
    let min_insync_names: Vec<&str> = if ctx.ha {
        vec!["kafka.min_insync_replicas"]
    } else {
        vec![]
    };
    ctx.rec.explain(
        "data_stores.kafka.min_insync_replicas",
        min_insync,
        if ctx.ha {
            "kafka.min_insync_replicas (with acks=all)"
        } else {
            "1 (not HA)"
        },
        &min_insync_names,
    );

    let partition_rate = ctx.rec.c("kafka.partition_events_per_second");
    let min_partitions = ctx.rec.c_u64("kafka.min_partitions");
    let bytes_per_event = ctx.rec.c("kafka.bytes_per_event");
    let seconds_per_day = ctx.rec.c("workload.seconds_per_day");
    let peak_to_average = ctx.inputs.peak_to_average;
    let topic_specs = [
        (
            "chat.messages",
            "messages",
            workload.peak_messages_sent_per_second,
            "workload.peak_messages_sent_per_second",
        ),
        (
            "chat.events",
            "events",
            workload.peak_events_delivered_per_second,
            "workload.peak_events_delivered_per_second",
        ),
        (
            "chat.notifications",
            "notifications",
            workload.peak_notifications_per_second,
            "workload.peak_notifications_per_second",
        ),
        (
            "chat.webhooks",
            "webhooks",
            workload.peak_webhooks_per_second,
            "workload.peak_webhooks_per_second",
        ),
        (
            "chat.moderation",
            "moderation",
            workload.peak_messages_sent_per_second,
            "workload.peak_messages_sent_per_second",
        ),
    ];
    let mut topics = Vec::new();
    let mut peak_events = 0_u64;
    let mut stored_bytes = 0.0;
    for (index, (topic, key, rate, rate_name)) in topic_specs.into_iter().enumerate() {
        let path = format!("data_stores.kafka.topics[{index}]");
        let partitions = min_partitions.max(ceil_div(rate as f64, partition_rate)) as u32;
        ctx.rec.explain(
            format!("{path}.partitions"),
            partitions,
            format!(
                "{topic}: max({min_partitions} kafka.min_partitions, ceil({} events/s {rate_name} / {} kafka.partition_events_per_second))",
                thousands(rate),
                number(partition_rate)
            ),
            &["kafka.min_partitions", "kafka.partition_events_per_second"],
        );
        ctx.rec.explain(
            format!("{path}.replication_factor"),
            replication,
            "data_stores.kafka.default_replication_factor",
            &quorum_names,
        );
        ctx.rec.explain(
            format!("{path}.min_insync_replicas"),
            min_insync,
            "data_stores.kafka.min_insync_replicas",
            &min_insync_names,
        );
        let retention_name: &'static str = match key {
            "messages" => "kafka.topics.messages.retention_days",
            "events" => "kafka.topics.events.retention_days",
            "notifications" => "kafka.topics.notifications.retention_days",
            "webhooks" => "kafka.topics.webhooks.retention_days",
            _ => "kafka.topics.moderation.retention_days",
        };
        let days = ctx.rec.c(retention_name);
        let retention_ms = (days * 86_400_000.0).round() as u64;
        ctx.rec.explain(
            format!("{path}.retention_ms"),
            retention_ms,
            format!("{} days {retention_name} × 86,400,000 ms", number(days)),
            &[retention_name],
        );
        peak_events += rate;
        stored_bytes += rate as f64 / peak_to_average * seconds_per_day * days * bytes_per_event;
        topics.push(KafkaTopic {
            name: topic.to_owned(),
            partitions,
            replication_factor: replication,
            min_insync_replicas: min_insync,
            retention_ms,
        });
    }

    let broker_mib = ctx.rec.c("kafka.broker_write_mib_per_second");
    let ingress_mib = peak_events as f64 * bytes_per_event / 1_048_576.0;
    let for_throughput = ceil_div(ingress_mib * f64::from(replication), broker_mib);
    let fill = ctx.rec.c("stores.disk_fill_target");
    let total_gib = stored_bytes * f64::from(replication) / GIB / fill;
    let (cap, cap_formula, mut cap_names) = volume_cap_gib(ctx);
    let min_disk = ctx.rec.c_u64("kafka.min_disk_gib");
    let volume = spread_volume(total_gib, quorum, cap, min_disk);
    let brokers = u64::from(quorum)
        .max(for_throughput)
        .max(volume.members_for_data) as u32;
    ctx.rec.explain(
        "data_stores.kafka.brokers",
        brokers,
        format!(
            "max({quorum_text}, ceil({ingress_mib:.2} MiB/s ingress × {replication} replicas / {} kafka.broker_write_mib_per_second) = {for_throughput}, ceil({total_gib:.0} GiB / {cap} GiB per volume) = {}); ingress = {} events/s × {} B kafka.bytes_per_event; volume cap = {cap_formula}",
            number(broker_mib),
            volume.members_for_data,
            thousands(peak_events),
            number(bytes_per_event)
        ),
        &[
            "kafka.broker_write_mib_per_second",
            "kafka.bytes_per_event",
            "stores.disk_fill_target",
            "hosts.system_reserved_disk_gib",
            "stores.max_volume_share_of_host",
        ],
    );
    ctx.rec.explain(
        "data_stores.kafka.controllers",
        quorum,
        format!("{quorum_text}: KRaft voters; the first {quorum} brokers run broker,controller"),
        &quorum_names,
    );
    let cpu = ctx.scaled("kafka.cpu_reservation_millicores");
    let memory = ctx.scaled("kafka.memory_reservation_mib");
    cap_names.extend([
        "kafka.min_disk_gib",
        "kafka.bytes_per_event",
        "stores.disk_fill_target",
    ]);
    let resources = ctx.resources(
        "data_stores.kafka.resources",
        cpu,
        memory,
        Figure {
            value: volume.per_member_gib,
            formula: format!(
                "max({min_disk} kafka.min_disk_gib, min(ceil({total_gib:.1} GiB / {quorum} members), {cap} GiB cap)); data = Σ topics (average events/s × 86,400 × retention days × {} B) × {replication} replicas / {} stores.disk_fill_target",
                number(bytes_per_event),
                number(fill)
            ),
            names: cap_names,
        },
        STORE_LIMITS,
    );
    let heap_share = ctx.rec.c("kafka.heap_share");
    let heap = (resources.memory_reservation_mib as f64 * heap_share).floor() as u64;
    ctx.rec.explain(
        "data_stores.kafka.heap_mib",
        heap,
        format!(
            "floor({} MiB × {} kafka.heap_share)",
            resources.memory_reservation_mib,
            number(heap_share)
        ),
        &["kafka.heap_share"],
    );
    KafkaPlan {
        brokers,
        controllers: quorum,
        resources,
        heap_mib: heap,
        default_replication_factor: replication,
        min_insync_replicas: min_insync,
        topics,
        node_labels: node_labels(names::KAFKA),
    }
}

fn redis_role(ctx: &mut Ctx, workload: &Workload, role: &str) -> RedisPlan {
    let path = format!("data_stores.redis.{role}");
    let minimum = ctx.rec.c_u64("redis.min_maxmemory_mb");
    let cap = ctx.rec.c_u64("redis.max_maxmemory_mb");
    let utilisation = ctx.rec.c("services.target_utilisation");
    // Total memory of the role and the shards its throughput needs.
    let (total, total_formula, total_names, shards_for_rate, rate_formula): (
        u64,
        String,
        Vec<&str>,
        u64,
        String,
    ) = match role {
        "cache" => {
            let kib = ctx.rec.c("redis.cache.kib_per_active_user");
            let total = minimum.max(ceil_div(workload.daily_active_users as f64 * kib, 1024.0));
            (
                total,
                format!(
                    "max({minimum} redis.min_maxmemory_mb, ceil({} DAU × {} KiB redis.cache.kib_per_active_user / 1024))",
                    thousands(workload.daily_active_users),
                    number(kib)
                ),
                vec!["redis.min_maxmemory_mb", "redis.cache.kib_per_active_user"],
                1,
                String::new(),
            )
        }
        "sessions" => {
            let kib = ctx.rec.c("redis.sessions.kib_per_concurrent_user");
            let total = minimum.max(ceil_div(workload.pcc as f64 * kib, 1024.0));
            (
                total,
                format!(
                    "max({minimum} redis.min_maxmemory_mb, ceil({} PCC × {} KiB redis.sessions.kib_per_concurrent_user / 1024))",
                    thousands(workload.pcc),
                    number(kib)
                ),
                vec![
                    "redis.min_maxmemory_mb",
                    "redis.sessions.kib_per_concurrent_user",
                ],
                1,
                String::new(),
            )
        }
        _ => {
            let per_shard = ctx.rec.c("redis.publishes_per_second_per_shard");
            let publishes =
                workload.peak_messages_sent_per_second + workload.peak_events_delivered_per_second;
            let shards = ceil_div(publishes as f64, per_shard * utilisation).max(1);
            let memory = ctx.rec.c_u64("redis.pubsub.maxmemory_mb");
            (
                memory.max(minimum),
                format!("{memory} redis.pubsub.maxmemory_mb per shard"),
                vec!["redis.pubsub.maxmemory_mb", "redis.min_maxmemory_mb"],
                shards,
                format!(
                    "ceil({} publishes/s (sent + events) / ({} redis.publishes_per_second_per_shard × {}))",
                    thousands(publishes),
                    number(per_shard),
                    number(utilisation)
                ),
            )
        }
    };
    let shards_for_memory = ceil_div(total as f64, cap as f64);
    let cluster = shards_for_memory > 1 || shards_for_rate > 1;
    let quorum = ctx.rec.c_u64("quorum.members");
    let masters = if cluster {
        quorum.max(shards_for_memory).max(shards_for_rate)
    } else {
        1
    } as u32;
    let mut master_names = total_names.clone();
    master_names.extend(["redis.max_maxmemory_mb", "quorum.members"]);
    if role == "pubsub" {
        master_names.extend([
            "redis.publishes_per_second_per_shard",
            "services.target_utilisation",
        ]);
    }
    ctx.rec.explain(
        format!("{path}.masters"),
        masters,
        format!(
            "1 while the role fits one primary, else cluster mode with max({quorum} quorum.members, ceil({total} MB / {cap} MB redis.max_maxmemory_mb){}) shards; memory = {total_formula}",
            if rate_formula.is_empty() { String::new() } else { format!(", {rate_formula}") }
        ),
        &master_names,
    );
    // In cluster mode every shard gets the full cap: a shard never shrinks when load adds shards (so more
    // load never gives a smaller task), and the spare room takes slot rebalancing and growth.
    let (maxmemory, maxmemory_formula, mut maxmemory_names) = if role == "pubsub" {
        (total, total_formula, total_names)
    } else if cluster {
        (
            cap,
            format!(
                "{cap} redis.max_maxmemory_mb: cluster shards are sized at the cap, {masters} × {cap} MB ≥ {total} MB needed ({total_formula})"
            ),
            total_names,
        )
    } else {
        (total, total_formula, total_names)
    };
    if cluster && role != "pubsub" {
        maxmemory_names.push("redis.max_maxmemory_mb");
    }
    ctx.rec.explain(
        format!("{path}.maxmemory_mb"),
        maxmemory,
        maxmemory_formula,
        &maxmemory_names,
    );
    let replicas_per_master = u32::from(ctx.ha);
    ctx.rec.explain(
        format!("{path}.replicas_per_master"),
        replicas_per_master,
        if ctx.ha {
            "1 with HA: each primary has a replica on another host"
        } else {
            "0 (not HA)"
        },
        &[],
    );
    let sentinels = if ctx.ha && !cluster { quorum as u32 } else { 0 };
    ctx.rec.explain(
        format!("{path}.sentinels"),
        sentinels,
        "quorum.members Sentinels for a standalone primary with HA; 0 in cluster mode or without HA",
        &["quorum.members"],
    );

    // Sessions must survive a restart and lose at most a second of writes: AOF with `everysec`. Cache and
    // pub/sub keep nothing worth a disk write.
    let persistence = if role == "sessions" {
        RedisPersistence::Aof
    } else {
        RedisPersistence::None
    };
    let cpu = ctx.scaled("redis.cpu_reservation_millicores");
    let overhead = ctx.rec.c("redis.memory_overhead_factor");
    let memory = Figure {
        value: ceil_div(maxmemory as f64 * overhead, 1.0),
        formula: format!(
            "ceil({maxmemory} MB maxmemory × {} redis.memory_overhead_factor)",
            number(overhead)
        ),
        names: vec!["redis.memory_overhead_factor"],
    };
    let disk = if persistence == RedisPersistence::Aof {
        let factor = ctx.rec.c("redis.aof_disk_factor");
        Figure {
            value: ceil_div(maxmemory as f64 * factor, 1024.0).max(1),
            formula: format!(
                "max(1, ceil({maxmemory} MB × {} redis.aof_disk_factor / 1024))",
                number(factor)
            ),
            names: vec!["redis.aof_disk_factor"],
        }
    } else {
        Figure::fixed(0, "no persistence")
    };
    let resources = ctx.resources(
        &format!("{path}.resources"),
        cpu,
        memory,
        disk,
        STORE_LIMITS,
    );
    let sentinel_cpu = ctx.scaled("redis.sentinel.cpu_reservation_millicores");
    let sentinel_memory = ctx.scaled("redis.sentinel.memory_reservation_mib");
    let sentinel_resources = ctx.resources(
        &format!("{path}.sentinel_resources"),
        sentinel_cpu,
        sentinel_memory,
        Figure::fixed(0, "Sentinel keeps no data"),
        STORE_LIMITS,
    );
    RedisPlan {
        role: role.to_owned(),
        topology: if cluster {
            RedisTopology::Cluster
        } else {
            RedisTopology::StandaloneWithReplica
        },
        masters,
        replicas_per_master,
        sentinels,
        maxmemory_mb: maxmemory,
        // Only the cache may drop keys; a full sessions store must refuse writes rather than silently log
        // users out, and pub/sub stores no keys at all.
        eviction_policy: match role {
            "cache" => "allkeys-lru",
            _ => "noeviction",
        }
        .to_owned(),
        persistence,
        resources,
        sentinel_resources,
        node_labels: node_labels(&format!("redis_{role}")),
    }
}

fn mongodb(ctx: &mut Ctx, workload: &Workload) -> MongodbPlan {
    let (quorum_text, quorum_names) = ctx.quorum_formula();
    let members = ctx.quorum;
    ctx.rec.explain(
        "data_stores.mongodb.members",
        members,
        format!("{quorum_text}: replica-set voting members"),
        &quorum_names,
    );
    let kib_per_user = ctx.rec.c("mongodb.kib_per_user");
    let bytes_per_message = ctx.rec.c("mongodb.bytes_per_message");
    let fill = ctx.rec.c("stores.disk_fill_target");
    let min_disk = ctx.rec.c_u64("mongodb.min_disk_gib");
    let audit_days = ctx.rec.c("mongodb.audit_retention_days");
    let data_gib = (workload.mau as f64 * kib_per_user * 1024.0
        + workload.messages_per_day as f64 * bytes_per_message * audit_days)
        / GIB;
    let disk = min_disk.max(ceil_div(data_gib, fill));
    let cpu = ctx.scaled("mongodb.cpu_reservation_millicores");
    let memory = ctx.scaled("mongodb.memory_reservation_mib");
    let resources = ctx.resources(
        "data_stores.mongodb.resources",
        cpu,
        memory,
        Figure {
            value: disk,
            formula: format!(
                "max({min_disk} mongodb.min_disk_gib, ceil(({} MAU × {} KiB mongodb.kib_per_user + {} messages/day × {} B mongodb.bytes_per_message × {} mongodb.audit_retention_days) / 1 GiB / {} stores.disk_fill_target)); every member holds all data",
                thousands(workload.mau),
                number(kib_per_user),
                thousands(workload.messages_per_day),
                number(bytes_per_message),
                number(audit_days),
                number(fill)
            ),
            names: vec![
                "mongodb.min_disk_gib",
                "mongodb.kib_per_user",
                "mongodb.bytes_per_message",
                "mongodb.audit_retention_days",
                "stores.disk_fill_target",
            ],
        },
        STORE_LIMITS,
    );
    let reserved = ctx.rec.c("mongodb.wiredtiger_reserved_mib");
    let share = ctx.rec.c("mongodb.wiredtiger_cache_share");
    let minimum = ctx.rec.c_u64("mongodb.wiredtiger_min_cache_mib");
    let cache = minimum.max(
        ((resources.memory_reservation_mib as f64 - reserved).max(0.0) * share).floor() as u64,
    );
    ctx.rec.explain(
        "data_stores.mongodb.wiredtiger_cache_mib",
        cache,
        format!(
            "max({minimum} mongodb.wiredtiger_min_cache_mib, floor(({} MiB − {} mongodb.wiredtiger_reserved_mib) × {} mongodb.wiredtiger_cache_share))",
            resources.memory_reservation_mib,
            number(reserved),
            number(share)
        ),
        &[
            "mongodb.wiredtiger_min_cache_mib",
            "mongodb.wiredtiger_reserved_mib",
            "mongodb.wiredtiger_cache_share",
        ],
    );
    MongodbPlan {
        members,
        resources,
        wiredtiger_cache_mib: cache,
        node_labels: node_labels(names::MONGODB),
    }
}

/// Number of placed store tasks (for the Prometheus series estimate).
pub(crate) fn task_count(stores: &DataStores) -> u64 {
    tasks(stores).len() as u64
}

/// Store tasks with their anti-affinity groups: no two members of one quorum on one host.
pub(crate) fn tasks(stores: &DataStores) -> Vec<Task> {
    let tidb = &stores.tidb;
    let mut tasks = member_tasks(
        names::TIDB_PD,
        tidb.pd.count,
        &tidb.pd.resources,
        Some(names::TIDB_PD),
    );
    tasks.extend(member_tasks(
        names::TIDB_TIKV,
        tidb.tikv.count,
        &tidb.tikv.resources,
        Some(names::TIDB_TIKV),
    ));
    tasks.extend(member_tasks(
        names::TIDB_SQL,
        tidb.sql.count,
        &tidb.sql.resources,
        None,
    ));
    let kafka = &stores.kafka;
    tasks.extend(member_tasks(
        names::KAFKA,
        kafka.brokers,
        &kafka.resources,
        Some(names::KAFKA),
    ));
    for redis in stores.redis.values() {
        let service = format!("redis_{}", redis.role);
        let per_shard = 1 + redis.replicas_per_master;
        for shard in 0..redis.masters {
            for member in 0..per_shard {
                // A shard's primary and replicas never share a host; in cluster mode neither do two
                // primaries, so one host failure leaves a majority of primaries to vote a failover.
                let mut groups = vec![format!("{service}/shard-{shard}")];
                if member == 0 && redis.topology == RedisTopology::Cluster {
                    groups.push(format!("{service}/primaries"));
                }
                tasks.push(Task {
                    service: service.clone(),
                    replica: shard * per_shard + member,
                    resources: redis.resources,
                    anti_affinity: groups,
                });
            }
        }
        let sentinel = format!("{service}{}", names::SENTINEL_SUFFIX);
        tasks.extend(member_tasks(
            &sentinel,
            redis.sentinels,
            &redis.sentinel_resources,
            Some(&sentinel),
        ));
    }
    let mongodb = &stores.mongodb;
    tasks.extend(member_tasks(
        names::MONGODB,
        mongodb.members,
        &mongodb.resources,
        Some(names::MONGODB),
    ));
    tasks
}
