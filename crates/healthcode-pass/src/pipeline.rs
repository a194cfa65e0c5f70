//! The issuing direction of the pipeline: claims → COSE_Sign1 → zlib → base45 → prefix.

use thiserror::Error;

use crate::compress::{self, CompressError};
use crate::cwt::{self, Claims, CwtError};
use crate::keys::{KeyError, SigningKey};
use crate::prefix::{self, CodeKind};
use crate::{base45, cose};

/// Why a code could not be issued.
#[derive(Debug, Error)]
pub enum SealError {
    #[error("claims: {0}")]
    Claims(#[from] CwtError),
    #[error("signature: {0}")]
    Sign(#[from] KeyError),
    #[error("compression: {0}")]
    Compress(#[from] CompressError),
}

/// Signs `claims` and encodes them as the text of a QR code of `kind`.
pub fn seal(
    kind: CodeKind,
    claims: &Claims,
    key: &SigningKey,
    level: u32,
) -> Result<String, SealError> {
    let payload = cwt::encode_claims(claims)?;
    let signed = cose::sign(payload, key)?;
    let compressed = compress::compress(&signed, level)?;
    Ok(prefix::add(kind, &base45::encode(&compressed)))
}

/// Random bytes from the operating system (serial numbers).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| KeyError::Generate)?;
    Ok(out)
}
