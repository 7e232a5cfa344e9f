//! Durable event bus of the chat platform on Kafka.
//!
//! * [`KafkaBus`] implements [`cc_core::bus::Bus`]: an idempotent producer with `acks=all`; `publish` returns only
//!   once the in-sync replicas have the event. Events go to a topic per family ([`topics::Topics`]), keyed by
//!   conversation (or app/user), so one conversation's events stay in order on one partition. Ephemeral events
//!   (typing, presence) never go to Kafka: they are live-only (Redis pub/sub).
//! * [`topics::ensure_topics`] creates missing topics with the configured partitions and replication.
//! * [`consumer::run_consumer`] is the loop moderation, notifications and webhooks use: a consumer group that
//!   commits an offset only after its handler finished with the event (at-least-once).
//!
//! Publishing from committed state is the outbox's job (`cc_store_mysql::outbox`): the relay publishes through
//! this bus and deletes the row once `publish` returned `Ok`.

pub mod config;
pub mod consumer;
mod producer;
pub mod topics;

pub use config::KafkaConfig;
pub use producer::KafkaBus;
pub use topics::Topics;
