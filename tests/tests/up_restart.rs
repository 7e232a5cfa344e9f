//! `ccctl up` keeps every acknowledged message across a SIGKILL: the real binary, real WebSocket clients,
//! a hard kill in the middle of bursts of sends from two users, a restart on the same data directory,
//! then history (REST) and resume (WebSocket) both hold every acknowledged message with its `seq`,
//! gap-free, and SIGTERM drains and exits cleanly.

mod up_support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::SinkExt as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use up_support::{Up, connect_resumed, conversation_of_kind, demo_login, get_json, next_json};

/// Per sender: within the per-user burst of the default rate limit (40), so nothing is refused.
const BURST_PER_USER: usize = 40;
/// Kill once this many sends (of both users' 80) are acknowledged, with the rest still in flight.
const KILL_AFTER_ACKS: usize = 30;

fn record_ack(acked: &mut BTreeMap<String, i64>, frame: &Value) {
    assert_ne!(frame["op"], "error", "a send was refused: {frame}");
    if frame["op"] == "ack"
        && let (Some(id), Some(seq)) = (frame["client_msg_id"].as_str(), frame["seq"].as_i64())
    {
        acked.insert(id.to_owned(), seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_lose_no_acknowledged_message() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().join("ccplatform");

    // First start: a demo app, its key printed once.
    let mut up = Up::start(&data_dir);
    assert_eq!(up.started["first_start"], true, "{}", up.started);
    let api_key = up.started["api_key"]
        .as_str()
        .expect("first start prints the API key");
    assert!(api_key.starts_with("cck_"), "{api_key}");
    assert!(data_dir.join("demo.json").exists());

    // Two senders in the demo 1:1, each with a burst in flight.
    let mut sockets = Vec::new();
    let mut conversation = String::new();
    for user in ["alice", "bob"] {
        let token = demo_login(&up.base, user).await.expect("demo login");
        conversation = conversation_of_kind(&up.base, &token, "direct")
            .await
            .expect("the demo 1:1");
        let (socket, _) = connect_resumed(&up.ws_url(&token), json!({}))
            .await
            .expect("connect and resume");
        sockets.push((user, socket));
    }
    for (user, socket) in &mut sockets {
        for index in 0..BURST_PER_USER {
            let frame = json!({
                "op": "send", "id": format!("r{index}"), "conversation_id": conversation,
                "client_msg_id": format!("{user}-{index}"),
                "body": {"type": "text", "text": format!("{user} {index}")},
            });
            socket
                .feed(Message::text(frame.to_string()))
                .await
                .expect("queueing a send");
        }
        socket.flush().await.expect("sending the burst");
    }
    let mut acked = BTreeMap::new();
    while acked.len() < KILL_AFTER_ACKS {
        for (_, socket) in &mut sockets {
            let frame = next_json(socket).await.expect("answers keep coming");
            record_ack(&mut acked, &frame);
        }
    }
    up.kill_hard();
    // Acks already on the wire when the process died were acknowledged too: they count.
    for (_, socket) in &mut sockets {
        while let Ok(frame) = next_json(socket).await {
            record_ack(&mut acked, &frame);
        }
    }
    drop(sockets);
    assert!(acked.len() >= KILL_AFTER_ACKS);

    // Second start on the same data: no key printed, same app, everything acknowledged is there.
    let mut up = Up::start(&data_dir);
    assert_eq!(up.started["first_start"], false, "{}", up.started);
    assert!(
        up.started.get("api_key").is_none(),
        "later starts do not print the key: {}",
        up.started
    );

    let bob = demo_login(&up.base, "bob")
        .await
        .expect("bob logs in after the restart");
    let history = get_json(
        &up.base,
        &bob,
        &format!("/v1/conversations/{conversation}/messages?after_seq=0&limit=200"),
    )
    .await
    .expect("history after the restart");
    let stored: BTreeMap<String, i64> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| {
            (
                m["client_msg_id"].as_str().unwrap_or_default().to_owned(),
                m["seq"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    for (client_msg_id, seq) in &acked {
        assert_eq!(
            stored.get(client_msg_id),
            Some(seq),
            "acknowledged {client_msg_id} (seq {seq}) lost across SIGKILL"
        );
    }
    let mut seqs: Vec<i64> = stored.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "history has a gap"
    );

    // Resume from 0 replays the same messages in order before the resume ack.
    let (_socket, replayed) = connect_resumed(&up.ws_url(&bob), json!({ conversation.clone(): 0 }))
        .await
        .expect("bob resumes");
    let replayed_seqs: Vec<i64> = replayed
        .iter()
        .filter(|frame| frame["op"] == "message")
        .map(|frame| frame["message"]["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(
        replayed_seqs, seqs,
        "resume replays every stored message in seq order"
    );

    // SIGTERM drains (closing bob's connection with 1012) and exits cleanly.
    let status = up.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "ccctl up exited with {status} after SIGTERM; stderr:\n{}",
        up.stderr()
    );
}
