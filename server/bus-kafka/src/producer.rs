//! [`KafkaBus`]: the durable [`Bus`].

use crate::config::KafkaConfig;
use crate::consumer::{ConsumerSettings, Handled, StartFrom, run_consumer};
use crate::topics::Topics;
use async_trait::async_trait;
use cc_core::bus::{Bus, BusError, EventSink};
use cc_core::events::Envelope;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Consecutive delivery timeouts after which the producer is replaced (see [`KafkaBus::publish`]).
const TIMEOUTS_BEFORE_REPLACING: u32 = 3;

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
    producer: RwLock<Arc<FutureProducer>>,
    /// Delivery timeouts in a row, reset by any acknowledged event.
    timeouts: AtomicU32,
    /// When the producer was last created: it is replaced at most once per delivery timeout.
    created: Mutex<Instant>,
    replacements: AtomicU32,
}

impl KafkaBus {
    /// Creates the producer (connections are made lazily; call [`crate::topics::ensure_topics`] first to fail
    /// fast on a wrong address).
    pub fn new(config: KafkaConfig) -> Result<Self, KafkaBusError> {
        let producer = Self::create_producer(&config)?;
        Ok(Self {
            topics: Topics::with_prefix(&config.topic_prefix),
            config,
            producer: RwLock::new(Arc::new(producer)),
            timeouts: AtomicU32::new(0),
            created: Mutex::new(Instant::now()),
            replacements: AtomicU32::new(0),
        })
    }

    /// How many times the producer was replaced after repeated delivery timeouts.
    pub fn producer_replacements(&self) -> u32 {
        self.replacements.load(Ordering::Acquire)
    }

    fn create_producer(config: &KafkaConfig) -> Result<FutureProducer, KafkaBusError> {
        config
            .producer()
            .create()
            .map_err(|source| KafkaBusError::Producer {
                brokers: config.brokers.clone(),
                source,
            })
    }

    fn producer(&self) -> Arc<FutureProducer> {
        Arc::clone(&self.producer.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// librdkafka 2.12 can leave a partition without a leader in its metadata cache after a broker
    /// restart ("new leader-N not found in cache", librdkafka issue #5430) and then times out every
    /// event for it, however long the broker has been back. Measured here: over two minutes after a
    /// 30 s outage. A fresh producer reads fresh metadata, so after a few timeouts in a row (and at
    /// most once per delivery timeout) the producer is replaced. Events that timed out were not
    /// acknowledged; the outbox publishes them again.
    fn delivery_timed_out(&self) {
        let timeouts = self.timeouts.fetch_add(1, Ordering::AcqRel) + 1;
        if timeouts < TIMEOUTS_BEFORE_REPLACING {
            return;
        }
        let mut created = self.created.lock().unwrap_or_else(PoisonError::into_inner);
        if created.elapsed() < self.config.delivery_timeout {
            return;
        }
        match Self::create_producer(&self.config) {
            Ok(producer) => {
                *self
                    .producer
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(producer);
                *created = Instant::now();
                self.timeouts.store(0, Ordering::Release);
                self.replacements.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(
                    timeouts,
                    "Kafka deliveries kept timing out; replaced the producer to refresh its metadata"
                );
            }
            Err(error) => tracing::warn!(%error, "cannot replace the Kafka producer"),
        }
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Waits until everything enqueued was acknowledged or failed (graceful shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        self.producer()
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
        let delivery = self.producer().send_result(record).map_err(|(error, _)| {
            BusError::Unavailable(format!("Kafka refused to enqueue: {error}"))
        })?;
        match delivery.await {
            Ok(Ok(_)) => {
                self.timeouts.store(0, Ordering::Release);
                Ok(())
            }
            Ok(Err((error, _))) => {
                if matches!(
                    error,
                    KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
                ) {
                    self.delivery_timed_out();
                }
                Err(BusError::Unavailable(format!(
                    "Kafka did not acknowledge the event on {topic}: {error}"
                )))
            }
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
