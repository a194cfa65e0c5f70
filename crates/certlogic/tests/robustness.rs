//! Hostile and malformed inputs: errors, never panics or stack overflows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use certlogic::{EvalError, Expr, MAX_NESTING, validate};
use serde_json::{Map, Value, json};

/// `{ key: [inner] }` without `json!`, which would serialise (recursively
/// copy) an interpolated `Value`.
fn wrap(key: &str, inner: Value) -> Value {
    Value::Object(Map::from_iter([(
        key.to_owned(),
        Value::Array(vec![inner]),
    )]))
}

/// Drops a value without recursion (serde_json's own drop recurses, which
/// overflows the stack for values nested thousands of levels deep).
fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn messages(expr: &Value) -> Vec<String> {
    validate(expr).into_iter().map(|i| i.message).collect()
}

#[test]
fn malformed_json_is_an_issue() {
    for text in [
        "",
        "{",
        "{\"var\": }",
        "[1, 2",
        "tru",
        "{\"a\" 1}",
        "\"unterminated",
    ] {
        let err = Expr::parse(text).expect_err(text);
        assert_eq!(err.issues.len(), 1, "{text}");
        assert!(
            err.issues[0].message.starts_with("not valid JSON"),
            "{text}: {err}"
        );
    }
}

#[test]
fn unknown_operation_is_an_issue() {
    let err = Expr::parse(r#"{"or": [true, false]}"#).unwrap_err();
    assert_eq!(err.issues[0].message, "unrecognised operator: \"or\"");
    assert!(err.to_string().contains("unrecognised operator"));
    // Operations JsonLogic has but CertLogic does not.
    for op in [
        "==", "!=", "-", "*", "map", "filter", "all", "some", "none", "!!", "or", "cat", "max",
    ] {
        let expr = json!({ op: [1, 2] });
        assert_eq!(messages(&expr), [format!("unrecognised operator: {op:?}")]);
    }
}

#[test]
fn wrong_arity_for_each_operation() {
    let operand = json!({"var": "x"});
    let wrong_counts: &[(&str, &[usize])] = &[
        ("if", &[0, 1, 2, 4]),
        ("===", &[0, 1, 3]),
        ("in", &[0, 1, 3]),
        ("+", &[0, 1, 3]),
        ("and", &[0, 1]),
        ("!", &[0, 2]),
        ("<", &[0, 1, 4]),
        (">", &[0, 1, 4]),
        ("<=", &[0, 1, 4]),
        (">=", &[0, 1, 4]),
        ("after", &[0, 1, 4]),
        ("before", &[0, 1, 4]),
        ("not-after", &[0, 1, 4]),
        ("not-before", &[0, 1, 4]),
        ("plusTime", &[0, 1, 2, 4]),
        ("reduce", &[0, 1, 2, 4]),
        ("extractFromUVCI", &[0, 1, 3]),
        ("dccDateOfBirth", &[0, 2]),
    ];
    for (op, counts) in wrong_counts {
        for &n in *counts {
            let expr = json!({ *op: vec![operand.clone(); n] });
            let issues = validate(&expr);
            assert_eq!(issues.len(), 1, "{expr}: {issues:?}");
            assert!(
                issues[0].message.contains("must have") && issues[0].message.contains(op),
                "{expr}: {}",
                issues[0].message
            );
            assert_eq!(issues[0].expr, expr);
            assert!(Expr::compile(&expr).is_err());
        }
    }
}

#[test]
fn operand_issues_are_all_reported() {
    let expr = json!({"and": [null, {"var": "a."}, {"foo": []}, 2.5]});
    assert_eq!(
        messages(&expr),
        [
            "invalid CertLogic expression",
            "data access path doesn't have a valid format: a.",
            "unrecognised operator: \"foo\"",
            "2.5 is a non-integer number",
        ]
    );
    let err = Expr::compile(&expr).unwrap_err();
    assert_eq!(err.issues.len(), 4);
}

#[test]
fn plus_time_and_extract_literals_are_checked_at_compile_time() {
    assert_eq!(
        messages(&json!({"plusTime": ["2021-01-01", {"var": "n"}, "day"]})),
        ["\"amount\" argument (#2) of \"plusTime\" must be an integer"]
    );
    assert_eq!(
        messages(&json!({"plusTime": ["2021-01-01", 1.5, "day"]})),
        ["\"amount\" argument (#2) of \"plusTime\" must be an integer"]
    );
    assert_eq!(
        messages(&json!({"plusTime": ["2021-01-01", 1, "week"]})),
        [
            "\"unit\" argument (#3) of \"plusTime\" must be a string equal to one of \"year\", \"month\", \"day\", \"hour\""
        ]
    );
    assert_eq!(
        messages(&json!({"plusTime": ["2021-01-01", 1, {"var": "u"}]})).len(),
        1
    );
    assert!(messages(&json!({"plusTime": ["2021-01-01", 1.0, "day"]})).is_empty());
    assert_eq!(
        messages(&json!({"extractFromUVCI": [{"var": "u"}, "1"]})),
        ["\"index\" argument (#2) of \"extractFromUVCI\" must be an integer"]
    );
}

#[test]
fn unparseable_dates_are_evaluation_errors() {
    let expr = Expr::compile(&json!({"plusTime": [{"var": "d"}, 1, "day"]})).unwrap();
    for bad in [
        "2021-09-99",
        "2022-13",
        "yesterday",
        "",
        "2021-06-01T25:00:00Z",
        "2021-02-29",
    ] {
        let err = expr.evaluate(&json!({ "d": bad })).unwrap_err();
        assert!(matches!(err, EvalError::InvalidDate { .. }), "{bad}: {err}");
        assert!(err.to_string().contains("not a valid date"), "{err}");
    }
    for not_a_string in [json!(null), json!(20210101), json!(["2021-01-01"])] {
        let err = expr.evaluate(&json!({ "d": not_a_string })).unwrap_err();
        assert!(matches!(err, EvalError::TypeMismatch { .. }), "{err}");
    }
    let dob = Expr::compile(&json!({"dccDateOfBirth": [{"var": "d"}]})).unwrap();
    assert!(matches!(
        dob.evaluate(&json!({"d": "2021-06-01T00:00:00Z"})),
        Err(EvalError::InvalidDate { .. })
    ));
    assert!(matches!(
        dob.evaluate(&json!({})),
        Err(EvalError::TypeMismatch { .. })
    ));
}

fn deep_negation_text(depth: usize) -> String {
    let mut text = String::with_capacity(depth * 10);
    for _ in 0..depth {
        text.push_str("{\"!\":[");
    }
    text.push_str("true");
    for _ in 0..depth {
        text.push_str("]}");
    }
    text
}

fn deep_negation_value(depth: usize) -> Value {
    let mut value = json!(true);
    for _ in 0..depth {
        value = wrap("!", value);
    }
    value
}

#[test]
fn ten_thousand_levels_via_parse_is_an_issue() {
    let err = Expr::parse(&deep_negation_text(10_000)).unwrap_err();
    assert_eq!(err.issues.len(), 1);
    assert!(err.issues[0].message.contains("recursion limit"), "{err}");
}

#[test]
fn ten_thousand_levels_via_compile_is_an_issue() {
    let value = deep_negation_value(10_000);
    let err = Expr::compile(&value).unwrap_err();
    assert!(
        err.issues
            .iter()
            .any(|i| i.message.contains("nests deeper than the maximum")),
        "{err}"
    );
    assert!(!validate(&value).is_empty());
    // Wrapping it in an invalid operation quotes the expression: it must be elided.
    let wrapped = wrap("nope", value);
    let issues = validate(&wrapped);
    assert_eq!(issues[0].message, "unrecognised operator: \"nope\"");
    assert!(issues[0].expr.is_string());
    drop(issues);
    dismantle(wrapped);
}

#[test]
fn deepest_parseable_expression_compiles_and_evaluates() {
    // serde_json parses at most 127 nested levels: 63 negations (126 levels).
    let expr = Expr::parse(&deep_negation_text(63)).unwrap();
    assert_eq!(expr.evaluate(&Value::Null).unwrap(), json!(false));
    assert!(Expr::parse(&deep_negation_text(64)).is_err());
    // Programmatic values may use all MAX_NESTING levels.
    assert!(Expr::compile(&deep_negation_value(MAX_NESTING / 2)).is_ok());
    assert!(Expr::compile(&deep_negation_value(MAX_NESTING / 2 + 1)).is_err());
}

#[test]
fn deep_data_is_walked_iteratively() {
    let depth = 10_000;
    let mut data = json!("bottom");
    for _ in 0..depth {
        data = wrap("a", data);
    }
    let path = vec!["a.0"; depth].join(".");
    let expr = Expr::compile(&json!({ "var": path })).unwrap();
    assert_eq!(expr.evaluate(&data).unwrap(), json!("bottom"));
    let truthy = Expr::compile(&json!({ "!": [{ "var": "a" }] })).unwrap();
    assert!(!truthy.evaluate_truthy(&data).unwrap());
    // Error messages describe, never print, the offending data.
    let plus = Expr::compile(&json!({ "+": [{ "var": "a" }, 1] })).unwrap();
    assert!(plus.evaluate(&data).is_err());
    dismantle(data);
}

/// xorshift64*: deterministic, dependency-free randomness for the fuzz test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const OPERATORS: &[&str] = &[
    "var",
    "if",
    "===",
    "and",
    "!",
    "in",
    "+",
    "<",
    ">",
    "<=",
    ">=",
    "after",
    "before",
    "not-after",
    "not-before",
    "plusTime",
    "reduce",
    "extractFromUVCI",
    "dccDateOfBirth",
    "or",
];
const STRINGS: &[&str] = &[
    "",
    "x",
    "a.b",
    "0",
    "1",
    "current",
    "accumulator",
    "data",
    "data.x",
    "current.0",
    "year",
    "month",
    "day",
    "hour",
    "2021-06-01",
    "2021-06-01T10:00:00+02:00",
    "2004",
    "2004-02",
    "2021-09-99",
    "URN:UVCI:01:NL:1/2#3",
];

fn random_scalar(rng: &mut Rng) -> Value {
    match rng.below(7) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.below(5) as i64 - 2),
        3 => json!(*rng.pick(&[i64::MAX, i64::MIN, 1_000_000_000_000])),
        4 => json!(*rng.pick(&[0.5, -1.5, 3.0, 1e300])),
        _ => json!(*rng.pick(STRINGS)),
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    if depth == 0 || rng.below(3) == 0 {
        return random_scalar(rng);
    }
    match rng.below(4) {
        0 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        1 => {
            let keys = ["x", "a", "b", "0", "current"];
            let map = (0..rng.below(4))
                .map(|_| (rng.pick(&keys).to_string(), random_value(rng, depth - 1)))
                .collect();
            Value::Object(map)
        }
        _ => {
            let op = *rng.pick(OPERATORS);
            if op == "var" && rng.below(4) != 0 {
                return json!({ "var": *rng.pick(STRINGS) });
            }
            let n = rng.below(5);
            let mut operands: Vec<Value> = (0..n).map(|_| random_value(rng, depth - 1)).collect();
            // Bias towards well-formed plusTime/extractFromUVCI so evaluation is exercised.
            if op == "plusTime" && n == 3 && rng.below(2) == 0 {
                operands[1] = json!(rng.below(50) as i64 - 25);
                operands[2] = json!(*rng.pick(&["year", "month", "day", "hour"]));
            }
            if op == "extractFromUVCI" && n == 2 && rng.below(2) == 0 {
                operands[1] = json!(rng.below(6) as i64 - 1);
            }
            json!({ op: operands })
        }
    }
}

#[test]
fn random_small_values_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut compiled = 0;
    let mut evaluated_ok = 0;
    for _ in 0..20_000 {
        let expr = random_value(&mut rng, 5);
        let issues = validate(&expr);
        match Expr::compile(&expr) {
            Ok(compiled_expr) => {
                assert!(issues.is_empty(), "{expr}: compiled despite {issues:?}");
                compiled += 1;
                for _ in 0..4 {
                    let data = random_value(&mut rng, 4);
                    if compiled_expr.evaluate(&data).is_ok() {
                        evaluated_ok += 1;
                    }
                    let _ = compiled_expr.evaluate_truthy(&data);
                    let _ = compiled_expr.evaluate_date_time(&data);
                }
            }
            Err(err) => {
                assert_eq!(err.issues, issues, "{expr}");
                assert!(!err.to_string().is_empty());
            }
        }
        if let Ok(text) = serde_json::to_string(&expr) {
            let _ = Expr::parse(&text);
            let _ = Expr::parse(&text[..text.len() / 2]);
        }
    }
    // Make sure the generator actually exercises the evaluator.
    assert!(compiled > 1_000, "only {compiled} compiled");
    assert!(evaluated_ok > 1_000, "only {evaluated_ok} evaluated");
}
