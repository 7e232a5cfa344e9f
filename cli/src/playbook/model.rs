//! The playbook file format: raw serde types as written in `playbooks/*.yaml`, and the validated
//! [`Playbook`] that the rest of the CLI uses. Validation collects every problem with its field path.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::playbook::os::OsFamily;
use crate::playbook::template::placeholders;

/// The only playbook format version this build understands.
pub(crate) const PLAYBOOK_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    version: u32,
    name: String,
    description: String,
    /// Parameter name → what it means. Every `{{ name }}` in a command must be declared here.
    #[serde(default)]
    params: BTreeMap<String, String>,
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    check: RawCommand,
    apply: RawCommand,
}

/// A command that is either the same on every OS family or written once per family.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Same(String),
    PerFamily(RawPerFamily),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerFamily {
    debian: String,
    rhel: String,
}

/// A shell command template, possibly different per OS family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandTemplate {
    Same(String),
    PerFamily { debian: String, rhel: String },
}

impl CommandTemplate {
    pub(crate) fn for_family(&self, family: OsFamily) -> &str {
        match (self, family) {
            (Self::Same(command), _) => command,
            (Self::PerFamily { debian, .. }, OsFamily::Debian) => debian,
            (Self::PerFamily { rhel, .. }, OsFamily::Rhel) => rhel,
        }
    }

    fn variants(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Same(command) => vec![("", command)],
            Self::PerFamily { debian, rhel } => vec![(".debian", debian), (".rhel", rhel)],
        }
    }
}

impl From<RawCommand> for CommandTemplate {
    fn from(raw: RawCommand) -> Self {
        match raw {
            RawCommand::Same(command) => Self::Same(command),
            RawCommand::PerFamily(RawPerFamily { debian, rhel }) => {
                Self::PerFamily { debian, rhel }
            }
        }
    }
}

/// One idempotent step: `check` exits 0 when the step is already done; `apply` makes it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub name: String,
    pub check: CommandTemplate,
    pub apply: CommandTemplate,
}

/// A validated playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playbook {
    pub name: String,
    pub description: String,
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) steps: Vec<Step>,
}

impl Playbook {
    pub(crate) fn steps(&self) -> &[Step] {
        &self.steps
    }
}

/// One problem found in a playbook file, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookProblem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for PlaybookProblem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("playbook `{file}` is not valid YAML for a playbook: {source}")]
    Syntax {
        file: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("playbook `{file}` has {} problem(s):\n{}", problems.len(), render_problems(problems))]
    Invalid {
        file: String,
        problems: Vec<PlaybookProblem>,
    },
}

fn render_problems(problems: &[PlaybookProblem]) -> String {
    problems
        .iter()
        .map(|problem| format!("  - {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses and validates one playbook. `file_stem` is the file name without `.yaml`; the playbook's
/// `name` must equal it so that `ccctl` and operators refer to it by one name.
pub(crate) fn parse(file_stem: &str, text: &str) -> Result<Playbook, PlaybookError> {
    let raw: RawPlaybook =
        serde_yaml_ng::from_str(text).map_err(|source| PlaybookError::Syntax {
            file: file_stem.to_owned(),
            source,
        })?;
    validate(file_stem, raw)
}

fn validate(file_stem: &str, raw: RawPlaybook) -> Result<Playbook, PlaybookError> {
    let mut problems = Vec::new();
    let mut problem =
        |path: String, message: String| problems.push(PlaybookProblem { path, message });

    if raw.version != PLAYBOOK_VERSION {
        problem(
            "version".into(),
            format!(
                "unsupported version {}; this ccctl reads version {PLAYBOOK_VERSION}",
                raw.version
            ),
        );
    }
    if raw.name != file_stem {
        problem(
            "name".into(),
            format!("`{}` must equal the file name `{file_stem}`", raw.name),
        );
    }
    if raw.description.trim().is_empty() {
        problem(
            "description".into(),
            "must say what the playbook does".into(),
        );
    }
    for name in raw.params.keys() {
        if !is_identifier(name) {
            problem(
                format!("params.{name}"),
                "a parameter name is lowercase letters, digits and `_`, starting with a letter"
                    .into(),
            );
        }
    }
    if raw.steps.is_empty() {
        problem("steps".into(), "a playbook needs at least one step".into());
    }

    let mut seen_names = BTreeSet::new();
    let mut used_params = BTreeSet::new();
    let mut steps = Vec::with_capacity(raw.steps.len());
    for (index, raw_step) in raw.steps.into_iter().enumerate() {
        let step_path = format!("steps[{index}]");
        if raw_step.name.trim().is_empty() {
            problem(format!("{step_path}.name"), "a step needs a name".into());
        } else if !seen_names.insert(raw_step.name.clone()) {
            problem(
                format!("{step_path}.name"),
                format!(
                    "`{}` is used by an earlier step; step names are unique",
                    raw_step.name
                ),
            );
        }
        let step = Step {
            name: raw_step.name,
            check: raw_step.check.into(),
            apply: raw_step.apply.into(),
        };
        for (field, template) in [("check", &step.check), ("apply", &step.apply)] {
            for (suffix, command) in template.variants() {
                let path = format!("{step_path}.{field}{suffix}");
                if command.trim().is_empty() {
                    problem(path.clone(), "the command is empty".into());
                }
                match placeholders(command) {
                    Ok(names) => {
                        for name in names {
                            if !raw.params.contains_key(&name) {
                                problem(
                                    path.clone(),
                                    format!(
                                        "uses `{{{{ {name} }}}}` which is not declared under `params`"
                                    ),
                                );
                            }
                            used_params.insert(name);
                        }
                    }
                    Err(error) => problem(path, error.to_string()),
                }
            }
        }
        steps.push(step);
    }
    for name in raw.params.keys() {
        if !used_params.contains(name) {
            problem(
                format!("params.{name}"),
                "declared but no command uses it; remove it".into(),
            );
        }
    }

    if problems.is_empty() {
        Ok(Playbook {
            name: raw.name,
            description: raw.description,
            params: raw.params,
            steps,
        })
    } else {
        Err(PlaybookError::Invalid {
            file: file_stem.to_owned(),
            problems,
        })
    }
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
version: 1
name: demo
description: A demo.
params:
  key: the key
steps:
  - name: first
    check: test -e /tmp/{{ key }}
    apply: touch /tmp/{{ key }}
  - name: second
    check: "true"
    apply:
      debian: apt-get install -y x
      rhel: dnf install -y x
"#;

    #[test]
    fn parses_a_valid_playbook() {
        let playbook = parse("demo", VALID).expect("valid");
        assert_eq!(playbook.steps.len(), 2);
        assert_eq!(
            playbook.steps[1].apply.for_family(OsFamily::Rhel),
            "dnf install -y x"
        );
        assert_eq!(
            playbook.steps[1].apply.for_family(OsFamily::Debian),
            "apt-get install -y x"
        );
    }

    fn problems_of(file_stem: &str, text: &str) -> Vec<String> {
        match parse(file_stem, text) {
            Err(PlaybookError::Invalid { problems, .. }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            other => panic!("expected validation problems, got {other:?}"),
        }
    }

    #[test]
    fn collects_every_problem_with_its_path() {
        let text = r#"
version: 2
name: other
description: " "
params:
  unused: never used
  Bad-Name: x
steps:
  - name: same
    check: test {{ missing }}
    apply: ""
  - name: same
    check: "{{ unclosed"
    apply: "true"
"#;
        insta::assert_snapshot!(problems_of("demo", text).join("\n"), @r"
        version: unsupported version 2; this ccctl reads version 1
        name: `other` must equal the file name `demo`
        description: must say what the playbook does
        params.Bad-Name: a parameter name is lowercase letters, digits and `_`, starting with a letter
        steps[0].check: uses `{{ missing }}` which is not declared under `params`
        steps[0].apply: the command is empty
        steps[1].name: `same` is used by an earlier step; step names are unique
        steps[1].check: `{{` at byte 0 has no closing `}}`
        params.Bad-Name: declared but no command uses it; remove it
        params.unused: declared but no command uses it; remove it
        ");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = VALID.replace("description: A demo.", "description: A demo.\nbecome: true");
        let error = parse("demo", &text).expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `become`"),
            "{error}"
        );
    }

    #[test]
    fn a_per_family_command_needs_both_families() {
        let text = VALID.replace("      rhel: dnf install -y x\n", "");
        assert!(parse("demo", &text).is_err());
    }

    #[test]
    fn no_steps_is_a_problem() {
        let text = "version: 1\nname: demo\ndescription: d\nsteps: []\n";
        assert_eq!(
            problems_of("demo", text),
            vec!["steps: a playbook needs at least one step"]
        );
    }
}
