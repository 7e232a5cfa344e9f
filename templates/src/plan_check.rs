//! Checks that a plan is possible before it is rendered: a hand-edited plan with a recomputed hash can hold
//! anything. Every problem is collected, each named by its field in the plan file.

use cc_sizing::{Plan, RedisTopology, Resources, service_names as names};

use crate::adapter::REDIS_ROLES;
use crate::error::Problem;

pub(crate) fn check(plan: &Plan, problems: &mut Vec<Problem>) {
    let mut problem = |path: String, message: String, hint: &str| {
        problems.push(Problem::new(path, message, hint));
    };
    let replan = "re-run `ccctl plan` instead of editing the plan";
    for name in names::APPLICATION {
        match plan.services.get(name) {
            None => problem(format!("services.{name}"), "missing".into(), replan),
            Some(service) => {
                if service.replicas == 0 {
                    problem(format!("services.{name}.replicas"), "is 0".into(), replan);
                }
                check_resources(
                    &format!("services.{name}.resources"),
                    &service.resources,
                    &mut problem,
                );
            }
        }
    }
    let stores = &plan.data_stores;
    let tidb = &stores.tidb;
    for (field, set) in [("pd", &tidb.pd), ("tikv", &tidb.tikv), ("sql", &tidb.sql)] {
        if set.count == 0 {
            problem(
                format!("data_stores.tidb.{field}.count"),
                "is 0".into(),
                replan,
            );
        }
        check_resources(
            &format!("data_stores.tidb.{field}.resources"),
            &set.resources,
            &mut problem,
        );
    }
    if tidb.pd.count % 2 == 0 {
        problem(
            "data_stores.tidb.pd.count".into(),
            format!(
                "is {}: a PD quorum needs an odd member count",
                tidb.pd.count
            ),
            replan,
        );
    }
    if tidb.tikv.count < tidb.tikv_replicas || tidb.tikv_replicas == 0 {
        problem(
            "data_stores.tidb.tikv.count".into(),
            format!(
                "{} TiKV nodes cannot hold {} replicas of every region",
                tidb.tikv.count, tidb.tikv_replicas
            ),
            replan,
        );
    }
    let kafka = &stores.kafka;
    if kafka.brokers == 0
        || kafka.controllers == 0
        || kafka.controllers > kafka.brokers
        || kafka.controllers % 2 == 0
    {
        problem(
            "data_stores.kafka.controllers".into(),
            format!(
                "{} controllers among {} brokers: need an odd number, at least 1, at most the brokers",
                kafka.controllers, kafka.brokers
            ),
            replan,
        );
    }
    check_resources(
        "data_stores.kafka.resources",
        &kafka.resources,
        &mut problem,
    );
    if kafka.default_replication_factor > kafka.brokers
        || kafka.min_insync_replicas > kafka.default_replication_factor
    {
        problem(
            "data_stores.kafka.min_insync_replicas".into(),
            format!(
                "min.insync.replicas {} ≤ replication factor {} ≤ brokers {} does not hold",
                kafka.min_insync_replicas, kafka.default_replication_factor, kafka.brokers
            ),
            replan,
        );
    }
    for (index, topic) in kafka.topics.iter().enumerate() {
        if topic.partitions == 0
            || topic.replication_factor > kafka.brokers
            || topic.min_insync_replicas > topic.replication_factor
        {
            problem(
                format!("data_stores.kafka.topics[{index}]"),
                format!(
                    "topic `{}`: {} partitions, replication factor {}, min.insync.replicas {} with {} brokers",
                    topic.name,
                    topic.partitions,
                    topic.replication_factor,
                    topic.min_insync_replicas,
                    kafka.brokers
                ),
                replan,
            );
        }
    }
    for role in REDIS_ROLES {
        match stores.redis.get(role) {
            None => problem(
                format!("data_stores.redis.{role}"),
                "missing".into(),
                replan,
            ),
            Some(redis) => {
                if redis.masters == 0
                    || (redis.topology == RedisTopology::Cluster && redis.masters < 3)
                {
                    problem(
                        format!("data_stores.redis.{role}.masters"),
                        format!("is {}: at least 1, and 3 in cluster mode", redis.masters),
                        replan,
                    );
                }
                if redis.maxmemory_mb == 0 || redis.maxmemory_mb > redis.resources.memory_limit_mib
                {
                    problem(
                        format!("data_stores.redis.{role}.maxmemory_mb"),
                        format!(
                            "{} MB does not fit the {} MiB memory limit",
                            redis.maxmemory_mb, redis.resources.memory_limit_mib
                        ),
                        replan,
                    );
                }
                check_resources(
                    &format!("data_stores.redis.{role}.resources"),
                    &redis.resources,
                    &mut problem,
                );
            }
        }
    }
    let mongodb = &stores.mongodb;
    if mongodb.members == 0 || mongodb.members % 2 == 0 {
        problem(
            "data_stores.mongodb.members".into(),
            format!(
                "is {}: a replica set needs an odd member count",
                mongodb.members
            ),
            replan,
        );
    }
    check_resources(
        "data_stores.mongodb.resources",
        &mongodb.resources,
        &mut problem,
    );
    if plan.hosts.is_empty() {
        problem("hosts".into(), "no hosts".into(), replan);
    }
}

fn check_resources(
    path: &str,
    resources: &Resources,
    problem: &mut impl FnMut(String, String, &str),
) {
    if resources.cpu_limit_millicores == 0
        || resources.memory_limit_mib == 0
        || resources.cpu_limit_millicores < resources.cpu_reservation_millicores
        || resources.memory_limit_mib < resources.memory_reservation_mib
    {
        problem(
            path.to_owned(),
            format!(
                "limits (cpu {}m, memory {} MiB) must be non-zero and at least the reservations (cpu {}m, memory {} MiB)",
                resources.cpu_limit_millicores,
                resources.memory_limit_mib,
                resources.cpu_reservation_millicores,
                resources.memory_reservation_mib
            ),
            "re-run `ccctl plan` instead of editing the plan",
        );
    }
}
