//! Kernel-setting probes: sysctls the plan needs, swap and transparent huge pages on data hosts.

use crate::playbook::preflight::{CommandOutput, Outcome, Status, unreadable};
use crate::playbook::template::shell_quote;

/// What a sysctl must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysctlRequirement {
    /// A number at least this big.
    AtLeast(u64),
    /// A `low high` range (`net.ipv4.ip_local_port_range`) covering at least this one.
    Covers { low: u64, high: u64 },
    /// Exactly this value (whitespace collapsed).
    Equals(String),
}

/// One sysctl a host needs, and why (shown in the message so the operator can judge it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlNeed {
    pub key: String,
    pub requirement: SysctlRequirement,
    pub reason: String,
}

pub(crate) fn sysctl_command(key: &str) -> String {
    format!("sysctl -n {}", shell_quote(key))
}

fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn range(value: &str) -> Option<(u64, u64)> {
    let mut parts = value.split_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(low)), Some(Ok(high)), None) => Some((low, high)),
        _ => None,
    }
}

pub(crate) fn evaluate_sysctl(id: &str, need: &SysctlNeed, output: &CommandOutput) -> Outcome {
    if !output.success() {
        // A key that does not exist yet: the conntrack table appears when nf_conntrack is loaded, which
        // Docker does. Nothing `sysctl -w` can set until then.
        return Outcome::new(
            id,
            Status::Warn,
            format!(
                "not available on this kernel yet ({}); re-check after Docker is installed and running",
                output.failure_summary()
            ),
        );
    }
    let current = collapse(&output.stdout);
    let (ok, wanted, fix_value) = match &need.requirement {
        SysctlRequirement::AtLeast(minimum) => {
            let Ok(value) = current.parse::<u64>() else {
                return unreadable(id, output);
            };
            (
                value >= *minimum,
                format!("≥ {minimum}"),
                minimum.to_string(),
            )
        }
        SysctlRequirement::Covers { low, high } => {
            let Some((current_low, current_high)) = range(&current) else {
                return unreadable(id, output);
            };
            // Widen, never narrow: keep whichever side is already wider.
            let fixed = format!("{} {}", current_low.min(*low), current_high.max(*high));
            (
                current_low <= *low && current_high >= *high,
                format!("covering {low}–{high}"),
                fixed,
            )
        }
        SysctlRequirement::Equals(expected) => {
            let expected = collapse(expected);
            (
                current == expected,
                format!("= {expected}"),
                expected.clone(),
            )
        }
    };
    if ok {
        Outcome::new(
            id,
            Status::Pass,
            format!("{current} (needs {wanted}: {})", need.reason),
        )
    } else {
        Outcome::new(
            id,
            Status::Fail,
            format!("{current}, needs {wanted} ({})", need.reason),
        )
        .fixable("sysctl", &[("key", &need.key), ("value", &fix_value)])
    }
}

/// `/proc/swaps` has a header line and one line per active swap area.
/// `<daemon>=<hard nofile>` for each of dockerd and containerd that runs.
pub(crate) const DAEMON_NOFILE_COMMAND: &str = "for daemon in dockerd containerd; do \
pid=$(pidof -s \"$daemon\") && awk -v d=\"$daemon\" '/^Max open files/ {print d \"=\" $5}' /proc/$pid/limits; \
done; true";

pub(crate) fn evaluate_daemon_nofile(id: &str, needed: u64, output: &CommandOutput) -> Outcome {
    if !output.success() {
        return unreadable(id, output);
    }
    let limits = super::key_values(&output.stdout);
    if limits.is_empty() {
        return Outcome::new(
            id,
            Status::Warn,
            "no Docker daemon runs yet: checked after install",
        );
    }
    let low: Vec<String> = limits
        .iter()
        .filter(|(_, value)| {
            **value != "unlimited" && value.parse::<u64>().map_or(true, |limit| limit < needed)
        })
        .map(|(daemon, value)| format!("{daemon} {value}"))
        .collect();
    if low.is_empty() {
        Outcome::new(
            id,
            Status::Pass,
            format!("dockerd and containerd allow {needed} open files per container"),
        )
    } else {
        Outcome::new(
            id,
            Status::Fail,
            format!(
                "{} below the {needed} open files a container asks for: its tasks fail with `error setting rlimits`",
                low.join(", ")
            ),
        )
        .fixable("docker-nofile", &[("nofile", &needed.to_string())])
    }
}

/// `loaded`, `loadable` (the module exists, not loaded yet) or `missing`.
pub(crate) const IPVS_COMMAND: &str = "if [ -d /proc/net/ip_vs ] || grep -qw ip_vs /proc/modules 2>/dev/null; then echo loaded; \
elif modprobe -n ip_vs >/dev/null 2>&1; then echo loadable; else echo missing; fi";

pub(crate) fn evaluate_ipvs(id: &str, output: &CommandOutput) -> Outcome {
    match output.stdout.trim() {
        "loaded" => Outcome::new(id, Status::Pass, "ip_vs loaded: Swarm's virtual IPs route"),
        "loadable" => Outcome::new(
            id,
            Status::Warn,
            "ip_vs not loaded yet (Docker loads it with the first service); load it at boot",
        )
        .fixable("ipvs", &[]),
        "missing" => Outcome::new(
            id,
            Status::Fail,
            "this kernel has no ip_vs: Swarm's service virtual IPs do not route (services must use \
             endpoint_mode dnsrr); use a kernel with IPVS",
        ),
        _ => unreadable(id, output),
    }
}

pub(crate) const SWAP_COMMAND: &str = "cat /proc/swaps";

pub(crate) fn evaluate_swap(id: &str, output: &CommandOutput) -> Outcome {
    if !output.success() {
        return unreadable(id, output);
    }
    let areas: Vec<&str> = output
        .stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    if areas.is_empty() {
        Outcome::new(id, Status::Pass, "off")
    } else {
        Outcome::new(
            id,
            Status::Warn,
            format!(
                "on ({}): a data store that swaps stalls the whole host; turn it off",
                areas.join(", ")
            ),
        )
        .fixable("swap", &[])
    }
}

pub(crate) const THP_COMMAND: &str = "cat /sys/kernel/mm/transparent_hugepage/enabled";

pub(crate) fn evaluate_thp(id: &str, output: &CommandOutput) -> Outcome {
    if !output.success() {
        // Kernels built without THP have no such file: nothing to turn off.
        return Outcome::new(id, Status::Pass, "not supported by this kernel");
    }
    let selected = output.stdout.split_whitespace().find_map(|word| {
        word.strip_prefix('[')
            .and_then(|word| word.strip_suffix(']'))
    });
    match selected {
        Some("never") => Outcome::new(id, Status::Pass, "never"),
        Some(mode @ ("always" | "madvise")) => Outcome::new(
            id,
            Status::Warn,
            format!(
                "{mode}: Redis, TiKV and MongoDB recommend `never` (compaction stalls add latency)"
            ),
        )
        .fixable("transparent-hugepages", &[]),
        _ => unreadable(id, output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::preflight::test_support::{failed, ok};

    fn need(key: &str, requirement: SysctlRequirement) -> SysctlNeed {
        SysctlNeed {
            key: key.into(),
            requirement,
            reason: "test".into(),
        }
    }

    #[test]
    fn sysctl_table() {
        let at_least = need("net.core.somaxconn", SysctlRequirement::AtLeast(65535));
        let covers = need(
            "net.ipv4.ip_local_port_range",
            SysctlRequirement::Covers {
                low: 1024,
                high: 65535,
            },
        );
        let equals = need(
            "net.ipv4.tcp_tw_reuse",
            SysctlRequirement::Equals("1".into()),
        );
        let cases = [
            (&at_least, ok("4096\n"), Status::Fail, Some("65535")),
            (&at_least, ok("65535\n"), Status::Pass, None),
            (&at_least, ok("131072\n"), Status::Pass, None),
            (
                &covers,
                ok("32768\t60999\n"),
                Status::Fail,
                Some("1024 65535"),
            ),
            (
                &covers,
                ok("1024\t65000\n"),
                Status::Fail,
                Some("1024 65535"),
            ),
            (&covers, ok("1000\t65535\n"), Status::Pass, None),
            (&equals, ok("2\n"), Status::Fail, Some("1")),
            (&equals, ok("1\n"), Status::Pass, None),
        ];
        for (need, output, status, fix_value) in cases {
            let outcome = evaluate_sysctl("id", need, &output);
            assert_eq!(
                outcome.status, status,
                "{need:?} {output:?}: {}",
                outcome.message
            );
            assert_eq!(
                outcome
                    .fix
                    .as_ref()
                    .and_then(|fix| fix.params.get("value"))
                    .map(String::as_str),
                fix_value
            );
        }
        let outcome = evaluate_sysctl("id", &covers, &ok("32768\t60999\n"));
        assert_eq!(
            outcome.message,
            "32768 60999, needs covering 1024–65535 (test)"
        );
    }

    #[test]
    fn missing_sysctl_is_a_warning_without_fix() {
        let conntrack = need(
            "net.netfilter.nf_conntrack_max",
            SysctlRequirement::AtLeast(262_144),
        );
        let outcome = evaluate_sysctl(
            "id",
            &conntrack,
            &failed(
                255,
                "",
                "sysctl: cannot stat /proc/sys/net/netfilter/nf_conntrack_max: No such file or directory\n",
            ),
        );
        assert_eq!(outcome.status, Status::Warn);
        assert!(outcome.fix.is_none());
    }

    #[test]
    fn garbage_is_unreadable() {
        let at_least = need("k", SysctlRequirement::AtLeast(1));
        assert_eq!(
            evaluate_sysctl("id", &at_least, &ok("abc")).status,
            Status::Fail
        );
        assert!(evaluate_sysctl("id", &at_least, &ok("abc")).fix.is_none());
    }

    #[test]
    fn daemon_nofile_table() {
        let enough = evaluate_daemon_nofile(
            "docker:nofile",
            500_000,
            &ok("dockerd=1048576\ncontainerd=1048576\n"),
        );
        assert_eq!(enough.status, Status::Pass);
        let low = evaluate_daemon_nofile(
            "docker:nofile",
            500_000,
            &ok("dockerd=20000\ncontainerd=1048576\n"),
        );
        assert_eq!(low.status, Status::Fail);
        assert!(
            low.message.starts_with("dockerd 20000 below"),
            "{}",
            low.message
        );
        assert_eq!(
            low.fix
                .as_ref()
                .map(|fix| (fix.playbook.as_str(), fix.params["nofile"].as_str())),
            Some(("docker-nofile", "500000"))
        );
        assert_eq!(
            evaluate_daemon_nofile("docker:nofile", 10, &ok("dockerd=unlimited\n")).status,
            Status::Pass
        );
        assert_eq!(
            evaluate_daemon_nofile("docker:nofile", 10, &ok("")).status,
            Status::Warn
        );
    }

    #[test]
    fn ipvs_table() {
        assert_eq!(
            evaluate_ipvs("kernel:ipvs", &ok("loaded\n")).status,
            Status::Pass
        );
        let loadable = evaluate_ipvs("kernel:ipvs", &ok("loadable\n"));
        assert_eq!(loadable.status, Status::Warn);
        assert_eq!(
            loadable.fix.as_ref().map(|fix| fix.playbook.as_str()),
            Some("ipvs")
        );
        let missing = evaluate_ipvs("kernel:ipvs", &ok("missing\n"));
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.fix.is_none());
    }

    #[test]
    fn swap_table() {
        let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert_eq!(evaluate_swap("swap", &ok(header)).status, Status::Pass);
        let on = evaluate_swap(
            "swap",
            &ok(&format!("{header}/swapfile  file  2097148  0  -2\n")),
        );
        assert_eq!(on.status, Status::Warn);
        assert_eq!(
            on.fix.as_ref().map(|fix| fix.playbook.as_str()),
            Some("swap")
        );
        assert!(on.message.starts_with("on (/swapfile)"));
    }

    #[test]
    fn thp_table() {
        for (text, status) in [
            ("always madvise [never]\n", Status::Pass),
            ("always [madvise] never\n", Status::Warn),
            ("[always] madvise never\n", Status::Warn),
            ("nonsense\n", Status::Fail),
        ] {
            assert_eq!(evaluate_thp("thp", &ok(text)).status, status, "{text}");
        }
        assert_eq!(
            evaluate_thp("thp", &failed(1, "", "No such file")).status,
            Status::Pass
        );
    }
}
