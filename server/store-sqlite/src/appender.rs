//! Group commit of appended messages on a dedicated thread: the thread takes every append waiting
//! at that moment and commits them in one transaction, so the cost of a commit is shared by all
//! concurrent senders. Each sender gets its answer only after the commit that holds its message.
//!
//! The thread drives its own SQLite connection synchronously (rusqlite) instead of going through
//! sqlx: sqlx runs each statement on a worker thread and wakes the caller's task for every one,
//! and under load each of those wake-ups waits behind thousands of connection tasks in the
//! runtime's queue — measured, that capped sends at ~2k/s on two cores. Here a batch costs one
//! thread wake-up and one reply per sender. The other writes (sqlx, one pooled connection) start
//! their transactions with `BEGIN IMMEDIATE`, so the two writers queue on SQLite's write lock
//! (busy timeout) and never fail with a stale snapshot.

use crate::Durability;
use crate::error::map;
use crate::rows;
use cc_core::StoreError;
use cc_core::ids::{MessageId, UserId};
use cc_core::model::{Appended, Message, NewMessage};
use cc_core::store::StoreResult;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use sqlx::sqlite::SqlitePool;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Most appends in one transaction.
const BATCH: usize = 256;
/// The appender's page cache (KiB; SQLite's default is 2 MiB). Each append touches the messages
/// B-tree and its indexes where that conversation's rows sit, so with many active conversations
/// the working set is spread over the whole index: at 2 MiB the appender thread spent a fifth of
/// its time re-reading pages through `pread` (profile in docs/performance.md, fourth round).
const APPENDER_CACHE_KIB: i64 = 64 * 1024;

/// What the thread decided for one append.
#[derive(Debug)]
enum Outcome {
    Created(i64),
    /// The idempotency key exists: the caller reads the stored message (committed before this batch).
    Duplicate,
}

type Request = (NewMessage, oneshot::Sender<StoreResult<Outcome>>);

#[derive(Debug, Clone)]
pub(crate) struct Appender {
    requests: std_mpsc::SyncSender<Request>,
    reader: SqlitePool,
}

#[allow(clippy::needless_pass_by_value)] // Used as `.map_err(db)`.
fn db(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

impl Appender {
    /// Open the appender's own connection to `path` (already migrated) and start its thread.
    pub(crate) fn start(
        path: &Path,
        durability: Durability,
        reader: SqlitePool,
    ) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(
            None,
            "synchronous",
            match durability {
                Durability::Normal => "NORMAL",
                Durability::Full => "FULL",
            },
        )?;
        // Checkpoints run on their own thread (`checkpointer`), never inside a group commit.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        connection.pragma_update(None, "cache_size", -APPENDER_CACHE_KIB)?;
        connection.set_prepared_statement_cache_capacity(16);
        let (requests, receiver) = std_mpsc::sync_channel(4 * BATCH);
        std::thread::Builder::new()
            .name("sqlite-appender".into())
            .spawn(move || run(connection, &receiver))
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        Ok(Self { requests, reader })
    }

    pub(crate) async fn append(&self, message: NewMessage) -> StoreResult<Appended> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the message writer has stopped".into());
        // The channel holds 4 batches; a full one means the writer is behind: wait off the runtime.
        let request = match self.requests.try_send((message.clone(), reply)) {
            Ok(()) => None,
            Err(std_mpsc::TrySendError::Full(request)) => Some(request),
            Err(std_mpsc::TrySendError::Disconnected(_)) => return Err(closed()),
        };
        if let Some(request) = request {
            let requests = self.requests.clone();
            let sent = tokio::task::spawn_blocking(move || requests.send(request).is_ok())
                .await
                .map_err(|_| closed())?;
            if !sent {
                return Err(closed());
            }
        }
        match answer.await.map_err(|_| closed())?? {
            Outcome::Created(seq) => Ok(Appended::Created(created(message, seq))),
            Outcome::Duplicate => {
                let existing = sqlx::query("SELECT * FROM messages WHERE app_id = ? AND conversation_id = ? AND sender_id = ? AND client_msg_id = ?")
                    .bind(&message.app_id.0)
                    .bind(&message.conversation_id.0)
                    .bind(&message.sender_id.0)
                    .bind(&message.client_msg_id)
                    .fetch_one(&self.reader)
                    .await
                    .map_err(map)?;
                Ok(Appended::Duplicate(rows::message(&existing)?))
            }
        }
    }
}

fn created(new: NewMessage, seq: i64) -> Message {
    Message {
        app_id: new.app_id,
        conversation_id: new.conversation_id,
        id: new.id,
        seq,
        sender_id: new.sender_id,
        client_msg_id: new.client_msg_id,
        body: new.body,
        parent_id: new.parent_id,
        reply_count: 0,
        mentions: new.mentions,
        reactions: BTreeMap::new(),
        created_at_ms: new.created_at_ms,
        edited_at_ms: None,
        deleted: false,
    }
}

fn run(mut connection: Connection, receiver: &std_mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(BATCH);
    // Blocks for the first request, then takes whatever else is already waiting.
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match commit_batch(&mut connection, batch.iter().map(|(message, _)| message)) {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            // One bad append must not fail its neighbours: retry each alone.
            Err(_) if batch.len() > 1 => {
                for (message, reply) in batch.drain(..) {
                    let result = commit_batch(&mut connection, std::iter::once(&message)).and_then(
                        |mut results| {
                            results
                                .pop()
                                .ok_or_else(|| StoreError::Internal("empty batch result".into()))
                        },
                    );
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                let error = error.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StoreError::Internal(error.clone())));
                }
            }
        }
    }
}

fn commit_batch<'a>(
    connection: &mut Connection,
    batch: impl Iterator<Item = &'a NewMessage>,
) -> StoreResult<Vec<Outcome>> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let mut results = Vec::with_capacity(BATCH);
    for message in batch {
        results.push(append_one(&tx, message)?);
    }
    tx.commit().map_err(db)?;
    Ok(results)
}

fn append_one(tx: &rusqlite::Transaction<'_>, new: &NewMessage) -> StoreResult<Outcome> {
    let (app, conversation) = (&new.app_id.0, &new.conversation_id.0);
    // Claim the next seq first (inside this transaction), then insert unless the idempotency key
    // exists; a duplicate gives the seq back.
    let claimed = tx
        .prepare_cached(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE app_id = ?1 AND id = ?2 RETURNING last_seq",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![app, conversation], |row| row.get::<_, i64>(0))
                .optional()
        })
        .map_err(db)?;
    let Some(seq) = claimed else {
        return Err(StoreError::Internal(format!(
            "conversation {conversation} vanished during append"
        )));
    };
    let mentions: Vec<&str> = new.mentions.iter().map(UserId::as_str).collect();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (app_id, conversation_id, seq, id, sender_id, client_msg_id, body, parent_id, reply_count, mentions, reaction_counts, created_at_ms, edited_at_ms, deleted) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, '{}', ?10, NULL, 0) \
             ON CONFLICT (app_id, conversation_id, sender_id, client_msg_id) DO NOTHING",
        )
        .and_then(|mut statement| statement.execute(params![
            app,
            conversation,
            seq,
            &new.id.0,
            &new.sender_id.0,
            &new.client_msg_id,
            rows::to_json(&new.body),
            new.parent_id.as_ref().map(MessageId::as_str),
            rows::to_json(&mentions),
            new.created_at_ms,
        ]))
        .map_err(db)?;
    if inserted == 0 {
        tx.prepare_cached(
            "UPDATE conversations SET last_seq = last_seq - 1 WHERE app_id = ?1 AND id = ?2",
        )
        .and_then(|mut statement| statement.execute(params![app, conversation]))
        .map_err(db)?;
        return Ok(Outcome::Duplicate);
    }
    if let Some(parent) = &new.parent_id {
        tx.prepare_cached(
            "UPDATE messages SET reply_count = reply_count + 1 WHERE app_id = ?1 AND conversation_id = ?2 AND id = ?3",
        )
        .and_then(|mut statement| statement.execute(params![app, conversation, &parent.0]))
        .map_err(db)?;
    }
    Ok(Outcome::Created(seq))
}
