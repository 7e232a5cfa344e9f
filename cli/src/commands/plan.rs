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
