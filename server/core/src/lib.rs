//! Chat domain core: apps, users, conversations, messages, receipts; storage, bus and presence traits.
//!
//! The domain rules (who may do what, validation, idempotency, `seq` order of publication) live in
//! [`service::ChatService`]; storage, event bus and presence are traits so that the embedded backends
//! here and the production backends of a later crate plug in without touching those rules.

pub mod auth;
pub mod bus;
pub mod error;
pub mod events;
pub mod ids;
pub mod inproc;
pub mod lanes;
pub mod model;
pub mod presence;
pub mod service;
pub mod store;
pub mod validate;

pub use error::{DomainError, DomainResult, StoreError};
pub use service::{ChatService, CoreLimits, Principal};
