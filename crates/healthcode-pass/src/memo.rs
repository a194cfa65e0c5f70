//! Signatures already found to hold. A pass lives minutes and is shown at several gates in that
//! time (a station's entrance, its platform, the train), so a checkpoint node that verified it
//! once need not spend a signature check on it again. An entry is the exact key (algorithm and
//! public key), message and signature bytes: a hit is the same computation, so its answer is the
//! same. Only signatures that held are kept: a forgery is checked every time and cannot push
//! genuine entries out. Revoking a key takes it out of the trust store before any check, so a kept
//! entry never outlives its key's trust.

use crate::keys::VerifyingKey;
use std::collections::HashSet;
use std::sync::Mutex;

/// Verified signatures, at most about twice `capacity` of them: when the young set fills it
/// becomes the old one and the old is dropped, so the signatures seen recently stay.
pub struct SignatureMemo {
    capacity: usize,
    sets: Mutex<Sets>,
}

#[derive(Default)]
struct Sets {
    young: HashSet<Box<[u8]>>,
    old: HashSet<Box<[u8]>>,
}

impl SignatureMemo {
    pub fn new(capacity: usize) -> SignatureMemo {
        SignatureMemo {
            capacity: capacity.max(1),
            sets: Mutex::new(Sets::default()),
        }
    }

    /// Whether `signature` over `message` holds for `key`: from the memo when it held before,
    /// else checked (and kept when it holds).
    pub fn verify(&self, key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
        let entry = entry(key, message, signature);
        {
            let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
            if sets.young.contains(&entry) {
                return true;
            }
            if let Some(seen) = sets.old.take(&entry) {
                self.keep(&mut sets, seen);
                return true;
            }
        }
        // Checked outside the lock: other gates' scans go on meanwhile.
        let holds = key.verify(message, signature);
        if holds {
            let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
            self.keep(&mut sets, entry);
        }
        holds
    }

    /// Signatures kept now.
    pub fn len(&self) -> usize {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.young.len() + sets.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn keep(&self, sets: &mut Sets, entry: Box<[u8]>) {
        if sets.young.len() >= self.capacity {
            sets.old = std::mem::take(&mut sets.young);
        }
        sets.young.insert(entry);
    }
}

/// The bytes that decide a check, each variable part preceded by its length so that no two
/// different checks share an entry.
fn entry(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> Box<[u8]> {
    let raw = key.raw();
    let mut out = Vec::with_capacity(1 + 12 + raw.len() + signature.len() + message.len());
    out.push(key.algorithm() as u8);
    for part in [raw, signature, message] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
    out.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, SigningKey};

    #[test]
    fn only_signatures_that_hold_are_kept() {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let memo = SignatureMemo::new(8);
        let signature = key.sign(b"pass").unwrap();
        assert!(memo.verify(key.verifying_key(), b"pass", &signature));
        assert_eq!(memo.len(), 1);
        // Seen again: still holds, still one entry.
        assert!(memo.verify(key.verifying_key(), b"pass", &signature));
        assert_eq!(memo.len(), 1);
        // The same signature under another key, over another message, or altered: refused,
        // and nothing kept.
        assert!(!memo.verify(other.verifying_key(), b"pass", &signature));
        assert!(!memo.verify(key.verifying_key(), b"pasS", &signature));
        let mut altered = signature.clone();
        altered[0] ^= 1;
        assert!(!memo.verify(key.verifying_key(), b"pass", &altered));
        assert_eq!(memo.len(), 1);
    }

    #[test]
    fn it_holds_at_most_two_generations() {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let memo = SignatureMemo::new(4);
        let messages: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 3]).collect();
        for m in &messages {
            let s = key.sign(m).unwrap();
            assert!(memo.verify(key.verifying_key(), m, &s));
            assert!(memo.len() <= 8);
        }
        assert!(memo.len() > 4);
    }
}
