//! Redis roles of the chat platform, each with its own connection settings and each standalone or Cluster:
//!
//! * **pub/sub** — [`RedisLiveBus`], the live [`Bus`](cc_core::bus::Bus): events reach local sinks at once and
//!   the other replicas through one Redis channel; a lost subscription tells the sinks
//!   ([`EventSink::continuity_lost`](cc_core::bus::EventSink::continuity_lost)) so clients resume from the store.
//! * **sessions** — [`RedisPresence`], the [`Presence`](cc_core::presence::Presence) shared by every replica:
//!   device sessions and online status with TTLs, typing throttles, rate-limit buckets, revoked tokens.
//! * **cache** — [`CachedStore`], a [`Store`](cc_core::store::Store) decorator holding hot conversation
//!   metadata, memberships and recent history, so most sends and resumes do not touch the database.
//!
//! Redis is never the system of record: when it is down the live path degrades to resume-from-store, the
//! cache to the database, and presence to per-replica state.

mod breaker;
mod cache;
mod config;
mod conn;
mod keys;
mod presence;
mod pubsub;
mod sequencer;

pub use cache::{CacheSettings, CachedStore};
pub use config::{ConnectError, RedisRoleConfig, RedisTarget};
pub use conn::RedisConn;
pub use presence::RedisPresence;
pub use pubsub::RedisLiveBus;
