//! The node's passes: it signs them with its own key (in `data_dir/keys`, created on first start)
//! and verifies codes against its own keys and, when configured, a signed trust list of other
//! regions' keys.

use crate::StartError;
use crate::config::Config;
use healthcode_core::identity::DocumentKind;
use healthcode_core::region::RegionCode;
use healthcode_pass::keyring::Keyring;
use healthcode_pass::keys::{Algorithm, SigningKey, VerifyingKey};
use healthcode_pass::pass::{self, Colour, Pass};
use healthcode_pass::trust::{TrustList, TrustStore, TrustedKey};
use healthcode_pass::verify::{Report, verify};
use healthcode_store::Person;
use time::{Duration, OffsetDateTime};

/// How far a checkpoint's clock may differ from the pass's.
const CLOCK_SKEW: Duration = Duration::seconds(30);

pub struct Passes {
    key: SigningKey,
    region: RegionCode,
    validity: Duration,
    trust: TrustStore,
}

fn start_error(what: &str, e: impl std::fmt::Display) -> StartError {
    StartError::Passes(format!("{what}: {e}"))
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
        if let (Some(list), Some(root)) = (&config.trust_list, &config.trust_root_key) {
            let signed = std::fs::read(list).map_err(|e| start_error("trust list", e))?;
            let root_pem =
                std::fs::read_to_string(root).map_err(|e| start_error("trust root key", e))?;
            let root =
                VerifyingKey::from_pem(&root_pem).map_err(|e| start_error("trust root key", e))?;
            let (_, others) =
                TrustList::verify(&signed, &root, now).map_err(|e| start_error("trust list", e))?;
            trust.extend(others);
        }
        Ok(Passes {
            key,
            region,
            validity,
            trust,
        })
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
        verify(text, &self.trust, at, CLOCK_SKEW)
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
