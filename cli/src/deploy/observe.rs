//! Reading a host's deploy-relevant state, pure: the commands deploy runs on each host and the parsers
//! that turn their output into the planner's [`Observed`](crate::deploy::planner::Observed) pieces.

use std::collections::BTreeSet;

use crate::deploy::planner::Membership;

/// `<local node state> <is manager> <cluster id>`; workers see no cluster id.
pub const SWARM_INFO_COMMAND: &str = "docker info --format \
'{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{if .Swarm.Cluster}}{{.Swarm.Cluster.ID}}{{end}}'";

/// Content ids of every image on the host, one per line.
pub const IMAGE_IDS_COMMAND: &str = "docker image ls --no-trunc --format '{{.ID}}'";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected `docker info` output `{0}`")]
pub struct ParseError(pub String);

/// Parses [`SWARM_INFO_COMMAND`] output.
pub fn parse_membership(output: &str) -> Result<Membership, ParseError> {
    let mut words = output.split_whitespace();
    let state = words.next().unwrap_or_default();
    let manager = words.next();
    let cluster = words.next().unwrap_or_default().to_owned();
    match (state, manager) {
        // `pending` / `error` / `locked`: a join that did not finish; deploy treats the host as outside
        // the swarm and its join step reports the engine's own error.
        ("inactive" | "pending" | "error" | "locked", _) => Ok(Membership::None),
        ("active", Some("true")) => Ok(Membership::Manager { cluster }),
        ("active", Some("false")) => Ok(Membership::Worker { cluster }),
        _ => Err(ParseError(output.trim().to_owned())),
    }
}

/// Parses [`IMAGE_IDS_COMMAND`] output.
pub fn parse_image_ids(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("sha256:"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_table() {
        let cases = [
            ("inactive false \n", Ok(Membership::None)),
            (
                "active true 7uyzgvqevv3q6mh2gkk19pnz8\n",
                Ok(Membership::Manager {
                    cluster: "7uyzgvqevv3q6mh2gkk19pnz8".into(),
                }),
            ),
            (
                "active false \n",
                Ok(Membership::Worker {
                    cluster: String::new(),
                }),
            ),
            ("pending false \n", Ok(Membership::None)),
            (
                "Cannot connect to the Docker daemon\n",
                Err(ParseError("Cannot connect to the Docker daemon".into())),
            ),
        ];
        for (output, expected) in cases {
            assert_eq!(parse_membership(output), expected, "{output:?}");
        }
    }

    #[test]
    fn image_ids() {
        let ids = parse_image_ids("sha256:aaa\nsha256:bbb\n\nwarning: something\n");
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            vec!["sha256:aaa", "sha256:bbb"]
        );
    }
}
