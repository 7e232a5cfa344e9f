//! The production bus: live fan-out over Redis pub/sub, durable events on Kafka.
//!
//! A committed message is already in the outbox (written in its transaction). Publishing it here sends it live,
//! then hands it to the outbox confirmer, which puts it on Kafka and deletes its row; anything unconfirmed is
//! recovered by the relay after its grace period (durable and live). Other events go live and, in the
//! background, to Kafka directly (no outbox: a crash in between loses the Kafka copy only; the data is in the
//! store).

use async_trait::async_trait;
use cc_bus_kafka::KafkaBus;
use cc_core::bus::{Bus, BusError, EventSink};
use cc_core::events::{DomainEvent, Envelope};
use cc_redis::RedisLiveBus;
use cc_store_mysql::outbox::OutboxConfirmer;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct ProductionBus {
    live: Arc<RedisLiveBus>,
    kafka: Arc<KafkaBus>,
    confirmer: OutboxConfirmer,
    /// Test hook: abort after this many committed messages, before publishing the last one.
    abort_after_commits: Option<u64>,
    commits: AtomicU64,
}

impl ProductionBus {
    pub fn new(
        live: Arc<RedisLiveBus>,
        kafka: Arc<KafkaBus>,
        confirmer: OutboxConfirmer,
        abort_after_commits: Option<u64>,
    ) -> Self {
        Self {
            live,
            kafka,
            confirmer,
            abort_after_commits,
            commits: AtomicU64::new(0),
        }
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
            // Confirmed only once live: a message that did not go live stays for the relay, which sends it
            // live as well as to Kafka.
            self.live.publish(envelope.clone()).await?;
            self.confirmer.confirm(envelope);
            return Ok(());
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
