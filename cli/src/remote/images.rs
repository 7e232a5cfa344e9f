//! Shipping images without a registry: `docker save` once on this machine, then `docker load` on
//! every host that lacks the image, all hosts at once, each streaming the same tarball over its own
//! SSH session. Air-gapped sites need nothing but SSH.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::deploy::observe::{IMAGE_IDS_COMMAND, parse_image_ids};
use crate::playbook::render::{Privilege, privileged};
use crate::remote::session::SshSession;
use crate::remote::{RemoteError, RemoteShell};

/// Writes `image` from the local engine to `tarball` and returns its content id (`sha256:…`).
pub async fn save_local(image: &str, tarball: &Path) -> Result<String, RemoteError> {
    let run = |args: Vec<&str>| {
        let mut command = tokio::process::Command::new("docker");
        command.args(args).kill_on_drop(true);
        command
    };
    let tarball_text = tarball.to_string_lossy();
    let saved = run(vec!["save", "-o", &tarball_text, image])
        .output()
        .await
        .map_err(RemoteError::Local)?;
    if !saved.status.success() {
        return Err(RemoteError::Local(std::io::Error::other(format!(
            "docker save {image}: {}",
            String::from_utf8_lossy(&saved.stderr).trim()
        ))));
    }
    let inspected = run(vec!["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .await
        .map_err(RemoteError::Local)?;
    Ok(String::from_utf8_lossy(&inspected.stdout).trim().to_owned())
}

/// The content ids of the images on a host.
pub async fn image_ids<S: RemoteShell>(
    host: &str,
    shell: &S,
    privilege: Privilege,
) -> Result<BTreeSet<String>, RemoteError> {
    let output = shell.run(&privileged(IMAGE_IDS_COMMAND, privilege)).await?;
    if !output.success() {
        return Err(RemoteError::Command {
            host: host.to_owned(),
            detail: format!("listing images: {}", output.failure_summary()),
        });
    }
    Ok(parse_image_ids(&output.stdout))
}

/// What one load took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Streams `tarball` into `docker load` on the session's host.
pub async fn load(
    session: &SshSession,
    tarball: &Path,
    privilege: Privilege,
) -> Result<Loaded, RemoteError> {
    let file = std::fs::File::open(tarball).map_err(RemoteError::Local)?;
    let bytes = file.metadata().map_err(RemoteError::Local)?.len();
    let started = Instant::now();
    let output = session
        .run_with_input(&privileged("docker load --quiet", privilege), file)
        .await?;
    if !output.success() {
        return Err(RemoteError::Command {
            host: session.host().to_owned(),
            detail: format!("docker load: {}", output.failure_summary()),
        });
    }
    Ok(Loaded {
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Loads `tarball` on every session at once; results in the sessions' order.
pub async fn load_everywhere(
    sessions: &[(&SshSession, Privilege)],
    tarball: &Path,
) -> Vec<Result<Loaded, RemoteError>> {
    futures_util::future::join_all(
        sessions
            .iter()
            .map(|(session, privilege)| load(session, tarball, *privilege)),
    )
    .await
}
