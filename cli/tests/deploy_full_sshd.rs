//! `ccctl deploy` of the real development-size plan, end to end: `ccctl plan --mau 1k` → `ccctl render`
//! → `ccctl deploy` through the test sshd (127.0.0.1:2222) into this machine's single-node swarm, with the
//! third-party images replaced by the stand-ins `scripts/services/standins.sh` builds (Redis, NGINX,
//! MariaDB for TiDB, Kafka from the Maven jars + JDK 17, FerretDB for MongoDB) and the `ccserver` image
//! assembled from the workspace's debug binary.
//!
//! In order: a deploy killed with SIGKILL right after its stack deploy (the fault hook) leaves its lock;
//! the next deploy takes that lock over (its holder is dead), runs the migrate task once, converges and
//! passes the smoke test (two users chat over WebSocket through the deployed NGINX, TLS pinned to the
//! rendered certificate); a third deploy changes nothing and says so, and the services keep their
//! versions. The stack is removed on every path.
//!
//! What this 2-CPU CI machine cannot run as rendered is adapted in the render output before deploying,
//! each for a stated reason (see [`adapt_for_this_machine`]).

mod check_support;

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cc_e2e::services::{DOCKER, SMOKE_IMAGE};
use ccctl::deploy::lock::LOCK_PATH;
use check_support::{require_sshd, sshd_inventory};

const STACK: &str = "ccfull";

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{}", DOCKER.unavailable(error)))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Removes the stack, its volumes, the `ccserver` image this test assembled, the state deploy keeps for
/// the stack and any lock left, passed or not.
struct StackGuard {
    ccserver_image: Option<String>,
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        let _ = docker(&["service", "rm", &format!("{STACK}_migrate")]);
        let _ = docker(&["stack", "rm", STACK]);
        for file in [
            format!("/var/lib/ccplatform/release-{STACK}"),
            format!("/var/lib/ccplatform/migrated-{STACK}"),
            format!("/var/lib/ccplatform/smoke-{STACK}.json"),
        ] {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_file(LOCK_PATH);
        // Volumes go once their containers have: poll, bounded.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let containers = docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.docker.stack.namespace={STACK}"),
            ]);
            if containers.stdout.iter().all(u8::is_ascii_whitespace) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let volumes = docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.stack.namespace={STACK}"),
        ]);
        for volume in String::from_utf8_lossy(&volumes.stdout).split_whitespace() {
            let _ = docker(&["volume", "rm", volume]);
        }
        if let Some(image) = &self.ccserver_image {
            let _ = docker(&["image", "rm", image]);
        }
    }
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The stand-in images (built when missing; idempotent) as `--image-override @FILE`.
fn standins() -> PathBuf {
    let script = repository_root().join("scripts/services/standins.sh");
    let output = Command::new(&script)
        .arg("build")
        .output()
        .expect("run standins.sh");
    assert!(
        output.status.success(),
        "standins.sh build: {}",
        text(&output)
    );
    let home =
        std::env::var("CC_SERVICES_HOME").unwrap_or_else(|_| "/var/tmp/ccplatform-services".into());
    PathBuf::from(home).join("standins/overrides.txt")
}

/// The workspace's debug `ccserver`, copied so a concurrent rebuild cannot change the image between
/// the deploys of this test.
fn ccserver_binary(directory: &Path) -> PathBuf {
    let built = Path::new(env!("CARGO_BIN_EXE_ccctl")).with_file_name("ccserver");
    if !built.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "ccserver", "--bin", "ccserver"])
            .current_dir(repository_root())
            .status()
            .expect("cargo build ccserver");
        assert!(status.success(), "cargo build -p ccserver failed");
    }
    let copy = directory.join("ccserver");
    std::fs::copy(&built, &copy).expect("copy ccserver");
    copy
}

/// Services this machine has no stand-in for (TiDB's PD and TiKV: MariaDB needs neither; the
/// monitoring stack and exporters) run 0 replicas of the harness's busybox image.
const IDLE: [&str; 11] = [
    "pd-1",
    "tikv-1",
    "kafka-exporter",
    "redis-exporter",
    "mongodb-exporter",
    "prometheus",
    "alertmanager",
    "loki",
    "promtail",
    "node-exporter",
    "cadvisor",
];
const IDLE_IMAGES: [&str; 12] = [
    "pd",
    "tikv",
    "kafka-exporter",
    "redis_exporter",
    "mongodb_exporter",
    "prometheus",
    "alertmanager",
    "grafana",
    "loki",
    "promtail",
    "node-exporter",
    "cadvisor",
];

/// The render, adapted to this machine:
/// - no CPU/memory reservations: the dev plan reserves more than this 2-CPU machine has;
/// - no `ulimits`: this sandbox caps open files at 20000 for every process (`ccctl check` reports it as
///   `docker:nofile`, and its fix cannot raise it here without CAP_SYS_RESOURCE);
/// - `endpoint_mode: dnsrr`: the kernel here has no IPVS, so Swarm's virtual IPs do not route;
/// - Kafka gets its service name as hostname: with DNS round robin it must resolve its own controller
///   address before it is healthy;
/// - the app reaches FerretDB with `directConnection` (FerretDB has no replica set);
/// - [`IDLE`] services run 0 replicas; Grafana, whose name NGINX must resolve at start, is a busybox
///   answering its health URL.
fn adapt_for_this_machine(stack_path: &Path) {
    let mut stack: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(stack_path).expect("stack.yml"))
            .expect("stack yaml");
    let services = stack["services"].as_mapping_mut().expect("services");
    for (name, service) in services.iter_mut() {
        let name = name.as_str().expect("service name").to_owned();
        let service = service.as_mapping_mut().expect("service");
        service.remove("ulimits");
        let runs_ccserver = service
            .get("command")
            .and_then(|command| command.get(0))
            .and_then(serde_yaml_ng::Value::as_str)
            == Some("ccserver");
        if runs_ccserver {
            // ccserver's environment override of the rendered config's MongoDB URL.
            let environment = service
                .entry("environment".into())
                .or_insert_with(|| serde_yaml_ng::Mapping::new().into());
            environment
                .as_mapping_mut()
                .expect("environment mapping")
                .insert(
                    "CCSERVER_MONGODB_URL".into(),
                    "mongodb://mongo-1:27017/cc?directConnection=true".into(),
                );
        }
        if name.starts_with("kafka-") && name != "kafka-exporter" {
            service.insert("hostname".into(), name.clone().into());
        }
        if name == "grafana" {
            service.insert(
                "command".into(),
                serde_yaml_ng::to_value([
                    "/bin/busybox",
                    "sh",
                    "-c",
                    "mkdir -p /www/api && echo ok > /www/api/health && exec /bin/busybox httpd -f -p 3000 -h /www",
                ])
                .expect("command"),
            );
        }
        let deploy = service
            .entry("deploy".into())
            .or_insert_with(|| serde_yaml_ng::Value::Mapping(serde_yaml_ng::Mapping::new()))
            .as_mapping_mut()
            .expect("deploy");
        deploy.insert("endpoint_mode".into(), "dnsrr".into());
        if let Some(resources) = deploy
            .get_mut("resources")
            .and_then(serde_yaml_ng::Value::as_mapping_mut)
        {
            resources.remove("reservations");
        }
        if IDLE.contains(&name.as_str()) {
            deploy.insert("mode".into(), "replicated".into());
            deploy.insert("replicas".into(), 0.into());
        }
    }
    std::fs::write(
        stack_path,
        serde_yaml_ng::to_string(&stack).expect("stack yaml"),
    )
    .expect("write stack.yml");
}

fn ccctl(directory: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccctl"))
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run ccctl")
}

fn deploy(directory: &Path, overrides: &Path, ccserver: &Path, kill_after: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ccctl"));
    command
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env_remove("CCCTL_FAULT_KILL_AFTER_STEP")
        .args([
            "deploy",
            "--plan",
            "plan.yaml",
            "--inventory",
            "inventory.toml",
            "--rendered",
            "rendered",
            "--stack",
            STACK,
            "--trust-new-host",
            // This machine is smaller than the dev plan's host: the pre-flight is `check`'s, tested there.
            "--skip-prepare",
            "--timeout",
            "240",
            "--ccserver-binary",
        ])
        .arg(ccserver)
        .arg("--image-override")
        .arg(format!("@{}", overrides.display()));
    for image in IDLE_IMAGES {
        command.args(["--image-override", &format!("{image}={SMOKE_IMAGE}")]);
    }
    if let Some(step) = kill_after {
        command.env("CCCTL_FAULT_KILL_AFTER_STEP", step);
    }
    command.output().expect("run ccctl deploy")
}

fn service_versions() -> String {
    let services = docker(&["stack", "services", STACK, "--format", "{{.Name}}"]);
    let mut versions: Vec<String> = String::from_utf8_lossy(&services.stdout)
        .split_whitespace()
        .map(|name| {
            let version = docker(&["service", "inspect", "--format", "{{.Version.Index}}", name]);
            format!("{name}={}", String::from_utf8_lossy(&version.stdout).trim())
        })
        .collect();
    versions.sort();
    versions.join(" ")
}

#[test]
fn the_dev_plan_deploys_survives_a_kill_chats_through_nginx_and_redeploys_unchanged() {
    require_sshd();
    let swarm = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!(
        String::from_utf8_lossy(&swarm.stdout).trim(),
        "active",
        "{}",
        DOCKER.unavailable("this engine is not a swarm manager")
    );
    assert!(
        !Path::new(LOCK_PATH).exists(),
        "a deploy lock is already held on this machine: {LOCK_PATH}"
    );
    let started = Instant::now();
    let overrides = standins();
    let directory = tempfile::tempdir().expect("tempdir");
    let dir = directory.path();
    let ccserver = ccserver_binary(dir);
    let _guard = StackGuard {
        ccserver_image: ccctl::deploy::image::collect_files(&ccserver)
            .ok()
            .map(|files| ccctl::deploy::image::content_tag(&files)),
    };

    let planned = ccctl(dir, &["plan", "--mau", "1k", "-o", "plan.yaml"]);
    assert!(planned.status.success(), "{}", text(&planned));
    std::fs::write(
        dir.join("env.toml"),
        "version = 1\ndomain = \"chat.localtest\"\n\n[tls]\nself_signed = true\n\n[images]\nregistry = \"registry.example.com/cc\"\nversion = \"0.1.0\"\n\n[secrets]\ndir = \"secrets\"\n",
    )
    .expect("env.toml");
    let rendered = ccctl(
        dir,
        &[
            "render",
            "--plan",
            "plan.yaml",
            "--env",
            "env.toml",
            "-o",
            "rendered",
        ],
    );
    assert!(rendered.status.success(), "{}", text(&rendered));
    adapt_for_this_machine(&dir.join("rendered/stack.yml"));
    std::fs::write(dir.join("inventory.toml"), sshd_inventory()).expect("inventory");

    // 1. Killed right after the stack deploy: its lock stays behind, naming a dead process.
    let killed = deploy(dir, &overrides, &ccserver, Some("deploy stack"));
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "the fault hook kills with SIGKILL: {}",
        text(&killed)
    );
    assert!(
        std::fs::read_to_string(LOCK_PATH)
            .expect("the killed run's lock")
            .contains("\"pid\":"),
        "the lock names its process"
    );

    // 2. The next run takes the dead run's lock over, migrates once, converges, chats through NGINX.
    let resumed = deploy(dir, &overrides, &ccserver, None);
    let resumed_text = text(&resumed);
    assert!(resumed.status.success(), "{resumed_text}");
    for expected in [
        "taking over the deploy lock of run",
        // The release is recorded only once converged: the stack deploy is applied again (a no-op).
        "RUN        deploy stack release",
        "RUN        prepare database, topics and schema",
        "Smoke test smoke-a → smoke-b through NGINX at 127.0.0.1:443 (ws.chat.localtest)",
        "Deployed release",
    ] {
        assert!(
            resumed_text.contains(expected),
            "{expected}: {resumed_text}"
        );
    }
    assert!(!Path::new(LOCK_PATH).exists(), "the lock was released");
    let versions = service_versions();

    // 3. Nothing changed: every step skipped but the smoke test, which chats again; no service touched.
    let again = deploy(dir, &overrides, &ccserver, None);
    let again_text = text(&again);
    assert!(again.status.success(), "{again_text}");
    assert!(again_text.contains("Unchanged release"), "{again_text}");
    assert!(
        again_text.contains("Smoke test smoke-a → smoke-b"),
        "{again_text}"
    );
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .lines()
            .filter(|line| line.starts_with("RUN"))
            .all(|line| line.contains("smoke test")),
        "{again_text}"
    );
    assert_eq!(
        service_versions(),
        versions,
        "an unchanged deploy updated a service"
    );
    eprintln!(
        "deploy_full_sshd: kill, resume, unchanged re-run in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
