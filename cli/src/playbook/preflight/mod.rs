//! Pre-flight checks of `ccctl check`, pure: each [`Probe`] knows the command it runs on a host and how
//! to judge that command's output (pass / warn / fail, a message, and the playbook fix if there is one).
//! What a host must satisfy comes from [`requirements::HostRequirements`], derived from the plan.

pub(crate) mod kernel;
pub(crate) mod network;
pub mod requirements;
pub(crate) mod system;

use std::collections::BTreeMap;

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// A fix: run this embedded playbook with these parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub playbook: String,
    pub params: BTreeMap<String, String>,
}

/// The judged result of one check on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub check: String,
    pub status: Status,
    pub message: String,
    /// The playbook that fixes a warn/fail, when `--fix` can fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

impl Outcome {
    pub(crate) fn new(check: &str, status: Status, message: impl Into<String>) -> Self {
        Self {
            check: check.to_owned(),
            status,
            message: message.into(),
            fix: None,
        }
    }

    pub(crate) fn fixable(mut self, playbook: &str, params: &[(&str, &str)]) -> Self {
        self.fix = Some(Fix {
            playbook: playbook.to_owned(),
            params: params
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        });
        self
    }
}

/// What a remote command returned. `exit_code` is `None` when it was killed by a signal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// The most useful one-line description of a failure: the last stderr line, else the last stdout line.
    pub fn failure_summary(&self) -> String {
        let last = |text: &str| {
            text.lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .map(|line| line.trim().to_owned())
        };
        let code = self.exit_code.map_or_else(
            || "killed by a signal".to_owned(),
            |code| format!("exit {code}"),
        );
        match last(&self.stderr).or_else(|| last(&self.stdout)) {
            Some(line) => format!("{code}: {line}"),
            None => code,
        }
    }
}

/// Facts observed outside the probe's own output that some checks need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observation {
    /// Local wall-clock time (ms since the epoch) just before and just after the probe ran.
    pub local_before_ms: i64,
    pub local_after_ms: i64,
}

/// One check: a command to run on a host and the judgement of its output.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Os,
    Cpu(system::Capacity),
    Memory(system::Capacity),
    Disk(system::Capacity),
    Clock,
    Docker {
        repository: String,
    },
    Sysctl(kernel::SysctlNeed),
    /// The Docker daemon's and containerd's own open-files limit, at least this (containers inherit it
    /// as the ceiling of their `ulimits`).
    DaemonNofile(u64),
    /// The kernel's IP virtual server: Swarm's service virtual IPs route through it.
    Ipvs,
    Swap,
    TransparentHugePages,
    Ports(Vec<network::PortNeed>),
    Reach(network::Peer),
    NoPeers,
}

impl Probe {
    /// Stable id, as shown in the table and accepted by `--only`.
    pub fn id(&self) -> String {
        match self {
            Self::Os => "os".into(),
            Self::Cpu(_) => "cpu".into(),
            Self::Memory(_) => "memory".into(),
            Self::Disk(_) => "disk".into(),
            Self::Clock => "clock".into(),
            Self::Docker { .. } => "docker".into(),
            Self::Sysctl(need) => format!("sysctl:{}", need.key),
            Self::DaemonNofile(_) => "docker:nofile".into(),
            Self::Ipvs => "kernel:ipvs".into(),
            Self::Swap => "swap".into(),
            Self::TransparentHugePages => "transparent-hugepages".into(),
            Self::Ports(_) => "ports".into(),
            Self::Reach(peer) => format!("reach:{}", peer.name),
            Self::NoPeers => "reach".into(),
        }
    }

    /// The shell command run on the host (as root). `None`: nothing to run, judge right away.
    pub fn command(&self) -> Option<String> {
        Some(match self {
            Self::Os => system::OS_COMMAND.to_owned(),
            Self::Cpu(_) => system::CPU_COMMAND.to_owned(),
            Self::Memory(_) => system::MEMORY_COMMAND.to_owned(),
            Self::Disk(_) => system::DISK_COMMAND.to_owned(),
            Self::Clock => system::CLOCK_COMMAND.to_owned(),
            Self::Docker { .. } => system::DOCKER_COMMAND.to_owned(),
            Self::Sysctl(need) => kernel::sysctl_command(&need.key),
            Self::DaemonNofile(_) => kernel::DAEMON_NOFILE_COMMAND.to_owned(),
            Self::Ipvs => kernel::IPVS_COMMAND.to_owned(),
            Self::Swap => kernel::SWAP_COMMAND.to_owned(),
            Self::TransparentHugePages => kernel::THP_COMMAND.to_owned(),
            Self::Ports(_) => network::PORTS_COMMAND.to_owned(),
            Self::Reach(peer) => network::reach_command(peer),
            Self::NoPeers => return None,
        })
    }

    /// Judges the output of [`Probe::command`].
    pub fn evaluate(&self, output: &CommandOutput, observation: &Observation) -> Outcome {
        let id = self.id();
        match self {
            Self::Os => system::evaluate_os(&id, output),
            Self::Cpu(capacity) => system::evaluate_cpu(&id, capacity, output),
            Self::Memory(capacity) => system::evaluate_memory(&id, capacity, output),
            Self::Disk(capacity) => system::evaluate_disk(&id, capacity, output),
            Self::Clock => system::evaluate_clock(&id, output, observation),
            Self::Docker { repository } => system::evaluate_docker(&id, repository, output),
            Self::Sysctl(need) => kernel::evaluate_sysctl(&id, need, output),
            Self::DaemonNofile(needed) => kernel::evaluate_daemon_nofile(&id, *needed, output),
            Self::Ipvs => kernel::evaluate_ipvs(&id, output),
            Self::Swap => kernel::evaluate_swap(&id, output),
            Self::TransparentHugePages => kernel::evaluate_thp(&id, output),
            Self::Ports(needs) => network::evaluate_ports(&id, needs, output),
            Self::Reach(peer) => network::evaluate_reach(&id, peer, output),
            Self::NoPeers => Outcome::new(
                &id,
                Status::Pass,
                "single host: no other host to reach on the Swarm ports",
            ),
        }
    }
}

/// Parses `key=value` lines (the format most probes print) into a map; later keys win.
pub(crate) fn key_values(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim(), value.trim()))
        .collect()
}

/// An output that is not what the probe prints: say so with the command's own error.
pub(crate) fn unreadable(id: &str, output: &CommandOutput) -> Outcome {
    Outcome::new(
        id,
        Status::Fail,
        format!(
            "could not read the probe's output ({})",
            output.failure_summary()
        ),
    )
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::CommandOutput;

    pub(crate) fn ok(stdout: &str) -> CommandOutput {
        CommandOutput {
            exit_code: Some(0),
            stdout: stdout.to_owned(),
            stderr: String::new(),
        }
    }

    pub(crate) fn failed(code: i32, stdout: &str, stderr: &str) -> CommandOutput {
        CommandOutput {
            exit_code: Some(code),
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_summary_prefers_stderr() {
        let output = test_support::failed(2, "out\n", "first\nlast error\n\n");
        assert_eq!(output.failure_summary(), "exit 2: last error");
        let output = CommandOutput::default();
        assert_eq!(output.failure_summary(), "killed by a signal");
    }

    #[test]
    fn key_values_parse() {
        let map = key_values("a=1\nb = two words\nnoise\n");
        assert_eq!(map.get("a"), Some(&"1"));
        assert_eq!(map.get("b"), Some(&"two words"));
        assert_eq!(map.len(), 2);
    }
}
