//! Trust: the keys a verifier accepts. A trust list is a signed document (COSE_Sign1 over JSON)
//! naming each region's signing keys with their validity, signed by a root key whose public half
//! verifiers are configured with.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::cert::{CertError, SignerCertificate};
use crate::cose::{self, SignatureCheck};
use crate::keys::{Algorithm, KeyError, Kid, SigningKey, VerifyingKey};

/// What a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    Pass,
    Venue,
}

/// A key the verifier accepts, with what it may sign and when.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub key: VerifyingKey,
    /// Issuing region (GB/T 2260) of our passes, or the country of an EU signer.
    pub region: Option<String>,
    /// Codes issued (iat) before this are not accepted, epoch seconds.
    pub valid_from: Option<i64>,
    /// Codes issued after this are not accepted: the key was retired or its validity ended.
    pub valid_until: Option<i64>,
    /// Empty means any usage.
    pub usages: Vec<Usage>,
    /// The signer certificate, for EU certificates (key usage, validity).
    pub certificate: Option<SignerCertificate>,
}

impl TrustedKey {
    /// A bare key, any usage, no time limits.
    pub fn new(key: VerifyingKey) -> TrustedKey {
        TrustedKey {
            key,
            region: None,
            valid_from: None,
            valid_until: None,
            usages: Vec::new(),
            certificate: None,
        }
    }

    /// A key from a signer certificate, valid within the certificate's validity.
    pub fn from_certificate(cert: SignerCertificate) -> TrustedKey {
        TrustedKey {
            key: cert.key.clone(),
            region: None,
            valid_from: Some(cert.not_before),
            valid_until: Some(cert.not_after),
            usages: Vec::new(),
            certificate: Some(cert),
        }
    }
}

/// The keys a verifier trusts, by kid, and the kids it knows and refuses with a reason of
/// their own (`revoked_key`, `trust_list_expired`) instead of "no key".
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: HashMap<Vec<u8>, Vec<TrustedKey>>,
    withheld: HashMap<Vec<u8>, &'static str>,
}

impl TrustStore {
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    pub fn add(&mut self, key: TrustedKey) {
        self.keys
            .entry(key.key.kid().0.clone())
            .or_default()
            .push(key);
    }

    /// Every key with this kid (kids are 8 bytes, so a collision is possible: try each).
    pub fn lookup(&self, kid: &[u8]) -> &[TrustedKey] {
        self.keys.get(kid).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    /// Every trusted key.
    pub fn keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.values().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds every key of another store, and what it withholds.
    pub fn extend(&mut self, other: TrustStore) {
        for key in other.keys.into_values().flatten() {
            self.add(key);
        }
        self.withheld.extend(other.withheld);
    }

    /// Refuses a kid with its own outcome (a machine-readable reason), unless a key with it is
    /// trusted.
    pub fn withhold(&mut self, kid: Vec<u8>, outcome: &'static str) {
        self.withheld.insert(kid, outcome);
    }

    /// Why a kid with no trusted key is refused, when this store knows it.
    pub fn withheld(&self, kid: &[u8]) -> Option<&'static str> {
        self.withheld.get(kid).copied()
    }

    /// The same keys, each withheld instead with `outcome`: what a verifier keeps of a list
    /// that expired, so that the passes it vouched for are refused with a clear reason.
    pub fn withhold_all(&self, outcome: &'static str) -> TrustStore {
        let mut out = TrustStore::default();
        for kid in self.keys.keys().chain(self.withheld.keys()) {
            out.withhold(kid.clone(), outcome);
        }
        out
    }
}

/// One key on a trust list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustListEntry {
    /// GB/T 2260 region code of the node that owns the key.
    pub region: String,
    /// Base64 of the kid; must match the key or certificate.
    pub kid: String,
    pub alg: Algorithm,
    /// Base64 SubjectPublicKeyInfo DER (or give `certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Base64 X.509 DER of a signer certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// What the key may sign; empty means passes and venue codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<Usage>,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
}

impl TrustListEntry {
    /// An entry for a bare public key.
    pub fn for_key(
        region: &str,
        key: &VerifyingKey,
        valid_from: OffsetDateTime,
        valid_until: OffsetDateTime,
    ) -> TrustListEntry {
        TrustListEntry {
            region: region.to_owned(),
            kid: key.kid().to_base64(),
            alg: key.algorithm(),
            public_key: Some(STANDARD.encode(key.spki_der())),
            certificate: None,
            usage: Vec::new(),
            valid_from,
            valid_until,
        }
    }

    fn to_trusted(&self) -> Result<TrustedKey, TrustListError> {
        let bad = |why: String| TrustListError::Entry {
            kid: self.kid.clone(),
            why,
        };
        let (key, certificate) = match (&self.public_key, &self.certificate) {
            (Some(spki), None) => {
                let der = STANDARD.decode(spki).map_err(|e| bad(e.to_string()))?;
                (
                    VerifyingKey::from_spki_der(&der).map_err(|e| bad(e.to_string()))?,
                    None,
                )
            }
            (None, Some(cert)) => {
                let der = STANDARD.decode(cert).map_err(|e| bad(e.to_string()))?;
                let cert = SignerCertificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
                (cert.key.clone(), Some(cert))
            }
            _ => return Err(bad("exactly one of public_key and certificate".into())),
        };
        if key.kid().to_base64() != self.kid {
            return Err(bad(format!("kid does not match the key ({})", key.kid())));
        }
        let key = if key.algorithm() == self.alg {
            key
        } else if matches!(key.algorithm(), Algorithm::PS256)
            && matches!(self.alg, Algorithm::PS384 | Algorithm::PS512)
        {
            key.with_algorithm(self.alg)
        } else {
            return Err(bad(format!(
                "{} key listed as {}",
                key.algorithm(),
                self.alg
            )));
        };
        Ok(TrustedKey {
            key,
            region: Some(self.region.clone()),
            valid_from: Some(self.valid_from.unix_timestamp()),
            valid_until: Some(self.valid_until.unix_timestamp()),
            usages: if self.usage.is_empty() {
                vec![Usage::Pass, Usage::Venue]
            } else {
                self.usage.clone()
            },
            certificate,
        })
    }
}

/// The body of a trust list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {
    /// Format version, 1.
    pub version: u32,
    /// Who publishes the list (the hub).
    pub issuer: String,
    /// Increases with each publication, so a verifier can refuse an older list.
    pub sequence: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    pub entries: Vec<TrustListEntry>,
    /// Keys revoked: passes they signed are refused as `revoked_key`, whenever signed.
    #[serde(default)]
    pub revoked: Vec<RevokedKey>,
    /// The regions' nodes, for node-to-node calls.
    #[serde(default)]
    pub regions: Vec<RegionNode>,
}

/// A key the hub revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedKey {
    pub region: String,
    /// Base64 of the kid.
    pub kid: String,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
}

/// A region's node in the hub's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionNode {
    /// GB/T 2260 code.
    pub region: String,
    pub name: String,
    /// Where the node answers other nodes (`https://…`).
    pub url: String,
    /// The node's own key (SPKI DER, base64), which signs its requests to other nodes and its
    /// proposals to the hub; never a pass.
    pub node_key: String,
}

/// Why a trust list was rejected.
#[derive(Debug, Error)]
pub enum TrustListError {
    #[error("not a COSE_Sign1 document: {0}")]
    Structure(#[from] cose::CoseError),
    #[error("signed by kid {found:?}, not the configured root {expected}")]
    WrongSigner {
        found: Option<String>,
        expected: Kid,
    },
    #[error("bad signature: {0:?}")]
    BadSignature(SignatureCheck),
    #[error("not a trust list: {0}")]
    Malformed(String),
    #[error("unsupported trust list version {0}")]
    Version(u32),
    #[error("issued in the future ({0})")]
    NotYetValid(String),
    #[error("expired at {0}")]
    Expired(String),
    #[error("entry {kid}: {why}")]
    Entry { kid: String, why: String },
    #[error("signing: {0}")]
    Sign(#[from] KeyError),
    #[error("certificate: {0}")]
    Cert(#[from] CertError),
}

impl TrustList {
    /// Signs the list with the root key: a tagged COSE_Sign1 whose payload is the JSON.
    pub fn sign(&self, root: &SigningKey) -> Result<Vec<u8>, TrustListError> {
        let json =
            serde_json::to_vec(self).map_err(|e| TrustListError::Malformed(e.to_string()))?;
        Ok(cose::sign(json, root)?)
    }

    /// Checks a signed list against the root key at `now` and returns it with its keys.
    pub fn verify(
        signed: &[u8],
        root: &VerifyingKey,
        now: OffsetDateTime,
    ) -> Result<(TrustList, TrustStore), TrustListError> {
        let (list, store) = TrustList::verify_signature(signed, root)?;
        list.check_time(now, time::Duration::ZERO)?;
        Ok((list, store))
    }

    /// Checks only that the root signed the list, and reads its keys: for a list held on disk,
    /// whose time the holder judges (an expired list still names the keys it no longer vouches
    /// for).
    pub fn verify_signature(
        signed: &[u8],
        root: &VerifyingKey,
    ) -> Result<(TrustList, TrustStore), TrustListError> {
        let sign1 = cose::parse(signed)?;
        if sign1.kid.as_deref() != Some(root.kid().0.as_slice()) {
            return Err(TrustListError::WrongSigner {
                found: sign1.kid.as_ref().map(|k| STANDARD.encode(k)),
                expected: root.kid().clone(),
            });
        }
        match cose::verify_with(&sign1, root, &[]) {
            SignatureCheck::Valid => {}
            other => return Err(TrustListError::BadSignature(other)),
        }
        let list: TrustList = serde_json::from_slice(sign1.payload())
            .map_err(|e| TrustListError::Malformed(e.to_string()))?;
        if list.version != 1 {
            return Err(TrustListError::Version(list.version));
        }
        let mut store = TrustStore::new();
        for entry in &list.entries {
            store.add(entry.to_trusted()?);
        }
        for revoked in &list.revoked {
            let kid = STANDARD
                .decode(&revoked.kid)
                .map_err(|e| TrustListError::Entry {
                    kid: revoked.kid.clone(),
                    why: e.to_string(),
                })?;
            store.withhold(kid, "revoked_key");
        }
        Ok((list, store))
    }

    /// Whether the list is in force at `now`, allowing the issuer's clock to run `skew` ahead.
    pub fn check_time(
        &self,
        now: OffsetDateTime,
        skew: time::Duration,
    ) -> Result<(), TrustListError> {
        if now + skew < self.issued_at {
            return Err(TrustListError::NotYetValid(self.issued_at.to_string()));
        }
        if now > self.valid_until {
            return Err(TrustListError::Expired(self.valid_until.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn signed_list_round_trip_and_rejections() {
        let now = datetime!(2020-04-03 12:00 UTC);
        let root = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let region = SigningKey::generate(Algorithm::ES256).unwrap();
        let list = TrustList {
            version: 1,
            issuer: "hub".into(),
            sequence: 7,
            issued_at: now,
            valid_until: now + Duration::days(7),
            entries: vec![TrustListEntry::for_key(
                "440300",
                region.verifying_key(),
                now - Duration::days(1),
                now + Duration::days(30),
            )],
            revoked: Vec::new(),
            regions: Vec::new(),
        };
        let signed = list.sign(&root).unwrap();
        let (back, store) = TrustList::verify(&signed, root.verifying_key(), now).unwrap();
        assert_eq!(back, list);
        assert_eq!(store.lookup(&region.kid().0).len(), 1);
        assert!(matches!(
            TrustList::verify(&signed, root.verifying_key(), now + Duration::days(8)),
            Err(TrustListError::Expired(_))
        ));
        let other_root = SigningKey::generate(Algorithm::EdDSA).unwrap();
        assert!(matches!(
            TrustList::verify(&signed, other_root.verifying_key(), now),
            Err(TrustListError::WrongSigner { .. })
        ));
        // Flip one byte of the JSON payload: the signature no longer holds.
        let mut forged = signed.clone();
        let at = forged.windows(4).position(|w| w == b"4403").unwrap();
        forged[at] = b'5';
        assert!(matches!(
            TrustList::verify(&forged, root.verifying_key(), now),
            Err(TrustListError::BadSignature(SignatureCheck::Invalid))
        ));
    }
}
