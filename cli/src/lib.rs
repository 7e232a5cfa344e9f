//! `ccctl`: the operator's tool. `run` dispatches one subcommand; `main_entry` maps outcomes to exit codes.

pub mod args;
mod commands;
pub mod deploy;
pub mod env_file;
pub mod inventory;
pub mod playbook;
pub mod printer;
pub mod remote;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::printer::Printer;

/// A failure the user can fix (bad flag, bad plan, bad inventory): exit code 1.
/// Anything else that bubbles up as `anyhow::Error` is unexpected: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Parses the command line, runs the command and returns the process exit code.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(&cli.global);
    printer.init_logging(cli.global.verbose);
    match run(cli, &printer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            printer.error(&format!("{error:#}"));
            if error.downcast_ref::<UserError>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions(args) => commands::completions::run(&args, printer),
        Command::Check(args) => commands::check::run(&args, printer),
        Command::Status(args) => commands::status::run(&args, printer),
        Command::Render(args) => commands::render::run(&args, printer),
        Command::Up(args) => commands::up::run(&args, printer),
        Command::Plan(args) => commands::plan::run(&args, printer),
        Command::Deploy(args) => commands::deploy::run(&args, printer),
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
