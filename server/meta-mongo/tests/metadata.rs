//! Metadata on the real FerretDB (MongoDB protocol): versioned writes, fidelity, batch reads, the audit trail,
//! and the Store decorator under the domain service over the real MariaDB store.

#[path = "../../store-mysql/tests/support/mod.rs"]
mod mysql_support;

use cc_core::auth::KeyRing;
use cc_core::ids::{AppId, UserId};
use cc_core::inproc::{InProcessBus, InProcessPresence};
use cc_core::store::Store;
use cc_core::{ChatService, CoreLimits, Principal};
use cc_meta_mongo::{AuditRecord, MetaError, MetaStore, MongoConfig, MongoMetadata, Subject};
use cc_protocol::rest::{CreateConversation, CreateUser, UpdateConversation, Visibility};
use serde_json::json;
use std::sync::Arc;

const PORTS_ENV: &str = include_str!("../../../scripts/services/ports.env");

fn mongodb_url() -> String {
    std::env::var("CC_TEST_MONGODB_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            PORTS_ENV
                .lines()
                .find_map(|l| l.strip_prefix("CC_TEST_MONGODB_URL="))
                .map(str::to_owned)
        })
        .expect("CC_TEST_MONGODB_URL is missing from scripts/services/ports.env")
}

/// Drops a test's database (best effort: a leftover uniquely named one harms nobody).
async fn drop_database(name: &str) {
    if let Ok(client) = mongodb::Client::with_uri_str(mongodb_url()).await {
        let _ = client.database(name).drop().await;
    }
}

/// A database of its own on the test FerretDB; fails (never skips) naming the service and its script.
async fn metadata() -> (MongoMetadata, String) {
    let database = format!("cc_meta_{}", uuid::Uuid::new_v4().simple());
    let connected = MongoMetadata::connect(&MongoConfig::new(mongodb_url(), database.clone()))
        .await
        .unwrap_or_else(|error| {
            panic!(
                "FerretDB (CC_TEST_MONGODB_URL={}) is not available: {error}\n  start it with \
                 `scripts/services/ferretdb.sh start` (or every service: `scripts/services/all.sh start`)",
                mongodb_url()
            )
        });
    (connected, database)
}

#[tokio::test]
async fn versioned_writes_keep_the_json_exactly() {
    let (meta, database) = metadata().await;
    let (app, user) = (AppId::from("app"), UserId::from("ann"));
    let subject = Subject::User(&app, &user);
    assert!(meta.get(subject).await.expect("get").is_none());
    let data =
        json!({"plan": "pro", "a.b": 1, "$odd": [1, 2.5, null], "big": 9_007_199_254_740_993_i64});
    let first = meta.put(subject, &data, None).await.expect("put");
    assert_eq!((first.version, &first.data), (1, &data));
    // Optimistic concurrency: a writer holding version 1 wins once; a second writer with 1 is refused.
    let second = meta
        .put(subject, &json!({"plan": "team"}), Some(1))
        .await
        .expect("put v1");
    assert_eq!(second.version, 2);
    let stale = meta.put(subject, &json!({"plan": "free"}), Some(1)).await;
    assert!(
        matches!(stale, Err(MetaError::VersionConflict { expected: 1, .. })),
        "{stale:?}"
    );
    assert_eq!(
        meta.get(subject).await.expect("get").expect("found").data,
        json!({"plan": "team"})
    );
    // Creating with expected version 0 succeeds once only.
    let other = UserId::from("bo");
    meta.put(Subject::User(&app, &other), &json!({}), Some(0))
        .await
        .expect("create");
    let again = meta
        .put(Subject::User(&app, &other), &json!({}), Some(0))
        .await;
    assert!(
        matches!(again, Err(MetaError::VersionConflict { .. })),
        "{again:?}"
    );
    // Batch read of several users.
    let found = meta
        .users(&app, &[user.clone(), other.clone(), UserId::from("nobody")])
        .await
        .expect("users");
    assert_eq!(found.len(), 2);
    assert_eq!(found[&user].data, json!({"plan": "team"}));
    // Conversations are separate subjects.
    let conversation = "c1".into();
    assert!(
        meta.get(Subject::Conversation(&app, &conversation))
            .await
            .expect("get")
            .is_none()
    );
    drop_database(&database).await;
}

#[tokio::test]
async fn the_audit_trail_is_append_only_and_ordered() {
    let (meta, database) = metadata().await;
    let app = AppId::from("app");
    for at in [30, 10, 20] {
        let record = AuditRecord {
            app_id: app.clone(),
            at_ms: at,
            actor: "mod-1".into(),
            action: "message.delete".into(),
            target: format!("m{at}"),
            details: json!({"reason": "spam"}),
        };
        meta.append_audit(&record).await.expect("append");
    }
    let entries = meta.audit_after(&app, 10, 10).await.expect("audit");
    assert_eq!(
        entries.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
        vec![20, 30]
    );
    assert_eq!(entries[0].details, json!({"reason": "spam"}));
    assert!(
        meta.audit_after(&AppId::from("other"), 0, 10)
            .await
            .expect("audit")
            .is_empty()
    );
    drop_database(&database).await;
}

fn principal(app: &AppId, user: &str) -> Principal {
    Principal {
        app_id: app.clone(),
        user_id: UserId::from(user),
        token_id: "t".into(),
        expires_at_ms: i64::MAX,
    }
}

#[tokio::test]
async fn the_domain_keeps_metadata_in_mongodb_through_the_decorator() {
    let (meta, database) = metadata().await;
    let db = mysql_support::FreshDatabase::create("meta").await;
    let primary = db.open().await;
    let store = Arc::new(MetaStore::new(primary.clone(), meta.clone()));
    let keys = Arc::new(KeyRing::from_seeds(&[("k1", [3; 32], true)]));
    let service = ChatService::new(
        store,
        Arc::new(InProcessBus::new()),
        Arc::new(InProcessPresence::new()),
        keys,
        CoreLimits::default(),
    );
    let (app, _) = service.create_app("meta").await.expect("app");
    let app = app.id;
    for (user, data) in [
        ("ann", json!({"tier": "gold"})),
        ("bo", json!({"tier": "free"})),
    ] {
        let create = CreateUser {
            user_id: user.into(),
            name: user.into(),
            metadata: data,
        };
        service.create_user(&app, create).await.expect("user");
    }
    // The primary store holds no metadata; MongoDB does; the domain sees MongoDB's.
    let row = primary
        .get_user(&app, &UserId::from("ann"))
        .await
        .expect("row")
        .expect("found");
    assert_eq!(row.metadata, json!({}));
    let listed = service.list_users(&app, None, 10).await.expect("list");
    let tiers: Vec<&serde_json::Value> = listed.iter().map(|u| &u.metadata["tier"]).collect();
    assert_eq!(tiers, [&json!("gold"), &json!("free")]);
    let group = CreateConversation::Group {
        name: "g".into(),
        visibility: Visibility::Public,
        password: None,
        members: vec!["bo".into()],
        metadata: json!({"topic": "rust"}),
    };
    let (conversation, _) = service
        .create_conversation(&principal(&app, "ann"), group)
        .await
        .expect("group");
    assert_eq!(conversation.metadata, json!({"topic": "rust"}));
    let update = UpdateConversation {
        name: None,
        metadata: Some(json!({"topic": "tokio"})),
        visibility: None,
        password: None,
    };
    service
        .update_conversation(&principal(&app, "ann"), &conversation.id, update)
        .await
        .expect("update");
    let stored = meta
        .get(Subject::Conversation(&app, &conversation.id))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        (stored.version, stored.data),
        (2, json!({"topic": "tokio"}))
    );
    let listed = service
        .list_conversations(&principal(&app, "bo"), None, 10)
        .await
        .expect("list");
    assert_eq!(listed[0].conversation.metadata, json!({"topic": "tokio"}));
    db.drop_now().await;
    drop_database(&database).await;
}
