//! Command-line surface (clap types only). Turned into settings before any work starts.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The operator's tool for the chat platform.
#[derive(Debug, Parser)]
#[command(name = "ccctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Output format of the data printed on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// JSON, for machines.
    Json,
    /// YAML, for machines and humans.
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Pre-flight checks of every host over SSH (OS, size, ports, clock, Docker, kernel settings,
    /// reachability); `--fix` fixes what it can through the playbooks, then checks again.
    Check(CheckArgs),
    /// Render a plan into a Swarm stack, a Compose file and every config file, validated.
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The plan file written by `ccctl plan -o`.
    #[arg(long, value_name = "FILE")]
    pub plan: std::path::PathBuf,

    /// The environment file (TOML): domain, TLS, image versions, secrets directory.
    #[arg(long, value_name = "FILE")]
    pub env: std::path::PathBuf,

    /// Directory to write; replaced as a whole (it must be absent, empty or a previous render).
    #[arg(short = 'o', long = "out", value_name = "DIR", required_unless_present = "check", conflicts_with = "check")]
    pub out: Option<std::path::PathBuf>,

    /// Re-render and compare with DIR: print a unified diff and exit 1 on drift. Writes nothing.
    #[arg(long, value_name = "DIR")]
    pub check: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plan written by `ccctl plan`.
    #[arg(long, value_name = "FILE")]
    pub plan: std::path::PathBuf,

    /// The inventory mapping the plan's hosts to machines (TOML).
    #[arg(long, value_name = "FILE")]
    pub inventory: std::path::PathBuf,

    /// The environment's known-hosts file [default: `known_hosts` next to the inventory].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,

    /// Record the host keys of hosts not yet in the known-hosts file (compare the fingerprints first).
    /// Never overrides a changed key.
    #[arg(long)]
    pub trust_new_host: bool,

    /// Fix the fixable warnings and failures through the playbooks, then check again.
    #[arg(long)]
    pub fix: bool,

    /// Run only this check (an id from the table, or a prefix such as `sysctl`); repeatable.
    #[arg(long, value_name = "CHECK")]
    pub only: Vec<String>,
}
