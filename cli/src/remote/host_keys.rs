//! SSH host-key rules, checked before any session opens: every host must be in the environment's own
//! known-hosts file. An unknown host aborts with its fingerprints (fetched with `ssh-keyscan`, which runs
//! nothing on the host) unless the operator passed `--trust-new-host`, which records it. A host offering
//! none of its recorded keys aborts as a mismatch. The session itself then runs with
//! `StrictHostKeyChecking=yes` against the same file, so ssh enforces the rule a second time.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};

/// Seconds `ssh-keyscan` waits for a host.
const KEYSCAN_TIMEOUT_SECONDS: u64 = 5;

/// One public host key: its algorithm and base64 blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub algorithm: String,
    pub blob: String,
}

impl HostKey {
    /// The OpenSSH SHA-256 fingerprint (`SHA256:…`, unpadded base64), as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        match base64::engine::general_purpose::STANDARD.decode(&self.blob) {
            Ok(raw) => format!(
                "SHA256:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(raw))
            ),
            Err(_) => "(key is not valid base64)".to_owned(),
        }
    }

    /// `ssh-ed25519 SHA256:…`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.algorithm, self.fingerprint())
    }
}

/// The name ssh records a host under: `address` on port 22, `[address]:port` otherwise.
pub fn host_pattern(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_owned()
    } else {
        format!("[{address}]:{port}")
    }
}

/// Keys from known-hosts or `ssh-keyscan` lines (`host algorithm blob [comment]`); comments, markers
/// (`@revoked`, `@cert-authority`) and blank lines are skipped.
pub fn parse_key_lines(text: &str) -> Vec<HostKey> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('@'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _host = fields.next()?;
            let algorithm = fields.next()?;
            let blob = fields.next()?;
            Some(HostKey {
                algorithm: algorithm.to_owned(),
                blob: blob.to_owned(),
            })
        })
        .collect()
}

/// What to do about one host, decided from its recorded and offered keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The host offers a recorded key.
    Known,
    /// Not recorded, and `--trust-new-host` was given: record these keys.
    Record(Vec<HostKey>),
    /// Not recorded: refuse, showing these keys.
    Unknown(Vec<HostKey>),
    /// Recorded, but the host offers none of the recorded keys.
    Mismatch {
        recorded: Vec<HostKey>,
        offered: Vec<HostKey>,
    },
}

pub fn decide(recorded: &[HostKey], offered: &[HostKey], trust_new_host: bool) -> Decision {
    if recorded.is_empty() {
        if trust_new_host {
            Decision::Record(offered.to_vec())
        } else {
            Decision::Unknown(offered.to_vec())
        }
    } else if offered.iter().any(|key| recorded.contains(key)) {
        Decision::Known
    } else {
        Decision::Mismatch {
            recorded: recorded.to_vec(),
            offered: offered.to_vec(),
        }
    }
}

fn describe_all(keys: &[HostKey]) -> String {
    keys.iter()
        .map(HostKey::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error(
        "host {host} ({pattern}) is not in {known_hosts}; it offers {}. Compare with the host's own \
         fingerprint (on its console: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then re-run \
         with --trust-new-host to record it",
        describe_all(.offered)
    )]
    Unknown {
        host: String,
        pattern: String,
        known_hosts: PathBuf,
        offered: Vec<HostKey>,
    },
    #[error(
        "HOST KEY MISMATCH for host {host} ({pattern}): {known_hosts} records {} but the host offers {}. \
         Someone may be intercepting the connection, or the host was reinstalled. Nothing was run on it. \
         If the change is expected, remove its line from {known_hosts} (`ssh-keygen -R '{pattern}' -f {known_hosts}`) \
         and re-run with --trust-new-host",
        describe_all(.recorded), describe_all(.offered)
    )]
    Mismatch {
        host: String,
        pattern: String,
        known_hosts: PathBuf,
        recorded: Vec<HostKey>,
        offered: Vec<HostKey>,
    },
    #[error("host {host} ({pattern}): could not read its host keys with ssh-keyscan: {detail}")]
    Scan {
        host: String,
        pattern: String,
        detail: String,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The keys `known_hosts` records for `pattern`, via `ssh-keygen -F` (which also matches hashed entries).
async fn recorded_keys(known_hosts: &Path, pattern: &str) -> Result<Vec<HostKey>, HostKeyError> {
    if !known_hosts.exists() {
        return Ok(Vec::new());
    }
    let output = tokio::process::Command::new("ssh-keygen")
        .arg("-F")
        .arg(pattern)
        .arg("-f")
        .arg(known_hosts)
        .output()
        .await
        .map_err(|source| HostKeyError::Io {
            action: "running ssh-keygen -F on",
            path: known_hosts.to_owned(),
            source,
        })?;
    // Exit 1 with no output: not found.
    Ok(parse_key_lines(&String::from_utf8_lossy(&output.stdout)))
}

/// The keys the host offers, via `ssh-keyscan`: a key exchange only, no login, no command.
async fn offered_keys(host: &str, address: &str, port: u16) -> Result<Vec<HostKey>, HostKeyError> {
    let pattern = host_pattern(address, port);
    let output = tokio::time::timeout(
        Duration::from_secs(KEYSCAN_TIMEOUT_SECONDS * 3),
        tokio::process::Command::new("ssh-keyscan")
            .arg("-T")
            .arg(KEYSCAN_TIMEOUT_SECONDS.to_string())
            .arg("-p")
            .arg(port.to_string())
            .arg("--")
            .arg(address)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| HostKeyError::Scan {
        host: host.to_owned(),
        pattern: pattern.clone(),
        detail: "timed out".into(),
    })?
    .map_err(|source| HostKeyError::Io {
        action: "running ssh-keyscan for",
        path: PathBuf::from(&pattern),
        source,
    })?;
    let keys = parse_key_lines(&String::from_utf8_lossy(&output.stdout));
    if keys.is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(HostKeyError::Scan {
            host: host.to_owned(),
            pattern,
            detail: if detail.trim().is_empty() {
                "no answer (is sshd running on that address and port?)".into()
            } else {
                detail
            },
        });
    }
    Ok(keys)
}

fn append_keys(known_hosts: &Path, pattern: &str, keys: &[HostKey]) -> Result<(), HostKeyError> {
    let io_error = |action| {
        move |source| HostKeyError::Io {
            action,
            path: known_hosts.to_owned(),
            source,
        }
    };
    if let Some(parent) = known_hosts
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(io_error("creating the directory of"))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(known_hosts)
        .map_err(io_error("opening"))?;
    let lines = keys.iter().fold(String::new(), |mut lines, key| {
        let _ = writeln!(lines, "{pattern} {} {}", key.algorithm, key.blob);
        lines
    });
    file.write_all(lines.as_bytes())
        .map_err(io_error("writing"))?;
    Ok(())
}

/// What [`verify`] found: whether new keys were recorded (so the caller can say so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Known,
    Recorded(Vec<HostKey>),
}

/// Applies the host-key rules to one host. Runs only local programs and a key exchange; never a
/// command on the host.
pub async fn verify(
    host: &str,
    address: &str,
    port: u16,
    known_hosts: &Path,
    trust_new_host: bool,
) -> Result<Verified, HostKeyError> {
    let pattern = host_pattern(address, port);
    let recorded = recorded_keys(known_hosts, &pattern).await?;
    let offered = offered_keys(host, address, port).await?;
    match decide(&recorded, &offered, trust_new_host) {
        Decision::Known => Ok(Verified::Known),
        Decision::Record(keys) => {
            append_keys(known_hosts, &pattern, &keys)?;
            Ok(Verified::Recorded(keys))
        }
        Decision::Unknown(offered) => Err(HostKeyError::Unknown {
            host: host.to_owned(),
            pattern,
            known_hosts: known_hosts.to_owned(),
            offered,
        }),
        Decision::Mismatch { recorded, offered } => Err(HostKeyError::Mismatch {
            host: host.to_owned(),
            pattern,
            known_hosts: known_hosts.to_owned(),
            recorded,
            offered,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real ed25519 public key and the fingerprint `ssh-keygen -lf` prints for it.
    const BLOB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key(blob: &str) -> HostKey {
        HostKey {
            algorithm: "ssh-ed25519".into(),
            blob: blob.into(),
        }
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        // `echo "x ssh-ed25519 $BLOB" | ssh-keygen -lf -`
        assert_eq!(
            key(BLOB).fingerprint(),
            "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
        );
    }

    #[test]
    fn host_patterns() {
        assert_eq!(host_pattern("10.0.0.1", 22), "10.0.0.1");
        assert_eq!(host_pattern("127.0.0.1", 2222), "[127.0.0.1]:2222");
        assert_eq!(host_pattern("::1", 2222), "[::1]:2222");
    }

    #[test]
    fn parses_keyscan_and_known_hosts_lines() {
        let text = format!(
            "# 127.0.0.1:2222 SSH-2.0-OpenSSH_9.2p1\n\n[127.0.0.1]:2222 ssh-ed25519 {BLOB}\n\
             @revoked * ssh-rsa AAAA\n|1|salt=|hash= ecdsa-sha2-nistp256 AAAAE2 comment\n"
        );
        let keys = parse_key_lines(&text);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], key(BLOB));
        assert_eq!(keys[1].algorithm, "ecdsa-sha2-nistp256");
    }

    #[test]
    fn decision_table() {
        let a = key("AAAA");
        let b = key("BBBB");
        let (a_only, b_only) = (vec![a.clone()], vec![b.clone()]);
        assert_eq!(
            decide(&a_only, &[b.clone(), a.clone()], false),
            Decision::Known
        );
        assert_eq!(
            decide(&[], &a_only, false),
            Decision::Unknown(vec![a.clone()])
        );
        assert_eq!(
            decide(&[], &a_only, true),
            Decision::Record(vec![a.clone()])
        );
        // Trusting new hosts never overrides a mismatch.
        assert_eq!(
            decide(&a_only, &b_only, true),
            Decision::Mismatch {
                recorded: vec![a],
                offered: vec![b]
            }
        );
    }
}
