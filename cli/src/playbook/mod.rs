//! Playbooks and pre-flight checks, pure: parse and validate the embedded `playbooks/*.yaml`, and build
//! every shell command run on a host (playbook steps, pre-flight probes) by unit-tested functions. The
//! executor that sends them over SSH lives in `crate::remote`.

pub(crate) mod catalog;
pub mod fixes;
pub(crate) mod model;
pub mod os;
pub mod render;
pub(crate) mod template;

pub use model::Playbook;
pub mod preflight;
