//! The demo app created on the first start of embedded mode, remembered in `<data_dir>/demo.json`.

use anyhow::Context as _;
use cc_core::ids::{AppId, UserId};
use cc_core::{ChatService, Principal};
use cc_protocol::rest::{CreateConversation, CreateUser, Visibility};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const DEMO_USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// What the first start created; the API key is kept so that every start can print it (demo only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoApp {
    pub app_id: String,
    pub api_key: String,
    pub users: Vec<String>,
    pub direct_conversation_id: String,
    pub group_conversation_id: String,
}

pub async fn ensure(service: &ChatService, data_dir: &Path) -> anyhow::Result<DemoApp> {
    let path = data_dir.join("demo.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a demo app record; delete it to start afresh",
                path.display()
            )
        });
    }
    let (app, key) = service
        .create_app("demo")
        .await
        .context("creating the demo app")?;
    for user in DEMO_USERS {
        let mut name = user.to_owned();
        name[..1].make_ascii_uppercase();
        service
            .create_user(
                &app.id,
                CreateUser {
                    user_id: user.into(),
                    name,
                    metadata: serde_json::json!({"demo": true}),
                },
            )
            .await
            .context("creating a demo user")?;
    }
    let alice = Principal {
        app_id: AppId(app.id.0.clone()),
        user_id: UserId::from("alice"),
        token_id: String::new(),
        expires_at_ms: i64::MAX,
    };
    let (direct, _) = service
        .create_conversation(
            &alice,
            CreateConversation::Direct {
                peer_id: "bob".into(),
            },
        )
        .await
        .context("creating the demo direct chat")?;
    let group = CreateConversation::Group {
        name: "General".into(),
        visibility: Visibility::Public,
        password: None,
        members: DEMO_USERS[1..].iter().map(|u| (*u).to_owned()).collect(),
        metadata: serde_json::json!({}),
    };
    let (group, _) = service
        .create_conversation(&alice, group)
        .await
        .context("creating the demo group")?;
    let demo = DemoApp {
        app_id: app.id.0,
        api_key: key.api_key,
        users: DEMO_USERS.iter().map(|u| (*u).to_owned()).collect(),
        direct_conversation_id: direct.id.0,
        group_conversation_id: group.id.0,
    };
    write_private(&path, &serde_json::to_vec_pretty(&demo)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(demo)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
