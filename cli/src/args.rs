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
    /// The running stack: services with running/desired replicas and images, node health, the release.
    Status(StatusArgs),
    /// Render a plan into a Swarm stack, a Compose file and every config file, validated.
    Render(RenderArgs),
    /// Run the whole platform in one process on this machine, with a demo app and web chat at `/`.
    Up(UpArgs),
    /// Size a deployment from MAU/PCC: hosts, services, replicas, resources and data-store topology,
    /// each number explained (`--explain`); `-o plan.yaml` writes the plan the other commands read.
    Plan(Box<PlanArgs>),
    /// Bring the rendered stack up on the plan's hosts over SSH: swarm, labels, images, stack,
    /// convergence; safe to re-run (`--dry-run` shows what would change).
    Deploy(Box<DeployArgs>),
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
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        required_unless_present = "check",
        conflicts_with = "check"
    )]
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

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Port to listen on (0 picks a free one; the URL printed says which).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Address to listen on: loopback only, since the demo login needs no credential.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,

    /// Where messages, keys and the demo app live [default: the user data directory + /ccplatform,
    /// e.g. ~/.local/share/ccplatform].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
}

/// Inputs of `ccctl plan`, as text: parsed and validated together so every problem is reported at once.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ccctl plan --mau 250k\n  ccctl plan --mau 50k --concurrency 0.05 --host-size 16c64g --explain\n  ccctl plan --sizing sizing.toml --output json\n  ccctl plan --mau 1.5M -o plan.yaml"
)]
pub struct PlanArgs {
    /// Monthly active users: 250000, 250k or 1.5M (1 to 100M).
    #[arg(long, value_name = "USERS", allow_hyphen_values = true)]
    pub mau: Option<String>,

    /// Peak concurrent connections, absolute (at most the MAU); instead of --concurrency.
    #[arg(long, value_name = "CONNECTIONS", allow_hyphen_values = true)]
    pub pcc: Option<String>,

    /// PCC as a share of MAU, in (0, 1] [default: 0.10, the reference's high-concurrency profile; 0.05 is
    /// its baseline].
    #[arg(long, value_name = "RATIO", allow_hyphen_values = true)]
    pub concurrency: Option<String>,

    /// Messages sent per daily active user per day [default: 40].
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Workload"
    )]
    pub messages_per_user_day: Option<String>,

    /// Average recipients of a message (fan-out) [default: 4].
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Workload"
    )]
    pub group_size: Option<String>,

    /// Peak-hour rate / daily average rate [default: 3].
    #[arg(
        long,
        value_name = "FACTOR",
        allow_hyphen_values = true,
        help_heading = "Workload"
    )]
    pub peak_factor: Option<String>,

    /// Average stored message size in bytes [default: 400].
    #[arg(
        long,
        value_name = "BYTES",
        allow_hyphen_values = true,
        help_heading = "Workload"
    )]
    pub message_bytes: Option<String>,

    /// Share of messages with an attachment, 0 to 1 [default: 0.05].
    #[arg(
        long,
        value_name = "SHARE",
        allow_hyphen_values = true,
        help_heading = "Workload"
    )]
    pub attachment_share: Option<String>,

    /// Average attachment size in KiB [default: 256].
    #[arg(
        long,
        value_name = "KIB",
        allow_hyphen_values = true,
        help_heading = "Workload"
    )]
    pub attachment_kib: Option<String>,

    /// Days of message history kept [default: 365].
    #[arg(
        long,
        value_name = "DAYS",
        allow_hyphen_values = true,
        help_heading = "Workload"
    )]
    pub retention_days: Option<String>,

    /// Size of each host: <vCPU>c<GiB>g with an optional <GiB>d data disk [default: 8c32g500d].
    #[arg(long, value_name = "SIZE")]
    pub host_size: Option<String>,

    /// compose, swarm or kubernetes [default: recommended from the size, with the reason printed].
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,

    /// Highly available: quorums of 3, two replicas per service [default: on, except the single-host
    /// development size].
    #[arg(long, overrides_with = "no_ha")]
    pub ha: bool,

    /// Not highly available: one instance of everything.
    #[arg(long, overrides_with = "ha")]
    pub no_ha: bool,

    /// Read the inputs from a TOML file (`version = 1`, keys like `mau`, `pcc`, `host_size`); flags
    /// override it.
    #[arg(long, value_name = "FILE")]
    pub sizing: Option<std::path::PathBuf>,

    /// Print the formula, coefficients and sources behind every number.
    #[arg(long)]
    pub explain: bool,

    /// Write the plan (YAML, with format version and content hash) for render, check and deploy.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The plan written by `ccctl plan` (its managers are asked, in order).
    #[arg(long, value_name = "FILE")]
    pub plan: std::path::PathBuf,

    /// The inventory mapping the plan's hosts to machines (TOML).
    #[arg(long, value_name = "FILE")]
    pub inventory: std::path::PathBuf,

    /// The environment's known-hosts file [default: `known_hosts` next to the inventory].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,

    /// Record the host keys of managers not yet in the known-hosts file.
    #[arg(long)]
    pub trust_new_host: bool,

    /// The stack name (the environment file's `stack_name`).
    #[arg(long, default_value = "cc")]
    pub stack: String,
}

// Independent on/off flags, as the command line has them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The plan written by `ccctl plan`.
    #[arg(long, value_name = "FILE")]
    pub plan: std::path::PathBuf,

    /// The inventory mapping the plan's hosts to machines (TOML).
    #[arg(long, value_name = "FILE")]
    pub inventory: std::path::PathBuf,

    /// The directory `ccctl render -o` wrote (stack.yml, secrets, configs, MANIFEST).
    #[arg(long, value_name = "DIR")]
    pub rendered: std::path::PathBuf,

    /// The environment's known-hosts file [default: `known_hosts` next to the inventory].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,

    /// Record the host keys of hosts not yet in the known-hosts file (compare the fingerprints first).
    #[arg(long)]
    pub trust_new_host: bool,

    /// Print every step and what it would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Replace the deploy lock even when its lease is live (only when its run is known to be dead).
    #[arg(long)]
    pub break_lock: bool,

    /// Do not run the pre-flight checks before changing hosts.
    #[arg(long, conflicts_with = "fix")]
    pub skip_prepare: bool,

    /// Let the pre-flight checks fix what they can through the playbooks (as `ccctl check --fix`).
    #[arg(long)]
    pub fix: bool,

    /// Use REFERENCE (already loaded here) for every stack image named NAME, e.g.
    /// `redis=registry.local/redis:7.4`; repeatable.
    #[arg(long, value_name = "NAME=REFERENCE")]
    pub image_override: Vec<String>,

    /// The ccserver binary to put in the image [default: `cargo build --release --bin ccserver`].
    #[arg(long, value_name = "FILE")]
    pub ccserver_binary: Option<std::path::PathBuf>,

    /// The stack name (the environment file's `stack_name`).
    #[arg(long, default_value = "cc")]
    pub stack: String,

    /// Seconds to wait for every service to run its desired replicas.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}
