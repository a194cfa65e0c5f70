//! Signer certificates (X.509): the public key, validity and extended key usage that the EU
//! certificate verification needs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use crate::keys::{KeyError, Kid, VerifyingKey, pem_decode};

/// Why a certificate could not be used.
#[derive(Debug, Error)]
pub enum CertError {
    #[error("not a certificate (DER, base64 DER or PEM): {0}")]
    Parse(String),
    #[error("certificate public key: {0}")]
    Key(#[from] KeyError),
}

/// What the verifier needs from a signer certificate.
#[derive(Debug, Clone)]
pub struct SignerCertificate {
    pub der: Vec<u8>,
    pub key: VerifyingKey,
    pub not_before: i64,
    pub not_after: i64,
    /// Dotted OIDs of the extended key usage extension (empty when absent).
    pub extended_key_usage: Vec<String>,
    /// Whether that extension is marked critical.
    pub extended_key_usage_critical: bool,
    pub subject: String,
}

impl SignerCertificate {
    /// Reads a certificate from DER, base64 of DER, or PEM.
    pub fn load(input: &[u8]) -> Result<SignerCertificate, CertError> {
        let der = if input.first() == Some(&0x30) {
            input.to_vec()
        } else {
            let text = std::str::from_utf8(input).map_err(|e| CertError::Parse(e.to_string()))?;
            if text.contains("-----BEGIN CERTIFICATE-----") {
                pem_decode(text, "CERTIFICATE")?
            } else {
                let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                STANDARD
                    .decode(compact)
                    .map_err(|e| CertError::Parse(e.to_string()))?
            }
        };
        SignerCertificate::from_der(&der)
    }

    /// Reads a DER certificate. The kid is the first 8 bytes of SHA-256 over this DER.
    pub fn from_der(der: &[u8]) -> Result<SignerCertificate, CertError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CertError::Parse(e.to_string()))?;
        let key = VerifyingKey::from_spki_der(cert.public_key().raw)?.with_kid(Kid::from_der(der));
        let mut eku = Vec::new();
        let mut eku_critical = false;
        if let Ok(Some(ext)) = cert.extended_key_usage() {
            eku_critical = ext.critical;
            let usage = ext.value;
            let named = [
                (usage.any, "2.5.29.37.0"),
                (usage.server_auth, "1.3.6.1.5.5.7.3.1"),
                (usage.client_auth, "1.3.6.1.5.5.7.3.2"),
                (usage.code_signing, "1.3.6.1.5.5.7.3.3"),
                (usage.email_protection, "1.3.6.1.5.5.7.3.4"),
                (usage.time_stamping, "1.3.6.1.5.5.7.3.8"),
                (usage.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
            ];
            eku.extend(
                named
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, o)| (*o).to_owned()),
            );
            eku.extend(usage.other.iter().map(|o| o.to_id_string()));
        }
        Ok(SignerCertificate {
            der: der.to_vec(),
            key,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            extended_key_usage: eku,
            extended_key_usage_critical: eku_critical,
            subject: cert.subject().to_string(),
        })
    }

    pub fn kid(&self) -> &Kid {
        self.key.kid()
    }
}
