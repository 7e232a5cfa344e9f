//! The domain service over the real SQLite store: seq, idempotency, unread counts, durability.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions; a failure is a test failure.

use cc_core::auth::KeyRing;
use cc_core::ids::{AppId, ConversationId, UserId};
use cc_core::inproc::{InProcessBus, InProcessPresence};
use cc_core::model::Appended;
use cc_core::service::SendRequest;
use cc_core::store::{HistoryPage, Store};
use cc_core::{ChatService, CoreLimits, Principal};
use cc_protocol::rest::{CreateConversation, CreateUser, Visibility};
use cc_protocol::{ErrorCode, MessageBody};
use cc_store_sqlite::{Durability, SqliteStore};
use std::sync::Arc;

async fn service(path: &std::path::Path) -> (Arc<ChatService>, SqliteStore) {
    let store = SqliteStore::open(path, Durability::Normal).await.unwrap();
    let keys = Arc::new(KeyRing::from_seeds(&[("k1", [3; 32], true)]));
    let limits = CoreLimits {
        messages_per_sec: 10_000,
        message_burst: 10_000,
        ..CoreLimits::default()
    };
    let service = ChatService::new(
        Arc::new(store.clone()),
        Arc::new(InProcessBus::new()),
        Arc::new(InProcessPresence::new()),
        keys,
        limits,
    );
    (Arc::new(service), store)
}

fn principal(app: &AppId, user: &str) -> Principal {
    Principal {
        app_id: app.clone(),
        user_id: UserId::from(user),
        token_id: "t".into(),
        expires_at_ms: i64::MAX,
    }
}

fn text(t: &str) -> MessageBody {
    MessageBody::Text { text: t.into() }
}

async fn setup(service: &ChatService) -> (AppId, ConversationId) {
    let (app, _) = service.create_app("test").await.unwrap();
    for user in ["alice", "bob", "carol"] {
        service
            .create_user(
                &app.id,
                CreateUser {
                    user_id: user.into(),
                    name: user.into(),
                    metadata: serde_json::json!({}),
                },
            )
            .await
            .unwrap();
    }
    let group = CreateConversation::Group {
        name: "g".into(),
        visibility: Visibility::Private,
        password: None,
        members: vec!["bob".into(), "carol".into()],
        metadata: serde_json::json!({}),
    };
    let (conversation, _) = service
        .create_conversation(&principal(&app.id, "alice"), group)
        .await
        .unwrap();
    (app.id, conversation.id)
}

fn send(conversation: &ConversationId, client_msg_id: &str, body: &str) -> SendRequest {
    SendRequest {
        conversation_id: conversation.clone(),
        client_msg_id: client_msg_id.into(),
        body: text(body),
        parent_id: None,
        mentions: vec![],
    }
}

#[tokio::test]
async fn concurrent_sends_get_gap_free_seqs_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let (service, store) = service(&path).await;
    let (app, conversation) = setup(&service).await;
    let mut tasks = Vec::new();
    for sender in ["alice", "bob", "carol"] {
        let (service, app, conversation) = (service.clone(), app.clone(), conversation.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..30 {
                service
                    .send_message(
                        &principal(&app, sender),
                        send(&conversation, &format!("{sender}-{n}"), "x"),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    store.close().await;
    let (service, _store) = self::service(&path).await;
    let history = service
        .history(
            &principal(&app, "alice"),
            &conversation,
            HistoryPage::After(0),
            200,
        )
        .await
        .unwrap();
    let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=90).collect::<Vec<_>>());
}

/// Records the `seq` of every published `message_created`, in publish order.
#[derive(Default)]
struct Published(std::sync::Mutex<Vec<i64>>);

impl cc_core::bus::EventSink for Published {
    fn deliver(&self, envelope: &Arc<cc_core::events::Envelope>) {
        if let cc_core::events::DomainEvent::MessageCreated { message } = &envelope.event {
            self.0.lock().unwrap().push(message.seq);
        }
    }
}

/// Sends of one conversation are appended in batches and published in `seq` order; a sender that
/// gives up while leading a batch (a REST client that hung up) hands the stripe on instead of
/// stranding the sends queued behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_sends_publish_in_seq_order_and_survive_a_dropped_leader() {
    use cc_core::bus::Bus as _;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("chat.db"), Durability::Normal)
        .await
        .unwrap();
    let bus = Arc::new(InProcessBus::new());
    let published = Arc::new(Published::default());
    bus.subscribe(published.clone());
    let limits = CoreLimits {
        messages_per_sec: 10_000,
        message_burst: 10_000,
        ..CoreLimits::default()
    };
    let service = Arc::new(ChatService::new(
        Arc::new(store),
        bus,
        Arc::new(InProcessPresence::new()),
        Arc::new(KeyRing::from_seeds(&[("k1", [3; 32], true)])),
        limits,
    ));
    let (app, conversation) = setup(&service).await;
    let mut kept = Vec::new();
    for n in 0..300 {
        let (service, app, conversation) = (service.clone(), app.clone(), conversation.clone());
        let sender = ["alice", "bob", "carol"][n % 3];
        let task = tokio::spawn(async move {
            service
                .send_message(
                    &principal(&app, sender),
                    send(&conversation, &format!("m{n}"), "x"),
                )
                .await
        });
        if n % 7 == 0 {
            // Dropped wherever it is: waiting, leading a batch, or done.
            task.abort();
        } else {
            kept.push(task);
        }
    }
    let acked = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut acked = Vec::new();
        for task in kept {
            let (message, _) = task.await.unwrap().expect("a kept send is acknowledged");
            acked.push(message.seq);
        }
        acked
    })
    .await
    .expect("sends were stranded behind a finished or dropped batch");
    // The stripe still takes sends.
    let (last, _) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        service.send_message(&principal(&app, "alice"), send(&conversation, "last", "x")),
    )
    .await
    .expect("the stripe was stranded")
    .unwrap();
    let order = published.0.lock().unwrap().clone();
    assert!(
        order.windows(2).all(|pair| pair[0] < pair[1]),
        "published out of seq order: {order:?}"
    );
    assert_eq!(order.last(), Some(&last.seq));
    for seq in acked {
        assert!(
            order.contains(&seq),
            "acknowledged seq {seq} was never published"
        );
    }
}

#[tokio::test]
async fn idempotent_resend_and_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (service, store) = service(&dir.path().join("chat.db")).await;
    let (app, conversation) = setup(&service).await;
    let alice = principal(&app, "alice");
    let (first, duplicate) = service
        .send_message(&alice, send(&conversation, "c1", "hello"))
        .await
        .unwrap();
    assert!(!duplicate);
    let (again, duplicate) = service
        .send_message(&alice, send(&conversation, "c1", "hello"))
        .await
        .unwrap();
    assert!(duplicate);
    assert_eq!((again.id, again.seq), (first.id.clone(), first.seq));
    let conflict = service
        .send_message(&alice, send(&conversation, "c1", "different"))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), ErrorCode::IdempotencyConflict);
    // Another sender may reuse the same client id: keys are per sender.
    let (bobs, duplicate) = service
        .send_message(&principal(&app, "bob"), send(&conversation, "c1", "hello"))
        .await
        .unwrap();
    assert!(!duplicate);
    assert_eq!(bobs.seq, 2);
    // The store reports duplicates itself, whatever the caller.
    let new = cc_core::model::NewMessage {
        app_id: app.clone(),
        conversation_id: conversation.clone(),
        id: cc_core::ids::MessageId::from("other"),
        sender_id: UserId::from("alice"),
        client_msg_id: "c1".into(),
        body: text("hello"),
        parent_id: None,
        mentions: vec![],
        created_at_ms: 0,
    };
    assert!(
        matches!(store.append_message(&new).await.unwrap(), Appended::Duplicate(m) if m.id == first.id)
    );
}

#[tokio::test]
async fn unread_counts_follow_the_read_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _store) = service(&dir.path().join("chat.db")).await;
    let (app, conversation) = setup(&service).await;
    for n in 0..5 {
        service
            .send_message(
                &principal(&app, "alice"),
                send(&conversation, &format!("m{n}"), "x"),
            )
            .await
            .unwrap();
    }
    let bob = principal(&app, "bob");
    let unread = |list: Vec<cc_core::model::MemberConversation>| list[0].unread_count;
    assert_eq!(
        unread(service.list_conversations(&bob, None, 10).await.unwrap()),
        5
    );
    assert_eq!(
        service
            .mark(&bob, &conversation, None, Some(3))
            .await
            .unwrap(),
        (3, 3)
    );
    assert_eq!(
        unread(service.list_conversations(&bob, None, 10).await.unwrap()),
        2
    );
    // Cursors never move back and never pass the last message.
    assert_eq!(
        service
            .mark(&bob, &conversation, Some(1), Some(1))
            .await
            .unwrap(),
        (3, 3)
    );
    assert_eq!(
        service
            .mark(&bob, &conversation, None, Some(99))
            .await
            .unwrap(),
        (5, 5)
    );
    // The sender's own messages are never unread for them.
    assert_eq!(
        unread(
            service
                .list_conversations(&principal(&app, "alice"), None, 10)
                .await
                .unwrap()
        ),
        0
    );
}

#[tokio::test]
async fn group_commit_keeps_seqs_gap_free_and_duplicates_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (service, store) = service(&dir.path().join("chat.db")).await;
    let (app, first) = setup(&service).await;
    let (_, second) = setup_group(&service, &app).await;
    // Straight to the store, no per-conversation lock: one batch may hold several appends of one
    // conversation, and resends of the same key.
    let mut tasks = Vec::new();
    for n in 0..120 {
        let store = store.clone();
        let conversation = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let new = cc_core::model::NewMessage {
            app_id: app.clone(),
            conversation_id: conversation,
            id: cc_core::ids::MessageId(cc_core::ids::new_id()),
            sender_id: UserId::from("alice"),
            client_msg_id: format!("k{}", n % 100),
            body: text("x"),
            parent_id: None,
            mentions: vec![],
            created_at_ms: 0,
        };
        tasks.push(tokio::spawn(async move {
            store.append_message(&new).await.unwrap()
        }));
    }
    let mut duplicates = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Appended::Duplicate(_)) {
            duplicates += 1;
        }
    }
    // Keys k0..k19 were sent twice to the same conversation (n and n+100 have the same parity).
    assert_eq!(duplicates, 20);
    for conversation in [&first, &second] {
        let history = store
            .history(&app, conversation, HistoryPage::After(0), 200)
            .await
            .unwrap();
        let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        let last_seq = store
            .get_conversation(&app, conversation)
            .await
            .unwrap()
            .unwrap()
            .last_seq;
        assert_eq!(last_seq, 50);
    }
}

async fn setup_group(service: &ChatService, app: &AppId) -> (AppId, ConversationId) {
    let group = CreateConversation::Group {
        name: "second".into(),
        visibility: Visibility::Private,
        password: None,
        members: vec!["bob".into()],
        metadata: serde_json::json!({}),
    };
    let (conversation, _) = service
        .create_conversation(&principal(app, "alice"), group)
        .await
        .unwrap();
    (app.clone(), conversation.id)
}

#[tokio::test]
async fn cached_member_lists_follow_membership_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (service, store) = service(&dir.path().join("chat.db")).await;
    let (app, conversation) = setup(&service).await;
    service
        .create_user(
            &app,
            CreateUser {
                user_id: "dave".into(),
                name: String::new(),
                metadata: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    let sorted = |ids: std::sync::Arc<[UserId]>| {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.into_iter().map(|u| u.0).collect::<Vec<_>>()
    };
    assert_eq!(
        sorted(store.member_ids(&app, &conversation).await.unwrap()),
        ["alice", "bob", "carol"]
    );
    service
        .add_member(
            &principal(&app, "alice"),
            &conversation,
            &UserId::from("dave"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        sorted(store.member_ids(&app, &conversation).await.unwrap()),
        ["alice", "bob", "carol", "dave"]
    );
    service
        .kick(
            &principal(&app, "alice"),
            &conversation,
            &UserId::from("bob"),
        )
        .await
        .unwrap();
    assert_eq!(
        sorted(store.member_ids(&app, &conversation).await.unwrap()),
        ["alice", "carol", "dave"]
    );
}

/// Commits never checkpoint (that stalled every message of the unlucky group commit); the
/// checkpointer thread copies the WAL back into the database file on its own.
#[tokio::test]
async fn the_wal_is_checkpointed_outside_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let (service, _store) = service(&path).await;
    let (app, conversation) = setup(&service).await;
    let alice = principal(&app, "alice");
    let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
    let before = size();
    // ~2 MB of messages: far more pages than the schema the file held before.
    let body = "x".repeat(4000);
    for n in 0..500 {
        service
            .send_message(&alice, send(&conversation, &format!("w{n}"), &body))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while size() < before + 1_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {} bytes (was {before}): nothing was checkpointed",
            size()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
