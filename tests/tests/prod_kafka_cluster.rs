//! Kafka durability on the 3-broker cluster: the platform's producer (`acks=all`, idempotent, replication 3,
//! `min.insync.replicas` 2) keeps publishing while the leader of a partition is SIGKILLed; every event it
//! acknowledged is then read back. The killed broker is restarted by the harness script afterwards, whatever
//! the outcome.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cc_bus_kafka::{KafkaBus, KafkaConfig, Topics};
use cc_core::bus::Bus;
use cc_core::events::{DomainEvent, Envelope, Recipients};
use cc_core::model::Message;
use cc_e2e::services::{KAFKA_CLUSTER, state_dir};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};

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
    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .expect("metadata client");
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        let metadata = probe
            .fetch_metadata(Some(&topics.messages), Duration::from_secs(10))
            .unwrap_or_else(|error| panic!("{}", KAFKA_CLUSTER.unavailable(error)));
        let leader = metadata.topics()[0]
            .partitions()
            .iter()
            .find(|p| p.id() == 0)
            .map(rdkafka::metadata::MetadataPartition::leader);
        if let Some(leader) = leader.filter(|l| *l > 0) {
            break leader;
        }
        assert!(
            Instant::now() < deadline,
            "no leader for partition 0 of {}",
            topics.messages
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pid_file = state_dir("kafka")
        .join(format!("cluster-{leader}"))
        .join("kafka.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|error| {
            panic!(
                "{}",
                KAFKA_CLUSTER.unavailable(format!("{}: {error}", pid_file.display()))
            )
        })
        .trim()
        .parse()
        .expect("a pid in the pid file");

    let _restart = RestartCluster;
    let mut acknowledged = BTreeSet::new();
    let mut refused = 0;
    let started = Instant::now();
    for seq in 1..=PER_CONVERSATION {
        if seq == PER_CONVERSATION / 3 {
            // SIGKILL: no controlled shutdown, no leadership hand-over.
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            assert!(
                matches!(status, Ok(s) if s.success()),
                "could not SIGKILL broker {leader} (pid {pid})"
            );
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
