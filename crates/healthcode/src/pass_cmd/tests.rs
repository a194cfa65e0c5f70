//! The pass commands end to end, through files as an operator would use them.

use super::*;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2020-04-03 06:00 UTC);
/// The public test data kept in the repository (testdata/README.md).
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hc-pass-cmd-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn issue(keys: &std::path::Path, region: &str, png: Option<PathBuf>) -> Outcome {
    pass_issue(
        &PassIssueArgs {
            keys: keys.to_path_buf(),
            region: region.into(),
            colour: "yellow".into(),
            name: "李小龙".into(),
            document_kind: "resident_id".into(),
            document_number: "110101199003074477".into(),
            person_id: "p-42".into(),
            policy_version: DEFAULT_POLICY_VERSION.into(),
            validity_seconds: DEFAULT_VALIDITY_SECONDS,
            colour_at: None,
            at: None,
            level: DEFAULT_LEVEL,
            images: ImageArgs { png, svg: None },
        },
        NOW,
    )
}

#[test]
fn operator_flow_two_regions() {
    let dir = tmp("flow");
    let (sz, bj, hub) = (dir.join("sz"), dir.join("bj"), dir.join("hub"));
    let keys = |d: &PathBuf, alg: &str| KeysArgs {
        dir: d.clone(),
        alg: alg.into(),
    };
    assert_eq!(keys_generate(&keys(&sz, "ed25519"), NOW).exit_code, 0);
    let generated = keys_generate(&keys(&bj, "es256"), NOW);
    assert_eq!(generated.json["active"]["alg"], "ES256");
    let list_file = dir.join("trust.cose");
    let built = trust_list_build(
        &TrustListBuildArgs {
            root_dir: hub.clone(),
            keyrings: vec![
                format!("440300={}", sz.display()),
                format!("110000={}", bj.display()),
            ],
            public_keys: vec![],
            out: list_file.clone(),
            issuer: "hub".into(),
            sequence: 1,
            valid_days: 7,
            key_validity_days: 365,
            at: None,
        },
        NOW,
    );
    assert_eq!(built.exit_code, 0, "{}", built.json);
    assert_eq!(built.json["list"]["entries"].as_array().unwrap().len(), 2);
    let root_pub = hub.join("public.pem");
    let checked = trust_list_verify(
        &TrustListVerifyArgs {
            file: list_file.clone(),
            root_key: root_pub.clone(),
            at: None,
        },
        NOW,
    );
    assert_eq!(checked.exit_code, 0);
    let late = trust_list_verify(
        &TrustListVerifyArgs {
            file: list_file.clone(),
            root_key: root_pub.clone(),
            at: Some("2020-04-20T00:00:00Z".into()),
        },
        NOW,
    );
    assert_eq!(late.exit_code, 1);

    let png = dir.join("pass.png");
    let issued = issue(&bj, "110000", Some(png.clone()));
    assert_eq!(issued.exit_code, 0, "{}", issued.json);
    let text = issued.json["text"].as_str().unwrap().to_owned();
    let base = VerifyCommand {
        trust_list: Some(list_file.clone()),
        root_key: Some(root_pub.clone()),
        ..VerifyCommand::default()
    };
    let by_text = VerifyCommand {
        text: Some(text.clone()),
        ..base.clone()
    };
    let out = verify_at(&by_text, NOW + Duration::minutes(1), &mut std::io::empty());
    assert_eq!(out.exit_code, 0, "{}", out.json);
    assert_eq!(out.json["content"]["masked_name"], "李*龙");
    assert_eq!(out.json["content"]["document_tail"], "4477");
    assert_eq!(out.json["signature"]["status"], "ok");
    let by_image = VerifyCommand {
        image: Some(png),
        ..base.clone()
    };
    assert_eq!(
        verify_at(&by_image, NOW, &mut std::io::empty()).exit_code,
        0
    );
    let by_stdin = VerifyCommand {
        text: Some("-".into()),
        ..base.clone()
    };
    assert_eq!(
        verify_at(&by_stdin, NOW, &mut format!("{text}\n").as_bytes()).exit_code,
        0
    );
    // Expired: exit 1 with the stage.
    let out = verify_at(&by_text, NOW + Duration::minutes(10), &mut std::io::empty());
    assert_eq!(out.exit_code, 1);
    assert_eq!(out.json["expiry"]["status"], "failed");
    // Rotation: the old key's pass still verifies with a rebuilt list; the new key signs.
    assert_eq!(keys_rotate(&keys(&bj, "es256"), NOW).exit_code, 0);
    let rebuilt = trust_list_build(
        &TrustListBuildArgs {
            root_dir: hub.clone(),
            keyrings: vec![format!("110000={}", bj.display())],
            public_keys: vec![],
            out: list_file.clone(),
            issuer: "hub".into(),
            sequence: 2,
            valid_days: 7,
            key_validity_days: 365,
            at: None,
        },
        NOW,
    );
    assert_eq!(rebuilt.json["list"]["entries"].as_array().unwrap().len(), 2);
    assert_eq!(
        verify_at(&by_text, NOW + Duration::minutes(1), &mut std::io::empty()).exit_code,
        0
    );
    // A tampered trust list is unusable input: exit 2.
    let mut bytes = std::fs::read(&list_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&list_file, bytes).unwrap();
    let out = verify_at(&by_text, NOW, &mut std::io::empty());
    assert_eq!(out.exit_code, 2, "{}", out.json);

    let venue = venue_code_at(
        &VenueCodeCommand {
            keys: sz.clone(),
            region: "440300".into(),
            venue_id: "V-1".into(),
            name: "华强北商场".into(),
            category: "mall".into(),
            validity_days: DEFAULT_VENUE_VALIDITY_DAYS,
            at: None,
            images: ImageArgs {
                png: None,
                svg: Some(dir.join("venue.svg")),
            },
        },
        NOW,
    );
    assert_eq!(venue.exit_code, 0);
    assert!(venue.json["text"].as_str().unwrap().starts_with("HCV1:"));
    assert!(
        std::fs::read_to_string(dir.join("venue.svg"))
            .unwrap()
            .contains("<svg")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verifies_an_eu_certificate_with_its_signer_certificate() {
    let path = format!("{TESTDATA}/dcc/AT/2DCode/raw/1.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {path}: {e} (it is part of the repository: testdata/dcc)")
    });
    let case: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dir = tmp("eu");
    let cert = dir.join("signer.b64");
    std::fs::write(&cert, case["TESTCTX"]["CERTIFICATE"].as_str().unwrap()).unwrap();
    let args = VerifyCommand {
        text: Some(case["PREFIX"].as_str().unwrap().into()),
        certificates: vec![cert],
        at: Some(case["TESTCTX"]["VALIDATIONCLOCK"].as_str().unwrap().into()),
        ..VerifyCommand::default()
    };
    let out = verify_at(&args, NOW, &mut std::io::empty());
    assert_eq!(out.exit_code, 0, "{}", out.json);
    assert_eq!(out.json["kind"], "eu_dcc");
    assert!(out.json["content"]["certificate"]["nam"].is_object());
    // The same certificate as PEM and as DER.
    use base64::Engine;
    let b64 = case["TESTCTX"]["CERTIFICATE"].as_str().unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let (pem, der_file) = (dir.join("signer.pem"), dir.join("signer.der"));
    std::fs::write(
        &pem,
        format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"),
    )
    .unwrap();
    std::fs::write(&der_file, der).unwrap();
    for file in [pem, der_file] {
        let out = verify_at(
            &VerifyCommand {
                certificates: vec![file],
                ..args.clone()
            },
            NOW,
            &mut std::io::empty(),
        );
        assert_eq!(out.exit_code, 0, "{}", out.json);
    }
    // Without the certificate: exit 1, no key for this kid.
    let out = verify_at(
        &VerifyCommand {
            certificates: vec![],
            ..args.clone()
        },
        NOW,
        &mut std::io::empty(),
    );
    assert_eq!(out.exit_code, 1);
    assert_eq!(out.json["signature"]["outcome"], "no_key");
    // Bad inputs are exit 2.
    let out = verify_at(
        &VerifyCommand {
            at: Some("yesterday".into()),
            ..args.clone()
        },
        NOW,
        &mut std::io::empty(),
    );
    assert_eq!(out.exit_code, 2);
    let out = verify_at(
        &VerifyCommand { text: None, ..args },
        NOW,
        &mut std::io::empty(),
    );
    assert_eq!(out.exit_code, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
