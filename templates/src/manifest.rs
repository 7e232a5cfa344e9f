//! `MANIFEST`: the sha256 of every rendered file, the plan hash, and the content hash behind every Docker
//! config and secret name — what the next render compares against to catch a name reused for new content.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parsed `MANIFEST`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub plan_hash: String,
    /// Rendered file path → sha256.
    pub files: BTreeMap<String, String>,
    /// Docker config or secret name → sha256 of its content.
    pub objects: BTreeMap<String, String>,
}

impl Manifest {
    pub fn to_text(&self) -> String {
        let mut text =
            String::from("# Written by `ccctl render`. Checked by `ccctl render --check`.\n");
        let _ = writeln!(text, "plan {}", self.plan_hash);
        for (name, digest) in &self.objects {
            let _ = writeln!(text, "object {digest} {name}");
        }
        for (path, digest) in &self.files {
            let _ = writeln!(text, "file {digest} {path}");
        }
        text
    }

    /// Reads a manifest; unknown or malformed lines are skipped (an old manifest only weakens the lint).
    pub fn parse(text: &str) -> Self {
        let mut manifest = Self::default();
        for line in text.lines() {
            let mut fields = line.splitn(3, ' ');
            match (fields.next(), fields.next(), fields.next()) {
                (Some("plan"), Some(hash), None) => hash.clone_into(&mut manifest.plan_hash),
                (Some("object"), Some(digest), Some(name)) => {
                    manifest.objects.insert(name.to_owned(), digest.to_owned());
                }
                (Some("file"), Some(digest), Some(path)) => {
                    manifest.files.insert(path.to_owned(), digest.to_owned());
                }
                _ => {}
            }
        }
        manifest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let manifest = Manifest {
            plan_hash: "abc".into(),
            files: BTreeMap::from([("stack.yml".into(), "11".into())]),
            objects: BTreeMap::from([("cc_nginx_conf_1234".into(), "22".into())]),
        };
        assert_eq!(Manifest::parse(&manifest.to_text()), manifest);
    }
}
