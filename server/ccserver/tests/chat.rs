//! Conversations over real WebSockets: 1:1, group fan-out, order, idempotency, receipts, typing, presence.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns; a failed unwrap is a failed test.

mod common;

use common::{TestServer, eventually};
use serde_json::json;

#[tokio::test]
async fn direct_chat_delivers_with_ack_after_commit() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    // One conversation per pair, whoever creates it.
    assert_eq!(server.direct(&tokens[1], "alice").await, conversation);
    let mut alice = server.live(&tokens[0]).await;
    let mut bob = server.live(&tokens[1]).await;
    let ack = alice.send_text(&conversation, "m1", "hi bob").await;
    assert_eq!(ack["op"], "ack");
    assert_eq!(ack["seq"], 1);
    assert_eq!(ack["duplicate"], false);
    let message = bob.expect("message").await;
    assert_eq!(message["message"]["body"]["text"], "hi bob");
    assert_eq!(message["message"]["seq"], 1);
    assert_eq!(message["message"]["sender_id"], "alice");
    let reply = bob.send_text(&conversation, "m2", "hi alice").await;
    assert_eq!(reply["seq"], 2);
    // Alice sees her own echo first, then the reply: one stream in seq order.
    assert_eq!(alice.expect("message").await["message"]["seq"], 1);
    assert_eq!(alice.expect("message").await["message"]["seq"], 2);
    // History through REST agrees.
    let (status, history) = server
        .rest(
            "GET",
            &format!("/v1/conversations/{conversation}/messages?after_seq=0"),
            Some(&tokens[1]),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let seqs: Vec<i64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2]);
}

#[tokio::test]
async fn group_of_fifty_gets_every_message() {
    let server = TestServer::start().await;
    let ids: Vec<String> = (0..50).map(|n| format!("u{n:02}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let tokens = server.users(&id_refs).await;
    let group = server.group(&tokens[0], &id_refs[1..]).await;
    let mut clients = Vec::new();
    for token in &tokens {
        clients.push(server.live(token).await);
    }
    for (n, client) in clients.iter_mut().take(3).enumerate() {
        let ack = client
            .send_text(&group, &format!("g{n}"), &format!("hello {n}"))
            .await;
        assert_eq!(ack["seq"], n as i64 + 1);
    }
    for client in &mut clients {
        for seq in 1..=3 {
            assert_eq!(client.expect("message").await["message"]["seq"], seq);
        }
    }
}

#[tokio::test]
async fn concurrent_senders_are_seen_in_one_gap_free_order() {
    let server = TestServer::start().await;
    let tokens = server.users(&["a", "b", "c", "watcher"]).await;
    let group = server.group(&tokens[0], &["b", "c", "watcher"]).await;
    let mut watcher = server.live(&tokens[3]).await;
    let mut senders = Vec::new();
    for (index, token) in tokens[..3].iter().enumerate() {
        let mut client = server.live(token).await;
        let group = group.clone();
        senders.push(tokio::spawn(async move {
            for n in 0..20 {
                let ack = client.send_text(&group, &format!("{index}-{n}"), "x").await;
                assert_eq!(ack["op"], "ack", "{ack}");
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    for seq in 1..=60 {
        assert_eq!(watcher.expect("message").await["message"]["seq"], seq);
    }
}

#[tokio::test]
async fn resending_the_same_client_msg_id_is_idempotent() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    let first = alice.send_text(&conversation, "same", "hello").await;
    let again = alice.send_text(&conversation, "same", "hello").await;
    assert_eq!(
        (
            again["seq"].clone(),
            again["message_id"].clone(),
            again["duplicate"].clone()
        ),
        (
            first["seq"].clone(),
            first["message_id"].clone(),
            json!(true)
        )
    );
    let conflict = alice
        .send_text(&conversation, "same", "a different text")
        .await;
    assert_eq!(conflict["op"], "error");
    assert_eq!(conflict["code"], "idempotency_conflict");
    // REST resend of the same id answers the same message.
    let body = json!({"client_msg_id": "same", "body": {"type": "text", "text": "hello"}});
    let (status, sent) = server
        .rest(
            "POST",
            &format!("/v1/conversations/{conversation}/messages"),
            Some(&tokens[0]),
            Some(body),
        )
        .await;
    assert_eq!(
        (
            status,
            sent["duplicate"].clone(),
            sent["message"]["seq"].clone()
        ),
        (200, json!(true), first["seq"].clone())
    );
}

#[tokio::test]
async fn receipts_move_cursors_and_unread_counts() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    let mut bob = server.live(&tokens[1]).await;
    for n in 0..4 {
        alice.send_text(&conversation, &format!("m{n}"), "x").await;
    }
    let unread = |body: serde_json::Value| body["items"][0]["unread_count"].as_i64().unwrap();
    let (_, list) = server
        .rest("GET", "/v1/conversations", Some(&tokens[1]), None)
        .await;
    assert_eq!(unread(list), 4);
    bob.send(
        json!({"op": "mark_delivered", "id": "d1", "conversation_id": conversation, "seq": 4}),
    )
    .await;
    let receipt = alice.find("receipt").await;
    assert_eq!(
        (
            receipt["user_id"].clone(),
            receipt["delivered_seq"].clone(),
            receipt["read_seq"].clone()
        ),
        (json!("bob"), json!(4), json!(0))
    );
    bob.send(json!({"op": "mark_read", "id": "r1", "conversation_id": conversation, "seq": 3}))
        .await;
    let receipt = alice.find("receipt").await;
    assert_eq!(
        (
            receipt["delivered_seq"].clone(),
            receipt["read_seq"].clone()
        ),
        (json!(4), json!(3))
    );
    let (_, list) = server
        .rest("GET", "/v1/conversations", Some(&tokens[1]), None)
        .await;
    assert_eq!(unread(list), 1);
    let (status, receipts) = server
        .rest(
            "GET",
            &format!("/v1/conversations/{conversation}/receipts"),
            Some(&tokens[0]),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let bob_row = receipts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(
        bob_row,
        json!({"user_id": "bob", "delivered_seq": 4, "read_seq": 3})
    );
}

#[tokio::test]
async fn typing_reaches_the_other_member_and_is_throttled() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    let mut bob = server.live(&tokens[1]).await;
    alice
        .send(json!({"op": "typing", "conversation_id": conversation}))
        .await;
    // A second typing frame within the throttle interval is ignored.
    alice
        .send(json!({"op": "typing", "conversation_id": conversation}))
        .await;
    let typing = bob.expect("typing").await;
    assert_eq!(
        (typing["user_id"].clone(), typing["active"].clone()),
        (json!("alice"), json!(true))
    );
    assert!(typing["expires_in_ms"].as_u64().unwrap() > 0);
    // The next thing bob sees is the marker message, not a second typing frame.
    alice.send_text(&conversation, "marker", "x").await;
    let next = bob.next().await;
    assert_eq!(next["op"], "message", "{next}");
}

#[tokio::test]
async fn presence_is_aggregated_over_two_devices() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let conversation = server.direct(&tokens[0], "bob").await;
    let mut alice = server.live(&tokens[0]).await;
    let mut phone = server.live(&tokens[1]).await;
    let online = alice.next().await;
    assert_eq!(
        (
            online["op"].clone(),
            online["user_id"].clone(),
            online["status"].clone()
        ),
        (json!("presence"), json!("bob"), json!("online"))
    );
    let mut laptop = server.live(&tokens[1]).await;
    phone.stream.close(None).await.unwrap();
    eventually("bob's phone session is gone", || async {
        session_count(&server, "bob").await == 1
    })
    .await;
    // Still online: the next frame alice sees is bob's marker message, no presence change.
    laptop.send_text(&conversation, "marker", "x").await;
    assert_eq!(alice.next().await["op"], "message");
    laptop.stream.close(None).await.unwrap();
    let offline = alice.next().await;
    assert_eq!(
        (offline["op"].clone(), offline["status"].clone()),
        (json!("presence"), json!("offline"))
    );
    assert!(offline["last_seen_ms"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn a_late_joiner_gets_a_presence_snapshot_of_its_contacts() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob", "carol", "dave"]).await;
    server.direct(&tokens[0], "bob").await;
    server.group(&tokens[0], &["carol"]).await;
    // dave shares nothing with alice: his status is none of her business.
    let _dave = server.live(&tokens[3]).await;
    let bob = server.live(&tokens[1]).await;
    let mut carol = server.live(&tokens[2]).await;
    carol.stream.close(None).await.unwrap();
    eventually("carol's session is gone", || async {
        session_count(&server, "carol").await == 0
    })
    .await;

    // alice connects after the presence frames went out: the snapshot tells her.
    let (status, body) = server
        .rest("GET", "/v1/contacts/presence", Some(&tokens[0]), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let summary: Vec<_> = items
        .iter()
        .map(|item| (item["user_id"].clone(), item["status"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!("bob"), json!("online")),
            (json!("carol"), json!("offline"))
        ]
    );
    assert!(items[0]["last_seen_ms"].is_null());
    assert!(items[1]["last_seen_ms"].as_i64().unwrap() > 0);

    // The app's backend asks about one user; another app's user is not found.
    let key = server.api_key.clone();
    let (status, body) = server
        .rest("GET", "/v1/users/bob/presence", Some(&key), None)
        .await;
    assert_eq!((status, body["status"].clone()), (200, json!("online")));
    let (status, body) = server
        .rest("GET", "/v1/users/nobody/presence", Some(&key), None)
        .await;
    assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
    drop(bob);
}

async fn session_count(server: &TestServer, user: &str) -> usize {
    let key = server.api_key.clone();
    let (_, body) = server
        .rest(
            "GET",
            &format!("/v1/users/{user}/sessions"),
            Some(&key),
            None,
        )
        .await;
    body["items"].as_array().map_or(0, Vec::len)
}
