//! `ccctl plan` at the binary level: golden tables and JSON for the reference sizes, `--help`, `--explain`,
//! the plan file, and one clear message per bad input with nothing written.

use std::path::Path;
use std::process::Command;

use insta_cmd::assert_cmd_snapshot;

fn ccctl(directory: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ccctl"));
    command
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    command
}

/// The ten reference rows (MAU, PCC at 5% and 10%), 250k, 1M and the single-host development size.
const SIZES: [(&str, &str, Option<&str>); 13] = [
    ("ref_10k_pcc500", "10k", Some("500")),
    ("ref_25k_pcc1250", "25k", Some("1250")),
    ("ref_50k_pcc2500", "50k", Some("2500")),
    ("ref_100k_pcc5000", "100k", Some("5000")),
    ("ref_200k_pcc10000", "200k", Some("10000")),
    ("ref_10k_pcc1000", "10k", Some("1000")),
    ("ref_25k_pcc2500", "25k", Some("2500")),
    ("ref_50k_pcc5000", "50k", Some("5000")),
    ("ref_100k_pcc10000", "100k", Some("10000")),
    ("ref_200k_pcc20000", "200k", Some("20000")),
    ("mau_250k", "250k", None),
    ("mau_1m", "1M", None),
    ("dev_1k", "1k", None),
];

fn size_args<'a>(mau: &'a str, pcc: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["plan", "--mau", mau];
    if let Some(pcc) = pcc {
        args.extend(["--pcc", pcc]);
    }
    args
}

#[test]
fn tables_of_every_reference_size() {
    let directory = tempfile::tempdir().expect("tempdir");
    for (name, mau, pcc) in SIZES {
        assert_cmd_snapshot!(
            format!("table_{name}"),
            ccctl(directory.path()).args(size_args(mau, pcc))
        );
    }
}

#[test]
fn json_of_every_reference_size() {
    let directory = tempfile::tempdir().expect("tempdir");
    for (name, mau, pcc) in SIZES {
        let mut args = size_args(mau, pcc);
        args.extend(["--output", "json"]);
        assert_cmd_snapshot!(format!("json_{name}"), ccctl(directory.path()).args(args));
    }
}

#[test]
fn help() {
    let directory = tempfile::tempdir().expect("tempdir");
    assert_cmd_snapshot!(ccctl(directory.path()).args(["plan", "--help"]));
}

#[test]
fn explain_of_the_development_size() {
    let directory = tempfile::tempdir().expect("tempdir");
    assert_cmd_snapshot!(ccctl(directory.path()).args(["plan", "--mau", "1k", "--explain"]));
}

#[test]
fn explain_json_names_the_conservative_gateway_coefficient() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = ccctl(directory.path())
        .args(["plan", "--mau", "250k", "--explain", "--output", "json"])
        .output()
        .expect("run");
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let explanations = json["explanations"].as_array().expect("explanations");
    let gateway = explanations
        .iter()
        .find(|explanation| explanation["path"] == "services.gateway.replicas")
        .expect("gateway replicas explained");
    let sources: Vec<&str> = gateway["coefficients"]
        .as_array()
        .expect("coefficients")
        .iter()
        .filter_map(|coefficient| coefficient["source"].as_str())
        .collect();
    assert!(
        sources
            .iter()
            .any(|source| source.contains("conservative until our gateway benchmark")),
        "{sources:?}"
    );
    assert_eq!(json["plan"]["services"]["gateway"]["replicas"], 4);
}

#[test]
fn the_plan_file_is_written_atomically_and_loads_with_its_hash() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = ccctl(directory.path())
        .args([
            "plan",
            "--mau",
            "250k",
            "-o",
            "plan.yaml",
            "--output",
            "json",
        ])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Wrote plan.yaml (plan hash "), "{stderr}");
    let text = std::fs::read_to_string(directory.path().join("plan.yaml")).expect("plan written");
    let plan = cc_sizing::plan_file::from_yaml(&text).expect("valid plan file");
    let printed: cc_sizing::Plan = serde_json::from_slice(&output.stdout).expect("json plan");
    assert_eq!(plan, printed);
    // Only the plan is left in the directory: the temporary file was renamed, not copied.
    let entries = std::fs::read_dir(directory.path()).expect("list").count();
    assert_eq!(entries, 1);
}

#[test]
fn a_sizing_file_gives_the_inputs_and_flags_override_it() {
    let directory = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        directory.path().join("sizing.toml"),
        "version = 1\nmau = \"50k\"\nconcurrency = 0.05\nhost_size = \"16c64g\"\nha = true\n",
    )
    .expect("write");
    let from_file = ccctl(directory.path())
        .args(["plan", "--sizing", "sizing.toml", "--output", "json"])
        .output()
        .expect("run");
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    let plan: cc_sizing::Plan = serde_json::from_slice(&from_file.stdout).expect("json");
    assert_eq!((plan.inputs.mau, plan.inputs.pcc), (50_000, 2_500));
    assert_eq!(plan.inputs.host_size.cpus, 16);

    let overridden = ccctl(directory.path())
        .args([
            "plan",
            "--sizing",
            "sizing.toml",
            "--pcc",
            "4000",
            "--output",
            "json",
        ])
        .output()
        .expect("run");
    let plan: cc_sizing::Plan = serde_json::from_slice(&overridden.stdout).expect("json");
    assert_eq!((plan.inputs.mau, plan.inputs.pcc), (50_000, 4_000));
}

/// Each bad input: its own snapshot (one message per problem, naming the flag or key and the accepted
/// range, exit code 1) and no plan file written.
#[test]
fn bad_inputs_are_refused_with_one_message_each_and_nothing_written() {
    let cases: [(&str, &[&str], Option<&str>); 13] = [
        ("mau_zero", &["--mau", "0"], None),
        ("mau_negative", &["--mau", "-5"], None),
        ("mau_not_a_number", &["--mau", "abc"], None),
        ("mau_huge", &["--mau", "1e30"], None),
        ("mau_missing", &[], None),
        (
            "concurrency_above_one",
            &["--mau", "10k", "--concurrency", "1.5"],
            None,
        ),
        ("pcc_above_mau", &["--mau", "10k", "--pcc", "20k"], None),
        (
            "pcc_and_concurrency",
            &["--mau", "10k", "--pcc", "500", "--concurrency", "0.1"],
            None,
        ),
        (
            "unknown_target",
            &["--mau", "10k", "--target", "nomad"],
            None,
        ),
        (
            "every_problem_at_once",
            &[
                "--mau",
                "0",
                "--concurrency",
                "1.5",
                "--target",
                "nomad",
                "--host-size",
                "big",
                "--peak-factor",
                "0",
            ],
            None,
        ),
        (
            "sizing_unknown_key",
            &["--sizing", "sizing.toml"],
            Some("version = 1\nmau = \"10k\"\nconcurency = 0.1\n"),
        ),
        (
            "sizing_newer_version",
            &["--sizing", "sizing.toml"],
            Some("version = 2\nmau = \"10k\"\nreplicas = 3\n"),
        ),
        (
            "sizing_bad_values",
            &["--sizing", "sizing.toml", "--target", "swarm"],
            Some("version = 1\nmau = 0\ntarget = \"nomad\"\nattachment_share = 2\n"),
        ),
    ];
    for (name, args, sizing) in cases {
        let directory = tempfile::tempdir().expect("tempdir");
        if let Some(text) = sizing {
            std::fs::write(directory.path().join("sizing.toml"), text).expect("write");
        }
        let mut command = ccctl(directory.path());
        command.arg("plan").args(args).args(["-o", "plan.yaml"]);
        assert_cmd_snapshot!(format!("bad_{name}"), command);
        assert!(
            !directory.path().join("plan.yaml").exists(),
            "{name}: a plan was written despite the error"
        );
    }
}
