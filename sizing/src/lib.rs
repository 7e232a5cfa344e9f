//! Pure sizing model: MAU/PCC and workload assumptions in, a complete topology plan out.
//!
//! No I/O, no clock, no randomness: the same inputs always give the same plan, byte for byte.
//! Flow: [`RawInputs`] (flags or a `--sizing` file) → [`RawInputs::validate`] → [`plan()`] → [`Planned`]
//! (a sealed [`Plan`] and the [`Explanation`] of each of its numbers) → [`plan_file::to_yaml`].

pub mod coefficients;
pub mod explain;
pub mod inputs;
mod model;
mod placement;
pub mod plan;
pub mod plan_file;

pub use coefficients::{Coefficient, Coefficients};
pub use explain::Explanation;
pub use inputs::{Field, InputIssue, RawInputs, RawValue, ValidInputs};
pub use model::{PlanError, Planned, plan, plan_with};
pub use plan::*;
