//! Image shipping without a registry, end to end: `docker save` here, `docker load` through the test
//! sshd into this machine's engine. A uniquely tagged copy of the harness's small image is saved, its
//! tag removed, and it must come back through SSH.

mod check_support;

use std::process::Command;

use cc_e2e::services::{DOCKER, SMOKE_IMAGE, setting, ssh_files, unique_name};
use ccctl::playbook::render::Privilege;
use ccctl::remote::images;
use ccctl::remote::session::{SshContext, SshTarget};
use check_support::require_sshd;

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{}", DOCKER.unavailable(error)))
}

struct TagGuard(String);

impl Drop for TagGuard {
    fn drop(&mut self) {
        let _ = docker(&["image", "rm", &self.0]);
    }
}

#[test]
fn an_image_saved_here_is_loaded_on_the_host_over_ssh() {
    require_sshd();
    let tag = format!("cc-smoke:{}", unique_name("ship"));
    let tagged = docker(&["tag", SMOKE_IMAGE, &tag]);
    assert!(
        tagged.status.success(),
        "{}",
        DOCKER.unavailable(String::from_utf8_lossy(&tagged.stderr))
    );
    let _guard = TagGuard(tag.clone());
    let scratch = tempfile::tempdir().expect("temp dir");
    let tarball = scratch.path().join("image.tar");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let id = images::save_local(&tag, &tarball)
            .await
            .expect("docker save");
        assert!(id.starts_with("sha256:"), "{id}");
        // Only the tag goes: the layers stay, as they would on a host that runs an older release.
        let removed = docker(&["image", "rm", &tag]);
        assert!(removed.status.success());

        let context = SshContext::new(&ssh_files().known_hosts).expect("ssh context");
        let target = SshTarget {
            name: "cc-1".into(),
            address: setting("CC_TEST_SSH_HOST"),
            port: setting("CC_TEST_SSH_PORT").parse().expect("port"),
            user: "root".into(),
            key: ssh_files().client_key,
        };
        let session = context.connect(&target).await.expect("connect");
        let results = images::load_everywhere(&[(&session, Privilege::Root)], &tarball).await;
        let loaded = results
            .into_iter()
            .next()
            .expect("one result")
            .expect("docker load over ssh");
        assert!(loaded.bytes > 0);
        eprintln!(
            "shipped {} bytes in {:?} ({:.1} MB/s)",
            loaded.bytes,
            loaded.elapsed,
            loaded.bytes as f64 / 1e6 / loaded.elapsed.as_secs_f64()
        );

        let ids = images::image_ids("cc-1", &session, Privilege::Root)
            .await
            .expect("image ids");
        assert!(ids.contains(&id), "{id} not in {ids:?}");
        session.close().await;
    });
    let inspected = docker(&["image", "inspect", &tag]);
    assert!(inspected.status.success(), "the tag is back after the load");
}

#[test]
fn a_join_token_travels_on_stdin_not_in_the_command() {
    require_sshd();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let context = SshContext::new(&ssh_files().known_hosts).expect("ssh context");
        let target = SshTarget {
            name: "cc-1".into(),
            address: setting("CC_TEST_SSH_HOST"),
            port: setting("CC_TEST_SSH_PORT").parse().expect("port"),
            user: "root".into(),
            key: ssh_files().client_key,
        };
        let session = context.connect(&target).await.expect("connect");
        // `docker` swapped for `echo docker`: the real join needs a second swarm.
        let script = ccctl::deploy::swarm::join_command("10.0.0.2", "10.0.0.1")
            .replace("docker swarm", "echo docker swarm");
        assert!(ccctl::deploy::swarm::loggable(&script));
        let output = session
            .run_with_secret_input(&script, b"SWMTKN-1-test-token\n")
            .await
            .expect("run");
        assert!(output.success(), "{output:?}");
        assert_eq!(
            output.stdout,
            "docker swarm join --token SWMTKN-1-test-token --advertise-addr 10.0.0.2 10.0.0.1:2377\n"
        );
        session.close().await;
    });
}
