//! The deployment's secrets: generated once into the secrets directory (files mode 0600, directory 0700),
//! then only ever referenced by file and content-hashed name. Values never reach a rendered file.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use cc_templates::SecretKey;
use rand::Rng as _;
use rand::distr::{Alphanumeric, SampleString as _};

use crate::UserError;
use crate::env_file::{EnvFile, TlsSource};

/// Where each secret's file is (the TLS pair may live outside the secrets directory).
pub fn locations(env: &EnvFile) -> BTreeMap<SecretKey, PathBuf> {
    SecretKey::ALL
        .iter()
        .map(|key| {
            let path = match (&env.tls, key) {
                (TlsSource::Files { certificate, .. }, SecretKey::TlsCertificate) => {
                    certificate.clone()
                }
                (TlsSource::Files { private_key, .. }, SecretKey::TlsPrivateKey) => {
                    private_key.clone()
                }
                _ => env.secrets_dir.join(key.file_name()),
            };
            (*key, path)
        })
        .collect()
}

/// Where the Compose copy of a secret is: `<secrets dir>/compose/<file>`.
pub fn compose_location(env: &EnvFile, key: SecretKey) -> PathBuf {
    env.secrets_dir.join(COMPOSE_DIR).join(key.file_name())
}

const COMPOSE_DIR: &str = "compose";

/// Brings the Compose copies in line with the secrets (after `ensure`). Compose bind-mounts a file secret
/// with the host file's owner and mode, ignoring `uid`/`gid`/`mode`, so the `0600` originals would be
/// unreadable to images running as a non-root user (Kafka, Grafana, the exporters). The copies are mode
/// `0444`: readable in any container, while the `0700` secrets directory keeps other host users from
/// reaching them. Swarm needs no copies: it applies the per-service owner and mode of `stack.yml`.
pub fn refresh_compose_copies(env: &EnvFile) -> anyhow::Result<()> {
    let dir = env.secrets_dir.join(COMPOSE_DIR);
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    for (key, path) in locations(env) {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let copy = compose_location(env, key);
        if std::fs::read(&copy).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        write_file(&copy, &bytes, 0o444)?;
    }
    Ok(())
}

/// Checks the operator's certificate files before anything is written.
pub fn check_tls_files(env: &EnvFile) -> Result<(), UserError> {
    let TlsSource::Files {
        certificate,
        private_key,
    } = &env.tls
    else {
        return Ok(());
    };
    for (field, path, marker) in [
        (
            "tls.certificate",
            certificate,
            "-----BEGIN CERTIFICATE-----",
        ),
        ("tls.private_key", private_key, "PRIVATE KEY-----"),
    ] {
        let text = std::fs::read_to_string(path).map_err(|error| {
            UserError(format!(
                "{field}: cannot read `{}`: {error} (fix: give the path of a PEM file)",
                path.display()
            ))
        })?;
        if !text.contains(marker) {
            return Err(UserError(format!(
                "{field}: `{}` is not a PEM file with `{marker}` (fix: give a PEM-encoded file)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Fails (naming the secret) if any secret file is missing: `--check` never generates.
pub fn require_existing(env: &EnvFile) -> Result<(), UserError> {
    for (key, path) in locations(env) {
        if !path.exists() {
            return Err(UserError(format!(
                "secrets.{}: `{}` does not exist (fix: run `ccctl render -o DIR` once to generate secrets)",
                key.id(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Generates every missing secret; derives the Kafka JAAS file from the Kafka passwords. Returns the keys
/// that were generated now.
pub fn ensure(env: &EnvFile) -> anyhow::Result<Vec<SecretKey>> {
    let dir = &env.secrets_dir;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the secrets directory {}", dir.display()))?;
    }
    let locations = locations(env);
    let mut generated = Vec::new();
    for (key, path) in &locations {
        if path.exists() || matches!(key, SecretKey::KafkaJaas | SecretKey::TlsPrivateKey) {
            continue;
        }
        match key {
            SecretKey::TlsCertificate => {
                let (certificate, private_key) = self_signed(env)?;
                write_secret(path, certificate.as_bytes())?;
                write_secret(
                    &locations[&SecretKey::TlsPrivateKey],
                    private_key.as_bytes(),
                )?;
                generated.push(SecretKey::TlsPrivateKey);
            }
            _ => write_secret(path, generate(*key).as_bytes())?,
        }
        generated.push(*key);
    }
    if !locations[&SecretKey::TlsPrivateKey].exists() {
        anyhow::bail!(
            "{} is missing but the certificate exists: remove {} to generate a new pair",
            locations[&SecretKey::TlsPrivateKey].display(),
            locations[&SecretKey::TlsCertificate].display()
        );
    }
    // Derived: rewritten whenever a Kafka password changes.
    let jaas = kafka_jaas(
        &read_trimmed(&locations[&SecretKey::KafkaBrokerPassword])?,
        &read_trimmed(&locations[&SecretKey::KafkaAppPassword])?,
    );
    let jaas_path = &locations[&SecretKey::KafkaJaas];
    if std::fs::read_to_string(jaas_path).ok().as_deref() != Some(jaas.as_str()) {
        if jaas_path.exists() {
            std::fs::remove_file(jaas_path)
                .with_context(|| format!("replacing {}", jaas_path.display()))?;
        }
        write_secret(jaas_path, jaas.as_bytes())?;
        generated.push(SecretKey::KafkaJaas);
    }
    Ok(generated)
}

fn read_trimmed(path: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_owned())
}

/// The broker JAAS file: `admin` for inter-broker traffic, `app` for the services.
pub fn kafka_jaas(broker_password: &str, app_password: &str) -> String {
    format!(
        "KafkaServer {{\n  org.apache.kafka.common.security.plain.PlainLoginModule required\n  \
         username=\"admin\"\n  password=\"{broker_password}\"\n  user_admin=\"{broker_password}\"\n  \
         user_app=\"{app_password}\";\n}};\n"
    )
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

fn generate(key: SecretKey) -> String {
    let base64 = base64::engine::general_purpose::STANDARD;
    match key {
        // ccserver's key-ring format: the base64 of an Ed25519 seed (EdDSA JWTs).
        SecretKey::JwtSigningKey => format!("{}\n", base64.encode(random_bytes::<32>())),
        // Standard Webhooks: `whsec_` + base64 of at least 24 random bytes.
        SecretKey::WebhookSigningKey => format!("whsec_{}\n", base64.encode(random_bytes::<32>())),
        // MongoDB keyfiles: 6–1024 base64 characters.
        SecretKey::MongodbKeyfile => format!("{}\n", base64.encode(random_bytes::<96>())),
        // Alphanumeric so they need no escaping in URLs, JAAS or shell.
        _ => format!("{}\n", Alphanumeric.sample_string(&mut rand::rng(), 40)),
    }
}

fn self_signed(env: &EnvFile) -> anyhow::Result<(String, String)> {
    let names = vec![
        env.domain.to_string(),
        env.hostnames.api.to_string(),
        env.hostnames.ws.to_string(),
        env.hostnames.grafana.to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

/// Writes a new secret file with mode 0600 (through a temporary name, so a crash leaves no half file).
fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_file(path, bytes, 0o600)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let temporary = path.with_extension("partial");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("moving {} into place", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_their_formats() {
        let seed = base64::engine::general_purpose::STANDARD
            .decode(generate(SecretKey::JwtSigningKey).trim())
            .unwrap();
        assert_eq!(seed.len(), 32);
        assert!(generate(SecretKey::WebhookSigningKey).starts_with("whsec_"));
        let password = generate(SecretKey::RedisPassword);
        assert_eq!(password.trim().len(), 40);
        assert_ne!(password, generate(SecretKey::RedisPassword));
    }
}
