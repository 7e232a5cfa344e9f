//! `ccctl up` at the binary level: what it refuses before serving, and a port that is already taken.
//! (Serving, SIGKILL/restart and the browser client are covered end to end in `tests/tests/up_*.rs` and
//! `tests/tests/browser_demo.rs`.)

use std::process::Command;

use insta_cmd::{assert_cmd_snapshot, get_cargo_bin};

fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[DATA]");
    settings
}

fn ccctl() -> Command {
    let mut command = Command::new(get_cargo_bin("ccctl"));
    command.env("NO_COLOR", "1");
    command
}

#[test]
fn a_non_loopback_listen_address_is_refused() {
    let data = tempfile::tempdir().unwrap();
    settings().bind(|| {
        assert_cmd_snapshot!(
            ccctl()
                .args(["up", "--listen", "0.0.0.0", "--data-dir"])
                .arg(data.path())
        );
    });
    // Refused before anything was created.
    assert!(std::fs::read_dir(data.path()).unwrap().next().is_none());
}

#[test]
fn a_taken_port_names_the_address_and_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let data = tempfile::tempdir().unwrap();
    let mut settings = settings();
    settings.add_filter(&format!(":{port}\\b"), ":[PORT]");
    settings.bind(|| {
        assert_cmd_snapshot!(
            ccctl()
                .args(["up", "--port", &port.to_string(), "--data-dir"])
                .arg(data.path())
        );
    });
}
