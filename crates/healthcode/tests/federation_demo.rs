//! `healthcode federation demo` as a user runs it: three nodes from one command, the tour
//! printed, and its first step working: a Beijing station admits a green Wuhan pass that it
//! verifies with the hub's list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn one_command_runs_a_hub_and_two_regions_that_recognise_each_other() {
    let dir = healthcode_testkit::temp_dir("hc_fed_demo");
    // Three consecutive free ports: take one and hope for the next two, as the demo does.
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(["federation", "demo", "--dir"])
        .arg(&dir)
        .args(["--port", &port.to_string()])
        .env_remove("HEALTHCODE_TEST_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("revoke a key on the hub");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    })
    .await
    .unwrap();
    let tour = lines.join("\n");
    let pass = tour
        .split("P='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no pass in the tour:\n{tour}"));
    let gate = tour
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    let beijing = format!("http://127.0.0.1:{}", port + 2);
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{beijing}/api/v1/scans"))
        .bearer_auth(gate)
        .json(&serde_json::json!({"scan_id": "t-1", "text": pass}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["outcome"], "admit", "{answer}");
    assert_eq!(answer["region"], "420100");
    let ready: serde_json::Value = reqwest::get(format!("{beijing}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["trust_list"]["regions"], 2, "{ready}");
    let directory: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{port}/hub/v1/regions"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(directory.as_array().unwrap().len(), 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
