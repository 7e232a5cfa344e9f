//! Validated settings of a run: every problem with the flags is reported at once, before any connection.

use std::path::Path;
use std::time::Duration;

use crate::args::{Args, Peer};

#[derive(Debug, Clone)]
pub struct Settings {
    pub http_base: String,
    /// `host:port` of the server, for the TCP connections.
    pub server_address: std::net::SocketAddr,
    pub ws_url: String,
    pub peer: Peer,
    /// ccserver: the app's API key; Centrifugo: the token HMAC secret.
    pub api_key: String,
    pub connections: u32,
    pub rate: u32,
    pub duration: Duration,
    pub direct: bool,
    pub groups: u32,
    pub group_size: u32,
    pub group_share: f64,
    pub rest_share: f64,
    pub source_addresses: u32,
    pub setup_concurrency: usize,
    pub server_pid: Option<u32>,
    pub drain: Duration,
    pub deadline: Duration,
    pub json: bool,
    pub allow_loss: bool,
}

impl Settings {
    pub fn from_args(args: &Args) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        let mut duration_of = |flag: &str, value: &str| {
            parse_duration(value).unwrap_or_else(|| {
                problems.push(format!(
                    "--{flag} {value:?}: expected a duration like 30s, 2m or 500ms"
                ));
                Duration::ZERO
            })
        };
        let duration = duration_of("duration", &args.duration);
        let drain = duration_of("drain", &args.drain);
        let deadline = duration_of("deadline", &args.deadline);
        let api_key = match (args.peer, &args.api_key, &args.demo_file) {
            (Peer::Centrifugo, _, _) => args.centrifugo_secret.clone().unwrap_or_else(|| {
                problems.push("--peer centrifugo needs --centrifugo-secret (or CC_LOADGEN_CENTRIFUGO_SECRET): its client.token.hmac_secret_key".into());
                String::new()
            }),
            (Peer::Ccserver, Some(key), _) => key.clone(),
            (Peer::Ccserver, None, Some(path)) => match read_demo_key(path) {
                Ok(key) => key,
                Err(error) => {
                    problems.push(format!("--demo-file {}: {error:#}", path.display()));
                    String::new()
                }
            },
            (Peer::Ccserver, None, None) => {
                problems.push("an API key is needed: pass --api-key (or CC_API_KEY) or --demo-file <data dir>/demo.json".into());
                String::new()
            }
        };
        let base = args.url.trim_end_matches('/').to_owned();
        let authority = base
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or_default().to_owned());
        let server_address = match authority.as_deref().map(str::parse::<std::net::SocketAddr>) {
            Some(Ok(address)) if address.ip().is_loopback() => Some(address),
            Some(Ok(address)) => {
                problems.push(format!("--url {base}: {address} is not a loopback address; load runs only against 127.0.0.0/8"));
                None
            }
            _ => {
                problems.push(format!("--url {base}: expected http://<IPv4 loopback address>:<port>, e.g. http://127.0.0.1:8080"));
                None
            }
        };
        if args.connections == 0 {
            problems.push("--connections must be at least 1".into());
        }
        if args.connections > 1_000_000 {
            problems.push("--connections is capped at 1,000,000".into());
        }
        if !(0.0..=1.0).contains(&args.group_share) {
            problems.push(format!(
                "--group-share {}: expected a fraction between 0 and 1",
                args.group_share
            ));
        }
        if !(0.0..=1.0).contains(&args.rest_share) {
            problems.push(format!(
                "--rest-share {}: expected a fraction between 0 and 1",
                args.rest_share
            ));
        }
        if args.peer == Peer::Centrifugo && args.rest_share > 0.0 {
            problems.push(
                "--rest-share is for ccserver's REST API; leave it at 0 with --peer centrifugo"
                    .into(),
            );
        }
        if !args.direct && args.groups == 0 {
            problems.push("no conversations: keep --direct true or add --groups".into());
        }
        if args.groups > 0 && args.group_size < 2 {
            problems.push("--group-size must be at least 2".into());
        }
        if !(1..=249).contains(&args.source_addresses) {
            problems.push(
                "--source-addresses must be between 1 and 249 (127.0.0.2–127.0.0.250)".into(),
            );
        }
        if duration > Duration::from_secs(3600) {
            problems.push("--duration is capped at 1h".into());
        }
        if !problems.is_empty() {
            anyhow::bail!("invalid flags:\n  - {}", problems.join("\n  - "));
        }
        let server_address = server_address.ok_or_else(|| anyhow::anyhow!("--url is invalid"))?;
        Ok(Self {
            ws_url: match args.peer {
                Peer::Ccserver => format!("ws://{server_address}/v1/ws"),
                Peer::Centrifugo => format!("ws://{server_address}/connection/websocket"),
            },
            peer: args.peer,
            http_base: base,
            server_address,
            api_key,
            connections: args.connections,
            rate: args.rate,
            duration,
            direct: args.direct,
            groups: args.groups,
            group_size: args.group_size,
            group_share: args.group_share,
            rest_share: args.rest_share,
            source_addresses: args.source_addresses,
            setup_concurrency: args.setup_concurrency.max(1),
            server_pid: args.server_pid,
            drain,
            deadline,
            json: args.json,
            allow_loss: args.allow_loss,
        })
    }
}

fn read_demo_key(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    value
        .get("api_key")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no string field `api_key`"))
}

/// `30s`, `2m`, `500ms`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(number)),
        "ms" => Some(Duration::from_millis(number)),
        "m" => Some(Duration::from_secs(number * 60)),
        "h" => Some(Duration::from_secs(number * 3600)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn durations() {
        for (text, expected) in [
            ("30s", Some(Duration::from_secs(30))),
            ("500ms", Some(Duration::from_millis(500))),
            ("2m", Some(Duration::from_secs(120))),
            ("7", Some(Duration::from_secs(7))),
            ("1h", Some(Duration::from_secs(3600))),
            ("3d", None),
            ("s", None),
        ] {
            assert_eq!(parse_duration(text), expected, "{text}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let args = Args::parse_from([
            "cc-loadgen",
            "--url",
            "http://10.0.0.1:80",
            "--connections",
            "0",
            "--duration",
            "forever",
            "--group-share",
            "2",
        ]);
        let error = format!("{:#}", Settings::from_args(&args).unwrap_err());
        for needle in [
            "API key",
            "loopback",
            "--connections",
            "--duration",
            "--group-share",
        ] {
            assert!(error.contains(needle), "{needle} missing from: {error}");
        }
    }

    #[test]
    fn centrifugo_needs_its_token_secret() {
        let error = Settings::from_args(&Args::parse_from([
            "cc-loadgen",
            "--peer",
            "centrifugo",
            "--rest-share",
            "0.5",
        ]))
        .unwrap_err();
        let error = format!("{error:#}");
        assert!(error.contains("--centrifugo-secret"), "{error}");
        assert!(error.contains("--rest-share"), "{error}");
        let settings = Settings::from_args(&Args::parse_from([
            "cc-loadgen",
            "--peer",
            "centrifugo",
            "--centrifugo-secret",
            "s",
            "--url",
            "http://127.0.0.1:8000",
        ]))
        .unwrap();
        assert_eq!(settings.ws_url, "ws://127.0.0.1:8000/connection/websocket");
        assert_eq!(settings.api_key, "s");
    }

    #[test]
    fn valid_flags() {
        let args = Args::parse_from([
            "cc-loadgen",
            "--api-key",
            "cck_a_b",
            "--url",
            "http://127.0.0.1:9000/",
        ]);
        let settings = Settings::from_args(&args).unwrap();
        assert_eq!(settings.ws_url, "ws://127.0.0.1:9000/v1/ws");
        assert_eq!(settings.http_base, "http://127.0.0.1:9000");
    }
}
