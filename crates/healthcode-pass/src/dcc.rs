//! EU Digital COVID Certificate specifics (hcert 1.0.8): the hcert claim, key usage from the
//! signer certificate's extended key usage, and payload validation against the JSON Schema
//! release named by the certificate's `ver`, plus the value sets of its code fields.

use std::collections::HashSet;
use std::sync::OnceLock;

use ciborium::Value;
use thiserror::Error;

use crate::cwt::{self, Claims};

/// The hcert claim (hcert §3.3.1); its map holds the certificate under key 1.
pub const HCERT_CLAIM: i64 = -260;

/// The kind of certificate, from its single `v`, `t` or `r` group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateType {
    Vaccination,
    Test,
    Recovery,
}

/// EKU OIDs that restrict a signer to one type (hcert §5.1.1; both spellings are in use).
fn usage_oids(kind: CertificateType) -> [&'static str; 2] {
    match kind {
        CertificateType::Test => ["1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"],
        CertificateType::Vaccination => {
            ["1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"]
        }
        CertificateType::Recovery => ["1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"],
    }
}

/// Why a payload is not a valid certificate (the schema stage).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DccError {
    #[error("no hcert claim (-260) with a certificate under key 1")]
    NoHcert,
    #[error("certificate has no schema version (ver)")]
    NoVersion,
    #[error("no schema release for version {0}")]
    UnknownVersion(String),
    #[error("schema {version}: {message}")]
    Schema { version: String, message: String },
    #[error("must hold exactly one of v, t and r, found {0}")]
    GroupCount(usize),
    #[error("{field} code {code:?} is not in value set {valueset}")]
    ValueSet {
        field: String,
        code: String,
        valueset: &'static str,
    },
}

/// Why the signer may not sign this type.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("signer certificate's extended key usage {oids:?} does not allow {kind:?} certificates")]
pub struct KeyUsageError {
    pub kind: CertificateType,
    pub oids: Vec<String>,
}

/// The certificate (hcert claim -260, key 1) as a CBOR value.
pub fn hcert(claims: &Claims) -> Result<&Value, DccError> {
    let Some(Value::Map(entries)) = claims.get(HCERT_CLAIM) else {
        return Err(DccError::NoHcert);
    };
    entries
        .iter()
        .find(|(k, _)| *k == Value::Integer(1.into()))
        .map(|(_, v)| v)
        .ok_or(DccError::NoHcert)
}

/// The certificate as JSON.
pub fn hcert_json(claims: &Claims) -> Result<serde_json::Value, DccError> {
    hcert(claims).map(cwt::to_json)
}

/// Which type the certificate is: exactly one group must be present.
pub fn certificate_type(dcc: &serde_json::Value) -> Result<CertificateType, DccError> {
    let found: Vec<CertificateType> = [
        ("v", CertificateType::Vaccination),
        ("t", CertificateType::Test),
        ("r", CertificateType::Recovery),
    ]
    .into_iter()
    .filter(|(k, _)| dcc.get(k).is_some_and(|g| !g.is_null()))
    .map(|(_, t)| t)
    .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        other => Err(DccError::GroupCount(other.len())),
    }
}

/// hcert key usage: a signer whose extended key usage names DCC OIDs may sign only those types.
/// One without the extension may sign every type. One whose extension is critical but names no
/// DCC OID is restricted to other purposes (RFC 5280 §4.2.1.12), so it may sign none.
pub fn check_key_usage(
    eku: &[String],
    eku_critical: bool,
    kind: CertificateType,
) -> Result<(), KeyUsageError> {
    let all = [
        CertificateType::Test,
        CertificateType::Vaccination,
        CertificateType::Recovery,
    ];
    let restricted = all
        .iter()
        .flat_map(|t| usage_oids(*t))
        .any(|oid| eku.iter().any(|e| e == oid));
    let any_purpose = eku.iter().any(|e| e == "2.5.29.37.0");
    if !restricted && (!eku_critical || any_purpose) {
        return Ok(());
    }
    if usage_oids(kind)
        .iter()
        .any(|oid| eku.iter().any(|e| e == oid))
    {
        Ok(())
    } else {
        Err(KeyUsageError {
            kind,
            oids: eku.to_vec(),
        })
    }
}

/// The schema releases compiled into the verifier.
const SCHEMAS: [(&str, &str); 9] = [
    ("1.0.0", include_str!("../data/dcc-schema/1.0.0.json")),
    ("1.0.1", include_str!("../data/dcc-schema/1.0.1.json")),
    ("1.1.0", include_str!("../data/dcc-schema/1.1.0.json")),
    ("1.2.0", include_str!("../data/dcc-schema/1.2.0.json")),
    ("1.2.1", include_str!("../data/dcc-schema/1.2.1.json")),
    ("1.3.0", include_str!("../data/dcc-schema/1.3.0.json")),
    ("1.3.1", include_str!("../data/dcc-schema/1.3.1.json")),
    ("1.3.2", include_str!("../data/dcc-schema/1.3.2.json")),
    ("1.3.3", include_str!("../data/dcc-schema/1.3.3.json")),
];
const VALUESETS: &str = include_str!("../data/dcc-valuesets/valueSets.json");

/// The schema releases known, newest last.
pub fn schema_versions() -> impl Iterator<Item = &'static str> {
    SCHEMAS.iter().map(|(v, _)| *v)
}

type Compiled = Result<jsonschema::Validator, String>;

// Compiling a schema costs milliseconds; do it once per release and process.
static VALIDATORS: [OnceLock<Compiled>; 9] = [const { OnceLock::new() }; 9];

/// The release to check `ver` against: the same release, else the newest earlier patch of the
/// same major.minor (patch releases only relax or document).
fn release_index(ver: &str) -> Option<usize> {
    if let Some(i) = SCHEMAS.iter().position(|(v, _)| *v == ver) {
        return Some(i);
    }
    let parse = |s: &str| -> Option<(u32, u32, u32)> {
        let mut it = s.split('.').map(|p| p.parse::<u32>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    let (major, minor, patch) = parse(ver)?;
    SCHEMAS
        .iter()
        .enumerate()
        .filter_map(|(i, (v, _))| parse(v).map(|p| (i, p)))
        .filter(|(_, (a, b, c))| *a == major && *b == minor && *c <= patch)
        .map(|(i, _)| i)
        .next_back()
}

fn validator(index: usize) -> Result<&'static jsonschema::Validator, String> {
    let compiled = VALIDATORS[index].get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(SCHEMAS[index].1).map_err(|e| e.to_string())?;
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| e.to_string())
    });
    compiled.as_ref().map_err(Clone::clone)
}

struct ValueSets {
    sets: Vec<(&'static str, HashSet<String>)>,
}

static VALUE_SETS: OnceLock<ValueSets> = OnceLock::new();

fn value_sets() -> &'static ValueSets {
    VALUE_SETS.get_or_init(|| {
        let parsed: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(VALUESETS).unwrap_or_default();
        let names = [
            "country-2-codes",
            "disease-agent-targeted",
            "covid-19-lab-test-manufacturer-and-name",
            "covid-19-lab-result",
            "covid-19-lab-test-type",
            "vaccines-covid-19-auth-holders",
            "vaccines-covid-19-names",
            "sct-vaccines-covid-19",
        ];
        let sets = names
            .iter()
            .map(|name| {
                let codes = parsed
                    .get(*name)
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                (*name, codes)
            })
            .collect();
        ValueSets { sets }
    })
}

impl ValueSets {
    fn check(&self, field: &str, code: &str, set: &'static str) -> Result<(), DccError> {
        let known = self
            .sets
            .iter()
            .find(|(name, _)| *name == set)
            .is_some_and(|(_, codes)| codes.contains(code));
        if known {
            Ok(())
        } else {
            Err(DccError::ValueSet {
                field: field.to_owned(),
                code: code.to_owned(),
                valueset: set,
            })
        }
    }
}

/// Which value set each code field of each group refers to (the schema's `valueset-uri`).
const CODE_FIELDS: [(&str, &str, &str); 10] = [
    ("v", "tg", "disease-agent-targeted"),
    ("v", "vp", "sct-vaccines-covid-19"),
    ("v", "mp", "vaccines-covid-19-names"),
    ("v", "ma", "vaccines-covid-19-auth-holders"),
    ("t", "tg", "disease-agent-targeted"),
    ("t", "tt", "covid-19-lab-test-type"),
    ("t", "ma", "covid-19-lab-test-manufacturer-and-name"),
    ("t", "tr", "covid-19-lab-result"),
    ("r", "tg", "disease-agent-targeted"),
    ("r", "co", "country-2-codes"),
];

/// Checks a certificate's code fields against the value sets (a code outside its set makes a
/// certificate invalid even where the schema passes).
pub fn check_value_sets(dcc: &serde_json::Value) -> Result<(), DccError> {
    let sets = value_sets();
    for (group, field, set) in CODE_FIELDS {
        for (i, entry) in dcc
            .get(group)
            .and_then(|g| g.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(code) = entry.get(field).and_then(|c| c.as_str()) {
                sets.check(&format!("{group}[{i}].{field}"), code, set)?;
            }
        }
    }
    for group in ["v", "t"] {
        for (i, entry) in dcc
            .get(group)
            .and_then(|g| g.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(code) = entry.get("co").and_then(|c| c.as_str()) {
                sets.check(&format!("{group}[{i}].co"), code, "country-2-codes")?;
            }
        }
    }
    Ok(())
}

/// Validates a certificate against the schema release of its `ver`, then checks it holds one
/// group.
pub fn validate(dcc: &serde_json::Value) -> Result<CertificateType, DccError> {
    let ver = dcc
        .get("ver")
        .and_then(|v| v.as_str())
        .ok_or(DccError::NoVersion)?;
    validate_as(dcc, ver)?;
    certificate_type(dcc)
}

/// Validates against a named schema release only.
pub fn validate_as(dcc: &serde_json::Value, ver: &str) -> Result<(), DccError> {
    let index = release_index(ver).ok_or_else(|| DccError::UnknownVersion(ver.to_owned()))?;
    let version = SCHEMAS[index].0.to_owned();
    let validator = validator(index).map_err(|message| DccError::Schema {
        version: version.clone(),
        message,
    })?;
    validator.validate(dcc).map_err(|e| DccError::Schema {
        version,
        message: format!("{} at {}", e, e.instance_path()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_usage_rules() {
        let v = CertificateType::Vaccination;
        assert!(check_key_usage(&[], false, v).is_ok());
        assert!(check_key_usage(&["1.3.6.1.5.5.7.3.2".into()], false, v).is_ok());
        assert!(check_key_usage(&["2.23.136.1.1.14.2".into()], true, v).is_err());
        assert!(check_key_usage(&["1.3.6.1.4.1.1847.2021.1.2".into()], true, v).is_ok());
        assert!(check_key_usage(&["1.3.6.1.4.1.0.1847.2021.1.1".into()], false, v).is_err());
    }

    #[test]
    fn release_for_version() {
        assert_eq!(release_index("1.3.0"), Some(5));
        assert_eq!(release_index("1.0.5"), Some(1));
        assert_eq!(release_index("2.0.0"), None);
        assert_eq!(release_index("x"), None);
    }
}
