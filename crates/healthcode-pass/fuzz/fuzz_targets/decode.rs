//! The whole decoding path: any input must give a report (stage errors), never a panic, with
//! bounded memory. The first byte chooses where the input enters, so the fuzzer reaches the
//! deep stages without having to invent valid zlib and base45 first:
//! 0 = scanned text, 1 = COSE bytes (wrapped as a pass), 2 = COSE bytes (wrapped as an EU
//! certificate), 3 = zlib bytes, 4 = a PNG image.
#![no_main]

use std::sync::OnceLock;

use healthcode_pass::keys::{Algorithm, SigningKey};
use healthcode_pass::prefix::{self, CodeKind};
use healthcode_pass::trust::{TrustStore, TrustedKey};
use healthcode_pass::verify::{DEFAULT_SKEW, verify};
use healthcode_pass::{base45, compress, qr};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fn trust() -> &'static TrustStore {
    static TRUST: OnceLock<TrustStore> = OnceLock::new();
    TRUST.get_or_init(|| {
        let mut trust = TrustStore::new();
        if let Ok(key) = SigningKey::generate(Algorithm::EdDSA) {
            trust.add(TrustedKey::new(key.verifying_key().clone()));
        }
        trust
    })
}

fn wrap(kind: CodeKind, cose: &[u8]) -> String {
    let z = compress::compress(cose, 0).unwrap_or_default();
    prefix::add(kind, &base45::encode(&z))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now =
        OffsetDateTime::from_unix_timestamp(1_620_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let text = match mode % 5 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => wrap(CodeKind::Pass, rest),
        2 => wrap(CodeKind::EuDcc, rest),
        3 => prefix::add(CodeKind::Pass, &base45::encode(rest)),
        _ => match qr::decode_png(rest) {
            Ok(text) => text,
            Err(_) => return,
        },
    };
    let report = verify(&text, trust(), now, DEFAULT_SKEW);
    // A valid report from fuzzed bytes would mean a forgery: no input here is signed by the key.
    assert!(!report.valid || mode % 5 == 4);
    let _ = serde_json_len(&report);
});

fn serde_json_len(report: &healthcode_pass::verify::Report) -> usize {
    format!("{report:?}").len()
}
