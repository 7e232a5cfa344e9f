//! Backend outages under load on the production path: 2 gateways and 1 API replica of the real `ccserver` over
//! MariaDB, Kafka, Redis and FerretDB, loaded by the `cc-loadgen` delivery checker.
//!
//! 1. Kafka (the single broker) is stopped for 30 s: sends are still acknowledged after their commit and
//!    delivered live; their Kafka copies wait in the outbox and are published once Kafka is back.
//! 2. Redis (the standalone instance: cache and pub/sub) is stopped for 30 s: gateways lose the live channel,
//!    make their clients resume from the store, fill live holes from the database, and the outbox relay
//!    publishes what could not go out.
//! 3. The sessions role (the 3-master Redis Cluster: device sessions, presence, rate buckets, revoked tokens) is
//!    stopped for 30 s (every node): presence degrades to "absent" and rate limits to per-replica buckets, chat
//!    keeps working; once the cluster is back (rebuilt empty by its script) the replicas write to it again.
//!
//! In every phase: every acknowledged message reaches every member (0 lost, 0 duplicated-as-shown, 0 silent
//! gaps), the outbox drains, and every committed message is on the Kafka messages topic. The services are
//! restarted by their harness scripts on every path (`prod_support::Outage`).

mod prod_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cc_e2e::services::REDIS_CLUSTER;
use prod_support::{
    Balancer, Deployment, Outage, Replica, binary, create_app, eventually, read_messages_topic,
};
use serde_json::Value;

const CONNECTIONS: u32 = 100;
const RATE: u32 = 100;
/// The outage the issue asks for: a wait for a window, not a synchronisation sleep.
const OUTAGE: Duration = Duration::from_secs(30);

fn loadgen(
    binary: &std::path::Path,
    url: &str,
    api_key: &str,
    duration: &str,
) -> tokio::process::Child {
    tokio::process::Command::new(binary)
        .args([
            "--url",
            url,
            "--api-key",
            api_key,
            "-n",
            &CONNECTIONS.to_string(),
            "-m",
            &RATE.to_string(),
            "-d",
            duration,
            "--groups",
            "2",
            "--group-size",
            "20",
            "--group-share",
            "0.5",
            "--source-addresses",
            "8",
            "--rest-share",
            "0.2",
            "--drain",
            "60s",
            "--deadline",
            "5m",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning cc-loadgen")
}

async fn finish(run: tokio::process::Child, phase: &str) -> Value {
    let output = run.wait_with_output().await.expect("cc-loadgen output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!(
            "{phase}: cc-loadgen printed no JSON report ({error}); exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    println!(
        "{phase}: acked {} of {} sent, send->ack p50 {} p99 {} ms, send->deliver p50 {} p99 {} ms, disconnects {}, \
         resends {}, reconnect p99 {} ms, delivery {}, errors {}",
        report["messages_acked"],
        report["messages_sent"],
        report["ack_latency_ms"]["p50"],
        report["ack_latency_ms"]["p99"],
        report["latency_ms"]["p50"],
        report["latency_ms"]["p99"],
        report["disconnects"],
        report["resends"],
        report["reconnect_ms"]["p99"],
        report["delivery"],
        report["errors"],
    );
    for (count, what) in [
        ("lost", "acknowledged messages lost"),
        ("gaps", "silent gaps"),
        ("duplicated_as_shown", "messages committed twice"),
    ] {
        assert_eq!(report["delivery"][count], 0, "{phase}: {what}: {report}");
    }
    assert!(
        report["messages_acked"].as_u64().unwrap_or(0) > 0,
        "{phase}: nothing was acknowledged: {report}"
    );
    assert!(
        output.status.success(),
        "{phase}: cc-loadgen exit {:?}: {report}",
        output.status.code()
    );
    report
}

/// Starts the load and returns once every connection is open and messages are being committed.
async fn start_load(
    checker: &std::path::Path,
    balancer: &Balancer,
    api_key: &str,
    duration: &str,
    committed: impl AsyncFn() -> i64,
) -> tokio::process::Child {
    let mut run = loadgen(checker, &balancer.url(), api_key, duration);
    let connected_by = Instant::now() + Duration::from_secs(120);
    while balancer
        .websockets
        .load(std::sync::atomic::Ordering::Acquire)
        < CONNECTIONS as usize
    {
        if matches!(run.try_wait(), Ok(Some(_))) || Instant::now() > connected_by {
            let _ = run.start_kill();
            let output = run.wait_with_output().await.expect("cc-loadgen output");
            panic!(
                "the connections did not come up; cc-loadgen {:?}:\n{}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = committed().await;
    eventually("1 s of load committed", Duration::from_secs(60), || async {
        committed().await >= before + i64::from(RATE)
    })
    .await;
    run
}

/// How many keys under `prefix` the Redis Cluster holds, every master asked (`KEYS` answers for one node only);
/// a node that does not answer counts 0.
async fn cluster_keys(prefix: &str) -> usize {
    let mut count = 0;
    for node in REDIS_CLUSTER.address().split(',') {
        let Ok(client) = redis::Client::open(node) else {
            continue;
        };
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1));
        let Ok(mut connection) = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        else {
            continue;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut connection)
            .await
            .unwrap_or_default();
        count += keys.len();
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_redis_and_sessions_outages_under_load_lose_no_acknowledged_message() {
    let ccserver = binary("ccserver", "ccserver");
    let checker = binary("cc-loadgen", "cc-loadgen");
    let deployment = Deployment::create().await;
    let db = deployment.pool().await;
    let mut api = Replica::spawn(&ccserver, &deployment, "api-1", &["api"], &[]);
    api.wait_ready(Duration::from_secs(90)).await;
    let mut gateway_1 = Replica::spawn(&ccserver, &deployment, "gw-1", &["gateway"], &[]);
    let mut gateway_2 = Replica::spawn(&ccserver, &deployment, "gw-2", &["gateway"], &[]);
    for replica in [&mut gateway_1, &mut gateway_2] {
        replica.wait_ready(Duration::from_secs(60)).await;
    }
    let balancer = Balancer::start(vec![gateway_1.addr, gateway_2.addr], vec![api.addr]).await;
    let api_key = create_app(&balancer.url(), &deployment.admin_token).await;
    let committed = async || {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM messages")
            .fetch_one(&db)
            .await
            .unwrap_or(0)
    };
    let outbox = async || {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox")
            .fetch_one(&db)
            .await
            .unwrap_or(-1)
    };

    // Phase 1: Kafka down for 30 s under load.
    let run = start_load(&checker, &balancer, &api_key, "40s", committed).await;
    let mut kafka = Outage::begin("kafka", "single");
    let stopped = Instant::now();
    let committed_at_stop = committed().await;
    tokio::time::sleep(OUTAGE).await;
    let waiting = outbox().await;
    let committed_during = committed().await - committed_at_stop;
    kafka.end();
    println!(
        "phase 1: Kafka stopped for 30 s (answering again {:?} after the stop); {committed_during} messages \
         committed meanwhile, {waiting} waited in the outbox",
        stopped.elapsed()
    );
    assert!(
        committed_during > 0 && waiting > 0,
        "Kafka down: sends should still commit ({committed_during}) and wait in the outbox ({waiting})"
    );
    finish(run, "phase 1 (Kafka outage)").await;
    eventually(
        "the outbox to drain after Kafka returned",
        Duration::from_secs(90),
        || async { outbox().await == 0 },
    )
    .await;

    // Phase 2: Redis (cache and pub/sub) down for 30 s under load.
    let run = start_load(&checker, &balancer, &api_key, "40s", committed).await;
    let mut redis = Outage::begin("redis", "standalone");
    let committed_at_stop = committed().await;
    tokio::time::sleep(OUTAGE).await;
    let committed_during = committed().await - committed_at_stop;
    redis.end();
    println!("phase 2: Redis stopped for 30 s; {committed_during} messages committed meanwhile");
    assert!(
        committed_during > 0,
        "Redis down: sends should still commit"
    );
    let report = finish(run, "phase 2 (Redis outage)").await;
    assert!(
        report["disconnects"].as_u64().unwrap_or(0) > 0,
        "the gateways should have asked their clients to resume when the live channel dropped: {report}"
    );
    eventually(
        "the outbox to drain after Redis returned",
        Duration::from_secs(60),
        || async { outbox().await == 0 },
    )
    .await;

    // Phase 3: the sessions role (the Redis Cluster) down for 30 s under load. 60 s of load: sends go on
    // for ~25 s after the cluster is back (its rebuild takes 4-6 s here), so the replicas are seen using it
    // again. (With 50 s, one CI run saw no key within the 10 s below; the load's start, which waits
    // for 1 s of commits after phase 2, varies by seconds.)
    let sessions_prefix = format!("t{}:", deployment.id);
    // One `sess:` key per device session (connection) of this deployment.
    let session_keys = format!("{sessions_prefix}sess:");
    let mut run = start_load(&checker, &balancer, &api_key, "60s", committed).await;
    assert!(
        cluster_keys(&sessions_prefix).await > 0,
        "the sessions role should hold sessions and rate buckets on the Redis Cluster before its outage"
    );
    eventually(
        "every connection's session on the Redis Cluster before its outage",
        Duration::from_secs(30),
        || async { cluster_keys(&session_keys).await >= CONNECTIONS as usize },
    )
    .await;
    let mut sessions = Outage::begin("redis", "cluster");
    let committed_at_stop = committed().await;
    tokio::time::sleep(OUTAGE).await;
    let committed_during = committed().await - committed_at_stop;
    let restarting = Instant::now();
    sessions.end();
    println!(
        "phase 3: the sessions Redis Cluster stopped for 30 s; {committed_during} messages committed meanwhile; \
         the cluster answered again {:?} after the restart began",
        restarting.elapsed()
    );
    assert!(
        committed_during > 0,
        "sessions Redis down: sends should still commit (rate limits fall back to per-replica buckets)"
    );
    // The script rebuilds the cluster empty: keys of this deployment appear again only if the replicas'
    // cluster clients reconnected and left their degraded mode (each send writes its user's rate bucket).
    assert!(
        matches!(run.try_wait(), Ok(None)),
        "the load ended before the sessions cluster was back ({:?} restarting): raise the phase's duration",
        restarting.elapsed()
    );
    eventually(
        "the replicas to write sessions and rate buckets to the restarted cluster",
        Duration::from_secs(10),
        || async { cluster_keys(&sessions_prefix).await > 0 },
    )
    .await;
    println!(
        "phase 3: sessions keys on the cluster again {:?} after the restart began",
        restarting.elapsed()
    );
    // The connections that lived through the outage register their sessions again on their next
    // heartbeat (5 s here), without reconnecting: presence and the session list come back.
    eventually(
        "the sessions of connections that lived through the outage to be registered again",
        Duration::from_secs(20),
        || async { cluster_keys(&session_keys).await >= CONNECTIONS as usize },
    )
    .await;
    println!(
        "phase 3: every connection's session registered again {:?} after the restart began",
        restarting.elapsed()
    );
    finish(run, "phase 3 (sessions Redis outage)").await;
    eventually(
        "the outbox to drain after the sessions Redis returned",
        Duration::from_secs(60),
        || async { outbox().await == 0 },
    )
    .await;

    // Everything committed is on Kafka.
    let stored: BTreeSet<(String, i64)> =
        sqlx::query_as::<_, (Vec<u8>, i64)>("SELECT conversation_id, seq FROM messages")
            .fetch_all(&db)
            .await
            .expect("messages")
            .into_iter()
            .map(|(c, s)| (String::from_utf8_lossy(&c).into_owned(), s))
            .collect();
    let on_kafka = read_messages_topic(
        &format!("{}messages", deployment.kafka_topic_prefix()),
        &stored,
    )
    .await;
    let missing: Vec<&(String, i64)> = stored.difference(&on_kafka).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} committed messages never reached Kafka, e.g. {missing:?}",
        stored.difference(&on_kafka).count()
    );
    println!(
        "kafka: all {} committed messages on the messages topic",
        stored.len()
    );
    drop(balancer);
    db.close().await;
    for replica in [&mut api, &mut gateway_1, &mut gateway_2] {
        replica.kill();
    }
    deployment.drop_database().await;
}
