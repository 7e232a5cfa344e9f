//! The signing key ring: sign with the newest active key, verify with any key in the ring, so keys
//! rotate without downtime. Keys live in a directory as `<kid>.key` (active) or `<kid>.next`
//! (verify-only, staged on every replica before it starts signing); each file holds a base64 32-byte
//! ed25519 seed.

use super::jwt::{self, Claims, TokenError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("cannot read key directory {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} is not a base64 32-byte ed25519 seed; generate one with `head -c32 /dev/urandom | base64`"
    )]
    BadKey { path: PathBuf },
    #[error(
        "key directory {path} holds no `<kid>.key` file; add one or start in embedded mode, which creates it"
    )]
    NoSigningKey { path: PathBuf },
}

struct Entry {
    kid: String,
    key: SigningKey,
    active: bool,
}

/// Thread-safe ring; `reload` swaps the whole set at once.
pub struct KeyRing {
    dir: Option<PathBuf>,
    entries: RwLock<Arc<Vec<Entry>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// A ring from in-memory seeds (kid, seed, active): for tests and embedding.
    pub fn from_seeds(seeds: &[(&str, [u8; 32], bool)]) -> Self {
        let entries = seeds
            .iter()
            .map(|(kid, seed, active)| Entry {
                kid: (*kid).to_owned(),
                key: SigningKey::from_bytes(seed),
                active: *active,
            })
            .collect();
        Self {
            dir: None,
            entries: RwLock::new(Arc::new(entries)),
        }
    }

    /// Load `dir`; when `create_if_empty`, first write a new active key if none exists (embedded mode).
    pub fn load_dir(dir: &Path, create_if_empty: bool) -> Result<Self, KeyRingError> {
        if create_if_empty {
            std::fs::create_dir_all(dir).map_err(|source| KeyRingError::Write {
                path: dir.to_owned(),
                source,
            })?;
            if read_entries(dir)?.iter().all(|e| !e.active) {
                Self::write_new_key(dir)?;
            }
        }
        let entries = read_entries(dir)?;
        if !entries.iter().any(|e| e.active) {
            return Err(KeyRingError::NoSigningKey {
                path: dir.to_owned(),
            });
        }
        Ok(Self {
            dir: Some(dir.to_owned()),
            entries: RwLock::new(Arc::new(entries)),
        })
    }

    /// Write a new active key file named after the current time, so it sorts last and signs next.
    pub fn write_new_key(dir: &Path) -> Result<String, KeyRingError> {
        let mut seed = [0_u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
        let kid = format!("k{:013}", crate::ids::now_ms());
        let path = dir.join(format!("{kid}.key"));
        write_private(&path, STANDARD.encode(seed).as_bytes())
            .map_err(|source| KeyRingError::Write { path, source })?;
        Ok(kid)
    }

    /// Re-read the directory; on error the old ring stays in use.
    pub fn reload(&self) -> Result<(), KeyRingError> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let entries = read_entries(dir)?;
        if !entries.iter().any(|e| e.active) {
            return Err(KeyRingError::NoSigningKey { path: dir.clone() });
        }
        if let Ok(mut guard) = self.entries.write() {
            *guard = Arc::new(entries);
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<Entry>> {
        let guard = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&guard)
    }

    /// Sign with the newest active key; returns (token, kid).
    pub fn sign(&self, claims: &Claims) -> Option<(String, String)> {
        let entries = self.snapshot();
        let newest = entries
            .iter()
            .filter(|e| e.active)
            .max_by(|a, b| a.kid.cmp(&b.kid))?;
        Some((
            jwt::sign(&newest.kid, &newest.key, claims),
            newest.kid.clone(),
        ))
    }

    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Claims, TokenError> {
        let entries = self.snapshot();
        jwt::verify(token, now_secs, |kid| {
            entries
                .iter()
                .find(|e| e.kid == kid)
                .map(|e| VerifyingKey::from(&e.key))
        })
    }
}

fn read_entries(dir: &Path) -> Result<Vec<Entry>, KeyRingError> {
    let read_error = |source| KeyRingError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir).map_err(read_error)? {
        let path = item.map_err(read_error)?.path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let active = match ext {
            "key" => true,
            "next" => false,
            _ => continue,
        };
        let text = std::fs::read_to_string(&path).map_err(|source| KeyRingError::Read {
            path: path.clone(),
            source,
        })?;
        let seed: [u8; 32] = STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| KeyRingError::BadKey { path: path.clone() })?;
        entries.push(Entry {
            kid: stem.to_owned(),
            key: SigningKey::from_bytes(&seed),
            active,
        });
    }
    Ok(entries)
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: jwt::ISSUER.into(),
            sub: "u".into(),
            aud: Claims::audience_for("a"),
            app: "a".into(),
            iat: 0,
            exp: 100,
            jti: "j".into(),
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_signs_with_newest() {
        let old_ring = KeyRing::from_seeds(&[("k1", [1; 32], true)]);
        let (old_token, kid) = old_ring.sign(&claims()).unwrap();
        assert_eq!(kid, "k1");
        // Staged: k2 verifies but does not sign yet.
        let staged = KeyRing::from_seeds(&[("k1", [1; 32], true), ("k2", [2; 32], false)]);
        assert_eq!(staged.sign(&claims()).unwrap().1, "k1");
        let rotated = KeyRing::from_seeds(&[("k1", [1; 32], true), ("k2", [2; 32], true)]);
        let (new_token, kid) = rotated.sign(&claims()).unwrap();
        assert_eq!(kid, "k2");
        assert!(rotated.verify(&old_token, 0).is_ok());
        assert!(
            staged.verify(&new_token, 0).is_ok(),
            "a staged replica accepts tokens of the new key"
        );
        assert_eq!(old_ring.verify(&new_token, 0), Err(TokenError::UnknownKey));
    }
}
