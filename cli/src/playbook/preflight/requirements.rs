//! What one host must satisfy, derived from the plan: its size, the kernel settings its services need,
//! the ports they will take, and the other hosts it must reach. Then the list of probes that check it.

use std::collections::BTreeMap;

use cc_sizing::{HostPlan, HostRole, Plan, service_names};

use crate::playbook::preflight::Probe;
use crate::playbook::preflight::kernel::{SysctlNeed, SysctlRequirement};
use crate::playbook::preflight::network::{Peer, PortNeed, Protocol};
use crate::playbook::preflight::system::Capacity;

/// Swarm's ports (Docker docs, "Use overlay networks"): manager API, gossip, VXLAN overlay traffic.
pub const SWARM_MANAGER_TCP: u16 = 2377;
pub const SWARM_GOSSIP: u16 = 7946;
pub const SWARM_VXLAN_UDP: u16 = 4789;

/// File descriptors a connection costs on the host that holds it: the client socket plus, at the edge,
/// the upstream socket NGINX opens for it.
const FDS_PER_CONNECTION: u64 = 2;
/// Descriptors the rest of the system uses, on top of the connections.
const FD_BASELINE: u64 = 65_536;
/// Conntrack entries below which no host should go (the kernel default on a 16 GiB host).
const CONNTRACK_FLOOR: u64 = 131_072;
/// Memory maps for Kafka's log segments and MongoDB/TiKV files (the value Kafka and Elastic recommend).
const DATA_MAX_MAP_COUNT: u64 = 262_144;

/// Everything `ccctl check` verifies on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRequirements {
    pub host: String,
    pub manager: bool,
    /// Runs a data store (TiDB PD/TiKV, Kafka, Redis, MongoDB): swap and THP matter here.
    pub data_host: bool,
    pub cpu_millicores: Capacity,
    pub memory_mib: Capacity,
    pub disk_gib: Capacity,
    /// Client connections the host's tasks hold at the peak.
    pub connections: u64,
    pub sysctls: Vec<SysctlNeed>,
    /// The largest `nofile` hard limit a container here asks for: the Docker daemon and containerd must
    /// hold at least that much themselves, or the container fails to start (`error setting rlimits`).
    pub container_nofile: Option<u64>,
    pub ports: Vec<PortNeed>,
    pub peers: Vec<Peer>,
}

/// The `nofile` limit the rendered data stores (Kafka, Redis, MongoDB, TiKV) ask for.
pub const DATA_STORE_NOFILE: u64 = 1_048_576;

/// Whether a placed task is a data store.
pub fn is_data_service(service: &str) -> bool {
    [
        service_names::TIDB_PD,
        service_names::TIDB_TIKV,
        service_names::KAFKA,
        service_names::MONGODB,
    ]
    .contains(&service)
        || (service.starts_with("redis_") && !service.ends_with(service_names::SENTINEL_SUFFIX))
}

/// A host's address as the other hosts see it, for the reachability probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    pub name: String,
    pub address: String,
    pub manager: bool,
}

/// The Swarm ports `from` must reach on `to`.
pub fn peer_for(to: &PeerAddress) -> Peer {
    let mut tcp_ports = Vec::new();
    if to.manager {
        tcp_ports.push(SWARM_MANAGER_TCP);
    }
    tcp_ports.push(SWARM_GOSSIP);
    Peer {
        name: to.name.clone(),
        address: to.address.clone(),
        tcp_ports,
        udp_ports: vec![SWARM_GOSSIP, SWARM_VXLAN_UDP],
    }
}

fn sysctl_requirement(key: &str, value: &str) -> SysctlRequirement {
    let words: Vec<&str> = value.split_whitespace().collect();
    match words.as_slice() {
        [number] => number.parse().map_or_else(
            |_| SysctlRequirement::Equals(value.to_owned()),
            SysctlRequirement::AtLeast,
        ),
        [low, high] if key.ends_with("ip_local_port_range") => match (low.parse(), high.parse()) {
            (Ok(low), Ok(high)) => SysctlRequirement::Covers { low, high },
            _ => SysctlRequirement::Equals(value.to_owned()),
        },
        _ => SysctlRequirement::Equals(value.to_owned()),
    }
}

/// Keeps the stricter of two requirements on the same key.
fn stricter(current: SysctlRequirement, other: SysctlRequirement) -> SysctlRequirement {
    match (current, other) {
        (SysctlRequirement::AtLeast(a), SysctlRequirement::AtLeast(b)) => {
            SysctlRequirement::AtLeast(a.max(b))
        }
        (
            SysctlRequirement::Covers {
                low: a_low,
                high: a_high,
            },
            SysctlRequirement::Covers {
                low: b_low,
                high: b_high,
            },
        ) => SysctlRequirement::Covers {
            low: a_low.min(b_low),
            high: a_high.max(b_high),
        },
        (current, _) => current,
    }
}

/// Derives the requirements of `host`. `peers` are the other hosts (never `host` itself).
pub fn for_host(plan: &Plan, host: &HostPlan, peers: &[PeerAddress]) -> HostRequirements {
    let manager = host.roles.contains(&HostRole::Manager);
    let services_here: BTreeMap<&str, u64> =
        host.tasks.iter().fold(BTreeMap::new(), |mut map, task| {
            *map.entry(task.service.as_str()).or_insert(0) += 1;
            map
        });
    let data_host = services_here.keys().any(|service| is_data_service(service));

    // Sysctls and ulimits the application services on this host ask for.
    let mut sysctls: BTreeMap<String, (SysctlRequirement, Vec<&str>)> = BTreeMap::new();
    let mut nofile: Option<(u64, &str)> = None;
    let mut connections = 0;
    for (service_name, service) in &plan.services {
        let Some(&tasks) = services_here.get(service_name.as_str()) else {
            continue;
        };
        for (key, value) in &service.sysctls {
            let requirement = sysctl_requirement(key, value);
            match sysctls.remove(key) {
                Some((current, mut by)) => {
                    by.push(service_name);
                    sysctls.insert(key.clone(), (stricter(current, requirement), by));
                }
                None => {
                    sysctls.insert(key.clone(), (requirement, vec![service_name]));
                }
            }
        }
        if let Some(limit) = service.ulimits.get("nofile")
            && nofile.is_none_or(|(hard, _)| limit.hard > hard)
        {
            nofile = Some((limit.hard, service_name));
        }
        if service.capacity.unit == "connections" {
            connections += service.capacity.per_replica * tasks;
        }
    }

    let mut needs: Vec<SysctlNeed> = sysctls
        .into_iter()
        .map(|(key, (requirement, by))| SysctlNeed {
            key,
            requirement,
            reason: format!("set for {}", by.join(", ")),
        })
        .collect();
    let mut add = |key: &str, minimum: u64, reason: String| {
        if let Some(existing) = needs.iter_mut().find(|need| need.key == key) {
            existing.requirement = stricter(
                existing.requirement.clone(),
                SysctlRequirement::AtLeast(minimum),
            );
        } else {
            needs.push(SysctlNeed {
                key: key.to_owned(),
                requirement: SysctlRequirement::AtLeast(minimum),
                reason,
            });
        }
    };
    let fds = FDS_PER_CONNECTION * connections + FD_BASELINE;
    if let Some((hard, service)) = nofile {
        add(
            "fs.nr_open",
            hard,
            format!("no container can raise nofile above it; {service} asks {hard}"),
        );
    }
    add(
        "fs.file-max",
        fds.max(nofile.map_or(0, |(hard, _)| hard)),
        format!("{connections} connections held here × {FDS_PER_CONNECTION} fds + {FD_BASELINE}"),
    );
    add(
        "net.netfilter.nf_conntrack_max",
        (FDS_PER_CONNECTION * connections).max(CONNTRACK_FLOOR),
        format!("{connections} connections held here, 2 tracked flows each"),
    );
    if data_host {
        add(
            "vm.max_map_count",
            DATA_MAX_MAP_COUNT,
            "data stores map many files (Kafka segments, MongoDB, TiKV)".to_owned(),
        );
    }
    needs.sort_by(|a, b| a.key.cmp(&b.key));

    let mut ports = Vec::new();
    if manager {
        ports.push(port(SWARM_MANAGER_TCP, Protocol::Tcp, "Swarm manager API"));
    }
    ports.push(port(SWARM_GOSSIP, Protocol::Tcp, "Swarm gossip"));
    ports.push(port(SWARM_GOSSIP, Protocol::Udp, "Swarm gossip"));
    ports.push(port(
        SWARM_VXLAN_UDP,
        Protocol::Udp,
        "Swarm overlay network",
    ));
    if services_here.contains_key(service_names::NGINX) {
        ports.push(port(80, Protocol::Tcp, "NGINX"));
        ports.push(port(443, Protocol::Tcp, "NGINX"));
    }

    HostRequirements {
        host: host.name.clone(),
        manager,
        data_host,
        cpu_millicores: Capacity {
            planned: host.cpu_millicores,
            reserved: host.utilisation.cpu_reserved_millicores,
        },
        memory_mib: Capacity {
            planned: host.memory_mib,
            reserved: host.utilisation.memory_reserved_mib,
        },
        disk_gib: Capacity {
            planned: host.disk_gib,
            reserved: host.utilisation.disk_reserved_gib,
        },
        connections,
        sysctls: needs,
        container_nofile: nofile
            .map(|(hard, _)| hard)
            .into_iter()
            .chain(data_host.then_some(DATA_STORE_NOFILE))
            .max(),
        ports,
        peers: peers.iter().map(peer_for).collect(),
    }
}

fn port(port: u16, protocol: Protocol, reason: &str) -> PortNeed {
    PortNeed {
        port,
        protocol,
        reason: reason.to_owned(),
    }
}

/// The probes that check `requirements`, `os` first (fixes need the OS family it finds).
pub fn probes(requirements: &HostRequirements, docker_repository: &str) -> Vec<Probe> {
    let mut probes = vec![
        Probe::Os,
        Probe::Cpu(requirements.cpu_millicores),
        Probe::Memory(requirements.memory_mib),
        Probe::Disk(requirements.disk_gib),
        Probe::Clock,
        Probe::Docker {
            repository: docker_repository.to_owned(),
        },
        Probe::Ports(requirements.ports.clone()),
    ];
    probes.extend(requirements.sysctls.iter().cloned().map(Probe::Sysctl));
    if let Some(nofile) = requirements.container_nofile {
        probes.push(Probe::DaemonNofile(nofile));
    }
    probes.push(Probe::Ipvs);
    if requirements.data_host {
        probes.push(Probe::Swap);
        probes.push(Probe::TransparentHugePages);
    }
    if requirements.peers.is_empty() {
        probes.push(Probe::NoPeers);
    } else {
        probes.extend(requirements.peers.iter().cloned().map(Probe::Reach));
    }
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_services() {
        for (service, data) in [
            ("kafka", true),
            ("tidb_tikv", true),
            ("tidb_sql", false),
            ("redis_cache", true),
            ("redis_cache_sentinel", false),
            ("gateway", false),
            ("mongodb", true),
        ] {
            assert_eq!(is_data_service(service), data, "{service}");
        }
    }

    #[test]
    fn sysctl_requirements_from_values() {
        assert_eq!(
            sysctl_requirement("net.core.somaxconn", "65535"),
            SysctlRequirement::AtLeast(65535)
        );
        assert_eq!(
            sysctl_requirement("net.ipv4.ip_local_port_range", "1024 65535"),
            SysctlRequirement::Covers {
                low: 1024,
                high: 65535
            }
        );
        assert_eq!(
            sysctl_requirement("net.ipv4.tcp_congestion_control", "bbr"),
            SysctlRequirement::Equals("bbr".into())
        );
        assert_eq!(
            stricter(
                SysctlRequirement::AtLeast(10),
                SysctlRequirement::AtLeast(20)
            ),
            SysctlRequirement::AtLeast(20)
        );
    }

    fn plan_for(sizing: &str) -> Plan {
        let raw = cc_sizing::RawInputs::from_sizing_toml(sizing).expect("sizing inputs");
        let coefficients = cc_sizing::Coefficients::embedded().expect("coefficients");
        let valid = raw.validate(coefficients).expect("valid inputs");
        cc_sizing::plan(&valid).expect("plan").plan
    }

    #[test]
    fn the_development_plan_asks_its_single_host_for_everything() {
        let plan = plan_for("version = 1\nmau = 1000\n");
        assert_eq!(plan.hosts.len(), 1);
        let needs = for_host(&plan, &plan.hosts[0], &[]);
        assert!(needs.manager && needs.data_host);
        assert!(needs.peers.is_empty());
        let keys: Vec<&str> = needs.sysctls.iter().map(|need| need.key.as_str()).collect();
        for key in [
            "fs.file-max",
            "fs.nr_open",
            "net.netfilter.nf_conntrack_max",
            "vm.max_map_count",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        let ports: Vec<(u16, Protocol)> = needs
            .ports
            .iter()
            .map(|need| (need.port, need.protocol))
            .collect();
        for port in [
            (2377, Protocol::Tcp),
            (7946, Protocol::Udp),
            (4789, Protocol::Udp),
            (443, Protocol::Tcp),
        ] {
            assert!(ports.contains(&port), "{port:?} missing from {ports:?}");
        }
        let probes = probes(&needs, "https://download.docker.com");
        assert_eq!(probes[0], Probe::Os, "os first: fixes need the family");
        assert!(probes.contains(&Probe::NoPeers));
    }

    #[test]
    fn a_production_plan_checks_every_pair_of_hosts() {
        let plan = plan_for("version = 1\nmau = 200000\n");
        assert!(plan.hosts.len() > 1, "expected several hosts");
        let addresses: Vec<PeerAddress> = plan
            .hosts
            .iter()
            .enumerate()
            .map(|(index, host)| PeerAddress {
                name: host.name.clone(),
                address: format!("10.0.0.{}", index + 1),
                manager: host.roles.contains(&HostRole::Manager),
            })
            .collect();
        for host in &plan.hosts {
            let peers: Vec<PeerAddress> = addresses
                .iter()
                .filter(|peer| peer.name != host.name)
                .cloned()
                .collect();
            let needs = for_host(&plan, host, &peers);
            assert_eq!(needs.peers.len(), plan.hosts.len() - 1);
            for (peer, address) in needs.peers.iter().zip(&peers) {
                assert_eq!(peer.tcp_ports.contains(&SWARM_MANAGER_TCP), address.manager);
            }
            assert_eq!(
                needs
                    .ports
                    .iter()
                    .any(|need| need.port == SWARM_MANAGER_TCP),
                needs.manager
            );
        }
    }

    #[test]
    fn peers_reach_managers_on_2377_only() {
        let manager = peer_for(&PeerAddress {
            name: "m".into(),
            address: "10.0.0.1".into(),
            manager: true,
        });
        let worker = peer_for(&PeerAddress {
            name: "w".into(),
            address: "10.0.0.2".into(),
            manager: false,
        });
        assert_eq!(manager.tcp_ports, vec![2377, 7946]);
        assert_eq!(worker.tcp_ports, vec![7946]);
        assert_eq!(worker.udp_ports, vec![7946, 4789]);
    }
}
