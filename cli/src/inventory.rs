//! The inventory: the plan's hosts mapped to real machines (address, SSH user, port and key, extra node
//! labels). TOML, versioned, strict. Parsing and validation against the plan are pure; every problem is
//! reported with its field path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The only inventory format version this build reads.
pub const INVENTORY_VERSION: u32 = 1;
/// Where Docker Engine comes from unless the inventory names a mirror.
pub const DEFAULT_DOCKER_REPOSITORY: &str = "https://download.docker.com";
/// Node labels under this prefix belong to the plan (`cc.gateway=true`); the inventory cannot set them.
const PLAN_LABEL_PREFIX: &str = "cc.";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    version: u32,
    /// Base URL of Docker's package repository or a mirror of it (air-gapped sites).
    docker_repository: Option<String>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    nodes: BTreeMap<String, RawNode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    user: Option<String>,
    port: Option<u16>,
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    address: String,
    /// The address the other hosts use to reach this one (Swarm advertise address), when it differs.
    internal_address: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    key: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// One machine, ready to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The plan's host name.
    pub name: String,
    /// The address `ccctl` connects to over SSH.
    pub address: String,
    /// The address the hosts use between themselves.
    pub internal_address: String,
    pub user: String,
    pub port: u16,
    /// Private key file, resolved against the inventory's directory and `~`.
    pub key: PathBuf,
    /// Extra node labels on top of the plan's.
    pub labels: BTreeMap<String, String>,
}

/// A validated inventory: exactly one node per plan host, in the plan's host order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub docker_repository: String,
    pub nodes: Vec<Node>,
}

impl Inventory {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryProblem {
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{file}: not a valid inventory: {message}")]
    Syntax { file: String, message: String },
    #[error("{file} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {}: {}", p.path, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid {
        file: String,
        problems: Vec<InventoryProblem>,
    },
}

/// Where relative paths in the inventory are resolved.
#[derive(Debug, Clone, Copy)]
pub struct PathBase<'a> {
    /// The inventory file's directory.
    pub directory: &'a Path,
    /// The user's home directory, for `~/` paths.
    pub home: Option<&'a Path>,
}

fn resolve(key: &str, base: PathBase<'_>) -> Option<PathBuf> {
    if let Some(rest) = key.strip_prefix("~/") {
        return base.home.map(|home| home.join(rest));
    }
    let path = Path::new(key);
    Some(if path.is_absolute() {
        path.to_owned()
    } else {
        base.directory.join(path)
    })
}

/// Host names and IP addresses: letters, digits, `.`, `-`, `_` and `:` (IPv6, without brackets). Anything
/// else could smuggle options into `ssh` or shell syntax into probes.
fn valid_address(address: &str) -> bool {
    !address.is_empty()
        && !address.starts_with('-')
        && address
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

fn valid_user(user: &str) -> bool {
    !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn valid_label_key(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

/// Parses an inventory and validates it against the plan's host names (in plan order).
pub fn parse(
    file: &str,
    text: &str,
    plan_hosts: &[&str],
    base: PathBase<'_>,
) -> Result<Inventory, InventoryError> {
    let raw: RawInventory = toml::from_str(text).map_err(|error| InventoryError::Syntax {
        file: file.to_owned(),
        message: error.to_string(),
    })?;
    let mut problems = Vec::new();
    let mut problem =
        |path: String, message: String| problems.push(InventoryProblem { path, message });

    if raw.version != INVENTORY_VERSION {
        problem(
            "version".into(),
            format!(
                "unsupported version {}; this ccctl reads version {INVENTORY_VERSION}",
                raw.version
            ),
        );
    }
    if let Some(repository) = &raw.docker_repository
        && !(repository.starts_with("https://") || repository.starts_with("http://"))
    {
        problem(
            "docker_repository".into(),
            "must be an http(s) URL, e.g. https://download.docker.com or your mirror".into(),
        );
    }
    if raw.defaults.port == Some(0) {
        problem("defaults.port".into(), "0 is not a port".into());
    }

    for host in plan_hosts {
        if !raw.nodes.contains_key(*host) {
            problem(
                format!("nodes.{host}"),
                format!(
                    "plan host `{host}` has no machine; add a [nodes.{host}] table with its address"
                ),
            );
        }
    }

    let mut seen_addresses: BTreeMap<String, String> = BTreeMap::new();
    let mut nodes = Vec::new();
    for (name, node) in &raw.nodes {
        let path = format!("nodes.{name}");
        if !plan_hosts.contains(&name.as_str()) {
            problem(
                path.clone(),
                format!(
                    "`{name}` is not a host of the plan (plan hosts: {})",
                    plan_hosts.join(", ")
                ),
            );
            continue;
        }
        if !valid_address(&node.address) {
            problem(
                format!("{path}.address"),
                format!("`{}` is not a host name or IP address", node.address),
            );
        } else if let Some(other) = seen_addresses.insert(node.address.to_lowercase(), name.clone())
        {
            problem(
                format!("{path}.address"),
                format!(
                    "`{}` is already the address of nodes.{other}; each host is a different machine",
                    node.address
                ),
            );
        }
        if let Some(internal) = &node.internal_address
            && !valid_address(internal)
        {
            problem(
                format!("{path}.internal_address"),
                format!("`{internal}` is not a host name or IP address"),
            );
        }
        let user = node
            .user
            .clone()
            .or_else(|| raw.defaults.user.clone())
            .unwrap_or_else(|| "root".to_owned());
        if !valid_user(&user) {
            problem(
                format!("{path}.user"),
                format!("`{user}` is not a user name"),
            );
        }
        let port = node.port.or(raw.defaults.port).unwrap_or(22);
        if node.port == Some(0) {
            problem(format!("{path}.port"), "0 is not a port".into());
        }
        let key = match node.key.as_ref().or(raw.defaults.key.as_ref()) {
            None => {
                problem(
                    format!("{path}.key"),
                    "no SSH private key: set `key` here or in [defaults]".into(),
                );
                None
            }
            Some(key) => {
                let resolved = resolve(key, base);
                if resolved.is_none() {
                    problem(
                        format!("{path}.key"),
                        format!(
                            "`{key}` starts with ~/ but the home directory is unknown; use an absolute path"
                        ),
                    );
                }
                resolved
            }
        };
        for label in node.labels.keys() {
            if label.starts_with(PLAN_LABEL_PREFIX) {
                problem(
                    format!("{path}.labels.{label}"),
                    format!(
                        "labels starting with `{PLAN_LABEL_PREFIX}` come from the plan; choose another name"
                    ),
                );
            } else if !valid_label_key(label) {
                problem(
                    format!("{path}.labels.{label}"),
                    "a label name is letters, digits, `.`, `-`, `_` and `/`".into(),
                );
            }
        }
        nodes.push(Node {
            name: name.clone(),
            address: node.address.clone(),
            internal_address: node
                .internal_address
                .clone()
                .unwrap_or_else(|| node.address.clone()),
            user,
            port,
            key: key.unwrap_or_default(),
            labels: node.labels.clone(),
        });
    }

    if !problems.is_empty() {
        return Err(InventoryError::Invalid {
            file: file.to_owned(),
            problems,
        });
    }
    // Plan order, so tables and progress follow the plan.
    nodes.sort_by_key(|node| plan_hosts.iter().position(|host| *host == node.name));
    Ok(Inventory {
        docker_repository: raw
            .docker_repository
            .unwrap_or_else(|| DEFAULT_DOCKER_REPOSITORY.to_owned())
            .trim_end_matches('/')
            .to_owned(),
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PathBase<'static> {
        PathBase {
            directory: Path::new("/srv/env/prod"),
            home: Some(Path::new("/home/ops")),
        }
    }

    const VALID: &str = r#"
version = 1

[defaults]
user = "deploy"
key = "~/.ssh/ccplatform_ed25519"

[nodes.cc-2]
address = "10.0.0.12"

[nodes.cc-1]
address = "203.0.113.11"
internal_address = "10.0.0.11"
user = "root"
port = 2222
key = "keys/cc-1"
labels = { rack = "a" }
"#;

    #[test]
    fn parses_and_orders_by_plan() {
        let inventory = parse("inventory.toml", VALID, &["cc-1", "cc-2"], base()).expect("valid");
        assert_eq!(inventory.docker_repository, DEFAULT_DOCKER_REPOSITORY);
        let first = &inventory.nodes[0];
        assert_eq!(first.name, "cc-1");
        assert_eq!(first.internal_address, "10.0.0.11");
        assert_eq!(first.port, 2222);
        assert_eq!(first.user, "root");
        assert_eq!(first.key, PathBuf::from("/srv/env/prod/keys/cc-1"));
        assert_eq!(first.labels.get("rack").map(String::as_str), Some("a"));
        let second = inventory.node("cc-2").expect("cc-2");
        assert_eq!(second.user, "deploy");
        assert_eq!(second.port, 22);
        assert_eq!(second.internal_address, "10.0.0.12");
        assert_eq!(
            second.key,
            PathBuf::from("/home/ops/.ssh/ccplatform_ed25519")
        );
    }

    fn problems(text: &str, hosts: &[&str]) -> String {
        match parse("inventory.toml", text, hosts, base()) {
            Err(error @ InventoryError::Invalid { .. }) => error.to_string(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let text = r#"
version = 2
docker_repository = "ftp://mirror"

[nodes.cc-1]
address = "10.0.0.1"
user = "-oProxyCommand=x"
labels = { "cc.gateway" = "true", "bad label" = "x" }

[nodes.cc-2]
address = "10.0.0.1"
key = "/k"

[nodes.cc-9]
address = "10.0.0.9"
key = "/k"

[nodes.cc-4]
address = "$(reboot)"
port = 0
key = "/k"
"#;
        insta::assert_snapshot!(problems(text, &["cc-1", "cc-2", "cc-3", "cc-4"]), @r"
        inventory.toml has 11 problem(s):
          - version: unsupported version 2; this ccctl reads version 1
          - docker_repository: must be an http(s) URL, e.g. https://download.docker.com or your mirror
          - nodes.cc-3: plan host `cc-3` has no machine; add a [nodes.cc-3] table with its address
          - nodes.cc-1.user: `-oProxyCommand=x` is not a user name
          - nodes.cc-1.key: no SSH private key: set `key` here or in [defaults]
          - nodes.cc-1.labels.bad label: a label name is letters, digits, `.`, `-`, `_` and `/`
          - nodes.cc-1.labels.cc.gateway: labels starting with `cc.` come from the plan; choose another name
          - nodes.cc-2.address: `10.0.0.1` is already the address of nodes.cc-1; each host is a different machine
          - nodes.cc-4.address: `$(reboot)` is not a host name or IP address
          - nodes.cc-4.port: 0 is not a port
          - nodes.cc-9: `cc-9` is not a host of the plan (plan hosts: cc-1, cc-2, cc-3, cc-4)
        ");
    }

    #[test]
    fn unknown_fields_and_syntax_errors_name_the_field() {
        let text = VALID.replace("port = 2222", "port = 2222\npassword = \"x\"");
        let error =
            parse("inventory.toml", &text, &["cc-1", "cc-2"], base()).expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `password`"),
            "{error}"
        );
        let error = parse(
            "inventory.toml",
            "version = 1\n[nodes.cc-1]\n",
            &["cc-1"],
            base(),
        )
        .expect_err("missing address");
        assert!(
            error.to_string().contains("missing field `address`"),
            "{error}"
        );
    }

    #[test]
    fn docker_repository_mirror() {
        let text = VALID.replace(
            "version = 1",
            "version = 1\ndocker_repository = \"http://mirror.lan/docker/\"",
        );
        let inventory = parse("inventory.toml", &text, &["cc-1", "cc-2"], base()).expect("valid");
        assert_eq!(inventory.docker_repository, "http://mirror.lan/docker");
    }

    #[test]
    fn addresses_are_unique_ignoring_case() {
        let text = "version = 1\n[defaults]\nkey = \"/k\"\n[nodes.a]\naddress = \"Host.lan\"\n[nodes.b]\naddress = \"host.LAN\"\n";
        assert!(problems(text, &["a", "b"]).contains("nodes.b.address"));
    }
}
