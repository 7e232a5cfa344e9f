//! Conversations' access facts and member lists, cached: every operation's permission check and every
//! message's fan-out need them, and in embedded mode this process is the only writer, so invalidating
//! on its own writes keeps the cache exact.

use cc_core::ids::{AppId, ConversationId, UserId};
use cc_core::lanes::LoadLanes;
use cc_core::model::{Access, ConversationKind, Role};
use cc_protocol::rest::Visibility;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Above this many cached conversations the cache starts afresh (a crude but bounded policy).
const MAX_ENTRIES: usize = 20_000;

type Key = (AppId, ConversationId);

/// One conversation as the cache holds it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) kind: ConversationKind,
    pub(crate) visibility: Visibility,
    pub(crate) roles: HashMap<UserId, Role>,
    /// The same members as `roles`, as the fan-out wants them.
    pub(crate) ids: std::sync::Arc<[UserId]>,
}

impl Entry {
    pub(crate) fn new(
        kind: ConversationKind,
        visibility: Visibility,
        members: Vec<(UserId, Role)>,
    ) -> Self {
        let ids = members.iter().map(|(user_id, _)| user_id.clone()).collect();
        Self {
            kind,
            visibility,
            roles: members.into_iter().collect(),
            ids,
        }
    }

    pub(crate) fn access(&self, user_id: &UserId) -> Access {
        Access {
            kind: self.kind,
            visibility: self.visibility,
            role: self.roles.get(user_id).copied(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct MemberCache {
    entries: Mutex<HashMap<Key, Arc<Entry>>>,
    /// Bumped by every write that changes an entry, so a read that raced with a write is not cached.
    generation: AtomicU64,
    load_lanes: LoadLanes,
    /// Entries read from the database (misses that ran the queries).
    loads: AtomicU64,
}

impl MemberCache {
    /// Held while a missing entry is read ([`LoadLanes`]).
    pub(crate) async fn load_lane(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        self.load_lanes.lane(app_id, id).await
    }

    pub(crate) fn count_load(&self) {
        self.loads.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    pub(crate) fn get(&self, app_id: &AppId, id: &ConversationId) -> Option<Arc<Entry>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(&(app_id.clone(), id.clone())).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remember an entry read at `generation`, unless a write happened since.
    pub(crate) fn put(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        entry: Arc<Entry>,
        generation: u64,
    ) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert((app_id.clone(), id.clone()), entry);
    }

    /// Called after every committed write to the conversation's visibility or members.
    pub(crate) fn invalidate(&self, app_id: &AppId, id: &ConversationId) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(&(app_id.clone(), id.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (AppId, ConversationId) {
        (AppId("a".into()), ConversationId("c".into()))
    }

    fn entry() -> Arc<Entry> {
        Arc::new(Entry::new(
            ConversationKind::Group,
            Visibility::Public,
            vec![(UserId("u".into()), Role::Owner)],
        ))
    }

    #[test]
    fn a_read_that_raced_with_a_write_is_not_kept() {
        let cache = MemberCache::default();
        let (app, id) = key();
        let before = cache.generation();
        cache.invalidate(&app, &id);
        cache.put(&app, &id, entry(), before);
        assert!(cache.get(&app, &id).is_none());
        cache.put(&app, &id, entry(), cache.generation());
        let cached = cache.get(&app, &id).expect("kept");
        assert_eq!(cached.access(&UserId("u".into())).role, Some(Role::Owner));
        assert_eq!(cached.access(&UserId("x".into())).role, None);
        cache.invalidate(&app, &id);
        assert!(cache.get(&app, &id).is_none());
    }
}
