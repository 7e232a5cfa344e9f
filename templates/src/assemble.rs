//! Turns sized parts (from a plan, or a test fixture) plus the environment into the full render model: every
//! Swarm service with its image, command, ports, networks, health check, update policy and mounts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::environment::{Environment, SecretKey};
use crate::error::{Problem, RenderError};
use crate::model::{
    Gateway, Healthcheck, Host, Kafka, Kind, Model, Mongodb, Mount, Nginx, Observability, Port,
    RedisRole, ScrapeJob, SecretRef, Service, Target, Tidb, Ulimit, UpdatePolicy,
};

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

/// The ccserver roles and the port each listens on.
pub const APP_ROLES: [(&str, u16); 5] = [
    ("gateway", 8080),
    ("api", 8081),
    ("moderation", 8082),
    ("notifications", 8083),
    ("webhooks", 8084),
];

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

struct Builder<'a> {
    parts: &'a Parts,
    env: &'a Environment,
    services: Vec<Service>,
    problems: Vec<Problem>,
}

/// What differs between services; the rest comes from the sizing entry and common rules.
struct Spec {
    name: String,
    image: String,
    kind: Kind,
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    ports: Vec<Port>,
    networks: Vec<&'static str>,
    volumes: Vec<(String, String)>,
    secrets: Vec<SecretKey>,
    configs: Vec<(String, String)>,
    health: Vec<String>,
    start_period_s: u32,
    stop_grace_period_s: u32,
    global: bool,
}

impl Spec {
    fn new(name: impl Into<String>, image: &str, kind: Kind) -> Self {
        Self {
            name: name.into(),
            image: image.to_owned(),
            kind,
            command: Vec::new(),
            environment: BTreeMap::new(),
            ports: Vec::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
            secrets: Vec::new(),
            configs: Vec::new(),
            health: Vec::new(),
            start_period_s: 30,
            stop_grace_period_s: 30,
            global: false,
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn shell(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.to_owned()]
}

fn health_shell(script: &str) -> Vec<String> {
    vec!["CMD-SHELL".into(), script.to_owned()]
}

impl Builder<'_> {
    fn push(&mut self, spec: Spec) {
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
                // mongod (uid 999 in the image) refuses a keyfile readable by others.
                let private = *key == SecretKey::MongodbKeyfile;
                Mount {
                    source: key.id().to_owned(),
                    target: self.secret_target(*key),
                    uid: private.then(|| "999".to_owned()),
                    mode: private.then(|| "0400".to_owned()),
                }
            })
            .collect();
        self.services.push(Service {
            name: spec.name,
            image: spec.image,
            kind: spec.kind,
            mode: if spec.global { "global" } else { "replicated" }.to_owned(),
            replicas: sizing.replicas,
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
    fn secret_target(&self, key: SecretKey) -> String {
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

    fn all_services(&mut self) {
        self.edge();
        self.app();
        self.kafka();
        self.tidb();
        self.redis();
        self.mongodb();
        self.observability();
    }

    fn edge(&mut self) {
        let mut nginx = Spec::new("nginx", &self.env.images.nginx, Kind::Stateless);
        for port in [80, 443] {
            nginx.ports.push(Port {
                target: port,
                published: port,
                protocol: "tcp".into(),
                mode: "host".into(),
            });
        }
        nginx.networks = vec!["edge"];
        nginx.secrets = vec![SecretKey::TlsCertificate, SecretKey::TlsPrivateKey];
        nginx.configs = vec![
            ("nginx/nginx.conf".into(), "/etc/nginx/nginx.conf".into()),
            (
                "nginx/cc-security-headers.conf".into(),
                "/etc/nginx/cc-security-headers.conf".into(),
            ),
        ];
        nginx.health = health_shell("curl -fsS http://127.0.0.1/healthz || exit 1");
        nginx.start_period_s = 10;
        // NGINX finishes in-flight requests on SIGQUIT; WebSockets are drained by the gateway itself.
        nginx.stop_grace_period_s = self.parts.gateway_drain_window_s + 15;
        self.push(nginx);
    }

    fn app(&mut self) {
        let kafka = self.parts.kafka.bootstrap_servers.clone();
        let redis: BTreeMap<String, String> = self
            .parts
            .redis
            .iter()
            .map(|role| {
                (
                    format!("CCSERVER_REDIS_{}_URLS", role.role.to_uppercase()),
                    role.endpoints.clone(),
                )
            })
            .collect();
        let mongo = format!(
            "mongodb://{}/cc?replicaSet={}&w=majority",
            self.parts.mongodb.hosts, self.parts.mongodb.replica_set
        );
        let drain = self.parts.gateway_drain_window_s;
        for (role, port) in APP_ROLES {
            let mut spec = Spec::new(role, &self.env.images.ccserver, Kind::Stateless);
            spec.command = strings(&["ccserver", "--config", "/etc/ccserver/ccserver.toml"]);
            spec.configs = vec![(
                format!("ccserver/{role}.toml"),
                "/etc/ccserver/ccserver.toml".into(),
            )];
            let environment = &mut spec.environment;
            environment.insert("CCSERVER_KAFKA_BROKERS".into(), kafka.clone());
            environment.insert("CCSERVER_KAFKA_USERNAME".into(), "app".into());
            environment.insert(
                "CCSERVER_KAFKA_PASSWORD_FILE".into(),
                "/run/secrets/kafka_app_password".into(),
            );
            environment.insert(
                "CCSERVER_DATABASE_URL".into(),
                format!("mysql://cc_app@{}:4000/cc", self.parts.tidb.sql_service),
            );
            environment.insert(
                "CCSERVER_DATABASE_PASSWORD_FILE".into(),
                "/run/secrets/tidb_app_password".into(),
            );
            environment.insert("CCSERVER_MONGODB_URL".into(), mongo.clone());
            environment.insert(
                "CCSERVER_MONGODB_PASSWORD_FILE".into(),
                "/run/secrets/mongodb_app_password".into(),
            );
            environment.insert(
                "CCSERVER_REDIS_PASSWORD_FILE".into(),
                "/run/secrets/redis_password".into(),
            );
            environment.extend(redis.clone());
            spec.secrets = vec![
                SecretKey::JwtSigningKey,
                SecretKey::KafkaAppPassword,
                SecretKey::TidbAppPassword,
                SecretKey::MongodbAppPassword,
                SecretKey::RedisPassword,
            ];
            if role == "gateway" {
                // Longer than the drain window, so Swarm never SIGKILLs a gateway mid-drain.
                spec.stop_grace_period_s = drain + 15;
            }
            if role == "webhooks" {
                spec.environment.insert(
                    "CCSERVER_WEBHOOK_SIGNING_KEY_FILE".into(),
                    "/run/secrets/webhook_signing_key".into(),
                );
                spec.secrets.push(SecretKey::WebhookSigningKey);
            }
            spec.networks = if matches!(role, "gateway" | "api") {
                vec!["edge", "app", "data", "monitoring"]
            } else {
                vec!["app", "data", "monitoring"]
            };
            spec.health = vec![
                "CMD".into(),
                "ccserver".into(),
                "healthcheck".into(),
                format!("http://127.0.0.1:{port}/readyz"),
            ];
            spec.start_period_s = 20;
            self.push(spec);
        }
    }

    fn kafka(&mut self) {
        let brokers = self.parts.kafka.brokers.clone();
        let heap = self.parts.kafka.heap_mb;
        for broker in brokers {
            let mut spec = Spec::new(&broker.service, &self.env.images.kafka, Kind::Stateful);
            spec.command = shell(&format!(
                "/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id {} \
                 --config /etc/kafka/server.properties && exec /opt/kafka/bin/kafka-server-start.sh \
                 /etc/kafka/server.properties",
                self.parts.kafka.cluster_id
            ));
            spec.environment
                .insert("KAFKA_HEAP_OPTS".into(), format!("-Xms{heap}m -Xmx{heap}m"));
            spec.environment.insert(
                "KAFKA_OPTS".into(),
                "-Djava.security.auth.login.config=/run/secrets/kafka_jaas.conf".into(),
            );
            spec.networks = vec!["data", "monitoring"];
            spec.volumes = vec![(format!("{}-data", broker.service), "/var/lib/kafka".into())];
            spec.secrets = vec![SecretKey::KafkaJaas];
            spec.configs = vec![(
                format!("kafka/{}.properties", broker.service),
                "/etc/kafka/server.properties".into(),
            )];
            spec.health = health_shell("nc -z 127.0.0.1 9092 || exit 1");
            spec.start_period_s = 60;
            // Controlled shutdown moves leadership away first; give it time.
            spec.stop_grace_period_s = 120;
            self.push(spec);
        }
        let mut exporter = Spec::new(
            "kafka-exporter",
            &self.env.images.kafka_exporter,
            Kind::Stateless,
        );
        let servers = self
            .parts
            .kafka
            .brokers
            .iter()
            .fold(String::new(), |mut servers, broker| {
                let _ = write!(servers, " --kafka.server={}:9092", broker.service);
                servers
            });
        exporter.command = shell(&format!(
            "exec kafka_exporter{servers} --sasl.enabled --sasl.mechanism=plain --sasl.username=app \
             --sasl.password=\"$$(cat /run/secrets/kafka_app_password)\""
        ));
        exporter.networks = vec!["data", "monitoring"];
        exporter.secrets = vec![SecretKey::KafkaAppPassword];
        exporter.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9308/metrics || exit 1");
        self.push(exporter);
    }

    fn tidb(&mut self) {
        let tidb = self.parts.tidb.clone();
        for member in &tidb.pd {
            let name = &member.name;
            let mut spec = Spec::new(name, &self.env.images.pd, Kind::Stateful);
            spec.command = vec![
                "/pd-server".into(),
                format!("--name={name}"),
                "--client-urls=http://0.0.0.0:2379".into(),
                "--peer-urls=http://0.0.0.0:2380".into(),
                format!("--advertise-client-urls=http://{name}:2379"),
                format!("--advertise-peer-urls=http://{name}:2380"),
                format!("--initial-cluster={}", tidb.pd_initial_cluster),
                "--data-dir=/data".into(),
                "--config=/etc/pd/pd.toml".into(),
            ];
            spec.networks = vec!["data", "monitoring"];
            spec.volumes = vec![(format!("{name}-data"), "/data".into())];
            spec.configs = vec![("tidb/pd.toml".into(), "/etc/pd/pd.toml".into())];
            spec.health = health_shell(
                "wget -q -O /dev/null http://127.0.0.1:2379/pd/api/v1/health || exit 1",
            );
            self.push(spec);
        }
        for member in &tidb.tikv {
            let name = &member.name;
            let mut spec = Spec::new(name, &self.env.images.tikv, Kind::Stateful);
            spec.command = vec![
                "/tikv-server".into(),
                "--addr=0.0.0.0:20160".into(),
                format!("--advertise-addr={name}:20160"),
                "--status-addr=0.0.0.0:20180".into(),
                format!("--advertise-status-addr={name}:20180"),
                format!("--pd={}", tidb.pd_endpoints),
                "--data-dir=/data".into(),
                "--config=/etc/tikv/tikv.toml".into(),
            ];
            spec.networks = vec!["data", "monitoring"];
            spec.volumes = vec![(format!("{name}-data"), "/data".into())];
            spec.configs = vec![(format!("tidb/{name}.toml"), "/etc/tikv/tikv.toml".into())];
            spec.health =
                health_shell("wget -q -O /dev/null http://127.0.0.1:20180/status || exit 1");
            spec.start_period_s = 60;
            spec.stop_grace_period_s = 120;
            self.push(spec);
        }
        let mut sql = Spec::new(&tidb.sql_service, &self.env.images.tidb, Kind::Stateless);
        sql.command = vec![
            "/tidb-server".into(),
            "--store=tikv".into(),
            format!("--path={}", tidb.pd_endpoints),
            "--config=/etc/tidb/tidb.toml".into(),
        ];
        sql.networks = vec!["data", "monitoring"];
        sql.configs = vec![("tidb/tidb.toml".into(), "/etc/tidb/tidb.toml".into())];
        sql.health = health_shell("wget -q -O /dev/null http://127.0.0.1:10080/status || exit 1");
        sql.start_period_s = 30;
        self.push(sql);
    }

    fn redis(&mut self) {
        let roles = self.parts.redis.clone();
        for role in &roles {
            for node in &role.nodes {
                let mut spec = Spec::new(&node.service, &self.env.images.redis, Kind::Stateful);
                // The password comes from the secret at start-up so it is never in a rendered file.
                let auth = "--requirepass \"$$(cat /run/secrets/redis_password)\" \
                            --masterauth \"$$(cat /run/secrets/redis_password)\"";
                spec.command = shell(&format!(
                    "exec redis-server /usr/local/etc/redis/redis.conf {auth}"
                ));
                spec.networks = vec!["data", "monitoring"];
                if role.appendonly || role.rdb_snapshots {
                    spec.volumes = vec![(format!("{}-data", node.service), "/data".into())];
                }
                spec.secrets = vec![SecretKey::RedisPassword];
                spec.configs = vec![(
                    format!("redis/{}.conf", node.service),
                    "/usr/local/etc/redis/redis.conf".into(),
                )];
                spec.health = health_shell(
                    "REDISCLI_AUTH=\"$$(cat /run/secrets/redis_password)\" redis-cli ping | grep -q PONG",
                );
                spec.start_period_s = 10;
                self.push(spec);
            }
        }
        for role in &roles {
            for sentinel in &role.sentinels {
                let mut spec = Spec::new(sentinel, &self.env.images.redis, Kind::Stateful);
                // Sentinel rewrites its config file: copy the rendered one to the volume, add the password.
                spec.command = shell(&format!(
                    "cp /usr/local/etc/redis/sentinel.conf /data/sentinel.conf && printf 'sentinel auth-pass \
                     cc-{role} %s\\n' \"$$(cat /run/secrets/redis_password)\" >> /data/sentinel.conf && exec \
                     redis-sentinel /data/sentinel.conf",
                    role = role.role
                ));
                spec.networks = vec!["data", "monitoring"];
                spec.volumes = vec![(format!("{sentinel}-data"), "/data".into())];
                spec.secrets = vec![SecretKey::RedisPassword];
                spec.configs = vec![(
                    format!("redis/{sentinel}.conf"),
                    "/usr/local/etc/redis/sentinel.conf".into(),
                )];
                spec.health = health_shell("redis-cli -p 26379 ping | grep -q PONG");
                spec.start_period_s = 10;
                self.push(spec);
            }
        }
        let mut exporter = Spec::new(
            "redis-exporter",
            &self.env.images.redis_exporter,
            Kind::Stateless,
        );
        exporter.command =
            shell("REDIS_PASSWORD=\"$$(cat /run/secrets/redis_password)\" exec /redis_exporter");
        exporter.networks = vec!["data", "monitoring"];
        exporter.secrets = vec![SecretKey::RedisPassword];
        exporter.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9121/health || exit 1");
        self.push(exporter);
    }

    fn mongodb(&mut self) {
        let mongodb = self.parts.mongodb.clone();
        for member in &mongodb.members {
            let name = &member.service;
            let mut spec = Spec::new(name, &self.env.images.mongodb, Kind::Stateful);
            spec.command = strings(&["mongod", "--config", "/etc/mongod.conf"]);
            spec.networks = vec!["data", "monitoring"];
            spec.volumes = vec![(format!("{name}-data"), "/data/db".into())];
            spec.secrets = vec![
                SecretKey::MongodbKeyfile,
                SecretKey::MongodbRootPassword,
                SecretKey::MongodbAppPassword,
            ];
            spec.configs = vec![
                (format!("mongodb/{name}.conf"), "/etc/mongod.conf".into()),
                (
                    "mongodb/init-replica-set.js".into(),
                    "/etc/mongo/init-replica-set.js".into(),
                ),
            ];
            spec.health = health_shell(
                "mongosh --quiet --eval 'quit(db.adminCommand({ping: 1}).ok ? 0 : 1)'",
            );
            spec.start_period_s = 30;
            spec.stop_grace_period_s = 60;
            self.push(spec);
        }
        let mut exporter = Spec::new(
            "mongodb-exporter",
            &self.env.images.mongodb_exporter,
            Kind::Stateless,
        );
        exporter.command = shell(&format!(
            "exec /mongodb_exporter --collect-all --mongodb.uri=\"mongodb://cc_app:$$(cat \
             /run/secrets/mongodb_app_password)@{}/admin?replicaSet={}\"",
            mongodb.hosts, mongodb.replica_set
        ));
        exporter.networks = vec!["data", "monitoring"];
        exporter.secrets = vec![SecretKey::MongodbAppPassword];
        exporter.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9216/metrics || exit 1");
        self.push(exporter);
    }

    fn observability(&mut self) {
        let images = self.env.images.clone();
        let mut prometheus = Spec::new("prometheus", &images.prometheus, Kind::Stateful);
        prometheus.command = vec![
            "--config.file=/etc/prometheus/prometheus.yml".into(),
            "--storage.tsdb.path=/prometheus".into(),
            format!(
                "--storage.tsdb.retention.time={}d",
                self.parts.prometheus_retention_days
            ),
            format!(
                "--storage.tsdb.retention.size={}GB",
                self.parts.prometheus_retention_size_gb
            ),
            "--web.enable-lifecycle".into(),
        ];
        prometheus.networks = vec!["monitoring"];
        prometheus.volumes = vec![("prometheus-data".into(), "/prometheus".into())];
        prometheus.configs = vec![
            (
                "prometheus/prometheus.yml".into(),
                "/etc/prometheus/prometheus.yml".into(),
            ),
            (
                "prometheus/rules/alerts.yml".into(),
                "/etc/prometheus/rules/alerts.yml".into(),
            ),
            (
                "prometheus/rules/slo.yml".into(),
                "/etc/prometheus/rules/slo.yml".into(),
            ),
        ];
        prometheus.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9090/-/ready || exit 1");
        self.push(prometheus);

        let mut alertmanager = Spec::new("alertmanager", &images.alertmanager, Kind::Stateful);
        alertmanager.command = strings(&[
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/alertmanager",
        ]);
        alertmanager.networks = vec!["monitoring"];
        alertmanager.volumes = vec![("alertmanager-data".into(), "/alertmanager".into())];
        alertmanager.configs = vec![(
            "prometheus/alertmanager.yml".into(),
            "/etc/alertmanager/alertmanager.yml".into(),
        )];
        alertmanager.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9093/-/ready || exit 1");
        self.push(alertmanager);

        let mut grafana = Spec::new("grafana", &images.grafana, Kind::Stateful);
        grafana.environment.insert(
            "GF_SECURITY_ADMIN_PASSWORD__FILE".into(),
            "/run/secrets/grafana_admin_password".into(),
        );
        grafana.environment.insert(
            "GF_SERVER_ROOT_URL".into(),
            format!("https://{}/", self.env.hostnames.grafana),
        );
        grafana
            .environment
            .insert("GF_USERS_ALLOW_SIGN_UP".into(), "false".into());
        grafana.networks = vec!["edge", "monitoring"];
        grafana.volumes = vec![("grafana-data".into(), "/var/lib/grafana".into())];
        grafana.secrets = vec![SecretKey::GrafanaAdminPassword];
        let mut configs = vec![
            (
                "grafana/provisioning/datasources/datasources.yml".to_owned(),
                "/etc/grafana/provisioning/datasources/datasources.yml".to_owned(),
            ),
            (
                "grafana/provisioning/dashboards/dashboards.yml".to_owned(),
                "/etc/grafana/provisioning/dashboards/dashboards.yml".to_owned(),
            ),
        ];
        for dashboard in crate::render::DASHBOARDS {
            configs.push((
                format!("grafana/dashboards/{dashboard}.json"),
                format!("/var/lib/grafana-dashboards/{dashboard}.json"),
            ));
        }
        grafana.configs = configs;
        grafana.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:3000/api/health || exit 1");
        self.push(grafana);

        let mut loki = Spec::new("loki", &images.loki, Kind::Stateful);
        loki.command = strings(&["-config.file=/etc/loki/loki.yml"]);
        loki.networks = vec!["monitoring"];
        loki.volumes = vec![("loki-data".into(), "/loki".into())];
        loki.configs = vec![("loki/loki.yml".into(), "/etc/loki/loki.yml".into())];
        loki.health = health_shell("wget -q -O /dev/null http://127.0.0.1:3100/ready || exit 1");
        self.push(loki);

        let mut promtail = Spec::new("promtail", &images.promtail, Kind::Stateless);
        promtail.global = true;
        promtail.command = strings(&["-config.file=/etc/promtail/promtail.yml"]);
        promtail.networks = vec!["monitoring"];
        promtail.volumes = vec![
            (
                "/var/lib/docker/containers".into(),
                "/var/lib/docker/containers:ro".into(),
            ),
            (
                "/var/run/docker.sock".into(),
                "/var/run/docker.sock:ro".into(),
            ),
        ];
        promtail.configs = vec![(
            "promtail/promtail.yml".into(),
            "/etc/promtail/promtail.yml".into(),
        )];
        promtail.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9080/ready || exit 1");
        self.push(promtail);

        let mut node_exporter = Spec::new("node-exporter", &images.node_exporter, Kind::Stateless);
        node_exporter.global = true;
        node_exporter.command = strings(&[
            "--path.rootfs=/host",
            "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/docker/.+)($$|/)",
        ]);
        node_exporter.networks = vec!["monitoring"];
        node_exporter.volumes = vec![("/".into(), "/host:ro,rslave".into())];
        node_exporter.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9100/metrics || exit 1");
        self.push(node_exporter);

        let mut cadvisor = Spec::new("cadvisor", &images.cadvisor, Kind::Stateless);
        cadvisor.global = true;
        cadvisor.command = strings(&["--docker_only=true", "--housekeeping_interval=15s"]);
        cadvisor.networks = vec!["monitoring"];
        cadvisor.volumes = vec![
            ("/".into(), "/rootfs:ro".into()),
            ("/var/run".into(), "/var/run:ro".into()),
            ("/sys".into(), "/sys:ro".into()),
            ("/var/lib/docker".into(), "/var/lib/docker:ro".into()),
        ];
        cadvisor.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1");
        self.push(cadvisor);
    }
}
