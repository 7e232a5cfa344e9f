//! Shared by the production-path end-to-end tests: `ccserver` replicas as real processes on the real backends of
//! the services harness, a path-routing TCP balancer in front of them (the NGINX of a deployment), and the
//! `cc-loadgen` delivery checker.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cc_e2e::services::{FERRETDB, KAFKA, MARIADB, REDIS, REDIS_CLUSTER, Service};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A workspace binary, built now if needed (cargo exposes binaries only to their own package's tests), found
/// next to this test's `deps/`.
pub fn binary(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps")
        .to_path_buf();
    let path = profile_dir.join(name);
    // For repeated local runs while the workspace is being edited: use the binary already built.
    if std::env::var_os("CC_E2E_PREBUILT").is_some() && path.exists() {
        return path;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", package, "--bin", name]);
    // The same profile as this test (`--release`, `--profile profiling` for measurements); `dev` builds
    // into `debug/`.
    if let Some(profile) = profile_dir.file_name().and_then(|n| n.to_str())
        && profile != "debug"
    {
        build.args(["--profile", profile]);
    }
    let output = build.output().expect("running cargo build");
    assert!(
        output.status.success(),
        "cargo build -p {package} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        path.exists(),
        "{} missing after cargo build -p {package}",
        path.display()
    );
    path
}

/// Fails the test (never skips) naming the service and its start script.
pub fn require(service: Service, error: impl std::fmt::Display) -> ! {
    panic!("{}", service.unavailable(error))
}

/// A free loopback port (bound then released: the replica binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Names and secrets of one test deployment: its own database, topics, key prefixes and signing key.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub database: String,
    pub mysql_url_without_password: String,
    pub admin_token: String,
}

impl Deployment {
    /// A small pool on this deployment's database, for the tests' own checks (committed counts, outbox).
    pub async fn pool(&self) -> sqlx::MySqlPool {
        let base = MARIADB.address();
        let server = base.rsplit_once('/').expect("URL with a database").0;
        sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(2)
            .connect(&format!("{server}/{}", self.database))
            .await
            .unwrap_or_else(|error| require(MARIADB, error))
    }

    /// Creates the database (fails naming MariaDB when it is absent), the key ring and the secret files.
    pub async fn create() -> Self {
        let id = format!("{:08x}", rand_u32());
        let database = format!("cc_prod_{id}");
        let base = MARIADB.address();
        let admin = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&base)
            .await
            .unwrap_or_else(|error| require(MARIADB, error));
        sqlx::query(&format!("CREATE DATABASE `{database}`"))
            .execute(&admin)
            .await
            .unwrap_or_else(|error| require(MARIADB, error));
        admin.close().await;
        // mysql://user:password@host:port/db → the URL without its password, the password into a secret file.
        let (scheme_user, rest) = base
            .split_once(':')
            .and_then(|(s, r)| r.split_once("//").map(|(_, r)| (s, r)))
            .expect("mysql URL");
        let (credentials, host_db) = rest
            .rsplit_once('@')
            .expect("CC_TEST_MYSQL_URL has credentials");
        let (user, password) = credentials.split_once(':').expect("user:password");
        let host = host_db.split('/').next().expect("host:port");
        // CC_E2E_KEEP_LOGS keeps the replicas' configs and logs for a post-mortem.
        let keep = std::env::var_os("CC_E2E_KEEP_LOGS").is_some();
        let dir = tempfile::Builder::new()
            .prefix("cc-prod-")
            .disable_cleanup(keep)
            .tempdir()
            .expect("temp dir");
        if keep {
            eprintln!("replica configs and logs: {}", dir.path().display());
        }
        write_secret(&dir.path().join("mysql_password"), password);
        let admin_token = format!(
            "cca_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        write_secret(&dir.path().join("admin_token"), &admin_token);
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).expect("keys dir");
        cc_core::auth::KeyRing::write_new_key(&keys).expect("signing key");
        Self {
            mysql_url_without_password: format!("{scheme_user}://{user}@{host}/{database}"),
            dir,
            id,
            database,
            admin_token,
        }
    }

    /// The config file of one replica.
    pub fn config(&self, name: &str, roles: &[&str], port: u16) -> PathBuf {
        self.config_with_kafka(name, roles, port, &KAFKA.address(), 1)
    }

    /// The config file of one replica whose topics live on `kafka_brokers` with `kafka_replication` replicas
    /// (3 on the 3-broker cluster: the topics then get `min.insync.replicas` 2).
    pub fn config_with_kafka(
        &self,
        name: &str,
        roles: &[&str],
        port: u16,
        kafka_brokers: &str,
        kafka_replication: i32,
    ) -> PathBuf {
        let dir = self.dir.path();
        let cluster: Vec<String> = REDIS_CLUSTER
            .address()
            .split(',')
            .map(|n| format!("\"{n}\""))
            .collect();
        let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
        let text = format!(
            r#"version = 1
roles = [{roles}]
listen = "127.0.0.1:{port}"
backend = "production"

[auth]
keys_dir = "{keys}"
admin_token_file = "{admin}"

[limits]
messages_per_sec = 1000
message_burst = 2000

[gateway]
drain_ms = 1000
# A connection registers its session again on the heartbeat after the sessions role failed: shorter
# than the default 25 s so that prod_outage sees it within its wait.
heartbeat_ms = 5000

[log]
format = "text"
filter = "warn,ccserver=info"

[production]
replica_name = "{name}"

[production.mysql]
url = "{mysql}"
password_file = "{mysql_password}"
max_connections = 32

[production.kafka]
brokers = "{kafka}"
topic_prefix = "t{id}."
partitions = 3
replication = {kafka_replication}

[production.redis.cache]
url = "{redis}"
key_prefix = "t{id}:"

[production.redis.pubsub]
url = "{redis}"
key_prefix = "t{id}:"

[production.redis.sessions]
nodes = [{cluster}]
key_prefix = "t{id}:"

[production.mongodb]
url = "{mongodb}"
database = "cc_prod_{id}"

[production.outbox]
lease_ms = 2000
poll_ms = 100
"#,
            roles = roles.join(", "),
            keys = dir.join("keys").display(),
            admin = dir.join("admin_token").display(),
            mysql = self.mysql_url_without_password,
            mysql_password = dir.join("mysql_password").display(),
            kafka = kafka_brokers,
            id = self.id,
            redis = REDIS.address(),
            cluster = cluster.join(", "),
            mongodb = FERRETDB.address(),
        );
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("config file");
        path
    }

    /// The config file of an embedded-mode server (SQLite, in-process bus) with the same keys, admin token and
    /// limits as the production replicas, for side-by-side measurements.
    pub fn embedded_config(&self, port: u16) -> PathBuf {
        let dir = self.dir.path();
        let text = format!(
            r#"version = 1
roles = ["api", "gateway"]
listen = "127.0.0.1:{port}"

[storage]
path = "{storage}"

[auth]
keys_dir = "{keys}"
admin_token_file = "{admin}"

[limits]
messages_per_sec = 1000
message_burst = 2000

[gateway]
drain_ms = 1000

[log]
format = "text"
filter = "warn,ccserver=info"
"#,
            storage = dir.join("embedded.db").display(),
            keys = dir.join("keys").display(),
            admin = dir.join("admin_token").display(),
        );
        let path = dir.join("embedded.toml");
        std::fs::write(&path, text).expect("config file");
        path
    }

    pub fn kafka_topic_prefix(&self) -> String {
        format!("t{}.", self.id)
    }

    pub async fn drop_database(&self) {
        if let Ok(admin) = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&MARIADB.address())
            .await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{}`", self.database))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}

impl Drop for Deployment {
    /// A failed test does not reach its `drop_database`: drop it here too (idempotent), from a thread of its own
    /// since the test's runtime may be the one unwinding.
    fn drop(&mut self) {
        let database = self.database.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect(&MARIADB.address())
                    .await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{database}`"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

fn write_secret(path: &Path, value: &str) {
    std::fs::write(path, value).expect("secret file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod secret");
    }
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

/// One `ccserver` process; SIGKILLed when dropped.
pub struct Replica {
    pub name: String,
    pub addr: SocketAddr,
    pub child: Child,
    pub log: PathBuf,
}

impl Replica {
    pub fn spawn(
        binary: &Path,
        deployment: &Deployment,
        name: &str,
        roles: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn_on(free_port(), binary, deployment, name, roles, env)
    }

    /// A server with a config file written by the caller, listening on `port`.
    pub fn spawn_with_config(
        binary: &Path,
        deployment: &Deployment,
        name: &str,
        config: &Path,
        port: u16,
    ) -> Self {
        let log = deployment.dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawning ccserver");
        Self {
            name: name.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            log,
        }
    }

    /// On a given port: a replacement takes the place of a dead replica behind the balancer.
    pub fn spawn_on(
        port: u16,
        binary: &Path,
        deployment: &Deployment,
        name: &str,
        roles: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let config = deployment.config(name, roles, port);
        let log = deployment.dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawning ccserver");
        Self {
            name: name.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            log,
        }
    }

    /// Polls `/readyz` until it answers 200; fails with the log's tail if the process exits or the deadline passes.
    pub async fn wait_ready(&mut self, deadline: Duration) {
        let client = reqwest::Client::new();
        let url = format!("http://{}/readyz", self.addr);
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) during start-up:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "{} not ready after {deadline:?}:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback TCP balancer: connections whose first request line is `GET /v1/ws` go round-robin to the gateway
/// pool, the rest to the API pool; a backend that refuses the connection is skipped (as NGINX's
/// `proxy_next_upstream` does).
pub struct Balancer {
    pub addr: SocketAddr,
    pub websockets: Arc<AtomicUsize>,
    pub websocket_connects: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    pub async fn start(gateways: Vec<SocketAddr>, apis: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind balancer");
        let addr = listener.local_addr().expect("balancer address");
        let websockets = Arc::new(AtomicUsize::new(0));
        let websocket_connects = Arc::new(AtomicU64::new(0));
        let pools = Arc::new((gateways, apis));
        let next = Arc::new(AtomicUsize::new(0));
        let (open, connects) = (websockets.clone(), websocket_connects.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (pools, next, open, connects) =
                    (pools.clone(), next.clone(), open.clone(), connects.clone());
                tokio::spawn(async move {
                    let _ = proxy(client, &pools, &next, &open, &connects).await;
                });
            }
        });
        Self {
            addr,
            websockets,
            websocket_connects,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy(
    mut client: TcpStream,
    pools: &(Vec<SocketAddr>, Vec<SocketAddr>),
    next: &AtomicUsize,
    open: &AtomicUsize,
    connects: &AtomicU64,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let websocket = head.starts_with(b"GET /v1/ws");
    let pool = if websocket { &pools.0 } else { &pools.1 };
    let start = next.fetch_add(1, Ordering::Relaxed);
    let mut server = None;
    for offset in 0..pool.len() {
        if let Ok(stream) = TcpStream::connect(pool[(start + offset) % pool.len()]).await {
            server = Some(stream);
            break;
        }
    }
    let Some(mut server) = server else {
        return Ok(());
    };
    server.write_all(&head).await?;
    if websocket {
        open.fetch_add(1, Ordering::AcqRel);
        connects.fetch_add(1, Ordering::AcqRel);
    }
    let outcome = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    if websocket {
        open.fetch_sub(1, Ordering::AcqRel);
    }
    outcome.map(|_| ())
}

/// Creates an app through the API (admin token) and returns its API key.
pub async fn create_app(base: &str, admin_token: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/apps"))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({"name": "prod-e2e"}))
        .send()
        .await
        .expect("POST /v1/apps");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("app JSON");
    assert!(
        status.is_success(),
        "POST /v1/apps answered {status}: {body}"
    );
    body["api_key"]["api_key"]
        .as_str()
        .expect("api_key in the answer")
        .to_owned()
}

/// Polls `condition` every 50 ms until it holds or `deadline` passes.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A test service stopped through its harness script (`scripts/services/<service>.sh stop <mode>`), started
/// again when dropped — on every path, a failed assertion included — so later tests find it running.
pub struct Outage {
    script: PathBuf,
    mode: &'static str,
    up: bool,
}

impl Outage {
    /// Stops one instance: `("kafka", "single")`, `("redis", "standalone")`.
    pub fn begin(service: &str, mode: &'static str) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../scripts/services/{service}.sh"));
        let outage = Self {
            script,
            mode,
            up: false,
        };
        outage.run("stop");
        outage
    }

    /// Starts the service again (the script returns once it answers).
    pub fn end(&mut self) {
        if !self.up {
            self.run("start");
            self.up = true;
        }
    }

    fn run(&self, action: &str) {
        let status = Command::new("bash")
            .arg(&self.script)
            .args([action, self.mode])
            .stdout(Stdio::null())
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "{} {action} {} failed ({status:?}); run it by hand",
            self.script.display(),
            self.mode
        );
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.up {
            let status = Command::new("bash")
                .arg(&self.script)
                .args(["start", self.mode])
                .stdout(Stdio::null())
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!(
                    "restarting failed ({status:?}): run {} start {}",
                    self.script.display(),
                    self.mode
                );
            }
        }
    }
}

/// (conversation, seq) of every message_created event on `topic`, read until all of `expected` or 60 s.
pub async fn read_messages_topic(
    topic: &str,
    expected: &std::collections::BTreeSet<(String, i64)>,
) -> std::collections::BTreeSet<(String, i64)> {
    read_messages_topic_on(KAFKA, topic, expected).await
}

/// [`read_messages_topic`] on another Kafka of the harness (`KAFKA_CLUSTER`, the 3-broker cluster).
pub async fn read_messages_topic_on(
    kafka: Service,
    topic: &str,
    expected: &std::collections::BTreeSet<(String, i64)>,
) -> std::collections::BTreeSet<(String, i64)> {
    let consumer: rdkafka::consumer::StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka.address())
        .set("group.id", format!("check-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap_or_else(|error| require(kafka, error));
    rdkafka::consumer::Consumer::subscribe(&consumer, &[topic])
        .unwrap_or_else(|error| require(kafka, error));
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&seen) && Instant::now() < deadline {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await
        else {
            continue;
        };
        let Some(payload) = rdkafka::Message::payload(&message) else {
            continue;
        };
        let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(payload) else {
            continue;
        };
        let event = &envelope["event"];
        if event["type"] == "message_created"
            && let (Some(conversation), Some(seq)) = (
                event["message"]["conversation_id"].as_str(),
                event["message"]["seq"].as_i64(),
            )
        {
            seen.insert((conversation.to_owned(), seq));
        }
    }
    seen
}
