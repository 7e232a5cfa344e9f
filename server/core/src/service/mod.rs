//! The domain service: every rule about who may do what, validation, idempotency and the order in
//! which committed events are published. Transport-free: REST handlers and the gateway both call it.

mod access;
mod apps;
mod conversations;
mod members;
mod messages;
mod receipts;
mod send_lanes;
mod sessions;
mod users;
mod views;

pub use messages::{ReplayOutcome, SendRequest};
pub use views::{conversation_view, member_view, user_view};

use crate::auth::KeyRing;
use crate::bus::Bus;
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Envelope, Recipients};
use crate::ids::{AppId, ConversationId, UserId, now_ms};
use crate::presence::Presence;
use crate::store::Store;
use cc_protocol::ErrorCode;
use std::sync::Arc;

/// Tunable limits of the domain (the server's config fills them).
#[derive(Debug, Clone, PartialEq)]
pub struct CoreLimits {
    pub max_text_bytes: usize,
    pub messages_per_sec: u32,
    pub message_burst: u32,
    pub typing_interval_ms: u64,
    pub typing_ttl_ms: u64,
    /// Most messages one `resume` replays per conversation before answering `reset`.
    pub replay_window: u32,
    pub token_ttl_default_secs: u64,
    pub token_ttl_max_secs: u64,
    /// Most users a presence change is announced to.
    pub presence_fanout_max: u32,
}

impl Default for CoreLimits {
    fn default() -> Self {
        Self {
            max_text_bytes: 16 * 1024,
            messages_per_sec: 20,
            message_burst: 40,
            typing_interval_ms: 2_000,
            typing_ttl_ms: 6_000,
            replay_window: 1_000,
            token_ttl_default_secs: 3_600,
            token_ttl_max_secs: 86_400,
            presence_fanout_max: 1_000,
        }
    }
}

/// An authenticated end user (from a verified token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub app_id: AppId,
    pub user_id: UserId,
    pub token_id: String,
    pub expires_at_ms: i64,
}

pub struct ChatService {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    presence: Arc<dyn Presence>,
    keys: Arc<KeyRing>,
    limits: CoreLimits,
    /// Appends and publishes sends so that each conversation's events leave in `seq` order.
    sends: Arc<send_lanes::SendLanes>,
}

impl ChatService {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        presence: Arc<dyn Presence>,
        keys: Arc<KeyRing>,
        limits: CoreLimits,
    ) -> Self {
        let sends = send_lanes::SendLanes::new(Arc::clone(&store), Arc::clone(&bus));
        Self {
            store,
            bus,
            presence,
            keys,
            limits,
            sends,
        }
    }

    pub fn limits(&self) -> &CoreLimits {
        &self.limits
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    pub fn presence(&self) -> &Arc<dyn Presence> {
        &self.presence
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    async fn publish(&self, app_id: &AppId, recipients: Recipients, event: DomainEvent) {
        publish_event(self.bus.as_ref(), app_id, recipients, event).await;
    }

    async fn members_of(
        &self,
        app_id: &AppId,
        conversation_id: &ConversationId,
    ) -> DomainResult<Recipients> {
        let ids = self.store.member_ids(app_id, conversation_id).await?;
        Ok(Recipients::Users(ids))
    }

    async fn rate_check(&self, principal: &Principal) -> DomainResult<()> {
        let decision = self
            .presence
            .take_message_token(
                &principal.app_id,
                &principal.user_id,
                now_ms(),
                self.limits.messages_per_sec,
                self.limits.message_burst,
            )
            .await;
        decision.map_err(|retry_after_ms| {
            DomainError::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} messages per second; retry later",
                    self.limits.messages_per_sec
                ),
            )
            .with_details(serde_json::json!({"retry_after_ms": retry_after_ms}))
        })
    }
}

/// Publish one committed event. A bus failure after commit is logged: the data is safe in the
/// store and clients recover it by resume (the production bus adds an outbox for this gap).
async fn publish_event(bus: &dyn Bus, app_id: &AppId, recipients: Recipients, event: DomainEvent) {
    let kind = event.kind();
    let envelope = Envelope {
        app_id: app_id.clone(),
        recipients,
        event,
        at_ms: now_ms(),
    };
    if let Err(error) = bus.publish(envelope).await {
        tracing::error!(%error, kind, "publishing a committed event failed");
    }
}
