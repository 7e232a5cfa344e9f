//! Transactional outbox, its writers' confirmations, and the relay.
//!
//! [`MysqlStore::append_message`](cc_core::store::Store::append_message) writes the `message_created` event into
//! `outbox` in the same transaction as the message, so an acknowledged message always has its event stored.
//! The replica that committed it publishes it live at once and hands it to its [`OutboxConfirmer`], which puts it
//! on the durable bus (Kafka) and then deletes the row by `(conversation, seq)`. Whatever a writer did not confirm
//! — it died between commit and publish, or Redis or Kafka refused — stays in the outbox, and after `grace` the
//! [`OutboxRelay`] publishes it to the durable bus **and** live, then deletes it. So a crash anywhere between
//! commit and publish delays an event by about `grace` and never loses it; a crash between publish and delete
//! publishes it twice (consumers and clients deduplicate by conversation and `seq`).
//!
//! One relay is active at a time across replicas (a lease row, renewed at half its life). Rows leave in
//! `(created_at_ms, conversation, seq)` order and a batch is deleted only up to its first failure. Per-conversation
//! order on Kafka holds on the normal path (writers publish under the domain's per-conversation lock); an event
//! recovered by the relay may arrive after later ones of its conversation, so consumers order by `seq`.

use crate::MysqlStore;
use crate::error::map;
use cc_core::bus::Bus;
use cc_core::events::{DomainEvent, Envelope};
use cc_core::ids::now_ms;
use cc_core::store::StoreResult;
use sqlx::Row as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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
    /// The oldest waiting events committed at or before `cutoff_ms`, in publication order.
    pub async fn outbox_pending(
        &self,
        cutoff_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let found = sqlx::query(
            "SELECT id, envelope, created_at_ms FROM outbox WHERE created_at_ms <= ? \
             ORDER BY created_at_ms, conversation_id, seq LIMIT ?",
        )
        .bind(cutoff_ms)
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
    ///
    /// The relay (by id) and writers' confirmers (by message) may delete overlapping rows at once and deadlock;
    /// the delete alone is run again then (`retrying`), not the publication before it.
    pub async fn outbox_done(&self, ids: &[String]) -> StoreResult<()> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        for chunk in ids.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM outbox WHERE id IN ({placeholders})");
            self.retrying(true, || {
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(&self.pool)
            })
            .await
            .map_err(map)?;
        }
        Ok(())
    }

    /// Marks the events of these messages done (their writer published them); idempotent, retried like
    /// [`Self::outbox_done`].
    pub async fn outbox_done_messages(&self, messages: &[(String, i64)]) -> StoreResult<()> {
        for chunk in messages.chunks(200) {
            let predicate = vec!["(conversation_id = ? AND seq = ?)"; chunk.len()].join(" OR ");
            let sql = format!("DELETE FROM outbox WHERE {predicate}");
            self.retrying(true, || {
                let mut query = sqlx::query(&sql);
                for (conversation, seq) in chunk {
                    query = query.bind(conversation).bind(seq);
                }
                query.execute(&self.pool)
            })
            .await
            .map_err(map)?;
        }
        Ok(())
    }

    /// Takes or renews the named lease for `owner`; true when `owner` holds it until `now + lease`.
    ///
    /// Single statements in autocommit, no `SELECT … FOR UPDATE`: every replica that does not lead asks at
    /// each poll, and a read-then-write transaction per ask deadlocked them against each other (two
    /// `INSERT IGNORE` shared locks both waiting to upgrade).
    pub async fn claim_lease(&self, name: &str, owner: &str, lease: Duration) -> StoreResult<bool> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        self.retrying(true, || async {
            let now = now_ms();
            let renewed = sqlx::query(
                "UPDATE leases SET owner = ?, until_ms = ? WHERE name = ? AND (owner = ? OR until_ms < ?)",
            )
            .bind(owner)
            .bind(now + lease_ms)
            .bind(name)
            .bind(owner)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if renewed.rows_affected() == 1 {
                return Ok(true);
            }
            // No row yet (first start), or another owner holds it: only the first case inserts.
            let created =
                sqlx::query("INSERT IGNORE INTO leases (name, owner, until_ms) VALUES (?, ?, ?)")
                    .bind(name)
                    .bind(owner)
                    .bind(now + lease_ms)
                    .execute(&self.pool)
                    .await?;
            if created.rows_affected() == 1 {
                return Ok(true);
            }
            // Renewed within the same millisecond (no row changed) still counts as held by us.
            let holder: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT owner FROM leases WHERE name = ? AND until_ms >= ?")
                    .bind(name)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(holder.is_some_and(|holder| holder == owner.as_bytes()))
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
    /// How often the relay looks for rows.
    pub poll: Duration,
    pub batch: u32,
    /// Rows younger than this are their writer's to confirm; older ones are recovered by the relay.
    pub grace: Duration,
}

impl RelayConfig {
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            lease: Duration::from_secs(5),
            poll: Duration::from_millis(250),
            batch: 500,
            grace: Duration::from_secs(2),
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
    /// Until when this replica holds the lease (renewed at half its life, not on every pass).
    held_until: Mutex<Option<Instant>>,
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
            held_until: Mutex::new(None),
        }
    }

    async fn leads(&self) -> StoreResult<bool> {
        let now = Instant::now();
        let held = *self
            .held_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some_and(|until| until > now + self.config.lease / 2) {
            return Ok(true);
        }
        let claimed = self
            .store
            .claim_lease(RELAY_LEASE, &self.config.owner, self.config.lease)
            .await?;
        *self
            .held_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            claimed.then(|| now + self.config.lease);
        Ok(claimed)
    }

    /// Publishes one batch of rows older than `grace`, if this replica leads.
    pub async fn run_once(&self) -> Result<RelayPass, RelayError> {
        if !self.leads().await? {
            return Ok(RelayPass::default());
        }
        let grace = i64::try_from(self.config.grace.as_millis()).unwrap_or(i64::MAX);
        let entries = self
            .store
            .outbox_pending(now_ms() - grace, self.config.batch)
            .await?;
        let mut pass = RelayPass {
            leader: true,
            ..RelayPass::default()
        };
        if entries.is_empty() {
            return Ok(pass);
        }
        // Every publish is started before any is awaited (join_all polls in order, and a producer enqueues on
        // the first poll), so a batch costs one round trip and keeps its order.
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
        if let Some(live) = &self.live {
            for entry in done {
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

    /// Runs passes every `poll` until `shutdown` completes; a full batch runs the next pass at once. Errors are
    /// logged and retried at the next poll.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let mut full = false;
            match self.run_once().await {
                Ok(pass) => {
                    if pass.published > 0 {
                        tracing::info!(
                            published = pass.published,
                            live = pass.republished_live,
                            "outbox relay recovered unconfirmed events"
                        );
                    }
                    full = pass.published >= self.config.batch as usize;
                }
                Err(error) => tracing::warn!(%error, "outbox relay pass failed; retrying"),
            }
            if full {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }
}

/// Confirmations waiting for the confirmer; beyond this the relay recovers the events instead.
const CONFIRM_QUEUE: usize = 65_536;

/// A writer's side of the outbox: after its live publish, events go here; a background task puts them on the
/// durable bus in order and deletes their rows in batches. Anything it cannot do is left to the relay.
#[derive(Clone)]
pub struct OutboxConfirmer {
    queue: mpsc::Sender<Envelope>,
}

impl OutboxConfirmer {
    pub fn spawn(store: MysqlStore, durable: Arc<dyn Bus>) -> Self {
        let (queue, receiver) = mpsc::channel(CONFIRM_QUEUE);
        tokio::spawn(confirm_forever(store, durable, receiver));
        Self { queue }
    }

    /// Hands over a published `message_created` event; never waits (a full queue leaves it to the relay).
    pub fn confirm(&self, envelope: Envelope) {
        if self.queue.try_send(envelope).is_err() {
            tracing::debug!("outbox confirmer queue full; the relay will publish the event");
        }
    }
}

async fn confirm_forever(
    store: MysqlStore,
    durable: Arc<dyn Bus>,
    mut receiver: mpsc::Receiver<Envelope>,
) {
    let mut batch = Vec::with_capacity(256);
    while receiver.recv_many(&mut batch, 256).await > 0 {
        let outcomes = futures_util::future::join_all(
            batch
                .iter()
                .map(|envelope| durable.publish(envelope.clone())),
        )
        .await;
        let done: Vec<(String, i64)> = batch
            .iter()
            .zip(outcomes)
            .filter(|(_, outcome)| outcome.is_ok())
            .filter_map(|(envelope, _)| match &envelope.event {
                DomainEvent::MessageCreated { message } => {
                    Some((message.conversation_id.0.clone(), message.seq))
                }
                _ => None,
            })
            .collect();
        if done.len() < batch.len() {
            tracing::warn!(
                failed = batch.len() - done.len(),
                "durable bus refused events; the relay will retry them"
            );
        }
        if let Err(error) = store.outbox_done_messages(&done).await {
            tracing::warn!(%error, "outbox rows not deleted; the relay will publish them again");
        }
        batch.clear();
    }
}
