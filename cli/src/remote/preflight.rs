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

/// Runs `probes` one after the other (a host's sshd limits parallel sessions; each probe takes
/// milliseconds).
pub async fn run_probes<S: RemoteShell>(
    shell: &S,
    probes: &[Probe],
    privilege: Privilege,
    line: &ProgressLine,
) -> ProbeRun {
    line.set_length(probes.len() as u64);
    let mut run = ProbeRun {
        outcomes: Vec::with_capacity(probes.len()),
        family: None,
    };
    for probe in probes {
        let id = probe.id();
        line.set_message(&id);
        let local_before_ms = now_ms();
        let output = match probe.command() {
            Some(command) => {
                match tokio::time::timeout(
                    PROBE_TIMEOUT,
                    shell.run(&privileged(&command, privilege)),
                )
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
            family: run.family,
        };
        let outcome = match output {
            Ok(output) => {
                if matches!(probe, Probe::Os) {
                    run.family = OsRelease::parse(&output.stdout).family();
                }
                probe.evaluate(&output, &observation)
            }
            Err(error) => Outcome {
                check: id,
                status: Status::Fail,
                message: error,
                fix: None,
            },
        };
        run.outcomes.push(outcome);
        line.inc();
    }
    let failed = run
        .outcomes
        .iter()
        .filter(|outcome| outcome.status == Status::Fail)
        .count();
    line.finish(&if failed == 0 {
        "checked".to_owned()
    } else {
        format!("{failed} failed")
    });
    run
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
