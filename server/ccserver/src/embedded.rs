//! Single-process mode for `ccctl up`: every role, SQLite in the data directory, a demo app.

use crate::config::{GatewaySettings, Roles};
use crate::demo::{self, DemoApp};
use crate::server::{self, StateOptions};
use crate::web::WebAssets;
use anyhow::Context as _;
use cc_core::CoreLimits;
use cc_core::ids::AppId;
use cc_store_sqlite::Durability;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

pub type ShutdownFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct EmbeddedOptions {
    /// Where to listen; port 0 picks a free one (see [`RunningServer::local_addr`]).
    pub listen: SocketAddr,
    /// Holds `chat.db`, `keys/` and `demo.json`; created if missing.
    pub data_dir: PathBuf,
    pub roles: Roles,
    pub web: WebAssets,
    /// Resolves when the server should drain and stop; `None` waits for SIGINT/SIGTERM.
    pub shutdown: Option<ShutdownFuture>,
    pub gateway: GatewaySettings,
    pub limits: CoreLimits,
}

impl EmbeddedOptions {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            roles: Roles::ALL,
            web: WebAssets::None,
            shutdown: None,
            gateway: GatewaySettings::default(),
            limits: CoreLimits::default(),
        }
    }
}

pub struct RunningServer {
    pub local_addr: SocketAddr,
    /// `http://<local_addr>/`
    pub url: String,
    pub demo: DemoApp,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Wait until the server has drained and stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server task panicked")?
    }
}

/// Bind, open the data directory, create the demo app on first start, and serve in a background task.
pub async fn run(options: EmbeddedOptions) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating the data directory {}", options.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("binding {}", options.listen))?;
    let local_addr = listener.local_addr().context("reading the bound address")?;
    let mut gateway = options.gateway;
    // The demo page is served from this very origin.
    for host in ["127.0.0.1", "localhost"] {
        gateway
            .allowed_origins
            .push(format!("http://{host}:{}", local_addr.port()));
    }
    let state_options = StateOptions {
        storage_path: options.data_dir.join("chat.db"),
        durability: Durability::Normal,
        keys_dir: options.data_dir.join("keys"),
        create_keys: true,
        admin_token: None,
        gateway,
        limits: options.limits,
    };
    let mut state = server::build_state(state_options).await?;
    let demo = demo::ensure(&state.service, &options.data_dir).await?;
    state.demo_app = Some(AppId(demo.app_id.clone()));
    let router = server::app(state.clone(), options.roles, &options.web);
    let shutdown = options
        .shutdown
        .unwrap_or_else(|| Box::pin(server::shutdown_signal()));
    let task = tokio::spawn(server::run(listener, state, router, shutdown));
    Ok(RunningServer {
        local_addr,
        url: format!("http://{local_addr}/"),
        demo,
        task,
    })
}
