//! Anchors of the audit chain. The chain is plain SHA-256: whoever can write to the database can
//! rewrite an entry and recompute every later hash. So the node signs the chain's head (its seq
//! and hash, and the time) with a key kept in its data directory (`audit-anchor.key`, Ed25519,
//! never in the database) and appends each signed head to a file there (`audit-anchors.jsonl`,
//! one JSON line each, fsync'd). `audit verify` checks the chain against every anchor in that
//! file: a rewrite or a truncation of anything anchored is found, whichever store holds the chain.

use crate::AppState;
use healthcode_pass::keys::{Algorithm, KeyError, SigningKey, VerifyingKey};
use healthcode_store::{Anchor, ChainCheck, Store, StoreError, ms};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The anchor key in the data directory (PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "audit-anchor.key";
/// The signed heads, one JSON line each, in the data directory.
pub const ANCHOR_FILE: &str = "audit-anchors.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("the audit anchor key: {0}")]
    Key(#[from] KeyError),
    #[error(
        "the audit anchor key {0} is missing but {1} holds anchors it signed: restore the key from its backup"
    )]
    KeyLost(String, String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AnchorError + '_ {
    move |e| AnchorError::Io(path.display().to_string(), e)
}

/// One line of the anchor file: a signed head of the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAnchor {
    /// The last entry of the chain when signed.
    pub seq: i64,
    /// Its hash, hex.
    pub hash: String,
    /// Milliseconds since the Unix epoch.
    pub signed_at: i64,
    /// The anchor key's id: base64 of the first 8 bytes of SHA-256 over its public key.
    pub key_id: String,
    /// Ed25519 over the anchor's text (`message`), hex.
    pub signature: String,
}

/// What is signed: every field but the signature, one a line, under a fixed label.
fn message(seq: i64, hash: &str, signed_at: i64, key_id: &str) -> Vec<u8> {
    format!("healthcode audit anchor v1\n{seq}\n{hash}\n{signed_at}\n{key_id}\n").into_bytes()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

impl SignedAnchor {
    pub fn sign(key: &SigningKey, anchor: &Anchor) -> Result<SignedAnchor, KeyError> {
        let hash = hex::encode(&anchor.hash);
        let key_id = key.kid().to_base64();
        let signature = key.sign(&message(anchor.seq, &hash, anchor.signed_at, &key_id))?;
        Ok(SignedAnchor {
            seq: anchor.seq,
            hash,
            signed_at: anchor.signed_at,
            key_id,
            signature: hex::encode(&signature),
        })
    }

    /// The anchor, if `key` signed it; otherwise why not.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Anchor, String> {
        let ours = key.kid().to_base64();
        if self.key_id != ours {
            return Err(format!(
                "signed by key {}, not the anchor key {ours}",
                self.key_id
            ));
        }
        let signature = unhex(&self.signature).ok_or("the signature is not hex")?;
        let signed = message(self.seq, &self.hash, self.signed_at, &self.key_id);
        if !key.verify(&signed, &signature) {
            return Err("bad signature".into());
        }
        let hash = unhex(&self.hash).ok_or("the hash is not hex")?;
        Ok(Anchor {
            seq: self.seq,
            hash,
            signed_at: self.signed_at,
        })
    }
}

/// A line of the anchor file that is not a valid anchor (forged, damaged or signed by another
/// key): it counts as a finding, and the chain is not checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

/// The outcome of `audit verify`: the chain checked against every valid anchor, and the lines
/// of the anchor file refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub chain: ChainCheck,
    pub refused: Vec<Refused>,
}

impl Verified {
    pub fn intact(&self) -> bool {
        self.chain.intact() && self.refused.is_empty()
    }
}

/// The node's anchor key and file.
pub struct Anchors {
    key: SigningKey,
    file: PathBuf,
    /// The head last signed (seq, hash): an unmoved head is not signed again. The lock also
    /// keeps appends to the file one at a time.
    latest: tokio::sync::Mutex<Option<(i64, Vec<u8>)>>,
}

impl Anchors {
    /// Opens the anchor key in `data_dir`, creating it on first start. A missing key while the
    /// anchor file holds anchors is an error: a new key would leave all of them unverifiable.
    pub fn open(data_dir: &Path) -> Result<Anchors, AnchorError> {
        let key_path = data_dir.join(KEY_FILE);
        let file = data_dir.join(ANCHOR_FILE);
        let lines = read_lines(&file)?;
        let key = if key_path.exists() {
            SigningKey::read_pem_file(&key_path)?
        } else if lines.iter().any(|l| !l.trim().is_empty()) {
            return Err(AnchorError::KeyLost(
                key_path.display().to_string(),
                file.display().to_string(),
            ));
        } else {
            let key = SigningKey::generate(Algorithm::EdDSA)?;
            key.write_pem_file(&key_path)?;
            key
        };
        let latest = lines
            .iter()
            .rev()
            .find_map(|l| serde_json::from_str::<SignedAnchor>(l).ok())
            .and_then(|a| Some((a.seq, unhex(&a.hash)?)));
        Ok(Anchors {
            key,
            file,
            latest: tokio::sync::Mutex::new(latest),
        })
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Signs the chain's head at `now` if it moved since the last anchor: appends it to the
    /// anchor file (fsync'd) and copies it into the store's `audit_anchors` for operators.
    pub async fn anchor(
        &self,
        store: &Store,
        now: OffsetDateTime,
    ) -> Result<Option<SignedAnchor>, AnchorError> {
        let mut latest = self.latest.lock().await;
        let (seq, hash) = store.audit_head().await?;
        if seq == 0 || latest.as_ref() == Some(&(seq, hash.clone())) {
            return Ok(None);
        }
        let anchor = Anchor {
            seq,
            hash,
            signed_at: ms(now),
        };
        let signed = SignedAnchor::sign(&self.key, &anchor)?;
        let mut line = serde_json::to_string(&signed)
            .map_err(|e| AnchorError::Io(self.file.display().to_string(), e.into()))?;
        line.push('\n');
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || append(&file, &line))
            .await
            .map_err(|e| AnchorError::Io(self.file.display().to_string(), e.into()))??;
        *latest = Some((anchor.seq, anchor.hash.clone()));
        let signature = unhex(&signed.signature).unwrap_or_default();
        store
            .record_audit_anchor(&anchor, &signed.key_id, &signature)
            .await?;
        Ok(Some(signed))
    }

    /// Checks the anchor file's lines with this node's anchor key, then the whole chain against
    /// the anchors that verify.
    pub async fn verify(&self, store: &Store) -> Result<Verified, AnchorError> {
        let (anchors, refused) = read_anchors(&self.file, self.verifying_key())?;
        let chain = store.verify_audit_chain_anchored(&anchors).await?;
        Ok(Verified { chain, refused })
    }
}

/// The lines of the anchor file (none when it does not exist yet).
fn read_lines(file: &Path) -> Result<Vec<String>, AnchorError> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(file)(e)),
    }
}

/// The anchors of `file` that `key` signed, and the lines refused.
pub fn read_anchors(
    file: &Path,
    key: &VerifyingKey,
) -> Result<(Vec<Anchor>, Vec<Refused>), AnchorError> {
    let mut anchors = Vec::new();
    let mut refused = Vec::new();
    for (i, line) in read_lines(file)?.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let checked = serde_json::from_str::<SignedAnchor>(line)
            .map_err(|e| format!("not an anchor: {e}"))
            .and_then(|a| a.verify(key));
        match checked {
            Ok(anchor) => anchors.push(anchor),
            Err(reason) => refused.push(Refused {
                line: i + 1,
                reason,
            }),
        }
    }
    Ok((anchors, refused))
}

/// Appends one line and syncs it (and, for a new file, its directory) to disk.
fn append(path: &Path, line: &str) -> Result<(), AnchorError> {
    let created = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io(path))?;
    file.write_all(line.as_bytes()).map_err(io(path))?;
    file.sync_data().map_err(io(path))?;
    if created
        && cfg!(unix)
        && let Some(dir) = path.parent()
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// Signs the head every `audit.anchor_interval_seconds` (once at start, then each interval),
/// until the process ends.
pub fn spawn(state: AppState) {
    let every = state.config.audit.anchor_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match state.anchors.anchor(&state.store, state.now()).await {
                Ok(Some(signed)) => tracing::debug!(seq = signed.seq, "audit chain anchored"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "anchoring the audit chain failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_key_is_created_once_and_a_lost_one_is_not_silently_replaced() {
        let dir = std::env::temp_dir().join(format!("hc-anchor-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = Anchors::open(&dir).unwrap();
        let again = Anchors::open(&dir).unwrap();
        assert_eq!(first.verifying_key().kid(), again.verifying_key().kid());
        let line = serde_json::to_string(
            &SignedAnchor::sign(
                &first.key,
                &Anchor {
                    seq: 1,
                    hash: vec![1; 32],
                    signed_at: 0,
                },
            )
            .unwrap(),
        )
        .unwrap();
        append(&dir.join(ANCHOR_FILE), &format!("{line}\n")).unwrap();
        let (anchors, refused) =
            read_anchors(&dir.join(ANCHOR_FILE), first.verifying_key()).unwrap();
        assert_eq!((anchors.len(), refused), (1, vec![]));
        std::fs::remove_file(dir.join(KEY_FILE)).unwrap();
        assert!(matches!(Anchors::open(&dir), Err(AnchorError::KeyLost(..))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_signed_anchor_verifies_and_any_change_to_it_does_not() {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let anchor = Anchor {
            seq: 42,
            hash: vec![7; 32],
            signed_at: 1_586_052_000_000,
        };
        let signed = SignedAnchor::sign(&key, &anchor).unwrap();
        assert_eq!(signed.verify(key.verifying_key()), Ok(anchor));
        let moved = SignedAnchor {
            seq: 41,
            ..signed.clone()
        };
        assert_eq!(
            moved.verify(key.verifying_key()),
            Err("bad signature".into())
        );
        let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let forged = SignedAnchor::sign(
            &other,
            &Anchor {
                seq: 43,
                hash: vec![8; 32],
                signed_at: 1_586_052_060_000,
            },
        )
        .unwrap();
        assert!(forged.verify(key.verifying_key()).is_err());
        let relabelled = SignedAnchor {
            key_id: signed.key_id.clone(),
            ..forged
        };
        assert_eq!(
            relabelled.verify(key.verifying_key()),
            Err("bad signature".into())
        );
    }
}
