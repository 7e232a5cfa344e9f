//! The demo web client in a real browser: headless Debian Chromium opens the page served by `ccctl up`
//! twice (alice and bob, separate browser contexts), and the two chat: typing shows on the other side, a
//! message goes each way, and the sender sees the receipt move past "sent".
//!
//! Chromium is driven through the DevTools protocol over its WebSocket (`--remote-debugging-port=0`):
//! `Target.*` to open pages, `Runtime.evaluate` to act and to read the DOM.

mod up_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use up_support::Up;

const CHROMIUM_ENV: &str = "CC_TEST_CHROMIUM";
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

fn chromium_path() -> PathBuf {
    let path = std::env::var_os(CHROMIUM_ENV)
        .map_or_else(|| PathBuf::from(DEFAULT_CHROMIUM), PathBuf::from);
    assert!(
        path.exists(),
        "Chromium is not installed at {} ({CHROMIUM_ENV} overrides the path): install it with \
         `scripts/services/chromium.sh install` (Debian packages chromium and chromium-driver)",
        path.display()
    );
    path
}

/// A headless Chromium with its own temporary profile; killed when dropped.
struct Browser {
    child: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> (Self, String) {
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let log = std::fs::File::create(profile.path().join("chromium.log")).expect("chromium log");
        let child = Command::new(chromium_path())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting chromium");
        let mut browser = Self { child, profile };
        let endpoint = browser.devtools_endpoint();
        (browser, endpoint)
    }

    /// Chromium writes `<port>\n<browser path>` to `DevToolsActivePort` in the profile once listening.
    fn devtools_endpoint(&mut self) -> String {
        let file = self.profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some((port, path)) = text.split_once('\n')
                && !path.trim().is_empty()
            {
                return format!("ws://127.0.0.1:{}{}", port.trim(), path.trim());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromium exited with {status} before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromium not listening after 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal DevTools protocol client: numbered calls, answers matched by id, events skipped.
struct DevTools {
    socket: up_support::Socket,
    next_id: u64,
}

impl DevTools {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("connecting to DevTools")?;
        Ok(Self { socket, next_id: 0 })
    }

    async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            request["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(request.to_string()))
            .await
            .context("sending a DevTools call")?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .with_context(|| format!("{method}: no answer within 30 s"))?
                .context("DevTools connection closed")??;
            let Message::Text(text) = frame else { continue };
            let answer: Value = serde_json::from_str(&text)?;
            if answer["id"] != id {
                continue; // an event
            }
            if let Some(error) = answer.get("error") {
                anyhow::bail!("{method}: {error}");
            }
            return Ok(answer["result"].clone());
        }
    }

    /// Opens `url` in a fresh browser context (its own storage) and attaches to it.
    async fn open_page(&mut self, url: &str) -> anyhow::Result<String> {
        let context = self
            .call(None, "Target.createBrowserContext", json!({}))
            .await?;
        let target = self
            .call(
                None,
                "Target.createTarget",
                json!({"url": url, "browserContextId": context["browserContextId"]}),
            )
            .await?;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await?;
        attached["sessionId"]
            .as_str()
            .map(str::to_owned)
            .context("no sessionId")
    }

    /// Evaluates `expression` in the page and returns its (JSON) value.
    async fn eval(&mut self, session: &str, expression: &str) -> anyhow::Result<Value> {
        let result = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            anyhow::bail!("{expression}: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Polls `expression` until it is `true` (every 100 ms, ≤ 20 s); on timeout names what was awaited
    /// and shows what the page displayed.
    async fn wait_for(&mut self, session: &str, what: &str, expression: &str) {
        let started = Instant::now();
        loop {
            if self.eval(session, expression).await.ok() == Some(Value::Bool(true)) {
                return;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let page = self
                    .eval(session, "document.body.innerText")
                    .await
                    .unwrap_or_default();
                panic!("{what}: not true after 20 s: {expression}\npage text:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

const ONLINE: &str = "document.querySelector('[data-testid=connection]').textContent === 'online'";

fn has_message(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#messages .message .text')].some(e => e.textContent === {})",
        json!(text)
    )
}

fn open_chat_with(peer: &str) -> String {
    format!(
        "(() => {{ const item = document.querySelector('[data-peer=\"{peer}\"]'); if (!item) return false; item.click(); return true; }})()"
    )
}

fn send_text(text: &str) -> String {
    format!(
        "(() => {{ const input = document.getElementById('composer-text'); input.value = {}; \
         document.getElementById('composer-send').click(); return true; }})()",
        json!(text)
    )
}

const TYPE_A_LETTER: &str = "(() => { const input = document.getElementById('composer-text'); input.value = 'h'; \
     input.dispatchEvent(new Event('input', {bubbles: true})); return true; })()";

async fn chat(base: &str, devtools: &mut DevTools) {
    // Alice first, then bob: alice's page is live when bob comes online, so a `presence` frame tells
    // her; bob's page connects after alice came online, so only the REST snapshot can tell him.
    let mut sessions = Vec::new();
    for (user, peer) in [("alice", "bob"), ("bob", "alice")] {
        let session = devtools
            .open_page(&format!("{base}/?user={user}"))
            .await
            .expect("opening a page");
        devtools
            .wait_for(&session, "the page connects and resumes", ONLINE)
            .await;
        devtools
            .wait_for(
                &session,
                "the 1:1 is listed and opens",
                &open_chat_with(peer),
            )
            .await;
        devtools
            .wait_for(
                &session,
                "the composer is enabled",
                "!document.getElementById('composer-text').disabled",
            )
            .await;
        sessions.push(session);
    }
    let (alice, bob) = (&sessions[0], &sessions[1]);
    devtools
        .wait_for(
            alice,
            "alice sees bob online",
            "document.querySelector('[data-member=bob] [data-presence]')?.dataset.presence === 'online'",
        )
        .await;
    devtools
        .wait_for(
            bob,
            "bob sees alice online (from the snapshot)",
            "document.querySelector('[data-member=alice] [data-presence]')?.dataset.presence === 'online'",
        )
        .await;

    // Typing: alice types, bob sees it.
    devtools
        .eval(alice, TYPE_A_LETTER)
        .await
        .expect("alice types");
    devtools
        .wait_for(
            bob,
            "bob sees alice typing",
            "document.getElementById('typing').textContent.includes('alice is typing')",
        )
        .await;

    // A message each way.
    let hello = format!("hello bob, from alice ({})", std::process::id());
    devtools
        .eval(alice, &send_text(&hello))
        .await
        .expect("alice sends");
    devtools
        .wait_for(bob, "bob receives alice's message", &has_message(&hello))
        .await;
    let reply = "hi alice — bob here ✓";
    devtools
        .eval(bob, &send_text(reply))
        .await
        .expect("bob replies");
    devtools
        .wait_for(alice, "alice receives bob's reply", &has_message(reply))
        .await;

    // Receipts: bob's client marked alice's message delivered or read; alice's page shows it.
    devtools
        .wait_for(
            alice,
            "alice sees a receipt beyond 'sent'",
            "[...document.querySelectorAll('#messages .message.mine [data-testid=receipt]')].some(e => e.textContent === 'read' || e.textContent === 'delivered')",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browser_pages_chat_through_ccctl_up() {
    let chromium = chromium_path();
    let data = tempfile::tempdir().expect("temp dir");
    let up = Up::start(&data.path().join("ccplatform"));
    let (browser, endpoint) = Browser::launch();
    let mut devtools = DevTools::connect(&endpoint)
        .await
        .expect("DevTools connection");
    let result =
        tokio::time::timeout(Duration::from_secs(120), chat(&up.base, &mut devtools)).await;
    assert!(
        result.is_ok(),
        "the browser chat did not finish within 120 s ({}); chromium log:\n{}\nccctl up stderr:\n{}",
        chromium.display(),
        browser.log(),
        up.stderr()
    );
    drop(browser);
}
