//! Shared by the `ccctl up` end-to-end tests: run the real `ccctl up` binary on a free port with a
//! temporary data directory, log in as demo users, and talk to it over REST and WebSocket.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The `ccctl` binary, built now if needed: cargo exposes a binary only to its own package's tests, so
/// this package asks cargo for it (a no-op when it is up to date) and finds it next to this test's `deps/`.
pub fn ccctl_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("test binaries live in <target>/<profile>/deps")
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "-p", "ccctl", "--bin", "ccctl"]);
            if profile_dir
                .file_name()
                .is_some_and(|name| name == "release")
            {
                build.arg("--release");
            }
            let output = build.output().expect("running cargo build -p ccctl");
            assert!(
                output.status.success(),
                "cargo build -p ccctl failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let binary = profile_dir.join("ccctl");
            assert!(
                binary.exists(),
                "{} missing after cargo build -p ccctl",
                binary.display()
            );
            binary
        })
        .clone()
}

/// A running `ccctl up`, killed (SIGKILL) when dropped.
pub struct Up {
    pub child: Child,
    /// The JSON object `ccctl --output json up` printed once serving.
    pub started: Value,
    /// `http://127.0.0.1:<port>` without a trailing slash.
    pub base: String,
    stderr_path: PathBuf,
}

impl Up {
    /// Starts `ccctl up --port 0 --data-dir <data_dir>` and waits (≤ 60 s) for its start-up line.
    pub fn start(data_dir: &Path) -> Self {
        let stderr_path = data_dir.with_extension(format!("stderr-{}.log", rand_suffix()));
        let stderr = std::fs::File::create(&stderr_path).expect("creating the stderr log");
        let mut child = Command::new(ccctl_binary())
            .args(["--output", "json", "up", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting ccctl up");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "ccctl up printed no start-up line within 60 s; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("ccctl up printed {line:?}, not JSON: {error}"));
        let base = started["url"]
            .as_str()
            .expect("url in the start-up line")
            .trim_end_matches('/')
            .to_owned();
        Self {
            child,
            started,
            base,
            stderr_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL: no drain, no flush — what a power cut or OOM kill looks like to the process.
    pub fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL ccctl up");
        self.child.wait().expect("reaping ccctl up");
    }

    /// SIGTERM, then waits (≤ `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("polling ccctl up") {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "ccctl up still running {limit:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn ws_url(&self, token: &str) -> String {
        format!(
            "{}/v1/ws?token={token}",
            self.base.replacen("http://", "ws://", 1)
        )
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn rand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().subsec_nanos()
    )
}

/// `POST /demo/login` → a user token.
pub async fn demo_login(base: &str, user_id: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .post(format!("{base}/demo/login"))
        .json(&json!({ "user_id": user_id }))
        .send()
        .await
        .context("POST /demo/login")?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("reading the demo login answer")?;
    anyhow::ensure!(
        status.is_success(),
        "POST /demo/login as {user_id}: {status} {body}"
    );
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the demo login answer")
}

/// `GET` with a user token, as JSON.
pub async fn get_json(base: &str, token: &str, path: &str) -> anyhow::Result<Value> {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("reading GET {path}"))?;
    anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
    Ok(body)
}

/// The id of the conversation of `kind` (`direct` / `group`) the token's user sees first.
pub async fn conversation_of_kind(base: &str, token: &str, kind: &str) -> anyhow::Result<String> {
    let list = get_json(base, token, "/v1/conversations").await?;
    list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|item| item["type"] == kind))
        .and_then(|item| item["conversation_id"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {kind} conversation in {list}"))
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A protocol client: connects, reads `hello`, resumes with `cursors`, and waits for the resume ack.
/// Returns the socket and the frames that arrived before the ack (the replay).
pub async fn connect_resumed(url: &str, cursors: Value) -> anyhow::Result<(Socket, Vec<Value>)> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("WebSocket connect")?;
    let hello = next_json(&mut socket).await?;
    anyhow::ensure!(hello["op"] == "hello", "first frame was not hello: {hello}");
    let resume = json!({"op": "resume", "id": "resume", "conversations": cursors});
    socket
        .send(Message::text(resume.to_string()))
        .await
        .context("sending resume")?;
    let mut replayed = Vec::new();
    loop {
        let frame = next_json(&mut socket).await?;
        if frame["op"] == "ack" && frame["id"] == "resume" {
            return Ok((socket, replayed));
        }
        replayed.push(frame);
    }
}

/// The next text frame as JSON (pings and pongs skipped), within 10 s.
pub async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    let deadline = Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout(deadline, socket.next())
            .await
            .context("no frame within 10 s")?
            .context("the server closed the connection")?
            .context("reading a frame")?;
        match frame {
            Message::Text(text) => {
                return serde_json::from_str(&text).context("a non-JSON text frame");
            }
            Message::Close(close) => anyhow::bail!("closed by the server: {close:?}"),
            _ => {}
        }
    }
}
