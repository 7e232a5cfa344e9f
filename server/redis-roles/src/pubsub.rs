//! The live bus: local sinks at once, other replicas through one Redis pub/sub channel.
//!
//! Every replica publishes each committed event on `<prefix>events` and subscribes to it; a replica skips its
//! own events (tagged with its origin id) since it delivered them locally already. Each gateway filters the
//! events by the connections it holds, so one channel serves any number of replicas (an event costs each
//! gateway a registry lookup; sharding the channel by app is the next step if that ever shows in profiles).
//! Redis Cluster propagates PUBLISH to every node, so the subscriber may listen on any node.
//!
//! Redis pub/sub keeps nothing: while the subscription is down, events from other replicas are missed. So the
//! moment it drops, and again when it is back, every sink hears
//! [`EventSink::continuity_lost`](cc_core::bus::EventSink::continuity_lost): the gateway then makes its clients
//! resume from the store, where every acknowledged message is.

use crate::breaker::Breaker;
use crate::config::{ConnectError, RedisRoleConfig};
use crate::conn::RedisConn;
use crate::sequencer::Sequencer;
use async_trait::async_trait;
use cc_core::bus::{Bus, BusError, EventSink};
use cc_core::events::Envelope;
use futures_util::StreamExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

type Sinks = Arc<Sequencer>;

/// How long an early event waits for the ones before it before the hole is filled from the store.
const HOLD: Duration = Duration::from_millis(100);

pub struct RedisLiveBus {
    origin: String,
    channel: String,
    publisher: RedisConn,
    sinks: Sinks,
    state: Arc<SubscriberState>,
    task: tokio::task::JoinHandle<()>,
    breaker: Breaker,
}

/// What the subscriber task reports, for readiness and tests.
#[derive(Default)]
struct SubscriberState {
    subscribed: AtomicBool,
    /// Times the sinks were told continuity was lost.
    losses: AtomicU64,
}

fn sinks_of(sinks: &Sinks) -> Vec<Arc<dyn EventSink>> {
    sinks.sinks()
}

impl RedisLiveBus {
    /// Connects the publisher and starts the subscriber (which reconnects by itself, forever).
    pub async fn start(config: &RedisRoleConfig) -> Result<Self, ConnectError> {
        let publisher = config.connect().await?;
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let channel = format!("{}events", config.key_prefix);
        let sinks: Sinks = Arc::new(Sequencer::new(HOLD));
        let filling = Arc::downgrade(&sinks);
        tokio::spawn(async move {
            // Ends with the bus (the last strong reference).
            while let Some(sequencer) = filling.upgrade() {
                sequencer.fill_due().await;
                drop(sequencer);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let state = Arc::new(SubscriberState::default());
        let task = tokio::spawn(subscribe_forever(
            config.urls(),
            config.connect_timeout,
            channel.clone(),
            origin.clone(),
            sinks.clone(),
            state.clone(),
        ));
        Ok(Self {
            origin,
            channel,
            publisher,
            sinks,
            state,
            task,
            breaker: Breaker::new(1_000),
        })
    }

    /// True while the subscription to the other replicas is up.
    pub fn is_subscribed(&self) -> bool {
        self.state.subscribed.load(Ordering::Acquire)
    }

    /// Lets the bus fill holes in a conversation's live sequence from the store (see the sequencer).
    pub fn set_gap_filler(&self, store: Arc<dyn cc_core::store::Store>) {
        self.sinks.set_filler(store);
    }

    /// How many times sinks were told that events may have been missed.
    pub fn continuity_losses(&self) -> u64 {
        self.state.losses.load(Ordering::Acquire)
    }
}

impl Drop for RedisLiveBus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl Bus for RedisLiveBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        let payload = serde_json::to_string(&envelope)
            .map_err(|error| BusError::Unavailable(format!("event not serialisable: {error}")))?;
        self.sinks.offer(Arc::new(envelope));
        if !self.breaker.allows() {
            return Err(BusError::Unavailable(
                "Redis pub/sub failed less than a second ago; not retried yet".into(),
            ));
        }
        let mut connection = self.publisher.clone();
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(format!("{}\n{payload}", self.origin))
            .query_async::<i64>(&mut connection)
            .await
            .map_err(|error| {
                self.breaker.failed();
                BusError::Unavailable(format!("Redis PUBLISH on {}: {error}", self.channel))
            })?;
        Ok(())
    }

    fn subscribe(&self, sink: Arc<dyn EventSink>) {
        self.sinks.subscribe(sink);
    }
}

fn announce_loss(sinks: &Sinks, state: &SubscriberState) {
    state.losses.fetch_add(1, Ordering::AcqRel);
    for sink in sinks_of(sinks) {
        sink.continuity_lost();
    }
}

async fn subscribe_forever(
    urls: Vec<String>,
    connect_timeout: Duration,
    channel: String,
    origin: String,
    sinks: Sinks,
    state: Arc<SubscriberState>,
) {
    let mut attempt: usize = 0;
    let mut was_subscribed = false;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let connected = tokio::time::timeout(connect_timeout, async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let mut pubsub = match connected {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => {
                tracing::warn!(%error, channel, "Redis pub/sub subscription failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => {
                tracing::warn!(channel, "Redis pub/sub subscription timed out; retrying");
                continue;
            }
        };
        state.subscribed.store(true, Ordering::Release);
        if was_subscribed {
            // Back after a gap: whatever other replicas published meanwhile was missed.
            announce_loss(&sinks, &state);
        }
        was_subscribed = true;
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            let Some((from, body)) = payload.split_once('\n') else {
                continue;
            };
            if from == origin {
                continue;
            }
            match serde_json::from_str::<Envelope>(body) {
                Ok(envelope) => sinks.offer(Arc::new(envelope)),
                Err(error) => tracing::error!(%error, "undecodable event on the live channel"),
            }
        }
        state.subscribed.store(false, Ordering::Release);
        tracing::warn!(
            channel,
            "Redis pub/sub subscription lost; clients are told to resume"
        );
        announce_loss(&sinks, &state);
    }
}
