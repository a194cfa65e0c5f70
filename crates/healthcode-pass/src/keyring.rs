//! A node's signing keys on disk, with rotation: the newest key signs; retired keys stay listed
//! (for the trust list) until the last pass they signed has expired.
//!
//! Layout of the directory: `keyring.json` (metadata) and one `key-N.pem` per key (PKCS#8, mode
//! 0600).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::keys::{Algorithm, KeyError, SigningKey, VerifyingKey};

const META: &str = "keyring.json";

/// Why the keyring could not be used.
#[derive(Debug, Error)]
pub enum KeyringError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("keyring {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("keyring metadata: {0}")]
    Meta(String),
    #[error("keyring is empty")]
    Empty,
}

/// Metadata of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub file: String,
    pub kid: String,
    pub alg: Algorithm,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a newer key replaced it; it signs nothing after this.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    keys: Vec<KeyEntry>,
}

/// A directory of signing keys.
#[derive(Debug)]
pub struct Keyring {
    dir: PathBuf,
    meta: Meta,
}

impl Keyring {
    /// Opens the keyring in `dir`, creating it and a first key of `alg` on first use.
    pub fn open_or_create(
        dir: &Path,
        alg: Algorithm,
        now: OffsetDateTime,
    ) -> Result<Keyring, KeyringError> {
        let io = |source| KeyringError::Io {
            path: dir.display().to_string(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let meta_path = dir.join(META);
        let meta = match fs::read_to_string(&meta_path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| KeyringError::Meta(e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(io(e)),
        };
        let mut ring = Keyring {
            dir: dir.to_owned(),
            meta,
        };
        if ring.meta.keys.is_empty() {
            ring.add_key(alg, now)?;
        }
        Ok(ring)
    }

    fn add_key(&mut self, alg: Algorithm, now: OffsetDateTime) -> Result<&KeyEntry, KeyringError> {
        let key = SigningKey::generate(alg)?;
        let file = format!("key-{}.pem", self.meta.keys.len() + 1);
        key.write_pem_file(&self.dir.join(&file))?;
        if let Some(last) = self.meta.keys.last_mut() {
            last.retired_at.get_or_insert(now);
        }
        self.meta.keys.push(KeyEntry {
            file,
            kid: key.kid().to_base64(),
            alg,
            created_at: now,
            retired_at: None,
        });
        self.save()?;
        self.meta.keys.last().ok_or(KeyringError::Empty)
    }

    fn save(&self) -> Result<(), KeyringError> {
        let path = self.dir.join(META);
        let text = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| KeyringError::Meta(e.to_string()))?;
        // Write then rename, so a crash never leaves half a keyring.
        let tmp = self.dir.join(format!("{META}.tmp"));
        let io = |source| KeyringError::Io {
            path: path.display().to_string(),
            source,
        };
        fs::write(&tmp, text).map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)
    }

    /// Generates a new signing key; the current one is retired at `now` but keeps verifying.
    pub fn rotate(
        &mut self,
        alg: Algorithm,
        now: OffsetDateTime,
    ) -> Result<&KeyEntry, KeyringError> {
        self.add_key(alg, now)
    }

    /// The directory holding the keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every key, oldest first.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.meta.keys
    }

    /// The key that signs now.
    pub fn active(&self) -> Result<SigningKey, KeyringError> {
        let entry = self.meta.keys.last().ok_or(KeyringError::Empty)?;
        Ok(SigningKey::read_pem_file(&self.dir.join(&entry.file))?)
    }

    /// Public keys still needed by verifiers at `now`: the active one, and retired ones whose
    /// passes (valid at most `max_validity`) may not have expired yet. Each with the window of
    /// issue times it covers.
    pub fn verifying_keys(
        &self,
        now: OffsetDateTime,
        max_validity: Duration,
    ) -> Result<Vec<(VerifyingKey, KeyEntry)>, KeyringError> {
        let mut out = Vec::new();
        for entry in &self.meta.keys {
            if entry.retired_at.is_some_and(|r| r + max_validity < now) {
                continue;
            }
            let key = SigningKey::read_pem_file(&self.dir.join(&entry.file))?;
            out.push((key.verifying_key().clone(), entry.clone()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rotation_keeps_old_keys_until_their_passes_expire() {
        let dir = std::env::temp_dir().join(format!("hc-keyring-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let t0 = datetime!(2020-04-01 00:00 UTC);
        let mut ring = Keyring::open_or_create(&dir, Algorithm::EdDSA, t0).unwrap();
        let first = ring.active().unwrap();
        let again = Keyring::open_or_create(&dir, Algorithm::EdDSA, t0).unwrap();
        assert_eq!(
            again.active().unwrap().kid(),
            first.kid(),
            "opening does not regenerate"
        );
        let t1 = t0 + Duration::days(30);
        ring.rotate(Algorithm::ES256, t1).unwrap();
        let second = ring.active().unwrap();
        assert_ne!(second.kid(), first.kid());
        assert_eq!(second.algorithm(), Algorithm::ES256);
        let max = Duration::hours(24);
        assert_eq!(
            ring.verifying_keys(t1 + Duration::hours(1), max)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            ring.verifying_keys(t1 + Duration::hours(25), max)
                .unwrap()
                .len(),
            1
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
