//! The Docker Engine API of a remote manager, reached through its unix socket forwarded over the SSH
//! session (so the engine never listens on the network and the host-key rules still apply), read
//! into the plain types of `crate::deploy::status`.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{ListNodesOptions, ListServicesOptions};

use crate::deploy::status::{HOST_LABEL, NodeState, RELEASE_LABEL, ServiceState, display_image};
use crate::remote::RemoteError;
use crate::remote::session::{SshContext, SshSession};

/// Where the engine listens on the host.
pub const REMOTE_DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Seconds one API call may take.
const API_TIMEOUT_SECONDS: u64 = 30;

/// Connects to the engine of `session`'s host.
pub async fn connect(context: &SshContext, session: &SshSession) -> Result<Docker, RemoteError> {
    let local = context.scratch_path(&format!("docker-{}.sock", session.host()));
    session
        .forward_unix_socket(&local, std::path::Path::new(REMOTE_DOCKER_SOCKET))
        .await?;
    let docker = Docker::connect_with_unix(
        &local.to_string_lossy(),
        API_TIMEOUT_SECONDS,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|error| docker_error(session.host(), &error))?;
    // Speak the engine's API version when it is older than ours.
    docker
        .negotiate_version()
        .await
        .map_err(|error| docker_error(session.host(), &error))
}

fn docker_error(host: &str, error: &bollard::errors::Error) -> RemoteError {
    RemoteError::Command {
        host: host.to_owned(),
        detail: format!("Docker API: {error}"),
    }
}

/// The services of `stack` with their running/desired replicas.
pub async fn services(
    host: &str,
    docker: &Docker,
    stack: &str,
) -> Result<Vec<ServiceState>, RemoteError> {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("com.docker.stack.namespace={stack}")],
    )]);
    let services = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(filters),
            status: Some(true),
        }))
        .await
        .map_err(|error| docker_error(host, &error))?;
    Ok(services
        .into_iter()
        .map(|service| {
            let spec = service.spec.unwrap_or_default();
            let mode = match spec.mode.as_ref() {
                Some(mode) if mode.global.is_some() => "global",
                _ => "replicated",
            };
            let image = spec
                .task_template
                .as_ref()
                .and_then(|template| template.container_spec.as_ref())
                .and_then(|container| container.image.as_deref())
                .map(display_image)
                .unwrap_or_default();
            let counts = service.service_status.unwrap_or_default();
            ServiceState {
                name: spec.name.unwrap_or_default(),
                mode: mode.to_owned(),
                running: counts.running_tasks.unwrap_or(0),
                desired: counts.desired_tasks.unwrap_or(0),
                image,
                update: service
                    .update_status
                    .and_then(|update| update.state)
                    .map(|state| state.to_string())
                    .unwrap_or_default(),
                release: spec
                    .labels
                    .and_then(|labels| labels.get(RELEASE_LABEL).cloned()),
            }
        })
        .collect())
}

/// Every node of the swarm.
pub async fn nodes(host: &str, docker: &Docker) -> Result<Vec<NodeState>, RemoteError> {
    let nodes = docker
        .list_nodes(None::<ListNodesOptions>)
        .await
        .map_err(|error| docker_error(host, &error))?;
    Ok(nodes
        .into_iter()
        .map(|node| {
            let spec = node.spec.unwrap_or_default();
            let description = node.description.unwrap_or_default();
            let manager = node.manager_status.map(|status| {
                if status.leader == Some(true) {
                    "leader".to_owned()
                } else {
                    status.reachability.map_or_else(
                        || "unknown".to_owned(),
                        |reachability| reachability.to_string(),
                    )
                }
            });
            NodeState {
                hostname: description.hostname.unwrap_or_default(),
                host: spec
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(HOST_LABEL).cloned()),
                role: spec.role.map(|role| role.to_string()).unwrap_or_default(),
                status: node
                    .status
                    .and_then(|status| status.state)
                    .map(|state| state.to_string())
                    .unwrap_or_default(),
                availability: spec
                    .availability
                    .map(|availability| availability.to_string())
                    .unwrap_or_default(),
                manager,
                engine: description
                    .engine
                    .and_then(|engine| engine.engine_version)
                    .unwrap_or_default(),
            }
        })
        .collect())
}
