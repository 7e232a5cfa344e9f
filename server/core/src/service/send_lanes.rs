//! Sends are appended in batches per stripe of conversations and published in `seq` order.
//!
//! A conversation's events must leave in `seq` order: the in-process bus delivers in publish order
//! and the protocol promises no reordering. A lock per conversation held across commit and publish
//! gave that order, but it also limited a conversation to one commit per send: a busy group's
//! sends queued behind each other's commit and wake-up, and once the runtime was loaded that queue
//! grew faster than it drained (latency runs stuck at a p50 of 60 ms instead of 2 ms).
//!
//! Here the first sender to find its stripe idle leads it: it takes every send waiting in the
//! stripe, appends them all at once (one group commit in the embedded store; one after another in
//! a store that does not group-commit, see `Store::group_commits_appends`), publishes the created
//! messages sorted by `seq`, then answers every sender of the batch. Sends arriving meanwhile wait
//! for the next batch, which starts only after this one is published, so a later `seq` is never
//! published before an earlier one — whatever order the store committed the batch's appends in.
//! The leader runs its own batch inline; any further batch runs in a spawned task, so no sender
//! waits for other senders' batches and a cancelled leader (a REST client that hung up) does not
//! strand the stripe.

use crate::bus::Bus;
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Recipients};
use crate::model::{Appended, NewMessage};
use crate::store::Store;
use cc_protocol::ErrorCode;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// Conversations hash onto this many stripes; each stripe has at most one batch in flight.
const STRIPES: usize = 256;

struct Job {
    new: NewMessage,
    reply: oneshot::Sender<DomainResult<Appended>>,
}

#[derive(Default)]
struct Stripe {
    waiting: Vec<Job>,
    /// A batch of this stripe is in flight (its leader or a continuation task runs it).
    leading: bool,
}

pub(crate) struct SendLanes {
    stripes: Vec<Mutex<Stripe>>,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
}

impl SendLanes {
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Arc<Self> {
        Arc::new(Self {
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
            store,
            bus,
        })
    }

    fn stripe(&self, index: usize) -> std::sync::MutexGuard<'_, Stripe> {
        // A panic while holding this lock leaves the queue consistent (pushes and takes only).
        self.stripes[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Append `new`, publish it if created, and answer once it is published.
    pub(crate) async fn send(self: &Arc<Self>, new: NewMessage) -> DomainResult<Appended> {
        let index = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            new.conversation_id.hash(&mut hasher);
            (hasher.finish() as usize) % STRIPES
        };
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut stripe = self.stripe(index);
            stripe.waiting.push(Job { new, reply });
            !std::mem::replace(&mut stripe.leading, true)
        };
        if lead {
            let handoff = Handoff {
                lanes: Arc::clone(self),
                index,
            };
            let jobs = std::mem::take(&mut self.stripe(index).waiting);
            self.run_batch(jobs).await;
            drop(handoff);
        }
        answer.await.unwrap_or_else(|_| {
            Err(DomainError::new(
                ErrorCode::Unavailable,
                "the send was interrupted; resend it with the same client_msg_id",
            ))
        })
    }

    /// Runs batches of the stripe until it is empty (a continuation of a leader).
    async fn drain(self: Arc<Self>, index: usize) {
        loop {
            let jobs = {
                let mut stripe = self.stripe(index);
                if stripe.waiting.is_empty() {
                    stripe.leading = false;
                    return;
                }
                std::mem::take(&mut stripe.waiting)
            };
            self.run_batch(jobs).await;
        }
    }

    async fn run_batch(&self, jobs: Vec<Job>) {
        if !self.store.group_commits_appends() {
            // One at a time, each published before the next is appended: what a row-locking store
            // (MySQL) serialises anyway, without holding a pooled connection per queued send.
            for job in jobs {
                let mut result = self
                    .store
                    .append_message(&job.new)
                    .await
                    .map_err(DomainError::from);
                if let Ok(Appended::Created(message)) = &result
                    && let Err(error) = self.publish(message).await
                {
                    result = Err(error);
                }
                let _ = job.reply.send(result);
            }
            return;
        }
        // All appends at once: the embedded store commits them in one transaction. join_all
        // polls them in order, so it also enqueues them in order, but nothing below relies on it.
        let mut results: Vec<DomainResult<Appended>> = futures_util::future::join_all(
            jobs.iter().map(|job| self.store.append_message(&job.new)),
        )
        .await
        .into_iter()
        .map(|result| result.map_err(DomainError::from))
        .collect();
        let mut created: Vec<(i64, usize)> = results
            .iter()
            .enumerate()
            .filter_map(|(index, result)| match result {
                Ok(Appended::Created(message)) => Some((message.seq, index)),
                _ => None,
            })
            .collect();
        // Per conversation, `seq` order; the stripe's conversations are independent of each other.
        created.sort_unstable();
        for (_, index) in created {
            let Ok(Appended::Created(message)) = &results[index] else {
                continue;
            };
            if let Err(error) = self.publish(message).await {
                results[index] = Err(error);
            }
        }
        for (job, result) in jobs.into_iter().zip(results) {
            // A sender that went away no longer wants the answer.
            let _ = job.reply.send(result);
        }
    }

    async fn publish(&self, message: &crate::model::Message) -> DomainResult<()> {
        let ids = self
            .store
            .member_ids(&message.app_id, &message.conversation_id)
            .await?;
        super::publish_event(
            self.bus.as_ref(),
            &message.app_id,
            Recipients::Users(ids),
            DomainEvent::MessageCreated {
                message: message.clone(),
            },
        )
        .await;
        Ok(())
    }
}

/// Ends a leader's turn, however its future ends (finished or dropped): the stripe goes idle, or
/// what arrived meanwhile runs in a task of its own.
struct Handoff {
    lanes: Arc<SendLanes>,
    index: usize,
}

impl Drop for Handoff {
    fn drop(&mut self) {
        let more = {
            let mut stripe = self.lanes.stripe(self.index);
            if stripe.waiting.is_empty() {
                stripe.leading = false;
            }
            stripe.leading
        };
        if more {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(Arc::clone(&self.lanes).drain(self.index));
                }
                // Only when the runtime itself is gone: nothing will run the waiting sends.
                Err(_) => self.lanes.stripe(self.index).leading = false,
            }
        }
    }
}
