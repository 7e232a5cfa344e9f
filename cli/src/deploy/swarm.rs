//! Swarm membership and node-label commands, pure. Join tokens are secrets: no command here contains
//! one. A join reads its token from standard input, so it never appears in a process list, a log line
//! or an audit event.

use std::collections::{BTreeMap, BTreeSet};

use crate::playbook::template::shell_quote;

/// The host's own swarm node id (empty outside a swarm).
pub const NODE_ID_COMMAND: &str = "docker info --format '{{.Swarm.NodeID}}'";

/// Initialises a swarm advertising `address` (the host's internal address).
pub fn init_command(address: &str) -> String {
    format!(
        "docker swarm init --advertise-addr {}",
        shell_quote(address)
    )
}

/// Prints the join token for `manager` or worker nodes; run on a manager, output kept in memory only.
pub fn join_token_command(manager: bool) -> String {
    format!(
        "docker swarm join-token -q {}",
        if manager { "manager" } else { "worker" }
    )
}

/// Joins the swarm through `manager_address`, advertising `address`; the token comes on stdin.
pub fn join_command(address: &str, manager_address: &str) -> String {
    format!(
        "IFS= read -r token && docker swarm join --token \"$token\" --advertise-addr {} {}",
        shell_quote(address),
        shell_quote(&format!("{manager_address}:2377"))
    )
}

pub fn promote_command(node_id: &str) -> String {
    format!("docker node promote {}", shell_quote(node_id))
}

pub fn demote_command(node_id: &str) -> String {
    format!("docker node demote {}", shell_quote(node_id))
}

/// Sets and removes node labels in one update; `None` when there is nothing to change.
pub fn label_command(
    node_id: &str,
    set: &BTreeMap<String, String>,
    remove: &BTreeSet<String>,
) -> Option<String> {
    if set.is_empty() && remove.is_empty() {
        return None;
    }
    let mut command = String::from("docker node update");
    for (key, value) in set {
        command.push_str(" --label-add ");
        command.push_str(&shell_quote(&format!("{key}={value}")));
    }
    for key in remove {
        command.push_str(" --label-rm ");
        command.push_str(&shell_quote(key));
    }
    command.push(' ');
    command.push_str(&shell_quote(node_id));
    Some(command)
}

/// Whether a command line may be logged: nothing that looks like a join token (`SWMTKN-…`).
pub fn loggable(command: &str) -> bool {
    !command.contains("SWMTKN-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            init_command("10.0.0.11"),
            "docker swarm init --advertise-addr 10.0.0.11"
        );
        assert_eq!(
            join_token_command(true),
            "docker swarm join-token -q manager"
        );
        assert_eq!(
            join_command("10.0.0.12", "10.0.0.11"),
            "IFS= read -r token && docker swarm join --token \"$token\" --advertise-addr 10.0.0.12 10.0.0.11:2377"
        );
        assert_eq!(promote_command("abc"), "docker node promote abc");
        assert_eq!(demote_command("abc"), "docker node demote abc");
    }

    #[test]
    fn labels_in_one_update() {
        let set = BTreeMap::from([
            ("cc.gateway".to_owned(), "true".to_owned()),
            ("rack".to_owned(), "a b".to_owned()),
        ]);
        let remove = BTreeSet::from(["cc.kafka".to_owned()]);
        assert_eq!(
            label_command("node1", &set, &remove).as_deref(),
            Some(
                "docker node update --label-add cc.gateway=true --label-add 'rack=a b' --label-rm cc.kafka node1"
            )
        );
        assert_eq!(
            label_command("node1", &BTreeMap::new(), &BTreeSet::new()),
            None
        );
    }

    #[test]
    fn no_command_carries_a_token() {
        for command in [
            init_command("10.0.0.1"),
            join_token_command(false),
            join_command("10.0.0.2", "10.0.0.1"),
        ] {
            assert!(loggable(&command), "{command}");
        }
        assert!(!loggable(
            "docker swarm join --token SWMTKN-1-abc 10.0.0.1:2377"
        ));
    }

    /// The join command really takes the token from stdin (run with `docker` replaced by `echo`).
    #[test]
    fn join_reads_the_token_from_stdin() {
        let script = join_command("10.0.0.2", "10.0.0.1").replace("docker", "echo docker");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"SWMTKN-1-secret\n").expect("write token");
        }
        let output = child.wait_with_output().expect("wait");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "docker swarm join --token SWMTKN-1-secret --advertise-addr 10.0.0.2 10.0.0.1:2377\n"
        );
    }
}
