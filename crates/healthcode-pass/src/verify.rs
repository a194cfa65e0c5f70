//! The offline verifier: runs every stage of the pipeline on a scanned text and reports each
//! one (ok, failed with the reason, or skipped because an earlier stage failed), with the
//! decoded content. Time is a parameter; the verifier never reads the clock.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::base45;
use crate::compress::{self, MAX_DECOMPRESSED};
use crate::cose::{self, SignatureCheck};
use crate::cwt::{self, Claims};
use crate::dcc;
use crate::memo::SignatureMemo;
use crate::pass::Pass;
use crate::prefix::{self, CodeKind};
use crate::trust::{TrustStore, TrustedKey, Usage};
use crate::venue::VenueCode;

/// Default allowance for a checkpoint's clock being off.
pub const DEFAULT_SKEW: Duration = Duration::seconds(30);

/// The state of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

/// The result of one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub status: Status,
    /// A short machine-readable outcome where a stage has several (signature: `valid`,
    /// `invalid`, `no_key`, `unsupported_algorithm`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Why it failed or was skipped, or a note on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Stage {
    pub fn ok() -> Stage {
        Stage {
            status: Status::Ok,
            outcome: None,
            reason: None,
        }
    }

    fn ok_note(note: impl Into<String>) -> Stage {
        Stage {
            reason: Some(note.into()),
            ..Stage::ok()
        }
    }

    pub fn failed(reason: impl ToString) -> Stage {
        Stage {
            status: Status::Failed,
            outcome: None,
            reason: Some(reason.to_string()),
        }
    }

    pub fn skipped(reason: &str) -> Stage {
        Stage {
            status: Status::Skipped,
            outcome: None,
            reason: Some(reason.to_owned()),
        }
    }

    fn with_outcome(mut self, outcome: &'static str) -> Stage {
        self.outcome = Some(outcome);
        self
    }

    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// Who signed, when the signature held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    pub kid: String,
    pub alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_subject: Option<String>,
}

/// Everything the verifier found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True only when every stage is ok.
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<CodeKind>,
    pub prefix: Stage,
    pub base45: Stage,
    pub decompress: Stage,
    pub cose: Stage,
    pub signature: Stage,
    pub expiry: Stage,
    pub key_usage: Stage,
    pub schema: Stage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// The decoded content: the pass, venue code or EU certificate with its claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

/// What a code says. Typed for our codes, so that a checkpoint reads fields without a JSON
/// round trip; serialised as the fields themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    Pass(Pass),
    Venue(VenueCode),
    /// An EU certificate with its claims, or claims that did not pass the schema stage.
    Json(serde_json::Value),
}

impl Report {
    /// The content as JSON.
    pub fn content_json(&self) -> Option<serde_json::Value> {
        self.content
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok())
    }
}

impl Report {
    fn new() -> Report {
        let pending = Stage::skipped("an earlier stage failed");
        Report {
            valid: false,
            kind: None,
            prefix: pending.clone(),
            base45: pending.clone(),
            decompress: pending.clone(),
            cose: pending.clone(),
            signature: pending.clone(),
            expiry: pending.clone(),
            key_usage: pending.clone(),
            schema: pending,
            signer: None,
            content: None,
        }
    }

    fn finish(mut self) -> Report {
        self.valid = [
            &self.prefix,
            &self.base45,
            &self.decompress,
            &self.cose,
            &self.signature,
            &self.expiry,
            &self.key_usage,
            &self.schema,
        ]
        .iter()
        .all(|s| s.is_ok());
        self
    }
}

/// How strict the verifier is beyond the signature, and where it keeps signatures that held.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Allowed clock difference between issuer and checkpoint.
    pub skew: Duration,
    /// Fail an EU certificate whose code fields are outside the bundled value sets. Off by
    /// default: value sets grow (new vaccines and tests) faster than a checkpoint is updated,
    /// so a miss is reported as a note on the schema stage instead.
    pub strict_value_sets: bool,
    /// Signatures verified before (a checkpoint node's): each is checked once. Every other
    /// stage, the time checks included, runs on every scan.
    pub memo: Option<&'a SignatureMemo>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            skew: DEFAULT_SKEW,
            strict_value_sets: false,
            memo: None,
        }
    }
}

/// Verifies a scanned text at `now`, allowing `skew` of clock difference.
pub fn verify(text: &str, trust: &TrustStore, now: OffsetDateTime, skew: Duration) -> Report {
    verify_with_options(
        text,
        trust,
        now,
        Options {
            skew,
            ..Options::default()
        },
    )
}

/// Verifies a scanned text with explicit options.
pub fn verify_with_options(
    text: &str,
    trust: &TrustStore,
    now: OffsetDateTime,
    options: Options,
) -> Report {
    let mut report = Report::new();
    let (kind, b45) = match prefix::strip(text) {
        Ok(found) => found,
        Err(e) => {
            report.prefix = Stage::failed(e);
            return report.finish();
        }
    };
    report.kind = Some(kind);
    report.prefix = Stage::ok();
    let compressed = match base45::decode(b45) {
        Ok(bytes) => bytes,
        Err(e) => {
            report.base45 = Stage::failed(e);
            return report.finish();
        }
    };
    report.base45 = Stage::ok();
    let signed = match compress::decompress(&compressed, MAX_DECOMPRESSED) {
        Ok(bytes) => bytes,
        Err(e) => {
            report.decompress = Stage::failed(e);
            return report.finish();
        }
    };
    report.decompress = Stage::ok();
    verify_signed(report, kind, &signed, trust, now, options)
}

/// Verifies a COSE_Sign1 of `kind` directly (the stages before it are reported as skipped).
pub fn verify_cose(
    kind: CodeKind,
    signed: &[u8],
    trust: &TrustStore,
    now: OffsetDateTime,
    skew: Duration,
) -> Report {
    let mut report = Report::new();
    report.kind = Some(kind);
    for stage in [
        &mut report.prefix,
        &mut report.base45,
        &mut report.decompress,
    ] {
        *stage = Stage::skipped("verification started at the COSE message");
    }
    // Only a fully checked text counts as valid.
    let options = Options {
        skew,
        ..Options::default()
    };
    let mut report = verify_signed(report, kind, signed, trust, now, options);
    report.valid = false;
    report
}

fn verify_signed(
    mut report: Report,
    kind: CodeKind,
    signed: &[u8],
    trust: &TrustStore,
    now: OffsetDateTime,
    options: Options,
) -> Report {
    let sign1 = match cose::parse(signed) {
        Ok(parsed) => parsed,
        Err(e) => {
            report.cose = Stage::failed(e);
            return report.finish();
        }
    };
    report.cose = match (sign1.alg_unprotected, sign1.kid_unprotected) {
        (false, false) => Stage::ok(),
        (a, k) => Stage::ok_note(format!(
            "taken from the unprotected header:{}{}",
            if a { " alg" } else { "" },
            if k { " kid" } else { "" }
        )),
    };

    // Signature: try each trusted key with this kid.
    let candidates: &[TrustedKey] = sign1.kid.as_deref().map_or(&[], |kid| trust.lookup(kid));
    let mut signer: Option<&TrustedKey> = None;
    report.signature = match &sign1.kid {
        None => Stage::failed("no kid in either header").with_outcome("no_key"),
        Some(kid) if candidates.is_empty() => match trust.withheld(kid) {
            Some(outcome) => Stage::failed(format!(
                "kid {} is refused: {outcome}",
                crate::keys::Kid(kid.clone())
            ))
            .with_outcome(outcome),
            None => Stage::failed(format!("no key for kid {}", crate::keys::Kid(kid.clone())))
                .with_outcome("no_key"),
        },
        Some(_) => {
            let mut last = SignatureCheck::Invalid;
            for candidate in candidates {
                last = cose::verify_kept(&sign1, &candidate.key, &[], options.memo);
                if last == SignatureCheck::Valid {
                    signer = Some(candidate);
                    break;
                }
            }
            match last {
                SignatureCheck::Valid => Stage::ok().with_outcome("valid"),
                SignatureCheck::Invalid => {
                    Stage::failed("signature does not verify").with_outcome("invalid")
                }
                SignatureCheck::NoAlgorithm => {
                    Stage::failed("no alg in either header").with_outcome("invalid")
                }
                SignatureCheck::UnsupportedAlgorithm(a) => {
                    Stage::failed(format!("unsupported algorithm {a}"))
                        .with_outcome("unsupported_algorithm")
                }
                SignatureCheck::AlgorithmMismatch { header, key } => Stage::failed(format!(
                    "header names {header} but the key for this kid is {key}"
                ))
                .with_outcome("algorithm_mismatch"),
            }
        }
    };
    if let Some(s) = signer {
        report.signer = Some(Signer {
            kid: s.key.kid().to_base64(),
            alg: s.key.algorithm().to_string(),
            region: s.region.clone(),
            certificate_subject: s.certificate.as_ref().map(|c| c.subject.clone()),
        });
    }

    let claims = match cwt::decode_claims(sign1.payload()) {
        Ok(claims) => claims,
        Err(e) => {
            report.expiry = Stage::failed(format!("payload: {e}"));
            report.key_usage = Stage::skipped("payload is not a claims set");
            report.schema = Stage::failed(e);
            return report.finish();
        }
    };
    // A certificate from the trust store is used for key usage even when the signature failed,
    // so that each stage is judged on its own.
    let key_for_checks = signer.or(candidates.first());
    report.expiry = check_expiry(&claims, key_for_checks, now, options.skew);

    match kind {
        CodeKind::EuDcc => {
            let dcc_json = dcc::hcert_json(&claims);
            report.schema = match &dcc_json {
                Ok(json) => match (dcc::validate(json), dcc::check_value_sets(json)) {
                    (Err(e), _) => Stage::failed(e),
                    (Ok(_), Ok(())) => Stage::ok(),
                    (Ok(_), Err(e)) if options.strict_value_sets => Stage::failed(e),
                    (Ok(_), Err(e)) => Stage::ok_note(format!("warning: {e}")),
                },
                Err(e) => Stage::failed(e),
            };
            report.key_usage = match (
                &dcc_json,
                key_for_checks.and_then(|k| k.certificate.as_ref()),
            ) {
                (Err(e), _) => Stage::failed(e),
                (Ok(_), None) => Stage::ok_note("no signer certificate: usage not restricted"),
                (Ok(json), Some(cert)) => match dcc::certificate_type(json) {
                    Err(e) => Stage::failed(e),
                    Ok(t) => match dcc::check_key_usage(
                        &cert.extended_key_usage,
                        cert.extended_key_usage_critical,
                        t,
                    ) {
                        Ok(()) => Stage::ok(),
                        Err(e) => Stage::failed(e),
                    },
                },
            };
            report.content = Some(Content::Json(serde_json::json!({
                "iss": claims.iss,
                "iat": claims.iat,
                "exp": claims.exp,
                "certificate": dcc_json.ok(),
            })));
        }
        CodeKind::Pass => {
            match Pass::from_claims(&claims) {
                Ok(pass) => {
                    report.schema = Stage::ok();
                    report.content = Some(Content::Pass(pass));
                }
                Err(e) => {
                    report.schema = Stage::failed(e);
                    report.content = Some(Content::Json(claims_json(&claims)));
                }
            }
            report.key_usage = check_region_usage(&claims, signer, Usage::Pass);
        }
        CodeKind::Venue => {
            match VenueCode::from_claims(&claims) {
                Ok(venue) => {
                    report.schema = Stage::ok();
                    report.content = Some(Content::Venue(venue));
                }
                Err(e) => {
                    report.schema = Stage::failed(e);
                    report.content = Some(Content::Json(claims_json(&claims)));
                }
            }
            report.key_usage = check_region_usage(&claims, signer, Usage::Venue);
        }
    }
    report.finish()
}

fn claims_json(claims: &Claims) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("iss".into(), claims.iss.clone().into());
    map.insert("iat".into(), claims.iat.into());
    map.insert("exp".into(), claims.exp.into());
    for (k, v) in &claims.other {
        map.insert(k.to_string(), cwt::to_json(v));
    }
    serde_json::Value::Object(map)
}

fn epoch(seconds: i64) -> String {
    cwt::format_epoch(seconds).unwrap_or_else(|| seconds.to_string())
}

/// Expiry: now within [iat, exp] (with skew), and the signer's key (the verified one, else the
/// first with this kid, so that this stage is judged apart from the signature) valid when the
/// code was issued. A certificate's validity must also cover the code's expiry (hcert §5).
fn check_expiry(
    claims: &Claims,
    signer: Option<&TrustedKey>,
    now: OffsetDateTime,
    skew: Duration,
) -> Stage {
    let now_s = now.unix_timestamp();
    let skew_s = skew.whole_seconds().abs();
    let Some(exp) = claims.exp else {
        return Stage::failed("no expiry (exp)");
    };
    if now_s > exp.saturating_add(skew_s) {
        return Stage::failed(format!("expired at {}", epoch(exp))).with_outcome("expired");
    }
    let Some(iat) = claims.iat else {
        return Stage::failed("no issue time (iat)");
    };
    {
        if iat > now_s.saturating_add(skew_s) {
            return Stage::failed(format!("issued in the future ({})", epoch(iat)))
                .with_outcome("not_yet_valid");
        }
        if exp < iat {
            return Stage::failed("expires before it was issued");
        }
    }
    if let Some(nbf) = claims.nbf
        && nbf > now_s.saturating_add(skew_s)
    {
        return Stage::failed(format!("not valid before {}", epoch(nbf)))
            .with_outcome("not_yet_valid");
    }
    if let Some(key) = signer {
        let issued = iat;
        if key.valid_from.is_some_and(|from| issued < from) {
            return Stage::failed("issued before the signer's key was valid")
                .with_outcome("key_not_valid");
        }
        if key.valid_until.is_some_and(|until| issued > until) {
            return Stage::failed("issued after the signer's key was retired or expired")
                .with_outcome("key_not_valid");
        }
        if let Some(cert) = &key.certificate
            && exp > cert.not_after
        {
            return Stage::failed("expires after the signer certificate")
                .with_outcome("key_not_valid");
        }
    }
    Stage::ok()
}

/// Our codes: the signing key must belong to the region that the code names as issuer, and be
/// allowed to sign this kind of code.
fn check_region_usage(claims: &Claims, signer: Option<&TrustedKey>, usage: Usage) -> Stage {
    let Some(key) = signer else {
        return Stage::skipped("no verified signer");
    };
    if !key.usages.is_empty() && !key.usages.contains(&usage) {
        return Stage::failed(format!("key may not sign {usage:?} codes"));
    }
    // A key of a city or province signs for the divisions within it (GB/T 2260 hierarchy).
    let covers = |region: &str, iss: &str| {
        healthcode_core::region::RegionCode::parse(region).map_or(region == iss, |r| r.covers(iss))
    };
    match (&key.region, &claims.iss) {
        (Some(region), Some(iss)) if !covers(region, iss) => Stage::failed(format!(
            "key belongs to region {region}, code claims issuer {iss}"
        )),
        (Some(_), None) => Stage::failed("no issuer (iss)"),
        _ => Stage::ok(),
    }
}
