//! Shared by the `check` tests: a real development-size plan from the sizing model, written next to an
//! inventory in a scratch environment directory.

#![allow(dead_code)] // Each test file uses a different part.

use std::path::{Path, PathBuf};

use cc_e2e::services::{SSHD, setting, ssh_files};

/// The development-size plan (one host, `cc-1`), sealed, as YAML.
pub fn dev_plan_yaml() -> String {
    let raw =
        cc_sizing::RawInputs::from_sizing_toml("version = 1\nmau = 1000\n").expect("sizing inputs");
    let coefficients = cc_sizing::Coefficients::embedded().expect("embedded coefficients");
    let valid = raw.validate(coefficients).expect("valid inputs");
    let planned = cc_sizing::plan(&valid).expect("plan");
    cc_sizing::plan_file::to_yaml(&planned.plan).expect("plan yaml")
}

/// A scratch environment: `plan.yaml`, `inventory.toml`, and (once trusted) `known_hosts`.
pub struct Environment {
    pub dir: tempfile::TempDir,
}

impl Environment {
    pub fn new(inventory: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("plan.yaml"), dev_plan_yaml()).expect("write plan");
        std::fs::write(dir.path().join("inventory.toml"), inventory).expect("write inventory");
        Self { dir }
    }

    /// An environment whose only host is the test sshd.
    pub fn for_test_sshd() -> Self {
        Self::new(&sshd_inventory())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.path("known_hosts")
    }

    /// `ccctl check --plan … --inventory …` plus `extra`, run in the environment directory.
    pub fn check(&self, extra: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ccctl"));
        command
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .args([
                "check",
                "--plan",
                "plan.yaml",
                "--inventory",
                "inventory.toml",
            ])
            .args(extra);
        command
    }
}

/// The test sshd as host `cc-1`.
pub fn sshd_inventory() -> String {
    format!(
        "version = 1\n\n[nodes.cc-1]\naddress = \"{}\"\nport = {}\nuser = \"root\"\nkey = \"{}\"\n",
        setting("CC_TEST_SSH_HOST"),
        setting("CC_TEST_SSH_PORT"),
        ssh_files().client_key.display()
    )
}

/// Fails the test with the harness's message when the test sshd is not up.
pub fn require_sshd() {
    let address = format!(
        "{}:{}",
        setting("CC_TEST_SSH_HOST"),
        setting("CC_TEST_SSH_PORT")
    );
    let reachable = address
        .parse()
        .ok()
        .and_then(|socket| {
            std::net::TcpStream::connect_timeout(&socket, std::time::Duration::from_secs(3)).ok()
        })
        .is_some();
    assert!(
        reachable,
        "{}",
        SSHD.unavailable(format!("nothing listens on {address}"))
    );
    assert!(
        ssh_files().client_key.exists(),
        "{}",
        SSHD.unavailable("its client key is missing")
    );
}

/// The SHA-256 fingerprint of the test sshd's host key, as `ssh-keygen -lf` prints it.
pub fn sshd_fingerprint() -> String {
    let public_key = cc_e2e::services::state_dir("sshd").join("ssh_host_ed25519_key.pub");
    fingerprint_of(&public_key)
}

pub fn fingerprint_of(public_key: &Path) -> String {
    let output = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .expect("run ssh-keygen -lf");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_owned()
}

/// A sysctl's current value on this machine (the test sshd runs here).
pub fn local_sysctl(key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {path}: {error}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn set_local_sysctl(key: &str, value: &str) {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|error| panic!("write {path}: {error}"));
}
