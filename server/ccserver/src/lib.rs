//! The chat platform server: one binary, any set of roles (`api`, `gateway`).
//!
//! Library entry points: [`embedded::run`] for `ccctl up`, [`server::build_state`] + [`server::app`]
//! + [`server::run`] for the `ccserver` binary and tests.

pub mod api;
pub mod backends;
pub mod config;
pub mod demo;
pub mod embedded;
pub mod env;
pub mod gateway;
pub mod healthcheck;
pub mod metrics;
pub mod migrate;
pub mod server;
pub mod state;
pub mod web;

pub use config::{GatewaySettings, Roles};
pub use embedded::{EmbeddedOptions, RunningServer};
pub use state::AppState;
pub use web::WebAssets;
