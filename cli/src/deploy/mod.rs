//! `ccctl deploy` building blocks. `planner` is pure: which steps a deploy runs for a given desired and
//! observed state. Observing the state and executing the steps go through `crate::remote`.

pub mod planner;
pub mod status;
