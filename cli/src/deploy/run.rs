//! The pure parts of `ccctl deploy`'s orchestration: image overrides and the stack file rewritten to
//! use them, the release identity, step descriptions, and the parsers of what the manager reports.
//! The I/O sequence itself lives in `commands/deploy.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::deploy::planner::Step;
use crate::playbook::template::shell_quote;

/// Where deploy keeps its state on the manager (the lock lives there too).
pub const STATE_DIRECTORY: &str = "/var/lib/ccplatform";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("--image-override {0}: expected NAME=REFERENCE, e.g. redis=registry.local/redis:7.4")]
    Override(String),
    #[error("stack.yml: {0}")]
    Stack(String),
}

/// Parses `name=reference` (repeatable flag) into a map.
pub fn parse_overrides(values: &[String]) -> Result<BTreeMap<String, String>, RunError> {
    values
        .iter()
        .map(|value| {
            value
                .split_once('=')
                .filter(|(name, reference)| !name.is_empty() && !reference.is_empty())
                .map(|(name, reference)| (name.to_owned(), reference.to_owned()))
                .ok_or_else(|| RunError::Override(value.clone()))
        })
        .collect()
}

/// The `NAME=REFERENCE` lines of an override file (`--image-override @FILE`), without blank lines and
/// `#` comments.
pub fn override_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The repository's last path component: `registry:5000/library/redis:7.4@sha256:…` → `redis`.
pub fn image_name(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

/// The stack file with every service image whose name has an override replaced, and the set of
/// images it then runs.
pub fn rewrite_images(
    stack_yaml: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<(String, BTreeSet<String>), RunError> {
    let mut document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(stack_yaml).map_err(|error| RunError::Stack(error.to_string()))?;
    let services = document
        .get_mut("services")
        .and_then(serde_yaml_ng::Value::as_mapping_mut)
        .ok_or_else(|| RunError::Stack("no `services` mapping".into()))?;
    let mut images = BTreeSet::new();
    for (_, service) in services.iter_mut() {
        normalise_modes(service);
    }
    for (name, service) in services.iter_mut() {
        let image = service.get_mut("image").ok_or_else(|| {
            RunError::Stack(format!(
                "services.{}: no image",
                name.as_str().unwrap_or("?")
            ))
        })?;
        let current = image.as_str().unwrap_or_default().to_owned();
        let chosen = overrides
            .get(image_name(&current))
            .cloned()
            .unwrap_or(current);
        *image = serde_yaml_ng::Value::String(chosen.clone());
        images.insert(chosen);
    }
    let text =
        serde_yaml_ng::to_string(&document).map_err(|error| RunError::Stack(error.to_string()))?;
    Ok((text, images))
}

/// Where files the stack names outside the render directory (`../secrets/…`: the secrets directory sits
/// next to it) travel in the upload.
pub const OUTSIDE_DIRECTORY: &str = ".outside";

/// The stack with every `secrets`/`configs` file outside the render directory (a `../` or absolute
/// path) pointed at `./.outside/<kind>/<key>`, and the (original path, new relative path) pairs to
/// upload with it.
pub fn relocate_outside_files(
    stack_yaml: &str,
) -> Result<(String, Vec<(String, String)>), RunError> {
    let mut document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(stack_yaml).map_err(|error| RunError::Stack(error.to_string()))?;
    let mut moved = Vec::new();
    for kind in ["secrets", "configs"] {
        let Some(objects) = document
            .get_mut(kind)
            .and_then(serde_yaml_ng::Value::as_mapping_mut)
        else {
            continue;
        };
        for (key, object) in objects.iter_mut() {
            let Some(file) = object.get_mut("file") else {
                continue;
            };
            let original = file.as_str().unwrap_or_default().to_owned();
            if original.starts_with("../") || original.starts_with('/') {
                let relocated = format!(
                    "{OUTSIDE_DIRECTORY}/{kind}/{}",
                    key.as_str().unwrap_or("unnamed")
                );
                *file = serde_yaml_ng::Value::String(format!("./{relocated}"));
                moved.push((original, relocated));
            }
        }
    }
    let text =
        serde_yaml_ng::to_string(&document).map_err(|error| RunError::Stack(error.to_string()))?;
    Ok((text, moved))
}

/// File modes of secret and config mounts written the YAML 1.1 way (`mode: 0400`, octal) come out of a
/// YAML 1.2 parser as the string "0400", which Docker refuses: written back as the number they mean.
fn normalise_modes(service: &mut serde_yaml_ng::Value) {
    for kind in ["secrets", "configs"] {
        let Some(mounts) = service
            .get_mut(kind)
            .and_then(serde_yaml_ng::Value::as_sequence_mut)
        else {
            continue;
        };
        for mount in mounts {
            let Some(mode) = mount.get_mut("mode") else {
                continue;
            };
            if let Some(octal) = mode
                .as_str()
                .filter(|text| text.len() > 1 && text.starts_with('0'))
                .and_then(|text| u32::from_str_radix(text, 8).ok())
            {
                *mode = serde_yaml_ng::Value::Number(octal.into());
            }
        }
    }
}

/// The release: what the render wrote (its MANIFEST hashes every file), the stack as deployed, and
/// the content ids of its images. Equal releases deploy the same thing.
pub fn release_id(manifest: &str, stack: &str, image_ids: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(manifest.as_bytes());
    hasher.update([0]);
    hasher.update(stack.as_bytes());
    for (reference, id) in image_ids {
        hasher.update([0]);
        hasher.update(reference.as_bytes());
        hasher.update(b"=");
        hasher.update(id.as_bytes());
    }
    let digest = hasher.finalize();
    let mut text = String::new();
    for byte in &digest[..8] {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// The file holding the release that converged last.
pub fn release_path(stack: &str) -> String {
    format!("{STATE_DIRECTORY}/release-{stack}")
}

/// Where a release's stack files are unpacked on the manager while it deploys (removed afterwards:
/// the secret files must not stay on disk).
pub fn upload_directory(stack: &str, release: &str) -> String {
    format!("{STATE_DIRECTORY}/stacks/{stack}/{release}")
}

/// Unpacks a tarball from stdin into the upload directory.
pub fn unpack_command(directory: &str) -> String {
    let quoted = shell_quote(directory);
    format!("rm -rf {quoted} && mkdir -p {quoted} && chmod 700 {quoted} && tar -C {quoted} -xf -")
}

/// `docker stack deploy` of the uploaded files, images as loaded (no registry lookup), then the
/// upload removed whatever the outcome.
pub fn stack_deploy_command(directory: &str, stack: &str) -> String {
    let quoted = shell_quote(directory);
    format!(
        "cd {quoted} && docker stack deploy --detach=true --prune --resolve-image never -c stack.deploy.yml {}; status=$?; cd / && rm -rf {quoted}; exit $status",
        shell_quote(stack)
    )
}

pub fn services_command(stack: &str) -> String {
    format!(
        "docker stack services {} --format '{{{{.Name}}}} {{{{.Replicas}}}}' 2>/dev/null || true",
        shell_quote(stack)
    )
}

/// Parses [`services_command`] output: service → (running, desired).
pub fn parse_services(output: &str) -> BTreeMap<String, (u64, u64)> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let (running, desired) = words.next()?.split_once('/')?;
            Some((
                name.to_owned(),
                (running.parse().ok()?, desired.parse().ok()?),
            ))
        })
        .collect()
}

/// Converged: at least one service, each with all its desired tasks running.
pub fn converged(services: &BTreeMap<String, (u64, u64)>) -> bool {
    !services.is_empty()
        && services
            .values()
            .all(|(running, desired)| running == desired)
}

pub fn node_labels_command(node_id: &str) -> String {
    format!(
        "docker node inspect {} --format '{{{{json .Spec.Labels}}}}'",
        shell_quote(node_id)
    )
}

pub fn parse_labels(output: &str) -> BTreeMap<String, String> {
    serde_json::from_str::<Option<BTreeMap<String, String>>>(output.trim())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// A step in one line, for the step list and the audit log. Label values are plan data, never secrets.
pub fn describe(step: &Step) -> String {
    match step {
        Step::InitSwarm { host } => format!("init swarm on {host}"),
        Step::JoinManager { host, via } => format!("join {host} as manager via {via}"),
        Step::JoinWorker { host, via } => format!("join {host} as worker via {via}"),
        Step::Promote { host } => format!("promote {host}"),
        Step::Demote { host } => format!("demote {host}"),
        Step::Label { host, set, remove } => {
            let mut changes: Vec<String> = set
                .iter()
                .map(|(key, value)| format!("+{key}={value}"))
                .collect();
            changes.extend(remove.iter().map(|key| format!("-{key}")));
            if changes.is_empty() {
                format!("label {host}")
            } else {
                format!("label {host} ({})", changes.join(" "))
            }
        }
        Step::ShipImage { image, hosts } => {
            if hosts.is_empty() {
                format!("ship {image}")
            } else {
                format!("ship {image} to {}", hosts.join(", "))
            }
        }
        Step::DeployStack { release } => format!("deploy stack release {release}"),
        Step::Migrate { release } => {
            format!("prepare database, topics and schema for release {release}")
        }
        Step::WaitConverged => "wait for convergence".to_owned(),
        Step::SmokeTest => "smoke test".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_and_name_the_bad_one() {
        let map = parse_overrides(&["redis=cc-smoke:local".into(), "nginx=r/n:1=2".into()])
            .expect("valid");
        assert_eq!(map["redis"], "cc-smoke:local");
        assert_eq!(map["nginx"], "r/n:1=2");
        assert_eq!(
            parse_overrides(&["redis".into()]),
            Err(RunError::Override("redis".into()))
        );
        assert!(parse_overrides(&["=x".into()]).is_err());
    }

    #[test]
    fn octal_modes_stay_numbers() {
        let stack = "services:\n  app:\n    image: a\n    secrets:\n      - source: k\n        mode: 0400\n";
        let (text, _) = rewrite_images(stack, &BTreeMap::new()).expect("rewritten");
        assert!(text.contains("mode: 256"), "{text}");
    }

    #[test]
    fn override_files() {
        assert_eq!(
            override_lines(
                "# stand-ins\nredis=cc-standin-redis:1\n\n  nginx=cc-standin-nginx:2  \n"
            ),
            vec!["redis=cc-standin-redis:1", "nginx=cc-standin-nginx:2"]
        );
    }

    #[test]
    fn image_names() {
        for (reference, name) in [
            ("redis:7.4", "redis"),
            ("registry:5000/library/redis:7.4@sha256:abc", "redis"),
            ("ccserver", "ccserver"),
            ("ghcr.io/ferretdb/ferretdb:2", "ferretdb"),
        ] {
            assert_eq!(image_name(reference), name, "{reference}");
        }
    }

    #[test]
    fn only_overridden_images_change() {
        let stack = "services:\n  cache:\n    image: redis:7.4\n    command: [x]\n  app:\n    image: ccserver:0.1.0\nsecrets: {}\n";
        let overrides = BTreeMap::from([("redis".to_owned(), "cc-smoke:local".to_owned())]);
        let (text, images) = rewrite_images(stack, &overrides).expect("rewritten");
        assert!(text.contains("image: cc-smoke:local"), "{text}");
        assert!(text.contains("image: ccserver:0.1.0"), "{text}");
        assert!(text.contains("command:"), "{text}");
        assert_eq!(
            images.into_iter().collect::<Vec<_>>(),
            vec!["cc-smoke:local", "ccserver:0.1.0"]
        );
        assert!(rewrite_images("services:\n  a: {}\n", &overrides).is_err());
    }

    #[test]
    fn files_outside_the_render_are_relocated_into_the_upload() {
        let stack = "services: {}\nsecrets:\n  jwt:\n    name: cc_jwt_1\n    file: \"../secrets/jwt\"\n  local:\n    name: l\n    file: ./secrets/x\nconfigs:\n  c:\n    name: c1\n    file: \"./nginx/nginx.conf\"\n";
        let (text, moved) = relocate_outside_files(stack).expect("relocated");
        assert_eq!(
            moved,
            vec![(
                "../secrets/jwt".to_owned(),
                ".outside/secrets/jwt".to_owned()
            )]
        );
        assert!(text.contains("file: ./.outside/secrets/jwt"), "{text}");
        assert!(text.contains("file: ./secrets/x"), "{text}");
        assert!(text.contains("file: ./nginx/nginx.conf"), "{text}");
    }

    #[test]
    fn release_changes_with_any_input() {
        let ids = BTreeMap::from([("a:1".to_owned(), "sha256:1".to_owned())]);
        let base = release_id("m", "s", &ids);
        assert_eq!(base.len(), 16);
        assert_eq!(base, release_id("m", "s", &ids));
        assert_ne!(base, release_id("m2", "s", &ids));
        assert_ne!(base, release_id("m", "s2", &ids));
        let other = BTreeMap::from([("a:1".to_owned(), "sha256:2".to_owned())]);
        assert_ne!(base, release_id("m", "s", &other));
    }

    #[test]
    fn services_and_convergence() {
        let services = parse_services("cc_a 1/1\ncc_b 0/2 (max 1 per node)\ngarbage\n");
        assert_eq!(services["cc_a"], (1, 1));
        assert_eq!(services["cc_b"], (0, 2));
        assert_eq!(services.len(), 2);
        assert!(!converged(&services));
        assert!(converged(&parse_services("cc_a 1/1\n")));
        assert!(!converged(&BTreeMap::new()));
    }

    #[test]
    fn labels_json() {
        assert_eq!(parse_labels("null\n"), BTreeMap::new());
        assert_eq!(
            parse_labels("{\"cc.host\":\"cc-1\"}\n"),
            BTreeMap::from([("cc.host".to_owned(), "cc-1".to_owned())])
        );
    }

    #[test]
    fn the_stack_deploy_cleans_up_its_upload() {
        let command = stack_deploy_command("/var/lib/ccplatform/stacks/cc/r1", "cc");
        assert!(command.contains("--resolve-image never"));
        assert!(command.ends_with("rm -rf /var/lib/ccplatform/stacks/cc/r1; exit $status"));
    }
}
