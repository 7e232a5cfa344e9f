//! `ccctl deploy`: host keys, the lock on the first manager, observe, plan (pure), then run the planned
//! steps — prepare hosts, swarm membership and labels, ship images, `docker stack deploy` through the
//! manager, the migrate task, wait for convergence, the smoke test through NGINX — with an audit line
//! per step, locally and on the manager. `--dry-run` stops after printing the plan.

mod locking;
mod migrate;
mod prepare;
mod smoke;
mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use cc_sizing::{HostRole, Plan};

use crate::UserError;
use crate::args::DeployArgs;
use crate::commands::check::{read_inventory, read_plan, verify_host_keys};
use crate::deploy::audit::EventKind;
use crate::deploy::planner::{self, Desired, DesiredImage, PlannedStep};
use crate::deploy::{desired, job, lock, run};
use crate::inventory::{Inventory, Node};
use crate::playbook::render::{Privilege, privileged};
use crate::printer::Printer;
use crate::remote::RemoteShell;
use crate::remote::session::{SshContext, SshSession, SshTarget};
use locking::{Audit, renew_lease, take_lock};
use prepare::{Prepared, prepare_stack};
use steps::{execute, observe_all};

/// Test hook: right after the first executed step whose description starts with this text (e.g.
/// `deploy stack`), `ccctl deploy` kills itself with SIGKILL — a deploy killed at a known point, for
/// the resume test. Never set in production.
pub const FAULT_KILL_AFTER_STEP: &str = "CCCTL_FAULT_KILL_AFTER_STEP";

/// Everything deploy needs, decided before any work starts.
#[allow(clippy::struct_excessive_bools)] // independent switches from the command line
pub(super) struct Settings {
    pub(super) plan: Plan,
    pub(super) inventory: Inventory,
    pub(super) inventory_path: PathBuf,
    pub(super) rendered: PathBuf,
    pub(super) known_hosts: PathBuf,
    pub(super) trust_new_host: bool,
    pub(super) dry_run: bool,
    pub(super) break_lock: bool,
    pub(super) skip_prepare: bool,
    pub(super) fix: bool,
    pub(super) overrides: BTreeMap<String, String>,
    pub(super) ccserver_binary: Option<PathBuf>,
    pub(super) stack: String,
    pub(super) timeout: Duration,
    pub(super) audit_log: PathBuf,
    pub(super) kill_after_step: Option<String>,
}

/// `--image-override @FILE` reads `NAME=REFERENCE` lines from FILE (blank lines and `#` comments
/// skipped), in place; later values win.
fn expand_override_files(values: &[String]) -> anyhow::Result<Vec<String>> {
    let mut expanded = Vec::new();
    for value in values {
        match value.strip_prefix('@') {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    UserError(format!(
                        "--image-override @{path}: cannot read it ({error})"
                    ))
                })?;
                expanded.extend(run::override_lines(&text));
            }
            None => expanded.push(value.clone()),
        }
    }
    Ok(expanded)
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

pub(super) fn operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let machine = std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "unknown".into(), |name| name.trim().to_owned());
    format!("{user}@{machine}")
}

pub fn run(args: &DeployArgs, printer: &Printer) -> anyhow::Result<()> {
    let plan = read_plan(&args.plan)?;
    let inventory = read_inventory(&args.inventory, &plan)?;
    let directory = args.inventory.parent().unwrap_or_else(|| Path::new("."));
    let overrides = run::parse_overrides(&expand_override_files(&args.image_override)?)
        .map_err(|error| UserError(error.to_string()))?;
    let settings = Settings {
        plan,
        inventory,
        inventory_path: args.inventory.clone(),
        rendered: args.rendered.clone(),
        known_hosts: args
            .known_hosts
            .clone()
            .unwrap_or_else(|| directory.join("known_hosts")),
        trust_new_host: args.trust_new_host,
        dry_run: args.dry_run,
        break_lock: args.break_lock,
        skip_prepare: args.skip_prepare,
        fix: args.fix,
        overrides,
        ccserver_binary: args.ccserver_binary.clone(),
        stack: args.stack.clone(),
        timeout: Duration::from_secs(args.timeout),
        audit_log: directory.join("deploy-audit.jsonl"),
        kill_after_step: std::env::var(FAULT_KILL_AFTER_STEP)
            .ok()
            .filter(|value| !value.is_empty()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(deploy(&settings, printer))
}

async fn deploy(settings: &Settings, printer: &Printer) -> anyhow::Result<()> {
    let prepared = prepare_stack(settings, printer)?;
    let nodes: Vec<&Node> = settings.inventory.nodes.iter().collect();
    let unreachable = verify_host_keys(
        &settings.known_hosts,
        settings.trust_new_host,
        &nodes,
        printer,
    )
    .await?;
    if !unreachable.is_empty() {
        return Err(UserError(format!(
            "hosts not reachable, nothing was changed: {}",
            unreachable.values().cloned().collect::<Vec<_>>().join("; ")
        ))
        .into());
    }
    let context = SshContext::new(&settings.known_hosts).context("preparing ssh")?;
    let mut sessions: BTreeMap<String, SshSession> = BTreeMap::new();
    for node in &nodes {
        let session = context.connect(&SshTarget::from(*node)).await?;
        sessions.insert(node.name.clone(), session);
    }
    let result = Box::pin(deploy_connected(settings, printer, &prepared, &sessions)).await;
    for (_, session) in sessions {
        session.close().await;
    }
    result
}

pub(super) fn privilege_of(settings: &Settings, host: &str) -> Privilege {
    settings
        .inventory
        .node(host)
        .map_or(Privilege::Root, |node| Privilege::for_user(&node.user))
}

pub(super) async fn run_checked(
    settings: &Settings,
    sessions: &BTreeMap<String, SshSession>,
    host: &str,
    command: &str,
) -> anyhow::Result<String> {
    let session = sessions
        .get(host)
        .with_context(|| format!("no session to {host}"))?;
    let output = session
        .run(&privileged(command, privilege_of(settings, host)))
        .await?;
    if output.success() {
        Ok(output.stdout)
    } else {
        anyhow::bail!(
            "host {host}: `{}` failed: {}",
            first_words(command),
            output.failure_summary()
        )
    }
}

/// The start of a command, for error messages (never a whole script with data in it).
fn first_words(command: &str) -> String {
    command
        .split_whitespace()
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

fn desired_state(settings: &Settings, prepared: &Prepared) -> Desired {
    let hosts = desired::desired_hosts(&settings.plan, &settings.inventory);
    // Every host gets every image of the stack: placement may move a task to any host it allows.
    let images: BTreeSet<DesiredImage> = prepared
        .image_ids
        .iter()
        .map(|(reference, id)| DesiredImage {
            reference: reference.clone(),
            id: id.clone(),
        })
        .collect();
    Desired {
        images: hosts
            .iter()
            .map(|host| (host.name.clone(), images.clone()))
            .collect(),
        hosts,
        release: prepared.release.clone(),
        migrate: job::stack_needs_migrate(&prepared.stack_yaml),
        smoke: job::stack_has_edge(&prepared.stack_yaml),
    }
}

pub(super) fn print_steps(
    printer: &Printer,
    steps: &[PlannedStep],
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for step in steps {
        let verb = match (step.run, dry_run) {
            (true, true) => "WOULD RUN",
            (true, false) => "RUN",
            (false, _) => "SKIP",
        };
        let _ = writeln!(
            text,
            "{verb:<9}  {}  — {}",
            run::describe(&step.step),
            step.why
        );
    }
    printer.stdout(&text)
}

fn first_manager(settings: &Settings) -> anyhow::Result<String> {
    settings
        .plan
        .hosts
        .iter()
        .find(|host| host.roles.contains(&HostRole::Manager))
        .map(|host| host.name.clone())
        .ok_or_else(|| UserError("the plan has no manager host; re-plan".into()).into())
}

async fn deploy_connected(
    settings: &Settings,
    printer: &Printer,
    prepared: &Prepared,
    sessions: &BTreeMap<String, SshSession>,
) -> anyhow::Result<()> {
    let first = first_manager(settings)?;
    let (observed, _) = observe_all(settings, sessions, &first).await?;
    // The swarm's entry point: a desired manager that already manages it, else the first manager.
    let leader = settings
        .plan
        .hosts
        .iter()
        .filter(|host| host.roles.contains(&HostRole::Manager))
        .find(|host| {
            matches!(
                observed
                    .hosts
                    .get(&host.name)
                    .map(|observed| &observed.membership),
                Some(planner::Membership::Manager { .. })
            )
        })
        .map_or(first.clone(), |host| host.name.clone());
    // Labels and the release are read through the leader: observe again when it is not the first.
    let observed = if leader == first {
        observed
    } else {
        observe_all(settings, sessions, &leader).await?.0
    };
    let desired = desired_state(settings, prepared);
    let steps = planner::plan(&desired, &observed).map_err(|error| UserError(error.to_string()))?;
    let manager = &sessions[&leader];
    let found = lock::parse(&manager.run(&lock::read_command()).await?.stdout);

    if settings.dry_run {
        print_steps(printer, &steps, true)?;
        if let lock::Found::Held(record) = &found {
            printer.warn(&format!(
                "the deploy lock is held by {} (run {}): {}",
                record.owner, record.run_id, record.message
            ));
        }
        printer.status(
            "Dry run",
            if planner::changes_anything(&steps) {
                "nothing was changed; the steps marked WOULD RUN are what a deploy does"
            } else {
                "nothing would change: this release already runs"
            },
        );
        return Ok(());
    }

    let run_id = format!("{:x}-{:08x}", now_ms(), rand::random::<u32>());
    let audit = Audit {
        run_id: run_id.clone(),
        operator: operator(),
        local: settings.audit_log.clone(),
        manager: Some(manager),
        pending: Mutex::new(String::new()),
        printer,
    };
    let record = take_lock(manager, &found, &run_id, &audit, settings, prepared).await?;
    audit
        .write(
            audit
                .event(EventKind::RunStarted)
                .detail(&format!("release {}", prepared.release)),
        )
        .await;
    let held = Mutex::new(record);
    let outcome = {
        let work = execute(
            settings, printer, prepared, sessions, &leader, &steps, &audit,
        );
        let renew = renew_lease(manager, &held);
        tokio::pin!(work);
        tokio::select! {
            outcome = &mut work => outcome,
            () = renew => anyhow::bail!("lost the deploy lock while deploying"),
        }
    };
    match &outcome {
        Ok(changed) => {
            let detail = if *changed { "changed" } else { "unchanged" };
            audit
                .write(audit.event(EventKind::RunFinished).detail(detail))
                .await;
        }
        Err(error) => {
            audit
                .write(
                    audit
                        .event(EventKind::RunFailed)
                        .detail(&format!("{error:#}")),
                )
                .await;
        }
    }
    let record = held.lock().map_or_else(
        |poisoned| poisoned.into_inner().clone(),
        |record| record.clone(),
    );
    // By run id, not by the whole record: a renewal cancelled when the work ended may have
    // replaced the file without this process seeing it.
    let released = manager
        .run(&format!(
            "if grep -qF {} {path} 2>/dev/null; then rm -f {path}; fi",
            crate::playbook::template::shell_quote(&format!("\"run_id\":\"{}\"", record.run_id)),
            path = lock::LOCK_PATH
        ))
        .await;
    if !released.is_ok_and(|output| output.success()) {
        printer.warn(&format!(
            "could not release the deploy lock {}",
            lock::LOCK_PATH
        ));
    }
    if outcome? {
        printer.status(
            "Deployed",
            &format!("release {} of stack {}", prepared.release, settings.stack),
        );
    } else {
        printer.status(
            "Unchanged",
            &format!("release {} already runs, converged", prepared.release),
        );
    }
    Ok(())
}
