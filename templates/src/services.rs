//! The services of the stack, one function per group: image, command, ports, networks, mounts, health check
//! and grace period of each. Sizes and placement come from the plan through `Builder::push`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::assemble::{APP_ROLES, Builder};
use crate::environment::SecretKey;
use crate::model::{Kind, Port};

/// What differs between services; the rest comes from the sizing entry and common rules.
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) kind: Kind,
    /// Replaces the image's entrypoint: only for images whose entrypoint is the program itself, when the
    /// command must first read a secret in a shell.
    pub(crate) entrypoint: Vec<String>,
    pub(crate) command: Vec<String>,
    pub(crate) environment: BTreeMap<String, String>,
    pub(crate) ports: Vec<Port>,
    pub(crate) networks: Vec<&'static str>,
    pub(crate) volumes: Vec<(String, String)>,
    pub(crate) secrets: Vec<SecretKey>,
    /// `uid:gid` of the image's process that reads the secrets; they are mounted owned by it, mode `0400`.
    pub(crate) runs_as: RunsAs,
    pub(crate) configs: Vec<(String, String)>,
    pub(crate) health: Vec<String>,
    pub(crate) start_period_s: u32,
    pub(crate) stop_grace_period_s: u32,
    pub(crate) global: bool,
}

impl Spec {
    pub(crate) fn new(name: impl Into<String>, image: &str, kind: Kind) -> Self {
        Self {
            name: name.into(),
            image: image.to_owned(),
            kind,
            entrypoint: Vec::new(),
            command: Vec::new(),
            environment: BTreeMap::new(),
            ports: Vec::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
            secrets: Vec::new(),
            runs_as: RunsAs::ROOT,
            configs: Vec::new(),
            health: Vec::new(),
            start_period_s: 30,
            stop_grace_period_s: 30,
            global: false,
        }
    }
}

/// The user (uid, gid) an image's process runs as, from the image's `USER` and entrypoint. Root reads any
/// file, so for an image that starts as root and drops privileges the secret belongs to the user it drops
/// to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunsAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl RunsAs {
    /// nginx (the master reads the certificate before workers drop to `nginx`); the ccserver image, which
    /// `ccctl deploy` assembles from the binary without a `USER`.
    pub(crate) const ROOT: Self = Self { uid: 0, gid: 0 };
    /// apache/kafka: `USER appuser`, the first user `adduser` creates in its Alpine base.
    pub(crate) const KAFKA: Self = Self {
        uid: 1000,
        gid: 1000,
    };
    /// redis and mongo: the `redis`/`mongodb` user (999) their entrypoints drop to.
    pub(crate) const REDIS: Self = Self { uid: 999, gid: 999 };
    pub(crate) const MONGODB: Self = Self { uid: 999, gid: 999 };
    /// oliver006/redis_exporter: `USER 59000:59000`.
    pub(crate) const REDIS_EXPORTER: Self = Self {
        uid: 59000,
        gid: 59000,
    };
    /// percona/mongodb_exporter: `USER 65535:65535`.
    pub(crate) const MONGODB_EXPORTER: Self = Self {
        uid: 65535,
        gid: 65535,
    };
    /// danielqsj/kafka-exporter: busybox base; `nobody` owns the secret (root, if the image runs as root,
    /// reads it too).
    pub(crate) const KAFKA_EXPORTER: Self = Self {
        uid: 65534,
        gid: 65534,
    };
    /// grafana/grafana: `USER 472` (group root).
    pub(crate) const GRAFANA: Self = Self { uid: 472, gid: 0 };
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

pub(crate) fn shell(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.to_owned()]
}

pub(crate) fn health_shell(script: &str) -> Vec<String> {
    vec!["CMD-SHELL".into(), script.to_owned()]
}

impl Builder<'_> {
    pub(crate) fn all_services(&mut self) {
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
        let drain = self.parts.gateway_drain_window_s;
        for (role, port) in APP_ROLES {
            let mut spec = Spec::new(role, &self.env.images.ccserver, Kind::Stateless);
            spec.command = strings(&["ccserver", "--config", "/etc/ccserver/ccserver.toml"]);
            spec.configs = vec![(
                format!("ccserver/{role}.toml"),
                "/etc/ccserver/ccserver.toml".into(),
            )];
            // Every setting, password files included, is in the config file: one source, no
            // environment variables to keep in step with it.
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
            spec.networks = vec!["edge", "app", "data", "monitoring"];
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
            spec.runs_as = RunsAs::KAFKA;
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
        // The image's entrypoint is the exporter itself: a shell entrypoint reads the password first.
        exporter.entrypoint = shell(&format!(
            "exec kafka_exporter{servers} --sasl.enabled --sasl.mechanism=plain --sasl.username=app \
             --sasl.password=\"$$(cat /run/secrets/kafka_app_password)\""
        ));
        exporter.networks = vec!["data", "monitoring"];
        exporter.secrets = vec![SecretKey::KafkaAppPassword];
        exporter.runs_as = RunsAs::KAFKA_EXPORTER;
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
                spec.runs_as = RunsAs::REDIS;
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
                spec.runs_as = RunsAs::REDIS;
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
        // The image's entrypoint is the exporter itself: a shell entrypoint reads the password first.
        exporter.entrypoint =
            shell("REDIS_PASSWORD=\"$$(cat /run/secrets/redis_password)\" exec /redis_exporter");
        exporter.networks = vec!["data", "monitoring"];
        exporter.secrets = vec![SecretKey::RedisPassword];
        exporter.runs_as = RunsAs::REDIS_EXPORTER;
        exporter.health =
            health_shell("wget -q -O /dev/null http://127.0.0.1:9121/health || exit 1");
        self.push(exporter);
    }

    fn mongodb(&mut self) {
        let mongodb = self.parts.mongodb.clone();
        for member in &mongodb.members {
            let name = &member.service;
            let mut spec = Spec::new(name, &self.env.images.mongodb, Kind::Stateful);
            // mongod refuses a keyfile others can read, and Compose ignores secret modes: install a private
            // copy, then let the image's entrypoint drop to the mongodb user.
            spec.command = shell(
                "install -m 0400 -o 999 -g 999 /run/secrets/mongodb_keyfile /tmp/mongodb-keyfile && exec \
                 docker-entrypoint.sh mongod --config /etc/mongod.conf",
            );
            spec.networks = vec!["data", "monitoring"];
            spec.volumes = vec![(format!("{name}-data"), "/data/db".into())];
            spec.secrets = vec![
                SecretKey::MongodbKeyfile,
                SecretKey::MongodbRootPassword,
                SecretKey::MongodbAppPassword,
            ];
            spec.runs_as = RunsAs::MONGODB;
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
        exporter.runs_as = RunsAs::MONGODB_EXPORTER;
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
        grafana.runs_as = RunsAs::GRAFANA;
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
