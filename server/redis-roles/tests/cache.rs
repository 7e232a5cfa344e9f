//! The cache role over the real MySQL-protocol store (MariaDB) and Redis (standalone and Cluster): resumes and
//! sends served from Redis, and no stale membership, body or `seq` across two replicas.

#[path = "../../store-mysql/tests/support/mod.rs"]
mod mysql_support;
mod support;

use cc_core::auth::KeyRing;
use cc_core::ids::{AppId, ConversationId, UserId};
use cc_core::inproc::{InProcessBus, InProcessPresence};
use cc_core::service::{ReplayOutcome, SendRequest};
use cc_core::store::{HistoryPage, Store};
use cc_core::{ChatService, CoreLimits, Principal};
use cc_protocol::MessageBody;
use cc_protocol::rest::{CreateConversation, CreateUser, Visibility};
use cc_redis::{CacheSettings, CachedStore};
use cc_store_mysql::MysqlStore;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use support::Deployment;

type Cached = Arc<CachedStore<MysqlStore>>;

async fn replica(
    deployment: Deployment,
    config: &cc_redis::RedisRoleConfig,
    store: MysqlStore,
) -> (Cached, Arc<ChatService>) {
    let cached = Arc::new(
        CachedStore::connect(store, config, CacheSettings::default())
            .await
            .unwrap_or_else(|error| deployment.unavailable(error)),
    );
    let keys = Arc::new(KeyRing::from_seeds(&[("k1", [3; 32], true)]));
    let limits = CoreLimits {
        messages_per_sec: 10_000,
        message_burst: 10_000,
        ..CoreLimits::default()
    };
    let service = ChatService::new(
        cached.clone(),
        Arc::new(InProcessBus::new()),
        Arc::new(InProcessPresence::new()),
        keys,
        limits,
    );
    (cached, Arc::new(service))
}

fn principal(app: &AppId, user: &str) -> Principal {
    Principal {
        app_id: app.clone(),
        user_id: UserId::from(user),
        token_id: "t".into(),
        expires_at_ms: i64::MAX,
    }
}

fn send(conversation: &ConversationId, id: &str) -> SendRequest {
    SendRequest {
        conversation_id: conversation.clone(),
        client_msg_id: id.into(),
        body: MessageBody::Text { text: id.into() },
        parent_id: None,
        mentions: vec![],
    }
}

fn misses(cached: &Cached) -> u64 {
    cached.counters().misses.load(Ordering::Relaxed)
}

async fn cache_serves_resumes_and_stays_fresh(deployment: Deployment) {
    let db = mysql_support::FreshDatabase::create("cache").await;
    let config = deployment.config("cache");
    let (a, service_a) = replica(deployment, &config, db.open().await).await;
    let (b, service_b) = replica(deployment, &config, db.open().await).await;
    let (app, _) = service_a.create_app("cache").await.expect("app");
    for user in ["alice", "bob", "carol"] {
        let create = CreateUser {
            user_id: user.into(),
            name: user.into(),
            metadata: serde_json::json!({}),
        };
        service_a.create_user(&app.id, create).await.expect("user");
    }
    let app = app.id;
    let group = CreateConversation::Group {
        name: "g".into(),
        visibility: Visibility::Private,
        password: None,
        members: vec!["bob".into(), "carol".into()],
        metadata: serde_json::json!({}),
    };
    let (conversation, _) = service_a
        .create_conversation(&principal(&app, "alice"), group)
        .await
        .expect("group");
    let conversation = conversation.id;
    // Sends alternate between the replicas; each send reads conversation, membership and member ids.
    for n in 0..40 {
        let service = if n % 2 == 0 { &service_a } else { &service_b };
        let before = misses(&b);
        service
            .send_message(
                &principal(&app, "alice"),
                send(&conversation, &format!("m{n}")),
            )
            .await
            .expect("send");
        // Warm, a send reads nothing from the database but its own transaction: the permission check
        // (one pipelined round trip) and the recipients come from Redis.
        if n == 39 {
            assert_eq!(
                misses(&b),
                before,
                "a warm send on replica b missed the cache"
            );
        }
    }
    // A resume 30 messages back, on either replica, is served without the database (once bob's membership,
    // read by his first request on each replica, is cached).
    for service in [&service_a, &service_b] {
        service
            .replay(&principal(&app, "bob"), &conversation, 40)
            .await
            .expect("warm-up replay");
    }
    let (before_a, before_b) = (misses(&a), misses(&b));
    for service in [&service_a, &service_b] {
        match service
            .replay(&principal(&app, "bob"), &conversation, 10)
            .await
            .expect("replay")
        {
            ReplayOutcome::Messages(messages) => {
                let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
                assert_eq!(seqs, (11..=40).collect::<Vec<_>>());
            }
            ReplayOutcome::Reset { .. } => panic!("unexpected reset"),
        }
    }
    assert_eq!(
        (misses(&a), misses(&b)),
        (before_a, before_b),
        "a resume inside the cached run touched the database"
    );
    // The latest page is served too, newest first.
    let latest = b
        .history(&app, &conversation, HistoryPage::Before(i64::MAX), 5)
        .await
        .expect("latest");
    assert_eq!(
        latest.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![40, 39, 38, 37, 36]
    );
    assert_eq!(misses(&b), before_b);
    // `seq` written through one replica is seen by the other at once.
    service_a
        .send_message(&principal(&app, "alice"), send(&conversation, "m40"))
        .await
        .expect("send");
    let seen = b
        .get_conversation(&app, &conversation)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(seen.last_seq, 41);

    // An edit through one replica is never served stale by the other.
    let target = a
        .history(&app, &conversation, HistoryPage::After(39), 1)
        .await
        .expect("history")[0]
        .clone();
    let body = MessageBody::Text {
        text: "edited".into(),
    };
    service_a
        .edit_message(
            &principal(&app, "alice"),
            &conversation,
            &target.id,
            body.clone(),
        )
        .await
        .expect("edit");
    let page = b
        .history(&app, &conversation, HistoryPage::After(39), 1)
        .await
        .expect("history");
    assert_eq!(page[0].body, body);
    // A removed member is refused by the other replica at once (no cached membership survives).
    assert!(
        service_b
            .send_message(&principal(&app, "carol"), send(&conversation, "c1"))
            .await
            .is_ok()
    );
    service_a
        .leave(&principal(&app, "carol"), &conversation)
        .await
        .expect("leave");
    let refused = service_b
        .send_message(&principal(&app, "carol"), send(&conversation, "c2"))
        .await;
    assert!(
        refused.is_err(),
        "a member who left could still send through the other replica"
    );
    let ids = b.member_ids(&app, &conversation).await.expect("member ids");
    assert!(!ids.contains(&UserId::from("carol")));
    assert!(
        a.counters().hits.load(Ordering::Relaxed) > 0
            && b.counters().hits.load(Ordering::Relaxed) > 0
    );
    db.drop_now().await;
}

#[tokio::test]
async fn cache_serves_resumes_and_stays_fresh_standalone() {
    cache_serves_resumes_and_stays_fresh(Deployment::Standalone).await;
}

#[tokio::test]
async fn cache_serves_resumes_and_stays_fresh_cluster() {
    cache_serves_resumes_and_stays_fresh(Deployment::Cluster).await;
}

#[tokio::test]
async fn redis_down_falls_back_to_the_database() {
    let deployment = Deployment::Standalone;
    let db = mysql_support::FreshDatabase::create("cache_down").await;
    let config = deployment.config("cache");
    let cc_redis::RedisTarget::Standalone(url) = &config.target else {
        unreachable!("standalone")
    };
    let proxy = support::Proxy::start(url).await;
    let mut through_proxy = config.clone();
    through_proxy.target = cc_redis::RedisTarget::Standalone(proxy.url.clone());
    let (cached, service) = replica(deployment, &through_proxy, db.open().await).await;
    let (app, _) = service.create_app("down").await.expect("app");
    for user in ["alice", "bob"] {
        let create = CreateUser {
            user_id: user.into(),
            name: user.into(),
            metadata: serde_json::json!({}),
        };
        service.create_user(&app.id, create).await.expect("user");
    }
    let app = app.id;
    let direct = CreateConversation::Direct {
        peer_id: "bob".into(),
    };
    let (conversation, _) = service
        .create_conversation(&principal(&app, "alice"), direct)
        .await
        .expect("direct");
    for n in 0..5 {
        service
            .send_message(
                &principal(&app, "alice"),
                send(&conversation.id, &format!("m{n}")),
            )
            .await
            .expect("send");
    }
    proxy.cut();
    // Sends and resumes keep working from the database while Redis is unreachable.
    for n in 5..10 {
        service
            .send_message(
                &principal(&app, "alice"),
                send(&conversation.id, &format!("m{n}")),
            )
            .await
            .expect("send with Redis down");
    }
    let ReplayOutcome::Messages(messages) = service
        .replay(&principal(&app, "bob"), &conversation.id, 0)
        .await
        .expect("replay")
    else {
        panic!("unexpected reset")
    };
    assert_eq!(
        messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(cached.counters().errors.load(Ordering::Relaxed) > 0);
    // Back: the run restarted at the first append after the gap, and nothing stale is served.
    proxy.restore();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let sent = service
            .send_message(&principal(&app, "alice"), send(&conversation.id, "after"))
            .await;
        let before = cached.counters().errors.load(Ordering::Relaxed);
        let page = cached
            .history(&app, &conversation.id, HistoryPage::After(0), 100)
            .await
            .expect("history");
        assert_eq!(
            page.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=11).collect::<Vec<_>>()
        );
        if sent.is_ok() && cached.counters().errors.load(Ordering::Relaxed) == before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis never came back through the proxy"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    db.drop_now().await;
}

/// When a run starts, every sender of a busy group misses its member list at once: the replica reads
/// it from the database once, and the others find it in Redis.
#[tokio::test]
async fn concurrent_misses_of_a_member_list_read_the_database_once() {
    let deployment = Deployment::Standalone;
    let db = mysql_support::FreshDatabase::create("cache_flight").await;
    let config = deployment.config("cache");
    let (cached, service) = replica(deployment, &config, db.open().await).await;
    let (app, _) = service.create_app("flight").await.expect("app");
    let members: Vec<String> = (0..50).map(|n| format!("u{n}")).collect();
    for user in &members {
        let create = CreateUser {
            user_id: user.clone(),
            name: user.clone(),
            metadata: serde_json::json!({}),
        };
        service.create_user(&app.id, create).await.expect("user");
    }
    let group = CreateConversation::Group {
        name: "g".into(),
        visibility: Visibility::Private,
        password: None,
        members: members[1..].to_vec(),
        metadata: serde_json::json!({}),
    };
    let (conversation, _) = service
        .create_conversation(&principal(&app.id, "u0"), group)
        .await
        .expect("group");
    let before = cached.counters().member_loads.load(Ordering::Relaxed);
    let reads = (0..200).map(|_| cached.member_ids(&app.id, &conversation.id));
    let lists = futures_util::future::join_all(reads).await;
    for ids in lists {
        assert_eq!(ids.expect("member ids").len(), members.len());
    }
    assert_eq!(
        cached.counters().member_loads.load(Ordering::Relaxed) - before,
        1,
        "200 concurrent misses should read the member list once"
    );
}
