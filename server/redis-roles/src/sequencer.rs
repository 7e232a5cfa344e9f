//! Per-conversation ordering of live `message_created` events across replicas.
//!
//! Two replicas commit `seq` n and n+1 of one conversation in that order, but their publications can reach a
//! gateway the other way round; and a replica that dies between commit and publish leaves a hole. The contract
//! says a connection gets a conversation's messages in increasing `seq` with no silent gap, so every event goes
//! through this sequencer before the sinks: in-order events pass at once, an early one is held until the
//! missing ones arrive, and a hole older than `hold` is filled from the store (the committed truth). A hole is
//! always fillable: `seq` n+1 commits only after n did. So when the store cannot be read (overloaded, down), the
//! lane keeps holding and asks again every `hold`: its connections get the conversation late, never with a
//! silent gap. Only a replica without a store (unit tests) releases past a hole.
//! Duplicates of delivered events (a relay republishing) are dropped; events released past a hole that are found
//! later still go out, late rather than never.
//!
//! A lane is created by the first event this replica sees of a conversation, and that event need not be the
//! lowest one in flight: replica A commits `seq` 7, replica B commits 8 and offers it locally at once, and A's
//! publication of 7 arrives after. Starting the lane at 8 would drop 7 as "already delivered". So a new lane
//! (unless its first event is `seq` 1) starts by asking the store for what was committed just before its first
//! event — the messages created in the last [`START_WINDOW_MS`], which are the only ones that can still be in
//! flight — and delivers from the oldest of those. Connections that resumed skip what their replay already sent.

use cc_core::bus::EventSink;
use cc_core::events::{DomainEvent, Envelope};
use cc_core::ids::{AppId, ConversationId};
use cc_core::store::{HistoryPage, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

type LaneKey = (AppId, ConversationId);

struct Lane {
    /// The next `seq` to deliver.
    next: i64,
    held: BTreeMap<i64, Arc<Envelope>>,
    /// When the oldest held event arrived.
    holding_since: Option<Instant>,
    /// `seq`s given up on (released past): delivered late if they ever come.
    skipped: BTreeSet<i64>,
    touched: Instant,
    /// New lane whose first `seq` is not known yet: everything is held until the store said what came
    /// before (see the module comment).
    starting: bool,
    /// Wall-clock creation time, for the start window.
    created_ms: i64,
    /// After a failed or short store read: not asked again before this.
    retry_at: Option<Instant>,
    /// Since when a hole outlived a store read (see [`GIVE_UP`]).
    stalled_since: Option<Instant>,
}

pub(crate) struct Sequencer {
    lanes: Mutex<HashMap<LaneKey, Lane>>,
    sinks: RwLock<Vec<Arc<dyn EventSink>>>,
    filler: OnceLock<Arc<dyn Store>>,
    hold: Duration,
}

/// Lanes idle longer than this are forgotten (their next event starts a new lane).
const IDLE_LANE: Duration = Duration::from_secs(120);
const MAX_LANES: usize = 200_000;
/// A new lane also delivers messages committed this long before it was created: one published by another
/// replica can arrive after a later one (clocks of replicas agree within a fraction of this).
pub(crate) const START_WINDOW_MS: i64 = 10_000;
/// A hole the store answered for but could not fill for this long is released past (the clients see the gap
/// and resume). It cannot happen while `seq`s commit in order; this only bounds what a bug would hold.
const GIVE_UP: Duration = Duration::from_secs(60);
/// At most this many earlier messages are looked at when a lane starts.
const START_LOOKBACK: u32 = 200;

fn message_key(envelope: &Envelope) -> Option<(LaneKey, i64)> {
    match &envelope.event {
        DomainEvent::MessageCreated { message } => Some((
            (envelope.app_id.clone(), message.conversation_id.clone()),
            message.seq,
        )),
        _ => None,
    }
}

impl Sequencer {
    pub(crate) fn new(hold: Duration) -> Self {
        Self {
            lanes: Mutex::new(HashMap::new()),
            sinks: RwLock::default(),
            filler: OnceLock::new(),
            hold,
        }
    }

    pub(crate) fn subscribe(&self, sink: Arc<dyn EventSink>) {
        if let Ok(mut sinks) = self.sinks.write() {
            sinks.push(sink);
        }
    }

    pub(crate) fn set_filler(&self, store: Arc<dyn Store>) {
        let _ = self.filler.set(store);
    }

    pub(crate) fn sinks(&self) -> Vec<Arc<dyn EventSink>> {
        self.sinks.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn deliver_all(&self, ready: &[Arc<Envelope>]) {
        if ready.is_empty() {
            return;
        }
        let sinks = self.sinks();
        for envelope in ready {
            for sink in &sinks {
                sink.deliver(envelope);
            }
        }
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<LaneKey, Lane>> {
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one event; delivers what is in order (under the lock, so deliveries of a lane never interleave).
    pub(crate) fn offer(&self, envelope: Arc<Envelope>) {
        let Some((key, seq)) = message_key(&envelope) else {
            self.deliver_all(&[envelope]);
            return;
        };
        let mut lanes = self.lanes();
        let now = Instant::now();
        if lanes.len() > MAX_LANES {
            lanes.retain(|_, lane| lane.held.is_empty() && now - lane.touched < IDLE_LANE);
        }
        let lane = lanes.entry(key).or_insert_with(|| Lane {
            next: seq,
            held: BTreeMap::new(),
            holding_since: None,
            skipped: BTreeSet::new(),
            touched: now,
            // Nothing comes before seq 1: such a lane starts at once.
            starting: seq > 1,
            created_ms: cc_core::ids::now_ms(),
            retry_at: None,
            stalled_since: None,
        });
        lane.touched = now;
        let mut ready = Vec::new();
        if lane.starting {
            lane.held.entry(seq).or_insert(envelope);
            lane.holding_since.get_or_insert(now);
        } else if seq == lane.next {
            lane.next += 1;
            ready.push(envelope);
            while let Some(next) = lane.held.remove(&lane.next) {
                lane.next += 1;
                ready.push(next);
            }
            lane.holding_since = (!lane.held.is_empty()).then_some(now);
        } else if seq > lane.next {
            lane.held.entry(seq).or_insert(envelope);
            lane.holding_since.get_or_insert(now);
        } else if lane.skipped.remove(&seq) {
            ready.push(envelope);
        }
        self.deliver_all(&ready);
    }

    /// Lanes whose hole is older than `hold`: (key, last delivered seq, first held seq).
    fn due(&self) -> Vec<(LaneKey, i64, i64)> {
        let now = Instant::now();
        self.lanes()
            .iter()
            .filter(|(_, lane)| lane.retry_at.is_none_or(|at| now >= at))
            .filter(|(_, lane)| {
                lane.starting
                    || lane
                        .holding_since
                        .is_some_and(|since| now - since >= self.hold)
            })
            .filter_map(|(key, lane)| {
                let first = *lane.held.keys().next()?;
                Some((key.clone(), lane.next - 1, first))
            })
            .collect()
    }

    /// Starts new lanes and fills due holes from the store, or releases past holes when it cannot.
    pub(crate) async fn fill_due(&self) {
        for (key, after, first_held) in self.due() {
            let starting = self.lanes().get(&key).is_some_and(|lane| lane.starting);
            if starting {
                self.start_lane(&key, first_held).await;
                continue;
            }
            let missing = u32::try_from(first_held - after - 1)
                .unwrap_or(u32::MAX)
                .min(1_000);
            let (fetched, past_holes) = match self.filler.get() {
                Some(store) => match store
                    .history(&key.0, &key.1, HistoryPage::After(after), missing)
                    .await
                {
                    Ok(fetched) => (fetched, false),
                    Err(error) => {
                        tracing::warn!(%error, "live gap not filled from the store yet; holding");
                        self.retry_later(&key);
                        continue;
                    }
                },
                None => (Vec::new(), true),
            };
            let mut lanes = self.lanes();
            let Some(lane) = lanes.get_mut(&key) else {
                continue;
            };
            let now = Instant::now();
            let stalled = lane
                .stalled_since
                .is_some_and(|since| now - since >= GIVE_UP);
            let before = lane.next;
            let ready = Self::release(lane, fetched, past_holes || stalled);
            if lane.held.is_empty() {
                lane.retry_at = None;
                lane.stalled_since = None;
            } else {
                lane.retry_at = Some(now + self.hold);
                // Only a hole that made no progress at all counts towards giving up.
                if lane.next > before {
                    lane.stalled_since = Some(now);
                } else {
                    lane.stalled_since.get_or_insert(now);
                }
            }
            self.deliver_all(&ready);
        }
    }

    /// Finds where a new lane begins (the oldest message committed within the start window before its first
    /// held event), then delivers from there.
    async fn start_lane(&self, key: &LaneKey, first_held: i64) {
        let created_ms = self.lanes().get(key).map_or(0, |lane| lane.created_ms);
        let earlier = match self.filler.get() {
            Some(store) => match store
                .history(
                    &key.0,
                    &key.1,
                    HistoryPage::Before(first_held),
                    START_LOOKBACK,
                )
                .await
            {
                Ok(mut earlier) => {
                    earlier.sort_by_key(|message| message.seq);
                    // Commit order is seq order but creation stamps come from several clocks: start at the
                    // first recent one and keep everything after it.
                    let cutoff = created_ms - START_WINDOW_MS;
                    let from = earlier
                        .iter()
                        .position(|message| message.created_at_ms >= cutoff)
                        .unwrap_or(earlier.len());
                    earlier.split_off(from)
                }
                Err(error) => {
                    tracing::warn!(%error, "new live lane not checked against the store yet; holding");
                    self.retry_later(key);
                    return;
                }
            },
            None => Vec::new(),
        };
        let mut lanes = self.lanes();
        let Some(lane) = lanes.get_mut(key) else {
            return;
        };
        lane.starting = false;
        lane.retry_at = None;
        lane.next = earlier
            .first()
            .map_or(first_held, |message| message.seq)
            .min(lane.held.keys().next().copied().unwrap_or(first_held));
        let ready = Self::release(lane, earlier, false);
        self.deliver_all(&ready);
    }

    fn retry_later(&self, key: &LaneKey) {
        if let Some(lane) = self.lanes().get_mut(key) {
            lane.retry_at = Some(Instant::now() + self.hold.max(Duration::from_millis(50)));
        }
    }

    /// Delivers `fetched` messages that continue the lane, then the held events that follow in order; with
    /// `past_holes`, also what is held beyond a hole the store could not fill (the clients then see the gap).
    fn release(
        lane: &mut Lane,
        fetched: Vec<cc_core::model::Message>,
        past_holes: bool,
    ) -> Vec<Arc<Envelope>> {
        let mut ready = Vec::new();
        let Some(template) = lane.held.values().next().cloned() else {
            lane.holding_since = None;
            return ready;
        };
        for message in fetched {
            if message.seq == lane.next {
                lane.held.remove(&message.seq);
                lane.next += 1;
                ready.push(Arc::new(Envelope {
                    app_id: template.app_id.clone(),
                    recipients: template.recipients.clone(),
                    event: DomainEvent::MessageCreated { message },
                    at_ms: template.at_ms,
                }));
            }
        }
        while let Some((&seq, _)) = lane.held.iter().next() {
            if seq < lane.next {
                lane.held.remove(&seq);
                continue;
            }
            if seq > lane.next {
                if !past_holes {
                    break;
                }
                tracing::warn!(from = lane.next, to = seq - 1, "live gap released unfilled");
                lane.skipped.extend(lane.next..seq);
                lane.next = seq;
            }
            if let Some(envelope) = lane.held.remove(&seq) {
                ready.push(envelope);
            }
            lane.next = seq + 1;
        }
        lane.holding_since = (!lane.held.is_empty()).then(Instant::now);
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cc_core::events::Recipients;
    use cc_core::model::Message;

    #[derive(Default)]
    struct Seen(Mutex<Vec<i64>>);
    impl EventSink for Seen {
        fn deliver(&self, envelope: &Arc<Envelope>) {
            if let DomainEvent::MessageCreated { message } = &envelope.event {
                self.0.lock().expect("lock").push(message.seq);
            }
        }
    }

    fn created(seq: i64) -> Arc<Envelope> {
        let message = Message {
            app_id: "a".into(),
            conversation_id: "c".into(),
            id: format!("m{seq}").as_str().into(),
            seq,
            sender_id: "u".into(),
            client_msg_id: format!("{seq}"),
            body: cc_protocol::MessageBody::Text { text: "x".into() },
            parent_id: None,
            reply_count: 0,
            mentions: vec![],
            reactions: BTreeMap::new(),
            created_at_ms: 0,
            edited_at_ms: None,
            deleted: false,
        };
        Arc::new(Envelope {
            app_id: "a".into(),
            recipients: Recipients::None,
            event: DomainEvent::MessageCreated { message },
            at_ms: 0,
        })
    }

    #[tokio::test]
    async fn early_events_wait_duplicates_drop_and_holes_are_released_without_a_store() {
        let sequencer = Sequencer::new(Duration::ZERO);
        let seen = Arc::new(Seen::default());
        sequencer.subscribe(seen.clone());
        for seq in [5, 7, 6, 6, 8] {
            sequencer.offer(created(seq));
        }
        assert!(
            seen.0.lock().expect("lock").is_empty(),
            "a new lane waits to learn where it starts"
        );
        sequencer.fill_due().await;
        assert_eq!(*seen.0.lock().expect("lock"), vec![5, 6, 7, 8]);
        sequencer.offer(created(6));
        assert_eq!(seen.0.lock().expect("lock").len(), 4, "duplicates drop");
        sequencer.offer(created(10));
        assert_eq!(seen.0.lock().expect("lock").len(), 4, "10 waits for 9");
        sequencer.fill_due().await;
        sequencer.offer(created(9));
        assert_eq!(*seen.0.lock().expect("lock"), vec![5, 6, 7, 8, 10, 9]);
    }

    #[tokio::test]
    async fn a_lane_that_starts_at_seq_1_delivers_at_once() {
        let sequencer = Sequencer::new(Duration::from_secs(60));
        let seen = Arc::new(Seen::default());
        sequencer.subscribe(seen.clone());
        sequencer.offer(created(1));
        sequencer.offer(created(2));
        assert_eq!(*seen.0.lock().expect("lock"), vec![1, 2]);
    }
}
