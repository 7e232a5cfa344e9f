//! The Kafka bus on the real broker: topic creation, routing and per-conversation order, a consumer group that
//! commits only after its work, and the outbox relay publishing committed messages across a Kafka outage.

#[path = "../../store-mysql/tests/support/mod.rs"]
mod mysql_support;

use cc_bus_kafka::consumer::{ConsumerSettings, Handled, StartFrom, run_consumer};
use cc_bus_kafka::topics::ensure_topics;
use cc_bus_kafka::{KafkaBus, KafkaConfig};
use cc_core::bus::Bus;
use cc_core::events::{DomainEvent, Envelope, Recipients};
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::model::{Conversation, ConversationKind, Message, NewMessage, Role};
use cc_core::store::Store;
use cc_protocol::MessageBody;
use cc_protocol::rest::Visibility;
use cc_store_mysql::outbox::{OutboxRelay, RelayConfig};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const PORTS_ENV: &str = include_str!("../../../scripts/services/ports.env");
const DEADLINE: Duration = Duration::from_secs(60);

fn brokers() -> String {
    std::env::var("CC_TEST_KAFKA_BROKERS")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            PORTS_ENV
                .lines()
                .find_map(|l| l.strip_prefix("CC_TEST_KAFKA_BROKERS="))
                .map(str::to_owned)
        })
        .expect("CC_TEST_KAFKA_BROKERS is missing from scripts/services/ports.env")
}

/// A config on the test broker with topics of its own (unique prefix), 3 partitions, replication 1.
fn config() -> KafkaConfig {
    let mut config = KafkaConfig::new(brokers());
    config.topic_prefix = format!("t{}.", uuid::Uuid::new_v4().simple());
    config.partitions = 3;
    config.replication = 1;
    config.delivery_timeout = Duration::from_secs(20);
    config
}

/// Fails (never skips) when the broker does not answer, naming it and the script that starts it.
async fn ready(config: &KafkaConfig) {
    if let Err(error) = ensure_topics(
        config,
        &cc_bus_kafka::Topics::with_prefix(&config.topic_prefix),
    )
    .await
    {
        panic!(
            "Kafka (single broker, CC_TEST_KAFKA_BROKERS={}) is not available: {error}\n  \
             start it with `scripts/services/kafka.sh start single` (or every service: `scripts/services/all.sh start`)",
            config.brokers
        );
    }
}

fn message(conversation: &str, seq: i64) -> Message {
    Message {
        app_id: "app".into(),
        conversation_id: conversation.into(),
        id: MessageId(format!("{conversation}-{seq}")),
        seq,
        sender_id: "alice".into(),
        client_msg_id: format!("c{seq}"),
        body: MessageBody::Text { text: "x".into() },
        parent_id: None,
        reply_count: 0,
        mentions: vec![],
        reactions: BTreeMap::new(),
        created_at_ms: 0,
        edited_at_ms: None,
        deleted: false,
    }
}

fn created(conversation: &str, seq: i64) -> Envelope {
    Envelope {
        app_id: "app".into(),
        recipients: Recipients::Users(vec![UserId::from("bob")].into()),
        event: DomainEvent::MessageCreated {
            message: message(conversation, seq),
        },
        at_ms: 0,
    }
}

/// (conversation, seq) of every message event seen, in arrival order.
type Seen = Arc<Mutex<Vec<(String, i64)>>>;

fn seen_key(envelope: &Envelope) -> Option<(String, i64)> {
    match &envelope.event {
        DomainEvent::MessageCreated { message } => {
            Some((message.conversation_id.0.clone(), message.seq))
        }
        _ => None,
    }
}

/// Runs a consumer group on `topic` until `expected` message events were handled (or the deadline), returning
/// what it handled. `fail_once` makes the handler answer Retry the first time it sees that event.
async fn consume(
    config: &KafkaConfig,
    group: &str,
    topic: &str,
    expected: usize,
    fail_once: Option<(String, i64)>,
) -> (Vec<(String, i64)>, usize) {
    let seen: Seen = Arc::default();
    let attempts = Arc::new(Mutex::new(0_usize));
    let done = Arc::new(Notify::new());
    let settings = ConsumerSettings {
        group: group.to_owned(),
        topics: vec![topic.to_owned()],
        start: StartFrom::Earliest,
    };
    let handler = {
        let (seen, attempts, done) = (seen.clone(), attempts.clone(), done.clone());
        let failed = Arc::new(Mutex::new(false));
        move |envelope: Envelope| {
            let (seen, attempts, done, failed) =
                (seen.clone(), attempts.clone(), done.clone(), failed.clone());
            let fail_once = fail_once.clone();
            async move {
                *attempts.lock().expect("lock") += 1;
                let key = seen_key(&envelope);
                if key.is_some()
                    && key == fail_once
                    && !std::mem::replace(&mut *failed.lock().expect("lock"), true)
                {
                    return Handled::Retry;
                }
                let mut seen = seen.lock().expect("lock");
                seen.extend(key);
                if seen.len() >= expected {
                    done.notify_one();
                }
                Handled::Done
            }
        }
    };
    let stop = done.clone();
    let run = run_consumer(
        config,
        &settings,
        handler,
        async move { stop.notified().await },
    );
    let Ok(outcome) = tokio::time::timeout(DEADLINE, run).await else {
        panic!(
            "consumer {group} handled {} of {expected} events in {DEADLINE:?}",
            seen.lock().expect("lock").len()
        )
    };
    outcome.expect("consumer");
    let seen = seen.lock().expect("lock").clone();
    let attempts = *attempts.lock().expect("lock");
    (seen, attempts)
}

fn in_order_per_conversation(seen: &[(String, i64)]) -> BTreeMap<String, Vec<i64>> {
    let mut by_conversation: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (conversation, seq) in seen {
        by_conversation
            .entry(conversation.clone())
            .or_default()
            .push(*seq);
    }
    by_conversation
}

#[tokio::test]
async fn topics_routing_order_and_commit_after_work() {
    let config = config();
    ready(&config).await;
    let bus = KafkaBus::new(config.clone()).expect("producer");
    // Every topic exists with the configured partitions.
    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .expect("metadata client");
    for topic in bus.topics().all() {
        // Metadata reaches every broker shortly after creation: poll until it shows the partitions.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let metadata = probe
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .expect("metadata");
            let partitions = metadata.topics()[0].partitions().len();
            if partitions == 3 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{topic} has {partitions} partitions, expected 3"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // 3 conversations × 10 messages, interleaved, plus events of other families.
    for seq in 1..=10 {
        for conversation in ["a", "b", "c"] {
            bus.publish(created(conversation, seq))
                .await
                .expect("publish");
        }
    }
    let typing = Envelope {
        app_id: "app".into(),
        recipients: Recipients::None,
        event: DomainEvent::Typing {
            conversation_id: "a".into(),
            user_id: "bob".into(),
            active: true,
            expires_in_ms: 1,
        },
        at_ms: 0,
    };
    bus.publish(typing)
        .await
        .expect("typing is accepted (and not written)");
    let group = format!("{}g1", config.topic_prefix);
    let (seen, attempts) = consume(
        &config,
        &group,
        &bus.topics().messages,
        30,
        Some(("b".into(), 5)),
    )
    .await;
    let expected: Vec<i64> = (1..=10).collect();
    for (conversation, seqs) in in_order_per_conversation(&seen) {
        assert_eq!(seqs, expected, "order of conversation {conversation}");
    }
    assert_eq!(attempts, 31, "the failed event is handed again, once");
    // The group committed after its work: a restart of the group sees only what came later.
    for seq in 11..=12 {
        bus.publish(created("a", seq)).await.expect("publish");
    }
    let (later, _) = consume(&config, &group, &bus.topics().messages, 2, None).await;
    assert_eq!(later, vec![("a".to_owned(), 11), ("a".to_owned(), 12)]);
}

/// A relay that takes rows at once (no grace period: these rows have no writer that will confirm them).
fn immediate_relay() -> RelayConfig {
    RelayConfig {
        grace: Duration::ZERO,
        ..RelayConfig::new("a")
    }
}

/// A store with an app, three users and a group conversation, made through the store itself.
async fn store_with_conversation(
    db: &mysql_support::FreshDatabase,
) -> (cc_store_mysql::MysqlStore, AppId, ConversationId) {
    let store = db.open().await;
    let app = AppId::from("app");
    let conversation = Conversation {
        app_id: app.clone(),
        id: ConversationId(uuid::Uuid::now_v7().to_string()),
        kind: ConversationKind::Group,
        name: "g".into(),
        visibility: Visibility::Private,
        password_hash: None,
        metadata: serde_json::json!({}),
        direct_key: None,
        last_seq: 0,
        member_count: 0,
        created_at_ms: 0,
    };
    let members =
        [("alice", Role::Owner), ("bob", Role::Member)].map(|(u, r)| (UserId::from(u), r));
    store
        .create_conversation(&conversation, &members)
        .await
        .expect("conversation");
    (store, app, conversation.id)
}

#[tokio::test]
async fn relay_publishes_committed_messages_after_kafka_comes_back() {
    let config = config();
    ready(&config).await;
    let db = mysql_support::FreshDatabase::create("relay_kafka").await;
    let (store, app, conversation) = store_with_conversation(&db).await;
    // Committed, acknowledged, and never published by its writer (it "crashed" after commit).
    for n in 1..=20 {
        let new = NewMessage {
            app_id: app.clone(),
            conversation_id: conversation.clone(),
            id: MessageId(format!("m{n}")),
            sender_id: UserId::from("alice"),
            client_msg_id: format!("c{n}"),
            body: MessageBody::Text {
                text: format!("{n}"),
            },
            parent_id: None,
            mentions: vec![],
            created_at_ms: 0,
        };
        store.append_message(&new).await.expect("append");
    }
    // Kafka "down": a broker address where nothing listens. The relay fails, and nothing is marked done.
    let mut down = config.clone();
    down.brokers = "127.0.0.1:1".into();
    down.delivery_timeout = Duration::from_secs(2);
    let relay = OutboxRelay::new(
        store.clone(),
        Arc::new(KafkaBus::new(down).expect("producer")),
        None,
        immediate_relay(),
    );
    relay
        .run_once()
        .await
        .expect_err("publishing to an absent broker must fail");
    assert_eq!(store.outbox_backlog().await.expect("backlog"), 20);
    // Kafka "back": the next relay pass publishes everything, in seq order, and empties the outbox.
    let bus = Arc::new(KafkaBus::new(config.clone()).expect("producer"));
    let relay = OutboxRelay::new(store.clone(), bus.clone(), None, immediate_relay());
    let pass = relay.run_once().await.expect("relay pass");
    assert_eq!(pass.published, 20);
    assert_eq!(store.outbox_backlog().await.expect("backlog"), 0);
    let group = format!("{}relay", config.topic_prefix);
    let (seen, _) = consume(&config, &group, &bus.topics().messages, 20, None).await;
    let seqs: Vec<i64> = seen.iter().map(|(_, seq)| *seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    db.drop_now().await;
}

/// A producer whose deliveries keep timing out is replaced (librdkafka can keep a stale leader in its
/// metadata cache after a broker restart); nothing listens on the address, so every delivery times out.
#[tokio::test]
async fn a_producer_whose_deliveries_keep_timing_out_is_replaced() {
    let mut config = KafkaConfig::new("127.0.0.1:1");
    config.delivery_timeout = std::time::Duration::from_millis(300);
    let bus = KafkaBus::new(config).expect("producer");
    for seq in 1..=3 {
        let outcome = bus.publish(created("c", seq)).await;
        assert!(outcome.is_err(), "delivered with no broker: {outcome:?}");
    }
    assert_eq!(bus.producer_replacements(), 1);
    // The replacement is another producer with the same settings: it fails the same way, and is not
    // replaced again before its own delivery timeout has passed.
    assert!(bus.publish(created("c", 4)).await.is_err());
    assert_eq!(bus.producer_replacements(), 1);
}
