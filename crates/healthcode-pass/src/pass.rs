//! Our pass: the least a checkpoint needs (docs/PASS-FORMAT.md). Issuer, issue and expiry times,
//! a random serial, and one private claim with the colour, when it was computed, the policy
//! version, a pseudonymous subject, a masked name and the document kind with its last four
//! characters. Nothing else personal.

use ciborium::Value;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::cwt::Claims;
use crate::keys::SigningKey;
use crate::pipeline::{self, SealError};
use crate::prefix::CodeKind;
use healthcode_core::region::RegionCode;

/// The private claim that carries the pass (a private-use label, RFC 8392 §9.1).
pub const PASS_CLAIM: i64 = -65537;
/// Default validity: short, so that a screenshot goes stale.
pub const DEFAULT_VALIDITY: Duration = Duration::minutes(3);
/// Longest validity a verifier accepts for a pass.
pub const MAX_VALIDITY: Duration = Duration::hours(24);

const K_COLOUR: i64 = 1;
const K_COLOUR_AT: i64 = 2;
const K_POLICY: i64 = 3;
const K_SUBJECT: i64 = 4;
const K_NAME: i64 = 5;
const K_DOC_KIND: i64 = 6;
const K_DOC_TAIL: i64 = 7;

/// The colour a pass shows; `pending` is an enrollment under review, not a green code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Green,
    Yellow,
    Red,
    Pending,
}

impl Colour {
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
            Colour::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<Colour> {
        Some(match s {
            "green" => Colour::Green,
            "yellow" => Colour::Yellow,
            "red" => Colour::Red,
            "pending" => Colour::Pending,
            _ => return None,
        })
    }
}

/// The kind of identity document, as the pass names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    ResidentId,
    HkMacaoPermit,
    TaiwanPermit,
    Passport,
    Other,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ResidentId => "resident_id",
            DocumentKind::HkMacaoPermit => "hk_macao_permit",
            DocumentKind::TaiwanPermit => "taiwan_permit",
            DocumentKind::Passport => "passport",
            DocumentKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentKind> {
        Some(match s {
            "resident_id" => DocumentKind::ResidentId,
            "hk_macao_permit" => DocumentKind::HkMacaoPermit,
            "taiwan_permit" => DocumentKind::TaiwanPermit,
            "passport" => DocumentKind::Passport,
            "other" => DocumentKind::Other,
            _ => return None,
        })
    }
}

/// Masks a name for display (张小三 → 张*三): the domain's one masking rule.
pub use healthcode_core::identity::mask_name;

/// The last four characters of a document number.
pub fn document_tail(number: &str) -> String {
    let chars: Vec<char> = number.trim().chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Derives the pseudonymous subject: HMAC-SHA256 under the node's secret, first 16 bytes. Only
/// the node holding the secret can link it back to a person.
pub fn pseudonym(node_secret: &[u8], person_id: &str) -> [u8; 16] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, node_secret);
    let tag = ring::hmac::sign(&key, person_id.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag.as_ref()[..16]);
    out
}

/// The content of a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    /// Issuing region (iss).
    pub region: RegionCode,
    /// iat, epoch seconds.
    pub issued_at: i64,
    /// exp, epoch seconds.
    pub expires_at: i64,
    /// cti: a random serial, hex in JSON.
    #[serde(with = "hex_bytes")]
    pub serial: Vec<u8>,
    pub colour: Colour,
    /// When the colour was computed, epoch seconds.
    pub colour_at: i64,
    pub policy_version: String,
    /// Pseudonymous subject, hex in JSON.
    #[serde(with = "hex_bytes")]
    pub subject: Vec<u8>,
    pub masked_name: String,
    pub document_kind: DocumentKind,
    pub document_tail: String,
}

/// Why claims are not a valid pass (the verifier's schema stage).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PassSchemaError {
    #[error("missing claim {0}")]
    Missing(&'static str),
    #[error("invalid claim {0}")]
    Invalid(&'static str),
    #[error("unexpected claim {0}: a pass carries nothing else")]
    Unexpected(String),
}

impl Pass {
    /// A pass for `now`, valid for `validity`, with a fresh random serial.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        region: RegionCode,
        now: OffsetDateTime,
        validity: Duration,
        colour: Colour,
        colour_at: OffsetDateTime,
        policy_version: &str,
        subject: [u8; 16],
        masked_name: String,
        document_kind: DocumentKind,
        document_tail: String,
    ) -> Result<Pass, crate::keys::KeyError> {
        let issued_at = now.unix_timestamp();
        Ok(Pass {
            region,
            issued_at,
            expires_at: issued_at + validity.whole_seconds(),
            serial: pipeline::random_bytes::<16>()?.to_vec(),
            colour,
            colour_at: colour_at.unix_timestamp(),
            policy_version: policy_version.to_owned(),
            subject: subject.to_vec(),
            masked_name,
            document_kind,
            document_tail,
        })
    }

    /// The CWT claims of this pass.
    pub fn to_claims(&self) -> Claims {
        let text = |s: &str| Value::Text(s.to_owned());
        let int = |k: i64| Value::Integer(k.into());
        let body = Value::Map(vec![
            (int(K_COLOUR), text(self.colour.as_str())),
            (int(K_COLOUR_AT), int(self.colour_at)),
            (int(K_POLICY), text(&self.policy_version)),
            (int(K_SUBJECT), Value::Bytes(self.subject.clone())),
            (int(K_NAME), text(&self.masked_name)),
            (int(K_DOC_KIND), text(self.document_kind.as_str())),
            (int(K_DOC_TAIL), text(&self.document_tail)),
        ]);
        Claims {
            iss: Some(self.region.to_string()),
            iat: Some(self.issued_at),
            exp: Some(self.expires_at),
            cti: Some(self.serial.clone()),
            other: vec![(PASS_CLAIM, body)],
            ..Claims::default()
        }
    }

    /// Reads and checks a pass from claims: every field present and well formed, nothing extra.
    pub fn from_claims(claims: &Claims) -> Result<Pass, PassSchemaError> {
        use PassSchemaError::*;
        if claims.sub.is_some() || claims.aud.is_some() || claims.nbf.is_some() {
            return Err(Unexpected("sub/aud/nbf".into()));
        }
        if let Some((k, _)) = claims.other.iter().find(|(k, _)| *k != PASS_CLAIM) {
            return Err(Unexpected(k.to_string()));
        }
        let region = RegionCode::parse(claims.iss.as_deref().ok_or(Missing("iss"))?)
            .map_err(|_| Invalid("iss"))?;
        let issued_at = claims.iat.ok_or(Missing("iat"))?;
        let expires_at = claims.exp.ok_or(Missing("exp"))?;
        if expires_at <= issued_at || expires_at - issued_at > MAX_VALIDITY.whole_seconds() {
            return Err(Invalid("exp"));
        }
        let serial = claims.cti.clone().ok_or(Missing("cti"))?;
        if !(8..=32).contains(&serial.len()) {
            return Err(Invalid("cti"));
        }
        let Some(Value::Map(body)) = claims.get(PASS_CLAIM) else {
            return Err(Missing("pass"));
        };
        let mut fields: [Option<&Value>; 8] = [None; 8];
        for (k, v) in body {
            let index = match k {
                Value::Integer(i) => usize::try_from(i128::from(*i)).ok(),
                _ => None,
            }
            .filter(|i| (1..=7).contains(i))
            .ok_or_else(|| Unexpected(format!("pass.{k:?}")))?;
            if fields[index].replace(v).is_some() {
                return Err(Invalid("pass: duplicate key"));
            }
        }
        let text = |i: usize, name: &'static str, max: usize| -> Result<String, PassSchemaError> {
            match fields[i] {
                Some(Value::Text(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s.clone()),
                Some(_) => Err(Invalid(name)),
                None => Err(Missing(name)),
            }
        };
        let colour = Colour::parse(&text(1, "colour", 8)?).ok_or(Invalid("colour"))?;
        let colour_at = match fields[2] {
            Some(Value::Integer(i)) => {
                i64::try_from(i128::from(*i)).map_err(|_| Invalid("colour_at"))?
            }
            Some(_) => return Err(Invalid("colour_at")),
            None => return Err(Missing("colour_at")),
        };
        let policy_version = text(3, "policy_version", 64)?;
        let subject = match fields[4] {
            Some(Value::Bytes(b)) if (16..=32).contains(&b.len()) => b.clone(),
            Some(_) => return Err(Invalid("subject")),
            None => return Err(Missing("subject")),
        };
        let masked_name = text(5, "masked_name", 32)?;
        if !masked_name.contains('*') {
            return Err(Invalid("masked_name"));
        }
        let document_kind =
            DocumentKind::parse(&text(6, "document_kind", 16)?).ok_or(Invalid("document_kind"))?;
        // A child enrolled by a guardian without a document (`other`) has no tail to show.
        let document_tail = match (document_kind, fields[7]) {
            (DocumentKind::Other, Some(Value::Text(s))) if s.is_empty() => String::new(),
            _ => text(7, "document_tail", 4)?,
        };
        if !document_tail.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Invalid("document_tail"));
        }
        Ok(Pass {
            region,
            issued_at,
            expires_at,
            serial,
            colour,
            colour_at,
            policy_version,
            subject,
            masked_name,
            document_kind,
            document_tail,
        })
    }

    /// Signs and encodes the pass as QR text (`HCP1:...`), compressing at `level`.
    pub fn seal(&self, key: &SigningKey, level: u32) -> Result<String, SealError> {
        pipeline::seal(CodeKind::Pass, &self.to_claims(), key, level)
    }
}

pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(|_| serde::de::Error::custom("invalid hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_names_and_documents() {
        assert_eq!(mask_name("张小三"), "张*三");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧*娜");
        assert_eq!(mask_name("李"), "*");
        assert_eq!(document_tail("44030019900101123X"), "123X");
        assert_eq!(document_tail("12"), "12");
        assert_eq!(pseudonym(b"secret", "p1"), pseudonym(b"secret", "p1"));
        assert_ne!(pseudonym(b"secret", "p1"), pseudonym(b"other", "p1"));
    }

    #[test]
    fn a_child_without_a_document_has_a_valid_pass_and_nobody_else_an_empty_tail() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let pass = |kind: DocumentKind, tail: &str| {
            let region = RegionCode::parse("110000").unwrap_or_else(|e| panic!("{e:?}"));
            let p = Pass::new(
                region,
                now,
                Duration::minutes(5),
                Colour::Green,
                now,
                "2026.1",
                [7; 16],
                "孙*七".into(),
                kind,
                tail.into(),
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
            Pass::from_claims(&p.to_claims())
        };
        assert!(
            pass(DocumentKind::Other, "").is_ok(),
            "a child enrolled by a guardian"
        );
        assert!(pass(DocumentKind::ResidentId, "").is_err());
        assert!(pass(DocumentKind::ResidentId, "002X").is_ok());
    }
}
