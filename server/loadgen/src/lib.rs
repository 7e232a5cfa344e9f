//! `cc-loadgen`: a bounded load generator and delivery checker for ccserver.
//!
//! Phases: provision users and conversations through REST (`setup`), open one WebSocket per user from
//! spread loopback source addresses (`connection`), send at a fixed rate for a fixed time (`workload`
//! decides who sends where), wait for outstanding deliveries, then count what each connection received
//! against what was acknowledged (`ledger`) and report latency, throughput, CPU and server memory.

pub mod args;
mod centrifugo;
mod connection;
mod histogram;
mod ledger;
mod procfs;
mod report;
mod settings;
mod setup;
mod workload;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, watch};

use crate::connection::{Endpoint, SendCommand, Shared};
use crate::ledger::DeliveryTotals;
use crate::report::{Latencies, Report};
use crate::settings::Settings;
use crate::workload::{ConversationKind, Scheduler, plan_conversations};

pub use crate::report::Report as RunReport;

/// How a completed run ended: `Lost` when an acknowledged message did not reach every member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Lost,
}

/// Queued sends per connection; a full queue means the connection cannot keep up and the send is skipped
/// (counted as `send queue full`).
const COMMAND_QUEUE: usize = 256;

pub fn run(args: &args::Args) -> anyhow::Result<Outcome> {
    let settings = Settings::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let deadline = settings.deadline;
    let report = runtime.block_on(async {
        tokio::time::timeout(deadline, execute(&settings))
            .await
            .map_err(|_| anyhow::anyhow!("the run did not finish within --deadline {deadline:?}"))?
    })?;
    if settings.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("serializing the report")?
        );
    } else {
        print!("{}", report.to_table());
    }
    let clean = report.delivery.lost == 0
        && report.delivery.gaps == 0
        && report.delivery.duplicated_as_shown == 0;
    Ok(if clean || settings.allow_loss {
        Outcome::Clean
    } else {
        Outcome::Lost
    })
}

async fn execute(settings: &Settings) -> anyhow::Result<Report> {
    let run_id = format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff);
    let plans = plan_conversations(
        settings.connections,
        settings.direct,
        settings.groups,
        settings.group_size,
    );
    anyhow::ensure!(
        !plans.is_empty(),
        "the flags give no conversation to send to"
    );

    let setup_started = Instant::now();
    tracing::info!(
        users = settings.connections,
        conversations = plans.len(),
        run_id,
        "provisioning"
    );
    let provisioned = match settings.peer {
        args::Peer::Ccserver => setup::provision(settings, &plans, &run_id).await?,
        args::Peer::Centrifugo => setup::centrifugo_channels(settings, &plans, &run_id),
    };
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let rss_before = settings.server_pid.map(procfs::rss_bytes).transpose()?;
    // One timeline slot per second of sending, at most 10 minutes' worth.
    let timeline_secs = settings.duration.as_secs().clamp(1, 600) as usize;
    let mut shared = Shared::new(provisioned.conversation_ids.clone(), timeline_secs);
    if settings.rest_share > 0.0 {
        shared.rest = Some(connection::RestSends {
            client: reqwest::Client::builder()
                // Generous: a retry after a timeout adds a request while the first still runs on the server.
                .timeout(Duration::from_secs(30))
                // A connection per send, as the many users simulated here would have: one pooled
                // keep-alive connection would pin every REST send to whichever API replica a balancer
                // gave it, and the other replicas would never be exercised.
                .pool_max_idle_per_host(0)
                .build()
                .context("building the HTTP client for REST sends")?,
            base: settings.http_base.clone(),
            share: settings.rest_share,
        });
    }
    let shared = Arc::new(shared);
    let mut memberships: Vec<Vec<u32>> = vec![Vec::new(); settings.connections as usize];
    for (index, plan) in plans.iter().enumerate() {
        for member in &plan.members {
            memberships[*member as usize].push(index as u32);
        }
    }

    // Connect everyone, then start each connection's task.
    let connect_started = Instant::now();
    tracing::info!(connections = settings.connections, "connecting");
    let (stop_tx, stop_rx) = watch::channel(false);
    let endpoints: Vec<Endpoint> = provisioned
        .tokens
        .iter()
        .enumerate()
        .map(|(index, token)| Endpoint {
            index: index as u32,
            token: token.clone(),
            server: settings.server_address,
            ws_url: settings.ws_url.clone(),
            source_addresses: settings.source_addresses,
            peer: settings.peer,
        })
        .collect();
    // Each connection's task starts as soon as its handshake is done, so it answers `hello` with
    // `resume` at once instead of idling (and being closed for it) while the others connect.
    let opened: Vec<(usize, mpsc::Sender<SendCommand>, tokio::task::JoinHandle<_>)> =
        futures_util::stream::iter(endpoints)
            .map(|endpoint| {
                let (shared, stop_rx) = (Arc::clone(&shared), stop_rx.clone());
                let conversations = memberships[endpoint.index as usize].clone();
                async move {
                    let socket = connection::open(&endpoint)
                        .await
                        .with_context(|| format!("opening connection {}", endpoint.index))?;
                    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
                    let index = endpoint.index as usize;
                    let task = tokio::spawn(connection::run(
                        endpoint,
                        socket,
                        conversations,
                        shared,
                        rx,
                        stop_rx,
                    ));
                    anyhow::Ok((index, tx, task))
                }
            })
            .buffer_unordered(settings.setup_concurrency)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
    let mut senders: Vec<Option<mpsc::Sender<SendCommand>>> =
        vec![None; settings.connections as usize];
    let mut tasks = Vec::with_capacity(opened.len());
    for (index, tx, task) in opened {
        senders[index] = Some(tx);
        tasks.push(task);
    }
    // The server registers sessions at a few hundred per second; allow for that, bounded by --deadline.
    let ready_limit = Duration::from_secs(60 + u64::from(settings.connections) / 50);
    wait_until("every connection resumed", ready_limit, || {
        shared.ready.load(Ordering::Relaxed) >= settings.connections
    })
    .await?;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let rss_connected = settings.server_pid.map(procfs::rss_bytes).transpose()?;

    // Send at the target rate for the duration.
    tracing::info!(rate = settings.rate, duration = ?settings.duration, "sending");
    let cpu_self_start = procfs::cpu_seconds(None)?;
    let cpu_server_start = settings
        .server_pid
        .map(|pid| procfs::cpu_seconds(Some(pid)))
        .transpose()?;
    let deliveries_start = shared.deliveries.load(Ordering::Relaxed);
    let send_started = Instant::now();
    shared
        .send_started_micros
        .store(shared.now_micros(), Ordering::Relaxed);
    let mut scheduler = Scheduler::new(&plans, settings.group_share);
    let mut sent: u64 = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while send_started.elapsed() < settings.duration {
        ticker.tick().await;
        let due = (send_started.elapsed().as_secs_f64() * f64::from(settings.rate)) as u64;
        while sent < due {
            let Some((conversation, sender)) = scheduler.next(&plans) else {
                break;
            };
            sent += 1;
            let command = SendCommand {
                conversation,
                number: sent,
            };
            let delivered = senders[sender as usize]
                .as_ref()
                .is_some_and(|tx| tx.try_send(command).is_ok());
            if !delivered {
                shared.count_error("send queue full (client cannot keep up)");
            }
        }
    }
    let send_secs = send_started.elapsed().as_secs_f64();

    // Drain: wait until every acknowledged message reached every member, or the drain time is up.
    let member_counts: Vec<u64> = plans.iter().map(|plan| plan.members.len() as u64).collect();
    // Distinct acknowledged seqs × members, against deliveries of seqs not received before (copies of a
    // replayed message do not count, or the drain could end before the last ones arrived).
    let expected_deliveries = || -> u64 {
        shared
            .acks
            .iter()
            .zip(&member_counts)
            .map(|(acks, members)| {
                acks.lock().map_or(0, |acks| acks.sorted().len() as u64) * members
            })
            .sum()
    };
    // A server that is behind keeps delivering its backlog: wait as long as deliveries progress
    // (within --deadline), so that what is counted lost is what stopped arriving, not what was late.
    let _ = wait_while_progressing(
        settings.drain,
        || shared.fresh_deliveries.load(Ordering::Relaxed) + shared.acked.load(Ordering::Relaxed),
        || {
            shared.acked.load(Ordering::Relaxed) >= sent
                && shared.fresh_deliveries.load(Ordering::Relaxed) >= expected_deliveries()
        },
    )
    .await;
    let busy_secs = send_started.elapsed().as_secs_f64();
    let deliveries = shared.deliveries.load(Ordering::Relaxed) - deliveries_start;
    let client_cpu = (procfs::cpu_seconds(None)? - cpu_self_start) / busy_secs;
    let server_cpu = match (settings.server_pid, cpu_server_start) {
        (Some(pid), Some(start)) => Some((procfs::cpu_seconds(Some(pid))? - start) / busy_secs),
        _ => None,
    };

    let _ = stop_tx.send(true);
    let mut totals = DeliveryTotals::default();
    let acked_sorted: Vec<Vec<i64>> = shared
        .acks
        .iter()
        .map(|acks| acks.lock().map(|acks| acks.sorted()).unwrap_or_default())
        .collect();
    for task in tasks {
        let cursors = task.await.context("a connection task panicked")?;
        for (conversation, cursor) in &cursors {
            totals.add(cursor, &acked_sorted[*conversation as usize]);
        }
    }
    totals.duplicated_as_shown = shared
        .acks
        .iter()
        .map(|acks| acks.lock().map_or(0, |acks| acks.duplicated_as_shown()))
        .sum();

    let groups = plans
        .iter()
        .filter(|p| p.kind == ConversationKind::Group)
        .count();
    let errors = shared
        .errors
        .lock()
        .map(|errors| errors.clone())
        .unwrap_or_default();
    Ok(Report {
        connections: settings.connections,
        conversations: plans.len(),
        direct_conversations: plans.len() - groups,
        group_conversations: groups,
        group_size: settings.group_size,
        target_rate: settings.rate,
        duration_secs: send_secs,
        setup_secs,
        connect_secs,
        messages_sent: sent,
        messages_acked: shared.acked.load(Ordering::Relaxed),
        send_rate: sent as f64 / send_secs,
        deliveries_per_sec: deliveries as f64 / busy_secs,
        latency_ms: Latencies::of(&shared.send_to_deliver),
        timeline: shared
            .timeline
            .iter()
            .enumerate()
            .map(|(second, histogram)| report::TimelineSecond {
                second: second as u32,
                deliveries: histogram.count(),
                latency_ms: Latencies::of(histogram),
            })
            .collect(),
        ack_latency_ms: Latencies::of(&shared.send_to_ack),
        reconnects: shared.reconnect.count(),
        reconnect_ms: Latencies::of(&shared.reconnect),
        client_cpu_cores: client_cpu,
        server_cpu_cores: server_cpu,
        server_rss_bytes: rss_connected,
        server_rss_per_connection_bytes: match (rss_before, rss_connected) {
            (Some(before), Some(after)) => {
                Some(after.saturating_sub(before) as f64 / f64::from(settings.connections))
            }
            _ => None,
        },
        disconnects: shared.disconnects.load(Ordering::Relaxed),
        resends: shared.resends.load(Ordering::Relaxed),
        delivery: totals,
        errors,
    })
}

/// Polls `done` every 20 ms until it holds, or until `progress` (a counter) has not moved for `stall`;
/// returns whether `done` held.
async fn wait_while_progressing(
    stall: Duration,
    progress: impl Fn() -> u64,
    mut done: impl FnMut() -> bool,
) -> bool {
    let mut last = progress();
    let mut moved_at = Instant::now();
    loop {
        if done() {
            return true;
        }
        if moved_at.elapsed() >= stall {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = progress();
        if now != last {
            (last, moved_at) = (now, Instant::now());
        }
    }
}

/// Polls `done` every 20 ms until it holds or `limit` passes.
async fn wait_until(what: &str, limit: Duration, done: impl FnMut() -> bool) -> anyhow::Result<()> {
    // A counter that never moves: the stall is the whole limit.
    let held = wait_while_progressing(limit, || 0, done).await;
    anyhow::ensure!(held, "{what}: not done after {limit:?}");
    Ok(())
}
