//! Bad input on the WebSocket gets the specified error or close code, and other clients keep
//! being served meanwhile.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns; a failed unwrap is a failed test.

mod common;

use common::{Client, TestServer};
use futures_util::SinkExt as _;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

async fn still_served(
    server: &TestServer,
    alice: &mut Client,
    bob: &mut Client,
    conversation: &str,
    marker: &str,
) {
    let ack = alice.send_text(conversation, marker, "still here").await;
    assert_eq!(ack["op"], "ack", "{ack}");
    while bob.find("message").await["message"]["client_msg_id"] != marker {}
    let (status, _) = server.rest("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
}

async fn setup() -> (TestServer, Vec<String>, String, Client, Client) {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob", "mallory"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let alice = server.live(&tokens[0]).await;
    let bob = server.live(&tokens[1]).await;
    (server, tokens, conversation, alice, bob)
}

#[tokio::test]
async fn malformed_frames_get_stable_error_codes() {
    let (server, tokens, conversation, mut alice, mut bob) = setup().await;
    let mut mallory = server.live(&tokens[2]).await;
    let cases = [
        ("{not json".to_owned(), "invalid_json", json!({})),
        (
            r#"{"op":"dance","id":"x1"}"#.to_owned(),
            "unknown_op",
            json!({"op": "dance"}),
        ),
        (
            r#"{"op":"send","id":"x2","client_msg_id":"c","body":{"type":"text","text":"t"}}"#
                .to_owned(),
            "missing_field",
            json!({"field": "conversation_id"}),
        ),
        (
            r#"{"op":"mark_read","id":"x3","conversation_id":"c","seq":"high"}"#.to_owned(),
            "invalid_field",
            serde_json::Value::Null,
        ),
    ];
    for (text, code, details) in cases {
        mallory
            .stream
            .send(Message::text(text.clone()))
            .await
            .unwrap();
        let error = mallory.next().await;
        assert_eq!(
            (error["op"].as_str(), error["code"].as_str()),
            (Some("error"), Some(code)),
            "{text}"
        );
        if !details.is_null() {
            assert_eq!(error["details"], details, "{text}");
        }
    }
    mallory
        .stream
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(mallory.next().await["code"], "invalid_json");
    // Text over the body limit is refused without closing.
    let long = "x".repeat(16 * 1024 + 1);
    let own = server.direct(&tokens[2], "alice").await;
    assert_eq!(
        mallory.send_text(&own, "long", &long).await["code"],
        "text_too_long"
    );
    still_served(
        &server,
        &mut alice,
        &mut bob,
        &conversation,
        "after-malformed",
    )
    .await;
}

#[tokio::test]
async fn oversize_frame_closes_with_1009() {
    let (server, tokens, conversation, mut alice, mut bob) = setup().await;
    let mut mallory = server.live(&tokens[2]).await;
    mallory
        .stream
        .send(Message::text("y".repeat(64 * 1024 + 10)))
        .await
        .unwrap();
    assert_eq!(mallory.expect_close().await, 1009);
    still_served(
        &server,
        &mut alice,
        &mut bob,
        &conversation,
        "after-oversize",
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let (server, tokens, conversation, mut alice, mut bob) = setup().await;
    let mut mallory = server.live(&tokens[2]).await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    mallory.stream.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(mallory.expect_close().await, 1007);
    still_served(&server, &mut alice, &mut bob, &conversation, "after-utf8").await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_per_user() {
    let server = TestServer::start_with(|options| {
        options.limits.messages_per_sec = 5;
        options.limits.message_burst = 10;
    })
    .await;
    let tokens = server.users(&["alice", "bob", "mallory"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let flood_target = server.direct(&tokens[2], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    let mut bob = server.live(&tokens[1]).await;
    let mut mallory = server.live(&tokens[2]).await;
    let mut limited = 0;
    let mut accepted = 0;
    for n in 0..40 {
        let answer = mallory
            .send_text(&flood_target, &format!("f{n}"), "spam")
            .await;
        if let Some("ack") = answer["op"].as_str() {
            accepted += 1;
        } else {
            assert_eq!(answer["code"], "rate_limited", "{answer}");
            assert!(answer["details"]["retry_after_ms"].as_u64().unwrap() > 0);
            limited += 1;
        }
    }
    assert!(
        accepted >= 10 && limited > 0,
        "accepted {accepted}, limited {limited}"
    );
    // Nothing refused was committed.
    let (_, page) = server
        .rest(
            "GET",
            &format!("/v1/conversations/{flood_target}/messages?after_seq=0&limit=200"),
            Some(&tokens[2]),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), accepted);
    // Another user is not affected by mallory's bucket.
    still_served(&server, &mut alice, &mut bob, &conversation, "after-flood").await;
}
