//! Renders a plan into a Swarm stack and every config file, from embedded minijinja templates.
//!
//! Pure: `from_plan` builds a [`Model`] from a plan and an [`Environment`]; [`render`] turns it into a sorted
//! map of path → bytes (with a `MANIFEST`). Reading files and writing the output directory is the CLI's job.

mod adapter;
mod assemble;
pub mod environment;
mod error;
pub mod lint;
pub mod manifest;
pub mod model;
mod plan_check;
mod render;
pub mod sample;
mod services;

pub use adapter::from_plan;
pub use assemble::{APP_ROLES, PENDING_ROLES, Parts, Sizing, assemble};
pub use environment::{Domain, DomainError, Environment, Hostnames, Images, SecretFile, SecretKey};
pub use error::{Problem, RenderError};
pub use manifest::Manifest;
pub use model::Model;
pub use render::{DASHBOARDS, render, template_names};
