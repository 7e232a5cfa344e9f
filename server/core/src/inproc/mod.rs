//! Embedded (single-process) backends of the bus and presence seams.

mod bus;
mod presence;

pub use bus::InProcessBus;
pub use presence::InProcessPresence;
