//! The deploy step planner, pure: from what the plan wants ([`Desired`]) and what runs now
//! ([`Observed`]), the ordered steps of a deploy, each marked as needed (with what it changes) or
//! skipped (with why). A re-run with nothing changed plans only skips, plus the smoke test (which only
//! chats in the smoke-test app):
//! deploy can say "nothing to do" and `--dry-run` can print exactly what would change.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Node labels under this prefix belong to the plan; others on a node are the operator's, left alone
/// unless the inventory sets them.
const PLAN_LABEL_PREFIX: &str = "cc.";

/// One host as the plan and inventory want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredHost {
    pub name: String,
    pub manager: bool,
    /// Plan labels plus the inventory's extra labels.
    pub labels: BTreeMap<String, String>,
}

/// An image a host needs, by reference and content id (`sha256:…`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DesiredImage {
    pub reference: String,
    pub id: String,
}

/// What the deploy must reach.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desired {
    /// In plan order: the first manager initialises the swarm when there is none.
    pub hosts: Vec<DesiredHost>,
    /// Host → the images its tasks run.
    pub images: BTreeMap<String, BTreeSet<DesiredImage>>,
    /// Identity of the rendered stack (plan hash, rendered files, image ids): equal means nothing to deploy.
    pub release: String,
    /// The stack has a database and Kafka to prepare (`ccserver migrate`): done once per release.
    pub migrate: bool,
    /// The stack has NGINX in front of a gateway: the smoke test chats through it.
    pub smoke: bool,
}

/// A host's place in a swarm, as `docker info` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    None,
    Worker { cluster: String },
    Manager { cluster: String },
}

impl Membership {
    fn cluster(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Worker { cluster } | Self::Manager { cluster } => Some(cluster),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedHost {
    pub membership: Membership,
    pub labels: BTreeMap<String, String>,
    /// Content ids of the images loaded on the host.
    pub image_ids: BTreeSet<String>,
}

/// What runs now. `None` for things that could not be observed yet (no swarm, no database): the steps
/// that depend on them run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub hosts: BTreeMap<String, ObservedHost>,
    pub release: Option<String>,
    /// Every service at its desired replica count with the current release.
    pub converged: bool,
    /// The release whose database bootstrap, topics and migrations last completed.
    pub migrated: Option<String>,
}

/// One deploy step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    InitSwarm {
        host: String,
    },
    JoinManager {
        host: String,
        via: String,
    },
    JoinWorker {
        host: String,
        via: String,
    },
    Promote {
        host: String,
    },
    Demote {
        host: String,
    },
    Label {
        host: String,
        set: BTreeMap<String, String>,
        remove: BTreeSet<String>,
    },
    ShipImage {
        image: String,
        hosts: Vec<String>,
    },
    DeployStack {
        release: String,
    },
    /// Database bootstrap, Kafka topics and schema migrations, as one task in the swarm.
    Migrate {
        release: String,
    },
    WaitConverged,
    SmokeTest,
}

/// A step and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    #[serde(flatten)]
    pub step: Step,
    pub run: bool,
    /// What it changes, or why nothing needs changing.
    pub why: String,
}

impl PlannedStep {
    fn run(step: Step, why: impl Into<String>) -> Self {
        Self {
            step,
            run: true,
            why: why.into(),
        }
    }

    fn skip(step: Step, why: impl Into<String>) -> Self {
        Self {
            step,
            run: false,
            why: why.into(),
        }
    }
}

/// States no deploy should paper over: the operator decides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanConflict {
    #[error("the plan has no manager host; re-plan")]
    NoManager,
    #[error(
        "hosts belong to different swarms ({}); make each leave the wrong one (`docker swarm leave`) and re-run",
        .0.iter().map(|(host, cluster)| format!("{host}: {cluster}")).collect::<Vec<_>>().join(", ")
    )]
    SplitSwarm(Vec<(String, String)>),
}

/// Plans a deploy. Steps come in the order they must run; a skipped step keeps its place so a dry
/// run shows the whole sequence.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<PlannedStep>, PlanConflict> {
    let none = ObservedHost {
        membership: Membership::None,
        labels: BTreeMap::new(),
        image_ids: BTreeSet::new(),
    };
    let observed_host = |name: &str| observed.hosts.get(name).unwrap_or(&none);

    let clusters: BTreeMap<&str, Vec<(String, String)>> =
        desired
            .hosts
            .iter()
            .fold(BTreeMap::new(), |mut clusters, host| {
                // Workers do not see the cluster id (empty): only managers can reveal a second swarm.
                if let Some(cluster) = observed_host(&host.name)
                    .membership
                    .cluster()
                    .filter(|cluster| !cluster.is_empty())
                {
                    clusters
                        .entry(cluster)
                        .or_insert_with(Vec::new)
                        .push((host.name.clone(), cluster.to_owned()));
                }
                clusters
            });
    if clusters.len() > 1 {
        return Err(PlanConflict::SplitSwarm(
            clusters.into_values().flatten().collect(),
        ));
    }

    // The swarm's entry point: a desired manager already managing it, else the first desired manager.
    let leader = desired
        .hosts
        .iter()
        .filter(|host| host.manager)
        .find(|host| {
            matches!(
                observed_host(&host.name).membership,
                Membership::Manager { .. }
            )
        })
        .or_else(|| desired.hosts.iter().find(|host| host.manager))
        .ok_or(PlanConflict::NoManager)?;

    let mut steps = Vec::new();
    let leader_step = Step::InitSwarm {
        host: leader.name.clone(),
    };
    steps.push(match observed_host(&leader.name).membership {
        Membership::Manager { .. } => PlannedStep::skip(
            leader_step,
            format!("{} already manages the swarm", leader.name),
        ),
        _ => PlannedStep::run(
            leader_step,
            format!("no swarm yet: {} initialises it", leader.name),
        ),
    });

    for host in desired.hosts.iter().filter(|host| host.name != leader.name) {
        let via = leader.name.clone();
        let membership = &observed_host(&host.name).membership;
        steps.push(match (host.manager, membership) {
            (true, Membership::None) => PlannedStep::run(
                Step::JoinManager {
                    host: host.name.clone(),
                    via,
                },
                "not in the swarm",
            ),
            (false, Membership::None) => PlannedStep::run(
                Step::JoinWorker {
                    host: host.name.clone(),
                    via,
                },
                "not in the swarm",
            ),
            (true, Membership::Worker { .. }) => PlannedStep::run(
                Step::Promote {
                    host: host.name.clone(),
                },
                "a worker the plan makes a manager",
            ),
            (false, Membership::Manager { .. }) => PlannedStep::run(
                Step::Demote {
                    host: host.name.clone(),
                },
                "a manager the plan makes a worker",
            ),
            (true, Membership::Manager { .. }) => PlannedStep::skip(
                Step::JoinManager {
                    host: host.name.clone(),
                    via,
                },
                "already a manager",
            ),
            (false, Membership::Worker { .. }) => PlannedStep::skip(
                Step::JoinWorker {
                    host: host.name.clone(),
                    via,
                },
                "already a worker",
            ),
        });
    }

    for host in &desired.hosts {
        let current = &observed_host(&host.name).labels;
        let set: BTreeMap<String, String> = host
            .labels
            .iter()
            .filter(|(key, value)| current.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let remove: BTreeSet<String> = current
            .keys()
            .filter(|key| key.starts_with(PLAN_LABEL_PREFIX) && !host.labels.contains_key(*key))
            .cloned()
            .collect();
        let why = if set.is_empty() && remove.is_empty() {
            "labels already match".to_owned()
        } else {
            format!("set {}, remove {}", set.len(), remove.len())
        };
        let run = !(set.is_empty() && remove.is_empty());
        let step = Step::Label {
            host: host.name.clone(),
            set,
            remove,
        };
        steps.push(if run {
            PlannedStep::run(step, why)
        } else {
            PlannedStep::skip(step, why)
        });
    }

    // One ship step per image, to every host that lacks it (hosts in plan order).
    let mut lacking: BTreeMap<&DesiredImage, Vec<String>> = BTreeMap::new();
    let mut all_images: BTreeSet<&DesiredImage> = BTreeSet::new();
    for host in &desired.hosts {
        for image in desired.images.get(&host.name).into_iter().flatten() {
            all_images.insert(image);
            if !observed_host(&host.name).image_ids.contains(&image.id) {
                lacking.entry(image).or_default().push(host.name.clone());
            }
        }
    }
    for image in all_images {
        let hosts = lacking.remove(image).unwrap_or_default();
        let why = if hosts.is_empty() {
            "every host that runs it has it".to_owned()
        } else {
            format!("missing on {}", hosts.join(", "))
        };
        let run = !hosts.is_empty();
        let step = Step::ShipImage {
            image: image.reference.clone(),
            hosts,
        };
        steps.push(if run {
            PlannedStep::run(step, why)
        } else {
            PlannedStep::skip(step, why)
        });
    }

    let deploy = observed.release.as_deref() != Some(desired.release.as_str());
    let stack_step = Step::DeployStack {
        release: desired.release.clone(),
    };
    steps.push(match &observed.release {
        _ if !deploy => PlannedStep::skip(stack_step, "this release already runs"),
        Some(current) => PlannedStep::run(stack_step, format!("replaces release {current}")),
        None => PlannedStep::run(stack_step, "no stack deployed yet"),
    });
    // Before convergence: the app services cannot start until their database user and topics exist.
    let migrate_step = Step::Migrate {
        release: desired.release.clone(),
    };
    steps.push(if !desired.migrate {
        PlannedStep::skip(migrate_step, "no database or Kafka in this stack")
    } else if observed.migrated.as_deref() == Some(desired.release.as_str()) {
        PlannedStep::skip(
            migrate_step,
            "database, topics and schema already prepared for this release",
        )
    } else {
        PlannedStep::run(
            migrate_step,
            "database user, missing topics and pending migrations, exactly once",
        )
    });
    steps.push(if deploy || !observed.converged {
        PlannedStep::run(
            Step::WaitConverged,
            if deploy {
                "after the stack update"
            } else {
                "not converged yet"
            },
        )
    } else {
        PlannedStep::skip(
            Step::WaitConverged,
            "every service runs its desired replicas",
        )
    });

    steps.push(if desired.smoke {
        PlannedStep::run(
            Step::SmokeTest,
            "always: connect, send and receive through NGINX",
        )
    } else {
        PlannedStep::skip(Step::SmokeTest, "no NGINX and gateway in this stack")
    });
    Ok(steps)
}

/// Whether a plan changes anything (the smoke test changes nothing the platform serves).
pub fn changes_anything(steps: &[PlannedStep]) -> bool {
    steps
        .iter()
        .any(|step| step.run && step.step != Step::SmokeTest)
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
