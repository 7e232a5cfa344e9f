//! Smoke test of the real Docker Engine in single-node swarm mode through `bollard`: list the nodes, run a
//! one-shot swarm service to completion, remove it.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    NodeSpecAvailabilityEnum, NodeState, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    TaskSpec, TaskSpecContainerSpec, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
    TaskState,
};
use bollard::query_parameters::{ListNodesOptions, ListTasksOptionsBuilder};
use cc_e2e::services::{DOCKER, SMOKE_IMAGE, unique_name};

const SERVICE_DEADLINE: Duration = Duration::from_secs(60);

async fn connect() -> Docker {
    let address = DOCKER.address();
    let docker = Docker::connect_with_unix(&address, 10, bollard::API_DEFAULT_VERSION)
        .unwrap_or_else(|error| panic!("{}", DOCKER.unavailable(error)));
    // Debian's engine speaks an older API than bollard's default: agree on the highest common version.
    tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
        .await
        .unwrap_or_else(|_| panic!("{}", DOCKER.unavailable("no answer within 10 s")))
        .unwrap_or_else(|error| panic!("{}", DOCKER.unavailable(error)))
}

#[tokio::test]
async fn swarm_runs_a_service_to_completion() {
    let docker = connect().await;

    let nodes = docker
        .list_nodes(None::<ListNodesOptions>)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "{}",
                DOCKER.unavailable(format!("not a swarm manager? {error}"))
            )
        });
    assert_eq!(
        nodes.len(),
        1,
        "expected a single-node swarm, got {nodes:?}"
    );
    let node = &nodes[0];
    assert_eq!(
        node.status.as_ref().and_then(|status| status.state),
        Some(NodeState::READY)
    );
    assert_eq!(
        node.spec.as_ref().and_then(|spec| spec.availability),
        Some(NodeSpecAvailabilityEnum::ACTIVE)
    );

    let name = unique_name("cc-smoke").replace(['-'], "_");
    let spec = ServiceSpec {
        name: Some(name.clone()),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(SMOKE_IMAGE.to_owned()),
                command: Some(vec!["true".to_owned()]),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker.create_service(spec, None).await.unwrap_or_else(|error| {
        panic!("creating a swarm service from {SMOKE_IMAGE} failed (rerun scripts/services/docker.sh start): {error}")
    });

    let filters = HashMap::from([("service", vec![name.as_str()])]);
    let deadline = tokio::time::Instant::now() + SERVICE_DEADLINE;
    let outcome = loop {
        let tasks = docker
            .list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .expect("list tasks");
        let states: Vec<_> = tasks
            .iter()
            .filter_map(|task| task.status.as_ref())
            .map(|status| (status.state, status.err.clone()))
            .collect();
        if states
            .iter()
            .any(|(state, _)| *state == Some(TaskState::COMPLETE))
        {
            break Ok(states);
        }
        if states.iter().any(|(state, _)| {
            matches!(
                state,
                Some(TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED)
            )
        }) {
            break Err(format!("task failed: {states:?}"));
        }
        if tokio::time::Instant::now() >= deadline {
            break Err(format!(
                "no completed task within {SERVICE_DEADLINE:?}: {states:?}"
            ));
        }
        // Poll interval of a condition with a deadline, not a synchronisation sleep.
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    docker
        .delete_service(&name)
        .await
        .expect("remove the service");
    if let Err(reason) = outcome {
        panic!("swarm service {name}: {reason}");
    }
}
