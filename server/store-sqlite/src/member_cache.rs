//! Member lists of conversations, cached: every message's fan-out needs them, and in embedded mode
//! this process is the only writer of memberships, so invalidating on its own writes is exact.

use cc_core::ids::{AppId, ConversationId, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Above this many cached conversations the cache starts afresh (a crude but bounded policy).
const MAX_ENTRIES: usize = 20_000;

type Key = (AppId, ConversationId);

#[derive(Debug, Default)]
pub(crate) struct MemberCache {
    entries: Mutex<HashMap<Key, Arc<Vec<UserId>>>>,
    /// Bumped by every membership write, so a read that raced with a write is not cached.
    generation: AtomicU64,
}

impl MemberCache {
    pub(crate) fn get(&self, app_id: &AppId, id: &ConversationId) -> Option<Arc<Vec<UserId>>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(&(app_id.clone(), id.clone())).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remember a list read at `generation`, unless a membership write happened since.
    pub(crate) fn put(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        members: Arc<Vec<UserId>>,
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
        entries.insert((app_id.clone(), id.clone()), members);
    }

    pub(crate) fn invalidate(&self, app_id: &AppId, id: &ConversationId) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(&(app_id.clone(), id.clone()));
    }
}
