//! Shared by this crate's tests: the real Redis servers of the services harness, and a loopback TCP proxy that
//! can cut and restore connections (a Redis outage seen from one replica, without stopping the shared server).

#![allow(dead_code)]

use cc_redis::{RedisRoleConfig, RedisTarget};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const PORTS_ENV: &str = include_str!("../../../../scripts/services/ports.env");

fn setting(name: &str) -> String {
    if let Ok(value) = std::env::var(name)
        && !value.is_empty()
    {
        return value;
    }
    PORTS_ENV
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .map_or_else(
            || panic!("{name} is missing from scripts/services/ports.env"),
            str::to_owned,
        )
}

/// The two deployments every Redis test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    Standalone,
    Cluster,
}

impl Deployment {
    pub fn target(self) -> RedisTarget {
        match self {
            Self::Standalone => RedisTarget::Standalone(setting("CC_TEST_REDIS_URL")),
            Self::Cluster => RedisTarget::Cluster(
                setting("CC_TEST_REDIS_CLUSTER_NODES")
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
            ),
        }
    }

    /// A role config with a key prefix of its own, so tests never see each other's keys.
    pub fn config(self, role: &str) -> RedisRoleConfig {
        let mut config = RedisRoleConfig::new(role, self.target());
        config.key_prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
        config
    }

    /// Fails (never skips) naming the service and the script that starts it.
    pub fn unavailable(self, error: impl std::fmt::Display) -> ! {
        let (name, var) = match self {
            Self::Standalone => ("Redis (standalone)", "CC_TEST_REDIS_URL"),
            Self::Cluster => ("Redis Cluster", "CC_TEST_REDIS_CLUSTER_NODES"),
        };
        panic!(
            "{name} ({var}={}) is not available: {error}\n  start it with `scripts/services/redis.sh start` \
             (or every service: `scripts/services/all.sh start`)",
            setting(var)
        )
    }
}

/// A TCP proxy on 127.0.0.1:<ephemeral> to `upstream`. `cut()` closes every proxied connection and refuses new
/// ones until `restore()`.
pub struct Proxy {
    pub url: String,
    up: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream_url: &str) -> Self {
        let upstream = upstream_url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("redis://{}", listener.local_addr().expect("proxy address"));
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0_u64);
        let (up_task, generation_task) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up_task.load(Ordering::Acquire) {
                    continue; // dropped: connection refused in effect
                }
                let upstream = upstream.clone();
                let mut cut = generation_task.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            url,
            up,
            generation,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::Release);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::Release);
    }
}

/// Polls `condition` every 20 ms until it holds, failing after `seconds`.
pub async fn eventually(what: &str, seconds: u64, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
