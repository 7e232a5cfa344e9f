//! Process figures from Linux's /proc: resident memory of the server, CPU time of the server and of the
//! load generator itself.

use std::path::PathBuf;

/// Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// Resident set size in bytes (`VmRSS` of /proc/<pid>/status).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = std::fs::read_to_string(&path).map_err(|error| {
        anyhow::anyhow!(
            "reading {}: {error} (is --server-pid right?)",
            path.display()
        )
    })?;
    parse_vm_rss(&text).ok_or_else(|| anyhow::anyhow!("no VmRSS line in {}", path.display()))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User + system CPU seconds used so far by `pid` (`self` for this process).
pub fn cpu_seconds(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|error| anyhow::anyhow!("reading {path}: {error}"))?;
    parse_cpu_ticks(&text)
        .map(|ticks| ticks as f64 / TICKS_PER_SECOND)
        .ok_or_else(|| anyhow::anyhow!("unexpected format of {path}"))
}

/// utime + stime: fields 14 and 15, counted after the `(comm)` field, which may itself contain spaces.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        assert_eq!(
            parse_vm_rss("Name:\tccctl\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        let stat =
            "1234 (cc ctl) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn reads_this_process() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(cpu_seconds(None).unwrap() >= 0.0);
    }
}
