//! The same `cc-loadgen` workload against the embedded mode (one `ccserver`, SQLite, in-process bus) and the
//! production path (2 gateways + 2 API replicas behind a balancer over MariaDB, Kafka, Redis and FerretDB),
//! alternating, three runs each; prints the medians side by side.
//!
//! Not part of CI (it measures, it does not check a contract): run it with
//! `cargo test -p cc-e2e --test prod_compare -- --ignored --nocapture`
//! (`CC_COMPARE_RUNS`, `CC_COMPARE_CONNECTIONS`, `CC_COMPARE_RATE`, `CC_COMPARE_DURATION` change the workload).

mod prod_support;

use std::time::Duration;

use prod_support::{Balancer, Deployment, Replica, binary, create_app, free_port};
use serde_json::Value;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn run_loadgen(checker: &std::path::Path, url: &str, api_key: &str) -> Value {
    let output = tokio::process::Command::new(checker)
        .args([
            "--url",
            url,
            "--api-key",
            api_key,
            "-n",
            &setting("CC_COMPARE_CONNECTIONS", "200"),
            "-m",
            &setting("CC_COMPARE_RATE", "200"),
            "-d",
            &setting("CC_COMPARE_DURATION", "15s"),
            "--groups",
            "10",
            "--group-size",
            "20",
            "--group-share",
            "0.5",
            "--source-addresses",
            "8",
            "--drain",
            "60s",
            "--deadline",
            "5m",
            "--json",
            "--allow-loss",
        ])
        .output()
        .await
        .expect("running cc-loadgen");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "cc-loadgen printed no JSON report ({error}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The figures compared, as (label, JSON pointer).
const FIGURES: &[(&str, &str)] = &[
    ("sent msgs/s", "/send_rate"),
    ("acked", "/messages_acked"),
    ("deliveries/s", "/deliveries_per_sec"),
    ("send→deliver p50 ms", "/latency_ms/p50"),
    ("send→deliver p99 ms", "/latency_ms/p99"),
    ("send→ack p50 ms", "/ack_latency_ms/p50"),
    ("send→ack p99 ms", "/ack_latency_ms/p99"),
    ("lost", "/delivery/lost"),
    ("duplicated-as-shown", "/delivery/duplicated_as_shown"),
    ("gaps", "/delivery/gaps"),
];

fn median(reports: &[Value], pointer: &str) -> f64 {
    let mut values: Vec<f64> = reports
        .iter()
        .filter_map(|report| report.pointer(pointer).and_then(Value::as_f64))
        .collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[ignore = "measurement, not a check: run by hand (see the module comment)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_side_by_side_embedded_and_production() {
    let runs: usize = setting("CC_COMPARE_RUNS", "3").parse().unwrap_or(3);
    let ccserver = binary("ccserver", "ccserver");
    let checker = binary("cc-loadgen", "cc-loadgen");
    let deployment = Deployment::create().await;

    let embedded_port = free_port();
    let embedded_config = deployment.embedded_config(embedded_port);
    let mut embedded = Replica::spawn_with_config(
        &ccserver,
        &deployment,
        "embedded",
        &embedded_config,
        embedded_port,
    );
    embedded.wait_ready(Duration::from_secs(60)).await;
    let embedded_url = format!("http://{}", embedded.addr);
    let embedded_key = create_app(&embedded_url, &deployment.admin_token).await;

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
    let production_key = create_app(&balancer.url(), &deployment.admin_token).await;

    let (mut embedded_reports, mut production_reports) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        // Alternating, so that whatever else the machine does weighs on both alike.
        embedded_reports.push(run_loadgen(&checker, &embedded_url, &embedded_key).await);
        production_reports.push(run_loadgen(&checker, &balancer.url(), &production_key).await);
        println!("run {run} of {runs} done");
    }
    println!(
        "\nmedians of {runs} runs; {} connections, {} msgs/s for {}, 10 groups of 20 + 1:1, half the messages to groups",
        setting("CC_COMPARE_CONNECTIONS", "200"),
        setting("CC_COMPARE_RATE", "200"),
        setting("CC_COMPARE_DURATION", "15s")
    );
    println!("{:<22} {:>14} {:>14}", "", "embedded", "production");
    for (label, pointer) in FIGURES {
        println!(
            "{label:<22} {:>14.1} {:>14.1}",
            median(&embedded_reports, pointer),
            median(&production_reports, pointer)
        );
    }
    drop(balancer);
    for replica in [
        &mut embedded,
        &mut api_1,
        &mut api_2,
        &mut gateway_1,
        &mut gateway_2,
    ] {
        replica.kill();
    }
    deployment.drop_database().await;
}
