//! Signing and verifying keys: Ed25519 (our default), ES256 (interoperable signing), and
//! verification of ES256/ES384/PS256/PS384/PS512/EdDSA. Private keys are PKCS#8 PEM files
//! readable by their owner only.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use coset::iana;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// A signature algorithm, named as in the COSE registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    EdDSA,
    ES256,
    ES384,
    PS256,
    PS384,
    PS512,
}

impl Algorithm {
    /// The COSE algorithm identifier.
    pub fn cose(self) -> iana::Algorithm {
        match self {
            Algorithm::EdDSA => iana::Algorithm::EdDSA,
            Algorithm::ES256 => iana::Algorithm::ES256,
            Algorithm::ES384 => iana::Algorithm::ES384,
            Algorithm::PS256 => iana::Algorithm::PS256,
            Algorithm::PS384 => iana::Algorithm::PS384,
            Algorithm::PS512 => iana::Algorithm::PS512,
        }
    }

    /// The algorithm for a COSE identifier, if we implement it.
    pub fn from_cose(alg: &coset::Algorithm) -> Option<Algorithm> {
        let coset::RegisteredLabelWithPrivate::Assigned(a) = alg else {
            return None;
        };
        Some(match a {
            iana::Algorithm::EdDSA => Algorithm::EdDSA,
            iana::Algorithm::ES256 => Algorithm::ES256,
            iana::Algorithm::ES384 => Algorithm::ES384,
            iana::Algorithm::PS256 => Algorithm::PS256,
            iana::Algorithm::PS384 => Algorithm::PS384,
            iana::Algorithm::PS512 => Algorithm::PS512,
            _ => return None,
        })
    }

    /// Parses a name as used in files and on the command line (`EdDSA`, `ed25519`, `ES256`, ...).
    pub fn parse(name: &str) -> Option<Algorithm> {
        Some(match name.to_ascii_uppercase().as_str() {
            "EDDSA" | "ED25519" => Algorithm::EdDSA,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            _ => return None,
        })
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Algorithm::EdDSA => &signature::ED25519,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A key identifier: 8 bytes of SHA-256, as the EU certificate derives it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Kid(pub Vec<u8>);

impl Kid {
    /// First 8 bytes of SHA-256 over DER (a certificate, or a bare key's SubjectPublicKeyInfo).
    pub fn from_der(der: &[u8]) -> Kid {
        Kid(Sha256::digest(der)[..8].to_vec())
    }

    /// Base64, as the EU trust lists print kids.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({})", self.to_base64())
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// Errors of key handling.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("{0} cannot sign here (only EdDSA and ES256)")]
    CannotSign(Algorithm),
    #[error("key generation failed")]
    Generate,
    #[error("not a valid PKCS#8 key for {0}")]
    BadPkcs8(Algorithm),
    #[error("no PEM block {0:?} found")]
    NoPem(&'static str),
    #[error("bad base64 in PEM or key: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not a supported public key: {0}")]
    BadPublicKey(String),
    #[error("signing failed")]
    Sign,
    #[error("key file {path} is readable by others (mode {mode:o}); it must be 0600")]
    Permissions { path: String, mode: u32 },
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

enum Pair {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
}

/// A private key that signs passes, venue codes or trust lists.
pub struct SigningKey {
    alg: Algorithm,
    pair: Pair,
    pkcs8: Vec<u8>,
    public: VerifyingKey,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    // Never print private material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

// SubjectPublicKeyInfo prefixes of the two key types we generate (RFC 8410, RFC 5480).
const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl SigningKey {
    /// Generates a fresh key.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng),
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            other => return Err(KeyError::CannotSign(other)),
        }
        .map_err(|_| KeyError::Generate)?;
        SigningKey::from_pkcs8(alg, pkcs8.as_ref())
    }

    /// Loads a key from PKCS#8 DER.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let (pair, spki) = match alg {
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|_| KeyError::BadPkcs8(alg))?;
                let spki = [ED25519_SPKI_PREFIX, pair.public_key().as_ref()].concat();
                (Pair::Ed25519(pair), spki)
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(|_| KeyError::BadPkcs8(alg))?;
                let spki = [P256_SPKI_PREFIX, pair.public_key().as_ref()].concat();
                (Pair::Es256(pair), spki)
            }
            other => return Err(KeyError::CannotSign(other)),
        };
        let public = VerifyingKey::from_spki_der(&spki)?;
        Ok(SigningKey {
            alg,
            pair,
            pkcs8: der.to_vec(),
            public,
            rng,
        })
    }

    /// Loads a key from a PKCS#8 PEM text, finding the algorithm from the key itself.
    pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let der = pem_decode(pem, "PRIVATE KEY")?;
        SigningKey::from_pkcs8(Algorithm::EdDSA, &der)
            .or_else(|_| SigningKey::from_pkcs8(Algorithm::ES256, &der))
    }

    /// The PKCS#8 PEM text of this key.
    pub fn to_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Its key id.
    pub fn kid(&self) -> &Kid {
        &self.public.kid
    }

    /// Its public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// Signs a message (the COSE Sig_structure); ES256 gives r‖s as COSE requires.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Pair::Es256(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
        }
    }

    /// Writes the key as PKCS#8 PEM with mode 0600, refusing to overwrite an existing file.
    pub fn write_pem_file(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(self.to_pem().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a PKCS#8 PEM key file, refusing one that others can read.
    pub fn read_pem_file(path: &Path) -> Result<SigningKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.display().to_string(),
                    mode,
                });
            }
        }
        let text = fs::read_to_string(path).map_err(io)?;
        SigningKey::from_pem(&text)
    }
}

/// A public key that verifies signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    alg: Algorithm,
    /// The key in the form ring takes: raw point, raw Ed25519 key or PKCS#1 RSAPublicKey.
    raw: Vec<u8>,
    spki: Vec<u8>,
    kid: Kid,
    /// An Ed25519 key decoded once: verification is the hot path of every checkpoint scan.
    ed25519: Option<ed25519_dalek::VerifyingKey>,
}

fn decode_ed25519(raw: &[u8]) -> Option<ed25519_dalek::VerifyingKey> {
    ed25519_dalek::VerifyingKey::from_bytes(raw.try_into().ok()?).ok()
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish()
    }
}

const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_ED25519: &str = "1.3.101.112";

impl VerifyingKey {
    /// Reads a SubjectPublicKeyInfo (DER); the kid is derived from it. RSA keys verify as PS256.
    pub fn from_spki_der(der: &[u8]) -> Result<VerifyingKey, KeyError> {
        use x509_parser::prelude::FromDer;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
        let alg = spki_algorithm(&spki)?;
        let raw = spki.subject_public_key.data.to_vec();
        Ok(VerifyingKey {
            alg,
            ed25519: (alg == Algorithm::EdDSA)
                .then(|| decode_ed25519(&raw))
                .flatten(),
            raw,
            spki: der.to_vec(),
            kid: Kid::from_der(der),
        })
    }

    /// Reads a SubjectPublicKeyInfo in PEM (`PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_spki_der(&pem_decode(pem, "PUBLIC KEY")?)
    }

    /// A key from raw parts, for COSE test vectors and JWKs. `raw` is as ring takes it.
    pub fn from_raw(alg: Algorithm, raw: Vec<u8>, kid: Kid) -> VerifyingKey {
        VerifyingKey {
            alg,
            ed25519: (alg == Algorithm::EdDSA)
                .then(|| decode_ed25519(&raw))
                .flatten(),
            raw,
            spki: Vec::new(),
            kid,
        }
    }

    /// Replaces the kid (a certificate's kid is derived from the certificate, not the key).
    pub fn with_kid(mut self, kid: Kid) -> VerifyingKey {
        self.kid = kid;
        self
    }

    /// The same key used with another algorithm of its family (PS384 for an RSA key, ...).
    pub fn with_algorithm(mut self, alg: Algorithm) -> VerifyingKey {
        self.alg = alg;
        self.ed25519 = (alg == Algorithm::EdDSA)
            .then(|| decode_ed25519(&self.raw))
            .flatten();
        self
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The key as the verification takes it (raw point, raw Ed25519 key or PKCS#1).
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// SubjectPublicKeyInfo DER (empty for keys made from raw parts).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// PEM of the SubjectPublicKeyInfo.
    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki)
    }

    /// Checks a signature made with this key's algorithm.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        if self.alg == Algorithm::EdDSA {
            // Strict: canonical encodings only and no weak keys, as ring's check (RFC 8032).
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return false;
            };
            return self
                .ed25519
                .is_some_and(|key| key.verify_strict(message, &sig).is_ok());
        }
        UnparsedPublicKey::new(self.alg.verification(), &self.raw)
            .verify(message, sig)
            .is_ok()
    }
}

fn spki_algorithm(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<Algorithm, KeyError> {
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        OID_ED25519 => Ok(Algorithm::EdDSA),
        OID_RSA | OID_RSA_PSS => Ok(Algorithm::PS256),
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                OID_P256 => Ok(Algorithm::ES256),
                OID_P384 => Ok(Algorithm::ES384),
                other => Err(KeyError::BadPublicKey(format!("EC curve {other}"))),
            }
        }
        other => Err(KeyError::BadPublicKey(format!("key algorithm {other}"))),
    }
}

/// PEM-encodes DER under a label.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Decodes the first PEM block with `label`, whatever the line length. By hand: pem-rfc7468
/// takes only 64-column lines, and certificates are pasted as one long line.
pub fn pem_decode(pem: &str, label: &'static str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or(KeyError::NoPem(label))? + begin.len();
    let stop = pem[start..].find(&end).ok_or(KeyError::NoPem(label))? + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Ok(STANDARD.decode(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_sign_verify_and_pem_round_trip() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256] {
            let key = SigningKey::generate(alg).unwrap();
            let sig = key.sign(b"message").unwrap();
            assert!(key.verifying_key().verify(b"message", &sig));
            assert!(!key.verifying_key().verify(b"messagf", &sig));
            let again = SigningKey::from_pem(&key.to_pem()).unwrap();
            assert_eq!(again.algorithm(), alg);
            assert_eq!(again.kid(), key.kid());
            let public = VerifyingKey::from_pem(&key.verifying_key().to_pem()).unwrap();
            assert_eq!(public.algorithm(), alg);
            assert_eq!(public.kid(), key.kid());
            assert_eq!(public.kid().0.len(), 8);
            assert!(public.verify(b"message", &sig));
        }
        assert!(matches!(
            SigningKey::generate(Algorithm::PS256),
            Err(KeyError::CannotSign(_))
        ));
    }

    #[test]
    fn key_files_are_private() {
        let dir = std::env::temp_dir().join(format!("hc-pass-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.pem");
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        key.write_pem_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert_eq!(SigningKey::read_pem_file(&path).unwrap().kid(), key.kid());
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SigningKey::read_pem_file(&path),
                Err(KeyError::Permissions { .. })
            ));
        }
        assert!(key.write_pem_file(&path).is_err(), "never overwrites a key");
        fs::remove_dir_all(&dir).unwrap();
    }
}
