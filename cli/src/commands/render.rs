//! `ccctl render --plan P --env E -o DIR`: the plan and the environment become a complete directory (stack
//! file, every config, MANIFEST), written through a temporary directory so a failure leaves nothing behind.
//! `--check DIR` re-renders and prints a unified diff against DIR, exiting 1 on drift.
//!
//! Order matters: every input is read and validated, and a full trial render runs, before the first byte is
//! written (secrets included), so bad input never leaves files behind.

mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cc_templates::{Environment, Manifest, SecretFile, SecretKey};

use crate::UserError;
use crate::args::{OutputFormat, RenderArgs};
use crate::env_file::{self, EnvFile};
use crate::printer::Printer;

/// `render` settings: absolute paths, the mode decided.
struct Settings {
    plan: PathBuf,
    env: PathBuf,
    directory: PathBuf,
    check: bool,
}

impl Settings {
    fn from_args(args: &RenderArgs) -> anyhow::Result<Self> {
        let absolute = |path: &Path| {
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
        };
        let (directory, check) = match (&args.out, &args.check) {
            (_, Some(directory)) => (directory, true),
            (Some(directory), None) => (directory, false),
            (None, None) => {
                return Err(
                    UserError("give `-o DIR` to write or `--check DIR` to compare".into()).into(),
                );
            }
        };
        Ok(Self {
            plan: absolute(&args.plan)?,
            env: absolute(&args.env)?,
            directory: absolute(directory)?,
            check,
        })
    }
}

pub fn run(args: &RenderArgs, printer: &Printer) -> anyhow::Result<()> {
    let settings = Settings::from_args(args)?;
    let env_text = std::fs::read_to_string(&settings.env)
        .map_err(|error| UserError(format!("--env {}: {error}", settings.env.display())))?;
    let env =
        env_file::parse(&env_text, &settings.env).map_err(|error| UserError(error.to_string()))?;
    let plan_text = std::fs::read_to_string(&settings.plan)
        .map_err(|error| UserError(format!("--plan {}: {error}", settings.plan.display())))?;
    let plan = cc_sizing::plan_file::from_yaml(&plan_text)
        .map_err(|error| UserError(format!("--plan {}: {error}", settings.plan.display())))?;
    if plan.target == cc_sizing::Target::Kubernetes {
        printer.warn("the plan targets Kubernetes; rendering the Swarm stack and Compose file of the same topology");
    }
    let pending: Vec<&str> = cc_templates::PENDING_ROLES
        .into_iter()
        .filter(|role| plan.services.get(*role).is_some_and(|s| s.replicas > 0))
        .collect();
    if !pending.is_empty() {
        printer.warn(&format!(
            "not rendering {}: the plan sizes them, but this ccserver build does not implement \
             these roles yet (their services would restart forever)",
            pending.join(", ")
        ));
    }
    secrets::check_tls_files(&env)?;
    let previous = std::fs::read_to_string(settings.directory.join("MANIFEST"))
        .ok()
        .map(|text| Manifest::parse(&text));

    // Trial render with stand-in secret digests: plan, model and lint problems surface before any write.
    let trial = environment(&env, &settings.directory, |_| Ok("0".repeat(64)))?;
    let model =
        cc_templates::from_plan(&plan, &trial).map_err(|error| UserError(error.to_string()))?;
    cc_templates::render(&model, None).map_err(|error| UserError(error.to_string()))?;

    if settings.check {
        secrets::require_existing(&env)?;
    } else {
        for key in secrets::ensure(&env)? {
            printer.status(
                "Generated",
                &format!("secret {} in {}", key.id(), env.secrets_dir.display()),
            );
        }
        secrets::refresh_compose_copies(&env)?;
    }
    let environment = environment(&env, &settings.directory, |path| {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading secret {}", path.display()))?;
        Ok(cc_templates::manifest::sha256_hex(&bytes))
    })?;
    let model = cc_templates::from_plan(&plan, &environment)
        .map_err(|error| UserError(error.to_string()))?;
    let files = cc_templates::render(&model, previous.as_ref())
        .map_err(|error| UserError(error.to_string()))?;

    if settings.check {
        check(&settings.directory, &files, printer)
    } else {
        write_tree(&settings.directory, &files)?;
        report(printer, &settings.directory, &files, &plan.hash)
    }
}

/// The render environment; `digest` gives the sha256 of a secret file.
fn environment(
    env: &EnvFile,
    directory: &Path,
    digest: impl Fn(&Path) -> anyhow::Result<String>,
) -> anyhow::Result<Environment> {
    let mut secrets = BTreeMap::new();
    for (key, path) in secrets::locations(env) {
        secrets.insert(
            key,
            SecretFile {
                path: relative(directory, &path),
                compose_path: relative(directory, &secrets::compose_location(env, key)),
                sha256: digest(&path)?,
            },
        );
    }
    debug_assert_eq!(secrets.len(), SecretKey::ALL.len());
    Ok(Environment {
        domain: env.domain.clone(),
        hostnames: env.hostnames.clone(),
        stack_name: env.stack_name.clone(),
        images: env.images.clone(),
        trusted_proxies: env.trusted_proxies.clone(),
        self_signed_tls: env.tls == env_file::TlsSource::SelfSigned,
        secrets,
    })
}

/// `to` relative to `from` (both absolute) when they share a root, so the rendered tree and the secrets
/// directory can move together; otherwise `to` as is.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to_components: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_components)
        .take_while(|(a, b)| a == b)
        .count();
    if common <= 1 {
        return to.display().to_string();
    }
    let mut parts: Vec<String> =
        std::iter::repeat_n("..".to_owned(), from.len() - common).collect();
    parts.extend(
        to_components[common..]
            .iter()
            .map(|component| component.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// Writes the tree into a temporary sibling directory, then swaps it into place.
fn write_tree(directory: &Path, files: &BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    let parent = directory.parent().ok_or_else(|| {
        UserError(format!(
            "-o {}: cannot write to a filesystem root",
            directory.display()
        ))
    })?;
    if directory.exists() {
        let empty = std::fs::read_dir(directory)
            .with_context(|| format!("reading {}", directory.display()))?
            .next()
            .is_none();
        if !empty && !directory.join("MANIFEST").exists() {
            return Err(UserError(format!(
                "-o {}: the directory exists and was not written by `ccctl render` (no MANIFEST); \
                 choose another directory or empty it",
                directory.display()
            ))
            .into());
        }
    }
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".ccctl-render-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    for (path, bytes) in files {
        let target = staging.path().join(path);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("creating {}", folder.display()))?;
        }
        std::fs::write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
    }
    // Swap: old tree aside, new tree in, old tree removed. Dropping `staging` on error removes the new tree.
    let old = directory
        .exists()
        .then(|| parent.join(format!(".ccctl-render-old-{}", std::process::id())));
    if let Some(old) = &old {
        std::fs::rename(directory, old)
            .with_context(|| format!("moving the previous {} aside", directory.display()))?;
    }
    let staged = staging.keep();
    if let Err(error) = std::fs::rename(&staged, directory) {
        let _ = std::fs::remove_dir_all(&staged);
        if let Some(old) = &old {
            let _ = std::fs::rename(old, directory);
        }
        return Err(error)
            .with_context(|| format!("moving the new tree to {}", directory.display()));
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("removing the previous tree {}", old.display()))?;
    }
    Ok(())
}

/// Prints the unified diff between DIR and a fresh render; drift is a user error (exit 1).
fn check(
    directory: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let mut on_disk = BTreeMap::new();
    collect(directory, directory, &mut on_disk)
        .map_err(|error| UserError(format!("--check {}: {error}", directory.display())))?;
    let mut diff = String::new();
    let mut drifted = 0;
    let paths: std::collections::BTreeSet<&String> = files.keys().chain(on_disk.keys()).collect();
    for path in paths {
        let old = on_disk
            .get(path)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
        let new = files
            .get(path)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
        if old == new {
            continue;
        }
        drifted += 1;
        let (old_name, new_name) = (
            if old.is_some() {
                format!("a/{path}")
            } else {
                "/dev/null".to_owned()
            },
            if new.is_some() {
                format!("b/{path}")
            } else {
                "/dev/null".to_owned()
            },
        );
        let old = old.unwrap_or_default();
        let new = new.unwrap_or_default();
        diff.push_str(
            &similar::TextDiff::from_lines(&old, &new)
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &new_name)
                .to_string(),
        );
    }
    if drifted == 0 {
        printer.status(
            "Checked",
            &format!(
                "{} matches a fresh render ({} files)",
                directory.display(),
                files.len()
            ),
        );
        return Ok(());
    }
    printer.stdout(&diff)?;
    Err(UserError(format!(
        "{drifted} file(s) in {} differ from a fresh render of the plan (fix: re-run `ccctl render -o {}`)",
        directory.display(),
        directory.display()
    ))
    .into())
}

fn collect(
    root: &Path,
    directory: &Path,
    found: &mut BTreeMap<String, Vec<u8>>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, found)?;
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            found.insert(relative, std::fs::read(&path)?);
        }
    }
    Ok(())
}

fn report(
    printer: &Printer,
    directory: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    plan_hash: &str,
) -> anyhow::Result<()> {
    let manifest_sha256 = files
        .get("MANIFEST")
        .map(|bytes| cc_templates::manifest::sha256_hex(bytes))
        .unwrap_or_default();
    match printer.output {
        OutputFormat::Table => printer.stdout(&format!(
            "Rendered {} files into {} (plan {}, MANIFEST sha256 {})\n",
            files.len(),
            directory.display(),
            plan_hash.get(..12).unwrap_or(plan_hash),
            manifest_sha256.get(..12).unwrap_or(&manifest_sha256),
        )),
        format => {
            let summary = serde_json::json!({
                "directory": directory.display().to_string(),
                "files": files.keys().collect::<Vec<_>>(),
                "plan_hash": plan_hash,
                "manifest_sha256": manifest_sha256,
            });
            let text = if format == OutputFormat::Json {
                serde_json::to_string_pretty(&summary)? + "\n"
            } else {
                serde_yaml_ng::to_string(&summary)?
            };
            printer.stdout(&text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/srv/cc/out"), Path::new("/srv/cc/secrets/a")),
            "../secrets/a"
        );
        assert_eq!(
            relative(Path::new("/srv/cc/out"), Path::new("/srv/cc/out/s/a")),
            "s/a"
        );
        assert_eq!(
            relative(Path::new("/srv/out"), Path::new("/etc/ssl/a.pem")),
            "/etc/ssl/a.pem"
        );
    }
}
