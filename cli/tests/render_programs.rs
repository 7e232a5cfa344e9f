//! The rendered files, for every size, checked by the real programs that will read them: `docker stack
//! config` and a real Swarm deploy, `nginx -t`, `promtool`, `amtool`, `redis-server` (every Redis and
//! Sentinel config starts), and real Kafka brokers started from the rendered `server.properties` (ports,
//! hosts and data dirs remapped by the test).
//!
//! NGINX, Sentinel and Kafka configs name other services (`gateway`, `redis-cache-1`, `kafka-2`): those run
//! in a private mount namespace (`unshare --mount`, root) whose `/etc/hosts` maps the names to 127.0.0.1 and
//! whose `/run/secrets` holds a test certificate, so the host is never touched.

mod render_support;

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use render_support::{Fixture, SIZES, tree};

fn rendered(size: &str) -> (Fixture, PathBuf) {
    let fixture = Fixture::new(size, true);
    let out = fixture.render_ok();
    (fixture, out)
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// `command` inside a private mount namespace where `names` resolve to 127.0.0.1 and, if given,
/// `/run/secrets` is a copy of `secrets`.
fn isolated(work: &Path, names: &[String], secrets: Option<&Path>, command: &[&str]) -> Command {
    let hosts = work.join("hosts");
    let mut text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let _ = write!(text, "\n127.0.0.1 {}\n", names.join(" "));
    std::fs::write(&hosts, text).expect("hosts");
    let mut script = format!("mount --bind '{}' /etc/hosts", hosts.display());
    if let Some(secrets) = secrets {
        let _ = write!(
            script,
            " && mkdir -p /run/secrets && mount -t tmpfs tmpfs /run/secrets && cp '{}'/* /run/secrets/",
            secrets.display()
        );
    }
    script.push_str(" && exec \"$@\"");
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "sh", "-c", &script, "sh"])
        .args(command);
    wrapped
}

#[test]
fn docker_stack_config_accepts_stack_and_compose_files() {
    for (size, ..) in SIZES {
        let (_fixture, out) = rendered(size);
        for file in ["stack.yml", "compose.yml"] {
            let text = run(Command::new("docker")
                .current_dir(&out)
                .args(["stack", "config", "-c", file]));
            assert!(text.contains("services:"), "{size}/{file}: {text}");
        }
    }
}

#[test]
fn nginx_accepts_the_config() {
    let names: Vec<String> = ["gateway", "api", "grafana"].map(String::from).to_vec();
    for (size, ..) in SIZES {
        // Self-signed: the certificate ccctl generates is the one NGINX loads.
        let fixture = Fixture::new(size, true);
        fixture.write_env(&Fixture::env_text("chat.example.com").replace(
            "certificate = \"certs/chat.pem\"\nprivate_key = \"certs/chat.key\"",
            "self_signed = true",
        ));
        let out = fixture.render_ok();
        let work = tempfile::tempdir().expect("test fixture I/O");
        let certs = work.path().join("secrets");
        std::fs::create_dir(&certs).expect("test fixture I/O");
        for file in ["tls_certificate.pem", "tls_private_key.pem"] {
            std::fs::copy(fixture.path("secrets").join(file), certs.join(file))
                .expect("copy certificate");
        }
        let config = out.join("nginx/nginx.conf").display().to_string();
        let text = run(&mut isolated(
            work.path(),
            &names,
            Some(&certs),
            &["nginx", "-t", "-c", &config],
        ));
        assert!(text.contains("test is successful"), "{size}: {text}");
    }
}

#[test]
fn promtool_and_amtool_accept_config_and_rules() {
    for (size, ..) in SIZES {
        let (_fixture, out) = rendered(size);
        let prometheus = out.join("prometheus");
        run(Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(prometheus.join("prometheus.yml")));
        let text = run(Command::new("promtool")
            .args(["check", "rules"])
            .arg(prometheus.join("rules/alerts.yml"))
            .arg(prometheus.join("rules/slo.yml")));
        assert!(text.matches("SUCCESS").count() == 2, "{size}: {text}");
        // amtool comes with Debian's prometheus-alertmanager package.
        run(Command::new("amtool")
            .args(["check-config"])
            .arg(prometheus.join("alertmanager.yml")));
    }
}

/// Kills the child when dropped, so a failed assertion never leaves a server running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0_u8; 64];
    stream.write_all(b"PING\r\n").is_ok()
        && stream
            .read(&mut reply)
            .is_ok_and(|read| reply[..read].starts_with(b"+PONG"))
}

fn wait_for(
    what: &str,
    deadline: Duration,
    log: &Path,
    child: &mut Running,
    mut ready: impl FnMut() -> bool,
) {
    let start = Instant::now();
    loop {
        if ready() {
            return;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "{what} exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < deadline,
            "{what} not ready after {deadline:?}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redis_starts_with_every_rendered_config() {
    let mut started = 0;
    for (size, ..) in SIZES {
        let (_fixture, out) = rendered(size);
        let files = tree(&out);
        let services: Vec<String> = files
            .keys()
            .filter_map(|path| {
                path.strip_prefix("redis/")?
                    .strip_suffix(".conf")
                    .map(String::from)
            })
            .collect();
        for service in &services {
            let work = tempfile::tempdir().expect("test fixture I/O");
            // Sentinel rewrites its config: it gets a copy, as in the stack. The data dir is remapped.
            let config = work.path().join("redis.conf");
            let text = std::fs::read_to_string(out.join(format!("redis/{service}.conf")))
                .expect("test fixture I/O");
            assert!(
                text.contains("\ndir /data\n"),
                "{size}/{service}: no `dir /data`"
            );
            std::fs::write(
                &config,
                text.replace(
                    "\ndir /data\n",
                    &format!("\ndir {}\n", work.path().display()),
                ),
            )
            .expect("test fixture I/O");
            let port = free_port().to_string();
            let log = work.path().join("redis.log");
            let config_arg = config.display().to_string();
            let mut arguments = vec!["redis-server", &config_arg];
            if service.contains("sentinel") {
                arguments.push("--sentinel");
            }
            arguments.extend(["--port", &port, "--bind", "127.0.0.1", "--logfile", ""]);
            let mut command = isolated(work.path(), &services, None, &arguments);
            let log_file = std::fs::File::create(&log).expect("test fixture I/O");
            command
                .stdout(log_file.try_clone().expect("test fixture I/O"))
                .stderr(log_file)
                .stdin(Stdio::null());
            let mut child = Running(command.spawn().expect("spawn redis-server"));
            let port: u16 = port.parse().expect("test fixture I/O");
            wait_for(
                &format!("redis-server {size}/{service}"),
                Duration::from_secs(20),
                &log,
                &mut child,
                || redis_ping(port),
            );
            if !service.contains("sentinel") {
                assert_effective_redis_config(size, service, port, work.path());
            }
            started += 1;
        }
    }
    assert!(started >= 20, "only {started} Redis configs found");
}

/// What the issue asks of each role, checked against the started server (`CONFIG GET`), not the file:
/// cache = `maxmemory` + `allkeys-lru`, pub/sub = no persistence, sessions = AOF `everysec` + `noeviction`.
fn assert_effective_redis_config(size: &str, service: &str, port: u16, data_dir: &Path) {
    let role = service
        .strip_prefix("redis-")
        .and_then(|rest| rest.rsplit_once('-'))
        .map_or_else(
            || panic!("{size}/{service}: not redis-<role>-<n>"),
            |(role, _)| role,
        );
    let planned = &render_support::plan(size).data_stores.redis[role];
    let output = run(Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "CONFIG",
            "GET",
            "appendonly",
            "appendfsync",
            "maxmemory-policy",
        ])
        .args(["save", "maxmemory"]));
    let lines: Vec<&str> = output.lines().collect();
    let config: std::collections::BTreeMap<&str, &str> = lines
        .chunks(2)
        .map(|pair| (pair[0], pair.get(1).copied().unwrap_or("")))
        .collect();
    let expected_memory = (planned.maxmemory_mb * 1024 * 1024).to_string();
    let (appendonly, policy) = match role {
        "cache" => ("no", "allkeys-lru"),
        "pubsub" => ("no", "noeviction"),
        "sessions" => ("yes", "noeviction"),
        other => panic!("{size}/{service}: unknown role {other}"),
    };
    let expected = std::collections::BTreeMap::from([
        ("appendfsync", "everysec"),
        ("appendonly", appendonly),
        ("maxmemory", expected_memory.as_str()),
        ("maxmemory-policy", policy),
        // No RDB snapshots for any role: sessions persist through the AOF, the others not at all.
        ("save", ""),
    ]);
    assert_eq!(config, expected, "{size}/{service}: effective config");
    if role == "sessions" {
        // The server really writes the append-only file where the stack mounts its volume.
        assert!(
            data_dir.join("appendonlydir").is_dir(),
            "{size}/{service}: no appendonlydir in the data dir"
        );
    }
}

fn kafka_libs() -> PathBuf {
    let cache = std::env::var("CC_CACHE_DIR").unwrap_or_else(|_| "/var/cache/ccplatform".into());
    let root = Path::new(&cache).join("kafka");
    std::fs::read_dir(&root)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("libs"))
                .find(|libs| libs.join(".complete").exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "no Kafka jars under {}: run scripts/services/kafka.sh install",
                root.display()
            )
        })
}

/// Starts every broker of a rendered size (ports, host names and data dirs remapped) and waits until each
/// reports `Kafka Server started`.
fn start_kafka_cluster(size: &str) {
    let (_fixture, out) = rendered(size);
    let stack = std::fs::read_to_string(out.join("stack.yml")).expect("test fixture I/O");
    let cluster_id = stack
        .split("--cluster-id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("cluster id in the kafka command");
    let files = tree(&out);
    let brokers: Vec<String> = files
        .keys()
        .filter_map(|path| {
            path.strip_prefix("kafka/")?
                .strip_suffix(".properties")
                .map(String::from)
        })
        .collect();
    let ports: Vec<(u16, u16)> = brokers.iter().map(|_| (free_port(), free_port())).collect();
    let libs = format!("{}/*", kafka_libs().display());
    let work = tempfile::tempdir().expect("test fixture I/O");
    let jaas = work.path().join("jaas.conf");
    std::fs::write(
        &jaas,
        "KafkaServer {\n  org.apache.kafka.common.security.plain.PlainLoginModule required\n  username=\"admin\"\n  \
         password=\"test\"\n  user_admin=\"test\"\n  user_app=\"test\";\n};\n",
    )
    .expect("test fixture I/O");
    let log4j = work.path().join("log4j2.properties");
    std::fs::write(
        &log4j,
        "rootLogger.level = INFO\nrootLogger.appenderRef.out.ref = OUT\nappender.out.type = Console\n\
         appender.out.name = OUT\nappender.out.layout.type = PatternLayout\nappender.out.layout.pattern = %p %m%n\n",
    )
    .expect("test fixture I/O");
    let mut running = Vec::new();
    for (index, broker) in brokers.iter().enumerate() {
        let mut text = String::from_utf8(files[&format!("kafka/{broker}.properties")].clone())
            .expect("test fixture I/O");
        for (other, (port, controller)) in brokers.iter().zip(&ports) {
            text = text
                .replace(&format!("{other}:9092"), &format!("127.0.0.1:{port}"))
                .replace(&format!("{other}:9093"), &format!("127.0.0.1:{controller}"));
        }
        let (port, controller) = ports[index];
        let data = work.path().join(broker);
        text = text
            .replace("0.0.0.0:9092", &format!("127.0.0.1:{port}"))
            .replace("0.0.0.0:9093", &format!("127.0.0.1:{controller}"))
            .replace(
                "log.dirs=/var/lib/kafka/data",
                &format!("log.dirs={}", data.display()),
            );
        let config = work.path().join(format!("{broker}.properties"));
        std::fs::write(&config, text).expect("test fixture I/O");
        let java = |main: &str| {
            let mut command = Command::new("java");
            command
                .args(["-Xms128m", "-Xmx384m", "-XX:TieredStopAtLevel=1"])
                .arg(format!(
                    "-Djava.security.auth.login.config={}",
                    jaas.display()
                ))
                .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
                .args(["-cp", &libs, main]);
            command
        };
        run(java("kafka.tools.StorageTool")
            .args(["format", "--ignore-formatted", "-t", cluster_id, "-c"])
            .arg(&config));
        let log = work.path().join(format!("{broker}.log"));
        let log_file = std::fs::File::create(&log).expect("test fixture I/O");
        let child = java("kafka.Kafka")
            .arg(&config)
            .stdout(log_file.try_clone().expect("test fixture I/O"))
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn kafka");
        running.push((broker.clone(), log, Running(child)));
    }
    for (broker, log, child) in &mut running {
        let log_path = log.clone();
        wait_for(
            &format!("kafka {size}/{broker}"),
            Duration::from_secs(180),
            log,
            child,
            || {
                std::fs::read_to_string(&log_path)
                    .is_ok_and(|text| text.contains("Kafka Server started"))
            },
        );
    }
}

#[test]
fn kafka_single_broker_starts_from_the_dev_render() {
    start_kafka_cluster("dev");
}

#[test]
fn kafka_three_brokers_start_from_the_25k_render() {
    start_kafka_cluster("25k");
}

#[test]
fn kafka_controllers_and_broker_only_nodes_start_from_the_1m_render() {
    start_kafka_cluster("1m");
}

/// Removes the test stack even when an assertion fails.
struct DeployedStack(String);

impl Drop for DeployedStack {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["stack", "rm", &self.0])
            .output();
    }
}

/// The local Swarm (started by scripts/services/docker.sh) creates every service, network (the data one
/// encrypted), secret and config of the stack. Images are not pulled (`--resolve-image never`): tasks stay
/// pending, but the daemon has validated each service spec — ulimits, sysctls, secret modes, placement.
#[test]
fn a_real_swarm_accepts_the_stack() {
    let swarm = run(Command::new("docker").args(["info", "--format", "{{.Swarm.LocalNodeState}}"]));
    assert!(
        swarm.trim() == "active",
        "this test needs an active Swarm: run scripts/services/docker.sh start (state: {swarm})"
    );
    for size in ["dev", "25k"] {
        let fixture = Fixture::new(size, true);
        // A stack name of our own: Docker object names (secrets, configs) start with it.
        let stack = format!("rt{}{}", std::process::id(), size.replace('k', ""));
        fixture.write_env(&Fixture::env_text("chat.example.com").replacen(
            "version = 1\n",
            &format!("version = 1\nstack_name = \"{stack}\"\n"),
            1,
        ));
        let out = fixture.render_ok();
        let _cleanup = DeployedStack(stack.clone());
        run(Command::new("timeout")
            .args([
                "300",
                "docker",
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "-c",
                "stack.yml",
                &stack,
            ])
            .current_dir(&out));
        let services = run(Command::new("docker").args([
            "stack",
            "services",
            &stack,
            "--format",
            "{{.Name}}",
        ]));
        let stack_file = std::fs::read_to_string(out.join("stack.yml")).expect("stack.yml");
        let expected = stack_file
            .lines()
            .skip_while(|line| *line != "services:")
            .take_while(|line| *line != "networks:")
            .filter(|line| {
                line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':')
            })
            .count();
        assert_eq!(services.lines().count(), expected, "{size}: {services}");
    }
}

/// The user each image's process runs as (its `USER`, or the user its entrypoint drops to), stated here
/// independently of the templates: nginx's master and the ccserver image run as root.
fn image_user(image: &str) -> (u64, u64) {
    let users: [(&str, (u64, u64)); 9] = [
        ("nginx:", (0, 0)),
        ("registry.example.com/cc/ccserver:", (0, 0)),
        ("apache/kafka:", (1000, 1000)),
        ("danielqsj/kafka-exporter:", (65534, 65534)),
        ("redis:", (999, 999)),
        ("oliver006/redis_exporter:", (59000, 59000)),
        ("mongo:", (999, 999)),
        ("percona/mongodb_exporter:", (65535, 65535)),
        ("grafana/grafana:", (472, 0)),
    ];
    users
        .iter()
        .find(|(prefix, _)| image.starts_with(prefix))
        .map_or_else(
            || panic!("{image}: which user does it run as? add it here"),
            |(_, user)| *user,
        )
}

fn yaml_u64(value: &serde_yaml_ng::Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// Swarm: every secret a service mounts is owned by the user its image runs as and private to it, as Docker
/// itself reads `stack.yml`. Compose (which ignores `uid`/`gid`/`mode` and bind-mounts the host file):
/// every secret file it mounts is readable by any user, inside a directory only the operator can enter.
#[test]
fn every_mounted_secret_is_readable_by_the_user_its_image_runs_as() {
    use std::os::unix::fs::PermissionsExt as _;
    for (size, ..) in SIZES {
        let (fixture, out) = rendered(size);
        let text = run(Command::new("docker").current_dir(&out).args([
            "stack",
            "config",
            "-c",
            "stack.yml",
        ]));
        let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("stack config");
        let services = config["services"].as_mapping().expect("services");
        let mut checked = 0;
        for (name, service) in services {
            let Some(secrets) = service["secrets"].as_sequence() else {
                continue;
            };
            let (uid, gid) = image_user(service["image"].as_str().expect("image"));
            for secret in secrets {
                let what = format!("{size}: {name:?} secret {:?}", secret["source"]);
                assert_eq!(yaml_u64(&secret["uid"]), Some(uid), "{what}: uid");
                assert_eq!(yaml_u64(&secret["gid"]), Some(gid), "{what}: gid");
                // Docker prints the mode in decimal: 256 = 0o400, read by the owner only.
                assert_eq!(yaml_u64(&secret["mode"]), Some(0o400), "{what}: mode");
                checked += 1;
            }
        }
        assert!(checked >= 20, "{size}: only {checked} secret mounts");

        let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(out.join("compose.yml")).expect("compose.yml"),
        )
        .expect("compose.yml");
        let secrets_dir = fixture.path("secrets");
        for (id, secret) in compose["secrets"].as_mapping().expect("secrets") {
            let file = out.join(secret["file"].as_str().expect("file"));
            let file = file.canonicalize().unwrap_or_else(|error| {
                panic!(
                    "{size}: compose secret {id:?} at {}: {error}",
                    file.display()
                )
            });
            let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o444, "{size}: {} mode {mode:o}", file.display());
            assert!(file.starts_with(&secrets_dir), "{size}: {}", file.display());
            // The copies' own directory keeps other host users out, whatever the secrets directory's mode.
            let dir = secrets_dir.join("compose");
            let dir_mode = std::fs::metadata(&dir).expect("stat").permissions().mode() & 0o777;
            assert_eq!(
                dir_mode,
                0o700,
                "{size}: {} mode {dir_mode:o}",
                dir.display()
            );
            let original = std::fs::read(secrets_dir.join(file.file_name().expect("name")))
                .or_else(|_| {
                    // The TLS pair of the fixture lives outside the secrets directory.
                    let name = file.file_name().expect("name").to_string_lossy();
                    std::fs::read(fixture.path(if name.contains("key") {
                        "certs/chat.key"
                    } else {
                        "certs/chat.pem"
                    }))
                })
                .expect("original");
            assert_eq!(
                std::fs::read(&file).expect("copy"),
                original,
                "{size}: {} differs from its secret",
                file.display()
            );
        }
    }
}

/// Every service of the stack that runs `ccserver` gets a config the `ccserver` of this workspace
/// accepts: a role it does not implement would make the service restart forever, and `ccctl deploy`
/// wait for a convergence that never comes.
#[test]
fn ccserver_accepts_the_config_of_every_service_that_runs_it() {
    for (size, ..) in SIZES {
        let (fixture, out) = rendered(size);
        let stack: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(out.join("stack.yml")).expect("stack.yml"),
        )
        .expect("stack yaml");
        let mut checked = 0;
        for (name, service) in stack["services"].as_mapping().expect("services") {
            if service["command"][0].as_str() != Some("ccserver") {
                continue;
            }
            let source = service["configs"][0]["source"]
                .as_str()
                .expect("config source");
            let file = stack["configs"][source]["file"]
                .as_str()
                .expect("config file");
            // The password files it names are Docker secrets: read them from the fixture's copies.
            let text = std::fs::read_to_string(out.join(file))
                .expect("ccserver config")
                .replace(
                    "/run/secrets/",
                    &format!("{}/", fixture.path("secrets").display()),
                );
            let local = fixture.path(&format!("{name}.toml", name = name.as_str().expect("name")));
            std::fs::write(&local, text).expect("write config");
            let config = ccserver::config::RawConfig::from_file(&local)
                .unwrap_or_else(|error| panic!("{size} {name:?}: {error}"));
            if let Err(error) = config.validate() {
                panic!("{size}: ccserver refuses the config of {name:?} ({file}): {error}");
            }
            checked += 1;
        }
        assert!(checked >= 2, "{size}: only {checked} ccserver services");
    }
}
