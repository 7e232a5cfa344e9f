//! `ccctl plan`: size a deployment from MAU/PCC into a complete, explained topology, print it, and
//! optionally write the plan file that `render`, `check` and `deploy` read.

mod settings;
mod table;

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::UserError;
use crate::args::{OutputFormat, PlanArgs};
use crate::printer::Printer;

pub use settings::PlanSettings;

/// JSON/YAML output with `--explain`: the plan and the explanation of each number.
#[derive(Serialize)]
struct Explained<'a> {
    plan: &'a cc_sizing::Plan,
    explanations: &'a [cc_sizing::Explanation],
}

pub fn run(args: &PlanArgs, printer: &Printer) -> anyhow::Result<()> {
    let settings = PlanSettings::from_args(args)?;
    let planned = cc_sizing::plan(&settings.inputs).context("sizing model")?;
    let plan = &planned.plan;
    tracing::debug!(hash = %plan.hash, hosts = plan.totals.hosts, "planned");

    let text = match (printer.output, settings.explain) {
        (OutputFormat::Table, false) => table::render(plan),
        (OutputFormat::Table, true) => {
            let mut text = table::render(plan);
            text.push_str(&table::explanations(&planned.explanations));
            text
        }
        (OutputFormat::Json, false) => cc_sizing::plan_file::to_json(plan)? + "\n",
        (OutputFormat::Json, true) => {
            serde_json::to_string_pretty(&Explained {
                plan,
                explanations: &planned.explanations,
            })? + "\n"
        }
        (OutputFormat::Yaml, false) => serde_yaml_ng::to_string(plan)?,
        (OutputFormat::Yaml, true) => serde_yaml_ng::to_string(&Explained {
            plan,
            explanations: &planned.explanations,
        })?,
    };

    // Write the file first: if it fails, nothing on stdout pretends the plan was saved.
    if let Some(path) = &settings.out {
        let yaml = cc_sizing::plan_file::to_yaml(plan)?;
        write_atomically(path, yaml.as_bytes())?;
        printer.status(
            "Wrote",
            &format!("{} (plan hash {})", path.display(), &plan.hash[..16]),
        );
    }
    printer.stdout(&text)
}

/// Writes through a temporary file in the same directory and renames it over the target, so a reader
/// never sees half a plan and a failed write leaves any previous plan intact.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(directory).map_err(|error| {
        UserError(format!(
            "-o {}: cannot write in {}: {error}",
            path.display(),
            directory.display()
        ))
    })?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .map_err(|error| UserError(format!("-o {}: {}", path.display(), error.error)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::args::Cli;

    /// The defaults quoted in `--help` are the ones in `sizing/data/defaults.toml`.
    #[test]
    fn help_quotes_the_data_file_defaults() {
        let coefficients = cc_sizing::Coefficients::embedded().expect("data");
        let command = Cli::command();
        let plan = command.find_subcommand("plan").expect("plan subcommand");
        let help = |id: &str| {
            plan.get_arguments()
                .find(|argument| argument.get_id() == id)
                .and_then(|argument| argument.get_help())
                .map(ToString::to_string)
                .expect("documented flag")
        };
        let number = |name: &str| {
            cc_sizing::explain::number(coefficients.get(name).expect("coefficient").value)
        };
        let cases = [
            (
                "messages_per_user_day",
                "defaults.messages_per_active_user_per_day",
            ),
            ("group_size", "defaults.average_group_size"),
            ("peak_factor", "defaults.peak_to_average"),
            ("message_bytes", "defaults.average_message_bytes"),
            ("attachment_share", "defaults.attachment_share"),
            ("attachment_kib", "defaults.average_attachment_kib"),
            ("retention_days", "defaults.history_retention_days"),
        ];
        for (flag, name) in cases {
            let expected = format!("[default: {}]", number(name));
            assert!(
                help(flag).contains(&expected),
                "--{flag}: {} lacks {expected}",
                help(flag)
            );
        }
        assert!(help("concurrency").contains("[default: 0.10"));
        assert_eq!(number("defaults.concurrency"), "0.1");
        let host = format!(
            "[default: {}c{}g{}d]",
            number("defaults.host_cpus"),
            number("defaults.host_memory_gib"),
            number("defaults.host_disk_gib")
        );
        assert!(help("host_size").contains(&host), "{}", help("host_size"));
    }
}
