//! The node's passes: it signs them with its own key (in `data_dir/keys`, created on first start)
//! and verifies codes against its own keys and the other regions' keys of the trust list held
//! (a file, or the hub's list fetched by `federation::directory`), which can change while the
//! node runs.

use crate::StartError;
use crate::config::Config;
use healthcode_core::identity::DocumentKind;
use healthcode_core::region::RegionCode;
use healthcode_pass::keyring::Keyring;
use healthcode_pass::keys::{Algorithm, SigningKey, VerifyingKey};
use healthcode_pass::memo::SignatureMemo;
use healthcode_pass::pass::{self, Colour, Pass};
use healthcode_pass::trust::{TrustList, TrustStore, TrustedKey};
use healthcode_pass::verify::{Options, Report, verify_with_options};
use healthcode_store::Person;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// How far a checkpoint's clock may differ from the pass's.
const CLOCK_SKEW: Duration = Duration::seconds(30);

/// Signatures kept per generation (two at most): about 25 MB, the passes one node sees scanned
/// in the minutes they live at a few thousand scans a second.
const MEMO_CAPACITY: usize = 100_000;

pub struct Passes {
    key: SigningKey,
    region: RegionCode,
    validity: Duration,
    /// Our own keys, which no list changes.
    own: TrustStore,
    trust: RwLock<Arc<Trust>>,
    /// Signatures of codes scanned before: a pass shown at several gates is checked once.
    memo: SignatureMemo,
}

/// The keys in force: ours and the list's, and the same with the list's keys withheld as
/// `trust_list_expired`, for scans made after the list ran out.
struct Trust {
    keys: TrustStore,
    expired: TrustStore,
    until: Option<OffsetDateTime>,
}

fn start_error(what: &str, e: impl std::fmt::Display) -> StartError {
    StartError::Passes(format!("{what}: {e}"))
}

/// The hub's root public key the configuration names (`trust_root_key`), if any.
pub fn root_key(config: &Config) -> Result<Option<VerifyingKey>, StartError> {
    let Some(path) = &config.trust_root_key else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(path).map_err(|e| start_error("trust root key", e))?;
    VerifyingKey::from_pem(&pem)
        .map(Some)
        .map_err(|e| start_error("trust root key", e))
}

impl Passes {
    pub fn open(config: &Config, now: OffsetDateTime) -> Result<Passes, StartError> {
        let region = RegionCode::parse(&config.region).map_err(|e| start_error("region", e))?;
        let validity = Duration::seconds(config.pass_validity_seconds);
        let keyring = Keyring::open_or_create(&config.data_dir.join("keys"), Algorithm::EdDSA, now)
            .map_err(|e| start_error("signing keys", e))?;
        let key = keyring
            .active()
            .map_err(|e| start_error("signing key", e))?;
        let mut trust = TrustStore::new();
        // Our own keys: the active one and retired ones whose codes may still be valid; venue
        // codes live a year, so a retired key keeps verifying what it signed before retiring
        // (codes it would sign after retiring are refused by `valid_until`).
        let longest = healthcode_pass::venue::DEFAULT_VALIDITY.max(validity);
        for (verifying, entry) in keyring
            .verifying_keys(now, longest)
            .map_err(|e| start_error("signing keys", e))?
        {
            trust.add(TrustedKey {
                region: Some(config.region.clone()),
                valid_from: Some(entry.created_at.unix_timestamp()),
                valid_until: entry.retired_at.map(|t| t.unix_timestamp()),
                ..TrustedKey::new(verifying)
            });
        }
        let passes = Passes {
            key,
            region,
            validity,
            trust: RwLock::new(Arc::new(Trust {
                keys: trust.clone(),
                expired: trust.clone(),
                until: None,
            })),
            own: trust,
            memo: SignatureMemo::new(MEMO_CAPACITY),
        };
        if let (Some(list), Some(root)) = (&config.trust_list, root_key(config)?) {
            let signed = std::fs::read(list).map_err(|e| start_error("trust list", e))?;
            let (list, others) =
                TrustList::verify(&signed, &root, now).map_err(|e| start_error("trust list", e))?;
            passes.install_others(others, list.valid_until);
        }
        Ok(passes)
    }

    /// The region this node serves.
    pub fn region(&self) -> &RegionCode {
        &self.region
    }

    /// Puts other regions' keys in force (replacing any before), until `until`.
    pub fn install_others(&self, others: TrustStore, until: OffsetDateTime) {
        let mut keys = self.own.clone();
        let mut expired = self.own.clone();
        expired.extend(others.withhold_all("trust_list_expired"));
        keys.extend(others);
        let trust = Arc::new(Trust {
            keys,
            expired,
            until: Some(until),
        });
        if let Ok(mut held) = self.trust.write() {
            *held = trust;
        }
    }

    /// The node's signing keys as a trust list carries them, for its proposal to the hub:
    /// each valid from its creation to its retirement, or for `horizon` past `now` while active.
    pub fn own_entries(
        &self,
        now: OffsetDateTime,
        horizon: Duration,
    ) -> Vec<healthcode_pass::trust::TrustListEntry> {
        let at = |secs: Option<i64>, default: OffsetDateTime| {
            secs.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(default)
        };
        self.own
            .keys()
            .map(|k| {
                healthcode_pass::trust::TrustListEntry::for_key(
                    self.region.as_str(),
                    &k.key,
                    at(k.valid_from, now),
                    at(k.valid_until, now + horizon),
                )
            })
            .collect()
    }

    /// A fresh pass for a person with the code shown now (`code_shown`: the policy's colour,
    /// or pending), as QR text.
    pub fn issue(
        &self,
        person: &Person,
        shown: healthcode_core::Color,
        policy_version: &str,
        now: OffsetDateTime,
    ) -> Result<(Pass, String), String> {
        let colour = match shown {
            healthcode_core::Color::Green => Colour::Green,
            healthcode_core::Color::Yellow => Colour::Yellow,
            healthcode_core::Color::Pending => Colour::Pending,
            healthcode_core::Color::Red => Colour::Red,
        };
        let document_kind = match person.document_kind {
            DocumentKind::ResidentId => pass::DocumentKind::ResidentId,
            DocumentKind::HkMacauPermit => pass::DocumentKind::HkMacaoPermit,
            DocumentKind::TaiwanPermit => pass::DocumentKind::TaiwanPermit,
            DocumentKind::Passport => pass::DocumentKind::Passport,
            _ => pass::DocumentKind::Other,
        };
        let issued = Pass::new(
            self.region.clone(),
            now,
            self.validity,
            colour,
            now,
            policy_version,
            subject(&person.pseudonym),
            person.name_masked.clone(),
            document_kind,
            person.document_tail.clone().unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        // Stored blocks: a pass does not compress, and setting up a compressor costs more than
        // the signature (docs/BENCHMARKS.md, signed pass).
        let text = issued.seal(&self.key, 0).map_err(|e| e.to_string())?;
        Ok((issued, text))
    }

    /// Verifies any code (our passes, other regions' through the trust list, venue codes, EU
    /// certificates whose signers are trusted) offline, at `at`.
    pub fn verify(&self, text: &str, at: OffsetDateTime) -> Report {
        let trust = match self.trust.read() {
            Ok(held) => held.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let keys = match trust.until {
            Some(until) if at > until => &trust.expired,
            _ => &trust.keys,
        };
        let options = Options {
            skew: CLOCK_SKEW,
            memo: Some(&self.memo),
            ..Options::default()
        };
        verify_with_options(text, keys, at, options)
    }
}

/// The pass subject: the person's random pseudonym (hex in the store), 16 bytes.
fn subject(pseudonym: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    // Always 32 hex digits as the store makes them; anything else gives zeros.
    if hex::decode_to_slice(pseudonym, &mut out).is_err() {
        out = [0u8; 16];
    }
    out
}

impl Passes {
    /// A signed venue code (场所码), valid for a year: printed once and posted at the door.
    pub fn venue_code(
        &self,
        venue: &healthcode_store::Venue,
        now: OffsetDateTime,
    ) -> Result<String, String> {
        let region = RegionCode::parse(&venue.region).map_err(|e| e.to_string())?;
        let code = healthcode_pass::venue::VenueCode::new(
            &venue.id,
            &venue.name,
            region,
            &venue.category,
            now,
            healthcode_pass::venue::DEFAULT_VALIDITY,
        )
        .map_err(|e| e.to_string())?;
        code.seal(&self.key, 9).map_err(|e| e.to_string())
    }
}
