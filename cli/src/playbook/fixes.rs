//! From failed checks to playbook runs, pure: the distinct fixes the non-passing checks name, rendered
//! for the host's OS family and privilege.

use crate::playbook::catalog;
use crate::playbook::os::OsFamily;
use crate::playbook::preflight::{Fix, Outcome, Status};
use crate::playbook::render::{PlaybookRun, Privilege, render_steps};

/// The distinct fixes of the checks that did not pass, in check order.
pub fn fixes_of(outcomes: &[Outcome]) -> Vec<Fix> {
    let mut fixes: Vec<Fix> = Vec::new();
    for fix in outcomes
        .iter()
        .filter(|outcome| outcome.status != Status::Pass)
        .filter_map(|outcome| outcome.fix.clone())
    {
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    fixes
}

/// Renders each fix's playbook for the host. `Err` says why nothing can run (unknown family, a
/// playbook that does not take those parameters).
pub fn playbook_runs(
    fixes: &[Fix],
    family: Option<OsFamily>,
    privilege: Privilege,
) -> Result<Vec<PlaybookRun>, String> {
    let family = family
        .ok_or("the OS family is unknown (see the `os` check), so no playbook can be chosen")?;
    fixes
        .iter()
        .map(|fix| {
            let playbook = catalog::load(&fix.playbook).map_err(|error| error.to_string())?;
            let steps = render_steps(&playbook, family, &fix.params, privilege)
                .map_err(|error| error.to_string())?;
            let params: Vec<String> = fix.params.values().cloned().collect();
            let label = if params.is_empty() {
                fix.playbook.clone()
            } else {
                format!("{} {}", fix.playbook, params.join("="))
            };
            Ok(PlaybookRun { label, steps })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn outcome(status: Status, fix: Option<Fix>) -> Outcome {
        Outcome {
            check: "x".into(),
            status,
            message: String::new(),
            fix,
        }
    }

    fn sysctl_fix(key: &str, value: &str) -> Fix {
        Fix {
            playbook: "sysctl".into(),
            params: BTreeMap::from([
                ("key".to_owned(), key.to_owned()),
                ("value".to_owned(), value.to_owned()),
            ]),
        }
    }

    #[test]
    fn only_non_passing_distinct_fixes_in_order() {
        let thp = Fix {
            playbook: "transparent-hugepages".into(),
            params: BTreeMap::new(),
        };
        let outcomes = [
            outcome(Status::Fail, Some(sysctl_fix("vm.max_map_count", "262144"))),
            outcome(Status::Pass, Some(sysctl_fix("fs.nr_open", "1"))),
            outcome(Status::Warn, Some(thp.clone())),
            outcome(Status::Warn, Some(thp.clone())),
            outcome(Status::Fail, None),
        ];
        assert_eq!(
            fixes_of(&outcomes),
            vec![sysctl_fix("vm.max_map_count", "262144"), thp]
        );
    }

    #[test]
    fn runs_are_labelled_and_need_a_family() {
        let fixes = [sysctl_fix("vm.max_map_count", "262144")];
        let runs = playbook_runs(&fixes, Some(OsFamily::Debian), Privilege::Root).expect("runs");
        assert_eq!(runs[0].label, "sysctl vm.max_map_count=262144");
        assert_eq!(runs[0].steps.len(), 2);
        assert!(playbook_runs(&fixes, None, Privilege::Root).is_err());
        let unknown = [Fix {
            playbook: "nope".into(),
            params: BTreeMap::new(),
        }];
        assert!(playbook_runs(&unknown, Some(OsFamily::Rhel), Privilege::Root).is_err());
    }
}
