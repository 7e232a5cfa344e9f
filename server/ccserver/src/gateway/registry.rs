//! Which connections this gateway holds, by user and by session. Sharded so fan-out from many
//! publishers does not contend on one lock.

use super::handle::ConnHandle;
use cc_core::ids::{AppId, SessionId, UserId};
use std::collections::HashMap;
use std::hash::{Hash, Hasher as _};
use std::sync::{Arc, RwLock};

const SHARDS: usize = 64;

/// Keyed by user id alone (no allocation on lookup); entries of other apps are filtered out.
pub struct Registry {
    users: Vec<RwLock<HashMap<UserId, Vec<Arc<ConnHandle>>>>>,
    sessions: Vec<RwLock<HashMap<SessionId, Arc<ConnHandle>>>>,
}

fn shard_of(key: &impl Hash) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() as usize) % SHARDS
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            users: (0..SHARDS).map(|_| RwLock::default()).collect(),
            sessions: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }
}

impl Registry {
    pub fn insert(&self, handle: &Arc<ConnHandle>) {
        if let Ok(mut map) = self.users[shard_of(&handle.user_id)].write() {
            map.entry(handle.user_id.clone())
                .or_default()
                .push(Arc::clone(handle));
        }
        if let Ok(mut map) = self.sessions[shard_of(&handle.session_id)].write() {
            map.insert(handle.session_id.clone(), Arc::clone(handle));
        }
    }

    pub fn remove(&self, handle: &ConnHandle) {
        if let Ok(mut map) = self.users[shard_of(&handle.user_id)].write()
            && let Some(list) = map.get_mut(&handle.user_id)
        {
            list.retain(|other| other.session_id != handle.session_id);
            if list.is_empty() {
                map.remove(&handle.user_id);
            }
        }
        if let Ok(mut map) = self.sessions[shard_of(&handle.session_id)].write() {
            map.remove(&handle.session_id);
        }
    }

    /// Run `f` on each connection of the user, under a read lock (f must not block).
    pub fn for_user(&self, app_id: &AppId, user_id: &UserId, mut f: impl FnMut(&Arc<ConnHandle>)) {
        if let Ok(map) = self.users[shard_of(user_id)].read()
            && let Some(list) = map.get(user_id)
        {
            list.iter()
                .filter(|handle| handle.app_id == *app_id)
                .for_each(&mut f);
        }
    }

    pub fn session(&self, session_id: &SessionId) -> Option<Arc<ConnHandle>> {
        self.sessions[shard_of(session_id)]
            .read()
            .ok()?
            .get(session_id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<ConnHandle>> {
        self.sessions
            .iter()
            .filter_map(|shard| shard.read().ok())
            .flat_map(|map| map.values().cloned().collect::<Vec<_>>())
            .collect()
    }
}
