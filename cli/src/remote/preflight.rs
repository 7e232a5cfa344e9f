//! Runs pre-flight probes on one host: each probe's command over the shell, timed (for the clock
//! check), then judged by the probe's pure evaluation.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::playbook::fixes::{fixes_of, playbook_runs};
use crate::playbook::os::{OsFamily, OsRelease};
use crate::playbook::preflight::{CommandOutput, Observation, Outcome, Probe, Status};
use crate::playbook::render::{Privilege, privileged};
use crate::printer::{ProgressLine, ProgressLines};
use crate::remote::RemoteShell;
use crate::remote::executor::{HostReport, StepReport, StepResult, run_on_host};

/// A probe is a read-only command that takes milliseconds; one that hangs (a stuck Docker engine, a
/// dead NFS mount under `df`) is reported instead of hanging the whole check.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The judged probes of one host, and its OS family when the `os` probe recognised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRun {
    pub outcomes: Vec<Outcome>,
    pub family: Option<OsFamily>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Probes in flight at once on one host: well under sshd's default `MaxSessions` of 10, and enough
/// to hide most of the per-session setup time.
const PROBE_CONCURRENCY: usize = 4;

/// Runs one probe and judges it; the `os` probe also yields the OS family.
async fn run_probe<S: RemoteShell>(
    shell: &S,
    probe: &Probe,
    privilege: Privilege,
    line: &ProgressLine,
) -> (Outcome, Option<OsFamily>) {
    let local_before_ms = now_ms();
    let output = match probe.command() {
        Some(command) => {
            match tokio::time::timeout(PROBE_TIMEOUT, shell.run(&privileged(&command, privilege)))
                .await
            {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
            }
        }
        None => Ok(CommandOutput::default()),
    };
    let observation = Observation {
        local_before_ms,
        local_after_ms: now_ms(),
    };
    line.inc();
    match output {
        Ok(output) => {
            let family = matches!(probe, Probe::Os)
                .then(|| OsRelease::parse(&output.stdout).family())
                .flatten();
            (probe.evaluate(&output, &observation), family)
        }
        Err(error) => (
            Outcome {
                check: probe.id(),
                status: Status::Fail,
                message: error,
                fix: None,
            },
            None,
        ),
    }
}

/// Runs `probes`, a few at a time, and returns their outcomes in the probes' order.
pub async fn run_probes<S: RemoteShell>(
    shell: &S,
    probes: &[Probe],
    privilege: Privilege,
    line: &ProgressLine,
) -> ProbeRun {
    use futures_util::StreamExt;

    line.set_length(probes.len() as u64);
    line.set_message("probing");
    let results: Vec<(Outcome, Option<OsFamily>)> = futures_util::stream::iter(probes)
        .map(|probe| run_probe(shell, probe, privilege, line))
        .buffered(PROBE_CONCURRENCY)
        .collect()
        .await;
    let family = results.iter().find_map(|(_, family)| *family);
    let outcomes: Vec<Outcome> = results.into_iter().map(|(outcome, _)| outcome).collect();
    let failed = outcomes
        .iter()
        .filter(|outcome| outcome.status == Status::Fail)
        .count();
    line.finish(&if failed == 0 {
        "checked".to_owned()
    } else {
        format!("{failed} failed")
    });
    ProbeRun { outcomes, family }
}

/// A host's checks, and the fixes `--fix` ran (`None` without fixing or with nothing to fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The state after any fixes: checked again once they ran.
    pub outcomes: Vec<Outcome>,
    pub fixes: Option<HostReport>,
}

/// Runs the probes; with `fix`, runs the playbooks of the fixable non-passing ones, then the probes
/// again. What `ccctl check --fix` does per host, and what deploy's "prepare hosts" reuses.
pub async fn check_and_fix<S: RemoteShell>(
    host: &str,
    shell: &S,
    probes: &[Probe],
    privilege: Privilege,
    fix: bool,
    lines: &ProgressLines,
) -> Checked {
    let line = lines.line(host, probes.len() as u64);
    let first = run_probes(shell, probes, privilege, &line).await;
    let fixes = fixes_of(&first.outcomes);
    if !fix || fixes.is_empty() {
        return Checked {
            outcomes: first.outcomes,
            fixes: None,
        };
    }
    let fix_line = lines.line(&format!("{host} fix"), 0);
    let report = match playbook_runs(&fixes, first.family, privilege) {
        Ok(runs) => run_on_host(host, shell, &runs, &fix_line).await,
        Err(message) => {
            fix_line.finish("cannot fix");
            HostReport {
                host: host.to_owned(),
                steps: vec![StepReport {
                    playbook: "fix".into(),
                    step: "prepare".into(),
                    result: StepResult::Failed(message),
                }],
            }
        }
    };
    // Check everything again: the caller reports the state after the fixes, not the intent.
    let recheck_line = lines.line(&format!("{host} re-check"), probes.len() as u64);
    let after = run_probes(shell, probes, privilege, &recheck_line).await;
    Checked {
        outcomes: after.outcomes,
        fixes: Some(report),
    }
}
