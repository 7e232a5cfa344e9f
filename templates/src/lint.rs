//! Lint for Swarm traps, run on every render against the rendered `stack.yml` itself (so a template bug is
//! caught too): an update `monitor` shorter than the health-check window lets a bad release through;
//! `start-first` cannot work with host-mode ports; a service without a health check is never gated; a config
//! or secret whose content changed under the same name cannot be updated (Swarm objects are immutable).

use serde_yaml_ng::Value;

use crate::error::Problem;
use crate::manifest::Manifest;

/// Lints a rendered stack file. Returns every finding.
pub fn lint_stack(stack_yaml: &str) -> Vec<Problem> {
    let stack: Value = match serde_yaml_ng::from_str(stack_yaml) {
        Ok(stack) => stack,
        Err(error) => {
            return vec![Problem::new(
                "stack.yml",
                format!("is not valid YAML: {error}"),
                "fix the template that produced it",
            )];
        }
    };
    let mut problems = Vec::new();
    let Some(services) = stack.get("services").and_then(Value::as_mapping) else {
        return vec![Problem::new(
            "stack.yml",
            "has no services",
            "fix the template",
        )];
    };
    for (name, service) in services {
        let name = name.as_str().unwrap_or("?");
        let at = |field: &str| format!("services.{name}.{field}");
        let health = service.get("healthcheck");
        let test = health.and_then(|health| health.get("test"));
        let disabled = health
            .and_then(|health| health.get("disable"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let has_test = test.is_some_and(|test| match test {
            Value::Sequence(items) => {
                !items.is_empty() && items.first().and_then(Value::as_str) != Some("NONE")
            }
            Value::String(text) => !text.is_empty(),
            _ => false,
        });
        if !has_test || disabled {
            problems.push(Problem::new(
                at("healthcheck"),
                "no health check: Swarm cannot tell a broken update from a good one",
                "give the service a real `healthcheck.test`",
            ));
        }
        let update = service
            .get("deploy")
            .and_then(|deploy| deploy.get("update_config"));
        if let (Some(health), Some(update)) = (health, update) {
            let seconds =
                |value: Option<&Value>| value.and_then(Value::as_str).and_then(parse_duration_s);
            let window = seconds(health.get("start_period")).unwrap_or(0)
                + (seconds(health.get("interval")).unwrap_or(30)
                    + seconds(health.get("timeout")).unwrap_or(30))
                    * health.get("retries").and_then(Value::as_u64).unwrap_or(3);
            let monitor = seconds(update.get("monitor")).unwrap_or(5);
            if monitor <= window {
                problems.push(Problem::new(
                    at("deploy.update_config.monitor"),
                    format!(
                        "monitor {monitor}s is not longer than the health-check window {window}s \
                         (start_period + (interval + timeout) × retries): a failing task would pass"
                    ),
                    format!("set monitor above {window}s"),
                ));
            }
            if update.get("failure_action").and_then(Value::as_str) != Some("rollback") {
                problems.push(Problem::new(
                    at("deploy.update_config.failure_action"),
                    "a failed update is not rolled back",
                    "set `failure_action: rollback`",
                ));
            }
        }
        let start_first = update
            .and_then(|update| update.get("order"))
            .and_then(Value::as_str)
            == Some("start-first");
        let host_ports = service
            .get("ports")
            .and_then(Value::as_sequence)
            .is_some_and(|ports| {
                ports
                    .iter()
                    .any(|port| port.get("mode").and_then(Value::as_str) == Some("host"))
            });
        if start_first && host_ports {
            problems.push(Problem::new(
                at("deploy.update_config.order"),
                "start-first with host-mode published ports: the new task cannot bind the port the old \
                 one still holds",
                "use `order: stop-first` for services publishing host-mode ports",
            ));
        }
    }
    problems
}

/// A config or secret name that a previous render used for different content.
pub fn lint_object_names(previous: &Manifest, current: &Manifest) -> Vec<Problem> {
    current
        .objects
        .iter()
        .filter_map(|(name, digest)| {
            let before = previous.objects.get(name)?;
            (before != digest).then(|| {
                Problem::new(
                    format!("objects.{name}"),
                    "content changed but the Docker object name did not; Swarm configs and secrets are \
                     immutable, so the update would fail or keep the old content",
                    "derive the name from the content hash",
                )
            })
        })
        .collect()
}

/// Parses Docker durations of the form `1h2m3s`, `90s`, `500ms` into whole seconds (rounded down).
pub fn parse_duration_s(text: &str) -> Option<u64> {
    let mut total_ms: u64 = 0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        if character.is_ascii_digit() {
            number.push(character);
            continue;
        }
        let value: u64 = number.parse().ok()?;
        number.clear();
        let unit_ms = match character {
            'h' => 3_600_000,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            'm' => 60_000,
            's' => 1000,
            _ => return None,
        };
        total_ms += value * unit_ms;
    }
    if !number.is_empty() {
        return None;
    }
    Some(total_ms / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_s("90s"), Some(90));
        assert_eq!(parse_duration_s("1m30s"), Some(90));
        assert_eq!(parse_duration_s("1h"), Some(3600));
        assert_eq!(parse_duration_s("1500ms"), Some(1));
        assert_eq!(parse_duration_s("90"), None);
        assert_eq!(parse_duration_s("9x"), None);
    }

    const TRAPS: &str = r#"
services:
  nginx:
    image: nginx:1.27.3
    ports: [{target: 443, published: 443, mode: host}]
    healthcheck: {test: ["CMD", "true"], interval: 10s, timeout: 5s, retries: 3, start_period: 10s}
    deploy:
      update_config: {order: start-first, monitor: 20s, failure_action: pause}
  api:
    image: x:1
"#;

    #[test]
    fn finds_every_trap() {
        let found: Vec<String> = lint_stack(TRAPS).into_iter().map(|p| p.path).collect();
        assert_eq!(
            found,
            [
                "services.nginx.deploy.update_config.monitor",
                "services.nginx.deploy.update_config.failure_action",
                "services.nginx.deploy.update_config.order",
                "services.api.healthcheck",
            ]
        );
    }

    #[test]
    fn reused_object_name() {
        let mut before = Manifest::default();
        before.objects.insert("cc_a_1".into(), "aa".into());
        before.objects.insert("cc_b_1".into(), "bb".into());
        let mut after = before.clone();
        after.objects.insert("cc_a_1".into(), "cc".into());
        let found = lint_object_names(&before, &after);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "objects.cc_a_1");
    }
}
