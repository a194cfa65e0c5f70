//! Venue codes (场所码): a long-lived signed code printed at a venue's door, through the same
//! pipeline as the pass with its own prefix.

use ciborium::Value;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::cwt::Claims;
use crate::keys::SigningKey;
use crate::pipeline::{self, SealError};
use crate::prefix::CodeKind;
use healthcode_core::region::RegionCode;

/// The private claim that carries the venue.
pub const VENUE_CLAIM: i64 = -65538;
/// Default validity of a printed venue code.
pub const DEFAULT_VALIDITY: Duration = Duration::days(365);

/// A venue code's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueCode {
    pub venue_id: String,
    pub name: String,
    pub region: RegionCode,
    pub category: String,
    pub issued_at: i64,
    pub expires_at: i64,
    #[serde(with = "crate::pass::hex_bytes")]
    pub serial: Vec<u8>,
}

/// Why claims are not a valid venue code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VenueSchemaError {
    #[error("missing claim {0}")]
    Missing(&'static str),
    #[error("invalid claim {0}")]
    Invalid(&'static str),
    #[error("unexpected claim {0}")]
    Unexpected(String),
}

impl VenueCode {
    /// A venue code issued at `now`.
    pub fn new(
        venue_id: &str,
        name: &str,
        region: RegionCode,
        category: &str,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<VenueCode, crate::keys::KeyError> {
        Ok(VenueCode {
            venue_id: venue_id.to_owned(),
            name: name.to_owned(),
            region,
            category: category.to_owned(),
            issued_at: now.unix_timestamp(),
            expires_at: now.unix_timestamp() + validity.whole_seconds(),
            serial: pipeline::random_bytes::<16>()?.to_vec(),
        })
    }

    pub fn to_claims(&self) -> Claims {
        let int = |k: i64| Value::Integer(k.into());
        let body = Value::Map(vec![
            (int(1), Value::Text(self.venue_id.clone())),
            (int(2), Value::Text(self.name.clone())),
            (int(3), Value::Text(self.category.clone())),
        ]);
        Claims {
            iss: Some(self.region.to_string()),
            iat: Some(self.issued_at),
            exp: Some(self.expires_at),
            cti: Some(self.serial.clone()),
            other: vec![(VENUE_CLAIM, body)],
            ..Claims::default()
        }
    }

    pub fn from_claims(claims: &Claims) -> Result<VenueCode, VenueSchemaError> {
        use VenueSchemaError::*;
        if let Some((k, _)) = claims.other.iter().find(|(k, _)| *k != VENUE_CLAIM) {
            return Err(Unexpected(k.to_string()));
        }
        let region = RegionCode::parse(claims.iss.as_deref().ok_or(Missing("iss"))?)
            .map_err(|_| Invalid("iss"))?;
        let issued_at = claims.iat.ok_or(Missing("iat"))?;
        let expires_at = claims.exp.ok_or(Missing("exp"))?;
        if expires_at <= issued_at {
            return Err(Invalid("exp"));
        }
        let serial = claims.cti.clone().ok_or(Missing("cti"))?;
        let Some(Value::Map(body)) = claims.get(VENUE_CLAIM) else {
            return Err(Missing("venue"));
        };
        let field =
            |key: i64, name: &'static str, max: usize| -> Result<String, VenueSchemaError> {
                let found = body.iter().find(|(k, _)| *k == Value::Integer(key.into()));
                match found {
                    Some((_, Value::Text(s))) if !s.is_empty() && s.chars().count() <= max => {
                        Ok(s.clone())
                    }
                    Some(_) => Err(Invalid(name)),
                    None => Err(Missing(name)),
                }
            };
        if body.len() != 3 {
            return Err(Invalid("venue: exactly id, name and category"));
        }
        Ok(VenueCode {
            venue_id: field(1, "venue_id", 64)?,
            name: field(2, "name", 128)?,
            category: field(3, "category", 32)?,
            region,
            issued_at,
            expires_at,
            serial,
        })
    }

    /// Signs and encodes the venue code (`HCV1:...`).
    pub fn seal(&self, key: &SigningKey, level: u32) -> Result<String, SealError> {
        pipeline::seal(CodeKind::Venue, &self.to_claims(), key, level)
    }
}
