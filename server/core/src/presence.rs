//! The presence seam: live device sessions, online status aggregated over a user's devices, typing
//! throttles, per-user rate limits and revoked tokens. Embedded: in-process maps; production (next
//! issue): Redis with TTLs, shared by every replica.

use crate::ids::{AppId, ConversationId, SessionId, UserId};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub app_id: AppId,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub device: String,
    pub connected_at_ms: i64,
    /// The token's `jti`, so that revoking the session also refuses the token.
    pub token_id: String,
    pub token_expires_at_ms: i64,
}

/// A user's status, aggregated over their devices: online while any session is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPresence {
    pub user_id: UserId,
    pub online: bool,
    /// When the user's last session ended; `None` while online or when never seen.
    pub last_seen_ms: Option<i64>,
}

/// A user's status change caused by a session coming or going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The first session of the user appeared.
    CameOnline,
    /// The last session of the user went away.
    WentOffline,
    /// The user had, and still has, another session.
    Unchanged,
}

/// The token bucket of one user; `Err(retry_after_ms)` when empty.
pub type RateDecision = Result<(), u64>;

#[async_trait]
pub trait Presence: Send + Sync + 'static {
    async fn register(&self, session: SessionInfo) -> Transition;
    /// Removes the session; `None` when it was not registered.
    async fn unregister(
        &self,
        app_id: &AppId,
        session_id: &SessionId,
        now_ms: i64,
    ) -> Option<(SessionInfo, Transition)>;
    async fn session(&self, app_id: &AppId, session_id: &SessionId) -> Option<SessionInfo>;
    async fn sessions_of(&self, app_id: &AppId, user_id: &UserId) -> Vec<SessionInfo>;
    async fn is_online(&self, app_id: &AppId, user_id: &UserId) -> bool;
    async fn last_seen_ms(&self, app_id: &AppId, user_id: &UserId) -> Option<i64>;
    /// True when a typing broadcast is allowed now (at most one per `interval_ms` per user and conversation).
    async fn allow_typing(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        conversation_id: &ConversationId,
        now_ms: i64,
        interval_ms: u64,
    ) -> bool;
    /// Takes one token of the user's message bucket (`per_sec` refill, `burst` capacity).
    async fn take_message_token(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        now_ms: i64,
        per_sec: u32,
        burst: u32,
    ) -> RateDecision;
    /// Refuse this token id until `until_ms`.
    async fn deny_token(&self, token_id: &str, until_ms: i64);
    async fn is_token_denied(&self, token_id: &str, now_ms: i64) -> bool;
    /// Changes after every failure of the backing store, which may have lost the sessions registered
    /// before it (a Redis restarted empty); `None` while the store is known to be unreachable. A
    /// connection whose session was registered under another generation registers it again, so
    /// presence and the session list come back without a reconnect. In-process state is never lost.
    fn generation(&self) -> Option<u64> {
        Some(0)
    }
}
