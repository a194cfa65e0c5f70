//! CertLogic evaluation throughput: compile-once vs parse-per-call, and the
//! same expressions side by side with datalogic-rs (a general JsonLogic
//! engine). Both receive the same `&serde_json::Value` data document per
//! evaluation; datalogic-rs is also timed on its own pre-parsed form, for
//! reference.
//!
//! Run: `cargo bench -p certlogic --bench certlogic`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use certlogic::Expr;
use criterion::{Criterion, criterion_group, criterion_main};
use datalogic_rs::{Engine, ParsedData};
use serde_json::{Value, json};

/// (name, expression) — only operations both engines support.
const EXPRESSIONS: &[(&str, &str)] = &[
    ("var_comparison", r#"{">=": [{"var": "age"}, 18]}"#),
    (
        "guard_and_if_in",
        r#"{"if": [
            {"and": [{"var": "payload.v.0"}, {"in": [{"var": "payload.v.0.tg"}, ["840539006", "other"]]}]},
            {"!": [{"===": [{"var": "payload.v.0.mp"}, "EU/1/20/1525"]}]},
            true
        ]}"#,
    ),
    (
        "reduce_sum_50",
        r#"{"reduce": [{"var": "items"}, {"+": [{"var": "accumulator"}, {"var": "current.qty"}]}, 0]}"#,
    ),
    (
        "dcc_rule_nested_var",
        r#"{"if": [
            {"var": "payload.v.0"},
            {"if": [
                {"in": [{"var": "payload.v.0.mp"}, ["EU/1/20/1528", "EU/1/20/1507", "EU/1/21/1529", "EU/1/20/1525"]]},
                {"and": [
                    {">=": [{"var": "payload.v.0.dn"}, {"var": "payload.v.0.sd"}]},
                    {"===": [{"var": "payload.v.0.co"}, {"var": "external.countryCode"}]},
                    {"<": [0, {"var": "payload.v.0.dn"}, 10]}
                ]},
                false
            ]},
            true
        ]}"#,
    ),
];

fn data_document() -> Value {
    let items: Vec<Value> = (0..50)
        .map(|i| json!({ "name": format!("item-{i}"), "qty": i % 7 + 1 }))
        .collect();
    json!({
        "age": 42,
        "items": items,
        "external": { "countryCode": "NL", "validationClock": "2021-06-01T12:00:00Z" },
        "payload": {
            "ver": "1.3.0",
            "dob": "1964-08-12",
            "nam": { "fn": "Musterfrau", "gn": "Erika", "fnt": "MUSTERFRAU", "gnt": "ERIKA" },
            "v": [{
                "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
                "ma": "ORG-100030215", "dn": 2, "sd": 2, "dt": "2021-05-01",
                "co": "NL", "is": "Ministry of Health", "ci": "URN:UVCI:01:NL:187/37512422923"
            }]
        }
    })
}

fn benches(c: &mut Criterion) {
    let data = data_document();
    let engine = Engine::new();
    // datalogic-rs's best case: the document already in its own arena form.
    let parsed = ParsedData::from_json(&data.to_string()).unwrap();

    for (name, text) in EXPRESSIONS {
        let ours = Expr::parse(text).unwrap();
        let theirs = engine.compile(*text).unwrap();

        // Both engines must agree, from both input forms, before their speed
        // is worth comparing.
        let expected = ours.evaluate(&data).unwrap().to_string();
        let mut session = engine.session();
        for their_result in [
            session.eval_borrowed(&theirs, &data).unwrap().to_string(),
            session
                .eval_borrowed(&theirs, parsed.value())
                .unwrap()
                .to_string(),
        ] {
            assert_eq!(expected, their_result, "{name}: engines disagree");
        }
        drop(session);

        let mut group = c.benchmark_group(*name);
        // Same input for both: a `&serde_json::Value`. Ours reads it in place;
        // datalogic-rs deep-converts it into its session arena first, as any
        // caller holding a `serde_json::Value` must.
        group.bench_function("certlogic/compiled_once", |b| {
            b.iter(|| black_box(ours.evaluate(black_box(&data)).unwrap()))
        });
        group.bench_function("datalogic-rs/compiled_once", |b| {
            let mut session = engine.session();
            b.iter(|| {
                let hit = session
                    .eval_borrowed(&theirs, black_box(&data))
                    .map(|v| black_box(v).is_null())
                    .unwrap();
                session.reset();
                hit
            })
        });
        // Reference only: datalogic-rs on its own pre-parsed document
        // (conversion excluded), i.e. its evaluator alone.
        group.bench_function("datalogic-rs/compiled_once_preparsed", |b| {
            let mut session = engine.session();
            b.iter(|| {
                let hit = session
                    .eval_borrowed(&theirs, black_box(parsed.value()))
                    .map(|v| black_box(v).is_null())
                    .unwrap();
                session.reset();
                hit
            })
        });
        group.bench_function("certlogic/parse_each_call", |b| {
            b.iter(|| {
                let expr = Expr::parse(black_box(text)).unwrap();
                black_box(expr.evaluate(black_box(&data)).unwrap())
            })
        });
        group.bench_function("datalogic-rs/parse_each_call", |b| {
            let mut session = engine.session();
            b.iter(|| {
                let logic = engine.compile(*black_box(text)).unwrap();
                let hit = session
                    .eval_borrowed(&logic, black_box(&data))
                    .map(|v| black_box(v).is_null())
                    .unwrap();
                session.reset();
                hit
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = certlogic_benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    targets = benches
}
criterion_main!(certlogic_benches);
