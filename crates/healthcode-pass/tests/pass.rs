//! Our passes and venue codes end to end: two regions through a trust list; forged, altered,
//! expired and unknown-key passes rejected at the stage that failed; hostile inputs give a
//! stage error, never a panic; every rendered QR image decodes back to its text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use healthcode_core::region::RegionCode;
use healthcode_pass::base45;
use healthcode_pass::compress;
use healthcode_pass::keys::{Algorithm, SigningKey};
use healthcode_pass::pass::{self, Colour, DocumentKind, Pass};
use healthcode_pass::prefix::{self, CodeKind};
use healthcode_pass::qr;
use healthcode_pass::trust::{TrustList, TrustListEntry, TrustStore, Usage};
use healthcode_pass::venue::VenueCode;
use healthcode_pass::verify::{DEFAULT_SKEW, Report, Status, verify};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2020-04-03 14:02 +08:00);

fn pass_for(region: &str, colour: Colour) -> Pass {
    Pass::new(
        RegionCode::parse(region).unwrap(),
        NOW,
        pass::DEFAULT_VALIDITY,
        colour,
        NOW - Duration::minutes(10),
        "440300-2020.4",
        pass::pseudonym(b"node secret", "person-1"),
        pass::mask_name("张小三"),
        DocumentKind::ResidentId,
        pass::document_tail("44030019900101123X"),
    )
    .unwrap()
}

struct World {
    root: SigningKey,
    shenzhen: SigningKey,
    beijing: SigningKey,
    trust: TrustStore,
}

fn world() -> World {
    let root = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let shenzhen = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let beijing = SigningKey::generate(Algorithm::ES256).unwrap();
    let from = NOW - Duration::days(1);
    let until = NOW + Duration::days(30);
    let list = TrustList {
        version: 1,
        issuer: "national hub".into(),
        sequence: 1,
        issued_at: NOW - Duration::hours(1),
        valid_until: NOW + Duration::days(7),
        entries: vec![
            TrustListEntry::for_key("440300", shenzhen.verifying_key(), from, until),
            TrustListEntry::for_key("110000", beijing.verifying_key(), from, until),
        ],
        revoked: Vec::new(),
        regions: Vec::new(),
    };
    let signed = list.sign(&root).unwrap();
    // A checkpoint knows only the root's public key.
    let (_, trust) = TrustList::verify(&signed, root.verifying_key(), NOW).unwrap();
    World {
        root,
        shenzhen,
        beijing,
        trust,
    }
}

fn failed_stage(report: &Report) -> Vec<&'static str> {
    [
        ("prefix", &report.prefix),
        ("base45", &report.base45),
        ("decompress", &report.decompress),
        ("cose", &report.cose),
        ("signature", &report.signature),
        ("expiry", &report.expiry),
        ("key_usage", &report.key_usage),
        ("schema", &report.schema),
    ]
    .into_iter()
    .filter(|(_, s)| s.status == Status::Failed)
    .map(|(n, _)| n)
    .collect()
}

#[test]
fn passes_verify_across_two_regions() {
    let w = world();
    for (region, key) in [("440300", &w.shenzhen), ("110000", &w.beijing)] {
        let pass = pass_for(region, Colour::Green);
        let text = pass.seal(key, compress::PASS_LEVEL).unwrap();
        assert!(text.starts_with("HCP1:"));
        let report = verify(&text, &w.trust, NOW + Duration::minutes(1), DEFAULT_SKEW);
        assert!(
            report.valid,
            "{}",
            serde_json::to_string_pretty(&report).unwrap()
        );
        assert_eq!(
            report.signer.as_ref().unwrap().region.as_deref(),
            Some(region)
        );
        let content = report.content_json().unwrap();
        assert_eq!(content["colour"], "green");
        assert_eq!(content["masked_name"], "张*三");
        assert_eq!(content["document_tail"], "123X");
        assert_eq!(content["region"], region);
        assert_eq!(serde_json::from_value::<Pass>(content).unwrap(), pass);
    }
}

#[test]
fn pending_is_its_own_colour() {
    let w = world();
    let text = pass_for("440300", Colour::Pending)
        .seal(&w.shenzhen, 1)
        .unwrap();
    let report = verify(&text, &w.trust, NOW, DEFAULT_SKEW);
    assert!(report.valid);
    assert_eq!(report.content_json().unwrap()["colour"], "pending");
}

#[test]
fn expired_pass_fails_expiry_only() {
    let w = world();
    let text = pass_for("440300", Colour::Green)
        .seal(&w.shenzhen, 1)
        .unwrap();
    let later = NOW + pass::DEFAULT_VALIDITY + DEFAULT_SKEW + Duration::seconds(1);
    let report = verify(&text, &w.trust, later, DEFAULT_SKEW);
    assert!(!report.valid);
    assert_eq!(failed_stage(&report), ["expiry"]);
    assert_eq!(report.expiry.outcome, Some("expired"));
    // A pass from the future (a checkpoint clock far behind) is not accepted either.
    let earlier = NOW - Duration::minutes(5);
    assert_eq!(
        failed_stage(&verify(&text, &w.trust, earlier, DEFAULT_SKEW)),
        ["expiry"]
    );
}

#[test]
fn unknown_key_and_forged_kid_fail_signature() {
    let w = world();
    let rogue = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let text = pass_for("440300", Colour::Green).seal(&rogue, 1).unwrap();
    let report = verify(&text, &w.trust, NOW, DEFAULT_SKEW);
    assert_eq!(report.signature.outcome, Some("no_key"));
    assert!(failed_stage(&report).contains(&"signature"));
    assert!(!report.valid);
    assert!(!verify(&text, &TrustStore::new(), NOW, DEFAULT_SKEW).valid);

    // A forger who copies Shenzhen's kid into a pass signed with their own key.
    let claims = pass_for("440300", Colour::Green).to_claims();
    let payload = healthcode_pass::cwt::encode_claims(&claims).unwrap();
    let protected = coset::HeaderBuilder::new()
        .algorithm(coset::iana::Algorithm::EdDSA)
        .key_id(w.shenzhen.kid().0.clone())
        .build();
    let forged = coset::CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(&[], |tbs| rogue.sign(tbs).unwrap())
        .build();
    use coset::TaggedCborSerializable;
    let text = encode(&forged.to_tagged_vec().unwrap());
    let report = verify(&text, &w.trust, NOW, DEFAULT_SKEW);
    assert_eq!(report.signature.outcome, Some("invalid"));
    assert_eq!(failed_stage(&report), ["signature"]);
}

fn encode(cose: &[u8]) -> String {
    prefix::add(
        CodeKind::Pass,
        &base45::encode(&compress::compress(cose, 1).unwrap()),
    )
}

fn decode(text: &str) -> Vec<u8> {
    let (_, b45) = prefix::strip(text).unwrap();
    compress::decompress(&base45::decode(b45).unwrap(), compress::MAX_DECOMPRESSED).unwrap()
}

#[test]
fn altered_pass_fails_signature() {
    let w = world();
    let text = pass_for("440300", Colour::Red)
        .seal(&w.shenzhen, 1)
        .unwrap();
    let mut cose = decode(&text);
    // Repaint red as green inside the signed payload.
    let at = cose.windows(3).position(|win| win == b"red").unwrap();
    cose.splice(at..at + 3, *b"green");
    // Fix the text length byte (0x63 = text(3) → 0x65 = text(5)) and the payload bstr length.
    cose[at - 1] = 0x65;
    let report = verify(&encode(&cose), &w.trust, NOW, DEFAULT_SKEW);
    assert!(!report.valid);
    assert!(
        failed_stage(&report).contains(&"signature") || failed_stage(&report).contains(&"cose"),
        "{:?}",
        failed_stage(&report)
    );
    // Flipping any single character of the text never yields a valid pass.
    for i in (5..text.len()).step_by(7) {
        let mut bytes = text.clone().into_bytes();
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(bytes).unwrap();
        assert!(
            !verify(&altered, &w.trust, NOW, DEFAULT_SKEW).valid,
            "flip at {i}"
        );
    }
}

#[test]
fn region_key_cannot_sign_for_another_region() {
    let w = world();
    let text = pass_for("440300", Colour::Green)
        .seal(&w.beijing, 1)
        .unwrap();
    let report = verify(&text, &w.trust, NOW, DEFAULT_SKEW);
    assert_eq!(report.signature.outcome, Some("valid"));
    assert_eq!(failed_stage(&report), ["key_usage"]);
}

#[test]
fn key_rotation_old_key_verifies_until_its_passes_expire() {
    let w = world();
    let old = &w.shenzhen;
    let new = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let rotated = NOW;
    let list = TrustList {
        version: 1,
        issuer: "hub".into(),
        sequence: 2,
        issued_at: rotated,
        valid_until: rotated + Duration::days(1),
        entries: vec![
            TrustListEntry::for_key(
                "440300",
                old.verifying_key(),
                NOW - Duration::days(30),
                rotated,
            ),
            TrustListEntry::for_key(
                "440300",
                new.verifying_key(),
                rotated,
                rotated + Duration::days(30),
            ),
        ],
        revoked: Vec::new(),
        regions: Vec::new(),
    };
    let (_, trust) = TrustList::verify(
        &list.sign(&w.root).unwrap(),
        w.root.verifying_key(),
        rotated,
    )
    .unwrap();
    let before = pass_for("440300", Colour::Green).seal(old, 1).unwrap();
    assert!(
        verify(
            &before,
            &trust,
            rotated + Duration::minutes(2),
            DEFAULT_SKEW
        )
        .valid
    );
    // A pass the old key signs after its retirement is refused.
    let mut late = pass_for("440300", Colour::Green);
    late.issued_at += 600;
    late.expires_at += 600;
    let late = late.seal(old, 1).unwrap();
    let report = verify(&late, &trust, rotated + Duration::minutes(11), DEFAULT_SKEW);
    assert_eq!(report.expiry.outcome, Some("key_not_valid"));
    let fresh = pass_for("440300", Colour::Green).seal(&new, 1).unwrap();
    assert!(verify(&fresh, &trust, rotated + Duration::minutes(1), DEFAULT_SKEW).valid);
}

#[test]
fn venue_codes_verify_and_are_not_passes() {
    let w = world();
    let venue = VenueCode::new(
        "SZ-MTR-L1-0042",
        "深圳地铁1号线 罗湖站",
        RegionCode::parse("440300").unwrap(),
        "metro",
        NOW,
        healthcode_pass::venue::DEFAULT_VALIDITY,
    )
    .unwrap();
    let text = venue.seal(&w.shenzhen, 6).unwrap();
    assert!(text.starts_with("HCV1:"));
    assert_eq!(
        qr::decode_png(&qr::render_png(&text, 3).unwrap()).unwrap(),
        text
    );
    let report = verify(&text, &w.trust, NOW + Duration::days(100), DEFAULT_SKEW);
    assert!(report.valid, "{report:?}");
    assert_eq!(
        serde_json::from_value::<VenueCode>(report.content_json().unwrap()).unwrap(),
        venue
    );
    // The same signed content presented as a pass fails the schema stage.
    let as_pass = text.replacen("HCV1:", "HCP1:", 1);
    assert_eq!(
        failed_stage(&verify(&as_pass, &w.trust, NOW, DEFAULT_SKEW)),
        ["schema"]
    );
    let _ = Usage::Venue;
}

#[test]
fn hostile_inputs_give_stage_errors() {
    let w = world();
    let check = |text: &str, stage: &str| {
        let report = verify(text, &w.trust, NOW, DEFAULT_SKEW);
        assert!(!report.valid);
        assert_eq!(
            failed_stage(&report).first().copied(),
            Some(stage),
            "{text:.40}"
        );
    };
    check("", "prefix");
    check("https://example.invalid/", "prefix");
    check("HCP1:abc", "base45");
    check("HCP1:AAAA", "base45");
    check("HCP1:", "decompress");
    check(&format!("HCP1:{}", "0".repeat(1 << 20)), "prefix");
    check(&format!("HCP1:{}", "0".repeat(3000)), "decompress");
    // A zlib bomb that fits in a QR code: 2 MB of zeros, stopped at the cap.
    let bomb = prefix::add(
        CodeKind::Pass,
        &base45::encode(&compress::compress(&vec![0u8; 2 << 20], 9).unwrap()),
    );
    assert!(bomb.len() < prefix::MAX_TEXT);
    check(&bomb, "decompress");
    // A larger one is refused before decoding.
    let bomb = compress::compress(&vec![0u8; 50 << 20], 9).unwrap();
    check(
        &prefix::add(CodeKind::Pass, &base45::encode(&bomb)),
        "prefix",
    );
    // Deeply nested CBOR inside a valid zlib stream.
    let deep = [vec![0x81u8; 60_000], vec![0]].concat();
    check(&encode(&deep), "cose");
    // A COSE_Sign1 whose payload is deeply nested.
    let nested = coset::CoseSign1Builder::new()
        .protected(
            coset::HeaderBuilder::new()
                .algorithm(coset::iana::Algorithm::EdDSA)
                .key_id(w.shenzhen.kid().0.clone())
                .build(),
        )
        .payload([vec![0x81u8; 10_000], vec![0]].concat())
        .create_signature(&[], |tbs| w.shenzhen.sign(tbs).unwrap())
        .build();
    use coset::TaggedCborSerializable;
    let report = verify(
        &encode(&nested.to_tagged_vec().unwrap()),
        &w.trust,
        NOW,
        DEFAULT_SKEW,
    );
    assert_eq!(report.signature.outcome, Some("valid"));
    assert!(failed_stage(&report).contains(&"schema"));
    // Truncations of a valid pass.
    let text = pass_for("440300", Colour::Green)
        .seal(&w.shenzhen, 1)
        .unwrap();
    for cut in (0..text.len()).step_by(5) {
        assert!(!verify(&text[..cut], &w.trust, NOW, DEFAULT_SKEW).valid);
    }
    // Random bytes behind a valid prefix, through every stage.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 300) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| (seed >> (i % 56)) as u8 ^ i as u8)
            .collect();
        let _ = verify(&encode(&bytes), &w.trust, NOW, DEFAULT_SKEW);
        let _ = verify(
            &prefix::add(CodeKind::EuDcc, &base45::encode(&bytes)),
            &w.trust,
            NOW,
            DEFAULT_SKEW,
        );
    }
}

#[test]
fn rendered_qr_images_decode_back() {
    let w = world();
    let texts = [
        pass_for("440300", Colour::Green)
            .seal(&w.shenzhen, 1)
            .unwrap(),
        pass_for("110000", Colour::Yellow)
            .seal(&w.beijing, 9)
            .unwrap(),
    ];
    for text in &texts {
        for px in [2, 4] {
            let png = qr::render_png(text, px).unwrap();
            assert_eq!(&qr::decode_png(&png).unwrap(), text);
        }
        let svg = qr::render_svg(text).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<path"));
    }
}

fn colour() -> impl Strategy<Value = Colour> {
    prop_oneof![
        Just(Colour::Green),
        Just(Colour::Yellow),
        Just(Colour::Red),
        Just(Colour::Pending)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_pass_round_trips(
        colour in colour(),
        name in "[\\u4e00-\\u9fa5]{1,6}|[A-Z][a-z]{1,10} [A-Z][a-z]{1,10}",
        policy in "[a-z0-9.-]{1,64}",
        tail in "[0-9X]{1,4}",
        minutes in 1i64..=1440,
        level in 0u32..=9,
        es256 in any::<bool>(),
    ) {
        let w = world();
        let mut p = pass_for(if es256 { "110000" } else { "440300" }, colour);
        p.masked_name = pass::mask_name(&name);
        if !p.masked_name.contains('*') { p.masked_name.push('*'); }
        p.policy_version = policy;
        p.document_tail = tail;
        p.expires_at = p.issued_at + minutes * 60;
        let key = if es256 { &w.beijing } else { &w.shenzhen };
        let text = p.seal(key, level).unwrap();
        let report = verify(&text, &w.trust, NOW, DEFAULT_SKEW);
        prop_assert!(report.valid, "{:?}", report);
        prop_assert_eq!(serde_json::from_value::<Pass>(report.content_json().unwrap()).unwrap(), p);
    }

    #[test]
    fn any_text_gives_a_report(text in ".{0,200}") {
        let w = world();
        let report = verify(&text, &w.trust, NOW, DEFAULT_SKEW);
        prop_assert!(!report.valid);
    }
}

#[test]
fn qr_of_proptest_sized_pass_decodes() {
    // The largest pass (long policy version, 6-character name) still fits and scans.
    let w = world();
    let mut p = pass_for("440300", Colour::Yellow);
    p.policy_version = "x".repeat(64);
    p.masked_name = "欧*娜".into();
    let text = p.seal(&w.shenzhen, 1).unwrap();
    let png = qr::render_png(&text, 3).unwrap();
    assert_eq!(qr::decode_png(&png).unwrap(), text);
}

#[test]
fn worked_example_in_docs_is_current() {
    // Same inputs as examples/pass_format.rs; Ed25519 signatures are deterministic.
    let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let pkcs8: Vec<u8> = [
        vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ],
        hex::decode(seed).unwrap(),
    ]
    .concat();
    let key = SigningKey::from_pkcs8(Algorithm::EdDSA, &pkcs8).unwrap();
    let now = datetime!(2020-04-03 14:02:00 +08:00);
    let mut p = Pass::new(
        RegionCode::parse("440300").unwrap(),
        now,
        pass::DEFAULT_VALIDITY,
        Colour::Green,
        datetime!(2020-04-03 14:00:00 +08:00),
        "440300-2020.4",
        pass::pseudonym(b"example node secret", "person-1"),
        pass::mask_name("张小三"),
        DocumentKind::ResidentId,
        pass::document_tail("44030019900101123X"),
    )
    .unwrap();
    p.serial = (1..=16).collect();
    let text = p.seal(&key, compress::PASS_LEVEL).unwrap();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PASS-FORMAT.md"
    ))
    .unwrap();
    assert!(
        doc.contains(&text),
        "docs/PASS-FORMAT.md: rerun `cargo run -p healthcode-pass --example pass_format`"
    );
    let mut trust = TrustStore::new();
    trust.add(healthcode_pass::trust::TrustedKey::new(
        key.verifying_key().clone(),
    ));
    assert!(verify(&text, &trust, now, DEFAULT_SKEW).valid);
}

#[test]
fn protected_kid_is_never_overridden_by_the_unprotected_one() {
    use coset::TaggedCborSerializable;
    let w = world();
    let payload =
        healthcode_pass::cwt::encode_claims(&pass_for("440300", Colour::Green).to_claims())
            .unwrap();
    let build = |protected_kid: Option<Vec<u8>>, unprotected_kid: Option<Vec<u8>>| {
        let mut protected = coset::HeaderBuilder::new().algorithm(coset::iana::Algorithm::EdDSA);
        if let Some(k) = protected_kid {
            protected = protected.key_id(k);
        }
        let mut unprotected = coset::HeaderBuilder::new();
        if let Some(k) = unprotected_kid {
            unprotected = unprotected.key_id(k);
        }
        let signed = coset::CoseSign1Builder::new()
            .protected(protected.build())
            .unprotected(unprotected.build())
            .payload(payload.clone())
            .create_signature(&[], |tbs| w.shenzhen.sign(tbs).unwrap())
            .build();
        encode(&signed.to_tagged_vec().unwrap())
    };
    let real = w.shenzhen.kid().0.clone();
    // Unprotected kid only: accepted (hcert allows it).
    let report = verify(
        &build(None, Some(real.clone())),
        &w.trust,
        NOW,
        DEFAULT_SKEW,
    );
    assert!(report.valid, "{report:?}");
    assert!(report.cose.reason.as_deref().unwrap().contains("kid"));
    // A protected kid that names no key: the correct unprotected kid is not used.
    let report = verify(
        &build(Some(vec![0; 8]), Some(real)),
        &w.trust,
        NOW,
        DEFAULT_SKEW,
    );
    assert_eq!(report.signature.outcome, Some("no_key"));
}
