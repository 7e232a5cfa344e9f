//! The three Redis roles on the real servers, each on standalone Redis and on the 3-master Cluster.

mod support;

use cc_core::bus::{Bus, EventSink};
use cc_core::events::{DomainEvent, Envelope, Recipients};
use cc_core::ids::{AppId, SessionId, UserId};
use cc_core::presence::{Presence, SessionInfo, Transition};
use cc_redis::{RedisLiveBus, RedisPresence, RedisRoleConfig, RedisTarget};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use support::{Deployment, Proxy, eventually};

#[derive(Default)]
struct Collect {
    keys: Mutex<Vec<String>>,
    losses: AtomicU64,
}

impl EventSink for Collect {
    fn deliver(&self, envelope: &Arc<Envelope>) {
        if let DomainEvent::ApiKeyCreated { key_id } = &envelope.event {
            self.keys.lock().expect("lock").push(key_id.clone());
        }
    }

    fn continuity_lost(&self) {
        self.losses.fetch_add(1, Ordering::AcqRel);
    }
}

impl Collect {
    fn keys(&self) -> Vec<String> {
        self.keys.lock().expect("lock").clone()
    }
}

fn event(key: &str) -> Envelope {
    Envelope {
        app_id: "app".into(),
        recipients: Recipients::None,
        event: DomainEvent::ApiKeyCreated { key_id: key.into() },
        at_ms: 0,
    }
}

async fn live_bus(
    deployment: Deployment,
    config: &RedisRoleConfig,
) -> (RedisLiveBus, Arc<Collect>) {
    let bus = RedisLiveBus::start(config)
        .await
        .unwrap_or_else(|error| deployment.unavailable(error));
    let sink = Arc::new(Collect::default());
    bus.subscribe(sink.clone());
    eventually("the subscription", 10, || bus.is_subscribed()).await;
    (bus, sink)
}

async fn fan_out_between_replicas(deployment: Deployment) {
    let config = deployment.config("pubsub");
    let (a, at_a) = live_bus(deployment, &config).await;
    let (b, at_b) = live_bus(deployment, &config).await;
    for n in 0..20 {
        a.publish(event(&format!("a{n}")))
            .await
            .expect("publish on a");
    }
    b.publish(event("b0")).await.expect("publish on b");
    eventually("b to get a's events", 10, || at_b.keys().len() == 21).await;
    eventually("a to get b's event", 10, || at_a.keys().len() == 21).await;
    // Order per publisher is kept; a replica's own events come once (locally), never echoed back.
    let from_a: Vec<String> = at_b
        .keys()
        .into_iter()
        .filter(|k| k.starts_with('a'))
        .collect();
    assert_eq!(from_a, (0..20).map(|n| format!("a{n}")).collect::<Vec<_>>());
    assert_eq!(
        at_a.keys().iter().filter(|k| k.starts_with('a')).count(),
        20
    );
}

#[tokio::test]
async fn live_fan_out_between_replicas_standalone() {
    fan_out_between_replicas(Deployment::Standalone).await;
}

#[tokio::test]
async fn live_fan_out_between_replicas_cluster() {
    fan_out_between_replicas(Deployment::Cluster).await;
}

#[tokio::test]
async fn a_lost_subscription_is_announced_and_recovered() {
    let deployment = Deployment::Standalone;
    let direct = deployment.config("pubsub");
    let RedisTarget::Standalone(url) = &direct.target else {
        unreachable!("standalone")
    };
    let proxy = Proxy::start(url).await;
    let mut through_proxy = direct.clone();
    through_proxy.target = RedisTarget::Standalone(proxy.url.clone());
    let (cut_off, at_cut_off) = live_bus(deployment, &through_proxy).await;
    let (publisher, _) = live_bus(deployment, &direct).await;
    publisher.publish(event("before")).await.expect("publish");
    eventually("the first event", 10, || at_cut_off.keys() == ["before"]).await;

    proxy.cut();
    eventually("the loss to be announced", 10, || {
        at_cut_off.losses.load(Ordering::Acquire) >= 1
    })
    .await;
    assert!(!cut_off.is_subscribed());
    publisher.publish(event("missed")).await.expect("publish");
    // The replica behind the outage cannot publish to others, but its own sinks still get its events.
    cut_off
        .publish(event("local"))
        .await
        .expect_err("publishing through a cut connection must fail");
    assert_eq!(at_cut_off.keys(), ["before", "local"]);

    proxy.restore();
    eventually("the subscription to come back", 20, || {
        cut_off.is_subscribed()
    })
    .await;
    let losses = at_cut_off.losses.load(Ordering::Acquire);
    assert!(
        losses >= 2,
        "the reconnect must be announced too (losses = {losses})"
    );
    publisher.publish(event("after")).await.expect("publish");
    eventually("the event after the outage", 10, || {
        at_cut_off.keys().last().map(String::as_str) == Some("after")
    })
    .await;
    assert!(
        !at_cut_off.keys().contains(&"missed".to_owned()),
        "pub/sub has no replay: the sinks were told instead"
    );
}

fn session(id: &str, user: &str) -> SessionInfo {
    SessionInfo {
        app_id: "app".into(),
        session_id: id.into(),
        user_id: user.into(),
        device: "phone".into(),
        connected_at_ms: 1,
        token_id: format!("token-{id}"),
        token_expires_at_ms: cc_core::ids::now_ms() + 60_000,
    }
}

async fn presence_shared_by_replicas(deployment: Deployment) {
    let config = deployment.config("sessions");
    let connect = || async {
        RedisPresence::connect(&config)
            .await
            .unwrap_or_else(|error| deployment.unavailable(error))
    };
    let (a, b) = (connect().await, connect().await);
    let (app, user) = (AppId::from("app"), UserId::from("ann"));
    assert_eq!(
        a.register(session("s1", "ann")).await,
        Transition::CameOnline
    );
    assert_eq!(
        b.register(session("s2", "ann")).await,
        Transition::Unchanged
    );
    assert!(a.is_online(&app, &user).await);
    let mut devices: Vec<String> = b
        .sessions_of(&app, &user)
        .await
        .into_iter()
        .map(|s| s.session_id.0)
        .collect();
    devices.sort();
    assert_eq!(devices, ["s1", "s2"]);
    assert_eq!(
        b.session(&app, &SessionId::from("s1"))
            .await
            .map(|s| s.device),
        Some("phone".into())
    );
    let gone = a
        .unregister(&app, &"s2".into(), 100)
        .await
        .map(|(s, t)| (s.session_id.0, t));
    assert_eq!(gone, Some(("s2".into(), Transition::Unchanged)));
    let gone = b.unregister(&app, &"s1".into(), 200).await.map(|(_, t)| t);
    assert_eq!(gone, Some(Transition::WentOffline));
    assert!(
        a.unregister(&app, &"s1".into(), 300).await.is_none(),
        "a session goes away once"
    );
    assert!(!b.is_online(&app, &user).await);
    assert_eq!(a.last_seen_ms(&app, &user).await, Some(200));

    // Typing: one broadcast per interval per user and conversation, across replicas.
    let conversation = "c1".into();
    assert!(a.allow_typing(&app, &user, &conversation, 0, 60_000).await);
    assert!(!b.allow_typing(&app, &user, &conversation, 0, 60_000).await);
    // The message bucket is shared: 3 tokens in total, whichever replica takes them.
    let now = cc_core::ids::now_ms();
    assert!(a.take_message_token(&app, &user, now, 1, 3).await.is_ok());
    assert!(b.take_message_token(&app, &user, now, 1, 3).await.is_ok());
    assert!(a.take_message_token(&app, &user, now, 1, 3).await.is_ok());
    let refused = b.take_message_token(&app, &user, now, 1, 3).await;
    assert!(
        matches!(refused, Err(wait) if (1..=1000).contains(&wait)),
        "{refused:?}"
    );
    assert!(
        a.take_message_token(&app, &user, now + 1000, 1, 3)
            .await
            .is_ok()
    );
    // A token revoked on one replica is refused on the other.
    b.deny_token("token-x", now + 60_000).await;
    assert!(a.is_token_denied("token-x", now).await);
    assert!(!a.is_token_denied("token-y", now).await);
}

#[tokio::test]
async fn presence_is_shared_by_replicas_standalone() {
    presence_shared_by_replicas(Deployment::Standalone).await;
}

#[tokio::test]
async fn presence_is_shared_by_replicas_cluster() {
    presence_shared_by_replicas(Deployment::Cluster).await;
}
