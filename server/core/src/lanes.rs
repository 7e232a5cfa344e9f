//! Single-flight for cache fills: a cache miss loads under its key's lane, so concurrent misses of
//! one conversation run the database read once. When a run starts, thousands of senders miss the
//! same group at once, and each one reading its member list (a 500-row query) took seconds.

use crate::ids::{AppId, ConversationId};
use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
use tokio::sync::{Mutex, MutexGuard};

/// More lanes than a reader pool has connections, so loads of different conversations still run
/// side by side (two of them sharing a lane only wait for each other).
const LANES: usize = 64;

#[derive(Debug)]
pub struct LoadLanes {
    lanes: [Mutex<()>; LANES],
}

impl Default for LoadLanes {
    fn default() -> Self {
        Self {
            lanes: std::array::from_fn(|_| Mutex::new(())),
        }
    }
}

impl LoadLanes {
    /// Held while a missing entry is read; the caller looks the entry up again once it holds the
    /// lane, because the holder before it may have filled it.
    pub async fn lane(&self, app_id: &AppId, id: &ConversationId) -> MutexGuard<'_, ()> {
        self.lanes[index(app_id, id)].lock().await
    }
}

fn index(app_id: &AppId, id: &ConversationId) -> usize {
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one((&app_id.0, &id.0));
    // The remainder is below LANES, so it fits in usize.
    #[allow(clippy::cast_possible_truncation)]
    let lane = (hash % LANES as u64) as usize;
    lane
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_conversation_loads_one_at_a_time_and_others_do_not_wait() {
        let lanes = LoadLanes::default();
        let app = AppId::from("a");
        let group = ConversationId::from("c");
        let held = lanes.lane(&app, &group).await;
        assert!(lanes.lanes[index(&app, &group)].try_lock().is_err());
        let other = (0..LANES * 8)
            .map(|i| ConversationId(format!("c{i}")))
            .find(|id| index(&app, id) != index(&app, &group))
            .expect("a conversation on another lane");
        assert!(lanes.lanes[index(&app, &other)].try_lock().is_ok());
        drop(held);
        assert!(lanes.lanes[index(&app, &group)].try_lock().is_ok());
    }
}
