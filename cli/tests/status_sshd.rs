//! `ccctl status` end to end: through the test sshd to this machine's Docker engine (a single-node swarm,
//! `scripts/services/docker.sh start`), with a real service of a throw-away stack.

mod check_support;

use std::process::Command;
use std::time::{Duration, Instant};

use cc_e2e::services::{DOCKER, SMOKE_IMAGE, unique_name};
use check_support::{Environment, require_sshd};

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{}", DOCKER.unavailable(error)))
}

/// Removes the service when the test ends, passed or not.
struct ServiceGuard(String);

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        let _ = docker(&["service", "rm", &self.0]);
    }
}

fn trusted_environment() -> Environment {
    require_sshd();
    let environment = Environment::for_test_sshd();
    let output = environment
        .check(&["--trust-new-host", "--only", "os"])
        .output()
        .expect("run ccctl");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    environment
}

fn status(environment: &Environment, stack: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ccctl"))
        .current_dir(environment.dir.path())
        .env("NO_COLOR", "1")
        .args([
            "status",
            "--plan",
            "plan.yaml",
            "--inventory",
            "inventory.toml",
        ])
        .args(["--stack", stack, "--output", "json"])
        .output()
        .expect("run ccctl status")
}

#[test]
fn status_shows_replicas_image_release_and_nodes() {
    let environment = trusted_environment();
    let swarm = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!(
        String::from_utf8_lossy(&swarm.stdout).trim(),
        "active",
        "{}",
        DOCKER.unavailable("this engine is not a swarm manager")
    );
    let stack = unique_name("ccst").replace('-', "");
    let name = format!("{stack}_sleeper");
    let created = docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &name,
        "--label",
        &format!("com.docker.stack.namespace={stack}"),
        "--label",
        "cc.release=r-test",
        "--replicas",
        "1",
        SMOKE_IMAGE,
        "sleep",
        "600",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let _guard = ServiceGuard(name.clone());

    // Poll until the replica runs: status exits 0 only when healthy.
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let output = status(&environment, &stack);
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
                panic!(
                    "not JSON ({error}): {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
        if output.status.success() {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "never healthy: {report:#}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    let service = &report["services"][0];
    assert_eq!(service["name"], name.as_str(), "{report:#}");
    assert_eq!(service["running"], 1);
    assert_eq!(service["desired"], 1);
    assert_eq!(service["image"], SMOKE_IMAGE);
    assert_eq!(report["release"], "r-test");
    let nodes = report["nodes"].as_array().expect("nodes");
    assert!(
        nodes
            .iter()
            .any(|node| node["manager"] == "leader" && node["status"] == "ready"),
        "{report:#}"
    );
}

#[test]
fn an_empty_stack_is_reported_unhealthy() {
    let environment = trusted_environment();
    let output = status(&environment, &unique_name("ccnone").replace('-', ""));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no service of stack"), "{stderr}");
}
