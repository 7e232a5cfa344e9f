//! SSH sessions through OpenSSH's own client (the `openssh` crate, one multiplexed master per host), with
//! strict host-key checking against the environment's known-hosts file only: no `~/.ssh/config`, no
//! global known-hosts, no agent keys other than the inventory's key.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};

use crate::playbook::preflight::CommandOutput;
use crate::remote::{RemoteError, RemoteShell};

/// How long ssh waits for the TCP connection and the handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive probes, so a dead host fails a command instead of hanging it.
const SERVER_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// A master left behind by a killed `ccctl` exits after this many idle seconds.
const MASTER_IDLE_SECONDS: usize = 60;

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The plan's host name (for messages).
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub key: PathBuf,
}

impl From<&crate::inventory::Node> for SshTarget {
    fn from(node: &crate::inventory::Node) -> Self {
        Self {
            name: node.name.clone(),
            address: node.address.clone(),
            port: node.port,
            user: node.user.clone(),
            key: node.key.clone(),
        }
    }
}

/// Per-run state shared by all sessions: a private directory for the control sockets and an ssh
/// configuration file that turns off the global known-hosts file.
#[derive(Debug)]
pub struct SshContext {
    directory: tempfile::TempDir,
    config: PathBuf,
    known_hosts: PathBuf,
}

impl SshContext {
    /// `known_hosts` is the environment's file; it must already hold every host (see `host_keys`).
    pub fn new(known_hosts: &Path) -> Result<Self, RemoteError> {
        // Short path under the system temp dir: a control socket path must fit in 108 bytes.
        let directory = tempfile::Builder::new()
            .prefix("ccctl-ssh-")
            .tempdir()
            .map_err(RemoteError::Local)?;
        let config = directory.path().join("ssh_config");
        std::fs::write(
            &config,
            "# Written by ccctl: only the environment's known-hosts file counts.\n\
             GlobalKnownHostsFile /dev/null\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             LogLevel ERROR\n",
        )
        .map_err(RemoteError::Local)?;
        Ok(Self {
            directory,
            config,
            known_hosts: known_hosts.to_owned(),
        })
    }

    /// A path in this run's private directory (deleted with the context).
    pub fn scratch_path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// Opens a session. Host keys are checked strictly: an unknown or changed key fails here, before
    /// any command.
    pub async fn connect(&self, target: &SshTarget) -> Result<SshSession, RemoteError> {
        let mut builder = SessionBuilder::default();
        builder
            .user(target.user.clone())
            .port(target.port)
            .keyfile(&target.key)
            .known_hosts_check(KnownHosts::Strict)
            .user_known_hosts_file(&self.known_hosts)
            .config_file(&self.config)
            .control_directory(self.directory.path())
            .control_persist(ControlPersist::IdleFor(
                NonZeroUsize::new(MASTER_IDLE_SECONDS).unwrap_or(NonZeroUsize::MIN),
            ))
            .connect_timeout(CONNECT_TIMEOUT)
            .server_alive_interval(SERVER_ALIVE_INTERVAL);
        let session = builder
            .connect_mux(&target.address)
            .await
            .map_err(|source| RemoteError::Connect {
                host: target.name.clone(),
                destination: format!("{}@{}:{}", target.user, target.address, target.port),
                detail: error_chain(&source),
            })?;
        Ok(SshSession {
            host: target.name.clone(),
            session,
        })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(cause.to_string().trim());
        source = cause.source();
    }
    text
}

/// An open session to one host.
#[derive(Debug)]
pub struct SshSession {
    host: String,
    session: Session,
}

impl SshSession {
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Runs a script with a local file as its standard input, streamed by the ssh master (the bytes
    /// never pass through this process): how image tarballs reach `docker load`.
    pub async fn run_with_input(
        &self,
        script: &str,
        input: std::fs::File,
    ) -> Result<CommandOutput, RemoteError> {
        tracing::debug!(host = %self.host, script, "running with input");
        let output = self
            .session
            .shell(script)
            .stdin(openssh::Stdio::from(input))
            .output()
            .await
            .map_err(|source| RemoteError::Command {
                host: self.host.clone(),
                detail: error_chain(&source),
            })?;
        Ok(CommandOutput {
            exit_code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs a script with `input` on its standard input — for secrets such as a swarm join token,
    /// which must not appear in the command line. The script is logged; the input never is.
    pub async fn run_with_secret_input(
        &self,
        script: &str,
        input: &[u8],
    ) -> Result<CommandOutput, RemoteError> {
        use tokio::io::AsyncWriteExt;

        tracing::debug!(host = %self.host, script, "running with secret input");
        let failed = |source: &dyn std::error::Error| RemoteError::Command {
            host: self.host.clone(),
            detail: error_chain(source),
        };
        let mut child = self
            .session
            .shell(script)
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .map_err(|error| failed(&error))?;
        if let Some(mut stdin) = child.stdin().take() {
            stdin
                .write_all(input)
                .await
                .map_err(|error| failed(&error))?;
            stdin.shutdown().await.map_err(|error| failed(&error))?;
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|error| failed(&error))?;
        Ok(CommandOutput {
            exit_code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Forwards a local unix socket to one on the host (the Docker engine's), through this session.
    pub async fn forward_unix_socket(
        &self,
        local: &Path,
        remote: &Path,
    ) -> Result<(), RemoteError> {
        self.session
            .request_port_forward(
                openssh::ForwardType::Local,
                openssh::Socket::UnixSocket { path: local.into() },
                openssh::Socket::UnixSocket {
                    path: remote.into(),
                },
            )
            .await
            .map_err(|source| RemoteError::Command {
                host: self.host.clone(),
                detail: format!("forwarding {}: {}", remote.display(), error_chain(&source)),
            })
    }

    /// Closes the master connection.
    pub async fn close(self) {
        if let Err(error) = self.session.close().await {
            tracing::debug!(host = %self.host, error = %error, "closing the ssh session");
        }
    }
}

impl RemoteShell for SshSession {
    async fn run(&self, script: &str) -> Result<CommandOutput, RemoteError> {
        tracing::debug!(host = %self.host, script, "running");
        let output = self
            .session
            .shell(script)
            .stdin(openssh::Stdio::null())
            .output()
            .await
            .map_err(|source| RemoteError::Command {
                host: self.host.clone(),
                detail: error_chain(&source),
            })?;
        Ok(CommandOutput {
            exit_code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}
