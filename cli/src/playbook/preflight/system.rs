//! Machine-level probes: OS and kernel, CPU, memory, disk, clock, Docker.

use crate::playbook::os::OsRelease;
use crate::playbook::preflight::{
    CommandOutput, Observation, Outcome, Status, key_values, unreadable,
};

/// The oldest Docker Engine major version deploy supports.
pub(crate) const DOCKER_MIN_MAJOR: u64 = 24;
/// A machine counts as the planned size when it has at least this share of it: `MemTotal` and `df`
/// report a little less than the nominal size (kernel reservations, filesystem metadata).
const NOMINAL_TOLERANCE_PERCENT: u64 = 94;

/// What the plan gives one host of some resource (in the probe's unit), and what its tasks reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub planned: u64,
    pub reserved: u64,
}

pub(crate) const OS_COMMAND: &str = "cat /etc/os-release; echo \"kernel=$(uname -r)\"";
pub(crate) const CPU_COMMAND: &str = "echo \"cpus=$(getconf _NPROCESSORS_ONLN)\"";
pub(crate) const MEMORY_COMMAND: &str = "grep -E '^MemTotal:' /proc/meminfo";
/// Docker's data root when it exists, else the filesystem it will be created on.
pub(crate) const DISK_COMMAND: &str = "for d in /var/lib/docker /var/lib /; do \
if [ -d \"$d\" ]; then printf '%s ' \"$d\"; df -Pk \"$d\" | tail -n 1; break; fi; done";
pub(crate) const CLOCK_COMMAND: &str = "echo \"epoch_ms=$(date +%s%3N)\"
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
echo \"ntp=$(timedatectl show -p NTPSynchronized --value 2>/dev/null || true)\"
if command -v chronyc >/dev/null 2>&1; then echo \"chrony=$(chronyc -n tracking 2>/dev/null | sed -n 's/^Leap status *: *//p')\"; fi";
pub(crate) const DOCKER_COMMAND: &str = "if command -v docker >/dev/null 2>&1; then
  echo \"client=$(docker --version | sed -E 's/^Docker version ([^,]+).*/\\1/')\"
  if info=$(timeout 20 docker info --format '{{.ServerVersion}} {{.Swarm.LocalNodeState}}' 2>/dev/null) && [ -n \"${info%% *}\" ]; then
    echo \"server=${info%% *}\"; echo \"swarm=${info##* }\"
  else echo server=unreachable; fi
else echo client=absent; fi
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi";

/// `6.1.0-18-amd64` → (6, 1).
pub(crate) fn kernel_version(release: &str) -> Option<(u64, u64)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

pub(crate) fn evaluate_os(id: &str, output: &CommandOutput) -> Outcome {
    let release = OsRelease::parse(&output.stdout);
    let values = key_values(&output.stdout);
    let Some(kernel) = values.get("kernel").filter(|kernel| !kernel.is_empty()) else {
        return unreadable(id, output);
    };
    let name = if release.pretty_name.is_empty() {
        "an unknown distribution".to_owned()
    } else {
        release.pretty_name.clone()
    };
    let Some(family) = release.family() else {
        return Outcome::new(
            id,
            Status::Fail,
            format!(
                "{name}, kernel {kernel}: not a supported distribution (Debian/Ubuntu or a RHEL-family one)"
            ),
        );
    };
    let described = format!("{name}, kernel {kernel} ({family} family)");
    match kernel_version(kernel) {
        None => Outcome::new(
            id,
            Status::Warn,
            format!("{described}: kernel version not recognised"),
        ),
        Some(version) if version < (4, 0) => Outcome::new(
            id,
            Status::Fail,
            format!("{described}: Docker's overlay2 storage needs kernel 4.0 or newer"),
        ),
        Some(version) if version < (5, 4) => Outcome::new(
            id,
            Status::Warn,
            format!("{described}: kernels older than 5.4 are not tested with this platform"),
        ),
        Some(_) => Outcome::new(id, Status::Pass, described),
    }
}

/// Pass at the planned size (within tolerance), warn when smaller but it still holds what the tasks
/// reserve, fail below the reservations.
fn judge_capacity(
    id: &str,
    capacity: &Capacity,
    found: u64,
    unit: impl Fn(u64) -> String,
) -> Outcome {
    let (status, verdict) = if found * 100 >= capacity.planned * NOMINAL_TOLERANCE_PERCENT {
        (Status::Pass, format!("plan: {}", unit(capacity.planned)))
    } else if found >= capacity.reserved {
        (
            Status::Warn,
            format!(
                "smaller than the planned {} but holds the {} its tasks reserve",
                unit(capacity.planned),
                unit(capacity.reserved)
            ),
        )
    } else {
        (
            Status::Fail,
            format!(
                "below the {} its tasks reserve (plan: {}); use a bigger host or re-plan with this host size",
                unit(capacity.reserved),
                unit(capacity.planned)
            ),
        )
    };
    Outcome::new(id, status, format!("{} ({verdict})", unit(found)))
}

fn format_cpus(millicores: u64) -> String {
    if millicores % 1000 == 0 {
        format!("{} vCPU", millicores / 1000)
    } else {
        format!("{:.1} vCPU", millicores as f64 / 1000.0)
    }
}

fn format_mib(mib: u64) -> String {
    format!("{:.1} GiB", mib as f64 / 1024.0)
}

fn format_gib(gib: u64) -> String {
    format!("{gib} GiB")
}

pub(crate) fn evaluate_cpu(id: &str, capacity: &Capacity, output: &CommandOutput) -> Outcome {
    match key_values(&output.stdout)
        .get("cpus")
        .and_then(|value| value.parse::<u64>().ok())
    {
        Some(cpus) => judge_capacity(id, capacity, cpus * 1000, format_cpus),
        None => unreadable(id, output),
    }
}

pub(crate) fn evaluate_memory(id: &str, capacity: &Capacity, output: &CommandOutput) -> Outcome {
    // `MemTotal:       24576000 kB`
    let kib = output
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse::<u64>().ok());
    match kib {
        Some(kib) => judge_capacity(id, capacity, kib / 1024, format_mib),
        None => unreadable(id, output),
    }
}

pub(crate) fn evaluate_disk(id: &str, capacity: &Capacity, output: &CommandOutput) -> Outcome {
    // `/var/lib /dev/vda 102350000 5000000 97350000 5% /`: path, device, size, used, available (KiB).
    let fields: Vec<&str> = output.stdout.split_whitespace().collect();
    let number = |index: usize| {
        fields
            .get(index)
            .and_then(|value| value.parse::<u64>().ok())
    };
    let (Some(size_kib), Some(available_kib), Some(path)) = (number(2), number(4), fields.first())
    else {
        return unreadable(id, output);
    };
    let gib = |kib: u64| kib / (1024 * 1024);
    let mut outcome = judge_capacity(id, capacity, gib(size_kib), format_gib);
    outcome.message = format!(
        "{path}: {}, {} free",
        outcome.message,
        format_gib(gib(available_kib))
    );
    if outcome.status == Status::Pass && available_kib * 100 < size_kib * 15 {
        outcome.status = Status::Warn;
        outcome.message.push_str("; less than 15% free");
    }
    outcome
}

/// Clock skew beyond which TLS, JWT expiry and Raft leases misbehave.
const CLOCK_FAIL_MS: i64 = 30_000;
/// Clock skew worth a warning even when NTP says it is synchronised.
const CLOCK_WARN_MS: i64 = 1_000;

pub(crate) fn evaluate_clock(
    id: &str,
    output: &CommandOutput,
    observation: &Observation,
) -> Outcome {
    let values = key_values(&output.stdout);
    let Some(remote_ms) = values
        .get("epoch_ms")
        .and_then(|value| value.parse::<i64>().ok())
    else {
        return unreadable(id, output);
    };
    // Written out instead of `i64::midpoint`, which needs a newer Rust than our MSRV.
    let midpoint = observation.local_before_ms / 2 + observation.local_after_ms / 2;
    let uncertainty = (observation.local_after_ms - observation.local_before_ms).abs() / 2;
    let skew = remote_ms - midpoint;
    // Only the part of the skew that the round trip cannot explain counts.
    let unexplained = (skew.abs() - uncertainty).max(0);
    let systemd = values.get("systemd") == Some(&"yes");
    let ntp = values.get("ntp").copied().unwrap_or_default();
    let chrony = values.get("chrony").copied().unwrap_or_default();
    let synchronised = ntp == "yes" || chrony == "Normal";
    let offset = format!("offset from this machine {skew:+} ms (±{uncertainty} ms)");

    let mut outcome = if unexplained > CLOCK_FAIL_MS {
        Outcome::new(
            id,
            Status::Fail,
            format!("{offset}: clocks must agree within 30 s"),
        )
    } else if synchronised && unexplained > CLOCK_WARN_MS {
        Outcome::new(
            id,
            Status::Warn,
            format!("NTP synchronised but {offset}: is this machine's clock right?"),
        )
    } else if synchronised {
        Outcome::new(id, Status::Pass, format!("NTP synchronised, {offset}"))
    } else if ntp == "no" {
        Outcome::new(id, Status::Warn, format!("NTP not synchronised, {offset}"))
    } else {
        let reason = if systemd {
            "no NTP client found"
        } else {
            "cannot tell whether NTP runs (no systemd, no chrony)"
        };
        Outcome::new(id, Status::Warn, format!("{reason}, {offset}"))
    };
    // The time-sync playbook installs chrony and starts it through systemd.
    if outcome.status != Status::Pass && !synchronised && systemd {
        outcome = outcome.fixable("time-sync", &[]);
    }
    outcome
}

/// `27.3.1` / `20.10.24+dfsg1` → 27 / 20.
fn major_version(version: &str) -> Option<u64> {
    version.split('.').next()?.trim().parse().ok()
}

pub(crate) fn evaluate_docker(id: &str, repository: &str, output: &CommandOutput) -> Outcome {
    let values = key_values(&output.stdout);
    let systemd = values.get("systemd") == Some(&"yes");
    let fix = [("repository", repository)];
    let Some(client) = values.get("client") else {
        return unreadable(id, output);
    };
    if *client == "absent" {
        return Outcome::new(
            id,
            Status::Warn,
            format!("not installed; deploy needs Docker {DOCKER_MIN_MAJOR}+ (`--fix` installs it from {repository})"),
        )
        .fixable("docker", &fix);
    }
    match major_version(client) {
        Some(major) if major >= DOCKER_MIN_MAJOR => {}
        _ => {
            return Outcome::new(
                id,
                Status::Fail,
                format!("Docker {client} is older than {DOCKER_MIN_MAJOR}; `--fix` upgrades it from {repository}"),
            )
            .fixable("docker", &fix);
        }
    }
    let server = values.get("server").copied();
    if let Some(server) = server.filter(|server| *server != "unreachable")
        && major_version(server).is_none_or(|major| major < DOCKER_MIN_MAJOR)
    {
        return Outcome::new(
            id,
            Status::Fail,
            format!(
                "the running engine is Docker {server} (client {client}), older than {DOCKER_MIN_MAJOR}; `--fix` upgrades it from {repository}"
            ),
        )
        .fixable("docker", &fix);
    }
    match server {
        Some("unreachable") | None => {
            let outcome = Outcome::new(
                id,
                Status::Fail,
                format!(
                    "Docker {client} installed but the engine does not answer{}",
                    if systemd {
                        ""
                    } else {
                        " (and there is no systemd to start it with)"
                    }
                ),
            );
            if systemd {
                outcome.fixable("docker", &fix)
            } else {
                outcome
            }
        }
        Some(server) => {
            let swarm = values.get("swarm").copied().unwrap_or("unknown");
            Outcome::new(
                id,
                Status::Pass,
                format!("Docker {client}, engine {server}, swarm {swarm}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::preflight::test_support::{failed, ok};

    const DEBIAN: &str =
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";

    #[test]
    fn os_table() {
        let cases = [
            (format!("{DEBIAN}kernel=6.1.0-18-amd64\n"), Status::Pass),
            (format!("{DEBIAN}kernel=4.19.0-26-amd64\n"), Status::Warn),
            (format!("{DEBIAN}kernel=3.10.0-1160.el7\n"), Status::Fail),
            ("PRETTY_NAME=\"Alpine\"\nID=alpine\nkernel=6.1.0\n".to_owned(), Status::Fail),
            (
                "PRETTY_NAME=\"Rocky Linux 9.4\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nkernel=5.14.0-427.el9.x86_64\n"
                    .to_owned(),
                Status::Pass,
            ),
        ];
        for (stdout, expected) in cases {
            let outcome = evaluate_os("os", &ok(&stdout));
            assert_eq!(outcome.status, expected, "{stdout}: {}", outcome.message);
        }
        let outcome = evaluate_os("os", &ok(&format!("{DEBIAN}kernel=6.1.0-18-amd64\n")));
        assert_eq!(
            outcome.message,
            "Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64 (debian family)"
        );
        assert_eq!(
            evaluate_os("os", &failed(1, "", "cat: /etc/os-release: No such file")).status,
            Status::Fail
        );
    }

    #[test]
    fn capacity_table() {
        let capacity = Capacity {
            planned: 4000,
            reserved: 2500,
        };
        for (cpus, expected) in [
            (8, Status::Pass),
            (4, Status::Pass),
            (3, Status::Warn),
            (2, Status::Fail),
        ] {
            let outcome = evaluate_cpu("cpu", &capacity, &ok(&format!("cpus={cpus}\n")));
            assert_eq!(outcome.status, expected, "{cpus} cpus: {}", outcome.message);
        }
        let outcome = evaluate_cpu("cpu", &capacity, &ok("cpus=2\n"));
        assert_eq!(
            outcome.message,
            "2 vCPU (below the 2.5 vCPU its tasks reserve (plan: 4 vCPU); use a bigger host or re-plan with this host size)"
        );
        assert_eq!(
            evaluate_cpu("cpu", &capacity, &ok("cpus=\n")).status,
            Status::Fail
        );
    }

    #[test]
    fn memory_tolerates_kernel_reservations() {
        // A 32 GiB VM reports about 31.3 GiB in MemTotal.
        let capacity = Capacity {
            planned: 32 * 1024,
            reserved: 20 * 1024,
        };
        let outcome = evaluate_memory("memory", &capacity, &ok("MemTotal:       32827812 kB\n"));
        assert_eq!(outcome.status, Status::Pass, "{}", outcome.message);
        assert_eq!(outcome.message, "31.3 GiB (plan: 32.0 GiB)");
        let outcome = evaluate_memory("memory", &capacity, &ok("MemTotal:       16000000 kB\n"));
        assert_eq!(outcome.status, Status::Fail);
    }

    #[test]
    fn disk_reports_path_and_free_space() {
        let capacity = Capacity {
            planned: 100,
            reserved: 40,
        };
        let outcome = evaluate_disk(
            "disk",
            &capacity,
            &ok("/var/lib /dev/vda1 103081248 5242880 97838368 6% /\n"),
        );
        assert_eq!(outcome.status, Status::Pass);
        assert_eq!(
            outcome.message,
            "/var/lib: 98 GiB (plan: 100 GiB), 93 GiB free"
        );
        let nearly_full = evaluate_disk(
            "disk",
            &capacity,
            &ok("/var/lib/docker /dev/vda1 103081248 95000000 8081248 93% /\n"),
        );
        assert_eq!(nearly_full.status, Status::Warn);
        assert!(nearly_full.message.ends_with("less than 15% free"));
        assert_eq!(
            evaluate_disk("disk", &capacity, &ok("")).status,
            Status::Fail
        );
    }

    fn observed(before: i64, after: i64) -> Observation {
        Observation {
            local_before_ms: before,
            local_after_ms: after,
        }
    }

    #[test]
    fn clock_table() {
        let at = 1_700_000_000_000;
        let cases = [
            (
                format!("epoch_ms={at}\nsystemd=yes\nntp=yes\n"),
                Status::Pass,
                false,
            ),
            (
                format!("epoch_ms={}\nsystemd=yes\nntp=yes\n", at + 5_000),
                Status::Warn,
                false,
            ),
            (
                format!("epoch_ms={at}\nsystemd=yes\nntp=no\n"),
                Status::Warn,
                true,
            ),
            (
                format!("epoch_ms={at}\nsystemd=no\nntp=\n"),
                Status::Warn,
                false,
            ),
            (
                format!("epoch_ms={at}\nsystemd=no\nntp=\nchrony=Normal\n"),
                Status::Pass,
                false,
            ),
            (
                format!("epoch_ms={}\nsystemd=yes\nntp=no\n", at + 60_000),
                Status::Fail,
                true,
            ),
        ];
        for (stdout, status, fixable) in cases {
            let outcome = evaluate_clock("clock", &ok(&stdout), &observed(at - 20, at + 20));
            assert_eq!(outcome.status, status, "{stdout}: {}", outcome.message);
            assert_eq!(outcome.fix.is_some(), fixable, "{stdout}");
        }
        let outcome = evaluate_clock(
            "clock",
            &ok(&format!("epoch_ms={at}\nsystemd=no\nntp=\n")),
            &observed(at - 20, at + 20),
        );
        assert_eq!(
            outcome.message,
            "cannot tell whether NTP runs (no systemd, no chrony), offset from this machine +0 ms (±20 ms)"
        );
    }

    #[test]
    fn docker_table() {
        let repository = "https://download.docker.com";
        let cases = [
            (
                "client=27.3.1\nserver=27.3.1\nswarm=active\nsystemd=yes\n",
                Status::Pass,
                false,
            ),
            ("client=absent\nsystemd=yes\n", Status::Warn, true),
            (
                "client=20.10.24+dfsg1\nserver=20.10.24+dfsg1\nswarm=inactive\nsystemd=yes\n",
                Status::Fail,
                true,
            ),
            (
                "client=26.1.5\nserver=unreachable\nsystemd=yes\n",
                Status::Fail,
                true,
            ),
            (
                "client=26.1.5\nserver=unreachable\nsystemd=no\n",
                Status::Fail,
                false,
            ),
            (
                "client=28.2.2\nserver=20.10.24+dfsg1\nswarm=active\nsystemd=no\n",
                Status::Fail,
                true,
            ),
            ("", Status::Fail, false),
        ];
        for (stdout, status, fixable) in cases {
            let outcome = evaluate_docker("docker", repository, &ok(stdout));
            assert_eq!(outcome.status, status, "{stdout}: {}", outcome.message);
            assert_eq!(outcome.fix.is_some(), fixable, "{stdout}");
        }
        let outcome = evaluate_docker("docker", repository, &ok(cases[0].0));
        assert_eq!(
            outcome.message,
            "Docker 27.3.1, engine 27.3.1, swarm active"
        );
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("5.14.0-427.el9.x86_64"), Some((5, 14)));
        assert_eq!(kernel_version("garbage"), None);
    }
}
