//! The deploy audit log, pure: one JSON line per event (run started, step done/skipped/failed, run
//! finished), appended locally and on the manager. Events carry names and outcomes only — the types
//! have no field a secret value could end up in.

use serde::Serialize;

use crate::playbook::template::shell_quote;

/// The log on the manager.
pub const REMOTE_LOG_DIRECTORY: &str = "/var/log/ccplatform";
pub const REMOTE_LOG_PATH: &str = "/var/log/ccplatform/audit.jsonl";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    RunStarted,
    StepSkipped,
    StepDone,
    StepFailed,
    LockTakenOver,
    RunFinished,
    RunFailed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub at_ms: i64,
    pub run_id: String,
    pub operator: String,
    pub event: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Why a step was skipped, what it changed, or how it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(at_ms: i64, run_id: &str, operator: &str, event: EventKind) -> Self {
        Self {
            at_ms,
            run_id: run_id.to_owned(),
            operator: operator.to_owned(),
            event,
            step: None,
            host: None,
            detail: None,
        }
    }

    #[must_use]
    pub fn step(mut self, step: &str) -> Self {
        self.step = Some(step.to_owned());
        self
    }

    #[must_use]
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: &str) -> Self {
        self.detail = Some(detail.to_owned());
        self
    }

    /// One line of JSON with its newline.
    pub fn to_line(&self) -> String {
        // Strings and integers always serialise.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// Appends lines to the manager's log in one write (`printf` of the whole batch).
pub fn remote_append_command(lines: &str) -> String {
    format!(
        "mkdir -p {REMOTE_LOG_DIRECTORY} && printf '%s' {} >> {REMOTE_LOG_PATH}",
        shell_quote(lines)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_without_empty_fields() {
        let event = AuditEvent::new(
            1_700_000_000_000,
            "run-1",
            "ops@laptop",
            EventKind::StepDone,
        )
        .step("ship ccserver:0.1.0")
        .host("cc-2")
        .detail("loaded in 4.2 s");
        assert_eq!(
            event.to_line(),
            "{\"at_ms\":1700000000000,\"run_id\":\"run-1\",\"operator\":\"ops@laptop\",\"event\":\"step_done\",\
             \"step\":\"ship ccserver:0.1.0\",\"host\":\"cc-2\",\"detail\":\"loaded in 4.2 s\"}\n"
        );
        let started = AuditEvent::new(1, "run-1", "ops@laptop", EventKind::RunStarted);
        assert_eq!(
            started.to_line(),
            "{\"at_ms\":1,\"run_id\":\"run-1\",\"operator\":\"ops@laptop\",\"event\":\"run_started\"}\n"
        );
    }

    #[test]
    fn remote_append_survives_quotes_in_a_real_shell() {
        let directory = tempfile::tempdir().expect("tempdir");
        let log = directory.path().join("audit.jsonl");
        let lines = AuditEvent::new(1, "r", "o", EventKind::StepFailed)
            .detail("it's \"broken\" $(not run)")
            .to_line()
            .repeat(2);
        let command = remote_append_command(&lines)
            .replace(REMOTE_LOG_PATH, &log.display().to_string())
            .replace(
                REMOTE_LOG_DIRECTORY,
                &directory.path().display().to_string(),
            );
        for _ in 0..2 {
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .status()
                .expect("run sh");
            assert!(status.success());
        }
        let written = std::fs::read_to_string(&log).expect("read log");
        assert_eq!(written, lines.repeat(2));
        for line in written.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
            assert_eq!(value["detail"], "it's \"broken\" $(not run)");
        }
    }
}
