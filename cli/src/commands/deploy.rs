//! `ccctl deploy`: host keys, the lock on the first manager, observe, plan (pure), then run the planned
//! steps — prepare hosts, swarm membership and labels, ship images, `docker stack deploy` through the
//! manager, wait for convergence — with an audit line per step, locally and on the manager.
//! `--dry-run` stops after printing the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use cc_sizing::{HostRole, Plan};

use crate::UserError;
use crate::args::DeployArgs;
use crate::commands::check::{read_inventory, read_plan, verify_host_keys};
use crate::deploy::audit::{self, AuditEvent, EventKind};
use crate::deploy::planner::{
    self, Desired, DesiredImage, Observed, ObservedHost, PlannedStep, Step,
};
use crate::deploy::{desired, image, lock, observe, run, swarm};
use crate::inventory::{Inventory, Node};
use crate::playbook::preflight::Status;
use crate::playbook::preflight::requirements::{self, PeerAddress};
use crate::playbook::render::{Privilege, privileged};
use crate::printer::Printer;
use crate::remote::preflight::check_and_fix;
use crate::remote::session::{SshContext, SshSession, SshTarget};
use crate::remote::{RemoteShell, images};

/// Everything deploy needs, decided before any work starts.
#[allow(clippy::struct_excessive_bools)] // independent switches from the command line
struct Settings {
    plan: Plan,
    inventory: Inventory,
    inventory_path: PathBuf,
    rendered: PathBuf,
    known_hosts: PathBuf,
    trust_new_host: bool,
    dry_run: bool,
    break_lock: bool,
    skip_prepare: bool,
    fix: bool,
    overrides: BTreeMap<String, String>,
    ccserver_binary: Option<PathBuf>,
    stack: String,
    timeout: Duration,
    audit_log: PathBuf,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let machine = std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "unknown".into(), |name| name.trim().to_owned());
    format!("{user}@{machine}")
}

pub fn run(args: &DeployArgs, printer: &Printer) -> anyhow::Result<()> {
    let plan = read_plan(&args.plan)?;
    let inventory = read_inventory(&args.inventory, &plan)?;
    let directory = args.inventory.parent().unwrap_or_else(|| Path::new("."));
    let overrides =
        run::parse_overrides(&args.image_override).map_err(|error| UserError(error.to_string()))?;
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
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(deploy(&settings, printer))
}

/// The stack as it will be deployed and the images it needs (reference → local content id).
struct Prepared {
    stack_yaml: String,
    image_ids: BTreeMap<String, String>,
    release: String,
}

fn prepare_stack(settings: &Settings, printer: &Printer) -> anyhow::Result<Prepared> {
    let read = |name: &str| {
        let path = settings.rendered.join(name);
        std::fs::read_to_string(&path).map_err(|error| {
            UserError(format!(
                "--rendered {}: cannot read {name} ({error}); run `ccctl render -o {}` first",
                settings.rendered.display(),
                settings.rendered.display()
            ))
        })
    };
    let stack = read("stack.yml")?;
    let manifest = read("MANIFEST")?;
    let mut overrides = settings.overrides.clone();
    let (_, wanted) =
        run::rewrite_images(&stack, &overrides).map_err(|error| UserError(error.to_string()))?;
    if !overrides.contains_key(image::REPOSITORY)
        && wanted
            .iter()
            .any(|reference| run::image_name(reference) == image::REPOSITORY)
    {
        let binary = match &settings.ccserver_binary {
            Some(binary) => binary.clone(),
            None => build_ccserver(printer, settings.dry_run)?,
        };
        let tag = image::assemble(&binary, settings.dry_run)
            .with_context(|| format!("assembling the ccserver image from {}", binary.display()))?;
        printer.status("Image", &format!("{tag} from {}", binary.display()));
        overrides.insert(image::REPOSITORY.to_owned(), tag);
    }
    let (stack_yaml, images) =
        run::rewrite_images(&stack, &overrides).map_err(|error| UserError(error.to_string()))?;
    let mut image_ids = BTreeMap::new();
    let mut missing = Vec::new();
    for reference in &images {
        let output = std::process::Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", reference])
            .output()
            .context("running docker image inspect")?;
        if output.status.success() {
            image_ids.insert(
                reference.clone(),
                String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            );
        } else if settings.dry_run && run::image_name(reference) == image::REPOSITORY {
            // A dry run does not import: the image is named by content but not built yet.
            image_ids.insert(reference.clone(), format!("(not built yet: {reference})"));
        } else {
            missing.push(reference.clone());
        }
    }
    if !missing.is_empty() {
        return Err(UserError(format!(
            "images not on this machine: {}; `docker load` them here, or map each with --image-override NAME=REFERENCE",
            missing.join(", ")
        ))
        .into());
    }
    let release = run::release_id(&manifest, &stack_yaml, &image_ids);
    Ok(Prepared {
        stack_yaml,
        image_ids,
        release,
    })
}

fn build_ccserver(printer: &Printer, dry_run: bool) -> anyhow::Result<PathBuf> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let binary = target.join("release").join("ccserver");
    if dry_run {
        return Ok(binary);
    }
    printer.status(
        "Building",
        "ccserver (cargo build --release --bin ccserver)",
    );
    let status = std::process::Command::new("cargo")
        .args(["build", "--release", "--bin", "ccserver"])
        .status()
        .context("running cargo; pass --ccserver-binary PATH where cargo is not available")?;
    if !status.success() {
        return Err(UserError(format!(
            "cargo build --release --bin ccserver failed ({status})"
        ))
        .into());
    }
    Ok(binary)
}

/// Appends audit events locally and on the manager; a failing write warns and never stops a deploy.
struct Audit<'a> {
    run_id: String,
    operator: String,
    local: PathBuf,
    manager: Option<&'a SshSession>,
    /// Lines not yet on the manager: skipped steps travel with the next other event, so an
    /// unchanged deploy costs one round trip for its log instead of one per step.
    pending: Mutex<String>,
    printer: &'a Printer,
}

impl Audit<'_> {
    fn event(&self, kind: EventKind) -> AuditEvent {
        AuditEvent::new(now_ms(), &self.run_id, &self.operator, kind)
    }

    async fn write(&self, event: AuditEvent) {
        let line = event.to_line();
        let local = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.local)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = local {
            self.printer
                .warn(&format!("audit log {}: {error}", self.local.display()));
        }
        let kind = event.event;
        let lines = match self.pending.lock() {
            Ok(mut pending) => {
                pending.push_str(&line);
                if kind == EventKind::StepSkipped {
                    return;
                }
                std::mem::take(&mut *pending)
            }
            Err(_) => line,
        };
        if let Some(manager) = self.manager {
            let written = manager.run(&audit::remote_append_command(&lines)).await;
            if !written.is_ok_and(|output| output.success()) {
                self.printer
                    .warn("could not append to the manager's audit log");
            }
        }
    }
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
    let result = deploy_connected(settings, printer, &prepared, &sessions).await;
    for (_, session) in sessions {
        session.close().await;
    }
    result
}

fn privilege_of(settings: &Settings, host: &str) -> Privilege {
    settings
        .inventory
        .node(host)
        .map_or(Privilege::Root, |node| Privilege::for_user(&node.user))
}

async fn run_checked(
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

async fn observe_all(
    settings: &Settings,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
) -> anyhow::Result<(Observed, BTreeMap<String, String>)> {
    let mut observed = Observed::default();
    let mut node_ids = BTreeMap::new();
    for host in sessions.keys() {
        let membership = observe::parse_membership(
            &run_checked(settings, sessions, host, observe::SWARM_INFO_COMMAND).await?,
        )
        .map_err(|error| anyhow::anyhow!("host {host}: {error}"))?;
        let node_id = run_checked(settings, sessions, host, swarm::NODE_ID_COMMAND)
            .await?
            .trim()
            .to_owned();
        let image_ids =
            images::image_ids(host, &sessions[host], privilege_of(settings, host)).await?;
        if !node_id.is_empty() {
            node_ids.insert(host.clone(), node_id);
        }
        observed.hosts.insert(
            host.clone(),
            ObservedHost {
                membership,
                labels: BTreeMap::new(),
                image_ids,
            },
        );
    }
    // Labels and the stack are visible from a manager only.
    if matches!(
        observed.hosts.get(leader).map(|host| &host.membership),
        Some(planner::Membership::Manager { .. })
    ) {
        for (host, node_id) in &node_ids {
            let labels = run_checked(
                settings,
                sessions,
                leader,
                &run::node_labels_command(node_id),
            )
            .await?;
            if let Some(observed_host) = observed.hosts.get_mut(host) {
                observed_host.labels = run::parse_labels(&labels);
            }
        }
        let services = run::parse_services(
            &run_checked(
                settings,
                sessions,
                leader,
                &run::services_command(&settings.stack),
            )
            .await?,
        );
        observed.converged = run::converged(&services);
        let release = run_checked(
            settings,
            sessions,
            leader,
            &format!(
                "cat {} 2>/dev/null || true",
                run::release_path(&settings.stack)
            ),
        )
        .await?;
        // A release record without services (the stack was removed by hand) deploys again.
        observed.release = Some(release.trim().to_owned())
            .filter(|release| !release.is_empty() && !services.is_empty());
    }
    // No Kafka topics or migrations yet: nothing to observe, nothing desired.
    observed.topics = Some(BTreeSet::new());
    observed.migrations = Some(BTreeSet::new());
    Ok((observed, node_ids))
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
        topics: BTreeSet::new(),
        migrations: Vec::new(),
    }
}

fn print_steps(printer: &Printer, steps: &[PlannedStep], dry_run: bool) -> anyhow::Result<()> {
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

async fn take_lock(
    manager: &SshSession,
    found: &lock::Found,
    run_id: &str,
    audit: &Audit<'_>,
    settings: &Settings,
    prepared: &Prepared,
) -> anyhow::Result<lock::LockRecord> {
    let record = lock::LockRecord::new(
        run_id,
        &audit.operator,
        &format!(
            "deploy release {} of stack {}",
            prepared.release, settings.stack
        ),
        now_ms(),
    );
    let command = match lock::decide(found, now_ms(), settings.break_lock) {
        lock::Decision::Create => lock::create_command(&record),
        lock::Decision::Refuse { holder } => {
            return Err(UserError(format!(
                "the deploy lock {} is held by {} (run {}, {}) until its lease ends in {} s; wait for it, or pass --break-lock if that run is dead",
                lock::LOCK_PATH,
                holder.owner,
                holder.run_id,
                holder.message,
                (holder.lease_until_ms - now_ms()).max(0) / 1000
            ))
            .into());
        }
        lock::Decision::TakeOver { expired } => {
            audit.printer.warn(&format!(
                "taking over the deploy lock of {} (run {}): its lease expired",
                expired.owner, expired.run_id
            ));
            audit
                .write(
                    audit
                        .event(EventKind::LockTakenOver)
                        .detail(&format!("expired run {}", expired.run_id)),
                )
                .await;
            lock::replace_command(&expired.to_line(), &record)
        }
        lock::Decision::Force { previous } => {
            audit
                .printer
                .warn("breaking the deploy lock (--break-lock)");
            audit
                .write(audit.event(EventKind::LockTakenOver).detail("--break-lock"))
                .await;
            lock::replace_command(&previous, &record)
        }
    };
    let output = manager.run(&command).await?;
    if output.success() {
        Ok(record)
    } else {
        Err(UserError("another deploy took the lock at the same moment; try again".into()).into())
    }
}

/// Renews the lease until the lock is lost (returns then); runs alongside the deploy.
async fn renew_lease(manager: &SshSession, held: &Mutex<lock::LockRecord>) {
    let every = Duration::from_millis(u64::try_from(lock::RENEW_EVERY_MS).unwrap_or(60_000));
    loop {
        tokio::time::sleep(every).await;
        let Ok(current) = held.lock().map(|record| record.clone()) else {
            return;
        };
        let renewed = current.renewed(now_ms());
        match manager
            .run(&lock::replace_command(&current.to_line(), &renewed))
            .await
        {
            Ok(output) if output.success() => {
                if let Ok(mut record) = held.lock() {
                    *record = renewed;
                }
            }
            _ => return,
        }
    }
}

/// Runs the planned steps in order; `Ok(true)` when something changed.
async fn execute(
    settings: &Settings,
    printer: &Printer,
    prepared: &Prepared,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
    steps: &[PlannedStep],
    audit: &Audit<'_>,
) -> anyhow::Result<bool> {
    print_steps(printer, steps, false)?;
    let changes = planner::changes_anything(steps);
    if changes && !settings.skip_prepare {
        prepare_hosts(settings, printer, sessions).await?;
    }
    for planned in steps {
        let name = run::describe(&planned.step);
        if !planned.run {
            audit
                .write(
                    audit
                        .event(EventKind::StepSkipped)
                        .step(&name)
                        .detail(&planned.why),
                )
                .await;
            continue;
        }
        if planned.step == Step::SmokeTest {
            printer.warn("smoke test through NGINX: not implemented yet, skipped");
            audit
                .write(
                    audit
                        .event(EventKind::StepSkipped)
                        .step(&name)
                        .detail("not implemented yet"),
                )
                .await;
            continue;
        }
        printer.status("Running", &name);
        match run_step(settings, printer, prepared, sessions, leader, &planned.step).await {
            Ok(detail) => {
                audit
                    .write(audit.event(EventKind::StepDone).step(&name).detail(&detail))
                    .await;
            }
            Err(error) => {
                audit
                    .write(
                        audit
                            .event(EventKind::StepFailed)
                            .step(&name)
                            .detail(&format!("{error:#}")),
                    )
                    .await;
                return Err(error.context(format!("step `{name}` failed")));
            }
        }
    }
    Ok(changes)
}

async fn prepare_hosts(
    settings: &Settings,
    printer: &Printer,
    sessions: &BTreeMap<String, SshSession>,
) -> anyhow::Result<()> {
    let lines = printer.progress_lines();
    let mut failures = Vec::new();
    for host in &settings.plan.hosts {
        let (Some(node), Some(session)) = (
            settings.inventory.node(&host.name),
            sessions.get(&host.name),
        ) else {
            continue;
        };
        let peers: Vec<PeerAddress> = settings
            .inventory
            .nodes
            .iter()
            .filter(|other| other.name != node.name)
            .map(|other| PeerAddress {
                name: other.name.clone(),
                address: other.internal_address.clone(),
                manager: settings.plan.hosts.iter().any(|plan_host| {
                    plan_host.name == other.name && plan_host.roles.contains(&HostRole::Manager)
                }),
            })
            .collect();
        let needs = requirements::for_host(&settings.plan, host, &peers);
        let probes = requirements::probes(&needs, &settings.inventory.docker_repository);
        let checked = check_and_fix(
            &host.name,
            session,
            &probes,
            Privilege::for_user(&node.user),
            settings.fix,
            &lines,
        )
        .await;
        failures.extend(
            checked
                .outcomes
                .iter()
                .filter(|outcome| outcome.status == Status::Fail)
                .map(|outcome| format!("{}: {} — {}", host.name, outcome.check, outcome.message)),
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(UserError(format!(
            "hosts are not ready (see `ccctl check --plan … --inventory {}`); --fix fixes the fixable ones, --skip-prepare deploys anyway:\n  - {}",
            settings.inventory_path.display(),
            failures.join("\n  - ")
        ))
        .into())
    }
}

fn internal_address(settings: &Settings, host: &str) -> anyhow::Result<String> {
    settings
        .inventory
        .node(host)
        .map(|node| node.internal_address.clone())
        .with_context(|| format!("host {host} is not in the inventory"))
}

async fn node_id(
    settings: &Settings,
    sessions: &BTreeMap<String, SshSession>,
    host: &str,
) -> anyhow::Result<String> {
    let id = run_checked(settings, sessions, host, swarm::NODE_ID_COMMAND).await?;
    let id = id.trim().to_owned();
    anyhow::ensure!(!id.is_empty(), "host {host} is not in the swarm");
    Ok(id)
}

async fn run_step(
    settings: &Settings,
    printer: &Printer,
    prepared: &Prepared,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
    step: &Step,
) -> anyhow::Result<String> {
    match step {
        Step::InitSwarm { host } => {
            run_checked(
                settings,
                sessions,
                host,
                &swarm::init_command(&internal_address(settings, host)?),
            )
            .await?;
            Ok("swarm initialised".into())
        }
        Step::JoinManager { host, via } | Step::JoinWorker { host, via } => {
            let manager = matches!(step, Step::JoinManager { .. });
            let token =
                run_checked(settings, sessions, via, &swarm::join_token_command(manager)).await?;
            let command = swarm::join_command(
                &internal_address(settings, host)?,
                &internal_address(settings, via)?,
            );
            let output = sessions[host]
                .run_with_secret_input(
                    &privileged(&command, privilege_of(settings, host)),
                    token.as_bytes(),
                )
                .await?;
            anyhow::ensure!(
                output.success(),
                "host {host}: joining the swarm failed: {}",
                output.failure_summary()
            );
            Ok("joined".into())
        }
        Step::Promote { host } => {
            let id = node_id(settings, sessions, host).await?;
            run_checked(settings, sessions, leader, &swarm::promote_command(&id)).await?;
            Ok("promoted".into())
        }
        Step::Demote { host } => {
            let id = node_id(settings, sessions, host).await?;
            run_checked(settings, sessions, leader, &swarm::demote_command(&id)).await?;
            Ok("demoted".into())
        }
        Step::Label { host, set, remove } => {
            let id = node_id(settings, sessions, host).await?;
            if let Some(command) = swarm::label_command(&id, set, remove) {
                run_checked(settings, sessions, leader, &command).await?;
            }
            Ok(format!("set {}, removed {}", set.len(), remove.len()))
        }
        Step::ShipImage { image, hosts } => ship(settings, printer, sessions, image, hosts).await,
        Step::DeployStack { release } => {
            deploy_stack(settings, prepared, &sessions[leader], leader, release).await
        }
        Step::WaitConverged => wait_converged(settings, printer, sessions, leader, prepared).await,
        Step::CreateTopics { .. } | Step::Migrate { .. } | Step::SmokeTest => {
            Ok("not implemented yet".into())
        }
    }
}

async fn ship(
    settings: &Settings,
    printer: &Printer,
    sessions: &BTreeMap<String, SshSession>,
    image: &str,
    hosts: &[String],
) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir().context("a scratch directory for the image")?;
    let tarball = scratch.path().join("image.tar");
    images::save_local(image, &tarball).await?;
    let targets: Vec<(&SshSession, Privilege)> = hosts
        .iter()
        .filter_map(|host| {
            sessions
                .get(host)
                .map(|session| (session, privilege_of(settings, host)))
        })
        .collect();
    let results = images::load_everywhere(&targets, &tarball).await;
    let mut failures = Vec::new();
    for (host, result) in hosts.iter().zip(results) {
        match result {
            Ok(loaded) => printer.status(
                "Shipped",
                &format!(
                    "{image} to {host}: {} MB in {:.1} s",
                    loaded.bytes / 1_000_000,
                    loaded.elapsed.as_secs_f64()
                ),
            ),
            Err(error) => failures.push(error.to_string()),
        }
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("; "));
    Ok(format!("loaded on {}", hosts.join(", ")))
}

async fn deploy_stack(
    settings: &Settings,
    prepared: &Prepared,
    manager: &SshSession,
    leader: &str,
    release: &str,
) -> anyhow::Result<String> {
    let privilege = privilege_of(settings, leader);
    let directory = run::upload_directory(&settings.stack, release);
    // The render output as a tarball, streamed to the manager (secret files included; removed after).
    let scratch = tempfile::tempdir().context("a scratch directory for the stack")?;
    let tarball = scratch.path().join("stack.tar");
    // The rewritten stack file is appended from the scratch directory: the render output stays as
    // `ccctl render` wrote it.
    std::fs::write(
        scratch.path().join("stack.deploy.yml"),
        &prepared.stack_yaml,
    )
    .context("writing the stack file to deploy")?;
    let packed = std::process::Command::new("tar")
        .arg("-C")
        .arg(&settings.rendered)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .context("running tar")?;
    anyhow::ensure!(
        packed.success(),
        "tar of {} failed",
        settings.rendered.display()
    );
    let appended = std::process::Command::new("tar")
        .arg("-C")
        .arg(scratch.path())
        .arg("-rf")
        .arg(&tarball)
        .arg("stack.deploy.yml")
        .status()
        .context("running tar")?;
    anyhow::ensure!(
        appended.success(),
        "adding stack.deploy.yml to the stack tarball failed"
    );
    let file = std::fs::File::open(&tarball).context("opening the stack tarball")?;
    let unpacked = manager
        .run_with_input(
            &privileged(&run::unpack_command(&directory), privilege),
            file,
        )
        .await?;
    anyhow::ensure!(
        unpacked.success(),
        "unpacking the stack on {leader}: {}",
        unpacked.failure_summary()
    );
    let deployed = manager
        .run(&privileged(
            &run::stack_deploy_command(&directory, &settings.stack),
            privilege,
        ))
        .await?;
    anyhow::ensure!(
        deployed.success(),
        "docker stack deploy on {leader}: {}",
        deployed.failure_summary()
    );
    Ok(format!("stack {} updated", settings.stack))
}

async fn wait_converged(
    settings: &Settings,
    printer: &Printer,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
    prepared: &Prepared,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + settings.timeout;
    let lines = printer.progress_lines();
    let mut bars = BTreeMap::new();
    loop {
        let services = run::parse_services(
            &run_checked(
                settings,
                sessions,
                leader,
                &run::services_command(&settings.stack),
            )
            .await?,
        );
        for (name, (running, desired)) in &services {
            let bar = bars
                .entry(name.clone())
                .or_insert_with(|| lines.line(name, *desired));
            bar.set_message(&format!("{running}/{desired} running"));
        }
        if run::converged(&services) {
            for (name, bar) in &bars {
                bar.finish(&format!(
                    "{}/{} running",
                    services[name].0, services[name].1
                ));
            }
            run_checked(
                settings,
                sessions,
                leader,
                &format!(
                    "mkdir -p {} && printf '%s\\n' {} > {}",
                    run::STATE_DIRECTORY,
                    prepared.release,
                    run::release_path(&settings.stack)
                ),
            )
            .await?;
            return Ok(format!("{} services running", services.len()));
        }
        if Instant::now() >= deadline {
            let waiting: Vec<String> = services
                .iter()
                .filter(|(_, (running, desired))| running != desired)
                .map(|(name, (running, desired))| format!("{name} {running}/{desired}"))
                .collect();
            anyhow::bail!(
                "not converged within {} s: {}; see `docker service ps` on {leader}",
                settings.timeout.as_secs(),
                if waiting.is_empty() {
                    "no service yet".to_owned()
                } else {
                    waiting.join(", ")
                }
            );
        }
        // Polling the manager: swarm has no change feed for task state over a shell.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
