//! Device sessions and presence: a session is one live WebSocket connection.

use super::ChatService;
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Recipients};
use crate::ids::{AppId, SessionId, UserId, now_ms};
use crate::presence::{SessionInfo, Transition};

impl ChatService {
    async fn announce_presence(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        online: bool,
        last_seen_ms: i64,
    ) {
        let recipients = match self
            .store
            .co_member_ids(app_id, user_id, self.limits.presence_fanout_max)
            .await
        {
            Ok(ids) => ids,
            Err(error) => {
                // Presence is best effort: a store hiccup must not fail the connection.
                tracing::warn!(%error, "presence fan-out skipped");
                return;
            }
        };
        let event = DomainEvent::PresenceChanged {
            user_id: user_id.clone(),
            online,
            last_seen_ms,
        };
        self.publish(app_id, Recipients::Users(recipients.into()), event)
            .await;
    }

    pub async fn session_opened(&self, session: SessionInfo) {
        let (app_id, user_id) = (session.app_id.clone(), session.user_id.clone());
        if self.presence.register(session).await == Transition::CameOnline {
            self.announce_presence(&app_id, &user_id, true, now_ms())
                .await;
        }
    }

    pub async fn session_closed(&self, app_id: &AppId, session_id: &SessionId) {
        let now = now_ms();
        if let Some((session, Transition::WentOffline)) =
            self.presence.unregister(app_id, session_id, now).await
        {
            self.announce_presence(app_id, &session.user_id, false, now)
                .await;
        }
    }

    pub async fn sessions_of(&self, app_id: &AppId, user_id: &UserId) -> Vec<SessionInfo> {
        self.presence.sessions_of(app_id, user_id).await
    }

    /// Revoke one session: its token is refused from now on and its connection is closed (4001).
    /// `owner`: when a user revokes, only their own sessions exist for them.
    pub async fn revoke_session(
        &self,
        app_id: &AppId,
        session_id: &SessionId,
        owner: Option<&UserId>,
    ) -> DomainResult<()> {
        let session = self
            .presence
            .session(app_id, session_id)
            .await
            .ok_or_else(|| DomainError::not_found("session"))?;
        if owner.is_some_and(|owner| *owner != session.user_id) {
            return Err(DomainError::not_found("session"));
        }
        self.presence
            .deny_token(
                &session.token_id,
                session.token_expires_at_ms + crate::auth::jwt::LEEWAY_SECS * 1000,
            )
            .await;
        let event = DomainEvent::SessionRevoked {
            session_id: session_id.clone(),
            user_id: session.user_id.clone(),
        };
        self.publish(app_id, Recipients::Session(session_id.clone()), event)
            .await;
        Ok(())
    }
}
