//! Turns sized parts (from a plan, or a test fixture) plus the environment into the full render model: every
//! Swarm service with its image, command, ports, networks, health check, update policy and mounts.

use std::collections::BTreeMap;

use crate::environment::{Environment, SecretKey};
use crate::error::{Problem, RenderError};
use crate::model::{
    Gateway, Healthcheck, Host, Kafka, Kind, Model, Mongodb, Mount, Nginx, Observability,
    RedisRole, ScrapeJob, SecretRef, Service, Target, Tidb, Ulimit, UpdatePolicy,
};
use crate::services::Spec;

/// Size and placement of one service (or one member of a data store), straight from the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    pub replicas: u32,
    pub cpu_reservation: f64,
    pub cpu_limit: f64,
    pub memory_reservation_mb: u64,
    pub memory_limit_mb: u64,
    pub constraints: Vec<String>,
    pub max_replicas_per_node: Option<u32>,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub sysctls: BTreeMap<String, String>,
}

/// The sized pieces a model is assembled from.
#[derive(Debug, Clone)]
pub struct Parts {
    pub plan_hash: String,
    pub plan_version: u32,
    pub target: Target,
    pub hosts: Vec<Host>,
    pub kafka: Kafka,
    pub tidb: Tidb,
    pub redis: Vec<RedisRole>,
    pub mongodb: Mongodb,
    pub prometheus_retention_days: u32,
    pub prometheus_retention_size_gb: u64,
    pub loki_retention_hours: u32,
    pub gateway_drain_window_s: u32,
    pub nginx_worker_connections: u32,
    /// Keyed by service name: `nginx`, `gateway`, `api`, ..., `kafka-1`, `pd-1`, `tikv-1`, `tidb`,
    /// `redis-cache-1`, `mongo-1`, `prometheus`, `alertmanager`, `grafana`, `loki`, and the exporters.
    pub sizing: BTreeMap<String, Sizing>,
}

/// The ccserver roles this build implements, and the port each listens on.
pub const APP_ROLES: [(&str, u16); 2] = [("gateway", 8080), ("api", 8081)];

/// Roles the plan sizes that this ccserver build does not implement yet (their ports will be
/// 8082–8084). They are not rendered: `ccserver` refuses a role it does not know, so their services
/// would restart forever and `ccctl deploy` would wait for a convergence that never comes. Their
/// events are on the bus already (`chat.events`), and their topics are created, for when they ship.
pub const PENDING_ROLES: [&str; 3] = ["moderation", "notifications", "webhooks"];

const SECONDS_AFTER_HEALTH_WINDOW: u32 = 10;

/// Assembles the model; every service of the stack must have a sizing entry.
pub fn assemble(parts: Parts, env: &Environment) -> Result<Model, RenderError> {
    let mut problems = Vec::new();
    let mut secrets = Vec::new();
    for key in SecretKey::ALL {
        if let Some(file) = env.secrets.get(&key) {
            secrets.push(SecretRef {
                id: key.id().to_owned(),
                name: format!(
                    "{}_{}_{}",
                    env.stack_name,
                    key.id(),
                    file.sha256.get(..8).unwrap_or(&file.sha256)
                ),
                file: file.path.clone(),
                compose_file: file.compose_path.clone(),
                sha256: file.sha256.clone(),
            });
        } else {
            problems.push(Problem::new(
                format!("secrets.{}", key.id()),
                "no file for this secret",
                "render generates missing secrets; pass every key in Environment::secrets",
            ));
        }
    }

    let mut builder = Builder {
        parts: &parts,
        env,
        services: Vec::new(),
        problems,
    };
    builder.all_services();
    let Builder {
        services, problems, ..
    } = builder;
    if !problems.is_empty() {
        return Err(RenderError::Invalid(problems));
    }

    let volumes: std::collections::BTreeSet<String> = services
        .iter()
        .flat_map(|service| &service.volumes)
        .filter(|mount| !mount.source.starts_with('/'))
        .map(|mount| mount.source.clone())
        .collect();
    let observability = Observability {
        scrape_interval_s: 15,
        prometheus_retention_days: parts.prometheus_retention_days,
        prometheus_retention_size_gb: parts.prometheus_retention_size_gb,
        loki_retention_hours: parts.loki_retention_hours,
        scrape_jobs: scrape_jobs(&parts),
    };
    Ok(Model {
        plan_hash: parts.plan_hash,
        plan_version: parts.plan_version,
        target: parts.target,
        stack_name: env.stack_name.clone(),
        domain: env.domain.to_string(),
        hostnames: env.hostnames.clone(),
        images: env.images.clone(),
        self_signed_tls: env.self_signed_tls,
        trusted_proxies: env.trusted_proxies.clone(),
        hosts: parts.hosts,
        services,
        volumes: volumes.into_iter().collect(),
        secrets,
        nginx: Nginx {
            worker_processes: parts
                .sizing
                .get("nginx")
                .map_or(1, |sizing| sizing.cpu_limit.ceil() as u32)
                .max(1),
            worker_connections: parts.nginx_worker_connections,
            rate_limit_per_second: 10,
            rate_limit_burst: 20,
            client_max_body_size_mb: 25,
            websocket_read_timeout_s: 3600,
            upstream_keepalive: 64,
            hsts_max_age_s: 63_072_000,
        },
        gateway: Gateway {
            drain_window_s: parts.gateway_drain_window_s,
            port: 8080,
            api_port: 8081,
            metrics_port: 8080,
        },
        kafka: parts.kafka,
        tidb: parts.tidb,
        redis: parts.redis,
        mongodb: parts.mongodb,
        observability,
    })
}

fn scrape_jobs(parts: &Parts) -> Vec<ScrapeJob> {
    let dns = |job: &str, service: &str, port: u16, path: &str| ScrapeJob {
        job: job.to_owned(),
        targets: Vec::new(),
        dns_name: Some(format!("tasks.{service}")),
        port,
        metrics_path: path.to_owned(),
    };
    let fixed = |job: &str, targets: Vec<String>, path: &str| ScrapeJob {
        job: job.to_owned(),
        targets,
        dns_name: None,
        port: 0,
        metrics_path: path.to_owned(),
    };
    let mut jobs: Vec<ScrapeJob> = APP_ROLES
        .iter()
        .map(|(role, port)| dns(role, role, *port, "/metrics"))
        .collect();
    jobs.push(dns("node-exporter", "node-exporter", 9100, "/metrics"));
    jobs.push(dns("cadvisor", "cadvisor", 8080, "/metrics"));
    jobs.push(fixed(
        "pd",
        parts
            .tidb
            .pd
            .iter()
            .map(|m| format!("{}:2379", m.name))
            .collect(),
        "/metrics",
    ));
    jobs.push(fixed(
        "tikv",
        parts
            .tidb
            .tikv
            .iter()
            .map(|m| format!("{}:20180", m.name))
            .collect(),
        "/metrics",
    ));
    jobs.push(dns("tidb", &parts.tidb.sql_service, 10080, "/metrics"));
    jobs.push(fixed(
        "kafka-exporter",
        vec!["kafka-exporter:9308".into()],
        "/metrics",
    ));
    jobs.push(fixed(
        "mongodb-exporter",
        vec!["mongodb-exporter:9216".into()],
        "/metrics",
    ));
    jobs.push(fixed(
        "prometheus",
        vec!["localhost:9090".into()],
        "/metrics",
    ));
    jobs.push(fixed(
        "alertmanager",
        vec!["alertmanager:9093".into()],
        "/metrics",
    ));
    jobs.push(fixed("grafana", vec!["grafana:3000".into()], "/metrics"));
    jobs.push(fixed("loki", vec!["loki:3100".into()], "/metrics"));
    jobs.push(dns("promtail", "promtail", 9080, "/metrics"));
    jobs
}

pub(crate) struct Builder<'a> {
    pub(crate) parts: &'a Parts,
    pub(crate) env: &'a Environment,
    pub(crate) services: Vec<Service>,
    pub(crate) problems: Vec<Problem>,
}

impl Builder<'_> {
    pub(crate) fn push(&mut self, spec: Spec) {
        let Some(sizing) = self.parts.sizing.get(&spec.name) else {
            self.problems.push(Problem::new(
                format!("sizing.{}", spec.name),
                "the plan has no size for this service",
                "re-run `ccctl plan` with this version of ccctl",
            ));
            return;
        };
        if sizing.cpu_limit < sizing.cpu_reservation
            || sizing.memory_limit_mb < sizing.memory_reservation_mb
        {
            self.problems.push(Problem::new(
                format!("services.{}.resources", spec.name),
                "a limit is below its reservation",
                "raise the limit or lower the reservation in the plan",
            ));
        }
        if sizing.replicas == 0 && !spec.global {
            self.problems.push(Problem::new(
                format!("services.{}.replicas", spec.name),
                "0 replicas",
                "every planned service needs at least one replica",
            ));
        }
        if self.parts.hosts.len() > 1 {
            let satisfiable = self.parts.hosts.iter().any(|host| {
                sizing.constraints.iter().all(|constraint| {
                    constraint
                        .strip_prefix("node.labels.")
                        .and_then(|rest| rest.split_once(" == "))
                        .is_none_or(|(key, value)| {
                            host.labels.get(key).is_some_and(|label| label == value)
                        })
                })
            });
            if !satisfiable {
                self.problems.push(Problem::new(
                    format!("services.{}.placement", spec.name),
                    format!("no host carries all of {:?}", sizing.constraints),
                    "re-run `ccctl plan`; the placement and the host labels disagree",
                ));
            }
        }
        let healthcheck = Healthcheck {
            test: spec.health,
            interval_s: 10,
            timeout_s: 5,
            retries: 3,
            start_period_s: spec.start_period_s,
        };
        let host_ports = spec.ports.iter().any(|port| port.mode == "host");
        let stateless = spec.kind == Kind::Stateless && !host_ports;
        let update = UpdatePolicy {
            order: if stateless {
                "start-first"
            } else {
                "stop-first"
            }
            .to_owned(),
            parallelism: if stateless && sizing.replicas > 2 {
                2
            } else {
                1
            },
            delay_s: if stateless { 10 } else { 30 },
            monitor_s: healthcheck.window_s() + SECONDS_AFTER_HEALTH_WINDOW,
        };
        let secrets = spec
            .secrets
            .iter()
            .map(|key| {
                // Private to the user the image runs as (Swarm applies it; Compose cannot, see
                // `SecretFile::compose_path`). mongod also refuses a keyfile others can read.
                Mount {
                    source: key.id().to_owned(),
                    target: self.secret_target(*key),
                    uid: Some(spec.runs_as.uid.to_string()),
                    gid: Some(spec.runs_as.gid.to_string()),
                    mode: Some("0400".to_owned()),
                }
            })
            .collect();
        self.services.push(Service {
            name: spec.name,
            image: spec.image,
            kind: spec.kind,
            mode: if spec.global { "global" } else { "replicated" }.to_owned(),
            replicas: sizing.replicas,
            entrypoint: spec.entrypoint,
            command: spec.command,
            environment: spec.environment,
            cpu_reservation: format!("{:.2}", sizing.cpu_reservation),
            cpu_limit: format!("{:.2}", sizing.cpu_limit),
            memory_reservation_mb: sizing.memory_reservation_mb,
            memory_limit_mb: sizing.memory_limit_mb,
            constraints: sizing.constraints.clone(),
            max_replicas_per_node: sizing.max_replicas_per_node,
            ports: spec.ports,
            networks: spec.networks.iter().map(|n| (*n).to_owned()).collect(),
            volumes: spec
                .volumes
                .into_iter()
                .map(|(source, target)| Mount {
                    source,
                    target,
                    uid: None,
                    gid: None,
                    mode: None,
                })
                .collect(),
            secrets,
            configs: spec
                .configs
                .into_iter()
                .map(|(source, target)| Mount {
                    source,
                    target,
                    uid: None,
                    gid: None,
                    mode: None,
                })
                .collect(),
            healthcheck,
            stop_grace_period_s: spec.stop_grace_period_s,
            ulimits: sizing.ulimits.clone(),
            sysctls: sizing.sysctls.clone(),
            update,
            tmpfs: Vec::new(),
        });
    }

    /// Where a secret appears under `/run/secrets`. The JWT key goes into ccserver's key-ring directory as
    /// `<kid>.key`, the key id derived from its content so a rotated key gets a new id.
    pub(crate) fn secret_target(&self, key: SecretKey) -> String {
        match (key, self.env.secrets.get(&key)) {
            (SecretKey::JwtSigningKey, Some(file)) => {
                format!(
                    "jwt-keys/k{}.key",
                    file.sha256.get(..12).unwrap_or(&file.sha256)
                )
            }
            _ => key.file_name().to_owned(),
        }
    }
}
