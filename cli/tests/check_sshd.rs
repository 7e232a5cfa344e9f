//! `ccctl check` end to end against the real test sshd on 127.0.0.1:2222 (`scripts/services/sshd.sh
//! start`), which runs on this very machine: what check reports is compared with what this machine
//! says about itself, `--fix` changes a real (harmless) sysctl, and the host-key rules are shown to run
//! nothing on a refused host.

mod check_support;

use std::sync::Mutex;

use check_support::{Environment, local_sysctl, require_sshd, set_local_sysctl, sshd_fingerprint};

/// The sysctl the fix tests change: raising the memory-map limit is harmless to everything else here.
const FIXED_KEY: &str = "vm.max_map_count";
/// The kernel's default, below the 262144 the plan's data stores need.
const KERNEL_DEFAULT: &str = "65530";
const PERSIST_FILE: &str = "/etc/sysctl.d/99-zz-ccplatform.conf";

/// Tests that lower or read `vm.max_map_count` take turns.
static SYSCTL: Mutex<()> = Mutex::new(());

fn trusted_environment() -> Environment {
    require_sshd();
    let environment = Environment::for_test_sshd();
    let output = environment
        .check(&["--trust-new-host", "--only", "os"])
        .output()
        .expect("run ccctl");
    assert!(
        output.status.success(),
        "trusting the test sshd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    environment
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn check_of<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["hosts"][0]["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["check"] == id))
        .unwrap_or_else(|| panic!("no check `{id}` in {report:#}"))
}

fn message(check: &serde_json::Value) -> &str {
    check["message"].as_str().unwrap_or_default()
}

#[test]
fn unknown_host_is_refused_with_its_fingerprint_and_nothing_runs() {
    require_sshd();
    let _guard = SYSCTL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let environment = Environment::for_test_sshd();
    set_local_sysctl(FIXED_KEY, KERNEL_DEFAULT);

    let output = environment
        .check(&["--fix", "--only", &format!("sysctl:{FIXED_KEY}")])
        .output()
        .expect("run ccctl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not in known_hosts"), "{stderr}");
    assert!(
        stderr.contains(&sshd_fingerprint()),
        "the fingerprint is shown: {stderr}"
    );
    assert!(stderr.contains("--trust-new-host"), "{stderr}");
    assert!(output.stdout.is_empty(), "no table for a refused run");
    assert!(
        !environment.known_hosts().exists(),
        "nothing recorded without --trust-new-host"
    );
    // The fix would have raised it: no command ran on the host.
    assert_eq!(local_sysctl(FIXED_KEY), KERNEL_DEFAULT);
}

#[test]
fn changed_host_key_is_refused_even_with_trust_new_host_and_nothing_runs() {
    require_sshd();
    let _guard = SYSCTL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let environment = Environment::for_test_sshd();
    // Record some other key for the same [127.0.0.1]:2222: what a reinstalled or impostor host looks like.
    let impostor = environment.path("impostor_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&impostor)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success());
    let impostor_public =
        std::fs::read_to_string(impostor.with_extension("pub")).expect("read impostor key");
    let mut fields = impostor_public.split_whitespace();
    let recorded = format!(
        "[127.0.0.1]:2222 {} {}\n",
        fields.next().expect("algorithm"),
        fields.next().expect("blob")
    );
    std::fs::write(environment.known_hosts(), &recorded).expect("write known_hosts");
    set_local_sysctl(FIXED_KEY, KERNEL_DEFAULT);

    let output = environment
        .check(&[
            "--trust-new-host",
            "--fix",
            "--only",
            &format!("sysctl:{FIXED_KEY}"),
        ])
        .output()
        .expect("run ccctl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("HOST KEY MISMATCH"), "{stderr}");
    assert!(
        stderr.contains(&check_support::fingerprint_of(
            &impostor.with_extension("pub")
        )),
        "the recorded fingerprint is shown: {stderr}"
    );
    assert!(
        stderr.contains(&sshd_fingerprint()),
        "the offered fingerprint is shown: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(environment.known_hosts()).expect("read known_hosts"),
        recorded,
        "a mismatch never rewrites the known-hosts file"
    );
    assert_eq!(
        local_sysctl(FIXED_KEY),
        KERNEL_DEFAULT,
        "no command ran on the host"
    );
}

#[test]
fn the_session_itself_refuses_a_changed_key_before_any_command() {
    // The second line of defence: even without the pre-check, ssh's strict checking against the
    // environment's file stops the session before the command that would create the marker.
    require_sshd();
    let scratch = tempfile::tempdir().expect("temp dir");
    let marker = scratch.path().join("marker");
    let wrong = scratch.path().join("known_hosts");
    std::fs::write(
        &wrong,
        "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
    )
    .expect("write known_hosts");
    let target = ccctl::remote::session::SshTarget {
        name: "cc-1".into(),
        address: cc_e2e::services::setting("CC_TEST_SSH_HOST"),
        port: cc_e2e::services::setting("CC_TEST_SSH_PORT")
            .parse()
            .expect("port"),
        user: "root".into(),
        key: cc_e2e::services::ssh_files().client_key,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use ccctl::remote::RemoteShell;
        let touch = format!("touch {}", marker.display());

        let context = ccctl::remote::session::SshContext::new(&wrong).expect("ssh context");
        let error = context
            .connect(&target)
            .await
            .expect_err("a changed key must be refused");
        assert!(
            error.to_string().contains("Host key verification failed")
                || error
                    .to_string()
                    .contains("HOST IDENTIFICATION HAS CHANGED"),
            "{error}"
        );
        assert!(!marker.exists());

        // Control: with the right known-hosts file the same command does run.
        let right =
            ccctl::remote::session::SshContext::new(&cc_e2e::services::ssh_files().known_hosts)
                .expect("ssh context");
        let session = right
            .connect(&target)
            .await
            .expect("connect with the right key");
        let output = session.run(&touch).await.expect("run touch");
        assert!(output.success(), "{output:?}");
        session.close().await;
        assert!(marker.exists());
    });
}

#[test]
fn trust_new_host_records_the_key_and_later_runs_need_no_flag() {
    let environment = trusted_environment();
    let recorded = std::fs::read_to_string(environment.known_hosts()).expect("read known_hosts");
    let expected = std::fs::read_to_string(cc_e2e::services::ssh_files().known_hosts)
        .expect("harness known_hosts");
    assert_eq!(
        recorded, expected,
        "the recorded line is the host's real key"
    );

    let output = environment
        .check(&["--only", "os"])
        .output()
        .expect("run ccctl");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(environment.known_hosts()).expect("read known_hosts"),
        recorded,
        "a known host is not recorded twice"
    );
}

#[test]
fn check_reports_this_machine_accurately() {
    let environment = trusted_environment();
    let _guard = SYSCTL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let output = environment
        .check(&["--output", "json"])
        .output()
        .expect("run ccctl");
    let report = json_of(&output);

    // Exit code and summary agree.
    let failed = report["summary"]["fail"].as_u64().expect("fail count");
    assert_eq!(
        output.status.code(),
        Some(i32::from(failed > 0)),
        "{report:#}"
    );

    let os_release = cc_playbook_os_release();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("kernel release");
    let os = check_of(&report, "os");
    assert!(message(os).contains(&os_release), "{os}");
    assert!(message(os).contains(kernel.trim()), "{os}");

    let getconf = std::process::Command::new("getconf")
        .arg("_NPROCESSORS_ONLN")
        .output()
        .expect("run getconf");
    let cpus = String::from_utf8_lossy(&getconf.stdout).trim().to_owned();
    assert!(
        message(check_of(&report, "cpu")).starts_with(&format!("{cpus} vCPU")),
        "{report:#}"
    );

    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .expect("MemTotal");
    let gib = format!("{:.1} GiB", (mem_kib / 1024) as f64 / 1024.0);
    assert!(
        message(check_of(&report, "memory")).starts_with(&gib),
        "{report:#}"
    );

    for key in [
        "fs.file-max",
        "fs.nr_open",
        "net.core.somaxconn",
        "net.ipv4.ip_local_port_range",
    ] {
        let check = check_of(&report, &format!("sysctl:{key}"));
        assert!(
            message(check).starts_with(&local_sysctl(key)),
            "{key}: {check}"
        );
    }

    let swaps = std::fs::read_to_string("/proc/swaps").expect("swaps");
    let swap_on = swaps.lines().count() > 1;
    assert_eq!(
        check_of(&report, "swap")["status"] == "pass",
        !swap_on,
        "{report:#}"
    );

    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    assert_eq!(
        check_of(&report, "transparent-hugepages")["status"] == "pass",
        thp.is_empty() || thp.contains("[never]"),
        "{report:#}"
    );

    let docker = check_of(&report, "docker");
    match std::process::Command::new("docker")
        .arg("--version")
        .output()
    {
        Ok(version) if version.status.success() => {
            let text = String::from_utf8_lossy(&version.stdout);
            let number = text
                .trim_start_matches("Docker version ")
                .split(',')
                .next()
                .unwrap_or_default()
                .to_owned();
            assert!(message(docker).contains(&number), "{docker} vs {text}");
        }
        _ => assert!(message(docker).contains("not installed"), "{docker}"),
    }
    assert_eq!(
        check_of(&report, "reach")["status"],
        "pass",
        "one host: nothing to reach"
    );

    // The daemons' own open-files limit against what the dev plan's data stores ask (1048576).
    let daemon_limit = |name: &str| -> Option<u64> {
        let pid = std::process::Command::new("pidof")
            .args(["-s", name])
            .output()
            .ok()?;
        let pid = String::from_utf8_lossy(&pid.stdout).trim().to_owned();
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        limits
            .lines()
            .find(|line| line.starts_with("Max open files"))?
            .split_whitespace()
            .nth(4)?
            .parse()
            .ok()
    };
    // Swarm's virtual IPs need the kernel's ip_vs (this CI kernel has none).
    let ipvs = check_of(&report, "kernel:ipvs");
    let ipvs_loaded = std::path::Path::new("/proc/net/ip_vs").exists()
        || std::fs::read_to_string("/proc/modules")
            .is_ok_and(|modules| modules.lines().any(|line| line.starts_with("ip_vs ")));
    if ipvs_loaded {
        assert_eq!(ipvs["status"], "pass", "{ipvs}");
    } else {
        assert_ne!(ipvs["status"], "pass", "{ipvs}");
    }

    let nofile = check_of(&report, "docker:nofile");
    match daemon_limit("dockerd") {
        Some(limit) if limit < 1_048_576 => {
            assert_eq!(nofile["status"], "fail", "{nofile}");
            assert!(
                message(nofile).contains(&format!("dockerd {limit}")),
                "{nofile}"
            );
            assert_eq!(nofile["fix"]["playbook"], "docker-nofile", "{nofile}");
        }
        Some(_) => assert_eq!(nofile["status"], "pass", "{nofile}"),
        None => assert_eq!(nofile["status"], "warn", "{nofile}"),
    }
}

/// On a host where the daemons' open-files limit is too low and this session may not raise it (no
/// CAP_SYS_RESOURCE, as in this CI sandbox), `--fix` reports its failure instead of a pass.
#[test]
fn a_daemon_nofile_fix_that_cannot_apply_is_reported_as_failed() {
    let environment = trusted_environment();
    let hard_limit = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("ulimit");
    let hard_limit = String::from_utf8_lossy(&hard_limit.stdout)
        .trim()
        .to_owned();
    let output = environment
        .check(&["--only", "docker:nofile", "--fix"])
        .output()
        .expect("run ccctl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if hard_limit == "unlimited"
        || hard_limit
            .parse::<u64>()
            .is_ok_and(|limit| limit >= 1_048_576)
    {
        // A machine that can hold the limit: the fix applies and the re-check passes.
        assert!(output.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("docker:nofile  pass"), "{stdout}");
    } else {
        assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stderr.contains("fix docker-nofile"), "{stderr}");
        assert!(stdout.contains("docker:nofile  fail"), "{stdout}");
    }
}

/// `PRETTY_NAME` of this machine.
fn cc_playbook_os_release() -> String {
    let text = std::fs::read_to_string("/etc/os-release").expect("os-release");
    text.lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|value| value.trim_matches('"').to_owned())
        .expect("PRETTY_NAME")
}

#[test]
fn fix_raises_a_fixable_sysctl_then_the_re_check_passes_and_a_second_fix_does_nothing() {
    let environment = trusted_environment();
    let _guard = SYSCTL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let only = format!("sysctl:{FIXED_KEY}");
    set_local_sysctl(FIXED_KEY, KERNEL_DEFAULT);
    // Start from nothing persisted, so both steps of the playbook have work to do.
    let _ = std::fs::remove_file(PERSIST_FILE);

    let before = environment
        .check(&["--only", &only, "--output", "json"])
        .output()
        .expect("run ccctl");
    assert_eq!(before.status.code(), Some(1));
    let check = check_of(&json_of(&before), &only).clone();
    assert_eq!(check["status"], "fail", "{check}");
    assert_eq!(check["fix"]["playbook"], "sysctl", "{check}");
    assert_eq!(check["fix"]["params"]["value"], "262144", "{check}");

    let fixed = environment
        .check(&["--fix", "--only", &only, "--output", "json"])
        .output()
        .expect("run ccctl");
    let stderr = String::from_utf8_lossy(&fixed.stderr);
    assert_eq!(fixed.status.code(), Some(0), "{stderr}");
    let report = json_of(&fixed);
    assert_eq!(check_of(&report, &only)["status"], "pass", "{report:#}");
    let steps = report["hosts"][0]["fixes"]["steps"]
        .as_array()
        .expect("fix steps")
        .clone();
    assert_eq!(steps.len(), 2, "{report:#}");
    assert!(
        steps.iter().all(|step| step["result"] == "applied"),
        "{report:#}"
    );
    assert!(stderr.contains("Fixed"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(local_sysctl(FIXED_KEY), "262144");
    let persisted = std::fs::read_to_string(PERSIST_FILE).expect("persisted file");
    assert!(
        persisted
            .lines()
            .any(|line| line == "vm.max_map_count = 262144"),
        "{persisted}"
    );

    // Idempotent: nothing left to fix, nothing run, file unchanged.
    let again = environment
        .check(&["--fix", "--only", &only, "--output", "json"])
        .output()
        .expect("run ccctl");
    assert_eq!(again.status.code(), Some(0));
    let report = json_of(&again);
    assert!(report["hosts"][0].get("fixes").is_none(), "{report:#}");
    assert_eq!(
        std::fs::read_to_string(PERSIST_FILE).expect("persisted file"),
        persisted
    );
}
