//! `ccctl status`: the stack's services (running/desired replicas, image, update state), the swarm's
//! nodes, and the release that runs, read from a manager's Docker engine over SSH.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use cc_sizing::HostRole;

use crate::UserError;
use crate::args::{OutputFormat, StatusArgs};
use crate::commands::check::{read_inventory, read_plan, verify_host_keys};
use crate::deploy::status::{Status, judge};
use crate::inventory::Node;
use crate::printer::Printer;
use crate::remote::docker;
use crate::remote::session::{SshContext, SshTarget};

pub fn run(args: &StatusArgs, printer: &Printer) -> anyhow::Result<()> {
    let plan = read_plan(&args.plan)?;
    let inventory = read_inventory(&args.inventory, &plan)?;
    let known_hosts = args.known_hosts.clone().unwrap_or_else(|| {
        args.inventory
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("known_hosts")
    });
    // Managers in plan order: the first that answers is asked.
    let managers: Vec<&Node> = plan
        .hosts
        .iter()
        .filter(|host| host.roles.contains(&HostRole::Manager))
        .filter_map(|host| inventory.node(&host.name))
        .collect();
    if managers.is_empty() {
        return Err(UserError("the plan has no manager host to ask".into()).into());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let status = runtime.block_on(query(args, &known_hosts, &managers, printer))?;

    let text = match printer.output {
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&status)?),
        OutputFormat::Yaml => serde_yaml_ng::to_string(&status)?,
        OutputFormat::Table => table(&status),
    };
    printer.stdout(&text)?;
    if status.problems.is_empty() {
        printer.status("Healthy", &format!("stack {}", status.stack));
        Ok(())
    } else {
        Err(UserError(format!(
            "stack {} is not healthy:\n  - {}",
            status.stack,
            status.problems.join("\n  - ")
        ))
        .into())
    }
}

/// Asks the managers in order; the first that answers gives the status.
async fn query(
    args: &StatusArgs,
    known_hosts: &Path,
    managers: &[&Node],
    printer: &Printer,
) -> anyhow::Result<Status> {
    let unreachable = verify_host_keys(known_hosts, args.trust_new_host, managers, printer).await?;
    let context = SshContext::new(known_hosts).context("preparing ssh")?;
    let mut failures: Vec<String> = unreachable.values().cloned().collect();
    for manager in managers
        .iter()
        .filter(|manager| !unreachable.contains_key(&manager.name))
    {
        match read_status(&context, manager, &args.stack).await {
            Ok(status) => return Ok(status),
            Err(error) => {
                printer.warn(&format!("{error:#}"));
                failures.push(format!("{error:#}"));
            }
        }
    }
    Err(UserError(format!("no manager answered: {}", failures.join("; "))).into())
}

async fn read_status(context: &SshContext, manager: &Node, stack: &str) -> anyhow::Result<Status> {
    let session = context.connect(&SshTarget::from(manager)).await?;
    let docker = docker::connect(context, &session).await?;
    let services = docker::services(&manager.name, &docker, stack).await?;
    let nodes = docker::nodes(&manager.name, &docker).await?;
    session.close().await;
    Ok(judge(stack, services, nodes))
}

fn columns(rows: &[Vec<String>]) -> String {
    let count = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..count)
        .map(|column| {
            rows.iter()
                .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let line = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        let _ = writeln!(text, "{}", line.trim_end());
    }
    text
}

fn table(status: &Status) -> String {
    let mut services = vec![vec![
        "SERVICE".to_owned(),
        "MODE".into(),
        "REPLICAS".into(),
        "IMAGE".into(),
        "UPDATE".into(),
    ]];
    services.extend(status.services.iter().map(|service| {
        vec![
            service.name.clone(),
            service.mode.clone(),
            format!("{}/{}", service.running, service.desired),
            service.image.clone(),
            service.update.clone(),
        ]
    }));
    let mut nodes = vec![vec![
        "NODE".to_owned(),
        "HOSTNAME".into(),
        "ROLE".into(),
        "STATUS".into(),
        "AVAILABILITY".into(),
        "MANAGER".into(),
        "ENGINE".into(),
    ]];
    nodes.extend(status.nodes.iter().map(|node| {
        vec![
            node.host.clone().unwrap_or_else(|| "-".into()),
            node.hostname.clone(),
            node.role.clone(),
            node.status.clone(),
            node.availability.clone(),
            node.manager.clone().unwrap_or_default(),
            node.engine.clone(),
        ]
    }));
    format!(
        "STACK {}  RELEASE {}\n\n{}\n{}",
        status.stack,
        status.release.as_deref().unwrap_or("-"),
        columns(&services),
        columns(&nodes)
    )
}
