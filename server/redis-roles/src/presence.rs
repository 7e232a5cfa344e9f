//! Sessions role: device sessions, online status, typing throttles, rate buckets and revoked tokens, shared by
//! every replica through Redis with TTLs.
//!
//! * A session lives in `<p>sess:<app>:<session>` (its [`SessionInfo`]) and in its user's sorted set
//!   `<p>{app|user}:sessions` scored by expiry; both expire with the session's token (plus a minute), so the
//!   sessions of a crashed gateway disappear by themselves. Online = the set has an unexpired member; the
//!   coming-online / going-offline transitions are decided by one script on that set, so two devices racing
//!   cannot both "come online".
//! * When Redis fails, rate limits and typing throttles fall back to this replica's in-process state (per
//!   replica, but still limits), revoked tokens are also remembered locally, and sessions are treated as
//!   absent: presence degrades, chat keeps working.

use crate::breaker::Breaker;
use crate::config::{ConnectError, RedisRoleConfig};
use crate::conn::RedisConn;
use crate::keys::user_tag;
use async_trait::async_trait;
use cc_core::ids::{AppId, ConversationId, SessionId, UserId, now_ms};
use cc_core::inproc::InProcessPresence;
use cc_core::presence::{Presence, RateDecision, SessionInfo, Transition};
use redis::Script;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// How long a session outlives its token's expiry before Redis forgets it.
const SESSION_GRACE_MS: i64 = 60_000;
/// How long "last seen" is remembered.
const LAST_SEEN_TTL_MS: i64 = 30 * 24 * 3_600 * 1_000;

static REGISTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
        local before = redis.call('ZCARD', KEYS[1])
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        redis.call('PEXPIREAT', KEYS[1], last[2])
        return before
        ",
    )
});

static UNREGISTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local removed = redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        local after = redis.call('ZCARD', KEYS[1])
        redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
        return {removed, after}
        ",
    )
});

/// Token bucket: ARGV capacity, refill per millisecond, now. Returns 0 when a token was taken, else the
/// milliseconds until one is available.
static TAKE_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local capacity = tonumber(ARGV[1])
        local rate = tonumber(ARGV[2])
        local now = tonumber(ARGV[3])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(state[1]) or capacity
        local at = tonumber(state[2]) or now
        tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
        local wait = 0
        if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
        redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
        return wait
        ",
    )
});

/// The stored form of a [`SessionInfo`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSession {
    app_id: String,
    session_id: String,
    user_id: String,
    device: String,
    connected_at_ms: i64,
    token_id: String,
    token_expires_at_ms: i64,
}

impl From<&SessionInfo> for StoredSession {
    fn from(s: &SessionInfo) -> Self {
        Self {
            app_id: s.app_id.0.clone(),
            session_id: s.session_id.0.clone(),
            user_id: s.user_id.0.clone(),
            device: s.device.clone(),
            connected_at_ms: s.connected_at_ms,
            token_id: s.token_id.clone(),
            token_expires_at_ms: s.token_expires_at_ms,
        }
    }
}

impl From<StoredSession> for SessionInfo {
    fn from(s: StoredSession) -> Self {
        Self {
            app_id: AppId(s.app_id),
            session_id: SessionId(s.session_id),
            user_id: UserId(s.user_id),
            device: s.device,
            connected_at_ms: s.connected_at_ms,
            token_id: s.token_id,
            token_expires_at_ms: s.token_expires_at_ms,
        }
    }
}

pub struct RedisPresence {
    connection: RedisConn,
    prefix: String,
    /// Degraded mode for limits and revocations while Redis fails.
    local: InProcessPresence,
    breaker: Breaker,
}

impl RedisPresence {
    pub async fn connect(config: &RedisRoleConfig) -> Result<Self, ConnectError> {
        Ok(Self {
            connection: config.connect().await?,
            prefix: config.key_prefix.clone(),
            local: InProcessPresence::new(),
            breaker: Breaker::new(1_000),
        })
    }

    fn session_key(&self, app: &AppId, session: &SessionId) -> String {
        format!("{}sess:{app}:{session}", self.prefix)
    }

    fn sessions_key(&self, app: &AppId, user: &UserId) -> String {
        format!("{}:sessions", user_tag(&self.prefix, app, user))
    }

    fn seen_key(&self, app: &AppId, user: &UserId) -> String {
        format!("{}:seen", user_tag(&self.prefix, app, user))
    }

    fn warn(&self, operation: &str, error: &redis::RedisError) {
        self.breaker.failed();
        tracing::warn!(%error, operation, "Redis sessions role failed; degrading");
    }

    async fn load(&self, key: &str) -> redis::RedisResult<Option<SessionInfo>> {
        let mut connection = self.connection.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut connection)
            .await?;
        Ok(text
            .and_then(|t| serde_json::from_str::<StoredSession>(&t).ok())
            .map(SessionInfo::from))
    }
}

#[async_trait]
impl Presence for RedisPresence {
    fn generation(&self) -> Option<u64> {
        self.breaker.allows().then(|| self.breaker.failures())
    }

    async fn register(&self, session: SessionInfo) -> Transition {
        let now = now_ms();
        let expires = session.token_expires_at_ms.max(now) + SESSION_GRACE_MS;
        if !self.breaker.allows() {
            return Transition::Unchanged;
        }
        let mut connection = self.connection.clone();
        let stored = serde_json::to_string(&StoredSession::from(&session)).unwrap_or_default();
        let saved: redis::RedisResult<()> = redis::cmd("SET")
            .arg(self.session_key(&session.app_id, &session.session_id))
            .arg(stored)
            .arg("PX")
            .arg(expires - now)
            .query_async(&mut connection)
            .await;
        if let Err(error) = saved {
            self.warn("register", &error);
            return Transition::Unchanged;
        }
        let before: redis::RedisResult<i64> = REGISTER
            .key(self.sessions_key(&session.app_id, &session.user_id))
            .arg(&session.session_id.0)
            .arg(expires)
            .arg(now)
            .invoke_async(&mut connection)
            .await;
        match before {
            Ok(0) => Transition::CameOnline,
            Ok(_) => Transition::Unchanged,
            Err(error) => {
                self.warn("register", &error);
                Transition::Unchanged
            }
        }
    }

    async fn unregister(
        &self,
        app_id: &AppId,
        session_id: &SessionId,
        now_ms: i64,
    ) -> Option<(SessionInfo, Transition)> {
        if !self.breaker.allows() {
            return None;
        }
        let key = self.session_key(app_id, session_id);
        let session = match self.load(&key).await {
            Ok(found) => found?,
            Err(error) => {
                self.warn("unregister", &error);
                return None;
            }
        };
        if !self.breaker.allows() {
            return Some((session, Transition::Unchanged));
        }
        let mut connection = self.connection.clone();
        let outcome: redis::RedisResult<(i64, i64)> = UNREGISTER
            .key(self.sessions_key(app_id, &session.user_id))
            .key(self.seen_key(app_id, &session.user_id))
            .arg(&session_id.0)
            .arg(now_ms)
            .arg(LAST_SEEN_TTL_MS)
            .invoke_async(&mut connection)
            .await;
        let _: redis::RedisResult<i64> = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut connection)
            .await;
        match outcome {
            Ok((1, 0)) => Some((session, Transition::WentOffline)),
            Ok((0, _)) => None,
            Ok(_) => Some((session, Transition::Unchanged)),
            Err(error) => {
                self.warn("unregister", &error);
                Some((session, Transition::Unchanged))
            }
        }
    }

    async fn session(&self, app_id: &AppId, session_id: &SessionId) -> Option<SessionInfo> {
        if !self.breaker.allows() {
            return None;
        }
        self.load(&self.session_key(app_id, session_id))
            .await
            .unwrap_or_else(|error| {
                self.warn("session", &error);
                None
            })
    }

    async fn sessions_of(&self, app_id: &AppId, user_id: &UserId) -> Vec<SessionInfo> {
        if !self.breaker.allows() {
            return Vec::new();
        }
        let mut connection = self.connection.clone();
        let ids: Vec<String> = match redis::cmd("ZRANGEBYSCORE")
            .arg(self.sessions_key(app_id, user_id))
            .arg(now_ms())
            .arg("+inf")
            .query_async(&mut connection)
            .await
        {
            Ok(ids) => ids,
            Err(error) => {
                self.warn("sessions_of", &error);
                return Vec::new();
            }
        };
        // Session keys live in different Cluster slots: one GET each, concurrently.
        let loads = ids
            .iter()
            .map(|id| self.load_owned(self.session_key(app_id, &SessionId(id.clone()))));
        futures_util::future::join_all(loads)
            .await
            .into_iter()
            .filter_map(|found| found.ok().flatten())
            .collect()
    }

    async fn is_online(&self, app_id: &AppId, user_id: &UserId) -> bool {
        if !self.breaker.allows() {
            return false;
        }
        let mut connection = self.connection.clone();
        let counted = redis::cmd("ZCOUNT")
            .arg(self.sessions_key(app_id, user_id))
            .arg(now_ms())
            .arg("+inf")
            .query_async::<i64>(&mut connection)
            .await;
        match counted {
            Ok(count) => count > 0,
            Err(error) => {
                self.warn("is_online", &error);
                false
            }
        }
    }

    async fn last_seen_ms(&self, app_id: &AppId, user_id: &UserId) -> Option<i64> {
        if !self.breaker.allows() {
            return None;
        }
        let mut connection = self.connection.clone();
        redis::cmd("GET")
            .arg(self.seen_key(app_id, user_id))
            .query_async::<Option<i64>>(&mut connection)
            .await
            .unwrap_or_else(|error| {
                self.warn("last_seen", &error);
                None
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
        let key = format!(
            "{}:typing:{conversation_id}",
            user_tag(&self.prefix, app_id, user_id)
        );
        if !self.breaker.allows() {
            return self
                .local
                .allow_typing(app_id, user_id, conversation_id, now_ms, interval_ms)
                .await;
        }
        let mut connection = self.connection.clone();
        let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(interval_ms.max(1))
            .query_async(&mut connection)
            .await;
        match set {
            Ok(reply) => reply.is_some(),
            Err(error) => {
                self.warn("allow_typing", &error);
                self.local
                    .allow_typing(app_id, user_id, conversation_id, now_ms, interval_ms)
                    .await
            }
        }
    }

    async fn take_message_token(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        now_ms: i64,
        per_sec: u32,
        burst: u32,
    ) -> RateDecision {
        let key = format!("{}:bucket", user_tag(&self.prefix, app_id, user_id));
        if !self.breaker.allows() {
            return self
                .local
                .take_message_token(app_id, user_id, now_ms, per_sec, burst)
                .await;
        }
        let mut connection = self.connection.clone();
        let wait: redis::RedisResult<i64> = TAKE_TOKEN
            .key(key)
            .arg(burst.max(1))
            .arg(f64::from(per_sec.max(1)) / 1000.0)
            .arg(now_ms)
            .invoke_async(&mut connection)
            .await;
        match wait {
            Ok(0) => Ok(()),
            Ok(wait) => Err(wait.max(1) as u64),
            Err(error) => {
                self.warn("take_message_token", &error);
                self.local
                    .take_message_token(app_id, user_id, now_ms, per_sec, burst)
                    .await
            }
        }
    }

    async fn deny_token(&self, token_id: &str, until_ms: i64) {
        self.local.deny_token(token_id, until_ms).await;
        let ttl = until_ms - now_ms();
        if ttl <= 0 {
            return;
        }
        if !self.breaker.allows() {
            return;
        }
        let mut connection = self.connection.clone();
        let saved: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("{}deny:{token_id}", self.prefix))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .query_async(&mut connection)
            .await;
        if let Err(error) = saved {
            self.warn("deny_token", &error);
        }
    }

    async fn is_token_denied(&self, token_id: &str, now_ms: i64) -> bool {
        if self.local.is_token_denied(token_id, now_ms).await {
            return true;
        }
        if !self.breaker.allows() {
            return false;
        }
        let mut connection = self.connection.clone();
        let exists = redis::cmd("EXISTS")
            .arg(format!("{}deny:{token_id}", self.prefix))
            .query_async::<i64>(&mut connection)
            .await;
        match exists {
            Ok(count) => count > 0,
            Err(error) => {
                // Fail open: during an outage only tokens revoked through another replica get through, and
                // only until their (short) expiry.
                self.warn("is_token_denied", &error);
                false
            }
        }
    }
}

impl RedisPresence {
    async fn load_owned(&self, key: String) -> redis::RedisResult<Option<SessionInfo>> {
        self.load(&key).await
    }
}
