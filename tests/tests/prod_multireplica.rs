//! The production path end to end: 2 gateway and 2 API replicas of the real `ccserver` binary over the real
//! MariaDB (TiDB stand-in), Kafka, Redis (standalone for cache and pub/sub, Cluster for sessions) and FerretDB,
//! behind a path-routing balancer, loaded by the `cc-loadgen` delivery checker:
//!
//! 1. one gateway is SIGKILLed under load (200 connections, 200 msgs/s, 1:1 and groups): its clients reconnect
//!    through the balancer to the other gateway and resume — 0 lost, 0 silent gaps;
//! 2. a replacement gateway and a replacement API replica (which gets the REST share of the sends) each abort
//!    between the commit of a message and its publication (fault-injection hook): the sender never got the ack
//!    and resends, the outbox relay of a surviving replica publishes the committed one — 0 lost;
//! 3. every committed message reached Kafka (through the outbox), and the outbox is empty.
//!
//! Both phases assert 0 lost, 0 duplicated-as-shown and 0 silent gaps; phase 1 prints the reconnect-time
//! percentiles (a figure, not an assertion).

mod prod_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use prod_support::{
    Balancer, Deployment, Replica, binary, create_app, eventually, read_messages_topic,
};
use serde_json::Value;

const CONNECTIONS: u32 = 200;
const RATE: u32 = 200;
/// Share of the sends made through REST, so the API replicas commit messages too.
const REST_SHARE: &str = "0.1";

/// Runs the checker for one phase; returns its JSON report and exit code.
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
            "10",
            "--group-size",
            "20",
            "--group-share",
            "0.5",
            "--source-addresses",
            "8",
            "--rest-share",
            REST_SHARE,
            "--drain",
            "60s",
            "--deadline",
            "6m",
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
    println!("{phase}: {}", summary(&report));
    assert_eq!(
        report["delivery"]["lost"], 0,
        "{phase}: acknowledged messages lost: {report}"
    );
    assert_eq!(
        report["delivery"]["gaps"], 0,
        "{phase}: silent gaps: {report}"
    );
    assert_eq!(
        report["delivery"]["duplicated_as_shown"], 0,
        "{phase}: messages committed twice: {report}"
    );
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

fn summary(report: &Value) -> String {
    format!(
        "acked {} of {} sent, {:.0} deliveries/s, latency p50 {} p99 {} p999 {} ms, disconnects {}, resends {}, \
         reconnect p50 {} p99 {} max {} ms, delivery {}, errors {}",
        report["messages_acked"],
        report["messages_sent"],
        report["deliveries_per_sec"].as_f64().unwrap_or(0.0),
        report["latency_ms"]["p50"],
        report["latency_ms"]["p99"],
        report["latency_ms"]["p999"],
        report["disconnects"],
        report["resends"],
        report["reconnect_ms"]["p50"],
        report["reconnect_ms"]["p99"],
        report["reconnect_ms"]["max"],
        report["delivery"],
        report["errors"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_survive_a_gateway_sigkill_and_a_crash_between_commit_and_publish() {
    let ccserver = binary("ccserver", "ccserver");
    let checker = binary("cc-loadgen", "cc-loadgen");
    let deployment = Deployment::create().await;
    let db = deployment.pool().await;

    // The first replica migrates the schema and creates the topics; the others start on them.
    let mut api_1 = Replica::spawn(&ccserver, &deployment, "api-1", &["api"], &[]);
    api_1.wait_ready(Duration::from_secs(90)).await;
    let mut api_2 = Replica::spawn(&ccserver, &deployment, "api-2", &["api"], &[]);
    let mut gateway_1 = Replica::spawn(&ccserver, &deployment, "gw-1", &["gateway"], &[]);
    let mut gateway_2 = Replica::spawn(&ccserver, &deployment, "gw-2", &["gateway"], &[]);
    for replica in [&mut api_2, &mut gateway_1, &mut gateway_2] {
        replica.wait_ready(Duration::from_secs(60)).await;
    }
    let balancer = Balancer::start(
        vec![gateway_1.addr, gateway_2.addr],
        vec![api_1.addr, api_2.addr],
    )
    .await;
    let api_key = create_app(&balancer.url(), &deployment.admin_token).await;
    let committed = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM messages")
            .fetch_one(&db)
            .await
            .unwrap_or(0)
    };

    // Phase 1: SIGKILL a gateway under load.
    let mut run = loadgen(&checker, &balancer.url(), &api_key, "15s");
    let connected_by = Instant::now() + Duration::from_secs(180);
    while balancer
        .websockets
        .load(std::sync::atomic::Ordering::Acquire)
        < CONNECTIONS as usize
    {
        if matches!(run.try_wait(), Ok(Some(_))) || Instant::now() > connected_by {
            let open = balancer
                .websockets
                .load(std::sync::atomic::Ordering::Acquire);
            let _ = run.start_kill();
            let output = run.wait_with_output().await.expect("cc-loadgen output");
            panic!(
                "only {open} of {CONNECTIONS} connections came up; cc-loadgen {:?}:\n{}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = committed().await;
    eventually("3 s of load committed", Duration::from_secs(60), || async {
        committed().await >= before + 600
    })
    .await;
    let connects_before = balancer
        .websocket_connects
        .load(std::sync::atomic::Ordering::Acquire);
    let killed_at = Instant::now();
    gateway_1.kill();
    // The open count still includes the dead gateway's connections until the balancer sees them reset,
    // so first wait for a reconnection (clients reconnect only after their reset), then for the count.
    eventually(
        "a client of the killed gateway to reconnect",
        Duration::from_secs(30),
        || async {
            balancer
                .websocket_connects
                .load(std::sync::atomic::Ordering::Acquire)
                > connects_before
        },
    )
    .await;
    // Everyone is connected again (through the survivor) once the open count is back.
    eventually(
        "the clients of the killed gateway to reconnect",
        Duration::from_secs(30),
        || async {
            balancer
                .websockets
                .load(std::sync::atomic::Ordering::Acquire)
                >= CONNECTIONS as usize
        },
    )
    .await;
    let all_back = killed_at.elapsed();
    let reconnected = balancer
        .websocket_connects
        .load(std::sync::atomic::Ordering::Acquire)
        - connects_before;
    println!(
        "phase 1: gateway gw-1 SIGKILLed; {reconnected} reconnections, all {CONNECTIONS} connections back in {all_back:?}"
    );
    let report = finish(run, "phase 1 (gateway SIGKILL)").await;
    assert!(
        report["reconnects"].as_u64().unwrap_or(0) > 0,
        "phase 1: no client reconnected after the SIGKILL: {report}"
    );
    // Reconnect time is a latency figure: printed here and measured under controlled load by
    // `prod_compare`, never asserted in a test (a shared, saturated host would make it flaky or meaningless).
    println!(
        "phase 1: reconnect p99 {} ms, send→ack p50 {} ms (target: reconnect p99 under 2 s)",
        report["reconnect_ms"]["p99"], report["ack_latency_ms"]["p50"]
    );

    // Phase 2: a gateway and an API replica that abort between commit and publish (the API replica takes the
    // place of api-1 behind the balancer).
    let (gateway_abort_after, api_abort_after) = ("150", "60");
    let mut faulty_gateway = Replica::spawn_on(
        gateway_1.addr.port(),
        &ccserver,
        &deployment,
        "gw-3",
        &["gateway"],
        &[("CCSERVER_FAULT_ABORT_AFTER_COMMITS", gateway_abort_after)],
    );
    api_1.kill();
    let mut faulty_api = Replica::spawn_on(
        api_1.addr.port(),
        &ccserver,
        &deployment,
        "api-3",
        &["api"],
        &[("CCSERVER_FAULT_ABORT_AFTER_COMMITS", api_abort_after)],
    );
    faulty_gateway.wait_ready(Duration::from_secs(60)).await;
    faulty_api.wait_ready(Duration::from_secs(60)).await;
    let run = loadgen(&checker, &balancer.url(), &api_key, "15s");
    for faulty in [&mut faulty_gateway, &mut faulty_api] {
        eventually(
            &format!("{} to abort", faulty.name),
            Duration::from_secs(180),
            || {
                let exited = matches!(faulty.child.try_wait(), Ok(Some(_)));
                async move { exited }
            },
        )
        .await;
        assert!(
            faulty
                .log_tail()
                .contains("fault injection: aborting between commit and publish"),
            "{} ended without the injected fault:\n{}",
            faulty.name,
            faulty.log_tail()
        );
    }
    println!(
        "phase 2: gw-3 aborted after {gateway_abort_after} commits and api-3 after {api_abort_after}, each before \
         publishing its last one"
    );
    finish(run, "phase 2 (crashes between commit and publish)").await;

    // Every committed message reached Kafka through the outbox, and nothing waits in it.
    eventually("the outbox to drain", Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox")
            .fetch_one(&db)
            .await
            .unwrap_or(-1)
            == 0
    })
    .await;
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
        stored.len() - on_kafka.intersection(&stored).count()
    );
    println!(
        "kafka: all {} committed messages on the messages topic",
        stored.len()
    );
    drop(balancer);
    db.close().await;
    for replica in [&mut api_2, &mut gateway_2] {
        replica.kill();
    }
    deployment.drop_database().await;
}
