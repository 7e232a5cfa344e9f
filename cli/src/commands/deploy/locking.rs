//! The audit writer (local file and the manager's log) and the deploy lock's life: take (create, take
//! over an expired or dead holder's, or force), renew while working.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::{Prepared, Settings, now_ms};
use crate::UserError;
use crate::deploy::audit::{self, AuditEvent, EventKind};
use crate::deploy::lock;
use crate::printer::Printer;
use crate::remote::RemoteShell;
use crate::remote::session::SshSession;

/// Appends audit events locally and on the manager; a failing write warns and never stops a deploy.
pub(super) struct Audit<'a> {
    pub(super) run_id: String,
    pub(super) operator: String,
    pub(super) local: PathBuf,
    pub(super) manager: Option<&'a SshSession>,
    /// Lines not yet on the manager: skipped steps travel with the next other event, so an
    /// unchanged deploy costs one round trip for its log instead of one per step.
    pub(super) pending: Mutex<String>,
    pub(super) printer: &'a Printer,
}

impl Audit<'_> {
    pub(super) fn event(&self, kind: EventKind) -> AuditEvent {
        AuditEvent::new(now_ms(), &self.run_id, &self.operator, kind)
    }

    pub(super) async fn write(&self, event: AuditEvent) {
        let line = event.to_line();
        let local = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.local)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = local {
            self.printer
                .warn(&format!("audit log {}: {error}", self.local.display()));
        }
        let kind = event.event;
        let lines = match self.pending.lock() {
            Ok(mut pending) => {
                pending.push_str(&line);
                if kind == EventKind::StepSkipped {
                    return;
                }
                std::mem::take(&mut *pending)
            }
            Err(_) => line,
        };
        if let Some(manager) = self.manager {
            let written = manager.run(&audit::remote_append_command(&lines)).await;
            if !written.is_ok_and(|output| output.success()) {
                self.printer
                    .warn("could not append to the manager's audit log");
            }
        }
    }
}

pub(super) async fn take_lock(
    manager: &SshSession,
    found: &lock::Found,
    run_id: &str,
    audit: &Audit<'_>,
    settings: &Settings,
    prepared: &Prepared,
) -> anyhow::Result<lock::LockRecord> {
    let record = lock::LockRecord::new(
        run_id,
        &audit.operator,
        &format!(
            "deploy release {} of stack {}",
            prepared.release, settings.stack
        ),
        now_ms(),
    );
    let holder_dead = match found {
        lock::Found::Held(holder) => {
            lock::holder_is_dead_here(holder, &audit.operator, ccctl_is_running)
        }
        _ => false,
    };
    let command = match lock::decide(found, now_ms(), settings.break_lock, holder_dead) {
        lock::Decision::Create => lock::create_command(&record),
        lock::Decision::Refuse { holder } => {
            return Err(UserError(format!(
                "the deploy lock {} is held by {} (run {}, {}) until its lease ends in {} s; wait for it, or pass --break-lock if that run is dead",
                lock::LOCK_PATH,
                holder.owner,
                holder.run_id,
                holder.message,
                (holder.lease_until_ms - now_ms()).max(0) / 1000
            ))
            .into());
        }
        lock::Decision::TakeOver { expired } => {
            audit.printer.warn(&format!(
                "taking over the deploy lock of {} (run {}): its lease expired",
                expired.owner, expired.run_id
            ));
            audit
                .write(
                    audit
                        .event(EventKind::LockTakenOver)
                        .detail(&format!("expired run {}", expired.run_id)),
                )
                .await;
            lock::replace_command(&expired.to_line(), &record)
        }
        lock::Decision::HolderDead { dead } => {
            audit.printer.warn(&format!(
                "taking over the deploy lock of run {}: its ccctl (pid {}) on this machine is gone",
                dead.run_id,
                dead.pid.unwrap_or_default()
            ));
            audit
                .write(
                    audit
                        .event(EventKind::LockTakenOver)
                        .detail(&format!("dead run {}", dead.run_id)),
                )
                .await;
            lock::replace_command(&dead.to_line(), &record)
        }
        lock::Decision::Force { previous } => {
            audit
                .printer
                .warn("breaking the deploy lock (--break-lock)");
            audit
                .write(audit.event(EventKind::LockTakenOver).detail("--break-lock"))
                .await;
            lock::replace_command(&previous, &record)
        }
    };
    let output = manager.run(&command).await?;
    if output.success() {
        Ok(record)
    } else {
        Err(UserError("another deploy took the lock at the same moment; try again".into()).into())
    }
}

/// Renews the lease until the lock is lost (returns then); runs alongside the deploy.
pub(super) async fn renew_lease(manager: &SshSession, held: &Mutex<lock::LockRecord>) {
    let every = Duration::from_millis(u64::try_from(lock::RENEW_EVERY_MS).unwrap_or(60_000));
    loop {
        tokio::time::sleep(every).await;
        let Ok(current) = held.lock().map(|record| record.clone()) else {
            return;
        };
        let renewed = current.renewed(now_ms());
        match manager
            .run(&lock::replace_command(&current.to_line(), &renewed))
            .await
        {
            Ok(output) if output.success() => {
                if let Ok(mut record) = held.lock() {
                    *record = renewed;
                }
            }
            _ => return,
        }
    }
}

/// Whether `pid` is a live `ccctl` process of this machine (a reused pid running something else is not).
fn ccctl_is_running(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|command_line| {
        command_line
            .split(|byte| *byte == 0)
            .next()
            .is_some_and(|program| program.ends_with(b"ccctl"))
    })
}
