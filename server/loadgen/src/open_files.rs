//! The open-files limit of the load generator: one descriptor per connection, so the soft limit is
//! raised to the hard one before connecting, and a run that cannot fit is refused up front instead
//! of failing half-way with "Too many open files".

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for the REST client's pool, the runtime and stdio.
const RESERVED: u64 = 256;

/// Raise the soft limit to the hard limit and check that `connections` fit; returns the soft limit.
pub fn ensure_room_for(connections: u32) -> anyhow::Result<Option<u64>> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let mut soft = current;
    if current != maximum {
        match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: maximum,
                maximum,
            },
        ) {
            Ok(()) => soft = maximum,
            Err(error) => {
                tracing::warn!(%error, ?current, ?maximum, "could not raise the open-files soft limit");
            }
        }
    }
    tracing::info!(soft = ?soft, hard = ?maximum, "open-files limit");
    if let Some(soft) = soft {
        let needed = u64::from(connections) + RESERVED;
        anyhow::ensure!(
            needed <= soft,
            "--connections {connections} needs about {needed} open files but this process may open {soft} \
             (hard limit {}): lower --connections, run several cc-loadgen processes, or raise the limit \
             (`ulimit -Hn` as root, systemd LimitNOFILE=, /etc/security/limits.conf)",
            maximum.map_or_else(|| "unlimited".to_owned(), |m| m.to_string())
        );
    }
    Ok(soft)
}
