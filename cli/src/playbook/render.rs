//! Turns a playbook into the exact shell commands run on one host: parameters substituted (quoted),
//! the OS family's variant chosen, and privilege escalation added when the SSH user is not root.

use std::collections::BTreeMap;

use crate::playbook::model::Playbook;
use crate::playbook::os::OsFamily;
use crate::playbook::template::{self, TemplateError, shell_quote};

/// How commands get root on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// The SSH user is root.
    Root,
    /// The SSH user runs commands through passwordless `sudo -n` (never prompts; fails instead).
    Sudo,
}

impl Privilege {
    pub fn for_user(user: &str) -> Self {
        if user == "root" {
            Self::Root
        } else {
            Self::Sudo
        }
    }
}

/// One step, ready to send: `check` exits 0 when done; `apply` makes it so and stops at its first error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedStep {
    pub name: String,
    pub check: String,
    pub apply: String,
}

/// A playbook rendered for one host, with a label saying what it is for
/// (`sysctl vm.max_map_count=262144`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookRun {
    pub label: String,
    pub steps: Vec<RenderedStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("playbook `{playbook}` has no parameter `{param}`; it takes: {expected}")]
    Unexpected {
        playbook: String,
        param: String,
        expected: String,
    },
    #[error("playbook `{playbook}` step `{step}`: {source}")]
    Template {
        playbook: String,
        step: String,
        #[source]
        source: TemplateError,
    },
}

/// Wraps a script so it runs as root under `sh`, whatever the login shell of the SSH user.
pub fn privileged(script: &str, privilege: Privilege) -> String {
    match privilege {
        Privilege::Root => script.to_owned(),
        Privilege::Sudo => format!("sudo -n sh -c {}", shell_quote(script)),
    }
}

/// Renders every step of `playbook` for one host.
pub fn render_steps(
    playbook: &Playbook,
    family: OsFamily,
    params: &BTreeMap<String, String>,
    privilege: Privilege,
) -> Result<Vec<RenderedStep>, RenderError> {
    if let Some(param) = params
        .keys()
        .find(|name| !playbook.params.contains_key(*name))
    {
        return Err(RenderError::Unexpected {
            playbook: playbook.name.clone(),
            param: param.clone(),
            expected: playbook
                .params
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    playbook
        .steps()
        .iter()
        .map(|step| {
            let fill = |text: &str| {
                template::render(text, params).map_err(|source| RenderError::Template {
                    playbook: playbook.name.clone(),
                    step: step.name.clone(),
                    source,
                })
            };
            let check = fill(step.check.for_family(family))?;
            // `set -e` so an apply stops at its first failing line instead of half-applying.
            let apply = format!("set -e\n{}", fill(step.apply.for_family(family))?);
            Ok(RenderedStep {
                name: step.name.clone(),
                check: privileged(&check, privilege),
                apply: privileged(&apply, privilege),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::catalog;

    fn sysctl_params() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("key".to_owned(), "net.ipv4.ip_local_port_range".to_owned()),
            ("value".to_owned(), "1024 65535".to_owned()),
        ])
    }

    #[test]
    fn sysctl_steps_for_root() {
        let playbook = catalog::load("sysctl").expect("embedded");
        let steps = render_steps(
            &playbook,
            OsFamily::Debian,
            &sysctl_params(),
            Privilege::Root,
        )
        .expect("render");
        insta::assert_snapshot!(
            steps
                .iter()
                .map(|step| format!(
                    "## {}\n# check\n{}\n# apply\n{}",
                    step.name, step.check, step.apply
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    #[test]
    fn sudo_wraps_the_whole_script() {
        let playbook = catalog::load("sysctl").expect("embedded");
        let steps = render_steps(&playbook, OsFamily::Rhel, &sysctl_params(), Privilege::Sudo)
            .expect("render");
        assert!(steps[1].apply.starts_with(
            "sudo -n sh -c 'set -e\nkey=net.ipv4.ip_local_port_range; value='\\''1024 65535'\\''"
        ));
    }

    #[test]
    fn family_variants_are_chosen() {
        let playbook = catalog::load("docker").expect("embedded");
        let params = BTreeMap::from([(
            "repository".to_owned(),
            "https://download.docker.com".to_owned(),
        )]);
        let debian =
            render_steps(&playbook, OsFamily::Debian, &params, Privilege::Root).expect("render");
        let rhel =
            render_steps(&playbook, OsFamily::Rhel, &params, Privilege::Root).expect("render");
        assert!(debian[1].apply.contains("apt-get install -y docker-ce"));
        assert!(rhel[1].apply.contains("dnf install -y docker-ce"));
        assert_eq!(
            debian[2], rhel[2],
            "the last step is the same on both families"
        );
    }

    #[test]
    fn parameters_must_match() {
        let playbook = catalog::load("sysctl").expect("embedded");
        let mut params = sysctl_params();
        params.insert("extra".into(), "x".into());
        assert!(matches!(
            render_steps(&playbook, OsFamily::Debian, &params, Privilege::Root),
            Err(RenderError::Unexpected { .. })
        ));
        params.remove("extra");
        params.remove("value");
        assert!(matches!(
            render_steps(&playbook, OsFamily::Debian, &params, Privilege::Root),
            Err(RenderError::Template { .. })
        ));
    }

    #[test]
    fn privilege_for_user() {
        assert_eq!(Privilege::for_user("root"), Privilege::Root);
        assert_eq!(Privilege::for_user("deploy"), Privilege::Sudo);
        assert_eq!(
            privileged("id -u", Privilege::Sudo),
            "sudo -n sh -c 'id -u'"
        );
    }
}
