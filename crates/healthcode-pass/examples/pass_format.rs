//! Prints the worked example of docs/PASS-FORMAT.md: one pass through every stage, with a
//! fixed key (RFC 8032 test 1 seed) and serial so the bytes are reproducible.
//! `cargo run -p healthcode-pass --example pass_format`
#![allow(clippy::unwrap_used)]

use healthcode_core::region::RegionCode;
use healthcode_pass::keys::{Algorithm, SigningKey};
use healthcode_pass::pass::{self, Colour, DocumentKind, Pass};
use healthcode_pass::{base45, compress, cose, cwt, prefix, qr};
use time::macros::datetime;

fn main() {
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
    println!("kid (base64): {}", key.kid());
    println!("public key (SPKI PEM):\n{}", key.verifying_key().to_pem());
    println!(
        "content (JSON):\n{}\n",
        serde_json::to_string_pretty(&p).unwrap()
    );
    let claims = cwt::encode_claims(&p.to_claims()).unwrap();
    println!(
        "1. CWT claims, CBOR ({} bytes):\n{}\n",
        claims.len(),
        hex::encode(&claims)
    );
    let signed = cose::sign(claims, &key).unwrap();
    println!(
        "2. COSE_Sign1, tagged ({} bytes):\n{}\n",
        signed.len(),
        hex::encode(&signed)
    );
    let z = compress::compress(&signed, compress::PASS_LEVEL).unwrap();
    println!(
        "3. zlib, level {} ({} bytes):\n{}\n",
        compress::PASS_LEVEL,
        z.len(),
        hex::encode(&z)
    );
    let b45 = base45::encode(&z);
    println!("4. base45 ({} characters):\n{b45}\n", b45.len());
    let text = prefix::add(prefix::CodeKind::Pass, &b45);
    println!("5. with prefix:\n{text}\n");
    let svg = qr::render_svg(&text).unwrap();
    println!("6. QR: error correction Q, {} bytes of SVG", svg.len());
    if let Some(path) = std::env::args().nth(1) {
        std::fs::write(&path, qr::render_png(&text, 4).unwrap()).unwrap();
        println!("   PNG written to {path}");
    }
}
