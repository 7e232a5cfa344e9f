//! Shared fixtures of the `render` tests: real plans from the sizing crate, an environment file with fixed
//! secrets (so renders are byte-identical across runs), and a helper that runs `ccctl render`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cc_sizing::{Coefficients, RawInputs, RawValue};

/// The sizes every test covers: name, MAU, forced target, forced HA.
pub const SIZES: [(&str, &str, Option<&str>, Option<bool>); 4] = [
    ("dev", "1k", Some("compose"), Some(false)),
    ("25k", "25k", None, None),
    ("250k", "250k", None, None),
    ("1m", "1M", None, None),
];

pub fn plan(size: &str) -> cc_sizing::Plan {
    let (_, mau, target, ha) = SIZES
        .iter()
        .find(|(name, ..)| *name == size)
        .copied()
        .expect("known size");
    let raw = RawInputs {
        mau: Some(RawValue::from(mau)),
        target: target.map(RawValue::from),
        ha,
        ..RawInputs::default()
    };
    let valid = raw
        .validate(Coefficients::embedded().expect("coefficients"))
        .expect("valid inputs");
    cc_sizing::plan(&valid).expect("plan").plan
}

/// A working directory with `plan.yaml`, `env.toml`, fixed secrets and fixed (fake) certificate files.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

pub const FAKE_CERTIFICATE: &str =
    "-----BEGIN CERTIFICATE-----\nZml4dHVyZQ==\n-----END CERTIFICATE-----\n";
pub const FAKE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nZml4dHVyZQ==\n-----END PRIVATE KEY-----\n";

impl Fixture {
    /// `fixed_secrets`: pre-seed every secret with a fixed value so that renders are reproducible.
    pub fn new(size: &str, fixed_secrets: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = plan(size);
        std::fs::write(
            dir.path().join("plan.yaml"),
            cc_sizing::plan_file::to_yaml(&plan).expect("yaml"),
        )
        .expect("write plan");
        std::fs::create_dir_all(dir.path().join("certs")).expect("certs dir");
        std::fs::write(dir.path().join("certs/chat.pem"), FAKE_CERTIFICATE).expect("cert");
        std::fs::write(dir.path().join("certs/chat.key"), FAKE_KEY).expect("key");
        let fixture = Self { dir };
        fixture.write_env(&Self::env_text("chat.example.com"));
        if fixed_secrets {
            let secrets = fixture.path("secrets");
            std::fs::create_dir_all(&secrets).expect("secrets dir");
            for key in cc_templates::SecretKey::ALL {
                if !matches!(
                    key,
                    cc_templates::SecretKey::TlsCertificate
                        | cc_templates::SecretKey::TlsPrivateKey
                ) {
                    std::fs::write(
                        secrets.join(key.file_name()),
                        format!("fixed-{}-value\n", key.id()),
                    )
                    .expect("secret");
                }
            }
        }
        fixture
    }

    pub fn env_text(domain: &str) -> String {
        format!(
            "version = 1\ndomain = \"{domain}\"\n\n[tls]\ncertificate = \"certs/chat.pem\"\nprivate_key = \"certs/chat.key\"\n\n\
             [images]\nregistry = \"registry.example.com/cc\"\nversion = \"0.1.0\"\n\n[secrets]\ndir = \"secrets\"\n"
        )
    }

    pub fn write_env(&self, text: &str) {
        std::fs::write(self.path("env.toml"), text).expect("write env");
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Runs `ccctl render --plan plan.yaml --env env.toml <extra>` in the fixture directory.
    pub fn render(&self, extra: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_ccctl"))
            .current_dir(self.dir.path())
            .args(["render", "--plan", "plan.yaml", "--env", "env.toml"])
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .expect("run ccctl")
    }

    /// Renders into `out/` and returns its path; panics with stderr on failure.
    pub fn render_ok(&self) -> PathBuf {
        let output = self.render(&["-o", "out"]);
        assert!(
            output.status.success(),
            "ccctl render failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.path("out")
    }
}

/// Every file under `root`, relative path → bytes, sorted.
pub fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, found: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                found.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut found = std::collections::BTreeMap::new();
    walk(root, root, &mut found);
    found
}
