//! `ccctl check [--fix]`: pre-flight checks of every host of the plan over SSH, in parallel; with `--fix`,
//! the fixable ones are fixed through the embedded playbooks and everything is checked again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cc_sizing::{HostRole, Plan};
use serde::Serialize;

use crate::UserError;
use crate::args::{CheckArgs, OutputFormat};
use crate::inventory::{self, Inventory, Node};
use crate::playbook::preflight::requirements::{self, PeerAddress};
use crate::playbook::preflight::{Outcome, Probe, Status};
use crate::playbook::render::Privilege;
use crate::printer::{Printer, ProgressLines};
use crate::remote::executor::{HostReport, StepResult};
use crate::remote::host_keys::{self, Verified};
use crate::remote::preflight::check_and_fix;
use crate::remote::session::{SshContext, SshTarget};

/// Everything `check` needs, decided before any work starts.
#[derive(Debug)]
struct Settings {
    plan: PathBuf,
    inventory: PathBuf,
    known_hosts: PathBuf,
    trust_new_host: bool,
    fix: bool,
    only: Vec<String>,
}

impl Settings {
    fn from_args(args: &CheckArgs) -> Self {
        // The known-hosts file belongs to the environment, which is the inventory's directory.
        let known_hosts = args.known_hosts.clone().unwrap_or_else(|| {
            args.inventory
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join("known_hosts")
        });
        Self {
            plan: args.plan.clone(),
            inventory: args.inventory.clone(),
            known_hosts,
            trust_new_host: args.trust_new_host,
            fix: args.fix,
            only: args.only.clone(),
        }
    }

    /// `--only sysctl` selects every `sysctl:*` check; `os` always runs (fixes need the OS family).
    fn selects(&self, probe: &Probe) -> bool {
        let id = probe.id();
        matches!(probe, Probe::Os)
            || self.only.is_empty()
            || self.only.iter().any(|only| Self::matches(only, &id))
    }

    fn matches(only: &str, id: &str) -> bool {
        id == only
            || id
                .strip_prefix(only)
                .is_some_and(|rest| rest.starts_with(':'))
    }
}

pub(crate) fn read_plan(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| UserError(format!("cannot read the plan {}: {error}", path.display())))?;
    cc_sizing::plan_file::from_yaml(&text)
        .map_err(|error| UserError(format!("{}: {error}", path.display())).into())
}

pub(crate) fn read_inventory(path: &Path, plan: &Plan) -> anyhow::Result<Inventory> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        UserError(format!(
            "cannot read the inventory {}: {error}",
            path.display()
        ))
    })?;
    let hosts: Vec<&str> = plan.hosts.iter().map(|host| host.name.as_str()).collect();
    let directory = path.parent().unwrap_or_else(|| Path::new("."));
    let home = dirs::home_dir();
    let base = inventory::PathBase {
        directory,
        home: home.as_deref(),
    };
    let inventory = inventory::parse(&path.display().to_string(), &text, &hosts, base)
        .map_err(|error| UserError(error.to_string()))?;
    let missing: Vec<String> = inventory
        .nodes
        .iter()
        .filter(|node| !node.key.is_file())
        .map(|node| {
            format!(
                "  - nodes.{}.key: {} is not a file",
                node.name,
                node.key.display()
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(UserError(format!(
            "{}: SSH keys not found:\n{}",
            path.display(),
            missing.join("\n")
        ))
        .into());
    }
    Ok(inventory)
}

/// One host's results, as printed.
#[derive(Debug, Serialize)]
struct HostResult {
    host: String,
    address: String,
    checks: Vec<Outcome>,
    /// The steps `--fix` ran on this host (absent without `--fix`).
    #[serde(skip_serializing_if = "Option::is_none")]
    fixes: Option<HostReport>,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    pass: usize,
    warn: usize,
    fail: usize,
    fixes_failed: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    hosts: Vec<HostResult>,
    summary: Summary,
}

pub fn run(args: &CheckArgs, printer: &Printer) -> anyhow::Result<()> {
    let settings = Settings::from_args(args);
    let plan = read_plan(&settings.plan)?;
    let inventory = read_inventory(&settings.inventory, &plan)?;

    let mut work = Vec::new();
    for node in &inventory.nodes {
        let Some(host) = plan.hosts.iter().find(|host| host.name == node.name) else {
            continue;
        };
        let peers: Vec<PeerAddress> = inventory
            .nodes
            .iter()
            .filter(|other| other.name != node.name)
            .map(|other| PeerAddress {
                name: other.name.clone(),
                address: other.internal_address.clone(),
                manager: plan
                    .hosts
                    .iter()
                    .any(|host| host.name == other.name && host.roles.contains(&HostRole::Manager)),
            })
            .collect();
        let needs = requirements::for_host(&plan, host, &peers);
        work.push((
            node.clone(),
            requirements::probes(&needs, &inventory.docker_repository),
        ));
    }
    let known: std::collections::BTreeSet<String> = work
        .iter()
        .flat_map(|(_, probes)| probes.iter().map(Probe::id))
        .collect();
    for only in &settings.only {
        if !known.iter().any(|id| Settings::matches(only, id)) {
            return Err(UserError(format!(
                "--only {only}: no such check on any host (checks: {})",
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    for (_, probes) in &mut work {
        probes.retain(|probe| settings.selects(probe));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let hosts = runtime.block_on(check_hosts(&settings, &work, printer))?;

    let mut summary = Summary::default();
    for host in &hosts {
        for outcome in &host.checks {
            match outcome.status {
                Status::Pass => summary.pass += 1,
                Status::Warn => summary.warn += 1,
                Status::Fail => summary.fail += 1,
            }
        }
        summary.fixes_failed += usize::from(
            host.fixes
                .as_ref()
                .is_some_and(|fixes| fixes.failure().is_some()),
        );
    }
    let report = Report { hosts, summary };
    print_report(printer, &report)?;

    let Summary {
        pass,
        warn,
        fail,
        fixes_failed,
    } = report.summary;
    if fail > 0 || fixes_failed > 0 {
        let mut problems = Vec::new();
        if fail > 0 {
            problems.push(format!("{fail} check(s) failed"));
        }
        if fixes_failed > 0 {
            problems.push(format!("fixes failed on {fixes_failed} host(s)"));
        }
        return Err(UserError(format!(
            "{} ({pass} passed, {warn} warnings)",
            problems.join(", ")
        ))
        .into());
    }
    printer.status(
        "Checked",
        &format!(
            "{} host(s): {pass} passed, {warn} warning(s), none failed",
            report.hosts.len()
        ),
    );
    Ok(())
}

/// Host keys first, for every host: an unknown or changed key stops the whole run before any command
/// runs anywhere. Hosts that do not answer at all are returned (name → why) for the caller to report;
/// the others can still be checked.
pub(crate) async fn verify_host_keys(
    known_hosts: &Path,
    trust_new_host: bool,
    nodes: &[&Node],
    printer: &Printer,
) -> anyhow::Result<BTreeMap<String, String>> {
    let results = futures_util::future::join_all(nodes.iter().map(|node| {
        host_keys::verify(
            &node.name,
            &node.address,
            node.port,
            known_hosts,
            trust_new_host,
        )
    }))
    .await;
    let mut refused = Vec::new();
    let mut unreachable = BTreeMap::new();
    for (node, result) in nodes.iter().zip(results) {
        match result {
            Ok(Verified::Known) => {}
            Ok(Verified::Recorded(keys)) => printer.status(
                "Trusted",
                &format!(
                    "host {} ({}): recorded {} in {}",
                    node.name,
                    host_keys::host_pattern(&node.address, node.port),
                    keys.iter()
                        .map(host_keys::HostKey::describe)
                        .collect::<Vec<_>>()
                        .join(", "),
                    known_hosts.display()
                ),
            ),
            Err(error @ host_keys::HostKeyError::Scan { .. }) => {
                unreachable.insert(node.name.clone(), error.to_string());
            }
            Err(error) => refused.push(error.to_string()),
        }
    }
    if refused.is_empty() {
        Ok(unreachable)
    } else {
        Err(UserError(format!(
            "nothing was run on any host:\n  - {}",
            refused.join("\n  - ")
        ))
        .into())
    }
}

async fn check_hosts(
    settings: &Settings,
    work: &[(Node, Vec<Probe>)],
    printer: &Printer,
) -> anyhow::Result<Vec<HostResult>> {
    let nodes: Vec<&Node> = work.iter().map(|(node, _)| node).collect();
    let unreachable = verify_host_keys(
        &settings.known_hosts,
        settings.trust_new_host,
        &nodes,
        printer,
    )
    .await?;
    let context = SshContext::new(&settings.known_hosts).context("preparing ssh")?;
    let lines = printer.progress_lines();
    let results = futures_util::future::join_all(work.iter().map(|(node, probes)| {
        let unreachable = unreachable.get(&node.name).cloned();
        let (context, lines) = (&context, &lines);
        async move {
            match unreachable {
                Some(why) => HostResult {
                    host: node.name.clone(),
                    address: format!("{}:{}", node.address, node.port),
                    checks: vec![Outcome {
                        check: "ssh".into(),
                        status: Status::Fail,
                        message: why,
                        fix: None,
                    }],
                    fixes: None,
                },
                None => check_host(settings, context, lines, node, probes).await,
            }
        }
    }))
    .await;
    Ok(results)
}

async fn check_host(
    settings: &Settings,
    context: &SshContext,
    lines: &ProgressLines,
    node: &Node,
    probes: &[Probe],
) -> HostResult {
    let mut result = HostResult {
        host: node.name.clone(),
        address: format!("{}:{}", node.address, node.port),
        checks: Vec::new(),
        fixes: None,
    };
    let session = match context.connect(&SshTarget::from(node)).await {
        Ok(session) => session,
        Err(error) => {
            result.checks.push(Outcome {
                check: "ssh".into(),
                status: Status::Fail,
                message: error.to_string(),
                fix: None,
            });
            return result;
        }
    };
    let checked = check_and_fix(
        &node.name,
        &session,
        probes,
        Privilege::for_user(&node.user),
        settings.fix,
        lines,
    )
    .await;
    result.checks = checked.outcomes;
    result.fixes = checked.fixes;
    session.close().await;
    result
}

fn print_report(printer: &Printer, report: &Report) -> anyhow::Result<()> {
    for host in &report.hosts {
        let Some(fixes) = &host.fixes else { continue };
        for step in &fixes.steps {
            match &step.result {
                StepResult::AlreadyDone => {}
                StepResult::Applied => {
                    printer.status(
                        "Fixed",
                        &format!("{}: {} — {}", host.host, step.playbook, step.step),
                    );
                }
                StepResult::Failed(detail) => printer.error(&format!(
                    "{}: fix {} failed at step `{}`: {detail}",
                    host.host, step.playbook, step.step
                )),
            }
        }
    }
    match printer.output {
        OutputFormat::Json => {
            printer.stdout(&format!("{}\n", serde_json::to_string_pretty(report)?))
        }
        OutputFormat::Yaml => printer.stdout(&serde_yaml_ng::to_string(report)?),
        OutputFormat::Table => printer.stdout(&table(report)),
    }
}

/// `HOST  CHECK  STATUS  DETAIL`, one row per host and check.
fn table(report: &Report) -> String {
    let mut rows: Vec<[String; 4]> = vec![[
        "HOST".into(),
        "CHECK".into(),
        "STATUS".into(),
        "DETAIL".into(),
    ]];
    for host in &report.hosts {
        for outcome in &host.checks {
            let mut detail = outcome.message.clone();
            if outcome.status != Status::Pass && outcome.fix.is_some() {
                detail.push_str(" [fixable: --fix]");
            }
            rows.push([
                host.host.clone(),
                outcome.check.clone(),
                outcome.status.as_str().to_owned(),
                detail,
            ]);
        }
    }
    let mut widths = BTreeMap::new();
    for row in &rows {
        for (column, cell) in row.iter().enumerate().take(3) {
            let width = widths.entry(column).or_insert(0);
            *width = cell.chars().count().max(*width);
        }
    }
    let mut text = String::new();
    for row in rows {
        for (column, cell) in row.iter().enumerate().take(3) {
            let width = widths.get(&column).copied().unwrap_or(0);
            let _ = write!(text, "{cell:<width$}  ");
        }
        text.push_str(&row[3]);
        text.push('\n');
    }
    text
}
