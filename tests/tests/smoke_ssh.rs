//! Smoke tests of the real sshd on 127.0.0.1:2222 through `openssh` with strict host key checking: a
//! command runs when the host key matches, and nothing runs when it does not.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cc_e2e::services::{SSHD, setting, ssh_files, unique_name};
use openssh::{KnownHosts, Session, SessionBuilder};

fn builder(known_hosts: &Path, control_directory: &Path, empty_config: &Path) -> SessionBuilder {
    let files = ssh_files();
    assert!(
        files.client_key.exists(),
        "{}",
        SSHD.unavailable(format!("client key {} missing", files.client_key.display()))
    );
    let port: u16 = setting("CC_TEST_SSH_PORT")
        .parse()
        .expect("CC_TEST_SSH_PORT is a port number");
    let mut builder = SessionBuilder::default();
    builder
        .user("root".to_owned())
        .port(port)
        .keyfile(&files.client_key)
        .known_hosts_check(KnownHosts::Strict)
        .user_known_hosts_file(known_hosts)
        // The developer's ~/.ssh/config must not change what the test checks.
        .config_file(empty_config)
        .control_directory(control_directory)
        .connect_timeout(Duration::from_secs(5));
    builder
}

async fn connect(builder: &SessionBuilder) -> Result<Session, openssh::Error> {
    let host = setting("CC_TEST_SSH_HOST");
    tokio::time::timeout(Duration::from_secs(20), builder.connect_mux(&host))
        .await
        .unwrap_or_else(|_| panic!("{}", SSHD.unavailable("no SSH session within 20 s")))
}

#[tokio::test]
async fn runs_a_command_when_the_host_key_matches() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let empty_config = scratch.path().join("ssh_config");
    std::fs::write(&empty_config, "").expect("write empty ssh config");

    let session = connect(&builder(
        &ssh_files().known_hosts,
        scratch.path(),
        &empty_config,
    ))
    .await
    .unwrap_or_else(|error| panic!("{}", SSHD.unavailable(error)));
    let output = session
        .command("echo")
        .arg("hello from sshd")
        .output()
        .await
        .expect("run echo");
    assert!(output.status.success(), "echo failed: {output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello from sshd\n");
    session.close().await.expect("close the session");
}

#[tokio::test]
async fn refuses_a_host_whose_key_does_not_match() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let empty_config = scratch.path().join("ssh_config");
    std::fs::write(&empty_config, "").expect("write empty ssh config");

    // First the right known_hosts: the server is up, so a refusal below comes from the key alone.
    let session = connect(&builder(
        &ssh_files().known_hosts,
        scratch.path(),
        &empty_config,
    ))
    .await
    .unwrap_or_else(|error| panic!("{}", SSHD.unavailable(error)));
    session.close().await.expect("close the session");

    // A known_hosts entry for the right address but another (freshly made) key.
    let other_key = scratch.path().join("other_host_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .expect("run ssh-keygen (Debian openssh-client)");
    assert!(keygen.success(), "ssh-keygen failed");
    let other_public =
        std::fs::read_to_string(other_key.with_extension("pub")).expect("read the other key");
    let mut fields = other_public.split_whitespace();
    let (key_type, key_body) = (
        fields.next().expect("key type"),
        fields.next().expect("key body"),
    );
    let wrong_known_hosts = scratch.path().join("known_hosts");
    std::fs::write(
        &wrong_known_hosts,
        format!(
            "[{}]:{} {key_type} {key_body}\n",
            setting("CC_TEST_SSH_HOST"),
            setting("CC_TEST_SSH_PORT")
        ),
    )
    .expect("write known_hosts");

    // The sshd runs on this machine, so a marker file shows whether the command ran.
    let marker = std::env::temp_dir().join(unique_name("cc-smoke-ssh-marker"));
    let result = connect(&builder(&wrong_known_hosts, scratch.path(), &empty_config)).await;
    if let Ok(session) = result {
        let ran = session
            .command("touch")
            .arg(marker.to_string_lossy())
            .status()
            .await;
        let _ = session.close().await;
        let _ = std::fs::remove_file(&marker);
        panic!("a host with a mismatched key was accepted (command status {ran:?})");
    }
    assert!(
        !marker.exists(),
        "the command ran although the host key did not match"
    );
    // ssh's own words: the refusal is about the host key, not a down server or a rejected client key.
    let refusal = format!("{:?}", result.err());
    assert!(
        refusal.contains("Host key verification failed"),
        "refused for another reason: {refusal}"
    );
}
