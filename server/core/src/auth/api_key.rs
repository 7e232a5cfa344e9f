//! API keys: `cck_<key_id>_<secret>`; only SHA-256 of the secret is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

pub const PREFIX: &str = "cck_";

/// A freshly generated key: the full text is shown once, the hash is stored.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    pub key_id: String,
    pub full: String,
    pub secret_hash: String,
}

pub fn generate() -> GeneratedKey {
    let mut id_bytes = [0_u8; 8];
    let mut secret_bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut id_bytes);
    rand::rng().fill_bytes(&mut secret_bytes);
    let key_id = hex_lower(&id_bytes);
    let secret = URL_SAFE_NO_PAD.encode(secret_bytes);
    GeneratedKey {
        full: format!("{PREFIX}{key_id}_{secret}"),
        secret_hash: hash_secret(&secret),
        key_id,
    }
}

/// Split a presented key into (key id, secret); `None` when it is not shaped like one of ours.
pub fn parse(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let well_formed = key_id.len() == 16
        && key_id.bytes().all(|b| b.is_ascii_hexdigit())
        && !secret.is_empty()
        && secret.len() <= 64;
    well_formed.then_some((key_id, secret))
}

pub fn hash_secret(secret: &str) -> String {
    hex_lower(&Sha256::digest(secret.as_bytes()))
}

/// Compare without an early exit so timing does not reveal how much of a hash matched.
pub fn hashes_equal(left: &str, right: &str) -> bool {
    left.len() == right.len()
        && left
            .bytes()
            .zip(right.bytes())
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let key = generate();
        let (key_id, secret) = parse(&key.full).unwrap();
        assert_eq!(key_id, key.key_id);
        assert!(hashes_equal(&hash_secret(secret), &key.secret_hash));
        assert!(!hashes_equal(&hash_secret("other"), &key.secret_hash));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for text in [
            "",
            "cck_",
            "cck_zz_secret",
            "abc",
            "cck_0123456789abcdef_",
            "eyJ.a.b",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
