//! Where the real test services are and what to tell a developer when one is missing.
//!
//! Addresses come from the environment variables of `scripts/services/ports.env`; the file itself is compiled
//! in as the defaults, so a port changes in that one file only.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// `scripts/services/ports.env`, parsed once: variable name → default value.
const PORTS_ENV: &str = include_str!("../../scripts/services/ports.env");

fn defaults() -> &'static BTreeMap<&'static str, &'static str> {
    static DEFAULTS: OnceLock<BTreeMap<&'static str, &'static str>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        PORTS_ENV
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .collect()
    })
}

/// The value of a ports.env variable: the environment wins, else the file's value.
///
/// # Panics
/// When `name` is not a variable of ports.env: a typo in a test, caught on its first run.
pub fn setting(name: &str) -> String {
    if let Ok(value) = std::env::var(name)
        && !value.is_empty()
    {
        return value;
    }
    match defaults().get(name) {
        Some(value) => (*value).to_owned(),
        None => panic!("{name} is not a variable of scripts/services/ports.env"),
    }
}

/// One real service of the harness, named as its script is.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Human name, e.g. "Kafka (single broker)".
    pub name: &'static str,
    /// Its script under `scripts/services/`, without `.sh`.
    pub script: &'static str,
    /// The ports.env variable holding its address (URL, `host:port` list, or port); `None` for a tool.
    pub address_var: Option<&'static str>,
    /// The ports.env variable holding its host when `address_var` holds only a port.
    pub host_var: Option<&'static str>,
}

impl Service {
    /// The address tests connect to (`$address_var`, or the ports.env value), prefixed with `$host_var:`
    /// when the service has one; empty for a tool.
    ///
    /// # Panics
    /// When the service has no address (a tool such as nginx).
    pub fn address(&self) -> String {
        let Some(address_var) = self.address_var else {
            panic!("{} is a tool with no address", self.name);
        };
        match self.host_var {
            Some(host_var) => format!("{}:{}", setting(host_var), setting(address_var)),
            None => setting(address_var),
        }
    }

    /// The message a test fails with when this service cannot be used: names the service, its address and
    /// the command that starts it.
    pub fn unavailable(&self, error: impl fmt::Display) -> String {
        let location = match (self.address_var, self.host_var) {
            (Some(address_var), Some(host_var)) => {
                format!(" at {} ({host_var}, {address_var})", self.address())
            }
            (Some(address_var), None) => format!(" at {} ({address_var})", self.address()),
            (None, _) => String::new(),
        };
        format!(
            "{name} is not available{location}: {error:#}\n  \
             start it with `scripts/services/{script}.sh start` (or every service: `scripts/services/all.sh start`)",
            name = self.name,
            script = self.script,
        )
    }
}

pub const KAFKA: Service = Service {
    name: "Kafka (single broker)",
    script: "kafka",
    address_var: Some("CC_TEST_KAFKA_BROKERS"),
    host_var: None,
};
pub const KAFKA_CLUSTER: Service = Service {
    name: "Kafka (3-broker cluster)",
    script: "kafka",
    address_var: Some("CC_TEST_KAFKA_CLUSTER_BROKERS"),
    host_var: None,
};
pub const MARIADB: Service = Service {
    name: "MariaDB",
    script: "mariadb",
    address_var: Some("CC_TEST_MYSQL_URL"),
    host_var: None,
};
pub const REDIS: Service = Service {
    name: "Redis (standalone)",
    script: "redis",
    address_var: Some("CC_TEST_REDIS_URL"),
    host_var: None,
};
pub const REDIS_CLUSTER: Service = Service {
    name: "Redis Cluster",
    script: "redis",
    address_var: Some("CC_TEST_REDIS_CLUSTER_NODES"),
    host_var: None,
};
pub const FERRETDB: Service = Service {
    name: "FerretDB",
    script: "ferretdb",
    address_var: Some("CC_TEST_MONGODB_URL"),
    host_var: None,
};
pub const DOCKER: Service = Service {
    name: "Docker (swarm)",
    script: "docker",
    address_var: Some("CC_TEST_DOCKER_HOST"),
    host_var: None,
};
pub const SSHD: Service = Service {
    name: "sshd",
    script: "sshd",
    address_var: Some("CC_TEST_SSH_PORT"),
    host_var: Some("CC_TEST_SSH_HOST"),
};
pub const NGINX: Service = Service {
    name: "nginx",
    script: "nginx",
    address_var: None,
    host_var: None,
};
pub const PROMTOOL: Service = Service {
    name: "promtool",
    script: "promtool",
    address_var: None,
    host_var: None,
};

/// The image `scripts/services/docker.sh start` builds locally (no registry is reachable here).
pub const SMOKE_IMAGE: &str = "cc-smoke:local";

/// `$CC_SERVICES_HOME/<component>`: state, keys and logs of one service.
pub fn state_dir(component: &str) -> PathBuf {
    PathBuf::from(setting("CC_SERVICES_HOME")).join(component)
}

/// The test sshd's files (made by `scripts/services/sshd.sh start`).
#[derive(Debug, Clone)]
pub struct SshFiles {
    /// The client private key authorised for root.
    pub client_key: PathBuf,
    /// `[127.0.0.1]:2222 ssh-ed25519 ...`: the host key tests verify strictly.
    pub known_hosts: PathBuf,
}

pub fn ssh_files() -> SshFiles {
    let dir = state_dir("sshd");
    SshFiles {
        client_key: dir.join("client_ed25519"),
        known_hosts: dir.join("known_hosts"),
    }
}

/// A name unique to this run, for topics, groups, keys, databases and services: tests never collide with a
/// previous or a parallel run.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let sequence = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{nanos:x}-{sequence}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_variable_has_a_default_in_ports_env() {
        for service in [
            KAFKA,
            KAFKA_CLUSTER,
            MARIADB,
            REDIS,
            REDIS_CLUSTER,
            FERRETDB,
            DOCKER,
            SSHD,
            NGINX,
            PROMTOOL,
        ] {
            for variable in service.address_var.into_iter().chain(service.host_var) {
                assert!(
                    defaults().contains_key(variable),
                    "{variable} missing from ports.env"
                );
            }
        }
    }

    #[test]
    fn unavailable_names_the_service_and_its_start_command() {
        let message = REDIS.unavailable("connection refused");
        assert!(message.contains("Redis (standalone)"), "{message}");
        assert!(
            message.contains("scripts/services/redis.sh start"),
            "{message}"
        );
        assert!(message.contains("connection refused"), "{message}");
        assert!(message.contains(&REDIS.address()), "{message}");
        let message = SSHD.unavailable("refused");
        let expected = format!(
            "sshd is not available at {}:{}",
            setting("CC_TEST_SSH_HOST"),
            setting("CC_TEST_SSH_PORT")
        );
        assert!(message.contains(&expected), "{message}");
        let message = NGINX.unavailable("not installed");
        assert!(
            message.starts_with("nginx is not available: not installed"),
            "{message}"
        );
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("x"), unique_name("x"));
    }
}
