//! Runs the official CertLogic test suites (evaluation and validation).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use certlogic::{Expr, validate};
use serde_json::Value;

/// The official suites, kept in the repository (testdata/README.md says where from).
const SUITES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/certlogic");

fn suite_files(dir: &str) -> Vec<PathBuf> {
    let path = Path::new(SUITES).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read the CertLogic suite {}: {e} (it is part of the repository: testdata/certlogic)",
                path.display()
            )
        })
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no test files in {}", path.display());
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn skipped(node: &Value) -> bool {
    node.get("directive").and_then(Value::as_str) == Some("skip")
}

#[derive(Default)]
struct Tally {
    passed: usize,
    skipped: usize,
    failures: Vec<String>,
}

/// Runs every assertion of one evaluation-suite file. With `force`, `skip`
/// directives are ignored (used to check the patched-reduce extension).
fn run_file(path: &Path, force: bool, tally: &mut Tally) {
    let file = load(path);
    let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
    let file_skipped = skipped(&file) && !force;
    for case in file["cases"].as_array().unwrap() {
        let case_name = case["name"].as_str().unwrap_or("?");
        let case_skipped = file_skipped || (skipped(case) && !force);
        for (i, assertion) in case["assertions"].as_array().unwrap().iter().enumerate() {
            if case_skipped || (skipped(assertion) && !force) {
                tally.skipped += 1;
                continue;
            }
            let label = format!(
                "{file_name} / {case_name} / #{i} {}",
                assertion["message"].as_str().unwrap_or("")
            );
            let expr = assertion
                .get("certLogicExpression")
                .or_else(|| case.get("certLogicExpression"))
                .unwrap_or_else(|| panic!("{label}: no expression"));
            let expected = &assertion["expected"];
            let outcome = Expr::compile(expr)
                .map_err(|e| e.to_string())
                .and_then(|compiled| {
                    compiled
                        .evaluate(&assertion["data"])
                        .map_err(|e| e.to_string())
                });
            match outcome {
                Ok(actual) if actual == *expected => tally.passed += 1,
                Ok(actual) => tally
                    .failures
                    .push(format!("{label}: expected {expected}, got {actual}")),
                Err(e) => tally
                    .failures
                    .push(format!("{label}: expected {expected}, got error: {e}")),
            }
        }
    }
}

fn report(suite: &str, tally: &Tally) {
    for failure in &tally.failures {
        eprintln!("FAILED {failure}");
    }
    println!(
        "{suite}: {} passed, {} skipped, {} failed",
        tally.passed,
        tally.skipped,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} {suite} assertion(s) failed",
        tally.failures.len()
    );
}

#[test]
fn evaluation_test_suite() {
    let mut tally = Tally::default();
    for path in suite_files("testSuite") {
        run_file(&path, false, &mut tally);
    }
    report("evaluation suite", &tally);
    // Every assertion of the suite is counted: none may go missing unnoticed.
    assert_eq!((tally.passed, tally.skipped), (218, 14));
}

#[test]
fn validation_test_suite() {
    let mut tally = Tally::default();
    for path in suite_files("validation-testSuite") {
        let file = load(&path);
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (i, case) in file["cases"].as_array().unwrap().iter().enumerate() {
            if skipped(&file) || skipped(case) {
                tally.skipped += 1;
                continue;
            }
            let expr = &case["certLogicExpression"];
            let expected = &case["issues"];
            let actual = serde_json::to_value(validate(expr)).unwrap();
            if actual == *expected {
                tally.passed += 1;
            } else {
                tally.failures.push(format!(
                    "{file_name} / case #{i} {expr}: expected issues {expected}, got {actual}"
                ));
            }
            // Valid expressions must compile; invalid ones must not.
            if Expr::compile(expr).is_ok() != expected.as_array().unwrap().is_empty() {
                tally.failures.push(format!(
                    "{file_name} / case #{i} {expr}: compile disagrees with validate"
                ));
            }
        }
    }
    report("validation suite", &tally);
    assert_eq!((tally.passed, tally.skipped), (23, 0));
}

/// The skipped "patched reduce" file relies on the `data` key in the reduce
/// lambda context, which this implementation provides: it must pass too.
#[test]
fn patched_reduce_passes_with_data_extension() {
    let mut tally = Tally::default();
    run_file(
        &Path::new(SUITES).join("testSuite/patched-reduce.json"),
        true,
        &mut tally,
    );
    report("patched-reduce (forced)", &tally);
    assert_eq!(tally.passed, 10);
}
