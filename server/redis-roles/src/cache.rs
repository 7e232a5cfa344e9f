//! Cache role: a [`Store`] decorator keeping hot conversations in Redis — metadata, memberships, member ids and
//! the most recent messages — so most sends and resumes do not touch the database.
//!
//! Correctness rules (the database stays the truth):
//! * Every key of a conversation shares its `{app|conversation}` hash tag (one Cluster slot, so scripts may
//!   touch several).
//! * A write that changes what is cached (conversation patch, membership, edit, delete, reaction) bumps the
//!   conversation's `ver` and drops its entries. Readers fill the cache only if `ver` did not move between their
//!   database read and their write, so a slow reader cannot put back what a writer just invalidated.
//! * `last_seq` is kept in its own key, raised (never lowered) by every append and by every database read; a
//!   cached conversation is used only together with it.
//! * Recent history is a sorted set that is always one contiguous run of `seq`s ending at `hi`: an append that
//!   does not extend the run restarts it. Reads are served only from inside the run, else from the database.
//! * Receipt cursors (frequent) only drop the member's entry; a racing reader may re-cache an older cursor for
//!   at most the TTL. Any Redis error falls through to the database.

use crate::breaker::Breaker;
use crate::config::{ConnectError, RedisRoleConfig};
use crate::conn::RedisConn;
use crate::keys::conversation_tag;
use async_trait::async_trait;
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::lanes::LoadLanes;
use cc_core::model::{
    Access, ApiKeyRecord, App, Appended, Conversation, Member, MemberConversation, Message,
    NewMessage, Role, User,
};
use cc_core::store::{ConversationPatch, HistoryPage, Store, StoreResult};
use cc_protocol::MessageBody;
use redis::Script;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// Lifetime of cached entries: bounds how long an entry whose invalidation failed can be served.
    pub ttl: Duration,
    /// Messages kept per conversation.
    pub recent_messages: u32,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            recent_messages: 200,
        }
    }
}

/// KEYS ver, target; ARGV expected ver, value, ttl ms. Sets only if ver did not move.
static FILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
        return 1
        ",
    )
});

/// KEYS ver, hash; ARGV expected ver, field, value, ttl ms.
static FILL_FIELD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
        redis.call('PEXPIRE', KEYS[2], ARGV[4])
        return 1
        ",
    )
});

/// KEYS seq; ARGV seq, ttl ms. Raises the known last seq.
static RAISE_SEQ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
        if tonumber(ARGV[1]) > current then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        else
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 1
        ",
    )
});

/// KEYS ver, recent, hi, seq; ARGV expected ver, seq, message, keep, ttl ms.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local seq = tonumber(ARGV[2])
        local current = tonumber(redis.call('GET', KEYS[4]) or '-1')
        if seq > current then redis.call('SET', KEYS[4], seq, 'PX', tonumber(ARGV[5]) * 2) end
        if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
        local hi = tonumber(redis.call('GET', KEYS[3]) or '-1')
        if hi ~= seq - 1 then redis.call('DEL', KEYS[2]) end
        redis.call('ZADD', KEYS[2], seq, ARGV[3])
        redis.call('SET', KEYS[3], seq, 'PX', ARGV[5])
        redis.call('PEXPIRE', KEYS[2], ARGV[5])
        local keep = tonumber(ARGV[4])
        local count = redis.call('ZCARD', KEYS[2])
        if count > keep then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, count - keep - 1) end
        return 1
        ",
    )
});

/// KEYS ver, then every cached key; bumps ver and drops the rest.
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('INCR', KEYS[1])
        redis.call('PEXPIRE', KEYS[1], 86400000)
        for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
        return 1
        ",
    )
});

/// KEYS recent, hi, seq; ARGV mode ('after'|'before'), bound, limit. Returns the messages, or false when the
/// run does not cover the page (an 'after' page shorter than `limit` must end at the known last seq).
static READ_RECENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        if #first == 0 then return false end
        local lo = tonumber(first[2])
        local hi = tonumber(redis.call('GET', KEYS[2]) or '-1')
        local bound = tonumber(ARGV[2])
        local limit = tonumber(ARGV[3])
        local known = tonumber(redis.call('GET', KEYS[3]) or '-1')
        if ARGV[1] == 'after' then
            if bound + 1 < lo or bound + 1 > hi then return false end
            local found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. bound, hi, 'LIMIT', 0, limit)
            -- A short page must reach the last committed seq: two writers' appends can land in the other
            -- order and leave the run ending below it, and the live sequencer fills holes with this read.
            if #found < limit and hi < known then return false end
            return found
        end
        if bound - 1 > hi then
            if hi ~= known then return false end
            bound = hi + 1
        end
        local oldest = math.max(1, bound - limit)
        if oldest < lo then return false end
        return redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. bound, '-inf', 'LIMIT', 0, limit)
        ",
    )
});

/// Hits and misses, for metrics and tests.
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub errors: AtomicU64,
    /// Member lists read from the database: concurrent misses of one conversation load it once.
    pub member_loads: AtomicU64,
}

pub struct CachedStore<S> {
    inner: S,
    connection: RedisConn,
    prefix: String,
    settings: CacheSettings,
    counters: CacheCounters,
    breaker: Breaker,
    load_lanes: LoadLanes,
}

struct Keys {
    ver: String,
    meta: String,
    seq: String,
    members: String,
    ids: String,
    recent: String,
    hi: String,
}

impl<S: Store> CachedStore<S> {
    pub async fn connect(
        inner: S,
        config: &RedisRoleConfig,
        settings: CacheSettings,
    ) -> Result<Self, ConnectError> {
        Ok(Self {
            inner,
            connection: config.connect().await?,
            prefix: config.key_prefix.clone(),
            settings,
            counters: CacheCounters::default(),
            breaker: Breaker::new(1_000),
            load_lanes: LoadLanes::default(),
        })
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    fn keys(&self, app: &AppId, conversation: &ConversationId) -> Keys {
        let tag = conversation_tag(&self.prefix, app, conversation);
        Keys {
            ver: format!("{tag}:ver"),
            meta: format!("{tag}:meta"),
            seq: format!("{tag}:seq"),
            members: format!("{tag}:members"),
            ids: format!("{tag}:ids"),
            recent: format!("{tag}:recent"),
            hi: format!("{tag}:hi"),
        }
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.settings.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    fn failed(&self, operation: &str, error: &redis::RedisError) {
        self.breaker.failed();
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%error, operation, "Redis cache unavailable; using the database");
    }

    /// May Redis be written now (the breaker is closed)?
    fn writable(&self) -> bool {
        self.breaker.allows()
    }

    /// May cached entries be trusted now? Not within a TTL of a failure: invalidations may have been lost
    /// meanwhile, so reads go to the database (and refresh the entries) until every older entry expired.
    fn readable(&self) -> bool {
        self.breaker.allows()
            && !self
                .breaker
                .failed_within(i64::try_from(self.ttl_ms()).unwrap_or(i64::MAX))
    }

    /// The cached member ids, else the version to fill them under (`None`: do not fill).
    async fn cached_member_ids(&self, keys: &Keys) -> Result<Arc<[UserId]>, Option<String>> {
        let mut connection = self.connection.clone();
        let read: redis::RedisResult<(Option<String>, Option<String>)> = redis::cmd("MGET")
            .arg(&keys.ids)
            .arg(&keys.ver)
            .query_async(&mut connection)
            .await;
        match read {
            Ok((Some(text), _)) => serde_json::from_str::<Vec<UserId>>(&text)
                .map(Arc::from)
                .map_err(|_| None),
            Ok((None, version)) => Err(Some(version.unwrap_or_default())),
            Err(error) => {
                self.failed("member_ids", &error);
                Err(None)
            }
        }
    }

    #[allow(clippy::unnecessary_wraps)] // returned straight from Store methods
    fn hit<T>(&self, value: T) -> StoreResult<T> {
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
        Ok(value)
    }

    async fn version(&self, keys: &Keys) -> Option<String> {
        if !self.writable() {
            return None;
        }
        let mut connection = self.connection.clone();
        match redis::cmd("GET")
            .arg(&keys.ver)
            .query_async::<Option<String>>(&mut connection)
            .await
        {
            Ok(version) => Some(version.unwrap_or_default()),
            Err(error) => {
                self.failed("version", &error);
                None
            }
        }
    }

    async fn fill(&self, keys: &Keys, version: Option<String>, key: &str, value: String) {
        let Some(version) = version else { return };
        let mut connection = self.connection.clone();
        let filled: redis::RedisResult<i64> = FILL
            .key(&keys.ver)
            .key(key)
            .arg(version)
            .arg(value)
            .arg(self.ttl_ms())
            .invoke_async(&mut connection)
            .await;
        if let Err(error) = filled {
            self.failed("fill", &error);
        }
    }

    async fn raise_seq(&self, keys: &Keys, seq: i64) {
        if !self.writable() {
            return;
        }
        let mut connection = self.connection.clone();
        let raised: redis::RedisResult<i64> = RAISE_SEQ
            .key(&keys.seq)
            .arg(seq)
            .arg(self.ttl_ms().saturating_mul(2))
            .invoke_async(&mut connection)
            .await;
        if let Err(error) = raised {
            self.failed("raise_seq", &error);
        }
    }

    async fn invalidate(&self, app: &AppId, conversation: &ConversationId) {
        let keys = self.keys(app, conversation);
        if !self.writable() {
            // Redis is down: it cannot be told; reads stay off the cache for a TTL after it is back.
            self.breaker.failed();
            return;
        }
        let mut connection = self.connection.clone();
        let done: redis::RedisResult<i64> = INVALIDATE
            .key(&keys.ver)
            .key(&keys.meta)
            .key(&keys.members)
            .key(&keys.ids)
            .key(&keys.recent)
            .key(&keys.hi)
            .invoke_async(&mut connection)
            .await;
        if let Err(error) = done {
            // The entries expire within the TTL; until then they may be stale (see the module comment).
            tracing::warn!(%error, %conversation, "Redis cache invalidation failed");
            self.breaker.failed();
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn cached_conversation(&self, keys: &Keys) -> Option<Conversation> {
        if !self.readable() {
            return None;
        }
        let mut connection = self.connection.clone();
        let (meta, seq): (Option<String>, Option<i64>) = match redis::cmd("MGET")
            .arg(&keys.meta)
            .arg(&keys.seq)
            .query_async(&mut connection)
            .await
        {
            Ok(found) => found,
            Err(error) => {
                self.failed("get_conversation", &error);
                return None;
            }
        };
        let mut conversation: Conversation = serde_json::from_str(&meta?).ok()?;
        conversation.last_seq = conversation.last_seq.max(seq?);
        Some(conversation)
    }

    async fn cached_recent(
        &self,
        keys: &Keys,
        page: HistoryPage,
        limit: u32,
    ) -> Option<Vec<Message>> {
        if !self.readable() {
            return None;
        }
        let (mode, bound) = match page {
            HistoryPage::After(after) => ("after", after),
            HistoryPage::Before(before) => ("before", before),
        };
        let mut connection = self.connection.clone();
        let found: redis::RedisResult<Option<Vec<String>>> = READ_RECENT
            .key(&keys.recent)
            .key(&keys.hi)
            .key(&keys.seq)
            .arg(mode)
            .arg(bound)
            .arg(limit)
            .invoke_async(&mut connection)
            .await;
        match found {
            Ok(Some(texts)) => texts
                .iter()
                .map(|text| serde_json::from_str::<Message>(text).ok())
                .collect(),
            Ok(None) => None,
            Err(error) => {
                self.failed("history", &error);
                None
            }
        }
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[async_trait]
impl<S: Store> Store for CachedStore<S> {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn create_app(&self, app: &App) -> StoreResult<()> {
        self.inner.create_app(app).await
    }

    async fn get_app(&self, app_id: &AppId) -> StoreResult<Option<App>> {
        self.inner.get_app(app_id).await
    }

    async fn find_app_by_name(&self, name: &str) -> StoreResult<Option<App>> {
        self.inner.find_app_by_name(name).await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.inner.insert_api_key(key).await
    }

    async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.inner.get_api_key(key_id).await
    }

    async fn list_api_keys(&self, app_id: &AppId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.inner.list_api_keys(app_id).await
    }

    async fn revoke_api_key(&self, app_id: &AppId, key_id: &str, at_ms: i64) -> StoreResult<bool> {
        self.inner.revoke_api_key(app_id, key_id, at_ms).await
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        self.inner.insert_user(user).await
    }

    async fn get_user(&self, app_id: &AppId, user_id: &UserId) -> StoreResult<Option<User>> {
        self.inner.get_user(app_id, user_id).await
    }

    async fn list_users(
        &self,
        app_id: &AppId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        self.inner.list_users(app_id, after, limit).await
    }

    async fn update_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> StoreResult<Option<User>> {
        self.inner
            .update_user(app_id, user_id, name, metadata)
            .await
    }

    async fn set_user_active(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        active: bool,
    ) -> StoreResult<bool> {
        self.inner.set_user_active(app_id, user_id, active).await
    }

    async fn create_conversation(
        &self,
        conversation: &Conversation,
        members: &[(UserId, Role)],
    ) -> StoreResult<Conversation> {
        self.inner.create_conversation(conversation, members).await
    }

    async fn get_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        let keys = self.keys(app_id, id);
        if let Some(conversation) = self.cached_conversation(&keys).await {
            return self.hit(Some(conversation));
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let version = self.version(&keys).await;
        let found = self.inner.get_conversation(app_id, id).await?;
        if let Some(conversation) = &found {
            self.raise_seq(&keys, conversation.last_seq).await;
            self.fill(&keys, version, &keys.meta, json(conversation))
                .await;
        }
        Ok(found)
    }

    async fn update_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        patch: &ConversationPatch,
    ) -> StoreResult<Option<Conversation>> {
        let updated = self.inner.update_conversation(app_id, id, patch).await;
        self.invalidate(app_id, id).await;
        updated
    }

    async fn list_member_conversations(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        after: Option<&ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<MemberConversation>> {
        self.inner
            .list_member_conversations(app_id, user_id, after, limit)
            .await
    }

    /// Every send's permission check: the conversation's entry and the user's member field in one
    /// round trip; on a miss, the two reads that fill them.
    async fn access(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Access>> {
        if self.readable() {
            let keys = self.keys(app_id, id);
            let mut connection = self.connection.clone();
            let read: redis::RedisResult<(Option<String>, Option<String>)> = redis::pipe()
                .cmd("GET")
                .arg(&keys.meta)
                .cmd("HGET")
                .arg(&keys.members)
                .arg(&user_id.0)
                .query_async(&mut connection)
                .await;
            match read {
                Ok((Some(meta), Some(member))) => {
                    let conversation = serde_json::from_str::<Conversation>(&meta).ok();
                    // "-" records a known non-member.
                    let role = if member == "-" {
                        Some(None)
                    } else {
                        serde_json::from_str::<Member>(&member)
                            .ok()
                            .map(|member| Some(member.role))
                    };
                    if let (Some(conversation), Some(role)) = (conversation, role) {
                        return self.hit(Some(Access {
                            kind: conversation.kind,
                            visibility: conversation.visibility,
                            role,
                        }));
                    }
                }
                Ok(_) => {}
                Err(error) => self.failed("access", &error),
            }
        }
        cc_core::store::access_from_rows(self, app_id, id, user_id).await
    }

    async fn get_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Member>> {
        let keys = self.keys(app_id, id);
        let mut connection = self.connection.clone();
        if !self.readable() {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            let found = self.inner.get_member(app_id, id, user_id).await?;
            return Ok(found);
        }
        // The version is read with the entry: a miss fills only if no writer moved it since.
        let read: redis::RedisResult<(Option<String>, Option<String>)> = redis::pipe()
            .cmd("HGET")
            .arg(&keys.members)
            .arg(&user_id.0)
            .cmd("GET")
            .arg(&keys.ver)
            .query_async(&mut connection)
            .await;
        let version = match read {
            Ok((Some(text), _)) => {
                // "-" records a known non-member.
                if text == "-" {
                    return self.hit(None);
                }
                if let Ok(member) = serde_json::from_str::<Member>(&text) {
                    return self.hit(Some(member));
                }
                None
            }
            Ok((None, version)) => Some(version.unwrap_or_default()),
            Err(error) => {
                self.failed("get_member", &error);
                None
            }
        };
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let found = self.inner.get_member(app_id, id, user_id).await?;
        if let Some(version) = version {
            let value = found.as_ref().map_or_else(|| "-".to_owned(), json);
            let filled: redis::RedisResult<i64> = FILL_FIELD
                .key(&keys.ver)
                .key(&keys.members)
                .arg(version)
                .arg(&user_id.0)
                .arg(value)
                .arg(self.ttl_ms())
                .invoke_async(&mut connection)
                .await;
            if let Err(error) = filled {
                self.failed("get_member fill", &error);
            }
        }
        Ok(found)
    }

    async fn list_members(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>> {
        self.inner.list_members(app_id, id, after, limit).await
    }

    async fn member_ids(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<std::sync::Arc<[UserId]>> {
        let keys = self.keys(app_id, id);
        if !self.readable() {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return self.inner.member_ids(app_id, id).await;
        }
        let version = match self.cached_member_ids(&keys).await {
            Ok(ids) => return self.hit(ids),
            Err(version) => version,
        };
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        // One load per conversation at a time in this replica; who waited for it finds it filled.
        // (Without a version to fill under, nothing will be filled: no point in waiting.)
        let (_lane, version) = match version {
            Some(_) => {
                let lane = self.load_lanes.lane(app_id, id).await;
                match self.cached_member_ids(&keys).await {
                    Ok(ids) => return Ok(ids),
                    Err(version) => (Some(lane), version),
                }
            }
            None => (None, None),
        };
        self.counters.member_loads.fetch_add(1, Ordering::Relaxed);
        let ids = self.inner.member_ids(app_id, id).await?;
        self.fill(&keys, version, &keys.ids, json(&&ids[..])).await;
        Ok(ids)
    }

    async fn upsert_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        role: Role,
        at_ms: i64,
    ) -> StoreResult<bool> {
        let changed = self
            .inner
            .upsert_member(app_id, id, user_id, role, at_ms)
            .await;
        self.invalidate(app_id, id).await;
        changed
    }

    async fn remove_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        let changed = self.inner.remove_member(app_id, id, user_id).await;
        self.invalidate(app_id, id).await;
        changed
    }

    async fn set_ban(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        banned: bool,
        at_ms: i64,
    ) -> StoreResult<bool> {
        self.inner.set_ban(app_id, id, user_id, banned, at_ms).await
    }

    async fn is_banned(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        self.inner.is_banned(app_id, id, user_id).await
    }

    async fn co_member_ids(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        self.inner.co_member_ids(app_id, user_id, limit).await
    }

    fn group_commits_appends(&self) -> bool {
        self.inner.group_commits_appends()
    }

    async fn append_message(&self, message: &NewMessage) -> StoreResult<Appended> {
        let keys = self.keys(&message.app_id, &message.conversation_id);
        // Read before the commit: an edit or delete committed after ours moves it and stops our cache write.
        let version = self.version(&keys).await;
        let appended = self.inner.append_message(message).await?;
        if let (Appended::Created(created), Some(version)) = (&appended, version) {
            let mut connection = self.connection.clone();
            let done: redis::RedisResult<i64> = APPEND
                .key(&keys.ver)
                .key(&keys.recent)
                .key(&keys.hi)
                .key(&keys.seq)
                .arg(version)
                .arg(created.seq)
                .arg(json(created))
                .arg(self.settings.recent_messages.max(1))
                .arg(self.ttl_ms())
                .invoke_async(&mut connection)
                .await;
            if let Err(error) = done {
                self.failed("append", &error);
            }
        }
        Ok(appended)
    }

    async fn get_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
    ) -> StoreResult<Option<Message>> {
        self.inner.get_message(app_id, id, message_id).await
    }

    async fn history(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        page: HistoryPage,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let keys = self.keys(app_id, id);
        if let Some(messages) = self.cached_recent(&keys, page, limit).await {
            return self.hit(messages);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        self.inner.history(app_id, id, page, limit).await
    }

    async fn replies(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        parent: &MessageId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.inner.replies(app_id, id, parent, after, limit).await
    }

    async fn edit_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        body: &MessageBody,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        let edited = self
            .inner
            .edit_message(app_id, id, message_id, body, at_ms)
            .await;
        self.invalidate(app_id, id).await;
        edited
    }

    async fn tombstone_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        let deleted = self
            .inner
            .tombstone_message(app_id, id, message_id, at_ms)
            .await;
        self.invalidate(app_id, id).await;
        deleted
    }

    async fn set_reaction(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        user_id: &UserId,
        emoji: &str,
        present: bool,
    ) -> StoreResult<(bool, i64)> {
        let outcome = self
            .inner
            .set_reaction(app_id, id, message_id, user_id, emoji, present)
            .await;
        if !matches!(outcome, Ok((false, _))) {
            self.invalidate(app_id, id).await;
        }
        outcome
    }

    async fn advance_cursors(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        delivered: Option<i64>,
        read: Option<i64>,
    ) -> StoreResult<Option<(i64, i64)>> {
        let moved = self
            .inner
            .advance_cursors(app_id, id, user_id, delivered, read)
            .await;
        let keys = self.keys(app_id, id);
        if !self.writable() {
            self.breaker.failed();
            return moved;
        }
        let mut connection = self.connection.clone();
        let dropped: redis::RedisResult<i64> = redis::cmd("HDEL")
            .arg(&keys.members)
            .arg(&user_id.0)
            .query_async(&mut connection)
            .await;
        if let Err(error) = dropped {
            self.failed("advance_cursors", &error);
        }
        moved
    }
}
