//! Behaviour beyond the official suites: strictness, errors, extensions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use certlogic::{EvalError, Expr, format_date_time, is_truthy, parse_date_time};
use serde_json::{Value, json};

fn eval(expr: Value, data: Value) -> Result<Value, EvalError> {
    Expr::compile(&expr).unwrap().evaluate(&data)
}

#[test]
fn expr_is_shareable() {
    fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync>() {}
    assert_traits::<Expr>();
    let expr = Expr::parse(r#"{"+": [{"var": "n"}, 1]}"#).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let expr = expr.clone();
            std::thread::spawn(move || expr.evaluate(&json!({ "n": i })).unwrap())
        })
        .collect();
    let results: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [json!(1), json!(2), json!(3), json!(4)]);
}

#[test]
fn strict_truthiness() {
    for (value, expected) in [
        (json!(null), Some(false)),
        (json!(false), Some(false)),
        (json!(0), Some(false)),
        (json!(0.0), Some(false)),
        (json!(""), Some(false)),
        (json!([]), Some(false)),
        (json!({}), Some(false)),
        (json!(true), Some(true)),
        (json!(-3), Some(true)),
        (json!(42.0), Some(true)),
        (json!("0"), Some(true)),
        (json!([0]), Some(true)),
        (json!({"a": null}), Some(true)),
        (json!(0.5), None),
    ] {
        assert_eq!(is_truthy(&value), expected, "{value}");
        let not = eval(json!({"!": [{"var": "v"}]}), json!({ "v": value }));
        match expected {
            Some(t) => assert_eq!(not.unwrap(), json!(!t)),
            None => assert!(matches!(not, Err(EvalError::NotTruthyOrFalsy { .. }))),
        }
    }
    // A date-time is neither truthy nor falsy.
    let date = json!({"plusTime": ["2021-01-01", 0, "day"]});
    assert!(eval(json!({"if": [date.clone(), 1, 2]}), json!(null)).is_err());
    let err = Expr::compile(&date)
        .unwrap()
        .evaluate_truthy(&json!(null))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("date-time 2021-01-01T00:00:00.000Z"),
        "{err}"
    );
    // `and` needs truthiness for all but its last operand, which it returns as is.
    assert!(eval(json!({"and": [{"var": "f"}, true]}), json!({"f": 1.5})).is_err());
    assert_eq!(
        eval(json!({"and": [true, {"var": "f"}]}), json!({"f": 1.5})).unwrap(),
        json!(1.5)
    );
    assert_eq!(
        eval(json!({"and": [true, date]}), json!(null)).unwrap(),
        json!("2021-01-01T00:00:00.000Z")
    );
}

#[test]
fn if_is_lazy() {
    let bad = json!({"+": ["a", 1]});
    assert_eq!(
        eval(json!({"if": [true, 1, bad.clone()]}), json!(null)).unwrap(),
        json!(1)
    );
    assert_eq!(
        eval(json!({"if": [false, bad.clone(), 2]}), json!(null)).unwrap(),
        json!(2)
    );
    assert!(eval(json!({"if": [true, bad, 2]}), json!(null)).is_err());
}

#[test]
fn strict_equality() {
    let eq = |a: Value, b: Value| {
        eval(
            json!({"===": [{"var": "a"}, {"var": "b"}]}),
            json!({"a": a, "b": b}),
        )
    };
    assert_eq!(eq(json!(null), json!(null)).unwrap(), json!(true));
    assert_eq!(eq(json!(1), json!(1.0)).unwrap(), json!(true));
    assert_eq!(eq(json!(1), json!("1")).unwrap(), json!(false));
    assert_eq!(eq(json!(false), json!(0)).unwrap(), json!(false));
    assert_eq!(eq(json!("x"), json!("x")).unwrap(), json!(true));
    assert_eq!(eq(json!([1]), json!([1])).unwrap(), json!(false));
    assert_eq!(eq(json!({}), json!({})).unwrap(), json!(false));
    let same_date = json!({"===": [
        {"plusTime": ["2021-01-01", 0, "day"]}, {"plusTime": ["2021-01-01", 0, "day"]}]});
    assert_eq!(eval(same_date, json!(null)).unwrap(), json!(false));
}

#[test]
fn membership() {
    let is_in = json!({"in": [{"var": "x"}, {"var": "y"}]});
    assert_eq!(
        eval(is_in.clone(), json!({"x": 2, "y": [1, 2.0]})).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval(is_in.clone(), json!({"x": [1], "y": [[1]]})).unwrap(),
        json!(false)
    );
    for not_array in [json!(null), json!("abc"), json!({"a": 1}), json!(3)] {
        let err = eval(is_in.clone(), json!({"x": "a", "y": not_array})).unwrap_err();
        assert!(
            matches!(err, EvalError::TypeMismatch { op: "in", .. }),
            "{err}"
        );
    }
    // A computed array on the right.
    let computed = json!({"in": [3, [1, {"+": [1, 2]}]]});
    assert_eq!(eval(computed, json!(null)).unwrap(), json!(true));
}

#[test]
fn integer_arithmetic_and_comparison() {
    let plus = json!({"+": [{"var": "a"}, {"var": "b"}]});
    assert_eq!(
        eval(plus.clone(), json!({"a": 40, "b": 2.0})).unwrap(),
        json!(42)
    );
    assert_eq!(
        eval(plus.clone(), json!({"a": -5, "b": 2})).unwrap(),
        json!(-3)
    );
    assert!(matches!(
        eval(plus.clone(), json!({"a": i64::MAX, "b": 1})),
        Err(EvalError::Overflow { op: "+" })
    ));
    for (a, b) in [
        (json!("1"), json!(2)),
        (json!(1), json!(null)),
        (json!(1.5), json!(1)),
        (json!(u64::MAX), json!(0)),
    ] {
        let err = eval(plus.clone(), json!({"a": a, "b": b})).unwrap_err();
        assert!(
            matches!(err, EvalError::TypeMismatch { op: "+", .. }),
            "{err}"
        );
    }
    let between = json!({"<": [{"var": "a"}, {"var": "b"}, {"var": "c"}]});
    assert_eq!(
        eval(between.clone(), json!({"a": 1, "b": 2, "c": 3})).unwrap(),
        json!(true)
    );
    assert!(eval(between, json!({"a": 1, "b": 2, "c": "3"})).is_err());
    assert!(eval(json!({">=": [{"var": "a"}, 1]}), json!({})).is_err());
    // Integer comparisons do not accept date-times, nor date comparisons integers.
    let date = json!({"plusTime": ["2021-01-01", 0, "day"]});
    assert!(eval(json!({"<": [date.clone(), date.clone()]}), json!(null)).is_err());
    assert!(eval(json!({"before": [1, 2]}), json!(null)).is_err());
    assert!(eval(json!({"before": ["2021-01-01", date]}), json!(null)).is_err());
}

#[test]
fn date_time_comparisons() {
    let dt = |s: &str| json!({"plusTime": [s, 0, "day"]});
    let check = |op: &str, args: &[&str]| {
        let operands: Vec<Value> = args.iter().map(|s| dt(s)).collect();
        eval(json!({ op: operands }), json!(null)).unwrap()
    };
    assert_eq!(check("before", &["2021-01-01", "2021-01-02"]), json!(true));
    assert_eq!(check("after", &["2021-01-01", "2021-01-02"]), json!(false));
    assert_eq!(
        check("not-after", &["2021-01-01", "2021-01-01T00:00:00+00:00"]),
        json!(true)
    );
    assert_eq!(
        check("not-before", &["2021-01-01T01:00:00+01:00", "2021-01-01"]),
        json!(true)
    );
    assert_eq!(
        check("before", &["2021-01-01", "2021-01-02", "2021-01-02"]),
        json!(false)
    );
    assert_eq!(
        check("not-after", &["2021-01-01", "2021-01-02", "2021-01-02"]),
        json!(true)
    );
}

#[test]
fn date_time_results() {
    let expr = Expr::compile(&json!({"plusTime": [{"var": "d"}, 1, "month"]})).unwrap();
    let data = json!({"d": "2021-01-31T10:00:00.123456+01:00"});
    assert_eq!(
        expr.evaluate(&data).unwrap(),
        json!("2021-03-03T09:00:00.123Z")
    );
    let ms = expr.evaluate_date_time(&data).unwrap().unwrap();
    assert_eq!(format_date_time(ms), "2021-03-03T09:00:00.123Z");
    assert_eq!(parse_date_time("2021-03-03T09:00:00.123Z"), Some(ms));

    let var = Expr::compile(&json!({"var": "until"})).unwrap();
    assert_eq!(var.evaluate_date_time(&json!({})).unwrap(), None);
    assert_eq!(
        var.evaluate_date_time(&json!({"until": "2021-03-03T09:00:00.123Z"}))
            .unwrap(),
        Some(ms)
    );
    assert!(var.evaluate_date_time(&json!({"until": "soon"})).is_err());
    assert!(var.evaluate_date_time(&json!({"until": 5})).is_err());

    let dob = Expr::compile(&json!({"dccDateOfBirth": [{"var": "dob"}]})).unwrap();
    for (input, output) in [
        ("1990", "1990-12-31T00:00:00.000Z"),
        ("2000-02", "2000-02-29T00:00:00.000Z"),
        ("1900-02", "1900-02-28T00:00:00.000Z"),
        ("1990-04-15", "1990-04-15T00:00:00.000Z"),
    ] {
        assert_eq!(
            dob.evaluate(&json!({ "dob": input })).unwrap(),
            json!(output),
            "{input}"
        );
    }
    let far = Expr::compile(&json!({"plusTime": ["2021-01-01", 9_000_000_000i64, "day"]})).unwrap();
    assert!(matches!(
        far.evaluate(&json!(null)),
        Err(EvalError::DateOutOfRange { .. })
    ));
}

#[test]
fn reduce_sees_current_accumulator_and_data() {
    let count_matching = json!({"reduce": [
        {"var": "items"},
        {"+": [{"var": "accumulator"}, {"if": [{"===": [{"var": "current.k"}, {"var": "data.wanted"}]}, 1, 0]}]},
        0
    ]});
    let data = json!({"wanted": "b", "items": [{"k": "a"}, {"k": "b"}, {"k": "b"}]});
    assert_eq!(eval(count_matching.clone(), data).unwrap(), json!(2));
    assert_eq!(
        eval(count_matching.clone(), json!({"items": null})).unwrap(),
        json!(0)
    );
    assert!(eval(count_matching, json!({"items": "ab"})).is_err());

    // Nested reduce: the inner lambda's `data` is the outer lambda context.
    let nested = json!({"reduce": [
        {"var": "rows"},
        {"+": [{"var": "accumulator"}, {"reduce": [
            {"var": "current"},
            {"+": [{"var": "accumulator"}, {"+": [{"var": "current"}, {"var": "data.data.bonus"}]}]},
            0
        ]}]},
        0
    ]});
    let data = json!({"bonus": 10, "rows": [[1, 2], [3]]});
    assert_eq!(eval(nested, data).unwrap(), json!(36));

    // The whole lambda context, and computed accumulators.
    let collect = json!({"reduce": [[1, 2], [{"var": "accumulator"}, {"var": "current"}], []]});
    assert_eq!(eval(collect, json!(null)).unwrap(), json!([[[], 1], 2]));
    let whole = json!({"reduce": [[7], {"var": ""}, 0]});
    assert_eq!(
        eval(whole, json!({"x": 1})).unwrap(),
        json!({"current": 7, "accumulator": 0, "data": {"x": 1}})
    );
    let into_computed =
        json!({"reduce": [[1, 2], [{"var": "accumulator.0"}, {"var": "current"}], ["s"]]});
    assert_eq!(eval(into_computed, json!(null)).unwrap(), json!(["s", 2]));
}

#[test]
fn var_edge_cases() {
    let data = json!({"a": [{"b": "x"}, {"1": "one"}], "s": "str", "0": "zero"});
    for (path, expected) in [
        ("a.0.b", json!("x")),
        ("a.1.1", json!("one")),
        ("a.2", json!(null)),
        ("a.b", json!(null)),
        ("s.0", json!(null)),
        ("s.length", json!(null)),
        ("0", json!("zero")),
        ("a.0.b.c", json!(null)),
    ] {
        assert_eq!(
            eval(json!({ "var": path }), data.clone()).unwrap(),
            expected,
            "{path}"
        );
    }
    // A non-integer float passes through `var` untouched.
    assert_eq!(
        eval(json!({"var": "f"}), json!({"f": 2.5})).unwrap(),
        json!(2.5)
    );
}

#[test]
fn extract_from_uvci_types() {
    let expr = json!({"extractFromUVCI": [{"var": "u"}, 1]});
    assert_eq!(
        eval(expr.clone(), json!({"u": "URN:UVCI:01:AT:x#y"})).unwrap(),
        json!("AT")
    );
    assert_eq!(eval(expr.clone(), json!({})).unwrap(), json!(null));
    assert!(matches!(
        eval(expr, json!({"u": 5})),
        Err(EvalError::TypeMismatch {
            op: "extractFromUVCI",
            ..
        })
    ));
}

#[test]
fn bindings_shadow_top_level_keys() {
    let expr = Expr::parse(r#"{"and": [{">=": [{"var": "fact.level"}, 2]}, {"var": "enabled"}]}"#)
        .unwrap();
    let data = json!({"enabled": true, "fact": {"level": 0}});
    let fact = json!({"level": 3});
    // The binding shadows the document's own `fact`; other keys still come from the document.
    assert!(
        expr.evaluate_truthy_with(&data, &[("fact", &fact)])
            .unwrap()
    );
    assert_eq!(
        expr.evaluate_with(&data, &[("fact", &fact)]).unwrap(),
        json!(true)
    );
    assert!(!expr.evaluate_truthy(&data).unwrap());
    // No binding and no such key: the path is missing, so `>=` sees null.
    assert!(expr.evaluate_truthy_with(&json!({}), &[]).is_err());
    // The first of repeated names wins; bindings are whole values too.
    let whole = Expr::parse(r#"{"var": "fact"}"#).unwrap();
    let other = json!("other");
    assert_eq!(
        whole
            .evaluate_with(&data, &[("fact", &fact), ("fact", &other)])
            .unwrap(),
        fact
    );
    // Missing paths below a binding are null, as in the document.
    let missing = Expr::parse(r#"{"var": "fact.nope.deeper"}"#).unwrap();
    assert_eq!(
        missing.evaluate_with(&data, &[("fact", &fact)]).unwrap(),
        json!(null)
    );
}

#[test]
fn bindings_are_visible_as_data_in_reduce_lambdas() {
    let expr = Expr::parse(
        r#"{"reduce": [{"var": "fact.items"},
            {"+": [{"var": "accumulator"}, {"+": [{"var": "current"}, {"var": "data.fact.x"}]}]},
            0]}"#,
    )
    .unwrap();
    let fact = json!({"x": 10, "items": [1, 2, 3]});
    assert_eq!(
        expr.evaluate_with(&json!({}), &[("fact", &fact)]).unwrap(),
        json!(36)
    );
    // Not the summing fast path: the accumulator is read inside `if`.
    let general = Expr::parse(
        r#"{"reduce": [[1, 2],
            {"if": [{"var": "data.fact.x"}, {"+": [{"var": "accumulator"}, {"var": "data.fact.x"}]}, 0]},
            0]}"#,
    )
    .unwrap();
    assert_eq!(
        general
            .evaluate_with(&json!(null), &[("fact", &fact)])
            .unwrap(),
        json!(20)
    );
}

#[test]
fn empty_var_is_the_data_document_without_bindings() {
    let whole = Expr::parse(r#"{"var": ""}"#).unwrap();
    let data = json!({"a": 1});
    let fact = json!({"level": 3});
    assert_eq!(
        whole.evaluate_with(&data, &[("fact", &fact)]).unwrap(),
        data
    );
    let in_lambda = Expr::parse(r#"{"reduce": [[7], {"var": "data"}, 0]}"#).unwrap();
    assert_eq!(
        in_lambda.evaluate_with(&data, &[("fact", &fact)]).unwrap(),
        data
    );
}

#[test]
fn shared_var_prefixes_resolve_like_separate_lookups() {
    // Several `var`s share `p.v.0` (memoised once per evaluation); results
    // must not leak between evaluations or between present and missing data.
    let expr = Expr::parse(
        r#"{"if": [{"var": "p.v.0"},
            {"and": [{"===": [{"var": "p.v.0.a"}, "x"]}, {"===": [{"var": "p.v.0.b"}, {"var": "p.v.0.c"}]}]},
            {"var": "p.v"}]}"#,
    )
    .unwrap();
    assert_eq!(
        expr.evaluate(&json!({"p": {"v": [{"a": "x", "b": 1, "c": 1}]}}))
            .unwrap(),
        json!(true)
    );
    assert_eq!(
        expr.evaluate(&json!({"p": {"v": [{"a": "x", "b": 1, "c": 2}]}}))
            .unwrap(),
        json!(false)
    );
    assert_eq!(expr.evaluate(&json!({"p": {"v": []}})).unwrap(), json!([]));
    let fact = json!({"v": [{"a": "x", "b": 2, "c": 2}]});
    assert_eq!(
        expr.evaluate_with(&json!({}), &[("p", &fact)]).unwrap(),
        json!(true)
    );
    // More shared prefixes than memo slots still evaluate correctly.
    let many: Vec<Value> = (0..40)
        .map(|i| json!({"===": [{"var": format!("k{i}.x")}, {"var": format!("k{i}.y")}]}))
        .collect();
    let expr = Expr::compile(&json!({ "and": many })).unwrap();
    let data: serde_json::Map<String, Value> = (0..40)
        .map(|i| (format!("k{i}"), json!({"x": i, "y": i})))
        .collect();
    assert_eq!(expr.evaluate(&Value::Object(data)).unwrap(), json!(true));
}

#[test]
fn summing_reduce_keeps_general_semantics() {
    let sum = json!({"reduce": [{"var": "xs"}, {"+": [{"var": "current.n"}, {"var": "accumulator"}]}, 0]});
    assert_eq!(
        eval(sum.clone(), json!({"xs": [{"n": 1}, {"n": 2}]})).unwrap(),
        json!(3)
    );
    assert!(matches!(
        eval(sum.clone(), json!({"xs": [{"n": 1}, {"m": 2}]})),
        Err(EvalError::TypeMismatch { op: "+", .. })
    ));
    assert!(matches!(
        eval(sum.clone(), json!({"xs": [{"n": i64::MAX}, {"n": 1}]})),
        Err(EvalError::Overflow { op: "+" })
    ));
    assert_eq!(eval(sum, json!({"xs": null})).unwrap(), json!(0));
    // A non-integer initial value takes the general path and fails there.
    let from_string =
        json!({"reduce": [[1], {"+": [{"var": "accumulator"}, {"var": "current"}]}, "s"]});
    assert!(matches!(
        eval(from_string, json!(null)),
        Err(EvalError::TypeMismatch { op: "+", .. })
    ));
}
