//! The migrate task, pure: `ccserver migrate` as a one-shot Swarm job (`--mode replicated-job`) built from
//! the stack's own `api` service — same image, networks, secrets, config and environment, plus the TiDB
//! root password — so it reaches the database and Kafka exactly as the app does, from inside the swarm,
//! with nothing published. Also the parsers of what the job reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::playbook::template::shell_quote;

/// The stack service whose spec the job copies.
pub const TEMPLATE_SERVICE: &str = "api";
/// The secret (stack key) holding the TiDB root password.
pub const ROOT_PASSWORD_SECRET: &str = "tidb_root_password";
/// The render file listing the Kafka topics.
pub const TOPICS_FILE: &str = "kafka/topics.yml";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("stack.yml: {0}")]
    Stack(String),
    #[error("{TOPICS_FILE}: {0}")]
    Topics(String),
}

/// One topic of `kafka/topics.yml`, as `ccserver migrate --topics` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsFile {
    #[allow(dead_code)] // the job uses the app's own broker list
    bootstrap_servers: String,
    topics: Vec<Topic>,
}

/// `kafka/topics.yml` → the JSON list `ccserver migrate --topics` takes.
pub fn topics_json(topics_yaml: &str) -> Result<String, JobError> {
    let file: TopicsFile = serde_yaml_ng::from_str(topics_yaml)
        .map_err(|error| JobError::Topics(error.to_string()))?;
    serde_json::to_string(&file.topics).map_err(|error| JobError::Topics(error.to_string()))
}

/// Whether the stack has what the migrate job prepares (a database service and the app's template).
pub fn stack_needs_migrate(stack_yaml: &str) -> bool {
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(stack_yaml).is_ok_and(|document| {
        let services = &document["services"];
        services.get(TEMPLATE_SERVICE).is_some()
            && document["secrets"].get(ROOT_PASSWORD_SECRET).is_some()
    })
}

/// Whether the stack has NGINX in front of a gateway (what the smoke test goes through).
pub fn stack_has_edge(stack_yaml: &str) -> bool {
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(stack_yaml).is_ok_and(|document| {
        document["services"].get("nginx").is_some() && document["services"].get("gateway").is_some()
    })
}

/// The job's service name: one per stack, so a job left by a killed run is found and replaced.
pub fn job_name(stack: &str) -> String {
    format!("{stack}_migrate")
}

fn text<'a>(value: &'a serde_yaml_ng::Value, what: &str) -> Result<&'a str, JobError> {
    value
        .as_str()
        .ok_or_else(|| JobError::Stack(format!("{what}: expected a string")))
}

/// `--secret`/`--config` flags: each stack entry's Docker object name and its target in the container.
fn object_flags(
    document: &serde_yaml_ng::Value,
    kind: &str,
    entries: &[serde_yaml_ng::Value],
) -> Result<Vec<String>, JobError> {
    let flag = &kind[..kind.len() - 1];
    let mut flags = Vec::new();
    for entry in entries {
        let (key, target) = match entry {
            serde_yaml_ng::Value::String(key) => (key.as_str(), key.as_str()),
            mapping => (
                text(&mapping["source"], &format!("services.api.{kind}[].source"))?,
                mapping["target"]
                    .as_str()
                    .or_else(|| mapping["source"].as_str())
                    .unwrap_or_default(),
            ),
        };
        let name = document[kind][key]["name"].as_str().ok_or_else(|| {
            JobError::Stack(format!("{kind}.{key}.name: every {flag} needs a name"))
        })?;
        flags.push(format!(
            "--{flag} {}",
            shell_quote(&format!("source={name},target={target}"))
        ));
    }
    Ok(flags)
}

/// The shell command that replaces any previous job and starts `ccserver migrate` (detached).
pub fn create_command(
    stack_yaml: &str,
    stack: &str,
    release: &str,
    topics_json: &str,
) -> Result<String, JobError> {
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(stack_yaml).map_err(|error| JobError::Stack(error.to_string()))?;
    let service = &document["services"][TEMPLATE_SERVICE];
    if service.is_null() {
        return Err(JobError::Stack(format!(
            "services.{TEMPLATE_SERVICE}: missing (the migrate task copies its spec)"
        )));
    }
    let image = text(&service["image"], "services.api.image")?;
    let mut flags = vec![
        "--detach".to_owned(),
        "--mode replicated-job".to_owned(),
        "--restart-condition none".to_owned(),
        format!("--name {}", shell_quote(&job_name(stack))),
        // Not labelled into the stack: `docker stack services` would count the finished job as 0/1.
        format!("--label cc.release={}", shell_quote(release)),
    ];
    for network in service["networks"].as_sequence().into_iter().flatten() {
        let network = text(network, "services.api.networks[]")?;
        let name = document["networks"][network]["name"]
            .as_str()
            .map_or_else(|| format!("{stack}_{network}"), str::to_owned);
        flags.push(format!("--network {}", shell_quote(&name)));
    }
    let mut secrets: Vec<serde_yaml_ng::Value> = service["secrets"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    secrets.push(serde_yaml_ng::Value::String(ROOT_PASSWORD_SECRET.into()));
    flags.extend(object_flags(&document, "secrets", &secrets)?);
    let configs = service["configs"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    flags.extend(object_flags(&document, "configs", &configs)?);
    let config_target = configs
        .iter()
        .find_map(|config| config["target"].as_str())
        .ok_or_else(|| {
            JobError::Stack("services.api.configs: no ccserver config to migrate with".into())
        })?;
    if let Some(environment) = service["environment"].as_mapping() {
        for (key, value) in environment {
            let key = text(key, "services.api.environment key")?;
            let value = match value {
                serde_yaml_ng::Value::String(text) => text.clone(),
                other => serde_yaml_ng::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            };
            flags.push(format!("--env {}", shell_quote(&format!("{key}={value}"))));
        }
    }
    let name = shell_quote(&job_name(stack));
    Ok(format!(
        "docker service rm {name} >/dev/null 2>&1; docker service create {} {} ccserver migrate --config {} --root-password-file {} --topics {} --smoke",
        flags.join(" "),
        shell_quote(image),
        shell_quote(config_target),
        shell_quote(&format!("/run/secrets/{ROOT_PASSWORD_SECRET}")),
        shell_quote(topics_json),
    ))
}

/// The job's task state, `docker service ps` output's first word of the newest task.
pub fn state_command(stack: &str) -> String {
    format!(
        "docker service ps {} --no-trunc --format '{{{{.CurrentState}}}}|{{{{.Error}}}}' 2>/dev/null | head -n 1",
        shell_quote(&job_name(stack))
    )
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Complete,
    Failed(String),
}

pub fn parse_state(output: &str) -> JobState {
    let line = output.lines().next().unwrap_or_default().trim();
    let (state, error) = line.split_once('|').unwrap_or((line, ""));
    match state.split_whitespace().next().unwrap_or_default() {
        "Complete" => JobState::Complete,
        "Failed" | "Rejected" | "Shutdown" | "Orphaned" => JobState::Failed(if error.is_empty() {
            state.to_owned()
        } else {
            error.to_owned()
        }),
        _ => JobState::Pending,
    }
}

/// The job's output (stdout and stderr, raw).
pub fn logs_command(stack: &str) -> String {
    format!(
        "docker service logs --raw {} 2>&1 | tail -n 200",
        shell_quote(&job_name(stack))
    )
}

pub fn remove_command(stack: &str) -> String {
    format!(
        "docker service rm {} >/dev/null 2>&1 || true",
        shell_quote(&job_name(stack))
    )
}

/// The ids of the smoke-test app, users and conversation (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeFixtures {
    pub app_id: String,
    pub conversation_id: String,
    pub users: Vec<String>,
}

/// The `{"smoke": {...}}` line `ccserver migrate --smoke` prints.
pub fn parse_fixtures(logs: &str) -> Option<SmokeFixtures> {
    #[derive(Deserialize)]
    struct Line {
        smoke: SmokeFixtures,
    }
    logs.lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Line>(line.trim()).ok())
        .map(|line| line.smoke)
}

/// Where the last completed migration's release and the smoke fixtures are recorded on the manager.
pub fn migrated_path(stack: &str) -> String {
    format!("{}/migrated-{stack}", crate::deploy::run::STATE_DIRECTORY)
}

pub fn fixtures_path(stack: &str) -> String {
    format!("{}/smoke-{stack}.json", crate::deploy::run::STATE_DIRECTORY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = r#"
services:
  api:
    image: "ccserver:abc"
    command: ["ccserver","--config","/etc/ccserver/ccserver.toml"]
    environment:
      CCSERVER_KAFKA_BROKERS: "kafka-1:9092"
    networks: ["edge","data"]
    secrets:
      - source: jwt_signing_key
        target: jwt-keys/k1.key
      - source: tidb_app_password
        target: tidb_app_password
    configs:
      - source: ccserver_api_toml
        target: /etc/ccserver/ccserver.toml
  nginx:
    image: nginx
  gateway:
    image: ccserver:abc
networks:
  edge:
    driver: overlay
  data:
    driver: overlay
secrets:
  jwt_signing_key:
    name: cc_jwt_1
    file: x
  tidb_app_password:
    name: cc_app_2
    file: y
  tidb_root_password:
    name: cc_root_3
    file: z
configs:
  ccserver_api_toml:
    name: cc_api_toml_4
    file: a
"#;

    #[test]
    fn the_job_copies_the_api_service() {
        let command = create_command(STACK, "cc", "r1", "[]").expect("command");
        for expected in [
            "docker service rm cc_migrate >/dev/null 2>&1; docker service create --detach --mode replicated-job",
            "--network cc_edge --network cc_data",
            "--secret source=cc_jwt_1,target=jwt-keys/k1.key",
            "--secret source=cc_root_3,target=tidb_root_password",
            "--config source=cc_api_toml_4,target=/etc/ccserver/ccserver.toml",
            "--env CCSERVER_KAFKA_BROKERS=kafka-1:9092",
            "--label cc.release=r1",
            "ccserver:abc ccserver migrate --config /etc/ccserver/ccserver.toml --root-password-file /run/secrets/tidb_root_password --topics '[]' --smoke",
        ] {
            assert!(command.contains(expected), "{expected} not in {command}");
        }
        assert!(stack_needs_migrate(STACK));
        assert!(stack_has_edge(STACK));
        assert!(!stack_needs_migrate("services:\n  app:\n    image: x\n"));
        assert!(create_command("services:\n  app:\n    image: x\n", "cc", "r", "[]").is_err());
    }

    #[test]
    fn topics_become_json() {
        let json = topics_json(
            "bootstrap_servers: \"kafka-1:9092\"\ntopics:\n  - name: \"chat.messages\"\n    partitions: 6\n    replication_factor: 1\n    configs:\n      retention.ms: \"1\"\n",
        )
        .expect("json");
        assert_eq!(
            json,
            r#"[{"name":"chat.messages","partitions":6,"replication_factor":1,"configs":{"retention.ms":"1"}}]"#
        );
        assert!(topics_json("topics: 3").is_err());
    }

    #[test]
    fn states_and_fixtures() {
        assert_eq!(parse_state("Complete 2 seconds ago|\n"), JobState::Complete);
        assert_eq!(parse_state("Running 1 second ago|\n"), JobState::Pending);
        assert_eq!(parse_state(""), JobState::Pending);
        assert_eq!(
            parse_state("Failed 1 second ago|task: non-zero exit (1)\n"),
            JobState::Failed("task: non-zero exit (1)".into())
        );
        let logs = "ccserver migrate: schema current\n{\"smoke\":{\"app_id\":\"a1\",\"conversation_id\":\"c1\",\"users\":[\"smoke-a\",\"smoke-b\"]}}\n";
        assert_eq!(
            parse_fixtures(logs),
            Some(SmokeFixtures {
                app_id: "a1".into(),
                conversation_id: "c1".into(),
                users: vec!["smoke-a".into(), "smoke-b".into()],
            })
        );
        assert_eq!(parse_fixtures("nothing\n"), None);
    }
}
