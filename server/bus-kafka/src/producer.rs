//! [`KafkaBus`]: the durable [`Bus`].

use crate::config::KafkaConfig;
use crate::consumer::{ConsumerSettings, Handled, StartFrom, run_consumer};
use crate::topics::Topics;
use async_trait::async_trait;
use cc_core::bus::{Bus, BusError, EventSink};
use cc_core::events::Envelope;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum KafkaBusError {
    #[error("cannot create the Kafka producer for {brokers}: {source}")]
    Producer {
        brokers: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

pub struct KafkaBus {
    config: KafkaConfig,
    topics: Topics,
    producer: FutureProducer,
}

impl KafkaBus {
    /// Creates the producer (connections are made lazily; call [`crate::topics::ensure_topics`] first to fail
    /// fast on a wrong address).
    pub fn new(config: KafkaConfig) -> Result<Self, KafkaBusError> {
        let producer = config
            .producer()
            .create()
            .map_err(|source| KafkaBusError::Producer {
                brokers: config.brokers.clone(),
                source,
            })?;
        Ok(Self {
            topics: Topics::with_prefix(&config.topic_prefix),
            config,
            producer,
        })
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Waits until everything enqueued was acknowledged or failed (graceful shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        self.producer
            .flush(timeout)
            .map_err(|error| BusError::Unavailable(format!("Kafka flush: {error}")))
    }
}

#[async_trait]
impl Bus for KafkaBus {
    /// Returns once every in-sync replica has the event (`acks=all`), or fails after the delivery timeout.
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        let Some((topic, key)) = self.topics.route(&envelope) else {
            return Ok(());
        };
        let payload = serde_json::to_vec(&envelope)
            .map_err(|error| BusError::Unavailable(format!("event not serialisable: {error}")))?;
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "kind",
                value: Some(envelope.event.kind()),
            })
            .insert(Header {
                key: "app_id",
                value: Some(envelope.app_id.as_str()),
            });
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&payload)
            .headers(headers);
        // Enqueued synchronously here (before the first await point), so callers that start several publishes
        // in order get them on the partition in that order.
        let delivery = self.producer.send_result(record).map_err(|(error, _)| {
            BusError::Unavailable(format!("Kafka refused to enqueue: {error}"))
        })?;
        match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((error, _))) => Err(BusError::Unavailable(format!(
                "Kafka did not acknowledge the event on {topic}: {error}"
            ))),
            Err(_) => Err(BusError::Unavailable(
                "the Kafka producer was dropped before delivery".into(),
            )),
        }
    }

    /// Delivers every later durable event to `sink` through a consumer group of its own (each subscriber sees
    /// every event). Live fan-out normally goes through Redis; this is the path for a deployment without it.
    fn subscribe(&self, sink: Arc<dyn EventSink>) {
        let settings = ConsumerSettings {
            group: format!("{}live-{}", self.config.topic_prefix, uuid::Uuid::new_v4()),
            topics: vec![self.topics.messages.clone(), self.topics.events.clone()],
            start: StartFrom::Latest,
        };
        let config = self.config.clone();
        tokio::spawn(async move {
            let handler = move |envelope: Envelope| {
                let sink = sink.clone();
                async move {
                    sink.deliver(&Arc::new(envelope));
                    Handled::Done
                }
            };
            if let Err(error) =
                run_consumer(&config, &settings, handler, std::future::pending()).await
            {
                tracing::error!(%error, "Kafka live subscription ended");
            }
        });
    }
}
