//! `ccctl check` at the binary level, without any host: what it refuses before connecting anywhere.

mod check_support;

use check_support::Environment;
use insta_cmd::assert_cmd_snapshot;

fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[ENV]");
    settings
}

#[test]
fn an_inventory_that_does_not_match_the_plan_is_refused_with_every_problem() {
    let environment = Environment::new(
        "version = 1\n\n[nodes.cc-2]\naddress = \"10.0.0.2\"\nkey = \"/k\"\n\n[defaults]\nport = 0\n",
    );
    settings().bind(|| {
        assert_cmd_snapshot!(environment.check(&[]));
    });
}

#[test]
fn an_unknown_inventory_field_names_the_field() {
    let environment =
        Environment::new("version = 1\n\n[nodes.cc-1]\naddress = \"10.0.0.1\"\npasword = \"x\"\n");
    settings().bind(|| {
        assert_cmd_snapshot!(environment.check(&[]));
    });
}

#[test]
fn an_unknown_only_filter_lists_the_checks() {
    let environment = Environment::new(
        "version = 1\n\n[nodes.cc-1]\naddress = \"10.0.0.1\"\nkey = \"id_test\"\n",
    );
    std::fs::write(environment.path("id_test"), "not read before connecting").expect("write key");
    settings().bind(|| {
        assert_cmd_snapshot!(environment.check(&["--only", "sysctl:kernel.nope"]));
    });
}

#[test]
fn a_missing_plan_is_a_user_error() {
    let environment = Environment::new("version = 1\n");
    std::fs::remove_file(environment.path("plan.yaml")).expect("remove plan");
    settings().bind(|| {
        assert_cmd_snapshot!(environment.check(&[]));
    });
}

#[test]
fn a_missing_key_file_is_named_before_connecting() {
    let environment = Environment::new(
        "version = 1\n\n[nodes.cc-1]\naddress = \"10.0.0.1\"\nkey = \"keys/absent\"\n",
    );
    settings().bind(|| {
        assert_cmd_snapshot!(environment.check(&[]));
    });
}

#[test]
fn a_host_that_does_not_answer_fails_its_row_without_aborting() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let environment = Environment::new(
        "version = 1\n\n[nodes.cc-1]\naddress = \"127.0.0.1\"\nport = 1\nkey = \"id_test\"\n",
    );
    std::fs::write(environment.path("id_test"), "never used").expect("write key");
    let output = environment
        .check(&["--output", "json"])
        .output()
        .expect("run ccctl");
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
    let checks = report["hosts"][0]["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 1, "{report:#}");
    assert_eq!(checks[0]["check"], "ssh");
    assert_eq!(checks[0]["status"], "fail");
    assert!(
        checks[0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("could not read its host keys")),
        "{report:#}"
    );
}
