//! Operating-system families the playbooks support, detected from `/etc/os-release`.

use std::collections::BTreeMap;

use serde::Serialize;

/// The package-manager family a host belongs to: where playbook commands differ, they differ by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    /// Debian, Ubuntu and derivatives (apt).
    Debian,
    /// RHEL, Rocky, AlmaLinux, CentOS Stream, Oracle Linux, Fedora (dnf).
    Rhel,
}

impl std::fmt::Display for OsFamily {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::Debian => "debian",
            Self::Rhel => "rhel",
        })
    }
}

/// What `/etc/os-release` says about a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    pub id: String,
    pub id_like: Vec<String>,
    pub version_id: String,
    pub pretty_name: String,
}

impl OsRelease {
    /// Parses the `KEY=value` lines of os-release(5); values may be quoted.
    pub fn parse(text: &str) -> Self {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                let value = value.trim();
                let unquoted = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(value);
                fields.insert(key.trim().to_owned(), unquoted.to_owned());
            }
        }
        let get = |key: &str| fields.get(key).cloned().unwrap_or_default();
        Self {
            id: get("ID").to_lowercase(),
            id_like: get("ID_LIKE")
                .split_whitespace()
                .map(str::to_lowercase)
                .collect(),
            version_id: get("VERSION_ID"),
            pretty_name: get("PRETTY_NAME"),
        }
    }

    /// The family, from `ID` first and then `ID_LIKE`; `None` for an unsupported distribution.
    pub fn family(&self) -> Option<OsFamily> {
        std::iter::once(&self.id)
            .chain(&self.id_like)
            .find_map(|id| match id.as_str() {
                "debian" | "ubuntu" => Some(OsFamily::Debian),
                "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "ol" => Some(OsFamily::Rhel),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_families() {
        let cases = [
            ("ID=debian\nVERSION_ID=\"12\"\n", Some(OsFamily::Debian)),
            ("ID=ubuntu\nID_LIKE=debian\n", Some(OsFamily::Debian)),
            (
                "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n",
                Some(OsFamily::Debian),
            ),
            (
                "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
                Some(OsFamily::Rhel),
            ),
            (
                "ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\n",
                Some(OsFamily::Rhel),
            ),
            ("ID=\"rhel\"\n", Some(OsFamily::Rhel)),
            ("ID=alpine\n", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(OsRelease::parse(text).family(), expected, "{text:?}");
        }
    }

    #[test]
    fn parses_fields() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
                    VERSION_ID=\"12\"\nID=debian\n# comment\n";
        let release = OsRelease::parse(text);
        assert_eq!(release.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(release.version_id, "12");
        assert_eq!(release.id, "debian");
    }
}
