//! The delivery contract across disconnects and restarts: replay before live, reset past the
//! window, nothing acknowledged lost.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns; a failed unwrap is a failed test.

mod common;

use common::TestServer;
use std::collections::BTreeMap;

fn cursor(conversation: &str, seq: i64) -> BTreeMap<String, i64> {
    BTreeMap::from([(conversation.to_owned(), seq)])
}

fn seqs(frames: &[serde_json::Value]) -> Vec<i64> {
    frames
        .iter()
        .filter(|f| f["op"] == "message")
        .map(|f| f["message"]["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn resume_after_a_dropped_connection_replays_before_live() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    let mut bob = server.live(&tokens[1]).await;
    alice.send_text(&conversation, "m1", "one").await;
    assert_eq!(bob.expect("message").await["message"]["seq"], 1);
    // Bob's connection drops; alice keeps talking.
    drop(bob);
    for n in 2..=6 {
        alice
            .send_text(&conversation, &format!("m{n}"), "missed")
            .await;
    }
    let mut bob = server.ws(&tokens[1]).await;
    // A live message that commits while bob resumes must come after the replayed ones.
    let id = bob.request_id();
    bob.send(
        serde_json::json!({"op": "resume", "id": id, "conversations": cursor(&conversation, 1)}),
    )
    .await;
    alice.send_text(&conversation, "m7", "live").await;
    let mut seen = Vec::new();
    while seen.last() != Some(&7) {
        let frame = bob.next().await;
        if frame["op"] == "message" {
            let seq = frame["message"]["seq"].as_i64().unwrap();
            // Duplicates are allowed by the contract; order and completeness are not negotiable.
            if seen.last().is_none_or(|last| seq > *last) {
                seen.push(seq);
            } else {
                assert!(seen.contains(&seq), "out-of-order {seq} after {seen:?}");
            }
        }
    }
    assert_eq!(seen, [2, 3, 4, 5, 6, 7]);
}

#[tokio::test]
async fn resume_past_the_replay_window_answers_reset() {
    let server = TestServer::start_with(|options| options.limits.replay_window = 5).await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    for n in 1..=12 {
        alice.send_text(&conversation, &format!("m{n}"), "x").await;
    }
    let mut bob = server.ws(&tokens[1]).await;
    let frames = bob.resume(cursor(&conversation, 2)).await;
    let reset = frames
        .iter()
        .find(|f| f["op"] == "reset")
        .expect("a reset frame");
    assert_eq!(
        (reset["latest_seq"].as_i64(), reset["reason"].as_str()),
        (Some(12), Some("replay_window_exceeded"))
    );
    assert!(
        seqs(&frames).is_empty(),
        "no partial replay after a reset: {frames:?}"
    );
    // Within the window the same conversation replays normally.
    let mut bob_again = server.ws(&tokens[1]).await;
    assert_eq!(
        seqs(&bob_again.resume(cursor(&conversation, 8)).await),
        [9, 10, 11, 12]
    );
    // And the REST history the client falls back to has everything.
    let (_, page) = server
        .rest(
            "GET",
            &format!("/v1/conversations/{conversation}/messages?after_seq=2&limit=200"),
            Some(&tokens[1]),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn restart_over_the_same_data_dir_loses_no_acknowledged_message() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    let mut acked = Vec::new();
    for n in 1..=25 {
        let ack = alice
            .send_text(&conversation, &format!("m{n}"), "durable")
            .await;
        acked.push(ack["seq"].as_i64().unwrap());
    }
    let app = (server.app_id.clone(), server.api_key.clone());
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;
    let server = TestServer::start_in(data_dir, |_| {}, Some(app)).await;
    // Old tokens still verify: the key ring was persisted in the data directory.
    let mut bob = server.ws(&tokens[1]).await;
    assert_eq!(seqs(&bob.resume(cursor(&conversation, 0)).await), acked);
    // Sequencing carries on without a gap.
    let mut alice = server.live(&tokens[0]).await;
    assert_eq!(
        alice.send_text(&conversation, "after", "x").await["seq"],
        26
    );
    drop(temp);
}
