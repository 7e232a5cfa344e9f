//! Network probes: ports that must be free on a host, and reachability of the other hosts on Swarm's
//! ports.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::playbook::preflight::requirements::SWARM_VXLAN_UDP;
use crate::playbook::preflight::{CommandOutput, Outcome, Status, unreadable};
use crate::playbook::template::shell_quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// A port some service of the plan will listen on, with who needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortNeed {
    pub port: u16,
    pub protocol: Protocol,
    pub reason: String,
}

/// Another host to reach, on the address the hosts use between themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub address: String,
    pub tcp_ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
}

/// Listening TCP and UDP sockets with their processes (numeric, no header).
pub(crate) const PORTS_COMMAND: &str = "ss -Htulnp";

/// One listening socket from `ss -Htulnp`.
#[derive(Debug, PartialEq, Eq)]
struct Listener {
    protocol: Protocol,
    port: u16,
    process: Option<String>,
}

fn parse_listeners(text: &str) -> Vec<Listener> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let protocol = match *fields.first()? {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => return None,
            };
            // netid, state, recv-q, send-q, local address:port, peer, [process]
            let port = fields.get(4)?.rsplit_once(':')?.1.parse().ok()?;
            let process = fields.get(6).and_then(|users| {
                // users:(("sshd",pid=123,fd=3))
                let start = users.find("((\"")? + 3;
                let end = users[start..].find('"')? + start;
                Some(users[start..end].to_owned())
            });
            Some(Listener {
                protocol,
                port,
                process,
            })
        })
        .collect()
}

/// Docker's own sockets: the port is taken because the platform (or a swarm) already runs here. A
/// socket without a process (probes run as root, so every process is visible) belongs to the kernel:
/// on Swarm's VXLAN port that is the overlay network's vxlan device.
fn is_docker(listener: &Listener) -> bool {
    match listener.process.as_deref() {
        Some(process) => matches!(process, "dockerd" | "docker-proxy"),
        None => listener.protocol == Protocol::Udp && listener.port == SWARM_VXLAN_UDP,
    }
}

pub(crate) fn evaluate_ports(id: &str, needs: &[PortNeed], output: &CommandOutput) -> Outcome {
    if !output.success() {
        return unreadable(id, output);
    }
    let listeners = parse_listeners(&output.stdout);
    let mut conflicts = Vec::new();
    let mut docker_held = Vec::new();
    for need in needs {
        let holders: Vec<&Listener> = listeners
            .iter()
            .filter(|listener| listener.port == need.port && listener.protocol == need.protocol)
            .collect();
        let Some(first) = holders.first() else {
            continue;
        };
        let name = format!("{}/{}", need.port, need.protocol.as_str());
        if holders.iter().all(|listener| is_docker(listener)) {
            docker_held.push(name);
        } else {
            let process = first.process.as_deref().unwrap_or("an unknown process");
            conflicts.push(format!("{name} ({}) is held by {process}", need.reason));
        }
    }
    let listed = needs
        .iter()
        .map(|need| format!("{}/{}", need.port, need.protocol.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    if !conflicts.is_empty() {
        return Outcome::new(
            id,
            Status::Fail,
            format!("{}; stop or move those services", conflicts.join("; ")),
        );
    }
    let mut message = format!("free: {listed}");
    if !docker_held.is_empty() {
        message = format!(
            "{listed} free or held by Docker already ({})",
            docker_held.join(", ")
        );
    }
    Outcome::new(id, Status::Pass, message)
}

/// Opens a TCP connection to each port of the peer with bash's `/dev/tcp`, three seconds each. Before
/// deploy nothing listens there, so "connection refused" proves the path is open; a timeout means a
/// firewall drops the packets.
pub(crate) fn reach_command(peer: &Peer) -> String {
    let mut script = String::from("command -v bash >/dev/null 2>&1 || { echo nobash; exit 0; }\n");
    for port in &peer.tcp_ports {
        let connect = shell_quote(&format!("exec 3<>/dev/tcp/{}/{port}", peer.address));
        let _ = writeln!(
            script,
            "r=$(timeout 3 bash -c {connect} 2>&1); echo \"port={port} rc=$? $(printf %s \"$r\" | tr '\\n' ' ')\""
        );
    }
    script
}

pub(crate) fn evaluate_reach(id: &str, peer: &Peer, output: &CommandOutput) -> Outcome {
    if output.stdout.trim() == "nobash" {
        return Outcome::new(
            id,
            Status::Warn,
            "cannot probe: bash is not installed on this host",
        );
    }
    let mut results: BTreeMap<u16, (i32, String)> = BTreeMap::new();
    for line in output.stdout.lines() {
        let mut words = line.splitn(3, ' ');
        let port = words
            .next()
            .and_then(|word| word.strip_prefix("port=")?.parse().ok());
        let code = words
            .next()
            .and_then(|word| word.strip_prefix("rc=")?.parse().ok());
        if let (Some(port), Some(code)) = (port, code) {
            results.insert(
                port,
                (code, words.next().unwrap_or_default().trim().to_owned()),
            );
        }
    }
    let mut problems = Vec::new();
    for port in &peer.tcp_ports {
        match results.get(port) {
            None => return unreadable(id, output),
            Some((0, _)) => {}
            Some((_, detail)) if detail.contains("refused") => {}
            Some((124, _)) => problems.push(format!("{port}/tcp timed out (a firewall drops it?)")),
            Some((code, detail)) => {
                problems.push(format!("{port}/tcp failed (exit {code}: {detail})"));
            }
        }
    }
    let tcp = peer
        .tcp_ports
        .iter()
        .map(|port| format!("{port}/tcp"))
        .collect::<Vec<_>>()
        .join(", ");
    if problems.is_empty() {
        let udp = peer
            .udp_ports
            .iter()
            .map(|port| format!("{port}/udp"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut message = format!("{} ({}): {tcp} reachable", peer.name, peer.address);
        if !udp.is_empty() {
            let _ = write!(
                message,
                "; {udp} not probed (UDP gives no answer without a listener): allow them in any firewall"
            );
        }
        Outcome::new(id, Status::Pass, message)
    } else {
        Outcome::new(
            id,
            Status::Fail,
            format!(
                "{} ({}): {}; open Swarm's ports between all hosts",
                peer.name,
                peer.address,
                problems.join("; ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::preflight::test_support::ok;

    const SS: &str = "\
tcp LISTEN 0      4096            127.0.0.1:2222  0.0.0.0:* users:((\"sshd\",pid=812,fd=3))
tcp LISTEN 0      4096                    *:2377        *:* users:((\"dockerd\",pid=901,fd=30))
tcp LISTEN 0      4096                    *:7946        *:* users:((\"dockerd\",pid=901,fd=33))
udp UNCONN 0      0                 0.0.0.0:4789  0.0.0.0:*
udp UNCONN 0      0                 0.0.0.0:5353  0.0.0.0:*
udp UNCONN 0      0                       *:7946        *:* users:((\"dockerd\",pid=901,fd=34))
tcp LISTEN 0      511               0.0.0.0:80    0.0.0.0:* users:((\"nginx\",pid=77,fd=6))
tcp LISTEN 0      50     [::ffff:127.0.0.1]:19393       *:* users:((\"java\",pid=25290,fd=111))
";

    fn need(port: u16, protocol: Protocol) -> PortNeed {
        PortNeed {
            port,
            protocol,
            reason: "test".into(),
        }
    }

    #[test]
    fn parses_ss() {
        let listeners = parse_listeners(SS);
        assert_eq!(listeners.len(), 8);
        assert_eq!(
            listeners[1],
            Listener {
                protocol: Protocol::Tcp,
                port: 2377,
                process: Some("dockerd".into())
            }
        );
        assert_eq!(listeners[3].process, None);
        assert_eq!(listeners[7].port, 19393);
    }

    #[test]
    fn ports_table() {
        let free = evaluate_ports("ports", &[need(443, Protocol::Tcp)], &ok(SS));
        assert_eq!(free.status, Status::Pass);
        assert_eq!(free.message, "free: 443/tcp");
        let docker = evaluate_ports(
            "ports",
            &[
                need(2377, Protocol::Tcp),
                need(7946, Protocol::Udp),
                need(4789, Protocol::Udp),
            ],
            &ok(SS),
        );
        assert_eq!(docker.status, Status::Pass, "{}", docker.message);
        let taken = evaluate_ports(
            "ports",
            &[need(80, Protocol::Tcp), need(5353, Protocol::Udp)],
            &ok(SS),
        );
        assert_eq!(taken.status, Status::Fail);
        assert_eq!(
            taken.message,
            "80/tcp (test) is held by nginx; 5353/udp (test) is held by an unknown process; stop or move those services"
        );
    }

    fn peer() -> Peer {
        Peer {
            name: "cc-2".into(),
            address: "10.0.0.2".into(),
            tcp_ports: vec![2377, 7946],
            udp_ports: vec![7946, 4789],
        }
    }

    #[test]
    fn reach_command_quotes_each_probe() {
        insta::assert_snapshot!(reach_command(&peer()), @r#"
        command -v bash >/dev/null 2>&1 || { echo nobash; exit 0; }
        r=$(timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.2/2377' 2>&1); echo "port=2377 rc=$? $(printf %s "$r" | tr '\n' ' ')"
        r=$(timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.2/7946' 2>&1); echo "port=7946 rc=$? $(printf %s "$r" | tr '\n' ' ')"
        "#);
    }

    /// The probe command in a real bash against loopback: one port with a listener, one without.
    #[test]
    fn reach_command_runs_in_a_real_shell() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = listener.local_addr().expect("address").port();
        let closed = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("address").port()
        };
        let peer = Peer {
            name: "self".into(),
            address: "127.0.0.1".into(),
            tcp_ports: vec![open, closed],
            udp_ports: vec![],
        };
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(reach_command(&peer))
            .output()
            .expect("run sh");
        let output = CommandOutput {
            exit_code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        let outcome = evaluate_reach("reach:self", &peer, &output);
        assert_eq!(
            outcome.status,
            Status::Pass,
            "{output:?}: {}",
            outcome.message
        );
        assert!(
            output.stdout.contains(&format!("port={open} rc=0")),
            "{output:?}"
        );
        assert!(output.stdout.contains("refused"), "{output:?}");
    }

    #[test]
    fn reach_table() {
        let refused = "port=2377 rc=1 bash: connect: Connection refused bash: line 1: /dev/tcp/10.0.0.2/2377: Connection refused\nport=7946 rc=0 \n";
        let outcome = evaluate_reach("reach:cc-2", &peer(), &ok(refused));
        assert_eq!(outcome.status, Status::Pass, "{}", outcome.message);
        assert!(outcome.message.contains("7946/udp, 4789/udp not probed"));
        let filtered = "port=2377 rc=124 \nport=7946 rc=1 bash: connect: No route to host\n";
        let outcome = evaluate_reach("reach:cc-2", &peer(), &ok(filtered));
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(
            outcome.message,
            "cc-2 (10.0.0.2): 2377/tcp timed out (a firewall drops it?); 7946/tcp failed (exit 1: bash: connect: No route to host); open Swarm's ports between all hosts"
        );
        assert_eq!(
            evaluate_reach("r", &peer(), &ok("nobash\n")).status,
            Status::Warn
        );
        assert_eq!(evaluate_reach("r", &peer(), &ok("")).status, Status::Fail);
    }
}
