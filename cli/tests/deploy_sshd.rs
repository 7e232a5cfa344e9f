//! `ccctl deploy` end to end through the test sshd into this machine's Docker engine (a single-node
//! swarm: `scripts/services/sshd.sh start`, `scripts/services/docker.sh start`). The stack is a small
//! render-shaped directory (stack.yml, a secret file, MANIFEST): a `ccserver` service whose image
//! deploy assembles from a real dynamic binary (`/bin/sleep` standing in for `ccserver`: its libraries
//! and loader, no base image) and a `redis` service mapped by `--image-override` to the harness's
//! busybox image. One test, in order, because every step shares the manager's single deploy lock.

mod check_support;

use std::path::Path;
use std::process::{Command, Output};

use cc_e2e::services::{DOCKER, SMOKE_IMAGE, unique_name};
use ccctl::deploy::lock::{LEASE_MS, LOCK_PATH, LockRecord};
use check_support::{Environment, require_sshd};

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{}", DOCKER.unavailable(error)))
}

/// Removes the stack, its release record and any lock the test planted, passed or not.
struct StackGuard(String);

impl Drop for StackGuard {
    fn drop(&mut self) {
        let _ = docker(&["stack", "rm", &self.0]);
        let _ = std::fs::remove_file(format!("/var/lib/ccplatform/release-{}", self.0));
        let _ = std::fs::remove_file(LOCK_PATH);
    }
}

fn write_render(directory: &Path, stack: &str, manifest: &str) {
    std::fs::create_dir_all(directory.join("secrets")).expect("render dir");
    std::fs::write(directory.join("secrets/token"), "s3cret-never-printed\n").expect("secret");
    std::fs::write(directory.join("MANIFEST"), manifest).expect("manifest");
    std::fs::write(
        directory.join("stack.yml"),
        format!(
            "version: \"3.8\"\nservices:\n  app:\n    image: ccserver:0.1.0\n    command: [\"ccserver\", \"infinity\"]\n    \
             secrets: [token]\n  cache:\n    image: redis:7.4\n    command: [\"sleep\", \"infinity\"]\n\
             secrets:\n  token:\n    name: {stack}_token_1\n    file: ./secrets/token\n"
        ),
    )
    .expect("stack.yml");
}

fn deploy(environment: &Environment, stack: &str, extra: &[&str]) -> (Output, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ccctl"))
        .current_dir(environment.dir.path())
        .env("NO_COLOR", "1")
        .args([
            "deploy",
            "--plan",
            "plan.yaml",
            "--inventory",
            "inventory.toml",
            "--rendered",
            "rendered",
            "--stack",
            stack,
            "--image-override",
            &format!("redis={SMOKE_IMAGE}"),
            "--ccserver-binary",
            "/bin/sleep",
            // This machine is smaller than the dev plan's host (`ccctl check` fails on CPU): the
            // pre-flight is `check`'s, tested there.
            "--skip-prepare",
            "--timeout",
            "120",
        ])
        .args(extra)
        .output()
        .expect("run ccctl deploy");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn replicas(stack: &str) -> String {
    let output = docker(&[
        "stack",
        "services",
        stack,
        "--format",
        "{{.Name}} {{.Replicas}} {{.Image}}",
    ]);
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines.join("\n")
}

fn plant_lock(lease_until_ms: i64) -> LockRecord {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms");
    let record = LockRecord {
        run_id: "other-run".into(),
        owner: "someone@elsewhere".into(),
        started_at_ms: now - LEASE_MS,
        lease_until_ms: now + lease_until_ms,
        message: "deploy release other".into(),
        pid: None,
    };
    std::fs::create_dir_all("/var/lib/ccplatform").expect("state dir");
    std::fs::write(LOCK_PATH, format!("{}\n", record.to_line())).expect("plant lock");
    record
}

#[test]
fn deploy_converges_then_changes_nothing_and_honours_the_lock() {
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
    let environment = Environment::for_test_sshd();
    let stack = unique_name("ccdp").replace('-', "");
    let _guard = StackGuard(stack.clone());
    let rendered = environment.path("rendered");
    write_render(&rendered, &stack, "release one\n");

    // First deploy: unknown host recorded, stack deployed, every service running.
    let (output, stdout, stderr) = deploy(&environment, &stack, &["--trust-new-host"]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("Deployed release"), "{stderr}");
    assert!(
        stdout.contains("RUN        deploy stack release"),
        "{stdout}"
    );
    let running = replicas(&stack);
    assert!(
        running.contains(&format!("{stack}_app 1/1 ccserver:")),
        "{running}"
    );
    assert!(
        running.contains(&format!("{stack}_cache 1/1 {SMOKE_IMAGE}")),
        "{running}"
    );
    assert!(!Path::new(LOCK_PATH).exists(), "the lock was released");

    // Second deploy: nothing to do, says so.
    let (output, stdout, stderr) = deploy(&environment, &stack, &[]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("Unchanged release"), "{stderr}");
    assert!(
        stdout
            .lines()
            .filter(|line| line.starts_with("RUN"))
            .all(|line| line.contains("smoke test")),
        "{stdout}"
    );

    // A dry run of a changed render lists the stack update and changes nothing.
    let before = docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Version.Index}}",
        &format!("{stack}_app"),
    ]);
    let release_before =
        std::fs::read_to_string(format!("/var/lib/ccplatform/release-{stack}")).expect("release");
    write_render(&rendered, &stack, "release two\n");
    let (output, stdout, stderr) = deploy(&environment, &stack, &["--dry-run"]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("WOULD RUN  deploy stack release"),
        "{stdout}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    let after = docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Version.Index}}",
        &format!("{stack}_app"),
    ]);
    assert_eq!(
        before.stdout, after.stdout,
        "the dry run updated the service"
    );
    assert_eq!(
        std::fs::read_to_string(format!("/var/lib/ccplatform/release-{stack}")).expect("release"),
        release_before
    );
    write_render(&rendered, &stack, "release one\n");

    // A live lock of another run refuses the deploy and names its holder.
    let held = plant_lock(LEASE_MS);
    let (output, stdout, stderr) = deploy(&environment, &stack, &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("held by someone@elsewhere"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(LOCK_PATH).expect("lock"),
        format!("{}\n", held.to_line()),
        "a refused deploy leaves the lock alone"
    );

    // `--break-lock` replaces it.
    let (output, stdout, stderr) = deploy(&environment, &stack, &["--break-lock"]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("breaking the deploy lock"), "{stderr}");
    assert!(!Path::new(LOCK_PATH).exists());

    // An expired lease (a killed run) is taken over without a flag.
    plant_lock(-1);
    let (output, stdout, stderr) = deploy(&environment, &stack, &[]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("taking over the deploy lock"), "{stderr}");
    assert!(stderr.contains("Unchanged release"), "{stderr}");
    assert!(!Path::new(LOCK_PATH).exists());

    // The audit log (local and on the manager) has every run, and never the secret.
    let local = std::fs::read_to_string(environment.path("deploy-audit.jsonl")).expect("audit log");
    assert!(local.contains("\"event\":\"lock_taken_over\""), "{local}");
    assert!(local.contains("\"event\":\"run_finished\""), "{local}");
    let remote = std::fs::read_to_string("/var/log/ccplatform/audit.jsonl").expect("manager log");
    let last = local.lines().last().expect("a line");
    assert!(remote.contains(last), "{last} not in {remote}");
    for text in [&local, &remote] {
        assert!(!text.contains("s3cret-never-printed"));
    }
}
