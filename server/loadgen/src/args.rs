//! Command line of `cc-loadgen` (clap only); `settings` turns it into a validated `Settings`.

use clap::Parser;

/// Load generator and delivery checker for ccserver: opens N WebSocket connections, sends M messages per
/// second across 1:1 and group conversations for a bounded time, then prints send-to-deliver latency,
/// deliveries/s, CPU, server RSS per connection, and lost/duplicated/reordered deliveries.
#[derive(Debug, Parser)]
#[command(name = "cc-loadgen", version, about)]
pub struct Args {
    /// Base URL of the server (REST and WebSocket), e.g. http://127.0.0.1:8080.
    #[arg(long, env = "CC_LOADGEN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// The server under load: ccserver, or Centrifugo v6 for side-by-side runs of the same workload
    /// (one channel per conversation; see `--centrifugo-secret`).
    #[arg(long, value_enum, default_value_t = Peer::Ccserver)]
    pub peer: Peer,

    /// With `--peer centrifugo`: the HMAC secret of its `client.token.hmac_secret_key`, to sign the
    /// users' connection tokens with.
    #[arg(long, env = "CC_LOADGEN_CENTRIFUGO_SECRET", hide_env_values = true)]
    pub centrifugo_secret: Option<String>,

    /// An API key of the app to load (`cck_…`); `ccctl up` prints the demo app's key on first start.
    #[arg(long, env = "CC_API_KEY", conflicts_with = "demo_file")]
    pub api_key: Option<String>,

    /// Read the API key from the demo file of `ccctl up` (`<data dir>/demo.json`) instead.
    #[arg(long)]
    pub demo_file: Option<std::path::PathBuf>,

    /// WebSocket connections to open (one user each).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub connections: u32,

    /// Messages per second, across all conversations.
    #[arg(short = 'm', long, default_value_t = 1000)]
    pub rate: u32,

    /// How long to send, e.g. 30s, 2m, 500ms.
    #[arg(short = 'd', long, default_value = "20s")]
    pub duration: String,

    /// Pair users into 1:1 conversations (users 0–1, 2–3, …).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub direct: bool,

    /// Number of group conversations.
    #[arg(long, default_value_t = 0)]
    pub groups: u32,

    /// Members per group.
    #[arg(long, default_value_t = 50)]
    pub group_size: u32,

    /// Fraction of messages sent to groups (0–1); the rest go to 1:1 conversations.
    #[arg(long, default_value_t = 0.5)]
    pub group_share: f64,

    /// Loopback source addresses to spread connections over (127.0.0.2 upward, at most 249).
    #[arg(long, default_value_t = 249)]
    pub source_addresses: u32,

    /// Connections and REST calls in flight at once while setting up.
    #[arg(long, default_value_t = 128)]
    pub setup_concurrency: usize,

    /// Server process id: its RSS (/proc/<pid>/status) and CPU are reported.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// After sending stops, outstanding deliveries are awaited for as long as they keep arriving;
    /// once none has arrived (nor any ack) for this long, what is still missing counts as lost.
    #[arg(long, default_value = "5s")]
    pub drain: String,

    /// Upper bound on the whole run, setup included; the run stops and reports when it is reached.
    #[arg(long, default_value = "10m")]
    pub deadline: String,

    /// Fraction of sends (0–1) made through REST (`POST /v1/conversations/{id}/messages`, which a balancer
    /// routes to the API replicas) instead of the WebSocket; retried with the same `client_msg_id` until
    /// answered, so a replica that dies mid-request is covered by the others.
    #[arg(long, default_value_t = 0.0)]
    pub rest_share: f64,

    /// Print the result as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Exit 0 even when acknowledged messages were lost (default: exit 1).
    #[arg(long)]
    pub allow_loss: bool,
}

/// Which server a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    Ccserver,
    Centrifugo,
}
