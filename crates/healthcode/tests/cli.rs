//! The command line as a policy writer uses it: real process, real files, real exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn healthcode(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("healthcode-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn rules_eval_prints_the_value() {
    let expr = file(
        "minor.json",
        r#"{"after": [{"dccDateOfBirth": [{"var": "payload.dob"}]},
        {"plusTime": [{"var": "external.validationClock"}, -18, "year"]}]}"#,
    );
    let data = r#"{"payload": {"dob": "2010-03"}, "external": {"validationClock": "2024-01-01T00:00:00Z"}}"#;
    let out = healthcode(
        &[
            "rules",
            "eval",
            "--expr",
            expr.to_str().unwrap(),
            "--data",
            "-",
        ],
        Some(data),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "true");

    let sum = file(
        "sum.json",
        r#"{"reduce": [{"var": "xs"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}"#,
    );
    let data = file("xs.json", r#"{"xs": [1, 2, 3, 4]}"#);
    let out = healthcode(
        &[
            "rules",
            "eval",
            "--expr",
            sum.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(stdout(&out).trim(), "10");
}

#[test]
fn rules_eval_rejects_bad_input_with_exit_2_and_both_languages() {
    let data = file("empty.json", "{}");
    let cases = [
        ("{\"and\": [true", "bad_json"),
        (r#"{"frobnicate": [1]}"#, "invalid_expression"),
        (r#"{"if": [true, 1]}"#, "invalid_expression"),
        (
            r#"{"plusTime": ["2021-13-45", 1, "day"]}"#,
            "evaluation_failed",
        ),
        (r#"{"+": ["a", 1]}"#, "evaluation_failed"),
    ];
    for (expr, code) in cases {
        let path = file("bad.json", expr);
        let out = healthcode(
            &[
                "rules",
                "eval",
                "--expr",
                path.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{expr}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("error[{code}]")), "{expr}: {err}");
        assert!(err.contains("错误"), "{expr}: no Chinese message in {err}");
    }
    let out = healthcode(
        &[
            "rules",
            "eval",
            "--expr",
            "/nonexistent/x.json",
            "--data",
            data.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unreadable_input"));
}

#[test]
fn ten_thousand_levels_of_nesting_is_an_error_not_a_crash() {
    let depth = 10_000;
    let expr = format!("{}true{}", "{\"!\": [".repeat(depth), "]}".repeat(depth));
    let out = healthcode(
        &[
            "rules",
            "eval",
            "--expr",
            "-",
            "--data",
            file("d.json", "{}").to_str().unwrap(),
        ],
        Some(&expr),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = healthcode(&["rules", "validate", "-"], Some(&expr));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn rules_validate_lists_issues() {
    let out = healthcode(
        &["rules", "validate", "-"],
        Some(r#"{"and": [{"var": "x."}, {"all": []}]}"#),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("data access path doesn't have a valid format: x."),
        "{text}"
    );
    assert!(text.contains("unrecognised operator: \"all\""), "{text}");
    let out = healthcode(
        &["rules", "validate", "-"],
        Some(r#"{"in": [{"var": "x"}, ["a"]]}"#),
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn policy_check_accepts_the_default_and_names_each_problem() {
    let out = healthcode(&["policy", "check"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let default = healthcode(&["policy", "default"], None);
    let path = file("default.json", &stdout(&default));
    assert_eq!(
        healthcode(&["policy", "check", path.to_str().unwrap()], None)
            .status
            .code(),
        Some(0)
    );

    let broken = stdout(&default)
        .replace("\"close_contact_days\": 14", "\"renamed_days\": 14")
        .replace("\"for_each\": \"trips\"", "\"for_each\": \"journeys\"");
    let out = healthcode(&["policy", "check", "-"], Some(&broken));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("unknown parameter \"close_contact_days\""),
        "{text}"
    );
    assert!(text.contains("for_each \"journeys\""), "{text}");

    let out = healthcode(&["policy", "check", "-"], Some("{\"rules\": 3"));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn policy_explain_prints_the_colour_and_why() {
    let facts = examples().join("facts/close-contact.json");
    let out = healthcode(
        &[
            "policy",
            "explain",
            "--facts",
            facts.to_str().unwrap(),
            "--at",
            "2020-04-06T09:00:00+08:00",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("RED 红码"), "{text}");
    assert!(text.contains("close contact of a confirmed case"), "{text}");
    assert!(text.contains("密切接触者"), "{text}");
    assert!(text.contains("until 2020-04-17 14:40"), "{text}");

    let out = healthcode(
        &[
            "policy",
            "explain",
            "--facts",
            facts.to_str().unwrap(),
            "--at",
            "2020-04-18T09:00:00+08:00",
            "--json",
        ],
        None,
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["color"], "yellow", "{status}");
    assert_eq!(status["reasons"][0]["rule"], "declared-symptoms");

    let out = healthcode(
        &[
            "policy",
            "explain",
            "--facts",
            facts.to_str().unwrap(),
            "--at",
            "yesterday",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad_time"));
    let out = healthcode(
        &["policy", "explain", "--facts", "-"],
        Some(r#"[{"id": "x", "type": "case"}]"#),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad_facts"), "{}", stderr(&out));
}

/// Runs `healthcode args` with standard output a pipe whose reader has already gone, as when
/// `| head` has exited: every write fails with a broken pipe.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let expr = file("closed-validate.json", r#"{"var": 1}"#);
    let commands: [&[&str]; 5] = [
        &["policy", "default"],
        &["config", "example"],
        &["verify", "HC1:NCFOXN"],
        &["verify", "HCP1:not-base45"],
        &["rules", "validate", expr.to_str().unwrap()],
    ];
    for args in commands {
        // The exit status is the command's own, whoever reads the output.
        let normal = healthcode(args, None);
        let closed = with_closed_stdout(args);
        let err = stderr(&closed);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(
            closed.status.code(),
            normal.status.code(),
            "{args:?}: {err}"
        );
    }
}

/// `healthcode rules eval … | head -c 16`: the reader leaves in the middle of a megabyte.
#[test]
fn a_reader_that_leaves_mid_output_ends_it_quietly() {
    let expr = file("long-expr.json", r#"{"var": "s"}"#);
    let data = file(
        "long-data.json",
        &serde_json::json!({ "s": "x".repeat(1 << 20) }).to_string(),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(["rules", "eval", "--expr"])
        .arg(&expr)
        .arg("--data")
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
    assert_eq!(&head, br#""xxxxxxxxxxxxxxx"#);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// Output that cannot be written for another reason (a full disk) is an error, exit 2.
#[test]
fn output_that_cannot_be_written_is_an_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // not Linux
    };
    let out = Command::new(env!("CARGO_BIN_EXE_healthcode"))
        .args(["policy", "default"])
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[stdout]: cannot write to standard output"),
        "{err}"
    );
}
