//! The library entry point behind `ccctl up`: first start creates the demo app, demo login works,
//! the page is served, and a restart over the same data directory finds the same app.
#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use ccserver::{EmbeddedOptions, WebAssets};
use serde_json::json;
use std::collections::BTreeMap;

static PAGE: &[ccserver::web::EmbeddedFile] = &[(
    "/index.html",
    "text/html; charset=utf-8",
    b"<!doctype html><title>demo</title>",
)];

fn options(dir: &std::path::Path) -> (EmbeddedOptions, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut options = EmbeddedOptions::new("127.0.0.1:0".parse().unwrap(), dir.to_owned());
    options.web = WebAssets::Embedded(PAGE);
    options.shutdown = Some(Box::pin(async move {
        let _ = rx.await;
    }));
    (options, tx)
}

#[tokio::test]
async fn first_start_creates_the_demo_and_restart_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let (first_options, stop) = options(dir.path());
    let running = ccserver::embedded::run(first_options).await.unwrap();
    let demo = running.demo.clone();
    assert_eq!(demo.users, ["alice", "bob", "carol", "dave"]);
    let http = reqwest::Client::new();
    let page = http.get(&running.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<title>demo</title>"));
    // The page logs in without an API key, then chats in the demo group.
    let login: serde_json::Value = http
        .post(format!("{}demo/login", running.url))
        .json(&json!({"user_id": "bob"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["app_id"], demo.app_id.as_str());
    let token = login["token"].as_str().unwrap();
    let mut bob = common::Client::connect(running.local_addr, token).await;
    bob.resume(BTreeMap::new()).await;
    let ack = bob
        .send_text(&demo.group_conversation_id, "hello", "hi all")
        .await;
    assert_eq!(ack["seq"], 1);
    // The demo API key works for the app's backend routes.
    let users: serde_json::Value = http
        .get(format!("{}v1/users", running.url))
        .bearer_auth(&demo.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["items"].as_array().unwrap().len(), 4);
    stop.send(()).unwrap();
    running.wait().await.unwrap();

    let (second_options, stop) = options(dir.path());
    let running = ccserver::embedded::run(second_options).await.unwrap();
    assert_eq!(running.demo, demo, "the same demo app after a restart");
    let mut bob = common::Client::connect(running.local_addr, token).await;
    let frames = bob
        .resume(BTreeMap::from([(demo.group_conversation_id.clone(), 0)]))
        .await;
    assert_eq!(frames.iter().filter(|f| f["op"] == "message").count(), 1);
    stop.send(()).unwrap();
    running.wait().await.unwrap();
}
