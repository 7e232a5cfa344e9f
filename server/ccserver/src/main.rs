//! `ccserver`: reads its config, runs the configured roles until SIGTERM, then drains.

use anyhow::Context as _;
use ccserver::config::RawConfig;
use ccserver::server::{self, StateOptions};
use ccserver::{WebAssets, env};
use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: ccserver [--config <file.toml>]   (or set {})\n       ccserver healthcheck <url>   (exit 0 when the URL answers 2xx)\n       ccserver migrate --config <file.toml> --root-password-file <file> [--topics <json>] [--smoke]",
        env::CONFIG
    );
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("healthcheck") {
        return healthcheck(args.nth(1));
    }
    if args.peek().map(String::as_str) == Some("migrate") {
        return migrate(args.skip(1));
    }
    let mut config_path = std::env::var_os(env::CONFIG).map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => match args.next() {
                Some(path) => config_path = Some(PathBuf::from(path)),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ccserver: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(config_path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ccserver: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// `ccserver migrate`: the one-shot bootstrap/migration task `ccctl deploy` runs in the swarm.
fn migrate(args: impl Iterator<Item = String>) -> ExitCode {
    let args = match ccserver::migrate::MigrateArgs::parse(args) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("ccserver migrate: {error}");
            return usage();
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ccserver migrate: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(ccserver::migrate::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ccserver migrate: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// The stack's container health check: probe one URL, no config, no logging set-up.
fn healthcheck(url: Option<String>) -> ExitCode {
    let Some(url) = url else {
        return usage();
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ccserver healthcheck: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(ccserver::healthcheck::probe(&url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("ccserver healthcheck: {reason}");
            ExitCode::from(1)
        }
    }
}

async fn run(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let raw = match &config_path {
        Some(path) => RawConfig::from_file(path)?,
        None => toml::from_str("version = 1").context("default configuration")?,
    };
    let settings = raw.with_env(|name| std::env::var(name).ok()).validate()?;
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_filter)
        .context("log.filter is not a valid tracing filter")?;
    if settings.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let (state, production) = match &settings.production {
        Some(backends) => {
            let (state, production) =
                server::build_production_state(StateOptions::from(&settings), backends).await?;
            (state, Some(production))
        }
        None => (
            server::build_state(StateOptions::from(&settings)).await?,
            None,
        ),
    };
    let mut state = state;
    if settings.demo {
        // Demo mode: the demo app lives next to the database; `POST /demo/login` mints its tokens.
        let dir = settings
            .storage_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let demo = ccserver::demo::ensure(&state.service, dir).await?;
        tracing::warn!(app_id = %demo.app_id, "demo mode is on: POST /demo/login mints tokens without an API key");
        state.demo_app = Some(cc_core::ids::AppId(demo.app_id));
    }
    let router = server::app(state.clone(), settings.roles, &WebAssets::None);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let local_addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%local_addr, api = settings.roles.api, gateway = settings.roles.gateway, "ccserver ready");
    let served = server::run(listener, state, router, server::shutdown_signal()).await;
    if let Some(production) = production {
        production.shutdown().await;
    }
    served
}
