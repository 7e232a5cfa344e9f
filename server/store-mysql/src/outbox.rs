//! Transactional outbox and its relay.
//!
//! [`MysqlStore::append_message`](cc_core::store::Store::append_message) writes the `message_created` event into
//! `outbox` in the same transaction as the message, so an acknowledged message always has its event stored. The
//! [`OutboxRelay`] publishes those rows to the durable bus (Kafka) and deletes them once the bus acknowledged them:
//! a crash between commit and publish only delays the event until a relay runs again, and a crash between
//! publish and delete publishes it twice (consumers deduplicate by conversation and `seq`).
//!
//! One relay is active at a time across replicas (a lease row); rows leave in `(created_at_ms, conversation, seq)`
//! order and a batch is deleted only up to its first failure, so per-conversation order on the bus is kept.
//! Rows older than `live_republish_after` when published (their writer died before its own live publish, or the
//! bus was down) are also sent to the live bus, so recipients' gateways are not left waiting for a reconnect.

use crate::MysqlStore;
use crate::error::map;
use cc_core::bus::Bus;
use cc_core::events::Envelope;
use cc_core::ids::now_ms;
use cc_core::store::StoreResult;
use sqlx::Row as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub(crate) async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    envelope: &Envelope,
    seq: i64,
) -> Result<(), sqlx::Error> {
    let body = serde_json::to_string(envelope).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(
        "INSERT INTO outbox (id, conversation_id, seq, kind, envelope, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(envelope.event.conversation_id().map(|c| c.0.as_str()))
    .bind(seq)
    .bind(envelope.event.kind())
    .bind(body)
    .bind(envelope.at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One stored event waiting for the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: String,
    pub envelope: Envelope,
    pub created_at_ms: i64,
}

const RELAY_LEASE: &str = "outbox-relay";

impl MysqlStore {
    /// The oldest waiting events, in publication order.
    pub async fn outbox_pending(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        let found = sqlx::query(
            "SELECT id, envelope, created_at_ms FROM outbox \
             ORDER BY created_at_ms, conversation_id, seq LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        found
            .iter()
            .map(|row| {
                let text = crate::rows::get_text(row, "envelope").map_err(map)?;
                Ok(OutboxEntry {
                    id: crate::rows::get_text(row, "id").map_err(map)?,
                    envelope: serde_json::from_str(&text)
                        .map_err(|e| crate::error::corrupt("outbox envelope", e))?,
                    created_at_ms: row.try_get("created_at_ms").map_err(map)?,
                })
            })
            .collect()
    }

    /// How many events wait for the bus (a gauge for `/metrics` and alerts).
    pub async fn outbox_backlog(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(map)
    }

    /// Marks events done by deleting them; deleting an absent row is a no-op, so this is idempotent.
    pub async fn outbox_done(&self, ids: &[String]) -> StoreResult<()> {
        for chunk in ids.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM outbox WHERE id IN ({placeholders})");
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&self.pool).await.map_err(map)?;
        }
        Ok(())
    }

    /// Takes or renews the named lease for `owner`; true when `owner` holds it until `now + lease`.
    pub async fn claim_lease(&self, name: &str, owner: &str, lease: Duration) -> StoreResult<bool> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        self.retrying(true, || async {
            let now = now_ms();
            let mut tx = self.pool.begin().await?;
            sqlx::query("INSERT IGNORE INTO leases (name, owner, until_ms) VALUES (?, '', 0)")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query("SELECT owner, until_ms FROM leases WHERE name = ? FOR UPDATE")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            let (holder, until) = (
                crate::rows::get_text(&row, "owner")?,
                row.try_get::<i64, _>("until_ms")?,
            );
            let ours = holder == owner || until < now;
            if ours {
                sqlx::query("UPDATE leases SET owner = ?, until_ms = ? WHERE name = ?")
                    .bind(owner)
                    .bind(now + lease_ms)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(ours)
        })
        .await
        .map_err(map)
    }
}

/// Settings of the relay.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// This replica's name in the lease (host name + pid, say).
    pub owner: String,
    /// How long a crashed owner keeps the lease before another replica takes over.
    pub lease: Duration,
    /// How often the relay looks for rows when nothing woke it.
    pub poll: Duration,
    pub batch: u32,
    /// Rows at least this old when published are also sent to the live bus.
    pub live_republish_after: Duration,
}

impl RelayConfig {
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            lease: Duration::from_secs(5),
            poll: Duration::from_millis(100),
            batch: 500,
            live_republish_after: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox relay: storage: {0}")]
    Store(#[from] cc_core::StoreError),
    #[error(
        "outbox relay: the durable bus refused an event ({published} of {batch} published): {source}"
    )]
    Bus {
        published: usize,
        batch: usize,
        #[source]
        source: cc_core::bus::BusError,
    },
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayPass {
    pub leader: bool,
    pub published: usize,
    pub republished_live: usize,
}

pub struct OutboxRelay {
    store: MysqlStore,
    durable: Arc<dyn Bus>,
    live: Option<Arc<dyn Bus>>,
    config: RelayConfig,
    wake: Arc<Notify>,
}

impl OutboxRelay {
    pub fn new(
        store: MysqlStore,
        durable: Arc<dyn Bus>,
        live: Option<Arc<dyn Bus>>,
        config: RelayConfig,
    ) -> Self {
        Self {
            store,
            durable,
            live,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notify this to run a pass now (after a local commit) instead of at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims the lease and publishes one batch.
    pub async fn run_once(&self) -> Result<RelayPass, RelayError> {
        if !self
            .store
            .claim_lease(RELAY_LEASE, &self.config.owner, self.config.lease)
            .await?
        {
            return Ok(RelayPass::default());
        }
        let entries = self.store.outbox_pending(self.config.batch).await?;
        let mut pass = RelayPass {
            leader: true,
            ..RelayPass::default()
        };
        if entries.is_empty() {
            return Ok(pass);
        }
        // Every publish is started before any is awaited (join_all polls in order, and a producer enqueues on
        // the first poll), so a batch costs one round trip and keeps per-conversation order.
        let outcomes = futures_util::future::join_all(
            entries
                .iter()
                .map(|entry| self.durable.publish(entry.envelope.clone())),
        )
        .await;
        let published = outcomes
            .iter()
            .take_while(|outcome| outcome.is_ok())
            .count();
        let first_error = outcomes.into_iter().find_map(Result::err);
        let done = &entries[..published];
        let grace = i64::try_from(self.config.live_republish_after.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        if let Some(live) = &self.live {
            for entry in done.iter().filter(|e| now - e.created_at_ms >= grace) {
                // Best effort: the live path may be down too; clients then resume from the store.
                if live.publish(entry.envelope.clone()).await.is_ok() {
                    pass.republished_live += 1;
                }
            }
        }
        let ids: Vec<String> = done.iter().map(|e| e.id.clone()).collect();
        self.store.outbox_done(&ids).await?;
        pass.published = published;
        match first_error {
            Some(source) => Err(RelayError::Bus {
                published,
                batch: entries.len(),
                source,
            }),
            None => Ok(pass),
        }
    }

    /// Runs passes until `shutdown` completes: immediately when woken, else every `poll`; a full batch runs the
    /// next pass at once. Errors are logged and retried at the poll interval.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let mut full = false;
            match self.run_once().await {
                Ok(pass) => full = pass.published >= self.config.batch as usize,
                Err(error) => tracing::warn!(%error, "outbox relay pass failed; retrying"),
            }
            if full {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }
}
