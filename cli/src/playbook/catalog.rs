//! The playbooks shipped inside the `ccctl` binary (embedded from `playbooks/*.yaml` at build time), so a
//! deploy needs no checkout of this repository on the operator's machine.

use crate::playbook::model::{self, Playbook, PlaybookError};

/// (file stem, YAML text) of every embedded playbook.
pub(crate) const EMBEDDED: &[(&str, &str)] = &[
    ("docker", include_str!("../../../playbooks/docker.yaml")),
    (
        "docker-nofile",
        include_str!("../../../playbooks/docker-nofile.yaml"),
    ),
    ("ipvs", include_str!("../../../playbooks/ipvs.yaml")),
    ("swap", include_str!("../../../playbooks/swap.yaml")),
    ("sysctl", include_str!("../../../playbooks/sysctl.yaml")),
    (
        "time-sync",
        include_str!("../../../playbooks/time-sync.yaml"),
    ),
    (
        "transparent-hugepages",
        include_str!("../../../playbooks/transparent-hugepages.yaml"),
    ),
];

/// Parses one embedded playbook by name.
pub(crate) fn load(name: &str) -> Result<Playbook, CatalogError> {
    let (stem, text) = EMBEDDED
        .iter()
        .find(|(stem, _)| *stem == name)
        .ok_or_else(|| CatalogError::Unknown(name.to_owned()))?;
    Ok(model::parse(stem, text)?)
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no playbook named `{0}` is built into this ccctl")]
    Unknown(String),
    #[error(transparent)]
    Invalid(#[from] PlaybookError),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_embedded_playbook_is_valid() {
        for (stem, _) in EMBEDDED {
            if let Err(error) = load(stem) {
                panic!("{error}");
            }
        }
    }

    #[test]
    fn every_playbook_file_is_embedded() {
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/../playbooks");
        let on_disk: BTreeSet<String> = std::fs::read_dir(directory)
            .expect("playbooks directory")
            .filter_map(|entry| {
                let name = entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8");
                name.strip_suffix(".yaml").map(str::to_owned)
            })
            .collect();
        let embedded: BTreeSet<String> = EMBEDDED
            .iter()
            .map(|(stem, _)| (*stem).to_owned())
            .collect();
        assert_eq!(on_disk, embedded, "add new playbooks to EMBEDDED");
    }

    #[test]
    fn unknown_playbook_is_an_error() {
        assert!(matches!(load("nope"), Err(CatalogError::Unknown(_))));
    }
}
