//! Shared state of one server process.

use crate::gateway::Gateway;
use crate::metrics::Metrics;
use cc_core::ChatService;
use cc_core::ids::AppId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<ChatService>,
    pub gateway: Arc<Gateway>,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<AtomicBool>,
    /// The operator's admin token; `None` disables `POST /v1/apps`.
    pub admin_token: Option<Arc<str>>,
    /// The demo app when demo mode is on (`POST /demo/login`).
    pub demo_app: Option<AppId>,
}

impl AppState {
    pub fn is_ready(&self) -> bool {
        self.readiness.load(Ordering::Acquire) && !self.gateway.is_draining()
    }

    pub fn set_ready(&self, ready: bool) {
        self.readiness.store(ready, Ordering::Release);
    }
}
