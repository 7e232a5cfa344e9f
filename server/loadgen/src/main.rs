//! `cc-loadgen` entry point: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser as _;

mod open_files;

fn main() -> ExitCode {
    let args = cc_loadgen::args::Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(error) = open_files::ensure_room_for(args.connections) {
        eprintln!("cc-loadgen: {error:#}");
        return ExitCode::from(2);
    }
    match cc_loadgen::run(&args) {
        Ok(cc_loadgen::Outcome::Clean) => ExitCode::SUCCESS,
        Ok(cc_loadgen::Outcome::Lost) => ExitCode::from(1),
        Err(error) => {
            eprintln!("cc-loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}
