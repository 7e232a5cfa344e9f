//! Device sessions: revoking closes the connection and refuses its token; deactivation; drain.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns; a failed unwrap is a failed test.

mod common;

use common::{TestServer, eventually};

#[tokio::test]
async fn revoking_a_session_closes_it_and_refuses_its_token() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice"]).await;
    let mut phone = server.live(&tokens[0]).await;
    let (status, listed) = server
        .rest("GET", "/v1/sessions", Some(&tokens[0]), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"][0]["session_id"], phone.session_id.as_str());
    let (status, _) = server
        .rest(
            "DELETE",
            &format!("/v1/sessions/{}", phone.session_id),
            Some(&tokens[0]),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(phone.expect_close().await, 4001);
    let (status, body) = server.rest("GET", "/v1/me", Some(&tokens[0]), None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn the_app_can_revoke_any_session_and_deactivate_users() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob"]).await;
    let mut alice = server.live(&tokens[0]).await;
    let mut bob = server.live(&tokens[1]).await;
    let key = server.api_key.clone();
    // Another user cannot see or revoke alice's session.
    let (status, _) = server
        .rest(
            "DELETE",
            &format!("/v1/sessions/{}", alice.session_id),
            Some(&tokens[1]),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .rest(
            "DELETE",
            &format!("/v1/sessions/{}", alice.session_id),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(alice.expect_close().await, 4001);
    let (status, _) = server
        .rest("POST", "/v1/users/bob/deactivate", Some(&key), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(bob.expect_close().await, 4003);
}

#[tokio::test]
async fn drain_turns_readiness_off_and_closes_with_1012() {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice"]).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(server.live(&tokens[0]).await);
    }
    let (status, _) = server.rest("GET", "/readyz", None, None).await;
    assert_eq!(status, 200);
    let state = server.state.clone();
    let stopping = tokio::spawn(server.stop());
    for client in &mut clients {
        assert_eq!(client.expect_close().await, 1012);
    }
    eventually("gateway drained", || async {
        state.gateway.connection_count() == 0
    })
    .await;
    assert!(!state.is_ready());
    stopping.await.unwrap();
}
