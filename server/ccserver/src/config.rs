//! Server configuration: a TOML file (raw, `deny_unknown_fields`), environment overrides, then one
//! validation pass that reports every problem with its path. Secrets are read from files only.

use crate::env;
use cc_core::CoreLimits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file as written. Every field has a default so a minimal file is `version = 1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub version: u32,
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub gateway: RawGateway,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub demo: RawDemo,
    #[serde(default)]
    pub log: RawLog,
    /// `embedded` (SQLite, in-process bus and presence) or `production` (the `[production]` backends).
    #[serde(default = "default_backend")]
    pub backend: String,
    #[serde(default)]
    pub production: Option<crate::backends::RawProduction>,
}

fn default_backend() -> String {
    "embedded".into()
}

fn default_roles() -> Vec<String> {
    vec!["api".into(), "gateway".into()]
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    pub kind: String,
    pub path: PathBuf,
    pub durability: String,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            kind: "sqlite".into(),
            path: PathBuf::from("ccserver.db"),
            durability: "normal".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    pub keys_dir: PathBuf,
    /// Create a signing key when the directory holds none (embedded mode).
    pub create_keys: bool,
    /// File holding the admin token (`cca_…`); without it `POST /v1/apps` is disabled.
    pub admin_token_file: Option<PathBuf>,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            keys_dir: PathBuf::from("keys"),
            create_keys: false,
            admin_token_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGateway {
    /// Browser origins allowed to open a WebSocket; requests without `Origin` are always allowed.
    pub allowed_origins: Vec<String>,
    pub heartbeat_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_frame_bytes: usize,
    pub read_buffer_bytes: usize,
    pub write_buffer_bytes: usize,
    pub outbound_queue: usize,
    pub drain_ms: u64,
    /// Most WebSocket connections held at once; unset: as many as the open-files limit allows.
    pub max_connections: Option<usize>,
}

impl Default for RawGateway {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            heartbeat_ms: 25_000,
            idle_timeout_ms: 60_000,
            max_frame_bytes: 64 * 1024,
            // Allocated up front for every connection (and grown only for a larger frame): at 4 KiB
            // it was a third of an idle connection's memory. 1 KiB holds the usual client frame.
            read_buffer_bytes: 1024,
            write_buffer_bytes: 8 * 1024,
            outbound_queue: 512,
            drain_ms: 10_000,
            max_connections: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    pub max_text_bytes: usize,
    pub messages_per_sec: u32,
    pub message_burst: u32,
    pub replay_window: u32,
    pub typing_interval_ms: u64,
    pub typing_ttl_ms: u64,
    pub token_ttl_default_secs: u64,
    pub token_ttl_max_secs: u64,
    pub presence_fanout_max: u32,
}

impl Default for RawLimits {
    fn default() -> Self {
        let core = CoreLimits::default();
        Self {
            max_text_bytes: core.max_text_bytes,
            messages_per_sec: core.messages_per_sec,
            message_burst: core.message_burst,
            replay_window: core.replay_window,
            typing_interval_ms: core.typing_interval_ms,
            typing_ttl_ms: core.typing_ttl_ms,
            token_ttl_default_secs: core.token_ttl_default_secs,
            token_ttl_max_secs: core.token_ttl_max_secs,
            presence_fanout_max: core.presence_fanout_max,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDemo {
    /// Enables `POST /demo/login` for the demo app. Never in production.
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: String,
    pub filter: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "json".into(),
            filter: "info".into(),
        }
    }
}

/// Which parts of the platform this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    pub api: bool,
    pub gateway: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        api: true,
        gateway: true,
    };
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    pub allowed_origins: Vec<String>,
    pub heartbeat: Duration,
    pub idle_timeout: Duration,
    pub max_frame_bytes: usize,
    pub read_buffer_bytes: usize,
    pub write_buffer_bytes: usize,
    pub outbound_queue: usize,
    pub drain: Duration,
    /// Most WebSocket connections held at once; `None`: as many as the open-files limit allows.
    pub max_connections: Option<usize>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        let raw = RawGateway::default();
        Self {
            allowed_origins: raw.allowed_origins,
            heartbeat: Duration::from_millis(raw.heartbeat_ms),
            idle_timeout: Duration::from_millis(raw.idle_timeout_ms),
            max_frame_bytes: raw.max_frame_bytes,
            read_buffer_bytes: raw.read_buffer_bytes,
            write_buffer_bytes: raw.write_buffer_bytes,
            outbound_queue: raw.outbound_queue,
            drain: Duration::from_millis(raw.drain_ms),
            max_connections: raw.max_connections,
        }
    }
}

/// Validated settings: what the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub roles: Roles,
    pub listen: SocketAddr,
    pub storage_path: PathBuf,
    pub durability: cc_store_sqlite::Durability,
    pub keys_dir: PathBuf,
    pub create_keys: bool,
    pub admin_token: Option<String>,
    pub gateway: GatewaySettings,
    pub limits: CoreLimits,
    pub demo: bool,
    pub log_json: bool,
    pub log_filter: String,
    /// Set with `backend = "production"`: the connected backends replace SQLite and the in-process parts.
    pub production: Option<crate::backends::ProductionSettings>,
}

/// One problem: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  {}: {}", p.path, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl RawConfig {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Environment overrides (file < env), given the variables as a lookup so this stays pure.
    #[must_use]
    pub fn with_env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(listen) = lookup(env::LISTEN) {
            self.listen = listen;
        }
        if let Some(path) = lookup(env::STORAGE_PATH) {
            self.storage.path = PathBuf::from(path);
        }
        if let Some(dir) = lookup(env::KEYS_DIR) {
            self.auth.keys_dir = PathBuf::from(dir);
        }
        if let Some(filter) = lookup(env::LOG) {
            self.log.filter = filter;
        }
        if let Some(format) = lookup(env::LOG_FORMAT) {
            self.log.format = format;
        }
        if let Some(backend) = lookup(env::BACKEND) {
            self.backend = backend;
        }
        if self.backend == "production" {
            self.production = Some(self.production.take().unwrap_or_default().with_env(&lookup));
        }
        self
    }

    /// Check everything, collecting every problem. Reads the admin token file (a secret).
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |path: &str, message: String| {
            problems.push(Problem {
                path: path.into(),
                message,
            });
        };
        if self.version != 1 {
            problem(
                "version",
                format!("is {}; this server reads version 1", self.version),
            );
        }
        let mut roles = Roles::default();
        for role in &self.roles {
            match role.as_str() {
                "api" => roles.api = true,
                "gateway" => roles.gateway = true,
                other => problem(
                    "roles",
                    format!("`{other}` is not a role; use `api` and/or `gateway`"),
                ),
            }
        }
        let listen = self.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
            problem(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8080", self.listen),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        if self.storage.kind != "sqlite" {
            problem(
                "storage.kind",
                format!(
                    "`{}` is not supported by this build; use `sqlite`",
                    self.storage.kind
                ),
            );
        }
        let durability = match self.storage.durability.as_str() {
            "normal" => cc_store_sqlite::Durability::Normal,
            "full" => cc_store_sqlite::Durability::Full,
            other => {
                problem(
                    "storage.durability",
                    format!("`{other}` is not `normal` or `full`"),
                );
                cc_store_sqlite::Durability::Normal
            }
        };
        let g = &self.gateway;
        if !(1024..=16 * 1024 * 1024).contains(&g.max_frame_bytes) {
            problem(
                "gateway.max_frame_bytes",
                "must be between 1 KiB and 16 MiB".into(),
            );
        }
        if g.max_connections == Some(0) {
            problem(
                "gateway.max_connections",
                "must be at least 1 (leave it unset to follow the open-files limit)".into(),
            );
        }
        if g.outbound_queue < 8 {
            problem("gateway.outbound_queue", "must be at least 8 frames".into());
        }
        if g.heartbeat_ms == 0 || g.idle_timeout_ms <= g.heartbeat_ms {
            problem(
                "gateway.idle_timeout_ms",
                "must be greater than gateway.heartbeat_ms (> 0)".into(),
            );
        }
        for origin in &g.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                problem(
                    "gateway.allowed_origins",
                    format!(
                        "`{origin}` must look like https://host[:port] without a trailing slash"
                    ),
                );
            }
        }
        let l = &self.limits;
        if l.max_text_bytes == 0 || l.max_text_bytes + 1024 > g.max_frame_bytes {
            problem(
                "limits.max_text_bytes",
                "must be positive and at least 1 KiB below gateway.max_frame_bytes".into(),
            );
        }
        if l.messages_per_sec == 0 || l.message_burst == 0 {
            problem(
                "limits.messages_per_sec",
                "and limits.message_burst must be positive".into(),
            );
        }
        if l.replay_window == 0 {
            problem("limits.replay_window", "must be positive".into());
        }
        if l.token_ttl_default_secs == 0 || l.token_ttl_default_secs > l.token_ttl_max_secs {
            problem(
                "limits.token_ttl_default_secs",
                "must be positive and at most limits.token_ttl_max_secs".into(),
            );
        }
        let log_json = match self.log.format.as_str() {
            "json" => true,
            "text" => false,
            other => {
                problem("log.format", format!("`{other}` is not `json` or `text`"));
                true
            }
        };
        let admin_token = match &self.auth.admin_token_file {
            None => None,
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) if text.trim().starts_with("cca_") && text.trim().len() >= 36 => {
                    Some(text.trim().to_owned())
                }
                Ok(_) => {
                    problem(
                        "auth.admin_token_file",
                        format!(
                            "{} must hold `cca_` followed by at least 32 random characters",
                            path.display()
                        ),
                    );
                    None
                }
                Err(error) => {
                    problem(
                        "auth.admin_token_file",
                        format!("cannot read {}: {error}", path.display()),
                    );
                    None
                }
            },
        };
        let production = match (self.backend.as_str(), &self.production) {
            ("embedded", _) => None,
            ("production", Some(raw)) => match raw.validate() {
                Ok(settings) => Some(settings),
                Err(found) => {
                    problems.extend(found);
                    None
                }
            },
            ("production", None) => {
                problems.push(Problem {
                    path: "production".into(),
                    message: "is required with backend = \"production\"".into(),
                });
                None
            }
            (other, _) => {
                problems.push(Problem {
                    path: "backend".into(),
                    message: format!("`{other}` is not `embedded` or `production`"),
                });
                None
            }
        };
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Settings {
            roles,
            listen,
            storage_path: self.storage.path,
            durability,
            keys_dir: self.auth.keys_dir,
            create_keys: self.auth.create_keys,
            admin_token,
            gateway: GatewaySettings {
                allowed_origins: g.allowed_origins.clone(),
                heartbeat: Duration::from_millis(g.heartbeat_ms),
                idle_timeout: Duration::from_millis(g.idle_timeout_ms),
                max_frame_bytes: g.max_frame_bytes,
                read_buffer_bytes: g.read_buffer_bytes,
                write_buffer_bytes: g.write_buffer_bytes,
                outbound_queue: g.outbound_queue,
                drain: Duration::from_millis(g.drain_ms),
                max_connections: g.max_connections,
            },
            limits: CoreLimits {
                max_text_bytes: l.max_text_bytes,
                messages_per_sec: l.messages_per_sec,
                message_burst: l.message_burst,
                typing_interval_ms: l.typing_interval_ms,
                typing_ttl_ms: l.typing_ttl_ms,
                replay_window: l.replay_window,
                token_ttl_default_secs: l.token_ttl_default_secs,
                token_ttl_max_secs: l.token_ttl_max_secs,
                presence_fanout_max: l.presence_fanout_max,
            },
            demo: self.demo.enabled,
            log_json,
            log_filter: self.log.filter,
            production,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn minimal_file_is_valid() {
        let settings = parse("version = 1").unwrap().validate().unwrap();
        assert!(settings.roles.api && settings.roles.gateway);
        assert_eq!(settings.gateway.max_frame_bytes, 65_536);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            parse("version = 1\nlisten_addr = 'x'")
                .unwrap_err()
                .to_string()
                .contains("listen_addr")
        );
        assert!(parse("version = 1\n[gateway]\nqueue = 3").is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let raw = parse("version = 2\nroles = ['chef']\nlisten = 'nowhere'\n[gateway]\noutbound_queue = 1\nallowed_origins = ['x']").unwrap();
        let ConfigError::Invalid(problems) = raw.validate().unwrap_err() else {
            panic!("expected problems")
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "version",
                "roles",
                "listen",
                "gateway.outbound_queue",
                "gateway.allowed_origins"
            ]
        );
    }

    #[test]
    fn env_overrides_file() {
        let raw = parse("version = 1\nlisten = '127.0.0.1:1'").unwrap();
        let settings = raw
            .with_env(|name| (name == env::LISTEN).then(|| "127.0.0.1:2".to_owned()))
            .validate()
            .unwrap();
        assert_eq!(settings.listen.port(), 2);
    }
}
