//! The validated environment a render needs besides the plan: domain and hostnames, images, trusted proxies
//! and the Docker secrets (by name and file, never by value). The CLI parses the TOML file into this.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A DNS name every public hostname derives from (`chat.example.com` → `api.chat.example.com`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Domain(String);

/// Why a string is not a usable domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("is empty")]
    Empty,
    #[error("is {0} characters long; a domain name has at most 253")]
    TooLong(usize),
    #[error("needs at least two labels (like `chat.example.com`), got `{0}`")]
    SingleLabel(String),
    #[error("has an invalid label `{label}`: {reason}")]
    BadLabel { label: String, reason: &'static str },
}

impl Domain {
    /// Accepts a lowercase-able ASCII DNS name of at least two labels; rejects IPs, wildcards, ports, URLs.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return Err(DomainError::Empty);
        }
        if name.len() > 253 {
            return Err(DomainError::TooLong(name.len()));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(DomainError::SingleLabel(name));
        }
        for label in &labels {
            let reason = if label.is_empty() {
                Some("labels cannot be empty (two dots in a row)")
            } else if label.len() > 63 {
                Some("labels have at most 63 characters")
            } else if !label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            {
                Some("only letters, digits and `-` are allowed")
            } else if label.starts_with('-') || label.ends_with('-') {
                Some("a label cannot start or end with `-`")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(DomainError::BadLabel {
                    label: (*label).to_owned(),
                    reason,
                });
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|byte| byte.is_ascii_digit()))
        {
            return Err(DomainError::BadLabel {
                label: labels.last().copied().unwrap_or_default().to_owned(),
                reason: "the last label cannot be numeric (an IP address is not a domain)",
            });
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The public hostnames, each derived from the domain unless overridden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hostnames {
    /// REST API (`api.<domain>`).
    pub api: Domain,
    /// WebSocket gateway (`ws.<domain>`).
    pub ws: Domain,
    /// Grafana (`grafana.<domain>`).
    pub grafana: Domain,
}

impl Hostnames {
    /// The names of the override keys accepted in the environment file's `[hostnames]` table.
    pub const KEYS: [&'static str; 3] = ["api", "ws", "grafana"];

    /// Derives every hostname from `domain`, then applies the overrides (already validated as domains).
    pub fn derive(domain: &Domain, overrides: &BTreeMap<String, Domain>) -> Self {
        let pick = |key: &str| {
            overrides
                .get(key)
                .cloned()
                .unwrap_or_else(|| Domain(format!("{key}.{domain}")))
        };
        Self {
            api: pick("api"),
            ws: pick("ws"),
            grafana: pick("grafana"),
        }
    }
}

/// Every secret the platform uses. Values live only in files of the secrets directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKey {
    JwtSigningKey,
    WebhookSigningKey,
    TidbRootPassword,
    TidbAppPassword,
    KafkaBrokerPassword,
    KafkaAppPassword,
    /// The broker JAAS file, derived from the two Kafka passwords (Kafka reads credentials from it).
    KafkaJaas,
    RedisPassword,
    MongodbRootPassword,
    MongodbAppPassword,
    MongodbKeyfile,
    GrafanaAdminPassword,
    TlsCertificate,
    TlsPrivateKey,
}

impl SecretKey {
    pub const ALL: [Self; 14] = [
        Self::JwtSigningKey,
        Self::WebhookSigningKey,
        Self::TidbRootPassword,
        Self::TidbAppPassword,
        Self::KafkaBrokerPassword,
        Self::KafkaAppPassword,
        Self::KafkaJaas,
        Self::RedisPassword,
        Self::MongodbRootPassword,
        Self::MongodbAppPassword,
        Self::MongodbKeyfile,
        Self::GrafanaAdminPassword,
        Self::TlsCertificate,
        Self::TlsPrivateKey,
    ];

    /// The file name in the secrets directory, also the stem of the Docker secret name.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::JwtSigningKey => "jwt_signing_key",
            Self::WebhookSigningKey => "webhook_signing_key",
            Self::TidbRootPassword => "tidb_root_password",
            Self::TidbAppPassword => "tidb_app_password",
            Self::KafkaBrokerPassword => "kafka_broker_password",
            Self::KafkaAppPassword => "kafka_app_password",
            Self::KafkaJaas => "kafka_jaas.conf",
            Self::RedisPassword => "redis_password",
            Self::MongodbRootPassword => "mongodb_root_password",
            Self::MongodbAppPassword => "mongodb_app_password",
            Self::MongodbKeyfile => "mongodb_keyfile",
            Self::GrafanaAdminPassword => "grafana_admin_password",
            Self::TlsCertificate => "tls_certificate.pem",
            Self::TlsPrivateKey => "tls_private_key.pem",
        }
    }

    /// The key used in templates and stack files (`secrets.jwt_signing_key`).
    pub fn id(self) -> &'static str {
        match self {
            Self::KafkaJaas => "kafka_jaas",
            Self::TlsCertificate => "tls_certificate",
            Self::TlsPrivateKey => "tls_private_key",
            other => other.file_name(),
        }
    }
}

/// Where one secret's file is and the sha256 of its content (the content itself never reaches a render).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// Path as written into `stack.yml`: relative to the output directory when possible.
    pub path: String,
    /// Path of the copy `compose.yml` mounts, likewise relative. Compose bind-mounts a file secret with the
    /// host file's owner and mode (it ignores `uid`/`gid`/`mode`), so a `0600` file would be unreadable to
    /// images that run as a non-root user; the copy is world-readable inside the `0700` secrets directory,
    /// which keeps other host users out.
    pub compose_path: String,
    /// Hex sha256 of the file's content; its prefix makes the Docker secret name change with the content.
    pub sha256: String,
}

/// Fully qualified, pinned image references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Images {
    pub ccserver: String,
    pub nginx: String,
    pub kafka: String,
    pub pd: String,
    pub tikv: String,
    pub tidb: String,
    pub redis: String,
    pub mongodb: String,
    pub prometheus: String,
    pub alertmanager: String,
    pub grafana: String,
    pub loki: String,
    pub promtail: String,
    pub node_exporter: String,
    pub cadvisor: String,
    pub kafka_exporter: String,
    pub redis_exporter: String,
    pub mongodb_exporter: String,
}

impl Images {
    /// The third-party images and the versions we test against; the environment file can override each.
    pub const DEFAULTS: [(&'static str, &'static str); 17] = [
        ("nginx", "nginx:1.27.3"),
        ("kafka", "apache/kafka:4.4.0"),
        ("pd", "pingcap/pd:v8.5.1"),
        ("tikv", "pingcap/tikv:v8.5.1"),
        ("tidb", "pingcap/tidb:v8.5.1"),
        ("redis", "redis:7.4.2"),
        ("mongodb", "mongo:7.0.16"),
        ("prometheus", "prom/prometheus:v2.55.1"),
        ("alertmanager", "prom/alertmanager:v0.27.0"),
        ("grafana", "grafana/grafana:11.4.0"),
        ("loki", "grafana/loki:3.3.2"),
        ("promtail", "grafana/promtail:3.3.2"),
        ("node_exporter", "prom/node-exporter:v1.8.2"),
        ("cadvisor", "gcr.io/cadvisor/cadvisor:v0.49.1"),
        ("kafka_exporter", "danielqsj/kafka-exporter:v1.8.0"),
        ("redis_exporter", "oliver006/redis_exporter:v1.66.0-alpine"),
        ("mongodb_exporter", "percona/mongodb_exporter:0.43.1"),
    ];
}

/// Everything outside the plan that a render needs, validated.
#[derive(Debug, Clone)]
pub struct Environment {
    pub domain: Domain,
    pub hostnames: Hostnames,
    /// Prefix of every Docker object name (`cc` → `cc_jwt_signing_key_1a2b3c4d`).
    pub stack_name: String,
    pub images: Images,
    /// CIDRs of load balancers in front of NGINX whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<String>,
    /// Whether the TLS certificate is self-signed (dev): HSTS is then not sent.
    pub self_signed_tls: bool,
    pub secrets: BTreeMap<SecretKey, SecretFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for good in ["chat.example.com", "Chat.Example.COM.", "a-b.c9.io"] {
            assert!(Domain::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "localhost",
            "chat..example.com",
            "-chat.example.com",
            "chat_x.example.com",
            "10.0.0.1",
            "https://chat.example.com",
            "chat.example.com:443",
            "*.example.com",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames_derive_and_override() {
        let domain = Domain::parse("chat.example.com").unwrap();
        let overrides =
            BTreeMap::from([("api".to_owned(), Domain::parse("api.example.net").unwrap())]);
        let names = Hostnames::derive(&domain, &overrides);
        assert_eq!(names.api.as_str(), "api.example.net");
        assert_eq!(names.ws.as_str(), "ws.chat.example.com");
        assert_eq!(names.grafana.as_str(), "grafana.chat.example.com");
    }
}
