//! The deploy lock, pure: one deploy at a time per environment, recorded in a file on the first manager
//! with its owner and a lease. A run renews its lease while it works; a run killed mid-deploy stops
//! renewing, so the next run takes the lock over once the lease has expired instead of being wedged
//! forever; a run killed on this very machine (its process is gone) is taken over at once. Creating the file is atomic (`set -C`: O_EXCL), and takeover and release are
//! compare-and-swap on the file's content, so two runs never both believe they hold it.

use serde::{Deserialize, Serialize};

use crate::playbook::template::shell_quote;

/// Where the lock lives on the manager.
pub const LOCK_DIRECTORY: &str = "/var/lib/ccplatform";
pub const LOCK_PATH: &str = "/var/lib/ccplatform/deploy.lock";
/// How long a lock stays valid without renewal.
pub const LEASE_MS: i64 = 10 * 60 * 1000;
/// How often a running deploy renews its lease (well inside the lease).
pub const RENEW_EVERY_MS: i64 = 60 * 1000;

/// The content of the lock file (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Unique per `ccctl deploy` run.
    pub run_id: String,
    /// `user@machine` of the operator.
    pub owner: String,
    pub started_at_ms: i64,
    pub lease_until_ms: i64,
    /// What the run is doing, e.g. `deploy release 3f2a…`.
    pub message: String,
    /// The `ccctl` process on the owner's machine: a later run there can tell a dead holder at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl LockRecord {
    pub fn new(run_id: &str, owner: &str, message: &str, now_ms: i64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            owner: owner.to_owned(),
            started_at_ms: now_ms,
            lease_until_ms: now_ms + LEASE_MS,
            message: message.to_owned(),
            pid: Some(std::process::id()),
        }
    }

    /// The same lock with its lease extended from `now_ms`.
    #[must_use]
    pub fn renewed(&self, now_ms: i64) -> Self {
        Self {
            lease_until_ms: now_ms + LEASE_MS,
            ..self.clone()
        }
    }

    pub fn to_line(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the lock file said when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Absent,
    Held(LockRecord),
    /// A file that is not a lock record (hand-edited, truncated by a full disk): treated as held
    /// until `--force-unlock`, never silently ignored.
    Unreadable(String),
}

/// Parses the output of [`read_command`].
pub fn parse(output: &str) -> Found {
    let text = output.trim();
    if text.is_empty() {
        return Found::Absent;
    }
    serde_json::from_str(text).map_or_else(|_| Found::Unreadable(text.to_owned()), Found::Held)
}

/// What to do about the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it: create it.
    Create,
    /// Another live run holds it: stop and say who.
    Refuse { holder: LockRecord },
    /// Its holder stopped renewing (killed, lost its connection): replace it and say whose it was.
    TakeOver { expired: LockRecord },
    /// Its holder ran on this machine and its process is gone (killed): replace it without waiting
    /// for the lease.
    HolderDead { dead: LockRecord },
    /// The operator forced it (`--force-unlock`): replace whatever is there.
    Force { previous: String },
}

/// Whether `record` was taken by a `ccctl` process of this machine (`owner` = this operator) that no
/// longer runs; `running(pid)` says whether that pid is a live `ccctl`.
pub fn holder_is_dead_here(
    record: &LockRecord,
    operator: &str,
    running: impl Fn(u32) -> bool,
) -> bool {
    record.owner == operator && record.pid.is_some_and(|pid| !running(pid))
}

pub fn decide(found: &Found, now_ms: i64, force: bool, holder_dead: bool) -> Decision {
    match found {
        Found::Absent => Decision::Create,
        Found::Held(record) if force => Decision::Force {
            previous: record.to_line(),
        },
        Found::Unreadable(text) if force => Decision::Force {
            previous: text.clone(),
        },
        Found::Held(record) if record.lease_until_ms <= now_ms => Decision::TakeOver {
            expired: record.clone(),
        },
        Found::Held(record) if holder_dead => Decision::HolderDead {
            dead: record.clone(),
        },
        Found::Held(record) => Decision::Refuse {
            holder: record.clone(),
        },
        Found::Unreadable(text) => Decision::Refuse {
            holder: LockRecord {
                run_id: "unknown".into(),
                owner: "unknown".into(),
                started_at_ms: 0,
                lease_until_ms: i64::MAX,
                message: format!("unreadable lock file: {text}"),
                pid: None,
            },
        },
    }
}

/// Prints the lock file, or nothing when there is none.
pub fn read_command() -> String {
    format!("cat {LOCK_PATH} 2>/dev/null || true")
}

/// Creates the lock only if no file exists (exit 0 = created, non-zero = someone else was first).
pub fn create_command(record: &LockRecord) -> String {
    format!(
        "mkdir -p {LOCK_DIRECTORY} && (set -C; printf '%s\\n' {} > {LOCK_PATH}) 2>/dev/null",
        shell_quote(&record.to_line())
    )
}

/// Replaces the lock only if it still holds exactly `expected` (the line read before deciding); used
/// for takeover, force and renewal. Exit 0 = replaced.
pub fn replace_command(expected: &str, record: &LockRecord) -> String {
    format!(
        "[ \"$(cat {LOCK_PATH} 2>/dev/null)\" = {} ] && printf '%s\\n' {} > {LOCK_PATH}.new && mv {LOCK_PATH}.new {LOCK_PATH}",
        shell_quote(expected.trim()),
        shell_quote(&record.to_line())
    )
}

/// Removes the lock if it is still this run's. Exit 0 whether or not it was there.
pub fn release_command(record: &LockRecord) -> String {
    format!(
        "if [ \"$(cat {LOCK_PATH} 2>/dev/null)\" = {} ]; then rm -f {LOCK_PATH}; fi",
        shell_quote(&record.to_line())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn record(lease_until_ms: i64) -> LockRecord {
        LockRecord {
            run_id: "run-1".into(),
            owner: "ops@laptop".into(),
            started_at_ms: NOW - 1000,
            lease_until_ms,
            message: "deploy release abc".into(),
            pid: Some(42),
        }
    }

    #[test]
    fn decision_table() {
        let live = record(NOW + 1);
        let expired = record(NOW);
        assert_eq!(decide(&Found::Absent, NOW, false, false), Decision::Create);
        assert_eq!(decide(&Found::Absent, NOW, true, false), Decision::Create);
        assert_eq!(
            decide(&Found::Held(live.clone()), NOW, false, false),
            Decision::Refuse {
                holder: live.clone()
            }
        );
        assert_eq!(
            decide(&Found::Held(expired.clone()), NOW, false, false),
            Decision::TakeOver { expired }
        );
        assert_eq!(
            decide(&Found::Held(live.clone()), NOW, true, false),
            Decision::Force {
                previous: live.to_line()
            }
        );
        assert!(matches!(
            decide(&Found::Unreadable("garbage".into()), NOW, false, true),
            Decision::Refuse { .. }
        ));
        assert_eq!(
            decide(&Found::Unreadable("garbage".into()), NOW, true, false),
            Decision::Force {
                previous: "garbage".into()
            }
        );
    }

    #[test]
    fn a_dead_holder_on_this_machine_is_taken_over_before_its_lease_ends() {
        let live = record(NOW + LEASE_MS);
        assert!(holder_is_dead_here(&live, "ops@laptop", |_| false));
        assert!(!holder_is_dead_here(&live, "ops@laptop", |pid| pid == 42));
        assert!(
            !holder_is_dead_here(&live, "ops@desktop", |_| false),
            "another machine's process cannot be checked from here"
        );
        let without_pid = LockRecord {
            pid: None,
            ..live.clone()
        };
        assert!(!holder_is_dead_here(&without_pid, "ops@laptop", |_| false));
        assert_eq!(
            decide(&Found::Held(live.clone()), NOW, false, true),
            Decision::HolderDead { dead: live }
        );
    }

    #[test]
    fn parse_round_trips() {
        let live = record(NOW + LEASE_MS);
        assert_eq!(parse(&format!("{}\n", live.to_line())), Found::Held(live));
        assert_eq!(parse("\n"), Found::Absent);
        assert_eq!(parse("{oops"), Found::Unreadable("{oops".into()));
    }

    #[test]
    fn renewal_extends_only_the_lease() {
        let first = LockRecord::new("run-2", "ops@laptop", "deploy", NOW);
        assert_eq!(first.lease_until_ms, NOW + LEASE_MS);
        let renewed = first.renewed(NOW + RENEW_EVERY_MS);
        assert_eq!(renewed.lease_until_ms, NOW + RENEW_EVERY_MS + LEASE_MS);
        assert_eq!(renewed.started_at_ms, first.started_at_ms);
        assert_eq!(renewed.run_id, first.run_id);
    }

    /// The commands, run by a real `sh` against a scratch copy of the lock path: create is exclusive,
    /// replace is compare-and-swap, release removes only our own lock.
    #[test]
    fn commands_behave_atomically_in_a_real_shell() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("deploy.lock");
        let localise = |command: String| {
            command
                .replace(LOCK_PATH, &path.display().to_string())
                .replace(LOCK_DIRECTORY, &directory.path().display().to_string())
        };
        let sh = |command: String| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(localise(command))
                .output()
                .expect("run sh")
        };
        let read = || parse(&String::from_utf8_lossy(&sh(read_command()).stdout));

        let mine = LockRecord::new("run-a", "a@x", "deploy's \"quoted\" message", NOW);
        let theirs = LockRecord::new("run-b", "b@y", "deploy", NOW);
        assert!(sh(create_command(&mine)).status.success());
        assert!(
            !sh(create_command(&theirs)).status.success(),
            "create is exclusive"
        );
        assert_eq!(read(), Found::Held(mine.clone()));

        // A stale expectation loses the race.
        assert!(
            !sh(replace_command(&theirs.to_line(), &theirs))
                .status
                .success()
        );
        let renewed = mine.renewed(NOW + RENEW_EVERY_MS);
        assert!(
            sh(replace_command(&mine.to_line(), &renewed))
                .status
                .success()
        );
        assert_eq!(read(), Found::Held(renewed.clone()));

        // Releasing with an outdated record leaves the lock; the current one removes it.
        assert!(sh(release_command(&mine)).status.success());
        assert_eq!(read(), Found::Held(renewed.clone()));
        assert!(sh(release_command(&renewed)).status.success());
        assert_eq!(read(), Found::Absent);
    }
}
