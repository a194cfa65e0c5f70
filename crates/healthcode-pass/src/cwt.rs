//! CWT claims (RFC 8392) over CBOR, and the CBOR-to-JSON mapping used to show decoded content.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ciborium::Value;
use thiserror::Error;

/// Claim keys of RFC 8392 §3.1.
pub const ISS: i64 = 1;
pub const SUB: i64 = 2;
pub const AUD: i64 = 3;
pub const EXP: i64 = 4;
pub const NBF: i64 = 5;
pub const IAT: i64 = 6;
pub const CTI: i64 = 7;

/// Why a payload is not a CWT claims set.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CwtError {
    #[error("payload is not CBOR: {0}")]
    NotCbor(String),
    #[error("claims are not a CBOR map")]
    NotMap,
    #[error("claim key {0} is not an integer")]
    KeyNotInteger(String),
    #[error("claim {0} appears twice")]
    Duplicate(i64),
    #[error("claim {0} has the wrong type")]
    WrongType(i64),
    #[error("CBOR encoding failed: {0}")]
    Encode(String),
}

/// A CWT claims set: the registered claims we use, and the others as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<String>,
    /// NumericDate seconds; fractions (allowed by RFC 8392) are floored.
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub cti: Option<Vec<u8>>,
    /// Every other claim, in the order received.
    pub other: Vec<(i64, Value)>,
}

impl Claims {
    /// The value of a non-registered claim.
    pub fn get(&self, key: i64) -> Option<&Value> {
        self.other.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Decodes CBOR bytes to a value. ciborium bounds nesting (256 levels), so deep input is an
/// error, not a stack overflow.
pub fn decode_value(bytes: &[u8]) -> Result<Value, CwtError> {
    ciborium::de::from_reader(bytes).map_err(|e| CwtError::NotCbor(e.to_string()))
}

/// Encodes a CBOR value.
pub fn encode_value(value: &Value) -> Result<Vec<u8>, CwtError> {
    let mut out = Vec::with_capacity(256);
    ciborium::ser::into_writer(value, &mut out).map_err(|e| CwtError::Encode(e.to_string()))?;
    Ok(out)
}

fn numeric_date(key: i64, value: &Value) -> Result<i64, CwtError> {
    match value {
        Value::Integer(i) => i64::try_from(i128::from(*i)).map_err(|_| CwtError::WrongType(key)),
        Value::Float(f) if f.is_finite() && f.abs() < 1e15 => Ok(f.floor() as i64),
        Value::Tag(1, inner) => numeric_date(key, inner),
        _ => Err(CwtError::WrongType(key)),
    }
}

fn text(key: i64, value: Value) -> Result<String, CwtError> {
    match value {
        Value::Text(s) => Ok(s),
        _ => Err(CwtError::WrongType(key)),
    }
}

/// Decodes a CWT claims set.
pub fn decode_claims(payload: &[u8]) -> Result<Claims, CwtError> {
    let Value::Map(entries) = decode_value(payload)? else {
        return Err(CwtError::NotMap);
    };
    let mut claims = Claims::default();
    let mut seen = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let key = match key {
            Value::Integer(i) => i64::try_from(i128::from(i))
                .map_err(|_| CwtError::KeyNotInteger(format!("{i:?}")))?,
            other => return Err(CwtError::KeyNotInteger(format!("{other:?}"))),
        };
        if seen.contains(&key) {
            return Err(CwtError::Duplicate(key));
        }
        seen.push(key);
        match key {
            ISS => claims.iss = Some(text(key, value)?),
            SUB => claims.sub = Some(text(key, value)?),
            AUD => claims.aud = Some(text(key, value)?),
            EXP => claims.exp = Some(numeric_date(key, &value)?),
            NBF => claims.nbf = Some(numeric_date(key, &value)?),
            IAT => claims.iat = Some(numeric_date(key, &value)?),
            CTI => match value {
                Value::Bytes(b) => claims.cti = Some(b),
                _ => return Err(CwtError::WrongType(key)),
            },
            _ => claims.other.push((key, value)),
        }
    }
    Ok(claims)
}

/// Encodes a claims set (registered claims first, in key order, then the others).
pub fn encode_claims(claims: &Claims) -> Result<Vec<u8>, CwtError> {
    let mut map: Vec<(Value, Value)> = Vec::with_capacity(8 + claims.other.len());
    let mut put = |k: i64, v: Value| map.push((Value::Integer(k.into()), v));
    if let Some(v) = &claims.iss {
        put(ISS, Value::Text(v.clone()));
    }
    if let Some(v) = &claims.sub {
        put(SUB, Value::Text(v.clone()));
    }
    if let Some(v) = &claims.aud {
        put(AUD, Value::Text(v.clone()));
    }
    if let Some(v) = claims.exp {
        put(EXP, Value::Integer(v.into()));
    }
    if let Some(v) = claims.nbf {
        put(NBF, Value::Integer(v.into()));
    }
    if let Some(v) = claims.iat {
        put(IAT, Value::Integer(v.into()));
    }
    if let Some(v) = &claims.cti {
        put(CTI, Value::Bytes(v.clone()));
    }
    for (k, v) in &claims.other {
        put(*k, v.clone());
    }
    encode_value(&Value::Map(map))
}

/// Shows a CBOR value as JSON: byte strings as base64, integer keys as strings, date tags as
/// their text (tag 0) or RFC 3339 (tag 1).
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Integer(i) => {
            let i = i128::from(*i);
            if let Ok(v) = i64::try_from(i) {
                J::from(v)
            } else if let Ok(v) = u64::try_from(i) {
                J::from(v)
            } else {
                J::String(i.to_string())
            }
        }
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Text(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(STANDARD.encode(b)),
        Value::Bool(b) => J::Bool(*b),
        Value::Null => J::Null,
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::Text(s) => s.clone(),
                        other => match to_json(other) {
                            J::String(s) => s,
                            j => j.to_string(),
                        },
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Value::Tag(1, inner) => match numeric_date(0, inner).ok().and_then(format_epoch) {
            Some(s) => J::String(s),
            None => to_json(inner),
        },
        Value::Tag(_, inner) => to_json(inner),
        _ => J::Null,
    }
}

/// RFC 3339 text of epoch seconds.
pub fn format_epoch(seconds: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_round_trip_and_errors() {
        let claims = Claims {
            iss: Some("440300".into()),
            exp: Some(1_600_000_180),
            iat: Some(1_600_000_000),
            cti: Some(vec![1, 2, 3]),
            other: vec![(-65537, Value::Text("x".into()))],
            ..Claims::default()
        };
        let bytes = encode_claims(&claims).unwrap();
        assert_eq!(decode_claims(&bytes).unwrap(), claims);
        assert_eq!(decode_claims(&[0x80]), Err(CwtError::NotMap));
        // {1: 1}: iss must be text.
        assert_eq!(
            decode_claims(&[0xa1, 0x01, 0x01]),
            Err(CwtError::WrongType(1))
        );
        // {4: 1, 4: 2}
        assert_eq!(
            decode_claims(&[0xa2, 0x04, 0x01, 0x04, 0x02]),
            Err(CwtError::Duplicate(4))
        );
        // 10,000 nested arrays: an error, not a stack overflow.
        let deep = [vec![0x81u8; 10_000], vec![0x00]].concat();
        assert!(matches!(decode_value(&deep), Err(CwtError::NotCbor(_))));
    }
}
