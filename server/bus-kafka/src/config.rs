//! Connection and durability settings, turned into librdkafka properties in one place.

use rdkafka::config::ClientConfig;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// `host:port,host:port`.
    pub brokers: String,
    /// Names this process in broker logs and quotas.
    pub client_id: String,
    /// Prepended to every topic name (`cc.` by default), so several deployments can share a cluster.
    pub topic_prefix: String,
    pub partitions: i32,
    pub replication: i32,
    /// How long the producer keeps retrying one event before `publish` fails (librdkafka
    /// `message.timeout.ms`); the outbox keeps the event and the relay tries again later.
    pub delivery_timeout: Duration,
    /// SASL credentials (`sasl.username`/`sasl.password`), the password read from a secret file by the caller.
    pub sasl: Option<(String, String)>,
    /// Any other librdkafka property, e.g. `security.protocol`. Applied before the producer's durability
    /// settings, which therefore cannot be weakened from configuration.
    pub extra: BTreeMap<String, String>,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            client_id: "ccserver".into(),
            topic_prefix: "cc.".into(),
            partitions: 12,
            replication: 3,
            delivery_timeout: Duration::from_secs(30),
            sasl: None,
            extra: BTreeMap::new(),
        }
    }

    /// Properties every client (producer, consumer, admin) shares.
    pub(crate) fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("socket.connection.setup.timeout.ms", "5000")
            .set("reconnect.backoff.max.ms", "2000");
        if let Some((username, password)) = &self.sasl {
            config
                .set("sasl.username", username)
                .set("sasl.password", password)
                .set("sasl.mechanism", "SCRAM-SHA-512")
                .set("security.protocol", "SASL_SSL");
        }
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }

    /// The producer: `acks=all` + idempotence (no duplicates or reordering from producer retries; librdkafka
    /// then caps in-flight requests at 5 per connection, which keeps per-partition order).
    pub(crate) fn producer(&self) -> ClientConfig {
        let mut config = self.client();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", "2")
            .set("compression.type", "lz4");
        config
    }
}
