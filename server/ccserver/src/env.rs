//! Every environment variable the server reads, in one place.

/// Path of the TOML configuration file.
pub const CONFIG: &str = "CCSERVER_CONFIG";
/// Overrides `listen`.
pub const LISTEN: &str = "CCSERVER_LISTEN";
/// Overrides `storage.path`.
pub const STORAGE_PATH: &str = "CCSERVER_STORAGE_PATH";
/// Overrides `auth.keys_dir`.
pub const KEYS_DIR: &str = "CCSERVER_KEYS_DIR";
/// Overrides `log.filter` (tracing env-filter syntax).
pub const LOG: &str = "CCSERVER_LOG";
/// Overrides `log.format` (`json` or `text`).
pub const LOG_FORMAT: &str = "CCSERVER_LOG_FORMAT";
/// Overrides `backend` (`embedded` or `production`); the production addresses have their own variables in
/// `backends::config::env`.
pub const BACKEND: &str = "CCSERVER_BACKEND";
