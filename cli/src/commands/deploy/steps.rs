//! Observing what runs and executing the planned steps: prepare hosts, swarm membership and labels, ship
//! images, deploy the stack, the migrate task, convergence and the smoke test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use cc_sizing::HostRole;

use super::locking::Audit;
use super::{Prepared, Settings, privilege_of, run_checked};
use crate::UserError;
use crate::deploy::audit::EventKind;
use crate::deploy::planner::{self, Observed, ObservedHost, PlannedStep, Step};
use crate::deploy::{job, observe, run, swarm};
use crate::playbook::preflight::Status;
use crate::playbook::preflight::requirements::{self, PeerAddress};
use crate::playbook::render::{Privilege, privileged};
use crate::printer::Printer;
use crate::remote::preflight::check_and_fix;
use crate::remote::session::SshSession;
use crate::remote::{RemoteShell, images};

pub(super) async fn observe_all(
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
    if matches!(
        observed.hosts.get(leader).map(|host| &host.membership),
        Some(planner::Membership::Manager { .. })
    ) {
        let migrated = run_checked(
            settings,
            sessions,
            leader,
            &format!(
                "cat {} 2>/dev/null || true",
                job::migrated_path(&settings.stack)
            ),
        )
        .await?;
        observed.migrated = Some(migrated.trim().to_owned()).filter(|text| !text.is_empty());
    }
    Ok((observed, node_ids))
}

/// Runs the planned steps in order; `Ok(true)` when something changed.
pub(super) async fn execute(
    settings: &Settings,
    printer: &Printer,
    prepared: &Prepared,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
    steps: &[PlannedStep],
    audit: &Audit<'_>,
) -> anyhow::Result<bool> {
    super::print_steps(printer, steps, false)?;
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
        printer.status("Running", &name);
        match run_step(settings, printer, prepared, sessions, leader, &planned.step).await {
            Ok(detail) => {
                if planned.step == Step::SmokeTest {
                    printer.status("Smoke test", &detail);
                }
                audit
                    .write(audit.event(EventKind::StepDone).step(&name).detail(&detail))
                    .await;
                if settings
                    .kill_after_step
                    .as_deref()
                    .is_some_and(|prefix| name.starts_with(prefix))
                {
                    kill_self(printer, &name);
                }
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
        Step::Migrate { release } => {
            super::migrate::migrate(settings, printer, prepared, sessions, leader, release).await
        }
        Step::SmokeTest => smoke_test(settings, sessions, leader).await,
    }
}

/// The fault hook ([`super::FAULT_KILL_AFTER_STEP`]): SIGKILL to this very process, as an operator's
/// `kill -9` or a lost laptop would, right after a step completed.
fn kill_self(printer: &Printer, step: &str) {
    printer.warn(&format!(
        "{}: killing this ccctl after `{step}`",
        super::FAULT_KILL_AFTER_STEP
    ));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status();
    // SIGKILL cannot be caught: the process ends inside the call above.
    std::process::abort();
}

async fn smoke_test(
    settings: &Settings,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
) -> anyhow::Result<String> {
    let nginx_path = settings.rendered.join("nginx/nginx.conf");
    let nginx_conf = std::fs::read_to_string(&nginx_path)
        .with_context(|| format!("reading {}", nginx_path.display()))?;
    let hosts = crate::deploy::desired::desired_hosts(&settings.plan, &settings.inventory);
    // The render's own stack file: its secret paths point at the files on this machine (the deployed
    // copy's point into the upload).
    let stack_path = settings.rendered.join("stack.yml");
    let rendered_stack = std::fs::read_to_string(&stack_path)
        .with_context(|| format!("reading {}", stack_path.display()))?;
    let target =
        crate::deploy::smoke::target(&rendered_stack, &nginx_conf, &settings.rendered, &hosts)
            .map_err(|error| UserError(format!("smoke test: {error}")))?;
    let address = settings
        .inventory
        .node(&target.host)
        .map(|node| node.address.clone())
        .with_context(|| format!("host {} is not in the inventory", target.host))?;
    let fixtures = super::migrate::recorded_fixtures(settings, sessions, leader).await?;
    super::smoke::chat(&target, &address, &fixtures).await
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
    // The secrets directory sits next to the render output: its files travel under `.outside/`.
    for (source, relocated) in &prepared.outside_files {
        let target = scratch.path().join(relocated);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::copy(source, &target).with_context(|| {
            format!(
                "{} (named by stack.yml): cannot read it; render again",
                source.display()
            )
        })?;
    }
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
        .args((!prepared.outside_files.is_empty()).then_some(run::OUTSIDE_DIRECTORY))
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
