//! The MySQL-protocol store on the real MariaDB: the domain service over it, concurrency across two store
//! instances (two replicas), idempotency races, migrations under the lock, and the outbox relay.

mod support;

use cc_core::auth::KeyRing;
use cc_core::bus::{Bus, EventSink};
use cc_core::events::{DomainEvent, Envelope};
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::inproc::{InProcessBus, InProcessPresence};
use cc_core::model::{Appended, NewMessage, Role};
use cc_core::service::SendRequest;
use cc_core::store::{HistoryPage, Store};
use cc_core::{ChatService, CoreLimits, Principal};
use cc_protocol::rest::{CreateConversation, CreateUser, Visibility};
use cc_protocol::{ErrorCode, MessageBody};
use cc_store_mysql::outbox::{OutboxConfirmer, OutboxRelay, RelayConfig};
use cc_store_mysql::{MIGRATIONS, MysqlStore};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::FreshDatabase;

fn service(store: &MysqlStore) -> Arc<ChatService> {
    let keys = Arc::new(KeyRing::from_seeds(&[("k1", [3; 32], true)]));
    let limits = CoreLimits {
        messages_per_sec: 10_000,
        message_burst: 10_000,
        ..CoreLimits::default()
    };
    Arc::new(ChatService::new(
        Arc::new(store.clone()),
        Arc::new(InProcessBus::new()),
        Arc::new(InProcessPresence::new()),
        keys,
        limits,
    ))
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

fn send(conversation: &ConversationId, client_msg_id: &str, body: &str) -> SendRequest {
    SendRequest {
        conversation_id: conversation.clone(),
        client_msg_id: client_msg_id.into(),
        body: text(body),
        parent_id: None,
        mentions: vec![],
    }
}

async fn setup(service: &ChatService) -> (AppId, ConversationId) {
    let (app, _) = service.create_app("test").await.expect("create app");
    for user in ["alice", "bob", "carol"] {
        let create = CreateUser {
            user_id: user.into(),
            name: user.into(),
            metadata: serde_json::json!({"team": "x"}),
        };
        service
            .create_user(&app.id, create)
            .await
            .expect("create user");
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
        .expect("create group");
    (app.id, conversation.id)
}

#[tokio::test]
async fn two_replicas_sending_concurrently_get_gap_free_seqs_and_an_outbox_row_each() {
    let db = FreshDatabase::create("seq").await;
    let (first, second) = (db.open().await, db.open().await);
    let replicas = [service(&first), service(&second)];
    let (app, conversation) = setup(&replicas[0]).await;
    let mut tasks = Vec::new();
    for (index, sender) in ["alice", "bob", "carol", "alice"].into_iter().enumerate() {
        let replica = replicas[index % 2].clone();
        let (app, conversation) = (app.clone(), conversation.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                let request = send(&conversation, &format!("{sender}-{index}-{n}"), "x");
                replica
                    .send_message(&principal(&app, sender), request)
                    .await
                    .expect("send");
            }
        }));
    }
    for task in tasks {
        task.await.expect("sender task");
    }
    let history = replicas[1]
        .history(
            &principal(&app, "bob"),
            &conversation,
            HistoryPage::After(0),
            500,
        )
        .await
        .expect("history");
    let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    assert_eq!(first.outbox_backlog().await.expect("backlog"), 100);
    let pending = first.outbox_pending(i64::MAX, 1000).await.expect("pending");
    let outboxed: Vec<i64> = pending
        .iter()
        .filter_map(|entry| match &entry.envelope.event {
            DomainEvent::MessageCreated { message } => Some(message.seq),
            _ => None,
        })
        .collect();
    // Publication order is per-conversation `seq` order.
    assert_eq!(outboxed, (1..=100).collect::<Vec<_>>());
    db.drop_now().await;
}

#[tokio::test]
async fn idempotent_resend_conflict_and_a_race_on_one_client_msg_id() {
    let db = FreshDatabase::create("idem").await;
    let (first, second) = (db.open().await, db.open().await);
    let service = service(&first);
    let (app, conversation) = setup(&service).await;
    let alice = principal(&app, "alice");
    let (original, duplicate) = service
        .send_message(&alice, send(&conversation, "c1", "hello"))
        .await
        .expect("send");
    assert!(!duplicate);
    let (again, duplicate) = service
        .send_message(&alice, send(&conversation, "c1", "hello"))
        .await
        .expect("resend");
    assert!(duplicate);
    assert_eq!((again.id, again.seq), (original.id.clone(), original.seq));
    let conflict = service
        .send_message(&alice, send(&conversation, "c1", "different"))
        .await
        .expect_err("same id, other body");
    assert_eq!(conflict.code(), ErrorCode::IdempotencyConflict);

    // The same client_msg_id appended through two replicas at once: one message, one seq, no gap.
    let new = |id: &str| NewMessage {
        app_id: app.clone(),
        conversation_id: conversation.clone(),
        id: MessageId::from(id),
        sender_id: UserId::from("bob"),
        client_msg_id: "race".into(),
        body: text("r"),
        parent_id: None,
        mentions: vec![],
        created_at_ms: 1,
    };
    for round in 0..10 {
        let (a, b) = (new(&format!("a{round}")), new(&format!("b{round}")));
        let mut renamed = (a.clone(), b.clone());
        renamed.0.client_msg_id = format!("race-{round}");
        renamed.1.client_msg_id = format!("race-{round}");
        let (left, right) = tokio::join!(
            first.append_message(&renamed.0),
            second.append_message(&renamed.1)
        );
        let (left, right) = (left.expect("left"), right.expect("right"));
        let (created, dup) = match (&left, &right) {
            (Appended::Created(c), Appended::Duplicate(d))
            | (Appended::Duplicate(d), Appended::Created(c)) => (c, d),
            other => panic!("round {round}: expected one created and one duplicate, got {other:?}"),
        };
        assert_eq!((created.id.clone(), created.seq), (dup.id.clone(), dup.seq));
    }
    let history = first
        .history(&app, &conversation, HistoryPage::After(0), 100)
        .await
        .expect("history");
    let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    db.drop_now().await;
}

#[tokio::test]
async fn members_cursors_reactions_threads_and_tombstones() {
    let db = FreshDatabase::create("domain").await;
    let store = db.open().await;
    let service = service(&store);
    let (app, conversation) = setup(&service).await;
    let (alice, bob) = (principal(&app, "alice"), principal(&app, "bob"));
    for n in 0..5 {
        service
            .send_message(&alice, send(&conversation, &format!("m{n}"), "x"))
            .await
            .expect("send");
    }
    let unread = |list: Vec<cc_core::model::MemberConversation>| list[0].unread_count;
    assert_eq!(
        unread(
            service
                .list_conversations(&bob, None, 10)
                .await
                .expect("list")
        ),
        5
    );
    assert_eq!(
        service
            .mark(&bob, &conversation, None, Some(3))
            .await
            .expect("mark"),
        (3, 3)
    );
    assert_eq!(
        unread(
            service
                .list_conversations(&bob, None, 10)
                .await
                .expect("list")
        ),
        2
    );
    assert_eq!(
        service
            .mark(&bob, &conversation, Some(1), Some(1))
            .await
            .expect("mark"),
        (3, 3)
    );
    assert_eq!(
        service
            .mark(&bob, &conversation, None, Some(99))
            .await
            .expect("mark"),
        (5, 5)
    );

    // A reply bumps the parent's reply count; reactions are counted per emoji; a tombstone clears them.
    let parent = store
        .history(&app, &conversation, HistoryPage::After(0), 1)
        .await
        .expect("history")[0]
        .clone();
    let mut reply = send(&conversation, "reply-1", "re");
    reply.parent_id = Some(parent.id.clone());
    service.send_message(&bob, reply).await.expect("reply");
    assert_eq!(
        service
            .react(&bob, &conversation, &parent.id, "👍", true)
            .await
            .expect("react"),
        1
    );
    assert_eq!(
        service
            .react(&alice, &conversation, &parent.id, "👍", true)
            .await
            .expect("react"),
        2
    );
    assert_eq!(
        service
            .react(&alice, &conversation, &parent.id, "👍", true)
            .await
            .expect("react"),
        2
    );
    let stored = store
        .get_message(&app, &conversation, &parent.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        (stored.reply_count, stored.reactions.get("👍").copied()),
        (1, Some(2))
    );
    let replies = store
        .replies(&app, &conversation, &parent.id, 0, 10)
        .await
        .expect("replies");
    assert_eq!(replies.len(), 1);
    let deleted = service
        .delete_message(&alice, &conversation, &parent.id)
        .await
        .expect("delete");
    assert!(deleted.deleted && deleted.reactions.is_empty());
    assert_eq!(deleted.body, MessageBody::Deleted);

    // Membership: a new member starts with cursors at the end; role changes are not additions.
    let dave = cc_protocol::rest::CreateUser {
        user_id: "dave".into(),
        name: "d".into(),
        metadata: serde_json::json!({}),
    };
    service.create_user(&app, dave).await.expect("user");
    let dave_id = UserId::from("dave");
    assert!(
        store
            .upsert_member(&app, &conversation, &dave_id, Role::Member, 1)
            .await
            .expect("add")
    );
    assert!(
        !store
            .upsert_member(&app, &conversation, &dave_id, Role::Moderator, 1)
            .await
            .expect("role")
    );
    let member = store
        .get_member(&app, &conversation, &dave_id)
        .await
        .expect("get")
        .expect("member");
    assert_eq!((member.role, member.read_seq), (Role::Moderator, 6));
    let count = store
        .get_conversation(&app, &conversation)
        .await
        .expect("get")
        .expect("found")
        .member_count;
    assert_eq!(count, 4);
    assert!(
        store
            .set_ban(&app, &conversation, &dave_id, true, 1)
            .await
            .expect("ban")
    );
    assert!(
        store
            .is_banned(&app, &conversation, &dave_id)
            .await
            .expect("banned?")
    );
    assert!(
        store
            .remove_member(&app, &conversation, &dave_id)
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_member(&app, &conversation, &dave_id)
            .await
            .expect("remove again")
    );
    let mut co = store
        .co_member_ids(&app, &UserId::from("bob"), 10)
        .await
        .expect("co-members");
    co.sort();
    assert_eq!(co, vec![UserId::from("alice"), UserId::from("carol")]);

    // Case-sensitive ids, as on SQLite: "Alice" is not "alice".
    assert!(
        store
            .get_user(&app, &UserId::from("Alice"))
            .await
            .expect("get")
            .is_none()
    );
    // One direct conversation per pair, however many times it is asked for.
    let direct = CreateConversation::Direct {
        peer_id: "bob".into(),
    };
    let (one, _) = service
        .create_conversation(&alice, direct.clone())
        .await
        .expect("direct");
    let (two, _) = service
        .create_conversation(&alice, direct)
        .await
        .expect("direct again");
    assert_eq!(one.id, two.id);
    db.drop_now().await;
}

#[tokio::test]
async fn migrations_run_once_when_many_replicas_start_together() {
    let db = FreshDatabase::create("migrate").await;
    let config = db.config();
    let opens = (0..4).map(|_| {
        let config = config.clone();
        tokio::spawn(async move { MysqlStore::open(&config).await })
    });
    for open in futures_util::future::join_all(opens).await {
        open.expect("task").expect("open under the migration lock");
    }
    let store = db.open().await;
    let applied: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, CAST(name AS CHAR) FROM schema_migrations ORDER BY version",
    )
    .fetch_all(store.pool())
    .await
    .expect("schema_migrations");
    let expected: Vec<(i64, String)> = MIGRATIONS
        .iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect();
    assert_eq!(applied, expected);
    // An edited released migration is refused with a message saying what to do.
    sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(store.pool())
        .await
        .expect("tamper");
    let error = MysqlStore::open(&config)
        .await
        .expect_err("edited migration");
    assert!(
        error.to_string().contains("add a new migration instead"),
        "{error}"
    );
    db.drop_now().await;
}

/// A real in-process bus with a collecting subscriber: what the relay published, in order.
fn collecting_bus() -> (Arc<InProcessBus>, Arc<Collect>) {
    let bus = Arc::new(InProcessBus::new());
    let sink = Arc::new(Collect(Mutex::new(Vec::new())));
    bus.subscribe(sink.clone());
    (bus, sink)
}

struct Collect(Mutex<Vec<Envelope>>);

impl EventSink for Collect {
    fn deliver(&self, envelope: &Arc<Envelope>) {
        self.0
            .lock()
            .expect("collect lock")
            .push((**envelope).clone());
    }
}

impl Collect {
    fn seqs(&self) -> Vec<i64> {
        self.0
            .lock()
            .expect("collect lock")
            .iter()
            .filter_map(|e| match &e.event {
                DomainEvent::MessageCreated { message } => Some(message.seq),
                _ => None,
            })
            .collect()
    }
}

#[tokio::test]
async fn relay_publishes_what_was_committed_without_a_publish_and_one_relay_leads() {
    let db = FreshDatabase::create("relay").await;
    let store = db.open().await;
    let service = service(&store);
    let (app, conversation) = setup(&service).await;
    // Commit without any publish (a writer that died right after its commit): only the outbox knows.
    for n in 1..=20 {
        let new = NewMessage {
            app_id: app.clone(),
            conversation_id: conversation.clone(),
            id: MessageId(format!("m{n}")),
            sender_id: UserId::from("alice"),
            client_msg_id: format!("c{n}"),
            body: text("x"),
            parent_id: None,
            mentions: vec![],
            created_at_ms: 0,
        };
        assert!(matches!(
            store.append_message(&new).await.expect("append"),
            Appended::Created(_)
        ));
    }
    let (durable, published) = collecting_bus();
    let (live, republished) = collecting_bus();
    let mut config = RelayConfig::new("replica-a");
    config.batch = 8;
    config.grace = Duration::ZERO;
    let leader = OutboxRelay::new(store.clone(), durable.clone(), Some(live), config);
    let follower = OutboxRelay::new(store.clone(), durable, None, RelayConfig::new("replica-b"));
    let mut total = 0;
    for _ in 0..5 {
        let pass = leader.run_once().await.expect("leader pass");
        assert!(pass.leader);
        total += pass.published;
        assert!(
            !follower.run_once().await.expect("follower pass").leader,
            "two relays led at once"
        );
    }
    assert_eq!(total, 20);
    assert_eq!(published.seqs(), (1..=20).collect::<Vec<_>>());
    assert_eq!(republished.seqs(), (1..=20).collect::<Vec<_>>());
    let recipients = match &published.0.lock().expect("lock")[0].recipients {
        cc_core::events::Recipients::Users(users) => users.len(),
        other => panic!("recipients {other:?}"),
    };
    assert_eq!(recipients, 3);
    assert_eq!(store.outbox_backlog().await.expect("backlog"), 0);
    // A leader that stops renewing loses the lease after it expires; the next relay takes over.
    let quick = RelayConfig {
        lease: Duration::from_millis(200),
        ..RelayConfig::new("replica-c")
    };
    assert!(
        store
            .claim_lease("probe", "x", quick.lease)
            .await
            .expect("claim")
    );
    assert!(
        !store
            .claim_lease("probe", "y", quick.lease)
            .await
            .expect("claim")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !store
        .claim_lease("probe", "y", quick.lease)
        .await
        .expect("claim")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.drop_now().await;
}

#[tokio::test]
async fn writers_confirm_their_rows_and_the_relay_leaves_young_rows_alone() {
    let db = FreshDatabase::create("confirm").await;
    let store = db.open().await;
    let service = service(&store);
    let (app, conversation) = setup(&service).await;
    for n in 0..10 {
        service
            .send_message(
                &principal(&app, "alice"),
                send(&conversation, &format!("m{n}"), "x"),
            )
            .await
            .expect("send");
    }
    // Within the grace period the relay does nothing: the rows are their writers' to confirm.
    let (durable, published) = collecting_bus();
    let relay = OutboxRelay::new(store.clone(), durable.clone(), None, RelayConfig::new("r"));
    let pass = relay.run_once().await.expect("relay pass");
    assert!(pass.leader && pass.published == 0, "{pass:?}");
    // The writer confirms six of them: published on the durable bus, rows gone.
    let confirmer = OutboxConfirmer::spawn(store.clone(), durable);
    for entry in store.outbox_pending(i64::MAX, 6).await.expect("pending") {
        confirmer.confirm(entry.envelope);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.outbox_backlog().await.expect("backlog") != 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "confirmations never deleted their rows"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(published.seqs(), (1..=6).collect::<Vec<_>>());
    db.drop_now().await;
}
