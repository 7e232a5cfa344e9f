//! The desired swarm membership and node labels, pure: from the plan (roles, `cc.<service>` labels) and
//! the inventory (extra labels), plus `cc.host=<plan host name>` so status and later deploys can map a
//! swarm node back to its plan host whatever the machine's hostname.

use cc_sizing::{HostRole, Plan};

use crate::deploy::planner::DesiredHost;
use crate::deploy::status::HOST_LABEL;
use crate::inventory::Inventory;

/// One [`DesiredHost`] per plan host, in plan order. Hosts missing from the inventory are skipped
/// (a validated inventory has them all).
pub fn desired_hosts(plan: &Plan, inventory: &Inventory) -> Vec<DesiredHost> {
    plan.hosts
        .iter()
        .filter_map(|host| {
            let node = inventory.node(&host.name)?;
            let mut labels = host.labels.clone();
            labels.extend(node.labels.clone());
            labels.insert(HOST_LABEL.to_owned(), host.name.clone());
            Some(DesiredHost {
                name: host.name.clone(),
                manager: host.roles.contains(&HostRole::Manager),
                labels,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::inventory::{self, PathBase};

    #[test]
    fn plan_labels_inventory_labels_and_the_host_name() {
        let raw =
            cc_sizing::RawInputs::from_sizing_toml("version = 1\nmau = 1000\n").expect("inputs");
        let valid = raw
            .validate(cc_sizing::Coefficients::embedded().expect("coefficients"))
            .expect("valid");
        let plan = cc_sizing::plan(&valid).expect("plan").plan;
        let inventory = inventory::parse(
            "inventory.toml",
            "version = 1\n[nodes.cc-1]\naddress = \"10.0.0.1\"\nkey = \"/k\"\nlabels = { rack = \"a\" }\n",
            &["cc-1"],
            PathBase {
                directory: Path::new("/"),
                home: None,
            },
        )
        .expect("inventory");
        let hosts = desired_hosts(&plan, &inventory);
        assert_eq!(hosts.len(), 1);
        assert!(hosts[0].manager);
        let labels: &BTreeMap<String, String> = &hosts[0].labels;
        assert_eq!(labels.get("cc.host").map(String::as_str), Some("cc-1"));
        assert_eq!(labels.get("rack").map(String::as_str), Some("a"));
        assert_eq!(labels.get("cc.gateway").map(String::as_str), Some("true"));
    }
}
