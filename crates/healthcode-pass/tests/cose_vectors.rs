//! Every vector of the COSE test data (cose-wg/Examples, in testdata/cose): COSE_Sign1 pass and fail,
//! ECDSA, EdDSA and RSA-PSS examples (COSE_Sign1 and COSE_Sign), and the CWT examples of
//! RFC 8392 Appendix A. Algorithms we do not implement must be reported as such, never as a
//! valid or invalid signature; they are listed below with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coset::{CborSerializable, CoseEncrypt0, CoseMac0, CoseSign, TaggedCborSerializable};
use healthcode_pass::cose::{self, SignatureCheck};
use healthcode_pass::cwt;
use healthcode_pass::keys::{Algorithm, Kid, VerifyingKey};
use serde_json::Value;

/// cose-wg/Examples, kept in the repository (testdata/README.md says where from).
const COSE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/cose");

fn read_dir(dir: &Path) -> std::fs::ReadDir {
    std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the COSE vectors {}: {e} (they are part of the repository: testdata/cose)",
            dir.display()
        )
    })
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Vectors whose algorithm we do not implement, and why.
const UNSUPPORTED: [(&str, &str); 8] = [
    (
        "ecdsa-examples/ecdsa-03.json",
        "ES512 on P-521: not used by passes or EU certificates",
    ),
    (
        "ecdsa-examples/ecdsa-sig-03.json",
        "ES512 on P-521: not used by passes or EU certificates",
    ),
    (
        "ecdsa-examples/ecdsa-04.json",
        "ES512 over a P-256 key: an alg/curve mismatch, not implemented",
    ),
    (
        "ecdsa-examples/ecdsa-sig-04.json",
        "ES512 over a P-256 key: an alg/curve mismatch, not implemented",
    ),
    (
        "eddsa-examples/eddsa-02.json",
        "Ed448: ring implements Ed25519 only",
    ),
    (
        "eddsa-examples/eddsa-sig-02.json",
        "Ed448: ring implements Ed25519 only",
    ),
    (
        "CWT/A_5.json",
        "COSE_Encrypt0 with AES-CCM: passes are signed, not encrypted; structure only",
    ),
    (
        "CWT/A_6.json",
        "COSE_Encrypt0 with AES-CCM: passes are signed, not encrypted; structure only",
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// A JWK field given as base64url (`x`) or hex (`x_hex`).
fn field(key: &Value, name: &str) -> Option<Vec<u8>> {
    if let Some(h) = key.get(format!("{name}_hex")).and_then(Value::as_str) {
        return Some(unhex(h));
    }
    key.get(name)
        .and_then(Value::as_str)
        .map(|s| URL_SAFE_NO_PAD.decode(s).unwrap())
}

/// DER of a positive INTEGER.
fn der_int(bytes: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    [vec![0x02], der_len(v.len()), v].concat()
}

fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=127 => vec![n as u8],
        128..=255 => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

/// The verifying key of a JWK for `alg`, or None when we do not implement its curve.
fn jwk_key(key: &Value, alg: Algorithm) -> Option<VerifyingKey> {
    let kid = Kid(key
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .as_bytes()
        .to_vec());
    let raw = match (key["kty"].as_str()?, key.get("crv").and_then(Value::as_str)) {
        ("EC", Some("P-256" | "P-384")) => [vec![4], field(key, "x")?, field(key, "y")?].concat(),
        ("OKP", Some("Ed25519")) => field(key, "x")?,
        ("RSA", _) => {
            let body = [der_int(&field(key, "n")?), der_int(&field(key, "e")?)].concat();
            [vec![0x30], der_len(body.len()), body].concat()
        }
        _ => return None,
    };
    Some(VerifyingKey::from_raw(alg, raw, kid))
}

fn curve_fits(key: &Value, alg: Algorithm) -> bool {
    match (alg, key.get("crv").and_then(Value::as_str)) {
        (Algorithm::ES256, Some(c)) => c == "P-256",
        (Algorithm::ES384, Some(c)) => c == "P-384",
        (Algorithm::EdDSA, Some(c)) => c == "Ed25519",
        _ => true,
    }
}

/// Checks one signer; returns whether the signature verified, or Err for unsupported.
fn check(
    alg: Option<&coset::Algorithm>,
    key: &Value,
    tbs: &[u8],
    signature: &[u8],
) -> Result<bool, String> {
    let alg = alg.ok_or("no alg")?;
    let ours = Algorithm::from_cose(alg).ok_or(format!("unsupported algorithm {alg:?}"))?;
    if !curve_fits(key, ours) {
        return Err(format!("{ours} with curve {:?}", key.get("crv")));
    }
    let key = jwk_key(key, ours).ok_or("unsupported key")?;
    Ok(key.verify(tbs, signature))
}

fn run(rel: &str, doc: &Value) -> Result<bool, String> {
    let input = &doc["input"];
    let bytes = unhex(doc["output"]["cbor"].as_str().unwrap());
    if let Some(sign0) = input.get("sign0") {
        let aad = sign0
            .get("external")
            .and_then(Value::as_str)
            .map(unhex)
            .unwrap_or_default();
        let parsed = match cose::parse(&bytes) {
            Ok(p) => p,
            Err(e) => {
                // A structure the parser refuses counts as "does not verify".
                println!("{rel}: rejected at the COSE stage ({e})");
                return Ok(false);
            }
        };
        let key_json = &sign0["key"];
        if let Some(alg) = parsed.alg.as_ref().and_then(Algorithm::from_cose)
            && curve_fits(key_json, alg)
        {
            let key = jwk_key(key_json, alg).unwrap();
            let outcome = cose::verify_with(&parsed, &key, &aad);
            // Cross-check the library's outcome with a raw key check over either encoding of the
            // protected header.
            let raw = [false, true].iter().any(|canonical| {
                check(
                    parsed.alg.as_ref(),
                    key_json,
                    &cose::sig_structure(&parsed, &aad, *canonical),
                    &parsed.message.signature,
                ) == Ok(true)
            });
            assert_eq!(raw, outcome == SignatureCheck::Valid, "{rel}");
            return Ok(outcome == SignatureCheck::Valid);
        }
        let alg = parsed.alg.as_ref();
        return match check(alg, key_json, &[], &[]) {
            Err(e) => Err(e),
            Ok(_) => unreachable!(),
        }
        .or_else(|e| {
            // An unknown algorithm in a fail vector is a correct rejection.
            if doc.get("fail").and_then(Value::as_bool) == Some(true) {
                println!("{rel}: rejected: {e}");
                Ok(false)
            } else {
                Err(e)
            }
        });
    }
    if let Some(sign) = input.get("sign") {
        let message = CoseSign::from_tagged_slice(&bytes)
            .or_else(|_| CoseSign::from_slice(&bytes))
            .map_err(|e| format!("structure: {e}"))?;
        let mut all = true;
        for (i, signer) in sign["signers"].as_array().unwrap().iter().enumerate() {
            let sig = &message.signatures[i];
            let alg = sig
                .protected
                .header
                .alg
                .as_ref()
                .or(sig.unprotected.alg.as_ref());
            let tbs = message.tbs_data(&[], sig);
            all &= check(alg, &signer["key"], &tbs, &sig.signature)?;
        }
        return Ok(all);
    }
    if let Some(mac0) = input.get("mac0") {
        let message = CoseMac0::from_tagged_slice(&bytes).map_err(|e| e.to_string())?;
        let key = field(&mac0["recipients"][0]["key"], "k").unwrap();
        // HMAC 256/64: the tag is truncated to 8 bytes.
        let ok = message
            .verify_payload_tag(
                &[],
                || (),
                |tag, data| {
                    let full = ring::hmac::sign(
                        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
                        data,
                    );
                    if full.as_ref()[..8] == *tag {
                        Ok(())
                    } else {
                        Err(())
                    }
                },
            )
            .is_ok();
        check_cwt_claims(rel, message.payload.as_deref().unwrap(), input);
        return Ok(ok);
    }
    if input.get("encrypted").is_some() {
        let message =
            CoseEncrypt0::from_tagged_slice(&bytes).map_err(|e| format!("structure: {e}"))?;
        assert!(message.ciphertext.is_some_and(|c| !c.is_empty()));
        return Err("AES-CCM decryption not implemented".into());
    }
    panic!("{rel}: unknown vector type");
}

/// The RFC 8392 claims (A.1) or the float-date claims set (A.7) decode as published.
fn check_cwt_claims(rel: &str, payload: &[u8], input: &Value) {
    let expected = unhex(input["plaintext_hex"].as_str().unwrap());
    assert_eq!(payload, expected, "{rel}: payload");
    let claims = cwt::decode_claims(payload).unwrap();
    if claims.iss.is_some() {
        assert_eq!(claims.iss.as_deref(), Some("coap://as.example.com"));
        assert_eq!(claims.sub.as_deref(), Some("erikw"));
        assert_eq!(claims.aud.as_deref(), Some("coap://light.example.com"));
        assert_eq!(claims.exp, Some(1_444_064_944));
        assert_eq!(claims.nbf, Some(1_443_944_944));
        assert_eq!(claims.iat, Some(1_443_944_944));
        assert_eq!(claims.cti.as_deref(), Some(&[0x0b, 0x71][..]));
    } else {
        // A.7: iat 1443944944.5 as a float.
        assert_eq!(claims.iat, Some(1_443_944_944));
    }
}

#[test]
fn every_cose_vector() {
    let mut files = Vec::new();
    for dir in read_dir(Path::new(COSE_DIR)) {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for f in read_dir(&dir) {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    let (mut passed, mut unsupported, mut failed) = (0, 0, Vec::new());
    for path in &files {
        let rel = path
            .strip_prefix(COSE_DIR)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let doc = load(path);
        let should_fail = doc.get("fail").and_then(Value::as_bool) == Some(true);
        let listed = UNSUPPORTED.iter().find(|(f, _)| *f == rel);
        match (run(&rel, &doc), listed) {
            (Ok(valid), None) if valid != should_fail => passed += 1,
            (Err(e), Some((_, why))) => {
                unsupported += 1;
                println!("{rel}: unsupported as listed ({e}): {why}");
            }
            (outcome, _) => {
                failed.push(format!("{rel}: {outcome:?}, fail expected: {should_fail}"))
            }
        }
        if rel == "CWT/A_3.json" {
            let parsed = cose::parse(&unhex(doc["output"]["cbor"].as_str().unwrap())).unwrap();
            check_cwt_claims(&rel, parsed.payload(), &doc["input"]);
        }
    }
    for f in &failed {
        println!("FAIL {f}");
    }
    println!(
        "COSE: {} vectors, {passed} passed, {unsupported} unsupported (listed), {} failed",
        files.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{} COSE vectors failed", failed.len());
    // Every vector is counted: none may go missing unnoticed.
    assert_eq!(
        (files.len(), passed, unsupported),
        (29, 21, UNSUPPORTED.len())
    );
}

#[test]
fn hcert_header_rules() {
    // sign-pass-01: an empty protected map encoded as h'A0' and alg in the unprotected header;
    // the signature covers the A0 byte exactly as received.
    let doc = load(&Path::new(COSE_DIR).join("sign1-tests/sign-pass-01.json"));
    let parsed = cose::parse(&unhex(doc["output"]["cbor"].as_str().unwrap())).unwrap();
    assert!(parsed.alg_unprotected && parsed.kid_unprotected);
    assert_eq!(parsed.kid.as_deref(), Some(&b"11"[..]));
}
