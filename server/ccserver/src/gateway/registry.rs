//! Which connections this gateway holds, by user and by session. Sharded so fan-out from many
//! publishers does not contend on one lock.
//!
//! Fan-out looks up every recipient of every event, so this is the gateway's hottest map: a
//! fixed-seed `foldhash` instead of SipHash (the keys are ids we issued, not attacker-chosen
//! strings that could force collisions cheaply — and a shard's map still grows its table), and
//! [`Registry::for_users`] takes each shard's lock once per event instead of once per recipient.
//! Profiled at 500 recipients per event, per-recipient SipHash, locking and key compares were a
//! fifth of the server's CPU.

use super::handle::ConnHandle;
use cc_core::ids::{AppId, SessionId, UserId};
use foldhash::fast::FixedState;
use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hash};
use std::sync::{Arc, RwLock};

const SHARDS: usize = 64;

type Map<K, V> = HashMap<K, V, FixedState>;

/// Keyed by user id alone (no allocation on lookup); entries of other apps are filtered out.
pub struct Registry {
    users: Vec<RwLock<Map<UserId, Vec<Arc<ConnHandle>>>>>,
    sessions: Vec<RwLock<Map<SessionId, Arc<ConnHandle>>>>,
}

/// The shard takes bits the maps themselves do not use for bucket or tag selection (low and top
/// bits), so keys within one shard still spread over their map.
fn shard_of(key: &(impl Hash + ?Sized)) -> usize {
    ((FixedState::default().hash_one(key) >> 32) as usize) % SHARDS
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
    pub fn for_user(&self, app_id: &AppId, user_id: &UserId, f: impl FnMut(&Arc<ConnHandle>)) {
        self.for_users(app_id, std::slice::from_ref(user_id), f);
    }

    /// Run `f` on each connection of each of `users`, taking each shard's read lock once (f must
    /// not block). Users are visited grouped by shard, not in the order given.
    pub fn for_users(&self, app_id: &AppId, users: &[UserId], mut f: impl FnMut(&Arc<ConnHandle>)) {
        let mut by_shard: Vec<(usize, &UserId)> =
            users.iter().map(|user| (shard_of(user), user)).collect();
        by_shard.sort_unstable_by_key(|(shard, _)| *shard);
        for run in by_shard.chunk_by(|a, b| a.0 == b.0) {
            let Ok(map) = self.users[run[0].0].read() else {
                continue;
            };
            for (_, user_id) in run {
                if let Some(list) = map.get(*user_id) {
                    list.iter()
                        .filter(|handle| handle.app_id == *app_id)
                        .for_each(&mut f);
                }
            }
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

    /// Open connections, without collecting them.
    pub fn len(&self) -> usize {
        self.sessions
            .iter()
            .filter_map(|shard| shard.read().ok())
            .map(|map| map.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(app: &str, user: &str, session: &str) -> Arc<ConnHandle> {
        Arc::new(ConnHandle::new(app.into(), user.into(), session.into(), 4).0)
    }

    #[test]
    fn fan_out_reaches_every_connection_of_every_listed_user_of_the_app_once() {
        let registry = Registry::default();
        let mut handles = Vec::new();
        for user in 0..300 {
            // Two devices each, plus a same-named user of another app that must not be reached.
            for device in 0..2 {
                let h = handle("a", &format!("u{user}"), &format!("s{user}-{device}"));
                registry.insert(&h);
                handles.push(h);
            }
            registry.insert(&handle("b", &format!("u{user}"), &format!("other{user}")));
        }
        let users: Vec<UserId> = (0..300)
            .step_by(3)
            .map(|u| UserId::from(format!("u{u}").as_str()))
            .collect();
        let mut reached: Vec<String> = Vec::new();
        registry.for_users(&"a".into(), &users, |h| {
            reached.push(h.session_id.0.clone());
        });
        reached.sort();
        let mut expected: Vec<String> = (0..300)
            .step_by(3)
            .flat_map(|u| [format!("s{u}-0"), format!("s{u}-1")])
            .collect();
        expected.sort();
        assert_eq!(reached, expected);
        assert_eq!(registry.len(), 900);

        registry.remove(&handles[0]);
        let mut reached = Vec::new();
        registry.for_user(&"a".into(), &"u0".into(), |h| {
            reached.push(h.session_id.0.clone());
        });
        assert_eq!(reached, vec!["s0-1".to_owned()]);
        assert_eq!(registry.len(), 899);
    }
}
