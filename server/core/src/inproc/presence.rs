//! In-process presence: mutex-guarded maps, pruned as they are used.

use crate::ids::{AppId, ConversationId, SessionId, UserId};
use crate::presence::{Presence, RateDecision, SessionInfo, Transition};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

type UserKey = (AppId, UserId);

#[derive(Default)]
struct State {
    sessions: HashMap<(AppId, SessionId), SessionInfo>,
    by_user: HashMap<UserKey, Vec<SessionId>>,
    last_seen: HashMap<UserKey, i64>,
    typing: HashMap<(AppId, UserId, ConversationId), i64>,
    buckets: HashMap<UserKey, (f64, i64)>,
    denied_tokens: HashMap<String, i64>,
}

#[derive(Default)]
pub struct InProcessPresence {
    state: Mutex<State>,
}

impl InProcessPresence {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means another task panicked mid-update of ephemeral data: keep going.
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

#[async_trait]
impl Presence for InProcessPresence {
    async fn register(&self, session: SessionInfo) -> Transition {
        self.with(|state| {
            let key = (session.app_id.clone(), session.user_id.clone());
            let devices = state.by_user.entry(key).or_default();
            devices.push(session.session_id.clone());
            let transition = if devices.len() == 1 {
                Transition::CameOnline
            } else {
                Transition::Unchanged
            };
            state.sessions.insert(
                (session.app_id.clone(), session.session_id.clone()),
                session,
            );
            transition
        })
    }

    async fn unregister(
        &self,
        app_id: &AppId,
        session_id: &SessionId,
        now_ms: i64,
    ) -> Option<(SessionInfo, Transition)> {
        self.with(|state| {
            let session = state
                .sessions
                .remove(&(app_id.clone(), session_id.clone()))?;
            let key = (app_id.clone(), session.user_id.clone());
            let mut transition = Transition::Unchanged;
            if let Some(devices) = state.by_user.get_mut(&key) {
                devices.retain(|id| id != session_id);
                if devices.is_empty() {
                    state.by_user.remove(&key);
                    transition = Transition::WentOffline;
                }
            }
            state.last_seen.insert(key, now_ms);
            Some((session, transition))
        })
    }

    async fn session(&self, app_id: &AppId, session_id: &SessionId) -> Option<SessionInfo> {
        self.with(|state| {
            state
                .sessions
                .get(&(app_id.clone(), session_id.clone()))
                .cloned()
        })
    }

    async fn sessions_of(&self, app_id: &AppId, user_id: &UserId) -> Vec<SessionInfo> {
        self.with(|state| {
            let ids = state
                .by_user
                .get(&(app_id.clone(), user_id.clone()))
                .cloned()
                .unwrap_or_default();
            ids.into_iter()
                .filter_map(|id| state.sessions.get(&(app_id.clone(), id)).cloned())
                .collect()
        })
    }

    async fn is_online(&self, app_id: &AppId, user_id: &UserId) -> bool {
        self.with(|state| {
            state
                .by_user
                .contains_key(&(app_id.clone(), user_id.clone()))
        })
    }

    async fn last_seen_ms(&self, app_id: &AppId, user_id: &UserId) -> Option<i64> {
        self.with(|state| {
            state
                .last_seen
                .get(&(app_id.clone(), user_id.clone()))
                .copied()
        })
    }

    async fn allow_typing(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        conversation_id: &ConversationId,
        now_ms: i64,
        interval_ms: u64,
    ) -> bool {
        self.with(|state| {
            let interval = i64::try_from(interval_ms).unwrap_or(i64::MAX);
            if state.typing.len() > 100_000 {
                state.typing.retain(|_, at| now_ms - *at < interval);
            }
            let key = (app_id.clone(), user_id.clone(), conversation_id.clone());
            match state.typing.get(&key) {
                Some(at) if now_ms - *at < interval => false,
                _ => {
                    state.typing.insert(key, now_ms);
                    true
                }
            }
        })
    }

    async fn take_message_token(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        now_ms: i64,
        per_sec: u32,
        burst: u32,
    ) -> RateDecision {
        self.with(|state| {
            let capacity = f64::from(burst.max(1));
            let rate = f64::from(per_sec.max(1)) / 1000.0;
            let (tokens, at) = state
                .buckets
                .entry((app_id.clone(), user_id.clone()))
                .or_insert((capacity, now_ms));
            let refilled = (*tokens + (now_ms - *at).max(0) as f64 * rate).min(capacity);
            *at = now_ms;
            if refilled >= 1.0 {
                *tokens = refilled - 1.0;
                Ok(())
            } else {
                *tokens = refilled;
                Err(((1.0 - refilled) / rate).ceil() as u64)
            }
        })
    }

    async fn deny_token(&self, token_id: &str, until_ms: i64) {
        self.with(|state| {
            state.denied_tokens.insert(token_id.to_owned(), until_ms);
        });
    }

    async fn is_token_denied(&self, token_id: &str, now_ms: i64) -> bool {
        self.with(|state| {
            state.denied_tokens.retain(|_, until| *until > now_ms);
            state.denied_tokens.contains_key(token_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> SessionInfo {
        SessionInfo {
            app_id: "a".into(),
            session_id: id.into(),
            user_id: "u".into(),
            device: "d".into(),
            connected_at_ms: 0,
            token_id: "t".into(),
            token_expires_at_ms: 10,
        }
    }

    #[tokio::test]
    async fn online_is_aggregated_over_devices() {
        let presence = InProcessPresence::new();
        assert_eq!(
            presence.register(session("s1")).await,
            Transition::CameOnline
        );
        assert_eq!(
            presence.register(session("s2")).await,
            Transition::Unchanged
        );
        let app = AppId::from("a");
        assert_eq!(
            presence
                .unregister(&app, &"s1".into(), 5)
                .await
                .map(|r| r.1),
            Some(Transition::Unchanged)
        );
        assert!(presence.is_online(&app, &"u".into()).await);
        assert_eq!(
            presence
                .unregister(&app, &"s2".into(), 6)
                .await
                .map(|r| r.1),
            Some(Transition::WentOffline)
        );
        assert_eq!(presence.last_seen_ms(&app, &"u".into()).await, Some(6));
    }

    #[tokio::test]
    async fn bucket_refuses_past_burst_and_refills() {
        let presence = InProcessPresence::new();
        let (app, user) = (AppId::from("a"), UserId::from("u"));
        for _ in 0..3 {
            assert!(
                presence
                    .take_message_token(&app, &user, 0, 1, 3)
                    .await
                    .is_ok()
            );
        }
        assert_eq!(
            presence.take_message_token(&app, &user, 0, 1, 3).await,
            Err(1000)
        );
        assert!(
            presence
                .take_message_token(&app, &user, 1000, 1, 3)
                .await
                .is_ok()
        );
    }
}
