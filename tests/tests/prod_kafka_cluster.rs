//! Kafka durability on the 3-broker cluster (replication 3, `min.insync.replicas` 2), a partition leader
//! SIGKILLed under load in both tests:
//!
//! 1. at the bus level: the platform's producer (`acks=all`, idempotent) keeps publishing; every event it
//!    acknowledged is then read back;
//! 2. through the platform: 2 gateways and 1 API replica of the real `ccserver` on MariaDB, Redis and FerretDB
//!    with their topics on the cluster, loaded by the `cc-loadgen` delivery checker: 0 lost, 0
//!    duplicated-as-shown, 0 silent gaps, the outbox drains, and every committed message is on the messages
//!    topic of the two surviving brokers.
//!
//! The killed broker is restarted by the harness script afterwards, whatever the outcome. The tests share the
//! cluster, so they run one at a time (two kills at once would leave one broker, below `min.insync.replicas`).

mod prod_support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cc_bus_kafka::{KafkaBus, KafkaConfig, Topics};
use cc_core::bus::Bus;
use cc_core::events::{DomainEvent, Envelope, Recipients};
use cc_core::model::Message;
use cc_e2e::services::{KAFKA_CLUSTER, state_dir};
use prod_support::{
    Balancer, Deployment, Replica, binary, create_app, eventually, free_port,
    read_messages_topic_on,
};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use serde_json::Value;

const CONVERSATIONS: i64 = 6;
const PER_CONVERSATION: i64 = 100;

fn created(conversation: i64, seq: i64) -> Envelope {
    let message = Message {
        app_id: "app".into(),
        conversation_id: format!("c{conversation}").as_str().into(),
        id: format!("c{conversation}-{seq}").as_str().into(),
        seq,
        sender_id: "alice".into(),
        client_msg_id: format!("{seq}"),
        body: cc_protocol::MessageBody::Text { text: "x".into() },
        parent_id: None,
        reply_count: 0,
        mentions: vec![],
        reactions: std::collections::BTreeMap::new(),
        created_at_ms: 0,
        edited_at_ms: None,
        deleted: false,
    };
    Envelope {
        app_id: "app".into(),
        recipients: Recipients::None,
        event: DomainEvent::MessageCreated { message },
        at_ms: 0,
    }
}

/// Held by each test for its whole run: one broker kill at a time.
static CLUSTER_IN_USE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The leader (broker id, which is also the node number of the harness's `cluster-<id>` directory) of
/// `partition` of `topic`, once the cluster has elected one.
async fn partition_leader(brokers: &str, topic: &str, partition: i32) -> i32 {
    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("metadata client");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = probe
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap_or_else(|error| panic!("{}", KAFKA_CLUSTER.unavailable(error)));
        let leader = metadata.topics()[0]
            .partitions()
            .iter()
            .find(|p| p.id() == partition)
            .map(rdkafka::metadata::MetadataPartition::leader);
        if let Some(leader) = leader.filter(|l| *l > 0) {
            return leader;
        }
        assert!(
            Instant::now() < deadline,
            "no leader for partition {partition} of {topic}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pid of the cluster's broker `node`, from the harness's pid file.
fn broker_pid(node: i32) -> i32 {
    let pid_file = state_dir("kafka")
        .join(format!("cluster-{node}"))
        .join("kafka.pid");
    std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|error| {
            panic!(
                "{}",
                KAFKA_CLUSTER.unavailable(format!("{}: {error}", pid_file.display()))
            )
        })
        .trim()
        .parse()
        .expect("a pid in the pid file")
}

/// SIGKILL: no controlled shutdown, no leadership hand-over.
fn sigkill(node: i32, pid: i32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "could not SIGKILL broker {node} (pid {pid})"
    );
}

/// Restarts the cluster's missing broker when dropped (`kafka.sh start cluster` starts only what is down and
/// waits until the cluster answers again).
struct RestartCluster;

impl Drop for RestartCluster {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services/kafka.sh");
        let status = std::process::Command::new("bash")
            .arg(script)
            .args(["start", "cluster"])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "restarting the Kafka cluster failed ({status:?}): run scripts/services/kafka.sh start cluster"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_partition_leader_under_load_loses_no_acknowledged_event() {
    let _cluster = CLUSTER_IN_USE.lock().await;
    let mut config = KafkaConfig::new(KAFKA_CLUSTER.address());
    config.topic_prefix = format!("t{}.", uuid::Uuid::new_v4().simple());
    config.partitions = 3;
    config.replication = 3;
    config.delivery_timeout = Duration::from_secs(60);
    let topics = Topics::with_prefix(&config.topic_prefix);
    cc_bus_kafka::topics::ensure_topics(&config, &topics)
        .await
        .unwrap_or_else(|error| panic!("{}", KAFKA_CLUSTER.unavailable(error)));
    let bus = KafkaBus::new(config.clone()).expect("producer");

    // The leader of partition 0 of the messages topic: the broker to kill.
    let leader = partition_leader(&config.brokers, &topics.messages, 0).await;
    let pid = broker_pid(leader);

    let _restart = RestartCluster;
    let mut acknowledged = BTreeSet::new();
    let mut refused = 0;
    let started = Instant::now();
    for seq in 1..=PER_CONVERSATION {
        if seq == PER_CONVERSATION / 3 {
            sigkill(leader, pid);
        }
        let publishes =
            (0..CONVERSATIONS).map(|conversation| bus.publish(created(conversation, seq)));
        for (conversation, outcome) in futures_util::future::join_all(publishes)
            .await
            .into_iter()
            .enumerate()
        {
            match outcome {
                Ok(()) => {
                    acknowledged.insert((format!("c{conversation}"), seq));
                }
                Err(_) => refused += 1,
            }
        }
    }
    println!(
        "published {} events in {:?} with broker {leader} killed after a third; {} acknowledged, {refused} refused",
        CONVERSATIONS * PER_CONVERSATION,
        started.elapsed(),
        acknowledged.len()
    );
    assert!(
        acknowledged.len() as i64 > CONVERSATIONS * PER_CONVERSATION / 2,
        "most events must be acknowledged"
    );

    // Read everything back from the two surviving brokers.
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", format!("{}check", config.topic_prefix))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&[topics.messages.as_str()])
        .expect("subscribe");
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !acknowledged.is_subset(&seen) && Instant::now() < deadline {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await
        else {
            continue;
        };
        let Some(Ok(envelope)) = message.payload().map(serde_json::from_slice::<Envelope>) else {
            continue;
        };
        if let DomainEvent::MessageCreated { message } = envelope.event {
            seen.insert((message.conversation_id.0, message.seq));
        }
    }
    let missing: Vec<_> = acknowledged.difference(&seen).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing after the broker kill, e.g. {missing:?}",
        acknowledged.difference(&seen).count()
    );
}

const CONNECTIONS: u32 = 100;
const RATE: u32 = 100;

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
            "4",
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

/// Waits for the checker's JSON report and asserts the counts that must be 0.
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
        "{phase}: acked {} of {} sent, latency p50 {} p99 {} ms, disconnects {}, resends {}, delivery {}, errors {}",
        report["messages_acked"],
        report["messages_sent"],
        report["latency_ms"]["p50"],
        report["latency_ms"]["p99"],
        report["disconnects"],
        report["resends"],
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

/// Replication factor of every partition of `topic` and its `min.insync.replicas`, as the cluster reports them.
async fn topic_durability(brokers: &str, topic: &str) -> (Vec<usize>, Option<String>) {
    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("metadata client");
    let metadata = probe
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|error| panic!("{}", KAFKA_CLUSTER.unavailable(error)));
    let replicas = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.replicas().len())
        .collect();
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create()
            .expect("admin client");
    let described = admin
        .describe_configs(
            &[rdkafka::admin::ResourceSpecifier::Topic(topic)],
            &rdkafka::admin::AdminOptions::new(),
        )
        .await
        .unwrap_or_else(|error| panic!("{}", KAFKA_CLUSTER.unavailable(error)));
    let min_insync = described
        .into_iter()
        .flatten()
        .find_map(|resource| resource.get("min.insync.replicas")?.value.clone());
    (replicas, min_insync)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_loses_no_message_when_a_partition_leader_is_killed_under_load() {
    let _cluster = CLUSTER_IN_USE.lock().await;
    let ccserver = binary("ccserver", "ccserver");
    let checker = binary("cc-loadgen", "cc-loadgen");
    let brokers = KAFKA_CLUSTER.address();
    let deployment = Deployment::create().await;
    let db = deployment.pool().await;
    let spawn = |name: &str, roles: &[&str]| {
        let port = free_port();
        let config = deployment.config_with_kafka(name, roles, port, &brokers, 3);
        Replica::spawn_with_config(&ccserver, &deployment, name, &config, port)
    };

    // The API replica migrates the schema and creates the topics (replication 3); the gateways start on them.
    let mut api = spawn("api-1", &["api"]);
    api.wait_ready(Duration::from_secs(90)).await;
    let mut gateway_1 = spawn("gw-1", &["gateway"]);
    let mut gateway_2 = spawn("gw-2", &["gateway"]);
    for replica in [&mut gateway_1, &mut gateway_2] {
        replica.wait_ready(Duration::from_secs(60)).await;
    }
    let topic = format!("{}messages", deployment.kafka_topic_prefix());
    let (replicas, min_insync) = topic_durability(&brokers, &topic).await;
    assert!(
        !replicas.is_empty() && replicas.iter().all(|r| *r == 3),
        "{topic}: every partition should have 3 replicas, got {replicas:?}"
    );
    assert_eq!(
        min_insync.as_deref(),
        Some("2"),
        "{topic}: min.insync.replicas"
    );
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

    // Load, then once every connection is open and messages are committing, SIGKILL the leader of a messages
    // partition and keep the load going for 10 s of commits at the configured rate.
    let mut run = loadgen(&checker, &balancer.url(), &api_key, "30s");
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
    let committing_by = Instant::now() + Duration::from_secs(90);
    while committed().await < before + 2 * i64::from(RATE) {
        if matches!(run.try_wait(), Ok(Some(_))) || Instant::now() > committing_by {
            // Before any broker is killed: a platform that does not commit at all is a different failure.
            let now = committed().await;
            let _ = run.start_kill();
            let output = run.wait_with_output().await.expect("cc-loadgen output");
            panic!(
                "only {} messages committed in 90 s of load, before any broker was killed; cc-loadgen {:?}:\n{}\n{}\n\
                 api-1:\n{}\ngw-1:\n{}",
                now - before,
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                api.log_tail(),
                gateway_1.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let leader = partition_leader(&brokers, &topic, 0).await;
    let pid = broker_pid(leader);
    let _restart = RestartCluster;
    let committed_at_kill = committed().await;
    let killed_at = Instant::now();
    sigkill(leader, pid);
    eventually(
        "another broker to lead partition 0",
        Duration::from_secs(60),
        || async { partition_leader(&brokers, &topic, 0).await != leader },
    )
    .await;
    let failover = killed_at.elapsed();
    eventually(
        "10 s of load committed after the kill",
        Duration::from_secs(120),
        || async { committed().await >= committed_at_kill + 10 * i64::from(RATE) },
    )
    .await;
    let backlog_after_kill = outbox().await;
    println!(
        "broker {leader} (leader of {topic} partition 0) SIGKILLed; new leader elected after {failover:?}; \
         {} messages committed since, {backlog_after_kill} in the outbox",
        committed().await - committed_at_kill
    );
    finish(run, "partition leader SIGKILL").await;

    // The surviving brokers took every committed message: the outbox drains and the messages topic holds them.
    eventually("the outbox to drain", Duration::from_secs(90), || async {
        outbox().await == 0
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
    let on_kafka = read_messages_topic_on(KAFKA_CLUSTER, &topic, &stored).await;
    let missing: Vec<&(String, i64)> = stored.difference(&on_kafka).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} of {} committed messages not on {topic} after the broker kill, e.g. {missing:?}",
        stored.difference(&on_kafka).count(),
        stored.len()
    );
    println!(
        "kafka: all {} committed messages on {topic} (read from the surviving brokers)",
        stored.len()
    );
    drop(balancer);
    db.close().await;
    for replica in [&mut api, &mut gateway_1, &mut gateway_2] {
        replica.kill();
    }
    deployment.drop_database().await;
}
