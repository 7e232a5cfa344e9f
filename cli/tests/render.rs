//! `ccctl render` end to end: byte-identical trees (insta snapshots per size), `--check`, generated secrets
//! never appearing in a rendered file, and bad input failing with the field named and nothing written.

mod render_support;

use render_support::{Fixture, SIZES, tree};

/// Snapshot names cannot hold `/`.
fn snapshot_name(size: &str, path: &str) -> String {
    format!("{size}__{}", path.replace('/', "__"))
}

#[test]
fn renders_are_byte_identical_and_match_snapshots() {
    for (size, ..) in SIZES {
        let fixture = Fixture::new(size, true);
        let out = fixture.render_ok();
        let first = tree(&out);
        // A second render into another directory gives the same bytes.
        let again = fixture.render(&["-o", "again"]);
        assert!(again.status.success());
        // The plan sizes the roles ccserver does not implement yet; the render leaves them out and says so.
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(
            stderr.contains("not rendering moderation, notifications, webhooks"),
            "{size}: {stderr}"
        );
        assert!(!first.contains_key("ccserver/moderation.toml"), "{size}");
        assert_eq!(
            first,
            tree(&fixture.path("again")),
            "{size}: render is not deterministic"
        );
        // The MANIFEST hashes every file, so its snapshot pins the whole tree; the stack and NGINX files
        // are snapshotted in full for review, and every file of the 25k size.
        for (path, bytes) in &first {
            if size == "25k"
                || matches!(path.as_str(), "MANIFEST" | "stack.yml" | "nginx/nginx.conf")
            {
                insta::assert_snapshot!(snapshot_name(size, path), String::from_utf8_lossy(bytes));
            }
        }
    }
}

#[test]
fn check_passes_on_a_fresh_render_and_shows_drift() {
    let fixture = Fixture::new("25k", true);
    let out = fixture.render_ok();
    let clean = fixture.render(&["--check", "out"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(clean.stdout.is_empty());

    let nginx = out.join("nginx/nginx.conf");
    let edited = std::fs::read_to_string(&nginx)
        .unwrap()
        .replace("keepalive_timeout 65s;", "keepalive_timeout 5s;");
    std::fs::write(&nginx, edited).unwrap();
    std::fs::write(out.join("extra.txt"), "hand-made\n").unwrap();
    let drift = fixture.render(&["--check", "out"]);
    assert_eq!(drift.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&drift.stdout);
    assert!(
        diff.contains("--- a/nginx/nginx.conf\n+++ b/nginx/nginx.conf"),
        "{diff}"
    );
    assert!(
        diff.contains("-    keepalive_timeout 5s;\n+    keepalive_timeout 65s;"),
        "{diff}"
    );
    assert!(diff.contains("--- a/extra.txt\n+++ /dev/null"), "{diff}");
    assert!(String::from_utf8_lossy(&drift.stderr).contains("2 file(s)"));
}

#[test]
fn generated_secrets_are_private_and_never_rendered() {
    use std::os::unix::fs::PermissionsExt as _;

    let fixture = Fixture::new("25k", false);
    // Self-signed TLS: the certificate is generated too.
    fixture.write_env(&Fixture::env_text("chat.example.com").replace(
        "certificate = \"certs/chat.pem\"\nprivate_key = \"certs/chat.key\"",
        "self_signed = true",
    ));
    let out = fixture.render_ok();
    let secrets_dir = fixture.path("secrets");
    assert_eq!(
        std::fs::metadata(&secrets_dir)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let rendered = tree(&out);
    let mut checked = 0;
    for key in cc_templates::SecretKey::ALL {
        let path = secrets_dir.join(key.file_name());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{key:?}"
        );
        let value = std::fs::read_to_string(&path).unwrap();
        // Every line of the value that carries entropy (PEM bodies, passwords), and the whole value.
        let mut needles: Vec<&str> = value
            .lines()
            .filter(|line| line.len() >= 16 && !line.starts_with("-----"))
            .collect();
        needles.push(value.trim());
        for needle in needles {
            for (file, bytes) in &rendered {
                assert!(
                    !String::from_utf8_lossy(bytes).contains(needle),
                    "secret {key:?} appears in {file}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
    // The second render keeps the secrets (and therefore every Docker object name).
    let before = std::fs::read(secrets_dir.join("jwt_signing_key")).unwrap();
    let again = fixture.render(&["-o", "out"]);
    assert!(again.status.success());
    assert_eq!(
        before,
        std::fs::read(secrets_dir.join("jwt_signing_key")).unwrap()
    );
    assert_eq!(rendered, tree(&out));
}

/// Bad input: exit 1, the field named on stderr, nothing written (no output, no secrets directory).
fn assert_rejected(fixture: &Fixture, expected: &[&str]) {
    let output = fixture.render(&["-o", "out"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    for text in expected {
        assert!(stderr.contains(text), "`{text}` not in: {stderr}");
    }
    assert!(
        !fixture.path("out").exists(),
        "output written despite: {stderr}"
    );
    assert!(
        !fixture.path("secrets").exists(),
        "secrets written despite: {stderr}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(fixture.dir.path())
        .expect("list the fixture directory")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".ccctl"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary directories left behind: {leftovers:?}"
    );
}

#[test]
fn invalid_domain_is_named() {
    let fixture = Fixture::new("dev", false);
    fixture.write_env(&Fixture::env_text("chat_example"));
    assert_rejected(&fixture, &["domain: `chat_example`", "fix:"]);
}

#[test]
fn missing_certificate_file_is_named() {
    let fixture = Fixture::new("dev", false);
    std::fs::remove_file(fixture.path("certs/chat.pem")).unwrap();
    assert_rejected(&fixture, &["tls.certificate", "certs/chat.pem"]);
}

#[test]
fn newer_plan_version_is_rejected() {
    let fixture = Fixture::new("dev", false);
    let text = std::fs::read_to_string(fixture.path("plan.yaml")).unwrap();
    std::fs::write(
        fixture.path("plan.yaml"),
        text.replacen("\nversion: 1\n", "\nversion: 2\n", 1),
    )
    .unwrap();
    assert_rejected(&fixture, &["--plan", "format version 2", "upgrade ccctl"]);
}

#[test]
fn hand_edited_plan_is_rejected() {
    let fixture = Fixture::new("25k", false);
    let text = std::fs::read_to_string(fixture.path("plan.yaml")).unwrap();
    let edited = text.replacen("replicas: ", "replicas: 1", 1);
    assert_ne!(text, edited);
    std::fs::write(fixture.path("plan.yaml"), edited).unwrap();
    assert_rejected(&fixture, &["--plan", "changed after `ccctl plan` wrote it"]);
}

#[test]
fn impossible_plan_with_a_valid_hash_names_every_field() {
    let fixture = Fixture::new("25k", false);
    let mut plan = render_support::plan("25k");
    plan.data_stores.tidb.pd.count = 2;
    plan.data_stores.kafka.min_insync_replicas =
        plan.data_stores.kafka.default_replication_factor + 1;
    plan.services.get_mut("gateway").unwrap().replicas = 0;
    cc_sizing::plan_file::seal(&mut plan);
    std::fs::write(
        fixture.path("plan.yaml"),
        cc_sizing::plan_file::to_yaml(&plan).unwrap(),
    )
    .unwrap();
    assert_rejected(
        &fixture,
        &[
            "services.gateway.replicas",
            "data_stores.tidb.pd.count",
            "data_stores.kafka.min_insync_replicas",
        ],
    );
}

#[test]
fn refuses_to_replace_a_directory_it_did_not_write() {
    let fixture = Fixture::new("dev", true);
    std::fs::create_dir(fixture.path("out")).unwrap();
    std::fs::write(fixture.path("out/notes.txt"), "mine\n").unwrap();
    let output = fixture.render(&["-o", "out"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("was not written by `ccctl render`"));
    assert_eq!(
        std::fs::read_to_string(fixture.path("out/notes.txt")).unwrap(),
        "mine\n"
    );
}

#[test]
fn a_reused_object_name_with_new_content_is_caught() {
    let fixture = Fixture::new("dev", true);
    let out = fixture.render_ok();
    // Pretend the previous render shipped different content under the current NGINX config name: the
    // next render must refuse (Swarm configs are immutable) and leave the directory as it was.
    let manifest_path = out.join("MANIFEST");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let line = manifest
        .lines()
        .find(|line| line.starts_with("object ") && line.contains("_nginx_nginx_conf_"))
        .unwrap()
        .to_owned();
    let name = line.rsplit(' ').next().unwrap().to_owned();
    let tampered = manifest.replace(&line, &format!("object {} {name}", "0".repeat(64)));
    std::fs::write(&manifest_path, &tampered).unwrap();
    let output = fixture.render(&["-o", "out"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("objects.{name}")), "{stderr}");
    assert!(
        stderr.contains("content changed but the Docker object name did not"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&manifest_path).unwrap(), tampered);
}
