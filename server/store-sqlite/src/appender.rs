//! Group commit of appended messages: one task takes every append waiting at that moment and
//! commits them in one transaction, so the cost of a commit is shared by all concurrent senders.
//! Each sender still gets its answer only after the commit that holds its message.

use crate::error::map;
use crate::rows;
use cc_core::StoreError;
use cc_core::ids::{MessageId, UserId};
use cc_core::model::{Appended, Message, NewMessage};
use cc_core::store::StoreResult;
use sqlx::sqlite::SqlitePool;
use sqlx::{Row as _, Sqlite, Transaction};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};

/// Most appends in one transaction.
const BATCH: usize = 256;

type Request = (NewMessage, oneshot::Sender<StoreResult<Appended>>);

#[derive(Debug, Clone)]
pub(crate) struct Appender {
    requests: mpsc::Sender<Request>,
}

impl Appender {
    pub(crate) fn start(writer: SqlitePool) -> Self {
        let (requests, receiver) = mpsc::channel(4 * BATCH);
        tokio::spawn(run(writer, receiver));
        Self { requests }
    }

    pub(crate) async fn append(&self, message: NewMessage) -> StoreResult<Appended> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the message writer has stopped".into());
        self.requests
            .send((message, reply))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(writer: SqlitePool, mut receiver: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        match commit_batch(&writer, &batch).await {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            // One bad append must not fail its neighbours: retry each alone.
            Err(_) if batch.len() > 1 => {
                for (message, reply) in batch.drain(..) {
                    let result = commit_batch(
                        &writer,
                        std::slice::from_ref(&(message, oneshot::channel().0)),
                    )
                    .await;
                    let _ = reply.send(result.and_then(|mut r| {
                        r.pop()
                            .ok_or_else(|| StoreError::Internal("empty batch result".into()))
                    }));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StoreError::Internal(message.clone())));
                }
            }
        }
    }
}

async fn commit_batch(writer: &SqlitePool, batch: &[Request]) -> StoreResult<Vec<Appended>> {
    let mut tx = writer.begin().await.map_err(map)?;
    let mut results = Vec::with_capacity(batch.len());
    for (message, _) in batch {
        results.push(append_one(&mut tx, message).await?);
    }
    tx.commit().await.map_err(map)?;
    Ok(results)
}

async fn append_one(tx: &mut Transaction<'_, Sqlite>, new: &NewMessage) -> StoreResult<Appended> {
    let (app, conversation) = (&new.app_id.0, &new.conversation_id.0);
    // Claim the next seq first (inside this transaction), then insert unless the idempotency key
    // exists; a duplicate gives the seq back.
    let claimed =
        sqlx::query("UPDATE conversations SET last_seq = last_seq + 1 WHERE app_id = ? AND id = ?")
            .bind(app)
            .bind(conversation)
            .execute(&mut **tx)
            .await
            .map_err(map)?;
    if claimed.rows_affected() != 1 {
        return Err(StoreError::Internal(format!(
            "conversation {conversation} vanished during append"
        )));
    }
    let mentions: Vec<&str> = new.mentions.iter().map(UserId::as_str).collect();
    let inserted = sqlx::query(
        "INSERT INTO messages (app_id, conversation_id, seq, id, sender_id, client_msg_id, body, parent_id, reply_count, mentions, reaction_counts, created_at_ms, edited_at_ms, deleted) \
         SELECT ?, ?, c.last_seq, ?, ?, ?, ?, ?, 0, ?, '{}', ?, NULL, 0 FROM conversations c WHERE c.app_id = ? AND c.id = ? \
         ON CONFLICT (app_id, conversation_id, sender_id, client_msg_id) DO NOTHING RETURNING seq",
    )
    .bind(app)
    .bind(conversation)
    .bind(&new.id.0)
    .bind(&new.sender_id.0)
    .bind(&new.client_msg_id)
    .bind(rows::to_json(&new.body))
    .bind(new.parent_id.as_ref().map(MessageId::as_str))
    .bind(rows::to_json(&mentions))
    .bind(new.created_at_ms)
    .bind(app)
    .bind(conversation)
    .fetch_optional(&mut **tx)
    .await
    .map_err(map)?;
    let Some(row) = inserted else {
        sqlx::query("UPDATE conversations SET last_seq = last_seq - 1 WHERE app_id = ? AND id = ?")
            .bind(app)
            .bind(conversation)
            .execute(&mut **tx)
            .await
            .map_err(map)?;
        let existing = sqlx::query("SELECT * FROM messages WHERE app_id = ? AND conversation_id = ? AND sender_id = ? AND client_msg_id = ?")
            .bind(app)
            .bind(conversation)
            .bind(&new.sender_id.0)
            .bind(&new.client_msg_id)
            .fetch_one(&mut **tx)
            .await
            .map_err(map)?;
        return Ok(Appended::Duplicate(rows::message(&existing)?));
    };
    let seq: i64 = row.try_get("seq").map_err(map)?;
    if let Some(parent) = &new.parent_id {
        sqlx::query("UPDATE messages SET reply_count = reply_count + 1 WHERE app_id = ? AND conversation_id = ? AND id = ?")
            .bind(app)
            .bind(conversation)
            .bind(&parent.0)
            .execute(&mut **tx)
            .await
            .map_err(map)?;
    }
    Ok(Appended::Created(Message {
        app_id: new.app_id.clone(),
        conversation_id: new.conversation_id.clone(),
        id: new.id.clone(),
        seq,
        sender_id: new.sender_id.clone(),
        client_msg_id: new.client_msg_id.clone(),
        body: new.body.clone(),
        parent_id: new.parent_id.clone(),
        reply_count: 0,
        mentions: new.mentions.clone(),
        reactions: BTreeMap::new(),
        created_at_ms: new.created_at_ms,
        edited_at_ms: None,
        deleted: false,
    }))
}
