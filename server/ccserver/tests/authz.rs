//! The authorisation matrix: every REST route and every WebSocket op, called with credentials that
//! must not work (none, garbage, forged, expired, `alg` confusion, another app, wrong credential
//! kind, non-member, lower role), is refused with an error body that carries no data.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns; a failed unwrap is a failed test.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cc_core::auth::jwt::{self, Claims};
use common::TestServer;
use serde_json::{Value, json};

const MARKER: &str = "SECRET-MARKER";
const GROUP_NAME: &str = "Top Secret Group";

struct World {
    server: TestServer,
    group: String,
    message: String,
    key_id: String,
    alice: String,
    bob: String,
    dave: String,
    other_app_key: String,
    eve: String,
}

fn seed_of(server: &TestServer) -> (String, [u8; 32]) {
    let keys = server.data_dir.join("keys");
    let entry = std::fs::read_dir(&keys)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kid = entry.file_stem().unwrap().to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&entry).unwrap();
    let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
        .try_into()
        .unwrap();
    (kid, seed)
}

fn claims(app: &str, user: &str, exp: i64) -> Claims {
    Claims {
        iss: jwt::ISSUER.into(),
        sub: user.into(),
        aud: Claims::audience_for(app),
        app: app.into(),
        iat: 0,
        exp,
        jti: "j-test".into(),
    }
}

fn now_secs() -> i64 {
    cc_core::ids::now_ms() / 1000
}

/// Tokens that must never authenticate, for user `alice` of the first app.
fn bad_tokens(world: &World) -> Vec<(&'static str, String)> {
    let (kid, seed) = seed_of(&world.server);
    let real = ed25519_dalek::SigningKey::from_bytes(&seed);
    let forged_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let app = world.server.app_id.as_str();
    let good_claims = claims(app, "alice", now_secs() + 600);
    let unsigned = |alg: &str| {
        let header =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#));
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims).unwrap());
        format!("{header}.{body}.{}", URL_SAFE_NO_PAD.encode([7_u8; 32]))
    };
    vec![
        ("garbage", "not-a-token".into()),
        (
            "forged signature",
            jwt::sign(&kid, &forged_key, &good_claims),
        ),
        (
            "expired",
            jwt::sign(&kid, &real, &claims(app, "alice", now_secs() - 3600)),
        ),
        ("alg none", unsigned("none")),
        ("alg HS256", unsigned("HS256")),
        ("alg RS256", unsigned("RS256")),
        (
            "other audience",
            jwt::sign(
                &kid,
                &real,
                &Claims {
                    aud: "ccserver:someone-else".into(),
                    ..good_claims.clone()
                },
            ),
        ),
        (
            "unknown user",
            jwt::sign(&kid, &real, &claims(app, "nobody", now_secs() + 600)),
        ),
        ("bad api key", "cck_0123456789abcdef_wrong".into()),
        (
            "bad admin token",
            "cca_wrongwrongwrongwrongwrongwrongwrong".into(),
        ),
    ]
}

async fn world() -> World {
    let server = TestServer::start().await;
    let tokens = server.users(&["alice", "bob", "carol", "dave"]).await;
    let body = json!({"type": "group", "name": GROUP_NAME, "visibility": "private", "members": ["bob", "carol"]});
    let (_, group) = server
        .rest("POST", "/v1/conversations", Some(&tokens[0]), Some(body))
        .await;
    let group = group["conversation_id"].as_str().unwrap().to_owned();
    let (status, _) = server
        .rest(
            "PATCH",
            &format!("/v1/conversations/{group}/members/carol"),
            Some(&tokens[0]),
            Some(json!({"role": "moderator"})),
        )
        .await;
    assert_eq!(status, 204);
    let send = json!({"client_msg_id": "s1", "body": {"type": "text", "text": MARKER}});
    let (_, sent) = server
        .rest(
            "POST",
            &format!("/v1/conversations/{group}/messages"),
            Some(&tokens[0]),
            Some(send),
        )
        .await;
    let message = sent["message"]["id"].as_str().unwrap().to_owned();
    let key = server.api_key.clone();
    let (_, keys) = server.rest("GET", "/v1/api-keys", Some(&key), None).await;
    let key_id = keys["items"][0]["key_id"].as_str().unwrap().to_owned();
    // A second app with its own key and user.
    let (status, other) = server
        .rest(
            "POST",
            "/v1/apps",
            Some("cca_0123456789abcdef0123456789abcdef"),
            Some(json!({"name": "other"})),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let other_app_key = other["api_key"]["api_key"].as_str().unwrap().to_owned();
    let (status, _) = server
        .rest(
            "POST",
            "/v1/users",
            Some(&other_app_key),
            Some(json!({"user_id": "eve"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, eve) = server
        .rest("POST", "/v1/users/eve/tokens", Some(&other_app_key), None)
        .await;
    World {
        group,
        message,
        key_id,
        alice: tokens[0].clone(),
        bob: tokens[1].clone(),
        dave: tokens[3].clone(),
        other_app_key,
        eve: eve["token"].as_str().unwrap().to_owned(),
        server,
    }
}

/// Who may call a route legitimately.
#[derive(Clone, Copy, PartialEq)]
enum Needs {
    Admin,
    ApiKey,
    /// A user token; `Some(role)` when a group role above member is required.
    Member(Option<&'static str>),
    AnyUser,
    ApiKeyOrUser,
}

fn routes(w: &World) -> Vec<(&'static str, String, Option<Value>, Needs)> {
    let g = &w.group;
    let m = &w.message;
    let text = json!({"body": {"type": "text", "text": "x"}});
    vec![
        (
            "POST",
            "/v1/apps".into(),
            Some(json!({"name": "x"})),
            Needs::Admin,
        ),
        ("GET", "/v1/api-keys".into(), None, Needs::ApiKey),
        (
            "POST",
            "/v1/api-keys".into(),
            Some(json!({})),
            Needs::ApiKey,
        ),
        (
            "DELETE",
            format!("/v1/api-keys/{}", w.key_id),
            None,
            Needs::ApiKey,
        ),
        ("GET", "/v1/users".into(), None, Needs::ApiKey),
        (
            "POST",
            "/v1/users".into(),
            Some(json!({"user_id": "zed"})),
            Needs::ApiKey,
        ),
        ("GET", "/v1/users/alice".into(), None, Needs::ApiKeyOrUser),
        (
            "PATCH",
            "/v1/users/alice".into(),
            Some(json!({"name": "A"})),
            Needs::ApiKeyOrUser,
        ),
        (
            "POST",
            "/v1/users/alice/deactivate".into(),
            None,
            Needs::ApiKey,
        ),
        ("POST", "/v1/users/alice/tokens".into(), None, Needs::ApiKey),
        (
            "GET",
            "/v1/users/alice/sessions".into(),
            None,
            Needs::ApiKey,
        ),
        (
            "GET",
            "/v1/users/alice/presence".into(),
            None,
            Needs::ApiKey,
        ),
        ("GET", "/v1/me".into(), None, Needs::AnyUser),
        ("GET", "/v1/contacts/presence".into(), None, Needs::AnyUser),
        ("GET", "/v1/sessions".into(), None, Needs::AnyUser),
        (
            "DELETE",
            "/v1/sessions/0000".into(),
            None,
            Needs::ApiKeyOrUser,
        ),
        (
            "POST",
            "/v1/conversations".into(),
            Some(json!({"type": "direct", "peer_id": "bob"})),
            Needs::AnyUser,
        ),
        ("GET", "/v1/conversations".into(), None, Needs::AnyUser),
        (
            "GET",
            format!("/v1/conversations/{g}"),
            None,
            Needs::Member(None),
        ),
        (
            "PATCH",
            format!("/v1/conversations/{g}"),
            Some(json!({"name": "n"})),
            Needs::Member(Some("admin")),
        ),
        (
            "GET",
            format!("/v1/conversations/{g}/members"),
            None,
            Needs::Member(None),
        ),
        (
            "POST",
            format!("/v1/conversations/{g}/members"),
            Some(json!({"user_id": "dave"})),
            Needs::Member(Some("admin")),
        ),
        (
            "PATCH",
            format!("/v1/conversations/{g}/members/carol"),
            Some(json!({"role": "member"})),
            Needs::Member(Some("admin")),
        ),
        (
            "DELETE",
            format!("/v1/conversations/{g}/members/carol"),
            None,
            Needs::Member(Some("moderator")),
        ),
        (
            "POST",
            format!("/v1/conversations/{g}/bans"),
            Some(json!({"user_id": "carol"})),
            Needs::Member(Some("moderator")),
        ),
        (
            "DELETE",
            format!("/v1/conversations/{g}/bans/dave"),
            None,
            Needs::Member(Some("moderator")),
        ),
        (
            "POST",
            format!("/v1/conversations/{g}/join"),
            None,
            Needs::Member(None),
        ),
        (
            "POST",
            format!("/v1/conversations/{g}/leave"),
            None,
            Needs::Member(None),
        ),
        (
            "GET",
            format!("/v1/conversations/{g}/messages"),
            None,
            Needs::Member(None),
        ),
        (
            "POST",
            format!("/v1/conversations/{g}/messages"),
            Some(json!({"client_msg_id": "z", "body": {"type": "text", "text": "x"}})),
            Needs::Member(None),
        ),
        (
            "PATCH",
            format!("/v1/conversations/{g}/messages/{m}"),
            Some(text),
            Needs::Member(None),
        ),
        (
            "DELETE",
            format!("/v1/conversations/{g}/messages/{m}"),
            None,
            Needs::Member(Some("moderator")),
        ),
        (
            "GET",
            format!("/v1/conversations/{g}/messages/{m}/replies"),
            None,
            Needs::Member(None),
        ),
        (
            "POST",
            format!("/v1/conversations/{g}/messages/{m}/reactions"),
            Some(json!({"emoji": "👍"})),
            Needs::Member(None),
        ),
        (
            "DELETE",
            format!("/v1/conversations/{g}/messages/{m}/reactions/x"),
            None,
            Needs::Member(None),
        ),
        (
            "GET",
            format!("/v1/conversations/{g}/receipts"),
            None,
            Needs::Member(None),
        ),
        (
            "POST",
            format!("/v1/conversations/{g}/receipts"),
            Some(json!({"read_seq": 1})),
            Needs::Member(None),
        ),
    ]
}

fn assert_refused(what: &str, status: u16, body: &Value) {
    assert!(
        matches!(status, 401 | 403 | 404),
        "{what}: expected a refusal, got {status} {body}"
    );
    // Sorted: serde_json keeps insertion order when a dependency enables `preserve_order` (bson does).
    let mut keys: Vec<&String> = body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    keys.sort();
    assert_eq!(
        keys,
        ["code", "details", "message"],
        "{what}: the refusal must be the bare error body: {body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains(MARKER) && !text.contains(GROUP_NAME),
        "{what}: data leaked: {text}"
    );
}

#[tokio::test]
async fn every_rest_route_refuses_wrong_credentials_without_data() {
    let w = world().await;
    let bad = bad_tokens(&w);
    let routes = routes(&w);
    let mut checked = 0;
    for (method, path, body, needs) in &routes {
        let what = |who: &str| format!("{method} {path} as {who}");
        let (status, answer) = w.server.rest(method, path, None, body.clone()).await;
        assert_eq!(status, 401, "{}", what("nobody"));
        assert_refused(&what("nobody"), status, &answer);
        for (label, token) in &bad {
            let (status, answer) = w.server.rest(method, path, Some(token), body.clone()).await;
            assert_eq!(status, 401, "{}: {answer}", what(label));
            assert_refused(&what(label), status, &answer);
        }
        // Credentials of the wrong kind or of another app.
        let mut wrong: Vec<(&str, &str)> = vec![("other app's user", &w.eve)];
        match needs {
            Needs::Admin => wrong.extend([
                ("api key", w.server.api_key.as_str()),
                ("user", w.alice.as_str()),
            ]),
            Needs::ApiKey => {
                wrong.push(("user", w.alice.as_str()));
                // Another app's key on a route naming one of this app's objects. (On the app's
                // own collections it legitimately sees only its own app: checked below.)
                if path.contains("alice") || path.contains(&w.key_id) {
                    wrong.push(("other app's key", w.other_app_key.as_str()));
                }
            }
            Needs::Member(role) => {
                wrong.extend([
                    ("api key", w.server.api_key.as_str()),
                    ("non-member", w.dave.as_str()),
                ]);
                if role.is_some() {
                    wrong.push(("lower role (member)", w.bob.as_str()));
                }
            }
            Needs::AnyUser => wrong.push(("api key", w.server.api_key.as_str())),
            Needs::ApiKeyOrUser => wrong.push(("other app's key", w.other_app_key.as_str())),
        }
        for (label, credential) in wrong {
            // `join` by a non-member of a private group and a few self-service routes succeed for
            // any user of the app by design; the other app's user is refused everywhere.
            let self_service = matches!(needs, Needs::AnyUser) && label == "other app's user";
            let join_by_member = path.ends_with("/join") && label == "lower role (member)";
            if self_service || join_by_member {
                continue;
            }
            let (status, answer) = w
                .server
                .rest(method, path, Some(credential), body.clone())
                .await;
            assert_refused(&what(label), status, &answer);
            checked += 1;
        }
    }
    assert!(checked > 60, "matrix too small: {checked}");
    for path in ["/v1/users", "/v1/api-keys"] {
        let (status, answer) = w
            .server
            .rest("GET", path, Some(&w.other_app_key), None)
            .await;
        assert_eq!(status, 200);
        assert!(
            !answer.to_string().contains("alice") && !answer.to_string().contains(&w.key_id),
            "{path} leaked: {answer}"
        );
    }
    // The group and its message are untouched after the whole matrix.
    let (_, page) = w
        .server
        .rest(
            "GET",
            &format!("/v1/conversations/{}/messages", w.group),
            Some(&w.alice),
            None,
        )
        .await;
    assert_eq!(page["items"][0]["body"]["text"], MARKER);
}

#[tokio::test]
async fn every_websocket_op_refuses_outsiders_and_lower_roles() {
    let w = world().await;
    let g = w.group.as_str();
    let m = w.message.as_str();
    let ops = [
        json!({"op": "send", "id": "o1", "conversation_id": g, "client_msg_id": "q", "body": {"type": "text", "text": "x"}}),
        json!({"op": "edit", "id": "o2", "conversation_id": g, "message_id": m, "body": {"type": "text", "text": "x"}}),
        json!({"op": "delete", "id": "o3", "conversation_id": g, "message_id": m}),
        json!({"op": "react", "id": "o4", "conversation_id": g, "message_id": m, "emoji": "x"}),
        json!({"op": "typing", "id": "o5", "conversation_id": g}),
        json!({"op": "mark_delivered", "id": "o6", "conversation_id": g, "seq": 1}),
        json!({"op": "mark_read", "id": "o7", "conversation_id": g, "seq": 1}),
    ];
    for (label, token) in [("other app's user", &w.eve), ("non-member", &w.dave)] {
        let mut client = w.server.live(token).await;
        for op in &ops {
            client.send(op.clone()).await;
            let answer = client.answer(op["id"].as_str().unwrap()).await;
            assert_eq!(
                (answer["op"].as_str(), answer["code"].as_str()),
                (Some("error"), Some("not_found")),
                "{label} {op}"
            );
            assert!(
                !answer.to_string().contains(MARKER),
                "{label}: leaked {answer}"
            );
        }
        let frames = client.resume([(g.to_owned(), 0)].into()).await;
        assert!(
            frames.iter().all(|f| f["op"] != "message"),
            "{label} got a replay: {frames:?}"
        );
        assert!(
            frames.iter().any(|f| f["code"] == "not_found"),
            "{label}: {frames:?}"
        );
    }
    // A plain member may not edit or delete someone else's message.
    let mut bob = w.server.live(&w.bob).await;
    for op in &ops[1..3] {
        bob.send(op.clone()).await;
        assert_eq!(
            bob.answer(op["id"].as_str().unwrap()).await["code"],
            "forbidden",
            "{op}"
        );
    }
    // Bad tokens and a foreign Origin are refused at the handshake.
    for (label, token) in bad_tokens(&w) {
        let url = format!("ws://{}/v1/ws?token={token}", w.server.addr);
        let refused = tokio_tungstenite::connect_async(url).await;
        let status = match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            other => panic!(
                "{label}: handshake should fail, got {:?}",
                other.map(|_| "connected")
            ),
        };
        assert_eq!(status, 401, "{label}");
    }
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/v1/ws?token={}",
            w.server.addr, w.alice
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        other => panic!(
            "foreign origin should be refused, got {:?}",
            other.map(|_| "connected")
        ),
    }
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/v1/ws?token={}",
            w.server.addr, w.alice
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://chat.example".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(request).await.is_ok(),
        "an allowed origin connects"
    );
}
