//! `ccctl deploy` building blocks, pure: which steps a deploy runs for a desired and observed state
//! (`planner`), how that state is read (`observe`), the lock with a lease (`lock`), the audit log
//! (`audit`), swarm commands (`swarm`), the migrate task (`job`), the smoke test's inputs (`smoke`) and
//! what `status` shows (`status`). Executing goes through `crate::remote`.

pub mod audit;
pub mod desired;
pub mod image;
pub mod job;
pub mod lock;
pub mod observe;
pub mod planner;
pub mod run;
pub mod smoke;
pub mod status;
pub mod swarm;
