//! The migrate step: `ccserver migrate` as a one-shot Swarm job through the manager (built by
//! `deploy::job`), waited for, its output read for the smoke fixtures, and the release recorded as
//! migrated only when the job completed. The job is idempotent (database objects `IF NOT EXISTS`,
//! topics created when missing, migrations versioned under `GET_LOCK`), so a run killed mid-job and run
//! again converges; the deploy lock keeps two deploys from racing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{Prepared, Settings, run_checked};
use crate::deploy::job::{self, JobState};
use crate::deploy::run::STATE_DIRECTORY;
use crate::playbook::template::shell_quote;
use crate::printer::Printer;
use crate::remote::session::SshSession;

pub(super) async fn migrate(
    settings: &Settings,
    printer: &Printer,
    prepared: &Prepared,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
    release: &str,
) -> anyhow::Result<String> {
    let topics_path = settings.rendered.join(job::TOPICS_FILE);
    let topics = match std::fs::read_to_string(&topics_path) {
        Ok(text) => job::topics_json(&text)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => "[]".to_owned(),
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", topics_path.display()));
        }
    };
    let command = job::create_command(&prepared.stack_yaml, &settings.stack, release, &topics)?;
    run_checked(settings, sessions, leader, &command).await?;
    let deadline = Instant::now() + settings.timeout;
    let lines = printer.progress_lines();
    let bar = lines.line("migrate", 1);
    let state = loop {
        let output = run_checked(
            settings,
            sessions,
            leader,
            &job::state_command(&settings.stack),
        )
        .await?;
        match job::parse_state(&output) {
            JobState::Pending if Instant::now() < deadline => {
                bar.set_message(output.split('|').next().unwrap_or("starting").trim());
                // Polling the manager: a shell has no change feed for task state.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => break other,
        }
    };
    let logs = run_checked(
        settings,
        sessions,
        leader,
        &job::logs_command(&settings.stack),
    )
    .await
    .unwrap_or_default();
    run_checked(
        settings,
        sessions,
        leader,
        &job::remove_command(&settings.stack),
    )
    .await
    .ok();
    let tail = || {
        let lines: Vec<&str> = logs.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n  ")
    };
    match state {
        JobState::Complete => bar.finish("complete"),
        JobState::Failed(reason) => {
            bar.finish("failed");
            anyhow::bail!(
                "the migrate task failed ({reason}); its output:\n  {}",
                tail()
            );
        }
        JobState::Pending => {
            bar.finish("timed out");
            anyhow::bail!(
                "the migrate task did not finish within {} s; its output:\n  {}",
                settings.timeout.as_secs(),
                tail()
            );
        }
    }
    let fixtures = job::parse_fixtures(&logs).with_context(|| {
        format!(
            "the migrate task completed without naming the smoke-test fixtures; its output:\n  {}",
            tail()
        )
    })?;
    let fixtures_json = serde_json::to_string(&fixtures).context("the smoke fixtures")?;
    run_checked(
        settings,
        sessions,
        leader,
        &format!(
            "mkdir -p {STATE_DIRECTORY} && printf '%s\\n' {} > {} && printf '%s\\n' {} > {}",
            shell_quote(&fixtures_json),
            job::fixtures_path(&settings.stack),
            shell_quote(release),
            job::migrated_path(&settings.stack)
        ),
    )
    .await?;
    Ok(format!(
        "database user, topics and schema ready (smoke app {})",
        fixtures.app_id
    ))
}

/// The smoke fixtures the last migration recorded on the manager.
pub(super) async fn recorded_fixtures(
    settings: &Settings,
    sessions: &BTreeMap<String, SshSession>,
    leader: &str,
) -> anyhow::Result<job::SmokeFixtures> {
    let text = run_checked(
        settings,
        sessions,
        leader,
        &format!(
            "cat {} 2>/dev/null || true",
            job::fixtures_path(&settings.stack)
        ),
    )
    .await?;
    serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "{leader}:{} holds no smoke fixtures; the migrate step records them",
            job::fixtures_path(&settings.stack)
        )
    })
}
