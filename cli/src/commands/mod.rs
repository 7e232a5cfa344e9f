//! One module per subcommand, named exactly like the subcommand.

pub mod check;
pub mod completions;
pub mod deploy;
pub mod plan;
pub mod render;
pub mod status;
pub mod up;
