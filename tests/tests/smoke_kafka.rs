//! Smoke tests of the real Kafka (single broker and 3-broker cluster) through `rdkafka`: produce, then
//! consume through a consumer group that commits its offsets.

use std::collections::BTreeSet;
use std::time::Duration;

use cc_e2e::services::{KAFKA, KAFKA_CLUSTER, Service, unique_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONSUME_DEADLINE: Duration = Duration::from_secs(60);

fn client_config(service: Service) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", service.address())
        .set("socket.timeout.ms", "5000")
        .set("socket.connection.setup.timeout.ms", "5000")
        // Fail fast rather than retry an absent broker for minutes.
        .set("reconnect.backoff.max.ms", "1000");
    config
}

/// Checks the brokers answer a metadata request; fails naming the service otherwise.
fn expect_brokers(service: Service, producer: &FutureProducer, expected_brokers: usize) {
    let metadata = producer
        .client()
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap_or_else(|error| panic!("{}", service.unavailable(error)));
    assert_eq!(
        metadata.brokers().len(),
        expected_brokers,
        "{}",
        service.unavailable(format!(
            "{} brokers registered, expected {expected_brokers}",
            metadata.brokers().len()
        ))
    );
}

async fn create_topic(service: Service, topic: &str, partitions: i32, replication: i32) {
    let admin: AdminClient<DefaultClientContext> = client_config(service)
        .create()
        .unwrap_or_else(|error| panic!("{}", service.unavailable(error)));
    let options = AdminOptions::new().operation_timeout(Some(Timeout::After(REQUEST_TIMEOUT)));
    let results = admin
        .create_topics(
            &[NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(replication),
            )],
            &options,
        )
        .await
        .unwrap_or_else(|error| panic!("{}", service.unavailable(error)));
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("creating topic {name} failed: {code}"));
    }
}

async fn delete_topic(service: Service, topic: &str) {
    let admin: AdminClient<DefaultClientContext> =
        client_config(service).create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Timeout::After(REQUEST_TIMEOUT)));
    // Best effort: a leftover uniquely named topic harms nobody.
    let _ = admin.delete_topics(&[topic], &options).await;
}

/// Produces `count` keyed messages, then reads them back through a fresh consumer group that commits after
/// processing, and checks the group's committed offsets.
async fn produce_and_consume(
    service: Service,
    producer: &FutureProducer,
    topic: &str,
    count: usize,
) {
    let mut sent = BTreeSet::new();
    for index in 0..count {
        let payload = format!("message {index} of {topic}");
        producer
            .send(
                FutureRecord::to(topic)
                    .key(&format!("key-{index}"))
                    .payload(&payload),
                Timeout::After(REQUEST_TIMEOUT),
            )
            .await
            .unwrap_or_else(|(error, _)| panic!("{}", service.unavailable(error)));
        sent.insert(payload);
    }

    let group = unique_name("cc-smoke-group");
    let consumer: StreamConsumer = client_config(service)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");

    let mut received = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + CONSUME_DEADLINE;
    while received.len() < count {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{}",
                    service.unavailable(format!(
                        "group {group} received {} of {count} messages within {CONSUME_DEADLINE:?}",
                        received.len()
                    ))
                )
            })
            .expect("receive a message");
        let payload = message
            .payload_view::<str>()
            .expect("payload")
            .expect("utf-8 payload")
            .to_owned();
        consumer
            .commit_message(&message, CommitMode::Sync)
            .expect("commit");
        received.insert(payload);
    }
    assert_eq!(received, sent);

    let committed = consumer
        .committed(Timeout::After(REQUEST_TIMEOUT))
        .expect("committed offsets");
    let committed_total: i64 = committed
        .elements()
        .iter()
        .map(|element| match element.offset() {
            Offset::Offset(offset) => offset,
            _ => 0,
        })
        .sum();
    assert_eq!(
        committed_total, count as i64,
        "committed offsets of group {group}: {committed:?}"
    );
    consumer.unsubscribe();
}

#[tokio::test]
async fn single_broker_produce_and_consume_through_a_group() {
    let producer: FutureProducer = client_config(KAFKA)
        .set("message.timeout.ms", "15000")
        .create()
        .unwrap_or_else(|error| panic!("{}", KAFKA.unavailable(error)));
    expect_brokers(KAFKA, &producer, 1);

    let topic = unique_name("cc-smoke");
    create_topic(KAFKA, &topic, 1, 1).await;
    produce_and_consume(KAFKA, &producer, &topic, 5).await;
    delete_topic(KAFKA, &topic).await;
}

#[tokio::test]
async fn cluster_replicates_with_acks_all() {
    let producer: FutureProducer = client_config(KAFKA_CLUSTER)
        .set("message.timeout.ms", "20000")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .unwrap_or_else(|error| panic!("{}", KAFKA_CLUSTER.unavailable(error)));
    expect_brokers(KAFKA_CLUSTER, &producer, 3);

    let topic = unique_name("cc-smoke-rf3");
    create_topic(KAFKA_CLUSTER, &topic, 3, 3).await;
    let metadata = producer
        .client()
        .fetch_metadata(Some(&topic), Duration::from_secs(5))
        .expect("topic metadata");
    let partitions = metadata.topics()[0].partitions();
    assert_eq!(partitions.len(), 3);
    for partition in partitions {
        assert_eq!(
            partition.replicas().len(),
            3,
            "partition {} is not replicated 3 times",
            partition.id()
        );
    }
    produce_and_consume(KAFKA_CLUSTER, &producer, &topic, 9).await;
    delete_topic(KAFKA_CLUSTER, &topic).await;
}
