//! The web pages in a real browser: runs the end-to-end script in `e2e/` (Node, playwright-core,
//! Debian's headless Chromium) against this build's `healthcode demo`. `.ci/run` installs the
//! browser and the script's packages; elsewhere the test says what is missing and skips, except
//! under CI, where a missing browser is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

#[test]
fn a_day_of_the_system_in_a_real_browser() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = [
        (!node_ok).then_some("node"),
        (!chromium().exists()).then_some("chromium (apt-get install chromium)"),
        (!e2e.join("node_modules/playwright-core").exists())
            .then_some("e2e packages (cd e2e && npm ci)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests, but these are missing: {missing:?}"
        );
        eprintln!(
            "SKIPPED the browser end-to-end test: missing {missing:?}; `bash .ci/run` installs them"
        );
        return;
    }
    let mut cmd = Command::new("node");
    cmd.current_dir(&e2e)
        .args(["--test", "--test-reporter=spec", "tests/"])
        .env("HC_BIN", env!("CARGO_BIN_EXE_healthcode"))
        .env("CHROMIUM", chromium());
    let output = cmd.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}
