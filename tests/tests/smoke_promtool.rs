//! Smoke test of the real `promtool check config` (Debian's prometheus package): a small valid config
//! passes, a broken one fails.

use std::path::Path;
use std::process::{Command, Output};

use cc_e2e::services::PROMTOOL;

fn check_config(dir: &Path, file_name: &str, contents: &str) -> Output {
    let file = dir.join(file_name);
    std::fs::write(&file, contents).expect("write the Prometheus config");
    Command::new("promtool")
        .args(["check", "config"])
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("{}", PROMTOOL.unavailable(error)))
}

const VALID: &str = "\
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: ccserver
    static_configs:
      - targets: [\"127.0.0.1:9100\"]
";

#[test]
fn valid_config_passes_and_broken_config_fails() {
    let scratch = tempfile::tempdir().expect("temp dir");

    let output = check_config(scratch.path(), "valid.yml", VALID);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool rejected a valid config:\n{all}"
    );
    assert!(all.contains("SUCCESS"), "{all}");

    let broken = VALID.replace("15s", "fifteen");
    let output = check_config(scratch.path(), "broken.yml", &broken);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "promtool accepted a broken config:\n{all}"
    );
    assert!(all.contains("not a valid duration"), "{all}");
}
