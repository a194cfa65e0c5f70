//! Evaluations per second of the default policy on typical residents' facts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use healthcode_core::{Fact, FactDocument, Policy};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Duration;
use time::macros::datetime;

fn facts(v: Value) -> Vec<Fact> {
    serde_json::from_value(v).unwrap()
}

fn fact(id: &str, kind: &str, recorded: &str, mut fields: Value) -> Value {
    let map = fields.as_object_mut().unwrap();
    map.insert("id".into(), json!(id));
    map.insert("type".into(), json!(kind));
    map.insert("recorded_at".into(), json!(recorded));
    map.insert("legal_basis".into(), json!("basis"));
    fields
}

/// A resident with an ordinary fortnight: daily declarations, two negative tests, a trip.
fn green() -> Vec<Fact> {
    let mut all: Vec<Value> = (1..=14)
        .map(|d| {
            let at = format!("2020-04-{d:02}T08:00:00+08:00");
            fact(
                &format!("d{d}"),
                "declaration",
                &at,
                json!({"temperature_decicelsius": 365, "symptoms": []}),
            )
        })
        .collect();
    for (i, d) in [3, 10].iter().enumerate() {
        let s = format!("2020-04-{d:02}T09:00:00+08:00");
        let r = format!("2020-04-{d:02}T20:00:00+08:00");
        all.push(fact(&format!("t{i}"), "test", &r, json!({"sample_id": format!("S{i}"), "result": "negative", "sampled_at": s, "reported_at": r})));
    }
    all.push(fact("p", "trip", "2020-04-05T10:00:00+08:00", json!({"origin": "310000", "destination": "330100", "arrived_at": "2020-04-05T10:00:00+08:00"})));
    facts(Value::Array(all))
}

/// A secondary contact in home observation: tests, daily check-ins, declarations.
fn yellow() -> Vec<Fact> {
    let mut all = vec![
        fact(
            "c",
            "contact",
            "2020-04-04T10:00:00+08:00",
            json!({"level": "secondary", "case_id": "2020-0412", "venue": "Metro Line 1",
            "exposure_start": "2020-04-03T14:02:00+08:00", "exposure_end": "2020-04-03T14:40:00+08:00"}),
        ),
        fact(
            "o",
            "observation",
            "2020-04-04T10:00:00+08:00",
            json!({"kind": "home", "start_at": "2020-04-04T10:00:00+08:00"}),
        ),
    ];
    for d in 4..=8 {
        let at = format!("2020-04-{d:02}T09:00:00+08:00");
        all.push(fact(
            &format!("k{d}"),
            "checkin",
            &at,
            json!({"date": format!("2020-04-{d:02}"), "at": at}),
        ));
        all.push(fact(
            &format!("d{d}"),
            "declaration",
            &at,
            json!({"temperature_decicelsius": 366, "symptoms": []}),
        ));
    }
    all.push(fact("t1", "test", "2020-04-04T20:00:00+08:00", json!({"sample_id": "S1", "result": "negative", "sampled_at": "2020-04-04T09:00:00+08:00", "reported_at": "2020-04-04T20:00:00+08:00"})));
    facts(Value::Array(all))
}

/// A close contact who also declared a fever.
fn red() -> Vec<Fact> {
    let mut v = yellow();
    v.extend(facts(json!([
        fact("c2", "contact", "2020-04-05T10:00:00+08:00", json!({"level": "close", "case_id": "2020-0413", "venue": "Wulin Mall",
            "exposure_start": "2020-04-04T12:00:00+08:00", "exposure_end": "2020-04-04T12:30:00+08:00"})),
        fact("f", "declaration", "2020-04-06T08:00:00+08:00", json!({"temperature_decicelsius": 381, "symptoms": ["cough"]})),
    ])));
    v
}

/// Someone found at a high-risk venue (what publishing a risk area gives 181,609 people of the
/// simulated city at once): one fact.
fn risk_stay() -> Vec<Fact> {
    facts(json!([fact(
        "r",
        "risk_stay",
        "2020-04-07T10:00:00+08:00",
        json!({"level": "high",
        "region": "330106", "venue": "Wulin Mall", "arrived_at": "2020-04-06T12:00:00+08:00",
        "left_at": "2020-04-06T13:00:00+08:00"})
    )]))
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default_policy().unwrap();
    let now = datetime!(2020-04-08 12:00 +08:00);
    let mut group = c.benchmark_group("policy");
    group.throughput(Throughput::Elements(1));
    for (name, facts) in [
        ("green_19_facts", green()),
        ("yellow_13_facts", yellow()),
        ("red_15_facts", red()),
        ("risk_stay_1_fact", risk_stay()),
    ] {
        let expected = policy.evaluate(&facts, now).color;
        eprintln!("{name}: {expected}");
        group.bench_function(format!("evaluate/{name}"), |b| {
            b.iter(|| policy.evaluate(black_box(&facts), black_box(now)))
        });
        group.bench_function(format!("fact_document/{name}"), |b| {
            b.iter(|| FactDocument::as_of(black_box(&facts), black_box(now)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
