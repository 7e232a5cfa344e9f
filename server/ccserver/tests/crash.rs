//! The `ccserver` binary killed with SIGKILL and restarted over the same data directory loses no
//! acknowledged message.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns; a failed unwrap is a failed test.

mod common;

use common::{Client, WAIT};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const ADMIN: &str = "cca_crash0123456789abcdef0123456789abcdef";

async fn start(config: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccserver"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "ccserver ready" {
                return entry["fields"]["local_addr"]
                    .as_str()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap();
            }
        }
        panic!("ccserver exited before it was ready");
    })
    .await
    .expect("ccserver did not get ready in time");
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

async fn call(
    http: &reqwest::Client,
    addr: SocketAddr,
    method: reqwest::Method,
    path: &str,
    credential: &str,
    body: Value,
) -> Value {
    let response = http
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(credential)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn sigkill_and_restart_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin-token"), ADMIN).unwrap();
    let config = dir.path().join("ccserver.toml");
    let text = format!(
        "version = 1\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"{0}/chat.db\"\n[auth]\nkeys_dir = \"{0}/keys\"\ncreate_keys = true\nadmin_token_file = \"{0}/admin-token\"\n[limits]\nmessages_per_sec = 1000\nmessage_burst = 1000\n[log]\nformat = \"json\"\nfilter = \"info\"\n",
        dir.path().display()
    );
    std::fs::write(&config, text).unwrap();
    let (mut child, addr) = start(&config).await;
    let http = reqwest::Client::new();
    let app = call(
        &http,
        addr,
        reqwest::Method::POST,
        "/v1/apps",
        ADMIN,
        json!({"name": "crash"}),
    )
    .await;
    let key = app["api_key"]["api_key"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for user in ["alice", "bob"] {
        call(
            &http,
            addr,
            reqwest::Method::POST,
            "/v1/users",
            &key,
            json!({"user_id": user}),
        )
        .await;
        let minted = call(
            &http,
            addr,
            reqwest::Method::POST,
            &format!("/v1/users/{user}/tokens"),
            &key,
            json!({}),
        )
        .await;
        tokens.push(minted["token"].as_str().unwrap().to_owned());
    }
    let conversation = call(
        &http,
        addr,
        reqwest::Method::POST,
        "/v1/conversations",
        &tokens[0],
        json!({"type": "direct", "peer_id": "bob"}),
    )
    .await;
    let conversation = conversation["conversation_id"].as_str().unwrap().to_owned();
    let mut alice = Client::connect(addr, &tokens[0]).await;
    let mut acked = Vec::new();
    for n in 0..60 {
        let ack = alice
            .send_text(&conversation, &format!("m{n}"), "must survive")
            .await;
        acked.push(
            ack["seq"]
                .as_i64()
                .unwrap_or_else(|| panic!("not acknowledged: {ack}")),
        );
    }
    // No drain, no checkpoint: the process dies right after the last ack.
    child.kill().await.unwrap();
    let (_child, addr) = start(&config).await;
    let mut bob = Client::connect(addr, &tokens[1]).await;
    let frames = bob
        .resume(BTreeMap::from([(conversation.clone(), 0)]))
        .await;
    let replayed: Vec<i64> = frames
        .iter()
        .filter(|f| f["op"] == "message")
        .map(|f| f["message"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(replayed, acked);
    assert_eq!(acked, (1..=60).collect::<Vec<_>>());
}
