//! Production backends (`backend = "production"`): TiDB/MySQL store with outbox, Kafka, the three Redis roles,
//! and MongoDB metadata, assembled into the `Store`, `Bus` and `Presence` the domain service runs on.

pub mod bus;
pub mod config;

use anyhow::Context as _;
use cc_bus_kafka::KafkaBus;
use cc_core::bus::Bus;
use cc_core::presence::Presence;
use cc_core::store::Store;
use cc_meta_mongo::{MetaStore, MongoMetadata};
use cc_redis::{CacheSettings, CachedStore, RedisLiveBus, RedisPresence};
use cc_store_mysql::MysqlStore;
use cc_store_mysql::outbox::{OutboxConfirmer, OutboxRelay};
pub use config::{ProductionSettings, RawProduction};
use std::sync::Arc;
use tokio::sync::Notify;

/// The connected backends of one replica.
pub struct Production {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub presence: Arc<dyn Presence>,
    pub live: Arc<RedisLiveBus>,
    pub mysql: MysqlStore,
    kafka: Arc<KafkaBus>,
    stop_relay: Arc<Notify>,
    relay: Option<tokio::task::JoinHandle<()>>,
}

impl Production {
    /// Connects every backend (failing with the role and address of the first that cannot be reached), runs
    /// pending migrations, creates missing topics, and starts the outbox relay.
    pub async fn start(settings: &ProductionSettings) -> anyhow::Result<Self> {
        let mysql = MysqlStore::open(&settings.mysql)
            .await
            .context("production.mysql: opening the store")?;
        cc_bus_kafka::topics::ensure_topics(
            &settings.kafka,
            &cc_bus_kafka::Topics::with_prefix(&settings.kafka.topic_prefix),
        )
        .await
        .context("production.kafka: creating the topics")?;
        let kafka = Arc::new(
            KafkaBus::new(settings.kafka.clone()).context("production.kafka: the producer")?,
        );
        let live = Arc::new(
            RedisLiveBus::start(&settings.pubsub)
                .await
                .context("production.redis.pubsub")?,
        );
        let presence = Arc::new(
            RedisPresence::connect(&settings.sessions)
                .await
                .context("production.redis.sessions")?,
        );
        let cache = CacheSettings {
            ttl: settings.cache_ttl,
            ..CacheSettings::default()
        };
        let store: Arc<dyn Store> = match &settings.mongodb {
            Some(mongo) => {
                let metadata = MongoMetadata::connect(mongo)
                    .await
                    .context("production.mongodb")?;
                let meta = MetaStore::new(mysql.clone(), metadata);
                Arc::new(
                    CachedStore::connect(meta, &settings.cache, cache)
                        .await
                        .context("production.redis.cache")?,
                )
            }
            None => Arc::new(
                CachedStore::connect(mysql.clone(), &settings.cache, cache)
                    .await
                    .context("production.redis.cache")?,
            ),
        };
        // Holes in a conversation's live sequence (a writer died between commit and publish) are filled from
        // the store, so connections get every message in `seq` order.
        live.set_gap_filler(Arc::clone(&store));
        let stop_relay = Arc::new(Notify::new());
        let relay = settings.relay.as_ref().map(|config| {
            let durable: Arc<dyn Bus> = kafka.clone();
            let to_live: Arc<dyn Bus> = live.clone();
            let relay = OutboxRelay::new(mysql.clone(), durable, Some(to_live), config.clone());
            let stop = stop_relay.clone();
            tokio::spawn(relay.run(async move { stop.notified().await }))
        });
        let durable: Arc<dyn Bus> = kafka.clone();
        let confirmer = OutboxConfirmer::spawn(mysql.clone(), durable);
        let bus = Arc::new(bus::ProductionBus::new(
            live.clone(),
            kafka.clone(),
            confirmer,
            settings.fault_abort_after_commits,
        ));
        tracing::info!(replica = %settings.replica_name, "production backends connected");
        Ok(Self {
            store,
            bus,
            presence,
            live,
            mysql,
            kafka,
            stop_relay,
            relay,
        })
    }

    /// Stops the relay and waits for Kafka to acknowledge what is in flight (bounded).
    pub async fn shutdown(self) {
        self.stop_relay.notify_one();
        if let Some(relay) = self.relay {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), relay).await;
        }
        let kafka = self.kafka;
        let _ = tokio::task::spawn_blocking(move || kafka.flush(std::time::Duration::from_secs(5)))
            .await;
    }
}
