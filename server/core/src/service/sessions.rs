//! Device sessions and presence: a session is one live WebSocket connection.

use super::ChatService;
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Recipients};
use crate::ids::{AppId, SessionId, UserId, now_ms};
use crate::presence::{SessionInfo, Transition, UserPresence};

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

    /// One user's status, aggregated over their devices.
    pub async fn user_presence(&self, app_id: &AppId, user_id: &UserId) -> UserPresence {
        let (online, last_seen_ms) = tokio::join!(
            self.presence.is_online(app_id, user_id),
            self.presence.last_seen_ms(app_id, user_id)
        );
        UserPresence {
            user_id: user_id.clone(),
            online,
            // A stored last-seen time predates the session that is live now.
            last_seen_ms: if online { None } else { last_seen_ms },
        }
    }

    /// The status of everyone `user_id` shares a conversation with: exactly the users whose changes
    /// reach them as `presence` frames, so a client that connects late learns the current state
    /// that those frames then keep up to date.
    pub async fn contacts_presence(
        &self,
        app_id: &AppId,
        user_id: &UserId,
    ) -> DomainResult<Vec<UserPresence>> {
        let mut contacts = self
            .store
            .co_member_ids(app_id, user_id, self.limits.presence_fanout_max)
            .await?;
        contacts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // Concurrent: with the Redis backend each lookup is a round trip, and a contact list holds
        // up to `presence_fanout_max` users.
        Ok(futures_util::future::join_all(
            contacts
                .iter()
                .map(|contact| self.user_presence(app_id, contact)),
        )
        .await)
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
