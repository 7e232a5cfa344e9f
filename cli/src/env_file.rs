//! The environment file of `ccctl render` (TOML, `version = 1`, unknown keys rejected): the domain every
//! hostname derives from, TLS certificate and key (or `self_signed`), image registry and versions, the
//! secrets directory, trusted proxies. Parsed into a raw type, then validated into [`EnvFile`] with every
//! problem collected and named by its key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use cc_templates::{Domain, Hostnames, Images, Problem};
use serde::Deserialize;

/// The environment file format this ccctl reads.
pub const ENV_FILE_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    version: u32,
    domain: String,
    #[serde(default)]
    stack_name: Option<String>,
    #[serde(default)]
    hostnames: BTreeMap<String, String>,
    tls: RawTls,
    images: RawImages,
    secrets: RawSecrets,
    #[serde(default)]
    network: RawNetwork,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    self_signed: bool,
    certificate: Option<PathBuf>,
    private_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImages {
    /// Where our `ccserver` image lives (`registry.example.com/cc`).
    registry: String,
    /// The `ccserver` tag to deploy.
    version: String,
    /// Third-party images by key (`nginx = "nginx:1.27.4"`), replacing the tested defaults.
    #[serde(default)]
    overrides: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecrets {
    dir: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Generated on first render into the secrets directory (dev and CI only).
    SelfSigned,
    /// Files given by the operator (paths resolved against the environment file's directory).
    Files {
        certificate: PathBuf,
        private_key: PathBuf,
    },
}

/// A validated environment file. Paths are absolute.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub domain: Domain,
    pub hostnames: Hostnames,
    pub stack_name: String,
    pub tls: TlsSource,
    pub images: Images,
    pub secrets_dir: PathBuf,
    pub trusted_proxies: Vec<String>,
}

/// Why an environment file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("{path}: not a valid environment file: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: invalid environment:{}", list(.problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

/// Parses and validates the text of the environment file at `path` (used to resolve relative paths).
pub fn parse(text: &str, path: &Path) -> Result<EnvFile, EnvFileError> {
    let shown = path.display().to_string();
    // Check the version before the schema, so that a newer file says "newer" and not "unknown key".
    let table: toml::Table = toml::from_str(text).map_err(|error| EnvFileError::Parse {
        path: shown.clone(),
        message: error.to_string(),
    })?;
    match table.get("version").and_then(toml::Value::as_integer) {
        Some(version) if version == i64::from(ENV_FILE_VERSION) => {}
        Some(version) if version > i64::from(ENV_FILE_VERSION) => {
            return Err(invalid(
                &shown,
                "version",
                format!("is {version}, newer than the {ENV_FILE_VERSION} this ccctl reads"),
                "upgrade ccctl",
            ));
        }
        Some(version) => {
            return Err(invalid(
                &shown,
                "version",
                format!("is {version}; this ccctl reads {ENV_FILE_VERSION}"),
                "set `version = 1`",
            ));
        }
        None => {
            return Err(invalid(
                &shown,
                "version",
                "is missing or not an integer".into(),
                "add `version = 1` at the top",
            ));
        }
    }
    let raw: RawEnvironment = toml::from_str(text).map_err(|error| EnvFileError::Parse {
        path: shown.clone(),
        message: error.to_string(),
    })?;
    let base = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    debug_assert_eq!(raw.version, ENV_FILE_VERSION);
    validate(raw, &base).map_err(|problems| EnvFileError::Invalid {
        path: shown,
        problems,
    })
}

fn list(problems: &[Problem]) -> String {
    problems.iter().fold(String::new(), |mut text, problem| {
        let _ = write!(text, "\n  - {problem}");
        text
    })
}

fn invalid(path: &str, field: &str, message: String, hint: &str) -> EnvFileError {
    EnvFileError::Invalid {
        path: path.to_owned(),
        problems: vec![Problem::new(field, message, hint)],
    }
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    std::path::absolute(&joined).unwrap_or(joined)
}

fn validate(raw: RawEnvironment, base: &Path) -> Result<EnvFile, Vec<Problem>> {
    let mut problems = Vec::new();
    let domain = Domain::parse(&raw.domain)
        .map_err(|error| {
            problems.push(Problem::new(
                "domain",
                format!("`{}` {error}", raw.domain),
                "use the DNS name users reach the platform under, like `chat.example.com`",
            ));
        })
        .ok();
    let mut overrides = BTreeMap::new();
    for (key, value) in &raw.hostnames {
        if !Hostnames::KEYS.contains(&key.as_str()) {
            problems.push(Problem::new(
                format!("hostnames.{key}"),
                "unknown hostname key",
                format!("use one of: {}", Hostnames::KEYS.join(", ")),
            ));
            continue;
        }
        match Domain::parse(value) {
            Ok(name) => {
                overrides.insert(key.clone(), name);
            }
            Err(error) => problems.push(Problem::new(
                format!("hostnames.{key}"),
                format!("`{value}` {error}"),
                "give a full DNS name",
            )),
        }
    }
    let stack_name = raw.stack_name.unwrap_or_else(|| "cc".to_owned());
    if stack_name.is_empty()
        || stack_name.len() > 20
        || !stack_name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
    {
        problems.push(Problem::new(
            "stack_name",
            format!("`{stack_name}` is not a usable Docker stack name"),
            "use 1–20 lowercase letters, digits or `-`",
        ));
    }
    let tls =
        match (
            raw.tls.self_signed,
            raw.tls.certificate,
            raw.tls.private_key,
        ) {
            (true, None, None) => Some(TlsSource::SelfSigned),
            (false, Some(certificate), Some(private_key)) => Some(TlsSource::Files {
                certificate: absolute(base, &certificate),
                private_key: absolute(base, &private_key),
            }),
            (true, _, _) => {
                problems.push(Problem::new(
                    "tls",
                    "`self_signed = true` together with certificate files",
                    "keep either `self_signed = true` or `certificate` + `private_key`",
                ));
                None
            }
            (false, certificate, _) => {
                problems.push(Problem::new(
                if certificate.is_none() { "tls.certificate" } else { "tls.private_key" },
                "is missing",
                "give both `certificate` and `private_key` paths, or `self_signed = true` for dev",
            ));
                None
            }
        };
    let images = images(&raw.images, &mut problems);
    let mut trusted_proxies = Vec::new();
    for (index, cidr) in raw.network.trusted_proxies.iter().enumerate() {
        if valid_cidr(cidr) {
            trusted_proxies.push(cidr.clone());
        } else {
            problems.push(Problem::new(
                format!("network.trusted_proxies[{index}]"),
                format!("`{cidr}` is not an IP address or CIDR"),
                "use forms like `10.0.0.0/8` or `192.0.2.10`",
            ));
        }
    }
    match (domain, tls, images) {
        (Some(domain), Some(tls), Some(images)) if problems.is_empty() => Ok(EnvFile {
            hostnames: Hostnames::derive(&domain, &overrides),
            domain,
            stack_name,
            tls,
            images,
            secrets_dir: absolute(base, &raw.secrets.dir),
            trusted_proxies,
        }),
        _ => Err(problems),
    }
}

fn valid_cidr(text: &str) -> bool {
    let (address, prefix) = text
        .split_once('/')
        .map_or((text, None), |(a, p)| (a, Some(p)));
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|prefix| prefix.parse::<u8>().is_ok_and(|bits| bits <= max))
}

/// A pinned image reference: a tag other than `latest`, or a digest.
fn pinned(reference: &str) -> bool {
    if reference.contains("@sha256:") {
        return true;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.split_once(':')
        .is_some_and(|(_, tag)| !tag.is_empty() && tag != "latest")
}

fn images(raw: &RawImages, problems: &mut Vec<Problem>) -> Option<Images> {
    let before = problems.len();
    let registry = raw.registry.trim_end_matches('/');
    if registry.is_empty() || registry.contains(char::is_whitespace) {
        problems.push(Problem::new(
            "images.registry",
            "is empty or has spaces",
            "like `registry.example.com/cc`",
        ));
    }
    if raw.version.is_empty() || raw.version == "latest" || raw.version.contains([':', '/', ' ']) {
        problems.push(Problem::new(
            "images.version",
            format!("`{}` is not a pinned tag", raw.version),
            "give the exact ccserver version, like `0.1.0`",
        ));
    }
    let mut chosen: BTreeMap<String, String> = Images::DEFAULTS
        .iter()
        .map(|(key, reference)| ((*key).to_owned(), (*reference).to_owned()))
        .collect();
    for (key, reference) in &raw.overrides {
        if !chosen.contains_key(key) {
            problems.push(Problem::new(
                format!("images.overrides.{key}"),
                "unknown image key",
                format!(
                    "use one of: {}",
                    chosen.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        } else if !pinned(reference) {
            problems.push(Problem::new(
                format!("images.overrides.{key}"),
                format!("`{reference}` is not pinned"),
                "give an exact tag (not `latest`) or a `@sha256:` digest",
            ));
        } else {
            chosen.insert(key.clone(), reference.clone());
        }
    }
    if problems.len() > before {
        return None;
    }
    let take = |key: &str| chosen.get(key).cloned().unwrap_or_default();
    Some(Images {
        ccserver: format!("{registry}/ccserver:{}", raw.version),
        nginx: take("nginx"),
        kafka: take("kafka"),
        pd: take("pd"),
        tikv: take("tikv"),
        tidb: take("tidb"),
        redis: take("redis"),
        mongodb: take("mongodb"),
        prometheus: take("prometheus"),
        alertmanager: take("alertmanager"),
        grafana: take("grafana"),
        loki: take("loki"),
        promtail: take("promtail"),
        node_exporter: take("node_exporter"),
        cadvisor: take("cadvisor"),
        kafka_exporter: take("kafka_exporter"),
        redis_exporter: take("redis_exporter"),
        mongodb_exporter: take("mongodb_exporter"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
version = 1
domain = "chat.example.com"
[hostnames]
api = "api.example.net"
[tls]
certificate = "certs/chat.pem"
private_key = "certs/chat.key"
[images]
registry = "registry.example.com/cc/"
version = "0.1.0"
[images.overrides]
nginx = "nginx:1.27.4"
[secrets]
dir = "secrets"
[network]
trusted_proxies = ["10.0.0.0/8", "192.0.2.10"]
"#;

    fn parse_at(text: &str) -> Result<EnvFile, EnvFileError> {
        parse(text, Path::new("/srv/cc/env.toml"))
    }

    #[test]
    fn good_file() {
        let env = parse_at(GOOD).unwrap();
        assert_eq!(env.hostnames.api.as_str(), "api.example.net");
        assert_eq!(env.hostnames.ws.as_str(), "ws.chat.example.com");
        assert_eq!(
            env.images.ccserver,
            "registry.example.com/cc/ccserver:0.1.0"
        );
        assert_eq!(env.images.nginx, "nginx:1.27.4");
        assert_eq!(env.secrets_dir, PathBuf::from("/srv/cc/secrets"));
        assert_eq!(
            env.tls,
            TlsSource::Files {
                certificate: "/srv/cc/certs/chat.pem".into(),
                private_key: "/srv/cc/certs/chat.key".into()
            }
        );
    }

    fn problem_paths(text: &str) -> Vec<String> {
        match parse_at(text) {
            Err(EnvFileError::Invalid { problems, .. }) => {
                problems.into_iter().map(|p| p.path).collect()
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_named() {
        let text = GOOD
            .replace("chat.example.com\"", "chat_example\"")
            .replace(
                "api = \"api.example.net\"",
                "api = \"api.example.net\"\nadmin = \"x.example.net\"",
            )
            .replace("nginx:1.27.4", "nginx:latest")
            .replace("\"192.0.2.10\"", "\"300.1.1.1\"");
        assert_eq!(
            problem_paths(&text),
            [
                "domain",
                "hostnames.admin",
                "images.overrides.nginx",
                "network.trusted_proxies[1]"
            ]
        );
    }

    #[test]
    fn version_and_unknown_keys() {
        assert_eq!(
            problem_paths(&GOOD.replace("version = 1", "version = 2")),
            ["version"]
        );
        let unknown = parse_at(&GOOD.replace("[hostnames]", "colour = \"red\"\n[hostnames]"));
        assert!(
            matches!(unknown, Err(EnvFileError::Parse { message, .. }) if message.contains("colour"))
        );
    }

    #[test]
    fn tls_choice() {
        let both = GOOD.replace("[tls]", "[tls]\nself_signed = true");
        assert_eq!(problem_paths(&both), ["tls"]);
        let no_key = GOOD.replace("private_key = \"certs/chat.key\"\n", "");
        assert_eq!(problem_paths(&no_key), ["tls.private_key"]);
    }
}
