//! Assembling a server: state from settings, the router, and `run` with graceful drain.

use crate::api;
use crate::config::{GatewaySettings, Roles, Settings};
use crate::gateway::{Gateway, capacity, ws_handler};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::web::WebAssets;
use anyhow::Context as _;
use axum::Router;
use axum::response::IntoResponse as _;
use axum::routing::get;
use cc_core::auth::KeyRing;
use cc_core::bus::{Bus, EventSink};
use cc_core::inproc::{InProcessBus, InProcessPresence};
use cc_core::presence::Presence;
use cc_core::store::Store;
use cc_core::{ChatService, CoreLimits};
use cc_protocol::ErrorCode;
use cc_store_sqlite::{Durability, SqliteStore};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::net::TcpListener;

/// What `build_state` needs: the storage and keys locations plus limits.
#[derive(Debug, Clone)]
pub struct StateOptions {
    pub storage_path: PathBuf,
    pub durability: Durability,
    pub keys_dir: PathBuf,
    pub create_keys: bool,
    pub admin_token: Option<String>,
    pub gateway: GatewaySettings,
    pub limits: CoreLimits,
}

impl From<&Settings> for StateOptions {
    fn from(settings: &Settings) -> Self {
        Self {
            storage_path: settings.storage_path.clone(),
            durability: settings.durability,
            keys_dir: settings.keys_dir.clone(),
            create_keys: settings.create_keys,
            admin_token: settings.admin_token.clone(),
            gateway: settings.gateway.clone(),
            limits: settings.limits.clone(),
        }
    }
}

/// Open the embedded backends and wire the domain service, the bus and the gateway together.
pub async fn build_state(options: StateOptions) -> anyhow::Result<AppState> {
    if let Some(parent) = options
        .storage_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the data directory {}", parent.display()))?;
    }
    let store = SqliteStore::open(&options.storage_path, options.durability)
        .await
        .context("opening the store")?;
    let bus = Arc::new(InProcessBus::new());
    let presence = Arc::new(InProcessPresence::new());
    assemble(options, Arc::new(store), bus, presence)
}

/// The production backends (`backend = "production"`): connects them, then assembles the same state on them.
/// The returned [`crate::backends::Production`] is shut down after the server drained.
pub async fn build_production_state(
    options: StateOptions,
    settings: &crate::backends::ProductionSettings,
) -> anyhow::Result<(AppState, crate::backends::Production)> {
    let production = crate::backends::Production::start(settings).await?;
    let state = assemble(
        options,
        Arc::clone(&production.store),
        Arc::clone(&production.bus),
        Arc::clone(&production.presence),
    )?;
    Ok((state, production))
}

/// Wires the domain service, the bus and the gateway together over the given backends.
fn assemble(
    options: StateOptions,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    presence: Arc<dyn Presence>,
) -> anyhow::Result<AppState> {
    let keys = KeyRing::load_dir(&options.keys_dir, options.create_keys)
        .context("loading the signing key ring")?;
    let max_connections = connection_limit(options.gateway.max_connections)?;
    let gateway = Arc::new(Gateway::new(options.gateway, max_connections));
    bus.subscribe(Arc::clone(&gateway) as Arc<dyn EventSink>);
    let service = Arc::new(ChatService::new(
        store,
        bus,
        presence,
        Arc::new(keys),
        options.limits,
    ));
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        service,
        gateway,
        metrics,
        readiness: Arc::new(AtomicBool::new(false)),
        admin_token: options.admin_token.map(Arc::from),
        demo_app: None,
    };
    spawn_key_reload(&state);
    Ok(state)
}

/// Raise the open-files limit (one descriptor per connection) and check the configured maximum of
/// connections against it, so a limit too low fails the start instead of `accept` under load.
fn connection_limit(configured: Option<usize>) -> anyhow::Result<usize> {
    let open_files = capacity::raise_open_files_limit();
    if let Some(error) = &open_files.raise_error {
        tracing::warn!(%error, soft = ?open_files.soft, hard = ?open_files.hard, "could not raise the open-files soft limit to the hard limit");
    }
    let max_connections = capacity::connection_capacity(configured, &open_files)?;
    tracing::info!(
        open_files_soft = ?open_files.soft,
        open_files_hard = ?open_files.hard,
        max_connections,
        "open-files limit in force"
    );
    Ok(max_connections)
}

/// Re-read the key ring periodically so rotation needs no restart.
fn spawn_key_reload(state: &AppState) {
    let keys = Arc::clone(state.service.keys());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(error) = keys.reload() {
                tracing::warn!(%error, "key ring reload failed; keeping the previous keys");
            }
        }
    });
}

/// The whole HTTP surface for the given roles.
pub fn app(state: AppState, roles: Roles, web: &WebAssets) -> Router {
    let mut router = api::router(&state, roles.api);
    if roles.gateway {
        router = router.route("/v1/ws", get(ws_handler));
    }
    router = web.mount(router);
    router
        .fallback(|| async {
            api::ApiError::new(ErrorCode::NotFound, "no such route; see /v1/openapi.json")
                .into_response()
        })
        .with_state(state)
}

/// Serve until `shutdown` resolves, then drain: readiness false, refuse new WebSockets, close open
/// ones with 1012 spread over the drain window, finish in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    state.set_ready(true);
    let drain_state = state.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: draining connections");
        drain_state.set_ready(false);
        drain_state.gateway.drain().await;
    };
    // TCP_NODELAY on every accepted socket. Without it Nagle's algorithm holds a small frame
    // while an earlier one is unacknowledged, and the client's delayed ACK releases it up to 40 ms
    // later: measured, that was the whole send-to-deliver p99 (~44 ms against a p50 of 2 ms).
    let listener =
        axum::serve::ListenerExt::tap_io(listener, |socket: &mut tokio::net::TcpStream| {
            if let Err(error) = socket.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
    axum::serve(listener, router.into_make_service())
        .with_graceful_shutdown(signal)
        .await
        .context("serving HTTP")?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
