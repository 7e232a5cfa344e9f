//! The production bus: live fan-out over Redis pub/sub, durable events on Kafka.
//!
//! A committed message is already in the outbox (written in its transaction): publishing it here sends it live
//! and wakes the outbox relay, which puts it on Kafka from committed state. Other events go live and, in the
//! background, to Kafka directly (they have no outbox: a crash in between loses the Kafka copy only; the data is
//! in the store).

use async_trait::async_trait;
use cc_bus_kafka::KafkaBus;
use cc_core::bus::{Bus, BusError, EventSink};
use cc_core::events::{DomainEvent, Envelope};
use cc_redis::RedisLiveBus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

pub struct ProductionBus {
    live: Arc<RedisLiveBus>,
    kafka: Arc<KafkaBus>,
    relay_wake: Option<Arc<Notify>>,
    /// Test hook: abort after this many committed messages, before publishing the last one.
    abort_after_commits: Option<u64>,
    commits: AtomicU64,
}

impl ProductionBus {
    pub fn new(
        live: Arc<RedisLiveBus>,
        kafka: Arc<KafkaBus>,
        relay_wake: Option<Arc<Notify>>,
        abort_after_commits: Option<u64>,
    ) -> Self {
        Self {
            live,
            kafka,
            relay_wake,
            abort_after_commits,
            commits: AtomicU64::new(0),
        }
    }

    pub fn live(&self) -> &Arc<RedisLiveBus> {
        &self.live
    }
}

#[async_trait]
impl Bus for ProductionBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        if matches!(envelope.event, DomainEvent::MessageCreated { .. }) {
            let committed = self.commits.fetch_add(1, Ordering::AcqRel) + 1;
            if self
                .abort_after_commits
                .is_some_and(|limit| committed >= limit)
            {
                tracing::error!(
                    committed,
                    "fault injection: aborting between commit and publish"
                );
                std::process::abort();
            }
            if let Some(wake) = &self.relay_wake {
                wake.notify_one();
            }
            return self.live.publish(envelope).await;
        }
        let kafka = Arc::clone(&self.kafka);
        let durable = envelope.clone();
        tokio::spawn(async move {
            let kind = durable.event.kind();
            if let Err(error) = kafka.publish(durable).await {
                tracing::warn!(%error, kind, "event not written to Kafka");
            }
        });
        self.live.publish(envelope).await
    }

    fn subscribe(&self, sink: Arc<dyn EventSink>) {
        self.live.subscribe(sink);
    }
}
