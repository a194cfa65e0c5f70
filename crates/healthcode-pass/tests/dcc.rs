//! Every case of the shared EU DCC test data: for each EXPECTED* flag a file carries, the stage
//! it names must give the expected result. The folder is walked, so new countries are picked
//! up without code changes; cases in known_issues.csv may fail, each with its upstream reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use healthcode_pass::cert::SignerCertificate;
use healthcode_pass::compress::{self, MAX_DECOMPRESSED};
use healthcode_pass::instant::parse_instant;
use healthcode_pass::prefix::{self, CodeKind};
use healthcode_pass::trust::{TrustStore, TrustedKey};
use healthcode_pass::verify::{Report, verify_cose};
use healthcode_pass::{base45, cose, cwt, dcc, qr};
use serde_json::Value;
use time::Duration;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Upstream test names → the flag they check.
fn flag_of_test(name: &str) -> Option<&'static str> {
    Some(match name {
        "test_cose_schema" => "EXPECTEDSCHEMAVALIDATION",
        "test_cose_json" | "test_cose_cbor" => "EXPECTEDDECODE",
        "test_cbor_json" => "EXPECTEDVALIDJSON",
        "test_verification_check" => "EXPECTEDVERIFY",
        "test_expiration_check" => "EXPECTEDEXPIRATIONCHECK",
        "test_expected_key_usage" => "EXPECTEDKEYUSAGE",
        "test_compression" => "EXPECTEDCOMPRESSION",
        "test_b45decode" => "EXPECTEDB45DECODE",
        "test_un_prefix" => "EXPECTEDUNPREFIX",
        "test_picture_decode" => "EXPECTEDPICTUREDECODE",
        _ => return None,
    })
}

struct KnownIssue {
    flag: &'static str,
    country: String,
    test_set: String,
    reason: String,
}

fn known_issues(root: &Path) -> Vec<KnownIssue> {
    let text = std::fs::read_to_string(root.join("known_issues.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.splitn(4, ',').collect();
            KnownIssue {
                flag: flag_of_test(cols[0]).unwrap_or("?"),
                country: cols[1].to_owned(),
                test_set: cols[2].to_owned(),
                reason: cols.get(3).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Normalises a JSON value for semantic comparison: date-times to UTC seconds, numbers as f64.
fn normalise(v: &Value) -> Value {
    match v {
        Value::String(s) => match parse_instant(s) {
            Ok(t) => Value::String(
                t.checked_to_offset(time::UtcOffset::UTC)
                    .unwrap()
                    .replace_nanosecond(0)
                    .unwrap()
                    .to_string(),
            ),
            Err(_) => v.clone(),
        },
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        }
        other => other.clone(),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    normalise(a) == normalise(b)
}

/// The certificate inside a CBOR payload: a claims set's hcert, or the bare certificate.
fn dcc_of_cbor(bytes: &[u8]) -> Option<Value> {
    if let Ok(claims) = cwt::decode_claims(bytes)
        && let Ok(json) = dcc::hcert_json(&claims)
    {
        return Some(json);
    }
    cwt::decode_value(bytes).ok().map(|v| cwt::to_json(&v))
}

struct Case {
    doc: Value,
}

impl Case {
    fn str(&self, key: &str) -> Option<&str> {
        self.doc.get(key).and_then(Value::as_str)
    }

    fn ctx(&self, key: &str) -> Option<&str> {
        self.doc
            .get("TESTCTX")
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
    }

    fn report(&self) -> Option<Report> {
        let cose = unhex(self.str("COSE")?)?;
        let mut trust = TrustStore::new();
        if let Some(cert) = self.ctx("CERTIFICATE")
            && let Ok(cert) = SignerCertificate::load(cert.as_bytes())
        {
            trust.add(TrustedKey::from_certificate(cert));
        }
        let now = parse_instant(self.ctx("VALIDATIONCLOCK")?).ok()?;
        Some(verify_cose(
            CodeKind::EuDcc,
            &cose,
            &trust,
            now,
            Duration::ZERO,
        ))
    }

    /// Whether the stage named by `flag` succeeds; None when the file lacks its inputs.
    fn stage(&self, flag: &str, report: &Option<Report>) -> Option<bool> {
        Some(match flag {
            "EXPECTEDPICTUREDECODE" => {
                let png = STANDARD.decode(self.str("2DCODE")?.trim()).ok();
                let expected = self.str("PREFIX")?;
                png.and_then(|p| qr::decode_png(&p).ok()).as_deref() == Some(expected)
            }
            "EXPECTEDUNPREFIX" => {
                let b45 = self.str("BASE45")?;
                matches!(prefix::strip(self.str("PREFIX")?), Ok((CodeKind::EuDcc, rest)) if rest == b45)
            }
            "EXPECTEDB45DECODE" => {
                let compressed = unhex(self.str("COMPRESSED")?);
                base45::decode(self.str("BASE45")?).ok() == compressed
            }
            "EXPECTEDCOMPRESSION" => {
                let cose = unhex(self.str("COSE")?);
                let compressed = unhex(self.str("COMPRESSED")?)?;
                compress::decompress(&compressed, MAX_DECOMPRESSED).ok() == cose
            }
            "EXPECTEDVERIFY" => report.as_ref()?.signature.is_ok(),
            "EXPECTEDEXPIRATIONCHECK" => report.as_ref()?.expiry.is_ok(),
            "EXPECTEDKEYUSAGE" => report.as_ref()?.key_usage.is_ok(),
            "EXPECTEDSCHEMAVALIDATION" => report.as_ref()?.schema.is_ok(),
            "EXPECTEDDECODE" => {
                let json = self.doc.get("JSON")?;
                let cose = cose::parse(&unhex(self.str("COSE")?)?).ok();
                let from_cose = cose.and_then(|c| dcc_of_cbor(c.payload()));
                let cose_ok = from_cose.is_some_and(|d| same(&d, json));
                let cbor_ok = match self.str("CBOR") {
                    Some(cbor) => unhex(cbor)
                        .and_then(|b| dcc_of_cbor(&b))
                        .is_some_and(|d| same(&d, json)),
                    None => true,
                };
                cose_ok && cbor_ok
            }
            "EXPECTEDVALIDJSON" => {
                let json = self.doc.get("JSON")?;
                match self.str("PREFIX") {
                    Some(text) => whole_chain(text).is_some_and(|d| same(&d, json)),
                    None => unhex(self.str("CBOR")?)
                        .and_then(|b| dcc_of_cbor(&b))
                        .is_some_and(|d| same(&d, json)),
                }
            }
            "EXPECTEDVALIDOBJECT" => {
                // The generator's check: the JSON is a certificate object naming its release.
                let json = self.doc.get("JSON")?;
                json.get("ver").and_then(Value::as_str) == self.ctx("SCHEMA")
                    && dcc::certificate_type(json).is_ok()
            }
            "EXPECTEDENCODE" => {
                let json = self.doc.get("JSON")?;
                unhex(self.str("CBOR")?)
                    .and_then(|b| dcc_of_cbor(&b))
                    .is_some_and(|d| same(&d, json))
            }
            _ => return None,
        })
    }
}

fn whole_chain(text: &str) -> Option<Value> {
    let (_, b45) = prefix::strip(text).ok()?;
    let compressed = base45::decode(b45).ok()?;
    let signed = compress::decompress(&compressed, MAX_DECOMPRESSED).ok()?;
    let sign1 = cose::parse(&signed).ok()?;
    dcc_of_cbor(sign1.payload())
}

#[test]
fn every_dcc_case() {
    let root = Path::new(TESTDATA).join("dcc");
    let issues = known_issues(&root);
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let (mut passed, mut known, mut no_input) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut unread = BTreeMap::<String, Vec<String>>::new();
    let mut cases = 0usize;
    // Decoding 400 PNGs is slow in a debug build: use both cores.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (next, root, issues, files) = (&next, &root, &issues, &files);
    let outcomes: Vec<FileOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break done };
                        done.push(check_file(root, path, issues));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for o in outcomes {
        cases += o.case as usize;
        passed += o.passed;
        no_input += o.no_input;
        for line in o.known {
            known += 1;
            println!("known issue: {line}");
        }
        failures.extend(o.failures);
        for (flag, file) in o.unread {
            unread.entry(flag).or_default().push(file);
        }
    }
    for (flag, files) in &unread {
        println!(
            "flag not read: {flag} in {} files (e.g. {})",
            files.len(),
            files[0]
        );
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    println!(
        "DCC: {cases} files, {passed} stage checks passed, {known} known issues, {} failed, {no_input} flags without the inputs they test",
        failures.len()
    );
    assert!(cases >= 400, "test data missing? found {cases} cases");
    assert!(
        failures.is_empty(),
        "{} DCC stage checks failed",
        failures.len()
    );
}

fn flag_of_known(flag: &str) -> Option<()> {
    const KNOWN: [&str; 12] = [
        "EXPECTEDPICTUREDECODE",
        "EXPECTEDUNPREFIX",
        "EXPECTEDB45DECODE",
        "EXPECTEDCOMPRESSION",
        "EXPECTEDVERIFY",
        "EXPECTEDEXPIRATIONCHECK",
        "EXPECTEDKEYUSAGE",
        "EXPECTEDSCHEMAVALIDATION",
        "EXPECTEDDECODE",
        "EXPECTEDVALIDJSON",
        "EXPECTEDVALIDOBJECT",
        "EXPECTEDENCODE",
    ];
    KNOWN.contains(&flag).then_some(())
}

#[test]
fn vendored_schemas_match_shared_test_data() {
    for ver in dcc::schema_versions() {
        let dir = Path::new(TESTDATA).join("dcc-schema").join(ver);
        let shared = ["DCC.combined-schema.json", "DGC.combined-schema.json"]
            .iter()
            .find_map(|f| std::fs::read(dir.join(f)).ok())
            .unwrap();
        let ours = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/dcc-schema/{ver}.json")),
        )
        .unwrap();
        assert_eq!(shared, ours, "schema {ver} differs from shared/testdata");
    }
    let shared = std::fs::read(Path::new(TESTDATA).join("dcc-valuesets/valueSets.json")).unwrap();
    let ours = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/dcc-valuesets/valueSets.json"),
    )
    .unwrap();
    assert_eq!(shared, ours);
}

#[derive(Default)]
struct FileOutcome {
    case: bool,
    passed: usize,
    no_input: usize,
    known: Vec<String>,
    failures: Vec<String>,
    unread: Vec<(String, String)>,
}

fn check_file(root: &Path, path: &Path, issues: &[KnownIssue]) -> FileOutcome {
    let mut out = FileOutcome::default();
    let rel = path.strip_prefix(root).unwrap();
    let country = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .to_string();
    let set = path.file_stem().unwrap().to_string_lossy().to_string();
    let doc: Value = match serde_json::from_str(&std::fs::read_to_string(path).unwrap()) {
        Ok(doc) => doc,
        Err(e) => {
            out.failures
                .push(format!("{}: unreadable JSON: {e}", rel.display()));
            return out;
        }
    };
    let Some(expected) = doc
        .get("EXPECTEDRESULTS")
        .and_then(Value::as_object)
        .cloned()
    else {
        return out;
    };
    out.case = true;
    let case = Case { doc };
    let report = case.report();
    for (flag, want) in &expected {
        let Some(want) = want.as_bool() else {
            out.unread.push((flag.clone(), rel.display().to_string()));
            continue;
        };
        let Some(got) = case.stage(flag, &report) else {
            if flag_of_known(flag).is_none() {
                out.unread.push((flag.clone(), rel.display().to_string()));
            } else {
                out.no_input += 1;
            }
            continue;
        };
        if got == want {
            out.passed += 1;
            continue;
        }
        let issue = issues.iter().find(|i| {
            i.flag == flag && i.country == country && (i.test_set.is_empty() || i.test_set == set)
        });
        let detail = report
            .as_ref()
            .map(|r| {
                let s = match flag.as_str() {
                    "EXPECTEDVERIFY" => &r.signature,
                    "EXPECTEDEXPIRATIONCHECK" => &r.expiry,
                    "EXPECTEDKEYUSAGE" => &r.key_usage,
                    "EXPECTEDSCHEMAVALIDATION" => &r.schema,
                    _ => return String::new(),
                };
                format!(" ({})", s.reason.clone().unwrap_or_default())
            })
            .unwrap_or_default();
        let line = format!(
            "{}: {flag} expected {want}, got {got}{detail}",
            rel.display()
        );
        match issue {
            Some(i) => out.known.push(format!("{line} [{}]", i.reason)),
            None => out.failures.push(line),
        }
    }
    out
}
