//! Connection settings of one Redis role.

use crate::conn::RedisConn;
use std::time::Duration;

/// Where one role's Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// `redis://host:port[/db]`.
    Standalone(String),
    /// Seed nodes of a Redis Cluster (`redis://host:port` each); the client discovers the rest.
    Cluster(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedisRoleConfig {
    /// The role's name, for messages (`cache`, `pubsub`, `sessions`).
    pub role: String,
    pub target: RedisTarget,
    /// Read from a secret file by the caller (Redis `requirepass`/ACL); never logged.
    pub password: Option<String>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// Prepended to every key and channel, so several deployments can share a Redis.
    pub key_prefix: String,
}

impl RedisRoleConfig {
    pub fn new(role: impl Into<String>, target: RedisTarget) -> Self {
        Self {
            role: role.into(),
            target,
            password: None,
            connect_timeout: Duration::from_secs(3),
            response_timeout: Duration::from_millis(500),
            key_prefix: "cc:".into(),
        }
    }

    /// The node URLs with the password applied (`redis://:password@host:port`).
    pub(crate) fn urls(&self) -> Vec<String> {
        let urls = match &self.target {
            RedisTarget::Standalone(url) => vec![url.clone()],
            RedisTarget::Cluster(nodes) => nodes.clone(),
        };
        match &self.password {
            None => urls,
            Some(password) => urls
                .into_iter()
                .map(|url| match url.split_once("://") {
                    Some((scheme, rest)) if !rest.contains('@') => {
                        format!("{scheme}://:{password}@{rest}")
                    }
                    _ => url,
                })
                .collect(),
        }
    }

    /// Where, without credentials, for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.target {
            RedisTarget::Standalone(url) => format!("{} (standalone {url})", self.role),
            RedisTarget::Cluster(nodes) => format!("{} (cluster {})", self.role, nodes.join(",")),
        }
    }

    pub async fn connect(&self) -> Result<RedisConn, ConnectError> {
        RedisConn::connect(self).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("redis.{role}: cannot connect to {target}: {source}")]
    Connect {
        role: String,
        target: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("redis.{role}: no connection to {target} within {seconds} s")]
    Timeout {
        role: String,
        target: String,
        seconds: u64,
    },
}
