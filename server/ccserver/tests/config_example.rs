//! The example configuration shipped next to the crate parses and validates.
#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

#[test]
fn the_example_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ccserver.example.toml");
    let settings = ccserver::config::RawConfig::from_file(&path)
        .unwrap()
        .with_env(|_| None)
        .validate()
        .unwrap();
    assert!(settings.roles.api && settings.roles.gateway);
    assert_eq!(
        settings.gateway.allowed_origins,
        ["https://chat.example.com"]
    );
    assert_eq!(settings.limits.replay_window, 1000);
}
