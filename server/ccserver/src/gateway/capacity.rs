//! How many WebSocket connections this process can hold: each takes one file descriptor, so the
//! open-files limit (`RLIMIT_NOFILE`) bounds it. At start the soft limit is raised to the hard one,
//! and a configured `gateway.max_connections` above what the limit allows fails the start instead
//! of failing `accept` later under load.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for everything that is not a WebSocket: the listener, SQLite's database, WAL
/// and shm files of each pooled connection, REST requests in flight, the runtime's epoll and
/// eventfds, key files, outbound connections of the production backends.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// The open-files limit after [`raise_open_files_limit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit in force (what `accept` is held to); `None` is unlimited.
    pub soft: Option<u64>,
    /// The hard limit: the most an unprivileged process may raise `soft` to.
    pub hard: Option<u64>,
    /// Why the soft limit could not be raised, if it could not.
    pub raise_error: Option<String>,
}

/// Raise the soft open-files limit to the hard limit. Never fails: when raising is refused the
/// limit in force is returned with the reason.
pub fn raise_open_files_limit() -> OpenFiles {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current == maximum {
        return OpenFiles {
            soft: current,
            hard: maximum,
            raise_error: None,
        };
    }
    let raised = Rlimit {
        current: maximum,
        maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => OpenFiles {
            soft: maximum,
            hard: maximum,
            raise_error: None,
        },
        Err(error) => OpenFiles {
            soft: current,
            hard: maximum,
            raise_error: Some(error.to_string()),
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "gateway.max_connections = {configured} exceeds what the open-files limit allows ({allowed} = \
     soft limit {soft} - {RESERVED_DESCRIPTORS} reserved descriptors; hard limit {hard}): lower \
     gateway.max_connections, or raise the limit (systemd LimitNOFILE=, Docker/Swarm `ulimits: \
     nofile:`, /etc/security/limits.conf `nofile`, or `ulimit -Hn` as root before starting)"
)]
pub struct CapacityError {
    pub configured: usize,
    pub allowed: usize,
    pub soft: u64,
    pub hard: String,
}

/// The most connections to accept: the configured maximum, or what the limit allows when none is
/// configured. Pure, so the arithmetic is tested without touching the process's limits.
pub fn connection_capacity(
    configured: Option<usize>,
    open_files: &OpenFiles,
) -> Result<usize, CapacityError> {
    let allowed = open_files.soft.map_or(usize::MAX, |soft| {
        usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
    });
    match configured {
        None => Ok(allowed),
        Some(configured) if configured <= allowed => Ok(configured),
        Some(configured) => Err(CapacityError {
            configured,
            allowed,
            soft: open_files.soft.unwrap_or(u64::MAX),
            hard: open_files
                .hard
                .map_or_else(|| "unlimited".to_owned(), |hard| hard.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft: Option<u64>) -> OpenFiles {
        OpenFiles {
            soft,
            hard: soft,
            raise_error: None,
        }
    }

    #[test]
    fn capacity_follows_the_limit_and_the_configuration() {
        for (configured, soft, expected) in [
            (None, Some(20_000), Ok(19_744)),
            (None, None, Ok(usize::MAX)),
            (Some(10_000), Some(20_000), Ok(10_000)),
            (Some(19_744), Some(20_000), Ok(19_744)),
            (Some(19_745), Some(20_000), Err(19_744)),
            (Some(50_000), None, Ok(50_000)),
            (None, Some(100), Ok(0)),
        ] {
            let result = connection_capacity(configured, &limit(soft)).map_err(|e| e.allowed);
            assert_eq!(result, expected, "{configured:?} with soft limit {soft:?}");
        }
    }

    #[test]
    fn the_error_names_the_field_and_the_fix() {
        let error = connection_capacity(Some(50_000), &limit(Some(20_000))).unwrap_err();
        let text = error.to_string();
        for needle in ["gateway.max_connections = 50000", "19744", "LimitNOFILE"] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }

    #[test]
    fn raising_keeps_or_lifts_the_soft_limit() {
        let before = getrlimit(Resource::Nofile);
        let after = raise_open_files_limit();
        assert_eq!(after.hard, before.maximum);
        if after.raise_error.is_none() {
            assert_eq!(after.soft, before.maximum);
        }
    }
}
