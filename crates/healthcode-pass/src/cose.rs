//! COSE_Sign1 (RFC 9052) with the header rules of hcert 1.0.8 §3: the signature covers the
//! protected header bytes exactly as received; `alg`/`kid` come from the protected header and
//! only when it lacks them from the unprotected one.

use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use thiserror::Error;

use crate::keys::{Algorithm, KeyError, Kid, SigningKey, VerifyingKey};
use crate::memo::SignatureMemo;

/// CBOR tag of COSE_Sign1.
const TAG_SIGN1: u8 = 0xd2;
/// Tag 61 (CWT) as it appears before a tagged COSE message (0xd8 0x3d).
const TAG_CWT: [u8; 2] = [0xd8, 0x3d];
/// First byte of an untagged four-element array.
const ARRAY4: u8 = 0x84;

/// Why the COSE structure stage failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoseError {
    #[error("empty message")]
    Empty,
    #[error("not a COSE_Sign1 message (leading byte {0:#04x}: another CBOR tag or type)")]
    NotSign1(u8),
    #[error("malformed COSE_Sign1: {0}")]
    Malformed(String),
    #[error("detached payload")]
    DetachedPayload,
}

/// A parsed COSE_Sign1 with its signer hints resolved.
#[derive(Debug, Clone)]
pub struct Sign1 {
    pub message: CoseSign1,
    /// The algorithm, or None when neither header names one.
    pub alg: Option<coset::Algorithm>,
    /// The key id, protected first.
    pub kid: Option<Vec<u8>>,
    /// Whether `alg` came from the unprotected header (allowed, but worth reporting).
    pub alg_unprotected: bool,
    /// Whether `kid` came from the unprotected header.
    pub kid_unprotected: bool,
}

impl Sign1 {
    /// The payload bytes (a CWT claims set for passes and certificates).
    pub fn payload(&self) -> &[u8] {
        self.message.payload.as_deref().unwrap_or_default()
    }
}

/// Parses a COSE_Sign1, tagged (18, optionally inside CWT tag 61) or untagged.
pub fn parse(bytes: &[u8]) -> Result<Sign1, CoseError> {
    let first = *bytes.first().ok_or(CoseError::Empty)?;
    let message = if bytes.starts_with(&TAG_CWT) && bytes.get(2) == Some(&TAG_SIGN1) {
        CoseSign1::from_tagged_slice(&bytes[2..])
    } else if first == TAG_SIGN1 {
        CoseSign1::from_tagged_slice(bytes)
    } else if first == ARRAY4 {
        CoseSign1::from_slice(bytes)
    } else {
        return Err(CoseError::NotSign1(first));
    }
    .map_err(|e| CoseError::Malformed(e.to_string()))?;
    if message.payload.is_none() {
        return Err(CoseError::DetachedPayload);
    }
    let protected = &message.protected.header;
    let unprotected = &message.unprotected;
    let (alg, alg_unprotected) = match (&protected.alg, &unprotected.alg) {
        (Some(a), _) => (Some(a.clone()), false),
        (None, Some(a)) => (Some(a.clone()), true),
        (None, None) => (None, false),
    };
    // A protected kid is authoritative: never fall back to the unprotected one (hcert §3.3.1).
    let (kid, kid_unprotected) = if !protected.key_id.is_empty() {
        (Some(protected.key_id.clone()), false)
    } else if !unprotected.key_id.is_empty() {
        (Some(unprotected.key_id.clone()), true)
    } else {
        (None, false)
    };
    Ok(Sign1 {
        message,
        alg,
        kid,
        alg_unprotected,
        kid_unprotected,
    })
}

/// The outcome of checking a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    Valid,
    Invalid,
    /// No algorithm in either header.
    NoAlgorithm,
    /// An algorithm we do not implement (or not a signature algorithm).
    UnsupportedAlgorithm(String),
    /// The header names a different algorithm than the key is for.
    AlgorithmMismatch {
        header: Algorithm,
        key: Algorithm,
    },
}

/// Checks the signature of `sign1` with `key`, over the Sig_structure built from the protected
/// header bytes as received and `external_aad`.
pub fn verify_with(sign1: &Sign1, key: &VerifyingKey, external_aad: &[u8]) -> SignatureCheck {
    verify_kept(sign1, key, external_aad, None)
}

/// As [`verify_with`], with signatures that held before taken from `memo` when there is one.
pub fn verify_kept(
    sign1: &Sign1,
    key: &VerifyingKey,
    external_aad: &[u8],
    memo: Option<&SignatureMemo>,
) -> SignatureCheck {
    let holds = |key: &VerifyingKey, message: &[u8], signature: &[u8]| match memo {
        Some(memo) => memo.verify(key, message, signature),
        None => key.verify(message, signature),
    };
    let Some(alg) = &sign1.alg else {
        return SignatureCheck::NoAlgorithm;
    };
    let Some(header_alg) = Algorithm::from_cose(alg) else {
        return SignatureCheck::UnsupportedAlgorithm(format!("{alg:?}"));
    };
    let key = if header_alg == key.algorithm() {
        key.clone()
    } else if same_family(header_alg, key.algorithm()) {
        // An RSA certificate does not fix PS256 against PS384/PS512: the header chooses.
        key.clone().with_algorithm(header_alg)
    } else {
        return SignatureCheck::AlgorithmMismatch {
            header: header_alg,
            key: key.algorithm(),
        };
    };
    let tbs = sig_structure(sign1, external_aad, false);
    if holds(&key, &tbs, &sign1.message.signature) {
        return SignatureCheck::Valid;
    }
    // An empty protected map may arrive as A0 though it was signed as the zero-length string
    // RFC 9052 §3 prescribes (cose-wg sign-pass-01). Both carry nothing, so nothing can have
    // been altered; any non-empty header is only ever checked as received.
    let empty_as_map = sign1.message.protected.original_data.as_deref() == Some(&[0xa0][..]);
    if empty_as_map
        && holds(
            &key,
            &sig_structure(sign1, external_aad, true),
            &sign1.message.signature,
        )
    {
        SignatureCheck::Valid
    } else {
        SignatureCheck::Invalid
    }
}

/// The Sig_structure of RFC 9052 §4.4 over the protected header bytes exactly as received
/// (or, with `canonical_empty`, over the zero-length string that stands for an empty map).
pub fn sig_structure(sign1: &Sign1, external_aad: &[u8], canonical_empty: bool) -> Vec<u8> {
    let protected = match &sign1.message.protected.original_data {
        _ if canonical_empty => Vec::new(),
        Some(bytes) => bytes.clone(),
        None if sign1.message.protected.header.is_empty() => Vec::new(),
        None => sign1.message.protected.clone().to_vec().unwrap_or_default(),
    };
    let payload = sign1.payload();
    let mut out = Vec::with_capacity(protected.len() + external_aad.len() + payload.len() + 24);
    out.extend_from_slice(&[0x84, 0x6a]);
    out.extend_from_slice(b"Signature1");
    for field in [protected.as_slice(), external_aad, payload] {
        push_bstr_header(&mut out, field.len());
        out.extend_from_slice(field);
    }
    out
}

fn push_bstr_header(out: &mut Vec<u8>, len: usize) {
    // Major type 2 with the shortest length encoding.
    match len {
        0..=23 => out.push(0x40 | len as u8),
        24..=0xff => out.extend_from_slice(&[0x58, len as u8]),
        0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x5a);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

fn same_family(a: Algorithm, b: Algorithm) -> bool {
    use Algorithm::*;
    matches!((a, b), (PS256 | PS384 | PS512, PS256 | PS384 | PS512))
}

/// Signs `payload` into a tagged COSE_Sign1 with `alg` and `kid` in the protected header.
pub fn sign(payload: Vec<u8>, key: &SigningKey) -> Result<Vec<u8>, KeyError> {
    let protected = HeaderBuilder::new()
        .algorithm(key.algorithm().cose())
        .key_id(key.kid().0.clone())
        .build();
    let message = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .try_create_signature(&[], |tbs| key.sign(tbs))?
        .build();
    message.to_tagged_vec().map_err(|_| KeyError::Sign)
}

/// The kid of a parsed message as a [`Kid`].
pub fn kid_of(sign1: &Sign1) -> Option<Kid> {
    sign1.kid.clone().map(Kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify() {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let bytes = sign(b"payload".to_vec(), &key).unwrap();
        assert_eq!(bytes[0], TAG_SIGN1);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.payload(), b"payload");
        assert_eq!(kid_of(&parsed).as_ref(), Some(key.kid()));
        assert_eq!(
            verify_with(&parsed, key.verifying_key(), &[]),
            SignatureCheck::Valid
        );
        assert_eq!(
            verify_with(&parsed, key.verifying_key(), b"aad"),
            SignatureCheck::Invalid
        );
        let other = SigningKey::generate(Algorithm::ES256).unwrap();
        assert!(matches!(
            verify_with(&parsed, other.verifying_key(), &[]),
            SignatureCheck::AlgorithmMismatch { .. }
        ));
        assert_eq!(parse(&[]).unwrap_err(), CoseError::Empty);
        assert!(matches!(parse(&[0xa0]), Err(CoseError::NotSign1(0xa0))));
        assert!(matches!(
            parse(&bytes[..bytes.len() - 1]),
            Err(CoseError::Malformed(_))
        ));
    }
}
