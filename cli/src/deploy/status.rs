//! What `ccctl status` shows, pure: the stack's services and the swarm's nodes as plain data, judged
//! healthy or not, and the release that runs. Filled from the Docker API by `crate::remote::docker`.

use std::collections::BTreeSet;

use serde::Serialize;

/// The service label deploy sets to the release it deployed.
pub const RELEASE_LABEL: &str = "cc.release";
/// The node label deploy sets to the plan's host name.
pub const HOST_LABEL: &str = "cc.host";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceState {
    pub name: String,
    /// `replicated` or `global`.
    pub mode: String,
    pub running: u64,
    pub desired: u64,
    /// Image reference without the `@sha256:` pin.
    pub image: String,
    /// `updating`, `rollback_started`, … while an update is under way; empty otherwise.
    pub update: String,
    pub release: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeState {
    pub hostname: String,
    /// The plan's name for the host (node label `cc.host`), when deploy set it.
    pub host: Option<String>,
    /// `manager` or `worker`.
    pub role: String,
    /// `ready`, `down`, `disconnected`, `unknown`.
    pub status: String,
    /// `active`, `pause`, `drain`.
    pub availability: String,
    /// `leader`, `reachable`, `unreachable` for managers.
    pub manager: Option<String>,
    pub engine: String,
}

/// The whole picture, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub stack: String,
    /// The release every service runs; `None` with no services; `mixed` during or after a partial update.
    pub release: Option<String>,
    pub services: Vec<ServiceState>,
    pub nodes: Vec<NodeState>,
    /// Empty when healthy; otherwise one line per problem.
    pub problems: Vec<String>,
}

/// `image:tag@sha256:…` → `image:tag`.
pub fn display_image(image: &str) -> String {
    image.split('@').next().unwrap_or(image).to_owned()
}

pub fn judge(stack: &str, mut services: Vec<ServiceState>, mut nodes: Vec<NodeState>) -> Status {
    services.sort_by(|a, b| a.name.cmp(&b.name));
    nodes.sort_by(|a, b| {
        a.host
            .cmp(&b.host)
            .then_with(|| a.hostname.cmp(&b.hostname))
    });
    let mut problems = Vec::new();
    if services.is_empty() {
        problems.push(format!(
            "no service of stack `{stack}` runs: deploy it with `ccctl deploy`"
        ));
    }
    for service in &services {
        if service.running < service.desired {
            problems.push(format!(
                "{}: {}/{} replicas running",
                service.name, service.running, service.desired
            ));
        }
        if !service.update.is_empty() && service.update != "completed" {
            problems.push(format!("{}: update {}", service.name, service.update));
        }
    }
    for node in &nodes {
        let name = node.host.as_deref().unwrap_or(&node.hostname);
        if node.status != "ready" {
            problems.push(format!("node {name} is {}", node.status));
        }
        if node.availability != "active" {
            problems.push(format!(
                "node {name} is {} (no new tasks)",
                node.availability
            ));
        }
        if node.manager.as_deref() == Some("unreachable") {
            problems.push(format!(
                "manager {name} is unreachable: the Raft quorum is at risk"
            ));
        }
    }
    let releases: BTreeSet<Option<&String>> = services
        .iter()
        .map(|service| service.release.as_ref())
        .collect();
    let release = match releases.len() {
        0 => None,
        1 => releases.into_iter().next().flatten().cloned(),
        _ => {
            problems.push("services run different releases".to_owned());
            Some("mixed".to_owned())
        }
    };
    Status {
        stack: stack.to_owned(),
        release,
        services,
        nodes,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, running: u64, desired: u64, release: &str) -> ServiceState {
        ServiceState {
            name: name.into(),
            mode: "replicated".into(),
            running,
            desired,
            image: "ccserver:0.1.0".into(),
            update: String::new(),
            release: Some(release.into()),
        }
    }

    fn node(hostname: &str, status: &str, manager: Option<&str>) -> NodeState {
        NodeState {
            hostname: hostname.into(),
            host: None,
            role: if manager.is_some() {
                "manager"
            } else {
                "worker"
            }
            .into(),
            status: status.into(),
            availability: "active".into(),
            manager: manager.map(Into::into),
            engine: "27.3.1".into(),
        }
    }

    #[test]
    fn healthy() {
        let status = judge(
            "cc",
            vec![
                service("cc_gateway", 2, 2, "r1"),
                service("cc_api", 1, 1, "r1"),
            ],
            vec![node("a", "ready", Some("leader"))],
        );
        assert!(status.problems.is_empty(), "{:?}", status.problems);
        assert_eq!(status.release.as_deref(), Some("r1"));
        assert_eq!(status.services[0].name, "cc_api", "sorted by name");
    }

    #[test]
    fn problems_are_listed() {
        let mut updating = service("cc_api", 1, 1, "r2");
        updating.update = "rollback_started".into();
        let status = judge(
            "cc",
            vec![service("cc_gateway", 1, 2, "r1"), updating],
            vec![
                node("a", "ready", Some("leader")),
                node("b", "down", Some("unreachable")),
            ],
        );
        assert_eq!(
            status.problems,
            vec![
                "cc_api: update rollback_started",
                "cc_gateway: 1/2 replicas running",
                "node b is down",
                "manager b is unreachable: the Raft quorum is at risk",
                "services run different releases",
            ]
        );
        assert_eq!(status.release.as_deref(), Some("mixed"));
    }

    #[test]
    fn no_services_is_a_problem() {
        let status = judge("cc", vec![], vec![node("a", "ready", Some("leader"))]);
        assert_eq!(status.release, None);
        assert_eq!(status.problems.len(), 1);
    }

    #[test]
    fn images_lose_their_digest() {
        assert_eq!(display_image("redis:7@sha256:abc"), "redis:7");
        assert_eq!(display_image("ccserver:0.1.0"), "ccserver:0.1.0");
    }
}
