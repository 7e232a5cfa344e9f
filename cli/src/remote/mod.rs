//! Everything that talks to hosts: SSH host-key rules, SSH sessions, and the executor that runs playbook
//! steps on many hosts at once. The only modules that import `openssh` (and, later, `bollard`).

pub mod docker;
pub mod executor;
pub mod host_keys;
pub mod images;
pub mod preflight;
pub mod session;

use std::future::Future;

use crate::playbook::preflight::CommandOutput;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("host {host}: cannot open an SSH session to {destination}: {detail}")]
    Connect {
        host: String,
        destination: String,
        detail: String,
    },
    #[error("host {host}: the command could not run: {detail}")]
    Command { host: String, detail: String },
    #[error("local ssh setup: {0}")]
    Local(#[source] std::io::Error),
}

/// Runs a shell script on one host and returns its output. A non-zero exit is an `Ok` output; `Err` means
/// the script could not run at all (connection lost).
pub trait RemoteShell: Sync {
    fn run(&self, script: &str) -> impl Future<Output = Result<CommandOutput, RemoteError>> + Send;
}
