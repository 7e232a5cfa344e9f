//! Test harness: a real server on 127.0.0.1:0 over a temporary SQLite file, a REST helper and a
//! WebSocket client (tokio-tungstenite). Every wait polls with a deadline; nothing sleeps to sync.
#![allow(dead_code, clippy::unwrap_used, clippy::missing_panics_doc)]

use ccserver::server::{self, StateOptions};
use ccserver::{AppState, GatewaySettings, Roles, WebAssets};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    pub app_id: String,
    pub api_key: String,
    pub data_dir: PathBuf,
    temp: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    http: reqwest::Client,
}

pub fn options(data_dir: &std::path::Path) -> StateOptions {
    StateOptions {
        storage_path: data_dir.join("chat.db"),
        durability: cc_store_sqlite::Durability::Normal,
        keys_dir: data_dir.join("keys"),
        create_keys: true,
        admin_token: Some("cca_0123456789abcdef0123456789abcdef".into()),
        gateway: GatewaySettings {
            allowed_origins: vec!["https://chat.example".into()],
            drain: Duration::from_millis(300),
            ..GatewaySettings::default()
        },
        limits: cc_core::CoreLimits {
            messages_per_sec: 1000,
            message_burst: 1000,
            ..cc_core::CoreLimits::default()
        },
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut StateOptions)) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_owned();
        let mut server = Self::start_in(dir, configure, None).await;
        server.temp = Some(temp);
        server
    }

    /// Start over `data_dir`; reuses the app when `app` is given (restart tests).
    pub async fn start_in(
        data_dir: PathBuf,
        configure: impl FnOnce(&mut StateOptions),
        app: Option<(String, String)>,
    ) -> Self {
        let mut options = options(&data_dir);
        configure(&mut options);
        let state = server::build_state(options).await.unwrap();
        let (app_id, api_key) = if let Some(app) = app {
            app
        } else {
            let (app, key) = state.service.create_app("test").await.unwrap();
            (app.id.0, key.api_key)
        };
        let router = server::app(state.clone(), Roles::ALL, &WebAssets::None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, state.clone(), router, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            state,
            app_id,
            api_key,
            data_dir,
            temp: None,
            shutdown: Some(tx),
            task,
            http: reqwest::Client::new(),
        }
    }

    /// Drain and stop; returns once the server task ended.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        self.temp.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One REST call; answers (status, JSON body or Null).
    pub async fn rest(
        &self,
        method: &str,
        path: &str,
        credential: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.url(path));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create_user(&self, user_id: &str) {
        let (status, body) = self
            .rest(
                "POST",
                "/v1/users",
                Some(&self.api_key.clone()),
                Some(json!({"user_id": user_id, "name": user_id})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    pub async fn token(&self, user_id: &str) -> String {
        let (status, body) = self
            .rest(
                "POST",
                &format!("/v1/users/{user_id}/tokens"),
                Some(&self.api_key.clone()),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Create users and return their tokens.
    pub async fn users(&self, ids: &[&str]) -> Vec<String> {
        let mut tokens = Vec::new();
        for id in ids {
            self.create_user(id).await;
            tokens.push(self.token(id).await);
        }
        tokens
    }

    pub async fn direct(&self, token: &str, peer: &str) -> String {
        let (status, body) = self
            .rest(
                "POST",
                "/v1/conversations",
                Some(token),
                Some(json!({"type": "direct", "peer_id": peer})),
            )
            .await;
        assert!(status == 201, "{body}");
        body["conversation_id"].as_str().unwrap().to_owned()
    }

    pub async fn group(&self, token: &str, members: &[&str]) -> String {
        let body =
            json!({"type": "group", "name": "g", "visibility": "private", "members": members});
        let (status, body) = self
            .rest("POST", "/v1/conversations", Some(token), Some(body))
            .await;
        assert_eq!(status, 201, "{body}");
        body["conversation_id"].as_str().unwrap().to_owned()
    }

    pub async fn ws(&self, token: &str) -> Client {
        Client::connect(self.addr, token).await
    }

    /// A connected client that has resumed with no cursors (so it receives live events).
    pub async fn live(&self, token: &str) -> Client {
        let mut client = self.ws(token).await;
        client.resume(BTreeMap::new()).await;
        client
    }
}

pub struct Client {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub session_id: String,
    next_id: u64,
    /// Frames read while waiting for a specific answer, handed out by `next` first.
    pending: std::collections::VecDeque<Value>,
}

impl Client {
    pub async fn connect(addr: SocketAddr, token: &str) -> Self {
        let url = format!("ws://{addr}/v1/ws?token={token}");
        let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Self {
            stream,
            session_id: String::new(),
            next_id: 0,
            pending: std::collections::VecDeque::new(),
        };
        let hello = client.next().await;
        assert_eq!(hello["op"], "hello", "{hello}");
        hello["session_id"]
            .as_str()
            .unwrap()
            .clone_into(&mut client.session_id);
        client
    }

    pub fn request_id(&mut self) -> String {
        self.next_id += 1;
        format!("r{}", self.next_id)
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    /// The next JSON frame (pings skipped), or a panic after the deadline.
    pub async fn next(&mut self) -> Value {
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        self.read().await
    }

    async fn read(&mut self) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return serde_json::from_str::<Value>(&text).unwrap();
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => panic!("expected a frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("no frame before the deadline")
    }

    /// The next frame with this op, skipping presence and typing noise only.
    pub async fn expect(&mut self, op: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["op"] == op {
                return frame;
            }
            assert!(
                frame["op"] == "presence"
                    || frame["op"] == "typing"
                    || frame["op"] == "receipt"
                    || frame["op"] == "membership",
                "expected {op}, got {frame}"
            );
        }
    }

    /// Send `resume` and collect every frame up to its ack (inclusive).
    pub async fn resume(&mut self, conversations: BTreeMap<String, i64>) -> Vec<Value> {
        let id = self.request_id();
        self.send(json!({"op": "resume", "id": id, "conversations": conversations}))
            .await;
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let done = frame["op"] == "ack" && frame["id"] == id.as_str();
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// Send a text message and wait for its ack (other frames before it are returned too).
    pub async fn send_text(
        &mut self,
        conversation: &str,
        client_msg_id: &str,
        text: &str,
    ) -> Value {
        let id = self.request_id();
        self.send(json!({"op": "send", "id": id, "conversation_id": conversation, "client_msg_id": client_msg_id, "body": {"type": "text", "text": text}})).await;
        self.answer(&id).await
    }

    /// Wait for the answer to request `id`, keeping every other frame for `next`.
    pub async fn answer(&mut self, id: &str) -> Value {
        loop {
            let frame = self.read().await;
            if frame["id"] == id {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame with this op, skipping any other.
    pub async fn find(&mut self, op: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["op"] == op {
                return frame;
            }
        }
    }

    /// Wait for the server's close frame and return its code.
    pub async fn expect_close(&mut self) -> u16 {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        return frame.map_or(1005, |f| u16::from(f.code));
                    }
                    Some(Ok(_)) => {}
                    other => panic!("expected a close frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("no close before the deadline")
    }
}

/// Poll `check` until it holds or the deadline passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
