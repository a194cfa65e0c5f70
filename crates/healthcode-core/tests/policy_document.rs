//! Checking a policy document, and what happens when a rule cannot be judged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use healthcode_core::{Color, Fact, Policy};
use serde_json::{Value, json};
use time::macros::datetime;

fn policy_with(rules: Value, parameters: Value) -> Result<Policy, healthcode_core::PolicyError> {
    let doc = json!({
        "region": "330100", "version": "t1", "valid_from": "2020-01-01T00:00:00Z",
        "title": {"zh": "测试", "en": "test"}, "parameters": parameters, "rules": rules
    });
    Policy::from_json(&doc.to_string())
}

fn rule(id: &str, when: Value) -> Value {
    json!({"id": id, "color": "yellow", "for_each": "declarations", "when": when,
           "description": {"zh": "理由 {fact.id}", "en": "reason {fact.id}"}})
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = policy_with(
        json!([
            rule("a", json!({"frobnicate": [1]})),
            rule("a", json!({"param": "missing"})),
            {"id": "b", "color": "yellow", "for_each": "nope", "when": true,
             "description": {"zh": "{param.none}", "en": "{fact.x}"}},
            rule("c", json!({"param": "loop"})),
        ]),
        json!({"loop": {"param": "loop"}}),
    )
    .unwrap_err();
    let all = err.problems.join("\n");
    assert!(
        all.contains("rule \"a\" when: unrecognised operator: \"frobnicate\""),
        "{all}"
    );
    assert!(all.contains("rule \"a\": the id is used twice"), "{all}");
    assert!(all.contains("unknown parameter \"missing\""), "{all}");
    assert!(
        all.contains("for_each \"nope\" is not a fact list"),
        "{all}"
    );
    assert!(
        all.contains("placeholder {param.none} refers to nothing"),
        "{all}"
    );
    assert!(all.contains("a cycle?"), "{all}");
    assert_eq!(err.problems.len(), 6, "{all}");
}

#[test]
fn a_rule_that_fails_on_a_sample_fact_is_refused_before_it_is_published() {
    // `+` on an address (a string) fails at evaluation time: the trial on sample facts finds it.
    let err = policy_with(
        json!([rule(
            "fails",
            json!({">": [{"+": [{"var": "fact.address"}, 1]}, 0]})
        )]),
        json!({}),
    )
    .unwrap_err();
    let all = err.problems.join("\n");
    assert!(
        all.contains("rule \"fails\" fails on a sample declarations fact"),
        "{all}"
    );
    // Comparing a temperature that a declaration may leave out fails on the sample without one.
    let err = policy_with(
        json!([rule(
            "hot",
            json!({">=": [{"var": "fact.temperature_decicelsius"}, 380]})
        )]),
        json!({}),
    )
    .unwrap_err();
    assert!(
        err.problems[0].contains("must be an integer, but is null"),
        "{err}"
    );
}

#[test]
fn a_rule_that_fails_to_evaluate_shows_pending_with_a_reason_never_green() {
    // Passes the trial (no sample has hiccups) but fails on a record that has.
    let policy = policy_with(
        json!([rule(
            "fails",
            json!({"if": [{"in": ["hiccups", {"var": "fact.symptoms"}]}, {"+": ["x", 1]}, false]})
        )]),
        json!({}),
    )
    .unwrap();
    let facts: Vec<Fact> = serde_json::from_value(json!([
        {"id": "d1", "type": "declaration", "symptoms": ["hiccups"], "recorded_at": "2020-04-01T00:00:00Z", "legal_basis": "self-declared"}
    ]))
    .unwrap();
    let status = policy.evaluate(&facts, datetime!(2020-04-02 00:00 UTC));
    assert_eq!(status.color, Color::Pending);
    assert_eq!(status.errors.len(), 1);
    assert_eq!(status.errors[0].rule, "fails");
    assert_eq!(status.errors[0].fact.as_deref(), Some("d1"));
    let reason = &status.reasons[0];
    assert_eq!(
        (reason.rule.as_str(), reason.color),
        (healthcode_core::policy::UNDECIDED, Color::Pending)
    );
    assert_eq!(reason.facts, vec!["d1".to_owned()]);
    assert!(reason.text.zh.contains("审核中"), "{}", reason.text.zh);
}

#[test]
fn parameters_are_spliced_before_compiling() {
    let policy = policy_with(
        json!([rule(
            "hot",
            json!({"if": [{"var": "fact.temperature_decicelsius"},
                {">=": [{"var": "fact.temperature_decicelsius"}, {"param": "threshold"}]}, false]})
        )]),
        json!({"threshold": 380}),
    )
    .unwrap();
    let decl = |t: i64| -> Vec<Fact> {
        serde_json::from_value(
            json!([{"id": "d", "type": "declaration", "temperature_decicelsius": t,
            "recorded_at": "2020-04-01T00:00:00Z", "legal_basis": "self-declared"}]),
        )
        .unwrap()
    };
    let now = datetime!(2020-04-01 01:00 UTC);
    assert_eq!(policy.evaluate(&decl(381), now).color, Color::Yellow);
    assert_eq!(policy.evaluate(&decl(379), now).color, Color::Green);
    assert_eq!(
        policy.evaluate(&decl(381), now).reasons[0].text.en,
        "reason d"
    );
}

#[test]
fn unknown_fields_in_facts_are_refused() {
    let bad = serde_json::from_value::<Vec<Fact>>(json!([
        {"id": "d", "type": "declaration", "temprature": 381, "recorded_at": "2020-04-01T00:00:00Z", "legal_basis": "x"}
    ]));
    assert!(
        bad.is_err(),
        "a misspelt field must not be silently ignored"
    );
}
