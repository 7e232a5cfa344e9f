//! The playbook executor: on each host, runs the rendered steps in order — `check`, and only when it fails
//! `apply` then `check` again — and stops the host at its first failed step. Hosts run in parallel, each
//! with its own progress line. Nothing here decides what to run; callers pass rendered steps.

use serde::Serialize;

pub use crate::playbook::render::PlaybookRun;
use crate::playbook::render::RenderedStep;
use crate::printer::ProgressLine;
use crate::remote::RemoteShell;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub enum StepResult {
    /// The check passed: nothing to do.
    AlreadyDone,
    /// The check failed, apply ran, and the check passes now.
    Applied,
    /// Apply failed, or the check still fails after it, or the host could not be reached.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    pub playbook: String,
    pub step: String,
    #[serde(flatten)]
    pub result: StepResult,
}

/// What happened on one host. Steps after a failure are not run and not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostReport {
    pub host: String,
    pub steps: Vec<StepReport>,
}

impl HostReport {
    /// The failed step, if any (it is always the last one).
    pub fn failure(&self) -> Option<&StepReport> {
        self.steps
            .last()
            .filter(|step| matches!(step.result, StepResult::Failed(_)))
    }

    pub fn applied(&self) -> usize {
        self.steps
            .iter()
            .filter(|step| step.result == StepResult::Applied)
            .count()
    }
}

/// The longest one step may take: package installs over a slow mirror take minutes, never this long.
const STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

async fn run_step<S: RemoteShell>(shell: &S, step: &RenderedStep) -> StepResult {
    match tokio::time::timeout(STEP_TIMEOUT, run_step_untimed(shell, step)).await {
        Ok(result) => result,
        Err(_) => StepResult::Failed(format!(
            "no result within {} minutes; the host may still be running it",
            STEP_TIMEOUT.as_secs() / 60
        )),
    }
}

async fn run_step_untimed<S: RemoteShell>(shell: &S, step: &RenderedStep) -> StepResult {
    let check = match shell.run(&step.check).await {
        Ok(output) => output,
        Err(error) => return StepResult::Failed(error.to_string()),
    };
    if check.success() {
        return StepResult::AlreadyDone;
    }
    match shell.run(&step.apply).await {
        Err(error) => return StepResult::Failed(error.to_string()),
        Ok(output) if !output.success() => {
            return StepResult::Failed(format!("apply failed ({})", output.failure_summary()));
        }
        Ok(_) => {}
    }
    match shell.run(&step.check).await {
        Err(error) => StepResult::Failed(error.to_string()),
        Ok(output) if output.success() => StepResult::Applied,
        Ok(output) => StepResult::Failed(format!(
            "apply succeeded but the check still fails ({})",
            output.failure_summary()
        )),
    }
}

/// Runs `runs` in order on one host, stopping at the first failed step.
pub async fn run_on_host<S: RemoteShell>(
    host: &str,
    shell: &S,
    runs: &[PlaybookRun],
    line: &ProgressLine,
) -> HostReport {
    let total: usize = runs.iter().map(|run| run.steps.len()).sum();
    line.set_length(total as u64);
    let mut report = HostReport {
        host: host.to_owned(),
        steps: Vec::new(),
    };
    for run in runs {
        for step in &run.steps {
            line.set_message(&format!("{}: {}", run.label, step.name));
            let result = run_step(shell, step).await;
            tracing::info!(host, playbook = %run.label, step = %step.name, ?result, "step");
            let failed = matches!(result, StepResult::Failed(_));
            report.steps.push(StepReport {
                playbook: run.label.clone(),
                step: step.name.clone(),
                result,
            });
            line.inc();
            if failed {
                line.finish(&format!("FAILED at {}: {}", run.label, step.name));
                return report;
            }
        }
    }
    line.finish(&format!("done ({} applied)", report.applied()));
    report
}

/// One host's work for [`run_on_hosts`].
pub struct HostJob<'a, S> {
    pub host: String,
    pub shell: &'a S,
    pub runs: Vec<PlaybookRun>,
    pub line: ProgressLine,
}

/// Runs every job at once (one task per host, all on the current runtime) and returns the reports in
/// the jobs' order.
pub async fn run_on_hosts<S: RemoteShell>(jobs: Vec<HostJob<'_, S>>) -> Vec<HostReport> {
    futures_util::future::join_all(
        jobs.iter()
            .map(|job| run_on_host(&job.host, job.shell, &job.runs, &job.line)),
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::playbook::preflight::CommandOutput;
    use crate::printer::ProgressLines;
    use crate::remote::RemoteError;

    /// The local machine as a host: `sh -c` instead of ssh, so the executor runs real commands.
    struct LocalShell;

    impl RemoteShell for LocalShell {
        async fn run(&self, script: &str) -> Result<CommandOutput, RemoteError> {
            let output = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .await
                .map_err(RemoteError::Local)?;
            Ok(CommandOutput {
                exit_code: output.status.code(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    fn touch_step(directory: &Path, name: &str) -> RenderedStep {
        let file = directory.join(name);
        RenderedStep {
            name: format!("create {name}"),
            check: format!("test -e {}", file.display()),
            apply: format!("touch {}", file.display()),
        }
    }

    fn hidden_line() -> ProgressLine {
        ProgressLines::hidden().line("host", 0)
    }

    fn run(label: &str, steps: Vec<RenderedStep>) -> PlaybookRun {
        PlaybookRun {
            label: label.into(),
            steps,
        }
    }

    #[tokio::test]
    async fn applies_then_skips_on_the_second_run() {
        let directory = tempfile::tempdir().expect("tempdir");
        let runs = vec![run(
            "p",
            vec![
                touch_step(directory.path(), "a"),
                touch_step(directory.path(), "b"),
            ],
        )];
        let first = run_on_host("h", &LocalShell, &runs, &hidden_line()).await;
        assert_eq!(first.applied(), 2);
        assert!(first.failure().is_none());
        let second = run_on_host("h", &LocalShell, &runs, &hidden_line()).await;
        assert!(
            second
                .steps
                .iter()
                .all(|step| step.result == StepResult::AlreadyDone)
        );
    }

    #[tokio::test]
    async fn stops_at_the_first_failed_step() {
        let directory = tempfile::tempdir().expect("tempdir");
        let failing = RenderedStep {
            name: "fails".into(),
            check: "false".into(),
            apply: "echo 'disk full' >&2; exit 3".into(),
        };
        let runs = vec![
            run("first", vec![touch_step(directory.path(), "a"), failing]),
            run("second", vec![touch_step(directory.path(), "never")]),
        ];
        let report = run_on_host("h", &LocalShell, &runs, &hidden_line()).await;
        assert_eq!(report.steps.len(), 2);
        assert_eq!(
            report.failure().map(|step| &step.result),
            Some(&StepResult::Failed(
                "apply failed (exit 3: disk full)".into()
            ))
        );
        assert!(
            !directory.path().join("never").exists(),
            "a step after the failure ran"
        );
    }

    #[tokio::test]
    async fn an_apply_that_does_not_fix_the_check_fails() {
        let runs = vec![run(
            "p",
            vec![RenderedStep {
                name: "lies".into(),
                check: "echo still wrong; exit 1".into(),
                apply: "true".into(),
            }],
        )];
        let report = run_on_host("h", &LocalShell, &runs, &hidden_line()).await;
        assert_eq!(
            report.failure().map(|step| &step.result),
            Some(&StepResult::Failed(
                "apply succeeded but the check still fails (exit 1: still wrong)".into()
            ))
        );
    }

    #[tokio::test]
    async fn hosts_run_independently() {
        let directory = tempfile::tempdir().expect("tempdir");
        let shell = LocalShell;
        let jobs = vec![
            HostJob {
                host: "ok".into(),
                shell: &shell,
                runs: vec![run("p", vec![touch_step(directory.path(), "ok")])],
                line: hidden_line(),
            },
            HostJob {
                host: "bad".into(),
                shell: &shell,
                runs: vec![run(
                    "p",
                    vec![RenderedStep {
                        name: "x".into(),
                        check: "false".into(),
                        apply: "false".into(),
                    }],
                )],
                line: hidden_line(),
            },
        ];
        let reports = run_on_hosts(jobs).await;
        assert_eq!(reports[0].host, "ok");
        assert!(reports[0].failure().is_none());
        assert!(reports[1].failure().is_some());
        assert!(directory.path().join("ok").exists());
    }
}
