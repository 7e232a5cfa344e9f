//! `[production]` of the server's config file: one section per backend role, validated at start with every
//! problem reported by its path. Secrets (passwords) are read from files only (as Docker/Swarm secrets are
//! mounted); a URL carrying a password is refused, and no secret is ever taken from a plain environment variable.

use crate::config::Problem;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment overrides of the production section (addresses only, never secrets).
pub mod env {
    /// Overrides `production.mysql.url`.
    pub const MYSQL_URL: &str = "CCSERVER_MYSQL_URL";
    /// Overrides `production.kafka.brokers`.
    pub const KAFKA_BROKERS: &str = "CCSERVER_KAFKA_BROKERS";
    /// Override `production.redis.<role>.url` (a standalone Redis).
    pub const REDIS_CACHE_URL: &str = "CCSERVER_REDIS_CACHE_URL";
    pub const REDIS_PUBSUB_URL: &str = "CCSERVER_REDIS_PUBSUB_URL";
    pub const REDIS_SESSIONS_URL: &str = "CCSERVER_REDIS_SESSIONS_URL";
    /// Overrides `production.mongodb.url`.
    pub const MONGODB_URL: &str = "CCSERVER_MONGODB_URL";
    /// Overrides `production.replica_name`.
    pub const REPLICA_NAME: &str = "CCSERVER_REPLICA_NAME";
    /// Fault injection for tests: abort the process right after the Nth committed message, before it is
    /// published (the "crash between commit and publish" of the delivery contract). Unset in production.
    pub const FAULT_ABORT_AFTER_COMMITS: &str = "CCSERVER_FAULT_ABORT_AFTER_COMMITS";
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProduction {
    /// This replica's name (outbox relay lease owner, logs); default `<host>-<pid>`.
    #[serde(default)]
    pub replica_name: Option<String>,
    #[serde(default)]
    pub mysql: RawMysql,
    #[serde(default)]
    pub kafka: RawKafka,
    #[serde(default)]
    pub redis: RawRedisRoles,
    /// Optional: without it, custom metadata stays in the primary store.
    #[serde(default)]
    pub mongodb: Option<RawMongo>,
    #[serde(default)]
    pub outbox: RawOutbox,
    /// From [`env::FAULT_ABORT_AFTER_COMMITS`] only (a test hook, never in the file).
    #[serde(skip)]
    pub fault_abort_after_commits: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMysql {
    pub url: String,
    pub password_file: Option<PathBuf>,
    pub max_connections: u32,
}

impl Default for RawMysql {
    fn default() -> Self {
        Self {
            url: String::new(),
            password_file: None,
            max_connections: 32,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKafka {
    pub brokers: String,
    pub topic_prefix: String,
    pub partitions: i32,
    pub replication: i32,
    pub delivery_timeout_ms: u64,
    pub sasl_username: Option<String>,
    pub sasl_password_file: Option<PathBuf>,
    /// Other librdkafka client properties, e.g. `"security.protocol" = "SASL_PLAINTEXT"` and
    /// `"sasl.mechanism" = "PLAIN"` for a cluster without TLS and SCRAM.
    pub extra: std::collections::BTreeMap<String, String>,
}

impl Default for RawKafka {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic_prefix: "cc.".into(),
            partitions: 12,
            replication: 3,
            delivery_timeout_ms: 30_000,
            sasl_username: None,
            sasl_password_file: None,
            extra: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedisRoles {
    #[serde(default)]
    pub cache: RawRedis,
    #[serde(default)]
    pub pubsub: RawRedis,
    #[serde(default)]
    pub sessions: RawRedis,
}

/// One role: `url` (standalone) or `nodes` (Cluster seed nodes), not both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRedis {
    pub url: Option<String>,
    pub nodes: Vec<String>,
    pub password_file: Option<PathBuf>,
    pub key_prefix: String,
    pub response_timeout_ms: u64,
    /// Cache role only: lifetime of cached entries.
    pub cache_ttl_ms: u64,
}

impl Default for RawRedis {
    fn default() -> Self {
        Self {
            url: None,
            nodes: Vec::new(),
            password_file: None,
            key_prefix: "cc:".into(),
            response_timeout_ms: 500,
            cache_ttl_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMongo {
    pub url: String,
    pub database: String,
    pub password_file: Option<PathBuf>,
}

impl Default for RawMongo {
    fn default() -> Self {
        Self {
            url: String::new(),
            database: "cc".into(),
            password_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutbox {
    /// Run the relay on this replica (one replica at a time is active, by lease).
    pub relay: bool,
    pub lease_ms: u64,
    pub poll_ms: u64,
    /// Rows their writer has not confirmed after this long are published (durable and live) by the relay.
    pub grace_ms: u64,
}

impl Default for RawOutbox {
    fn default() -> Self {
        Self {
            relay: true,
            lease_ms: 5_000,
            poll_ms: 250,
            grace_ms: 2_000,
        }
    }
}

/// Validated production settings, secrets read.
#[derive(Debug, Clone)]
pub struct ProductionSettings {
    pub replica_name: String,
    pub mysql: cc_store_mysql::MysqlConfig,
    pub kafka: cc_bus_kafka::KafkaConfig,
    pub cache: cc_redis::RedisRoleConfig,
    pub cache_ttl: Duration,
    pub pubsub: cc_redis::RedisRoleConfig,
    pub sessions: cc_redis::RedisRoleConfig,
    pub mongodb: Option<cc_meta_mongo::MongoConfig>,
    pub relay: Option<cc_store_mysql::outbox::RelayConfig>,
    pub fault_abort_after_commits: Option<u64>,
}

/// Collects problems; the path names the field.
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Reads a secret file (trimmed); a problem when unreadable or empty.
    fn secret(&mut self, path: &str, file: Option<&Path>) -> Option<String> {
        let file = file?;
        match std::fs::read_to_string(file) {
            Ok(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            Ok(_) => {
                self.add(path, format!("{} is empty", file.display()));
                None
            }
            Err(error) => {
                self.add(path, format!("cannot read {}: {error}", file.display()));
                None
            }
        }
    }

    /// `scheme://[user@]host:port[/...]`, without a password in it.
    fn url(&mut self, path: &str, url: &str, schemes: &[&str], secret_field: &str) {
        let Some((scheme, rest)) = url.split_once("://") else {
            self.add(
                path,
                format!("`{url}` is not a URL like {}://host:port", schemes[0]),
            );
            return;
        };
        if !schemes.contains(&scheme) {
            self.add(
                path,
                format!("scheme `{scheme}` is not one of {}", schemes.join(", ")),
            );
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((credentials, _)) = authority.rsplit_once('@')
            && credentials.contains(':')
        {
            self.add(
                path,
                format!("must not carry a password; put it in {secret_field}"),
            );
        }
        if authority
            .rsplit('@')
            .next()
            .is_none_or(|host| !host.contains(':'))
        {
            self.add(path, format!("`{url}` has no port"));
        }
    }
}

fn default_replica_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{}-{}",
        if host.is_empty() { "ccserver" } else { &host },
        std::process::id()
    )
}

impl RawProduction {
    /// Environment overrides (file < env); addresses only.
    #[must_use]
    pub fn with_env(mut self, lookup: &impl Fn(&str) -> Option<String>) -> Self {
        if let Some(url) = lookup(env::MYSQL_URL) {
            self.mysql.url = url;
        }
        if let Some(brokers) = lookup(env::KAFKA_BROKERS) {
            self.kafka.brokers = brokers;
        }
        for (name, role) in [
            (env::REDIS_CACHE_URL, &mut self.redis.cache),
            (env::REDIS_PUBSUB_URL, &mut self.redis.pubsub),
            (env::REDIS_SESSIONS_URL, &mut self.redis.sessions),
        ] {
            if let Some(url) = lookup(name) {
                role.url = Some(url);
                role.nodes.clear();
            }
        }
        if let Some(url) = lookup(env::MONGODB_URL) {
            self.mongodb.get_or_insert_with(RawMongo::default).url = url;
        }
        if let Some(name) = lookup(env::REPLICA_NAME) {
            self.replica_name = Some(name);
        }
        self.fault_abort_after_commits = lookup(env::FAULT_ABORT_AFTER_COMMITS);
        self
    }

    /// Checks every field (reading the secret files); all problems are returned at once.
    pub fn validate(&self) -> Result<ProductionSettings, Vec<Problem>> {
        let mut problems = Problems(Vec::new());
        let replica_name = self
            .replica_name
            .clone()
            .unwrap_or_else(default_replica_name);
        if replica_name.is_empty() || replica_name.len() > 128 || !replica_name.is_ascii() {
            problems.add("production.replica_name", "must be 1-128 ASCII characters");
        }
        // MySQL / TiDB.
        let m = &self.mysql;
        if m.url.is_empty() {
            problems.add(
                "production.mysql.url",
                format!("is required (or set {})", env::MYSQL_URL),
            );
        } else {
            problems.url(
                "production.mysql.url",
                &m.url,
                &["mysql"],
                "production.mysql.password_file",
            );
        }
        if !(1..=1024).contains(&m.max_connections) {
            problems.add(
                "production.mysql.max_connections",
                "must be between 1 and 1024",
            );
        }
        let mut mysql = cc_store_mysql::MysqlConfig::new(m.url.clone());
        mysql.password =
            problems.secret("production.mysql.password_file", m.password_file.as_deref());
        mysql.max_connections = m.max_connections;
        // Kafka.
        let k = &self.kafka;
        if k.brokers.trim().is_empty() {
            problems.add(
                "production.kafka.brokers",
                format!(
                    "is required, e.g. host1:9092,host2:9092 (or set {})",
                    env::KAFKA_BROKERS
                ),
            );
        } else if k.brokers.split(',').any(|b| {
            b.trim()
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        }) {
            problems.add(
                "production.kafka.brokers",
                format!(
                    "`{}` must list host:port pairs separated by commas",
                    k.brokers
                ),
            );
        }
        if !(1..=10_000).contains(&k.partitions) {
            problems.add("production.kafka.partitions", "must be between 1 and 10000");
        }
        if !(1..=7).contains(&k.replication) {
            problems.add(
                "production.kafka.replication",
                "must be between 1 and 7 (3 in production)",
            );
        }
        if k.delivery_timeout_ms < 1_000 {
            problems.add(
                "production.kafka.delivery_timeout_ms",
                "must be at least 1000",
            );
        }
        if k.topic_prefix
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            problems.add(
                "production.kafka.topic_prefix",
                "may only hold A-Z a-z 0-9 . _ -",
            );
        }
        let mut kafka = cc_bus_kafka::KafkaConfig::new(k.brokers.clone());
        kafka.client_id.clone_from(&replica_name);
        kafka.topic_prefix.clone_from(&k.topic_prefix);
        kafka.partitions = k.partitions;
        kafka.replication = k.replication;
        kafka.delivery_timeout = Duration::from_millis(k.delivery_timeout_ms);
        kafka.extra.clone_from(&k.extra);
        match (&k.sasl_username, &k.sasl_password_file) {
            (Some(user), Some(file)) => {
                kafka.sasl = problems
                    .secret("production.kafka.sasl_password_file", Some(file))
                    .map(|password| (user.clone(), password));
            }
            (None, None) => {}
            _ => problems.add(
                "production.kafka.sasl_username",
                "and production.kafka.sasl_password_file go together",
            ),
        }
        // Redis roles.
        let mut role = |name: &str, raw: &RawRedis| {
            let path = format!("production.redis.{name}");
            let target = match (&raw.url, raw.nodes.is_empty()) {
                (Some(url), true) => {
                    problems.url(
                        &format!("{path}.url"),
                        url,
                        &["redis", "rediss"],
                        &format!("{path}.password_file"),
                    );
                    cc_redis::RedisTarget::Standalone(url.clone())
                }
                (None, false) => {
                    for node in &raw.nodes {
                        problems.url(
                            &format!("{path}.nodes"),
                            node,
                            &["redis", "rediss"],
                            &format!("{path}.password_file"),
                        );
                    }
                    cc_redis::RedisTarget::Cluster(raw.nodes.clone())
                }
                (Some(_), false) => {
                    problems.add(
                        &path,
                        "set `url` (standalone) or `nodes` (Cluster), not both",
                    );
                    cc_redis::RedisTarget::Cluster(raw.nodes.clone())
                }
                (None, true) => {
                    problems.add(&path, "needs `url` (standalone) or `nodes` (Cluster)");
                    cc_redis::RedisTarget::Standalone(String::new())
                }
            };
            if !(10..=60_000).contains(&raw.response_timeout_ms) {
                problems.add(
                    &format!("{path}.response_timeout_ms"),
                    "must be between 10 and 60000",
                );
            }
            let mut config = cc_redis::RedisRoleConfig::new(name, target);
            config.password = problems.secret(
                &format!("{path}.password_file"),
                raw.password_file.as_deref(),
            );
            config.key_prefix.clone_from(&raw.key_prefix);
            config.response_timeout = Duration::from_millis(raw.response_timeout_ms);
            config
        };
        let cache = role("cache", &self.redis.cache);
        let pubsub = role("pubsub", &self.redis.pubsub);
        let sessions = role("sessions", &self.redis.sessions);
        if !(1_000..=3_600_000).contains(&self.redis.cache.cache_ttl_ms) {
            problems.add(
                "production.redis.cache.cache_ttl_ms",
                "must be between 1000 and 3600000",
            );
        }
        // MongoDB.
        let mongodb = self.mongodb.as_ref().map(|raw| {
            if raw.url.is_empty() {
                problems.add(
                    "production.mongodb.url",
                    format!(
                        "is required when [production.mongodb] is present (or set {})",
                        env::MONGODB_URL
                    ),
                );
            } else {
                problems.url(
                    "production.mongodb.url",
                    &raw.url,
                    &["mongodb", "mongodb+srv"],
                    "production.mongodb.password_file",
                );
            }
            if raw.database.is_empty() || raw.database.contains(['/', '.', ' ', '$']) {
                problems.add(
                    "production.mongodb.database",
                    "must be a plain database name",
                );
            }
            let mut config = cc_meta_mongo::MongoConfig::new(raw.url.clone(), raw.database.clone());
            config.password = problems.secret(
                "production.mongodb.password_file",
                raw.password_file.as_deref(),
            );
            config
        });
        // Outbox relay.
        let o = &self.outbox;
        if o.grace_ms < 100 {
            problems.add(
                "production.outbox.grace_ms",
                "must be at least 100 (writers need time to confirm)",
            );
        }
        if o.lease_ms < 1_000 || o.poll_ms == 0 || o.poll_ms >= o.lease_ms {
            problems.add(
                "production.outbox.lease_ms",
                "must be at least 1000 and greater than production.outbox.poll_ms (> 0)",
            );
        }
        let relay = o.relay.then(|| {
            let mut relay = cc_store_mysql::outbox::RelayConfig::new(replica_name.clone());
            relay.lease = Duration::from_millis(o.lease_ms);
            relay.poll = Duration::from_millis(o.poll_ms);
            relay.grace = Duration::from_millis(o.grace_ms);
            relay
        });
        let mut fault_abort_after_commits = None;
        if let Some(text) = &self.fault_abort_after_commits {
            match text.parse::<u64>() {
                Ok(count) => fault_abort_after_commits = Some(count),
                Err(_) => problems.add(env::FAULT_ABORT_AFTER_COMMITS, "must be a whole number"),
            }
        }
        if !problems.0.is_empty() {
            return Err(problems.0);
        }
        Ok(ProductionSettings {
            replica_name,
            mysql,
            kafka,
            cache,
            cache_ttl: Duration::from_millis(self.redis.cache.cache_ttl_ms),
            pubsub,
            sessions,
            mongodb,
            relay,
            fault_abort_after_commits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RawProduction {
        toml::from_str(text).expect("valid TOML")
    }

    const VALID: &str = r#"
        replica_name = "api-1"
        [mysql]
        url = "mysql://cc@127.0.0.1:4000/cc"
        [kafka]
        brokers = "127.0.0.1:9092"
        replication = 1
        [redis.cache]
        url = "redis://127.0.0.1:6379"
        [redis.pubsub]
        nodes = ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002"]
        [redis.sessions]
        url = "redis://127.0.0.1:6379"
    "#;

    #[test]
    fn a_complete_section_is_valid() {
        let settings = parse(VALID).validate().expect("valid");
        assert_eq!(settings.replica_name, "api-1");
        assert!(
            matches!(settings.pubsub.target, cc_redis::RedisTarget::Cluster(ref nodes) if nodes.len() == 2)
        );
        assert!(settings.mongodb.is_none() && settings.relay.is_some());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let raw = parse(
            r#"
            [mysql]
            url = "mysql://cc:secret@127.0.0.1:4000/cc"
            password_file = "/nonexistent/secret"
            [kafka]
            brokers = "nohost"
            [redis.cache]
            url = "redis://127.0.0.1:6379"
            nodes = ["redis://127.0.0.1:7001"]
            [redis.pubsub]
            url = "http://127.0.0.1:1"
            [mongodb]
            url = ""
        "#,
        );
        let problems = raw.validate().expect_err("invalid");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "production.mysql.url",
                "production.mysql.password_file",
                "production.kafka.brokers",
                "production.redis.cache",
                "production.redis.pubsub.url",
                "production.redis.sessions",
                "production.mongodb.url",
            ]
        );
        assert!(
            problems[0]
                .message
                .contains("production.mysql.password_file"),
            "{:?}",
            problems[0]
        );
    }

    #[test]
    fn addresses_come_from_the_environment_but_secrets_never_do() {
        let lookup = |name: &str| match name {
            env::MYSQL_URL => Some("mysql://cc@db:4000/cc".to_owned()),
            env::REDIS_CACHE_URL => Some("redis://cache:6379".to_owned()),
            _ => None,
        };
        let settings = parse(VALID).with_env(&lookup).validate().expect("valid");
        assert_eq!(settings.mysql.url, "mysql://cc@db:4000/cc");
        assert_eq!(
            settings.cache.target,
            cc_redis::RedisTarget::Standalone("redis://cache:6379".into())
        );
        assert!(settings.mysql.password.is_none());
    }

    #[test]
    fn passwords_are_read_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("mysql_password");
        std::fs::write(&file, "s3cret\n").expect("write");
        let mut raw = parse(VALID);
        raw.mysql.password_file = Some(file);
        let settings = raw.validate().expect("valid");
        assert_eq!(settings.mysql.password.as_deref(), Some("s3cret"));
    }
}
