//! Pure sizing model: MAU/PCC and workload assumptions in, a complete topology plan out.
//!
//! No I/O, no clock, no randomness: the same inputs always give the same plan, byte for byte.

pub mod plan;
pub mod plan_file;

pub use plan::*;
