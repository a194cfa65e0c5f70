//! Every case of the EU DCC test data (testdata/dcc): for each EXPECTED* flag a file carries,
//! the stage it names must give the expected result. The folder is walked, so new countries are
//! picked up without code changes (and the counts pinned below say so). A stage may disagree
//! with the data only where [`KNOWN_ISSUES`] names that stage, those cases and that direction,
//! each entry citing the upstream runner's own known_issues.csv.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
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

/// The public test data kept in the repository (testdata/README.md).
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

/// What the data holds, counted: a case or stage check that goes missing fails the test. Update
/// with the data (testdata/README.md).
const EXPECTED_CASES: usize = 458;
/// Stage checks made (passed, known issues and failures together).
const EXPECTED_CHECKS: usize = 4375;
/// Flags whose stage's inputs the file lacks (a PNG flag without a 2DCODE, ...).
const EXPECTED_NO_INPUT: usize = 60;

fn dcc_root() -> PathBuf {
    let root = Path::new(TESTDATA).join("dcc");
    assert!(
        root.is_dir(),
        "the EU DCC test data is missing at {}: it is part of the repository (testdata/dcc)",
        root.display()
    );
    root
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
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

/// One exemption: where the stage `stage` of the cases `country`/`set` (`set` empty: every set
/// of the country) does not give the result the data expects, `expected`, we know why. It
/// exempts that stage in that direction only (a case the data expects to pass and we fail, or
/// one it expects to fail and we pass), and must cover exactly `covers` outcomes: one that
/// matches nothing is stale, and more than listed means a new failure hides behind it.
#[derive(Clone, Copy)]
struct KnownIssue {
    stage: &'static str,
    country: &'static str,
    set: &'static str,
    expected: bool,
    covers: usize,
    why: &'static str,
}

impl KnownIssue {
    /// Whether this entry exempts the outcome "`stage` of `country`/`set`, expected `expected`,
    /// got the opposite".
    fn exempts(&self, stage: &str, country: &str, set: &str, expected: bool) -> bool {
        self.stage == stage
            && self.country == country
            && (self.set.is_empty() || self.set == set)
            && self.expected == expected
    }

    fn describe(&self) -> String {
        let set = if self.set.is_empty() { "*" } else { self.set };
        format!(
            "{} {}/{set} expected {}",
            self.stage, self.country, self.expected
        )
    }
}

/// Every outcome we know to disagree with the data, each also listed upstream (known_issues.csv
/// of dgc-testdata, whose runner expects the named tests to fail whichever way they go).
const KNOWN_ISSUES: [KnownIssue; 10] = [
    KnownIssue {
        stage: "EXPECTEDSCHEMAVALIDATION",
        country: "BG",
        set: "1",
        expected: true,
        covers: 1,
        why: "dob is a date-time, not the date schema 1.0.0 asks for",
    },
    KnownIssue {
        stage: "EXPECTEDSCHEMAVALIDATION",
        country: "BG",
        set: "2",
        expected: true,
        covers: 1,
        why: "dob is a date-time, not the date schema 1.0.0 asks for",
    },
    KnownIssue {
        stage: "EXPECTEDVERIFY",
        country: "ES",
        set: "401",
        expected: true,
        covers: 1,
        why: "an ES256 header over a P-384 key, which we reject",
    },
    KnownIssue {
        stage: "EXPECTEDVERIFY",
        country: "ES",
        set: "402",
        expected: true,
        covers: 1,
        why: "an ES256 header over a P-384 key, which we reject",
    },
    KnownIssue {
        stage: "EXPECTEDVERIFY",
        country: "ES",
        set: "403",
        expected: true,
        covers: 1,
        why: "an ES256 header over a P-384 key, which we reject",
    },
    KnownIssue {
        stage: "EXPECTEDDECODE",
        country: "FR",
        set: "test_pcr_ok",
        expected: true,
        covers: 1,
        why: "the JSON given does not match the certificate in the COSE payload",
    },
    KnownIssue {
        stage: "EXPECTEDVALIDJSON",
        country: "FR",
        set: "test_pcr_ok",
        expected: true,
        covers: 1,
        why: "the JSON given does not match the certificate the QR text carries",
    },
    KnownIssue {
        stage: "EXPECTEDSCHEMAVALIDATION",
        country: "HU",
        set: "3",
        expected: true,
        covers: 1,
        why: "t[0].ci is longer than the 50 characters schema 1.0.0 allows",
    },
    KnownIssue {
        stage: "EXPECTEDSCHEMAVALIDATION",
        country: "NL",
        set: "",
        expected: true,
        covers: 112,
        why: "partial or empty fields (dob 1963, 1963-00, empty co, sd 0) schema 1.0.0 refuses",
    },
    KnownIssue {
        stage: "EXPECTEDSCHEMAVALIDATION",
        country: "NL",
        set: "",
        expected: false,
        covers: 40,
        why: "the data expects a refusal for codes outside the value sets, which are warnings here",
    },
];

/// The index of the entry of `issues` that exempts this outcome, if any.
fn exemption(
    issues: &[KnownIssue],
    stage: &str,
    country: &str,
    set: &str,
    expected: bool,
) -> Option<usize> {
    issues
        .iter()
        .position(|i| i.exempts(stage, country, set, expected))
}

/// The entries of `issues` that did not cover exactly the outcomes they list, `matched[i]` being
/// how many outcomes entry `i` exempted in a run.
fn exemption_problems(issues: &[KnownIssue], matched: &[usize]) -> Vec<String> {
    issues
        .iter()
        .zip(matched)
        .filter(|(issue, n)| issue.covers != **n)
        .map(|(issue, n)| match n {
            0 => format!(
                "stale known issue: {} matches nothing; remove it",
                issue.describe()
            ),
            n => format!(
                "known issue {} covers {n} outcomes, listed as {}",
                issue.describe(),
                issue.covers
            ),
        })
        .collect()
}

/// One line of the upstream known_issues.csv: test_name,country,test_set,reason.
struct UpstreamIssue {
    stage: &'static str,
    country: String,
    set: String,
    reason: String,
}

fn upstream_known_issues(root: &Path) -> Vec<UpstreamIssue> {
    let path = root.join("known_issues.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("test_name,country,test_set,reason"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.splitn(4, ',').collect();
            let [test, country, set, reason] = cols[..] else {
                panic!("{}: not four columns: {line}", path.display())
            };
            UpstreamIssue {
                stage: flag_of_test(test).unwrap_or_else(|| {
                    panic!("{}: unknown upstream test {test:?}", path.display())
                }),
                country: country.to_owned(),
                set: set.to_owned(),
                reason: reason.to_owned(),
            }
        })
        .collect()
}

/// The upstream line `issue` cites.
fn upstream_of<'a>(issue: &KnownIssue, upstream: &'a [UpstreamIssue]) -> Option<&'a UpstreamIssue> {
    upstream
        .iter()
        .find(|u| u.stage == issue.stage && u.country == issue.country && u.set == issue.set)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.trim()).ok()
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
    let root = dcc_root();
    let upstream = upstream_known_issues(&root);
    let issues: &[KnownIssue] = &KNOWN_ISSUES;
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let (mut passed, mut known, mut no_input) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut unread = BTreeMap::<String, Vec<String>>::new();
    let mut cases = 0usize;
    let mut matched = vec![0usize; issues.len()];
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
        for (i, line) in o.known {
            known += 1;
            matched[i] += 1;
            let cite = upstream_of(&issues[i], &upstream).map_or("", |u| u.reason.as_str());
            println!("known issue: {line} [{}; {cite}]", issues[i].why);
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
    assert!(
        failures.is_empty(),
        "{} DCC stage checks failed",
        failures.len()
    );
    let problems = exemption_problems(issues, &matched);
    for p in &problems {
        println!("FAIL {p}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        (cases, passed + known + failures.len(), no_input),
        (EXPECTED_CASES, EXPECTED_CHECKS, EXPECTED_NO_INPUT),
        "cases, stage checks and flags without inputs: the test data changed, or cases went missing"
    );
}

/// Each exemption cites a line of the upstream list: we exempt only what upstream knows to fail.
#[test]
fn every_known_issue_is_listed_upstream() {
    let upstream = upstream_known_issues(&dcc_root());
    let uncited: Vec<String> = KNOWN_ISSUES
        .iter()
        .filter(|i| upstream_of(i, &upstream).is_none())
        .map(KnownIssue::describe)
        .collect();
    assert!(uncited.is_empty(), "not in known_issues.csv: {uncited:?}");
}

#[test]
fn an_exemption_covers_only_its_stage_cases_and_direction() {
    let nl = KnownIssue {
        stage: "EXPECTEDSCHEMAVALIDATION",
        country: "NL",
        set: "",
        expected: true,
        covers: 1,
        why: "",
    };
    assert!(nl.exempts("EXPECTEDSCHEMAVALIDATION", "NL", "001-NL-test", true));
    assert!(nl.exempts("EXPECTEDSCHEMAVALIDATION", "NL", "145-NL-recovery", true));
    // The data expects a refusal and the stage accepts: the other direction, not exempt.
    assert!(!nl.exempts("EXPECTEDSCHEMAVALIDATION", "NL", "001-NL-test", false));
    // Another stage of the same case, or the same stage of another country: not exempt.
    assert!(!nl.exempts("EXPECTEDVERIFY", "NL", "001-NL-test", true));
    assert!(!nl.exempts("EXPECTEDSCHEMAVALIDATION", "BE", "001-NL-test", true));

    let es = KnownIssue {
        stage: "EXPECTEDVERIFY",
        country: "ES",
        set: "402",
        ..nl
    };
    assert!(es.exempts("EXPECTEDVERIFY", "ES", "402", true));
    assert!(!es.exempts("EXPECTEDVERIFY", "ES", "401", true));
    assert!(!es.exempts("EXPECTEDVERIFY", "ES", "402", false));

    let issues = [es, nl];
    assert_eq!(
        exemption(&issues, "EXPECTEDVERIFY", "ES", "402", true),
        Some(0)
    );
    assert_eq!(
        exemption(&issues, "EXPECTEDSCHEMAVALIDATION", "NL", "7", true),
        Some(1)
    );
    assert_eq!(
        exemption(&issues, "EXPECTEDSCHEMAVALIDATION", "NL", "7", false),
        None
    );
}

#[test]
fn an_exemption_that_matches_nothing_or_more_than_listed_fails() {
    let issue = |covers| KnownIssue {
        stage: "EXPECTEDVERIFY",
        country: "ES",
        set: "402",
        expected: true,
        covers,
        why: "",
    };
    assert!(exemption_problems(&[issue(1), issue(3)], &[1, 3]).is_empty());
    let stale = exemption_problems(&[issue(1), issue(1)], &[1, 0]);
    assert_eq!(stale.len(), 1);
    assert!(stale[0].starts_with("stale known issue: EXPECTEDVERIFY ES/402 expected true"));
    let grown = exemption_problems(&[issue(1)], &[2]);
    assert_eq!(
        grown,
        ["known issue EXPECTEDVERIFY ES/402 expected true covers 2 outcomes, listed as 1"]
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

/// The schemas and value sets compiled into the verifier are the upstream files: each is listed
/// in data/SHA256SUMS (the sums of the upstream files, data/README.md) and unchanged.
#[test]
fn compiled_in_schemas_and_value_sets_are_the_upstream_files() {
    use sha2::{Digest, Sha256};
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let sums_path = data.join("SHA256SUMS");
    let sums: BTreeMap<String, String> = std::fs::read_to_string(&sums_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", sums_path.display()))
        .lines()
        .map(|line| {
            let (sum, file) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("{}: bad line {line:?}", sums_path.display()));
            (file.to_owned(), sum.to_owned())
        })
        .collect();
    let compiled_in: BTreeSet<String> = dcc::schema_versions()
        .map(|v| format!("dcc-schema/{v}.json"))
        .chain(["dcc-valuesets/valueSets.json".to_owned()])
        .collect();
    assert_eq!(
        sums.keys().cloned().collect::<BTreeSet<_>>(),
        compiled_in,
        "data/SHA256SUMS must list exactly the compiled-in files"
    );
    for (file, sum) in &sums {
        let bytes = std::fs::read(data.join(file))
            .unwrap_or_else(|e| panic!("cannot read data/{file}: {e}"));
        let actual = hex::encode(Sha256::digest(&bytes));
        assert_eq!(&actual, sum, "data/{file} is not the upstream file");
    }
}

#[derive(Default)]
struct FileOutcome {
    case: bool,
    passed: usize,
    no_input: usize,
    /// Outcomes a known issue exempts: the entry's index, and the outcome.
    known: Vec<(usize, String)>,
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
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = match serde_json::from_str(&text) {
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
        let issue = exemption(issues, flag, &country, &set, want);
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
            Some(i) => out.known.push((i, line)),
            None => out.failures.push(line),
        }
    }
    out
}
