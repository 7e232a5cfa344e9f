//! The stack as it will be deployed: image overrides applied, the ccserver image assembled, every image's
//! local content id, and the release identity.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

use super::Settings;
use crate::UserError;
use crate::deploy::{image, run};
use crate::printer::Printer;

/// The stack as it will be deployed and the images it needs (reference → local content id).
pub(super) struct Prepared {
    pub(super) stack_yaml: String,
    pub(super) image_ids: BTreeMap<String, String>,
    pub(super) release: String,
    /// Files outside the render directory the stack names (the secrets directory), as (source on this
    /// machine, path inside the upload).
    pub(super) outside_files: Vec<(PathBuf, String)>,
}

pub(super) fn prepare_stack(settings: &Settings, printer: &Printer) -> anyhow::Result<Prepared> {
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
    let (stack_yaml, moved) =
        run::relocate_outside_files(&stack_yaml).map_err(|error| UserError(error.to_string()))?;
    let outside_files = moved
        .into_iter()
        .map(|(original, relocated)| (settings.rendered.join(original), relocated))
        .collect();
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
        outside_files,
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
