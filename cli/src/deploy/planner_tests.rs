//! Which steps a deploy runs for a given plan and observed state.

use super::*;

fn host(name: &str, manager: bool, labels: &[(&str, &str)]) -> DesiredHost {
    DesiredHost {
        name: name.into(),
        manager,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

fn image(reference: &str, id: &str) -> DesiredImage {
    DesiredImage {
        reference: reference.into(),
        id: id.into(),
    }
}

/// cc-1 and cc-2 managers, cc-3 a worker; ccserver everywhere, redis on cc-3.
fn desired() -> Desired {
    let ccserver = image("ccserver:0.1.0", "sha256:aaa");
    let redis = image("redis:7", "sha256:rrr");
    Desired {
        hosts: vec![
            host("cc-1", true, &[("cc.gateway", "true")]),
            host("cc-2", true, &[("cc.api", "true")]),
            host("cc-3", false, &[("cc.redis_cache", "true"), ("rack", "b")]),
        ],
        images: BTreeMap::from([
            ("cc-1".into(), BTreeSet::from([ccserver.clone()])),
            ("cc-2".into(), BTreeSet::from([ccserver.clone()])),
            ("cc-3".into(), BTreeSet::from([ccserver, redis])),
        ]),
        release: "r2".into(),
        migrate: true,
        smoke: true,
    }
}

fn observed_host(membership: Membership, labels: &[(&str, &str)], images: &[&str]) -> ObservedHost {
    ObservedHost {
        membership,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        image_ids: images.iter().map(|id| (*id).to_owned()).collect(),
    }
}

fn manager() -> Membership {
    Membership::Manager {
        cluster: "swarm-1".into(),
    }
}

fn worker() -> Membership {
    Membership::Worker {
        cluster: "swarm-1".into(),
    }
}

/// The state right after a complete deploy of [`desired`].
fn converged() -> Observed {
    Observed {
        hosts: BTreeMap::from([
            (
                "cc-1".into(),
                observed_host(manager(), &[("cc.gateway", "true")], &["sha256:aaa"]),
            ),
            (
                "cc-2".into(),
                observed_host(manager(), &[("cc.api", "true")], &["sha256:aaa"]),
            ),
            (
                "cc-3".into(),
                observed_host(
                    worker(),
                    &[("cc.redis_cache", "true"), ("rack", "b")],
                    &["sha256:aaa", "sha256:rrr"],
                ),
            ),
        ]),
        release: Some("r2".into()),
        converged: true,
        migrated: Some("r2".into()),
    }
}

/// `run`/`skip` and the step, one line each.
fn brief(steps: &[PlannedStep]) -> Vec<String> {
    steps
        .iter()
        .map(|planned| {
            let what = match &planned.step {
                Step::InitSwarm { host } => format!("init-swarm {host}"),
                Step::JoinManager { host, via } => format!("join-manager {host} via {via}"),
                Step::JoinWorker { host, via } => format!("join-worker {host} via {via}"),
                Step::Promote { host } => format!("promote {host}"),
                Step::Demote { host } => format!("demote {host}"),
                Step::Label { host, set, remove } => format!(
                    "label {host} set={:?} remove={:?}",
                    set.keys().collect::<Vec<_>>(),
                    remove.iter().collect::<Vec<_>>()
                ),
                Step::ShipImage { image, hosts } => format!("ship {image} to {hosts:?}"),
                Step::DeployStack { release } => format!("deploy-stack {release}"),
                Step::Migrate { release } => format!("migrate {release}"),
                Step::WaitConverged => "wait-converged".into(),
                Step::SmokeTest => "smoke-test".into(),
            };
            format!("{} {what}", if planned.run { "run " } else { "skip" })
        })
        .collect()
}

#[test]
fn bare_hosts_run_every_step() {
    let steps = plan(&desired(), &Observed::default()).expect("plan");
    assert_eq!(
        brief(&steps),
        vec![
            "run  init-swarm cc-1",
            "run  join-manager cc-2 via cc-1",
            "run  join-worker cc-3 via cc-1",
            "run  label cc-1 set=[\"cc.gateway\"] remove=[]",
            "run  label cc-2 set=[\"cc.api\"] remove=[]",
            "run  label cc-3 set=[\"cc.redis_cache\", \"rack\"] remove=[]",
            "run  ship ccserver:0.1.0 to [\"cc-1\", \"cc-2\", \"cc-3\"]",
            "run  ship redis:7 to [\"cc-3\"]",
            "run  deploy-stack r2",
            "run  migrate r2",
            "run  wait-converged",
            "run  smoke-test",
        ]
    );
    assert!(changes_anything(&steps));
}

#[test]
fn a_converged_deploy_changes_nothing_and_says_why() {
    let steps = plan(&desired(), &converged()).expect("plan");
    assert!(!changes_anything(&steps));
    let ran: Vec<&PlannedStep> = steps.iter().filter(|step| step.run).collect();
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].step, Step::SmokeTest);
    assert!(steps.iter().all(|step| !step.why.is_empty()));
    let stack = steps
        .iter()
        .find(|step| matches!(step.step, Step::DeployStack { .. }))
        .expect("stack step");
    assert_eq!(stack.why, "this release already runs");
}

#[test]
fn an_interrupted_deploy_resumes_where_it_stopped() {
    // Killed after cc-2 joined and ccserver reached cc-1 only.
    let mut observed = Observed::default();
    observed.hosts.insert(
        "cc-1".into(),
        observed_host(manager(), &[], &["sha256:aaa"]),
    );
    observed
        .hosts
        .insert("cc-2".into(), observed_host(manager(), &[], &[]));
    let steps = plan(&desired(), &observed).expect("plan");
    let brief = brief(&steps);
    assert_eq!(brief[0], "skip init-swarm cc-1");
    assert_eq!(brief[1], "skip join-manager cc-2 via cc-1");
    assert_eq!(brief[2], "run  join-worker cc-3 via cc-1");
    assert_eq!(brief[6], "run  ship ccserver:0.1.0 to [\"cc-2\", \"cc-3\"]");
}

#[test]
fn an_existing_swarm_is_joined_through_the_manager_it_has() {
    let mut observed = Observed::default();
    observed
        .hosts
        .insert("cc-2".into(), observed_host(manager(), &[], &[]));
    let brief = brief(&plan(&desired(), &observed).expect("plan"));
    assert_eq!(brief[0], "skip init-swarm cc-2", "never a second swarm");
    assert_eq!(brief[1], "run  join-manager cc-1 via cc-2");
    assert_eq!(brief[2], "run  join-worker cc-3 via cc-2");
}

#[test]
fn role_changes_promote_and_demote() {
    let mut desired = desired();
    desired.hosts[1].manager = false; // cc-2 becomes a worker
    desired.hosts[2].manager = true; // cc-3 becomes a manager
    let brief = brief(&plan(&desired, &converged()).expect("plan"));
    assert_eq!(brief[1], "run  demote cc-2");
    assert_eq!(brief[2], "run  promote cc-3");
}

#[test]
fn labels_follow_the_plan_and_leave_the_operators_alone() {
    let mut observed = converged();
    let cc3 = observed.hosts.get_mut("cc-3").expect("cc-3");
    cc3.labels.insert("cc.kafka".into(), "true".into()); // moved away by the new plan
    cc3.labels.insert("team".into(), "infra".into()); // set by hand
    cc3.labels.insert("rack".into(), "a".into()); // the inventory now says b
    let steps = plan(&desired(), &observed).expect("plan");
    let label = steps
        .iter()
        .find(|step| matches!(&step.step, Step::Label { host, .. } if host == "cc-3"))
        .expect("cc-3 labels");
    assert!(label.run);
    assert_eq!(
        label.step,
        Step::Label {
            host: "cc-3".into(),
            set: BTreeMap::from([("rack".into(), "b".into())]),
            remove: BTreeSet::from(["cc.kafka".into()]),
        }
    );
}

#[test]
fn a_new_release_deploys_and_waits() {
    let mut observed = converged();
    observed.release = Some("r1".into());
    let steps = plan(&desired(), &observed).expect("plan");
    let brief = brief(&steps);
    assert!(
        brief.contains(&"run  deploy-stack r2".to_owned()),
        "{brief:?}"
    );
    assert!(
        brief.contains(&"run  wait-converged".to_owned()),
        "{brief:?}"
    );
    let stack = steps
        .iter()
        .find(|step| matches!(step.step, Step::DeployStack { .. }))
        .expect("stack");
    assert_eq!(stack.why, "replaces release r1");
}

#[test]
fn a_stack_that_has_not_converged_is_waited_for_without_redeploying() {
    let mut observed = converged();
    observed.converged = false;
    let brief = brief(&plan(&desired(), &observed).expect("plan"));
    assert!(
        brief.contains(&"skip deploy-stack r2".to_owned()),
        "{brief:?}"
    );
    assert!(
        brief.contains(&"run  wait-converged".to_owned()),
        "{brief:?}"
    );
}

#[test]
fn migrations_run_once_per_release_and_only_where_there_is_a_database() {
    // A run killed after the stack deploy: the release runs, its migration never completed.
    let mut observed = converged();
    observed.migrated = Some("r1".into());
    let brief_text = brief(&plan(&desired(), &observed).expect("plan"));
    assert!(
        brief_text.contains(&"run  migrate r2".to_owned()),
        "{brief_text:?}"
    );
    assert!(
        brief_text.contains(&"skip deploy-stack r2".to_owned()),
        "{brief_text:?}"
    );
    observed.migrated = None;
    assert!(
        brief(&plan(&desired(), &observed).expect("plan")).contains(&"run  migrate r2".to_owned())
    );
    let mut without = desired();
    without.migrate = false;
    without.smoke = false;
    let steps = plan(&without, &Observed::default()).expect("plan");
    let brief_text = brief(&steps);
    assert!(
        brief_text.contains(&"skip migrate r2".to_owned()),
        "{brief_text:?}"
    );
    assert!(
        brief_text.contains(&"skip smoke-test".to_owned()),
        "{brief_text:?}"
    );
}

#[test]
fn hosts_in_two_swarms_are_a_conflict() {
    let mut observed = converged();
    observed.hosts.get_mut("cc-3").expect("cc-3").membership = Membership::Worker {
        cluster: "other".into(),
    };
    let error = plan(&desired(), &observed).expect_err("split swarm");
    assert_eq!(
        error.to_string(),
        "hosts belong to different swarms (cc-3: other, cc-1: swarm-1, cc-2: swarm-1); make each leave the wrong one (`docker swarm leave`) and re-run"
    );
}

#[test]
fn a_plan_without_managers_is_a_conflict() {
    let mut desired = desired();
    for host in &mut desired.hosts {
        host.manager = false;
    }
    assert_eq!(
        plan(&desired, &Observed::default()),
        Err(PlanConflict::NoManager)
    );
}

#[test]
fn workers_without_a_cluster_id_are_not_a_conflict() {
    let mut observed = converged();
    observed.hosts.get_mut("cc-3").expect("cc-3").membership = Membership::Worker {
        cluster: String::new(),
    };
    assert!(plan(&desired(), &observed).is_ok());
}
