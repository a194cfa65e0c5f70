//! The default policy, judged on a table of scenarios: every rule, the hour before and after each
//! end, release by tests and by check-ins, severity, several reasons, retractions and facts not
//! yet on record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use healthcode_core::{Color, Fact, Policy};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// "04-03 14:40" → 2020-04-03T14:40:00+08:00, the season and zone of the scenarios.
fn ts(short: &str) -> String {
    let (date, time) = short.split_once(' ').unwrap();
    format!("2020-{date}T{time}:00+08:00")
}

fn at(short: &str) -> OffsetDateTime {
    OffsetDateTime::parse(&ts(short), &Rfc3339).unwrap()
}

/// A fact of `kind` recorded at `recorded`, with the given fields.
fn fact(id: &str, kind: &str, recorded: &str, fields: Value) -> Fact {
    let mut v =
        json!({"id": id, "type": kind, "recorded_at": ts(recorded), "legal_basis": "basis"});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap_or_else(|e| panic!("fact {id}: {e}"))
}

fn case(id: &str, kind: &str, recorded: &str) -> Fact {
    fact(id, "case", recorded, json!({"kind": kind}))
}

fn contact(id: &str, level: &str, start: &str, end: &str) -> Fact {
    fact(
        id,
        "contact",
        end,
        json!({
        "level": level, "case_id": "2020-0412", "venue": "Metro Line 1",
        "exposure_start": ts(start), "exposure_end": ts(end)}),
    )
}

fn test(id: &str, result: &str, sampled: &str, reported: &str) -> Fact {
    fact(
        id,
        "test",
        reported,
        json!({
        "sample_id": format!("S-{id}"), "result": result,
        "sampled_at": ts(sampled), "reported_at": ts(reported)}),
    )
}

fn stay(id: &str, level: &str, arrived: &str, left: Option<&str>, recorded: &str) -> Fact {
    fact(
        id,
        "risk_stay",
        recorded,
        json!({
        "level": level, "region": "420106", "arrived_at": ts(arrived), "left_at": left.map(ts)}),
    )
}

fn trip(id: &str, abroad: bool, arrived: &str, recorded: &str) -> Fact {
    fact(
        id,
        "trip",
        recorded,
        json!({
        "origin": if abroad { "Milan, IT" } else { "310000" }, "destination": "330100",
        "arrived_at": ts(arrived), "abroad": abroad}),
    )
}

fn declaration(id: &str, recorded: &str, temperature: i64, symptoms: &[&str]) -> Fact {
    fact(
        id,
        "declaration",
        recorded,
        json!({"temperature_decicelsius": temperature, "symptoms": symptoms}),
    )
}

fn release(id: &str, releases: &str, when: &str) -> Fact {
    fact(
        id,
        "release",
        when,
        json!({"releases": releases, "at": ts(when)}),
    )
}

fn retraction(id: &str, retracts: &str, recorded: &str) -> Fact {
    fact(
        id,
        "retraction",
        recorded,
        json!({"retracts": retracts, "reason": "appeal upheld"}),
    )
}

fn observation(id: &str, start: &str, end: Option<&str>) -> Fact {
    fact(
        id,
        "observation",
        start,
        json!({"kind": "home", "start_at": ts(start), "end_at": end.map(ts)}),
    )
}

fn attestation(id: &str, colour: &str, attested: &str, until: Option<&str>) -> Fact {
    fact(
        id,
        "attestation",
        attested,
        json!({"origin": "420100", "colour": colour, "rules": ["close-contact"],
               "until": until.map(ts), "attested_at": ts(attested)}),
    )
}

fn checkin(id: &str, when: &str) -> Fact {
    let date = &ts(when)[..10];
    fact(id, "checkin", when, json!({"date": date, "at": ts(when)}))
}

/// Daily check-ins at 09:00 on each April day of `days`.
fn checkins(days: impl IntoIterator<Item = u32>) -> Vec<Fact> {
    days.into_iter()
        .map(|d| checkin(&format!("k{d}"), &format!("04-{d:02} 09:00")))
        .collect()
}

fn with(mut a: Vec<Fact>, b: Vec<Fact>) -> Vec<Fact> {
    a.extend(b);
    a
}

struct Scenario {
    name: &'static str,
    facts: Vec<Fact>,
    at: &'static str,
    color: Color,
    reasons: &'static [&'static str],
}

fn s(
    name: &'static str,
    facts: Vec<Fact>,
    at: &'static str,
    color: Color,
    reasons: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        facts,
        at,
        color,
        reasons,
    }
}

fn scenarios() -> Vec<Scenario> {
    use Color::{Green, Red, Yellow};
    let close = || contact("c1", "close", "04-03 14:02", "04-03 14:40");
    let secondary = || contact("c2", "secondary", "04-03 14:02", "04-03 14:40");
    vec![
        // Nothing that matters.
        s("no facts", vec![], "04-05 10:00", Green, &[]),
        s(
            "a negative test alone",
            vec![test("t1", "negative", "04-04 09:00", "04-04 20:00")],
            "04-05 10:00",
            Green,
            &[],
        ),
        s(
            "a normal declaration",
            vec![declaration("d1", "04-05 08:00", 365, &[])],
            "04-05 10:00",
            Green,
            &[],
        ),
        s(
            "a domestic trip",
            vec![trip("p1", false, "04-04 10:00", "04-04 10:00")],
            "04-05 10:00",
            Green,
            &[],
        ),
        // Cases.
        s(
            "confirmed case",
            vec![case("k", "confirmed", "04-03 10:00")],
            "04-05 10:00",
            Red,
            &["case-confirmed"],
        ),
        s(
            "suspected case",
            vec![case("k", "suspected", "04-03 10:00")],
            "04-05 10:00",
            Red,
            &["case-suspected"],
        ),
        s(
            "asymptomatic infection",
            vec![case("k", "asymptomatic", "04-03 10:00")],
            "04-05 10:00",
            Red,
            &["case-asymptomatic"],
        ),
        s(
            "case a year on, never released",
            vec![case("k", "confirmed", "04-03 10:00")],
            "12-31 10:00",
            Red,
            &["case-confirmed"],
        ),
        s(
            "case discharged, hour before observation ends",
            vec![
                case("k", "confirmed", "04-03 10:00"),
                release("r", "k", "04-10 14:00"),
            ],
            "04-24 13:00",
            Red,
            &["case-confirmed"],
        ),
        s(
            "case discharged, hour after observation ends",
            vec![
                case("k", "confirmed", "04-03 10:00"),
                release("r", "k", "04-10 14:00"),
            ],
            "04-24 15:00",
            Green,
            &[],
        ),
        // Close contacts.
        s(
            "close contact",
            vec![close()],
            "04-05 10:00",
            Red,
            &["close-contact"],
        ),
        s(
            "close contact, hour before 14 days",
            vec![close()],
            "04-17 13:40",
            Red,
            &["close-contact"],
        ),
        s(
            "close contact, hour after 14 days",
            vec![close()],
            "04-17 15:40",
            Green,
            &[],
        ),
        s(
            "close contact released by the authority",
            vec![close(), release("r", "c1", "04-08 10:00")],
            "04-09 10:00",
            Green,
            &[],
        ),
        s(
            "close contact, 14 consecutive check-ins",
            with(vec![close()], checkins(4..=17)),
            "04-17 10:00",
            Green,
            &[],
        ),
        s(
            "close contact, 14th check-in not yet made",
            with(vec![close()], checkins(4..=17)),
            "04-17 08:00",
            Red,
            &["close-contact"],
        ),
        s(
            "close contact, check-ins broken by a missed day",
            with(vec![close()], checkins((4..=17).filter(|d| *d != 10))),
            "04-17 10:00",
            Red,
            &["close-contact"],
        ),
        s(
            "close contact, 14 check-ins sent at once, dated ahead: only today's counts",
            with(
                vec![close()],
                (4..=17)
                    .map(|d| {
                        let date = format!("2020-04-{d:02}");
                        fact(
                            &format!("k{d}"),
                            "checkin",
                            "04-04 09:00",
                            json!({"date": date, "at": format!("{date}T09:00:00+08:00")}),
                        )
                    })
                    .collect(),
            ),
            "04-17 10:00",
            Red,
            &["close-contact"],
        ),
        s(
            "close contact, two check-ins a day for a week count as seven",
            with(
                vec![close()],
                (4..=10)
                    .flat_map(|d| {
                        [
                            checkin(&format!("k{d}"), &format!("04-{d:02} 09:00")),
                            checkin(&format!("k{d}b"), &format!("04-{d:02} 21:00")),
                        ]
                    })
                    .collect(),
            ),
            "04-17 10:00",
            Red,
            &["close-contact"],
        ),
        // High-risk areas.
        s(
            "high-risk stay",
            vec![stay(
                "h",
                "high",
                "04-01 10:00",
                Some("04-02 12:00"),
                "04-03 10:00",
            )],
            "04-05 10:00",
            Red,
            &["high-risk-stay"],
        ),
        s(
            "high-risk stay, not yet left",
            vec![stay("h", "high", "04-01 10:00", None, "04-03 10:00")],
            "05-30 10:00",
            Red,
            &["high-risk-stay"],
        ),
        s(
            "high-risk stay, hour before 14 days",
            vec![stay(
                "h",
                "high",
                "04-01 10:00",
                Some("04-02 12:00"),
                "04-03 10:00",
            )],
            "04-16 11:00",
            Red,
            &["high-risk-stay"],
        ),
        s(
            "high-risk stay, hour after 14 days",
            vec![stay(
                "h",
                "high",
                "04-01 10:00",
                Some("04-02 12:00"),
                "04-03 10:00",
            )],
            "04-16 13:00",
            Green,
            &[],
        ),
        s(
            "high-risk stay not yet begun",
            vec![stay("h", "high", "04-10 10:00", None, "04-03 10:00")],
            "04-05 10:00",
            Green,
            &[],
        ),
        // Secondary contacts.
        s(
            "secondary contact",
            vec![secondary()],
            "04-05 10:00",
            Yellow,
            &["secondary-contact"],
        ),
        s(
            "secondary contact, hour before 7 days",
            vec![secondary()],
            "04-10 13:40",
            Yellow,
            &["secondary-contact"],
        ),
        s(
            "secondary contact, hour after 7 days",
            vec![secondary()],
            "04-10 15:40",
            Green,
            &[],
        ),
        s(
            "secondary contact, two negatives 25 h apart",
            vec![
                secondary(),
                test("t1", "negative", "04-04 09:00", "04-04 20:00"),
                test("t2", "negative", "04-05 10:00", "04-05 20:00"),
            ],
            "04-05 21:00",
            Green,
            &[],
        ),
        s(
            "secondary contact, second negative not yet reported",
            vec![
                secondary(),
                test("t1", "negative", "04-04 09:00", "04-04 20:00"),
                test("t2", "negative", "04-05 10:00", "04-05 20:00"),
            ],
            "04-05 19:00",
            Yellow,
            &["secondary-contact"],
        ),
        s(
            "secondary contact, two negatives only 20 h apart",
            vec![
                secondary(),
                test("t1", "negative", "04-04 09:00", "04-04 20:00"),
                test("t2", "negative", "04-05 05:00", "04-05 12:00"),
            ],
            "04-06 10:00",
            Yellow,
            &["secondary-contact"],
        ),
        s(
            "secondary contact, two negatives more than 3 days apart",
            vec![
                secondary(),
                test("t1", "negative", "04-04 09:00", "04-04 20:00"),
                test("t2", "negative", "04-08 10:00", "04-08 20:00"),
            ],
            "04-09 10:00",
            Yellow,
            &["secondary-contact"],
        ),
        s(
            "secondary contact, a negative then a positive",
            vec![
                secondary(),
                test("t1", "negative", "04-04 09:00", "04-04 20:00"),
                test("t2", "positive", "04-05 10:00", "04-05 20:00"),
            ],
            "04-06 10:00",
            Yellow,
            &["secondary-contact"],
        ),
        s(
            "secondary contact, negatives taken before the exposure",
            vec![
                secondary(),
                test("t1", "negative", "04-01 09:00", "04-01 20:00"),
                test("t2", "negative", "04-02 10:00", "04-02 20:00"),
            ],
            "04-05 10:00",
            Yellow,
            &["secondary-contact"],
        ),
        s(
            "secondary contact, 7 consecutive check-ins",
            with(vec![secondary()], checkins(4..=10)),
            "04-10 10:00",
            Green,
            &[],
        ),
        s(
            "secondary contact, 6 check-ins",
            with(vec![secondary()], checkins(4..=9)),
            "04-10 10:00",
            Yellow,
            &["secondary-contact"],
        ),
        // Medium-risk areas.
        s(
            "medium-risk stay",
            vec![stay(
                "m",
                "medium",
                "04-01 10:00",
                Some("04-02 12:00"),
                "04-03 10:00",
            )],
            "04-05 10:00",
            Yellow,
            &["medium-risk-stay"],
        ),
        s(
            "medium-risk stay, hour before 14 days",
            vec![stay(
                "m",
                "medium",
                "04-01 10:00",
                Some("04-02 12:00"),
                "04-03 10:00",
            )],
            "04-16 11:00",
            Yellow,
            &["medium-risk-stay"],
        ),
        s(
            "medium-risk stay, hour after 14 days",
            vec![stay(
                "m",
                "medium",
                "04-01 10:00",
                Some("04-02 12:00"),
                "04-03 10:00",
            )],
            "04-16 13:00",
            Green,
            &[],
        ),
        s(
            "medium-risk stay lifted by two negatives (3天2检)",
            vec![
                stay(
                    "m",
                    "medium",
                    "04-01 10:00",
                    Some("04-02 12:00"),
                    "04-03 10:00",
                ),
                test("t1", "negative", "04-03 09:00", "04-03 18:00"),
                test("t2", "negative", "04-04 09:00", "04-04 18:00"),
            ],
            "04-04 19:00",
            Green,
            &[],
        ),
        // Arrivals from abroad.
        s(
            "arrival from abroad",
            vec![trip("p", true, "04-01 10:00", "03-20 10:00")],
            "04-02 10:00",
            Yellow,
            &["arrival-from-abroad"],
        ),
        s(
            "arrival from abroad, hour before 14 days",
            vec![trip("p", true, "04-01 10:00", "03-20 10:00")],
            "04-15 09:00",
            Yellow,
            &["arrival-from-abroad"],
        ),
        s(
            "arrival from abroad, hour after 14 days",
            vec![trip("p", true, "04-01 10:00", "03-20 10:00")],
            "04-15 11:00",
            Green,
            &[],
        ),
        s(
            "planned trip from abroad, not yet arrived",
            vec![trip("p", true, "04-20 10:00", "03-20 10:00")],
            "04-02 10:00",
            Green,
            &[],
        ),
        // Declarations.
        s(
            "declared fever 38.1",
            vec![declaration("d", "04-05 08:00", 381, &[])],
            "04-05 10:00",
            Yellow,
            &["declared-symptoms"],
        ),
        s(
            "declared 37.2, below the threshold",
            vec![declaration("d", "04-05 08:00", 372, &[])],
            "04-05 10:00",
            Green,
            &[],
        ),
        s(
            "declared 37.3, at the threshold",
            vec![declaration("d", "04-05 08:00", 373, &[])],
            "04-05 10:00",
            Yellow,
            &["declared-symptoms"],
        ),
        s(
            "declared a cough",
            vec![declaration("d", "04-05 08:00", 365, &["cough"])],
            "04-05 10:00",
            Yellow,
            &["declared-symptoms"],
        ),
        s(
            "declared a headache only",
            vec![declaration("d", "04-05 08:00", 365, &["headache"])],
            "04-05 10:00",
            Green,
            &[],
        ),
        s(
            "fever lifted by a negative test sampled after",
            vec![
                declaration("d", "04-05 08:00", 381, &[]),
                test("t", "negative", "04-05 11:00", "04-05 20:00"),
            ],
            "04-05 21:00",
            Green,
            &[],
        ),
        s(
            "fever not lifted by a test sampled before",
            vec![
                declaration("d", "04-05 08:00", 381, &[]),
                test("t", "negative", "04-04 11:00", "04-05 09:00"),
            ],
            "04-05 21:00",
            Yellow,
            &["declared-symptoms"],
        ),
        // Home observation check-ins.
        s(
            "observation, checked in within 36 h",
            vec![
                observation("o", "04-01 00:00", None),
                checkin("k1", "04-01 08:00"),
            ],
            "04-02 19:00",
            Green,
            &[],
        ),
        s(
            "observation, check-in missed",
            vec![
                observation("o", "04-01 00:00", None),
                checkin("k1", "04-01 08:00"),
            ],
            "04-02 21:00",
            Yellow,
            &["missed-checkin"],
        ),
        s(
            "observation, next check-in made",
            vec![
                observation("o", "04-01 00:00", None),
                checkin("k1", "04-01 08:00"),
                checkin("k2", "04-02 22:00"),
            ],
            "04-02 23:00",
            Green,
            &[],
        ),
        s(
            "observation ended",
            vec![observation("o", "04-01 00:00", Some("04-02 12:00"))],
            "04-05 10:00",
            Green,
            &[],
        ),
        s(
            "centralized quarantine, checked in: green, tagged",
            vec![
                fact(
                    "q",
                    "observation",
                    "04-01 00:00",
                    json!({"kind": "centralized", "start_at": ts("04-01 00:00")}),
                ),
                checkin("k1", "04-01 08:00"),
            ],
            "04-01 20:00",
            Green,
            &[],
        ),
        // Another region's attested status, with the person's consent.
        s(
            "attested red, before its end",
            vec![attestation("a", "red", "04-01 10:00", Some("04-10 10:00"))],
            "04-05 10:00",
            Red,
            &["transferred-red"],
        ),
        s(
            "attested red, after its end",
            vec![attestation("a", "red", "04-01 10:00", Some("04-10 10:00"))],
            "04-10 11:00",
            Green,
            &[],
        ),
        s(
            "attested yellow with no end, until a release",
            vec![attestation("a", "yellow", "04-01 10:00", None)],
            "04-20 10:00",
            Yellow,
            &["transferred-yellow"],
        ),
        s(
            "attested yellow, released",
            vec![
                attestation("a", "yellow", "04-01 10:00", None),
                release("r", "a", "04-03 10:00"),
            ],
            "04-04 10:00",
            Green,
            &[],
        ),
        s(
            "attested green is no reason",
            vec![attestation("a", "green", "04-01 10:00", None)],
            "04-02 10:00",
            Green,
            &[],
        ),
        // Several reasons and severity.
        s(
            "case, secondary contact and fever",
            vec![
                case("k", "confirmed", "04-04 10:00"),
                secondary(),
                declaration("d", "04-05 08:00", 381, &[]),
            ],
            "04-05 10:00",
            Red,
            &["case-confirmed", "secondary-contact", "declared-symptoms"],
        ),
        s(
            "secondary contact and medium-risk stay",
            vec![
                secondary(),
                stay(
                    "m",
                    "medium",
                    "04-01 10:00",
                    Some("04-02 12:00"),
                    "04-03 10:00",
                ),
            ],
            "04-05 10:00",
            Yellow,
            &["medium-risk-stay", "secondary-contact"],
        ),
        // Retractions and facts not yet on record.
        s(
            "retracted close contact",
            vec![close(), retraction("x", "c1", "04-06 10:00")],
            "04-07 10:00",
            Green,
            &[],
        ),
        s(
            "retraction itself retracted",
            vec![
                close(),
                retraction("x", "c1", "04-06 10:00"),
                retraction("y", "x", "04-06 12:00"),
            ],
            "04-07 10:00",
            Red,
            &["close-contact"],
        ),
        s(
            "retraction recorded after now",
            vec![close(), retraction("x", "c1", "04-08 10:00")],
            "04-07 10:00",
            Red,
            &["close-contact"],
        ),
        s(
            "case recorded after now",
            vec![case("k", "confirmed", "04-06 10:00")],
            "04-05 10:00",
            Green,
            &[],
        ),
        s(
            "release recorded after now",
            vec![close(), release("r", "c1", "04-08 10:00")],
            "04-07 10:00",
            Red,
            &["close-contact"],
        ),
        s(
            "a retraction naming a later fact is void",
            vec![retraction("x", "c1", "04-03 10:00"), close()],
            "04-05 10:00",
            Red,
            &["close-contact"],
        ),
    ]
}

#[test]
fn default_policy_scenarios() {
    let policy = Policy::default_policy().unwrap();
    let all = scenarios();
    assert!(all.len() >= 40, "the table must hold at least 40 scenarios");
    let mut failures = Vec::new();
    for sc in &all {
        let status = policy.evaluate(&sc.facts, at(sc.at));
        let mut got: Vec<&str> = status.reasons.iter().map(|r| r.rule.as_str()).collect();
        let mut want = sc.reasons.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        if status.color != sc.color || got != want || !status.errors.is_empty() {
            failures.push(format!(
                "{}: want {:?} {:?}, got {:?} {:?}, errors {:?}",
                sc.name, sc.color, want, status.color, got, status.errors
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_is_exercised_by_the_table() {
    let policy = Policy::default_policy().unwrap();
    let mut covered: std::collections::HashSet<String> = scenarios_reason_ids()
        .into_iter()
        .map(str::to_owned)
        .collect();
    // Tags (rules of colour `tag`) change no colour: seen where the table's facts give them.
    for sc in scenarios() {
        let status = policy.evaluate(&sc.facts, at(sc.at));
        covered.extend(status.tags.into_iter().map(|t| t.rule));
    }
    for rule in &policy.document().rules {
        assert!(
            covered.contains(rule.id.as_str()),
            "no scenario gives {}",
            rule.id
        );
    }
}

fn scenarios_reason_ids() -> std::collections::HashSet<&'static str> {
    scenarios()
        .iter()
        .flat_map(|s| s.reasons.iter().copied())
        .collect()
}

#[test]
fn observation_is_a_tag_beside_the_colour_while_it_lasts() {
    let policy = Policy::default_policy().unwrap();
    let facts = vec![
        observation("o", "04-01 00:00", Some("04-15 00:00")),
        checkin("k1", "04-02 08:00"),
    ];
    let during = policy.evaluate(&facts, at("04-02 10:00"));
    assert_eq!(during.color, Color::Green, "a tag changes no colour");
    assert!(during.reasons.is_empty());
    let tags: Vec<&str> = during.tags.iter().map(|t| t.rule.as_str()).collect();
    assert_eq!(tags, ["home-observation"]);
    assert!(
        during.tags[0]
            .text
            .zh
            .starts_with("居家观察中（自 2020-04-01 00:00 起）")
    );
    assert_eq!(during.tags[0].until, Some(at("04-15 00:00")));
    assert_eq!(
        during.next_change, None,
        "a tag's end is no change of colour"
    );
    let after = policy.evaluate(&facts, at("04-16 10:00"));
    assert!(after.tags.is_empty(), "{:?}", after.tags);
}

#[test]
fn a_region_is_named_in_a_reason_not_numbered() {
    let policy = Policy::default_policy().unwrap();
    let facts = vec![stay("h", "high", "04-01 10:00", None, "04-03 10:00")];
    let status = policy.evaluate(&facts, at("04-05 10:00"));
    let text = &status.reasons[0].text;
    assert!(
        text.zh.contains("高风险地区 武昌区") && !text.zh.contains("420106"),
        "{}",
        text.zh
    );
    assert!(text.en.contains("武昌区"), "{}", text.en);
}

#[test]
fn reasons_are_ordered_by_severity_and_explain_themselves() {
    let policy = Policy::default_policy().unwrap();
    let facts = vec![
        declaration("d", "04-05 08:00", 381, &[]),
        contact("c1", "close", "04-03 14:02", "04-03 14:40"),
    ];
    let status = policy.evaluate(&facts, at("04-05 10:00"));
    assert_eq!(status.color, Color::Red);
    assert_eq!(status.reasons[0].rule, "close-contact");
    assert_eq!(status.reasons[1].rule, "declared-symptoms");
    let close = &status.reasons[0];
    assert_eq!(close.facts, vec!["c1"]);
    assert_eq!(close.until, Some(at("04-17 14:40")));
    assert_eq!(status.next_change, Some(at("04-17 14:40")));
    assert!(
        close.text.zh.contains("一名确诊病例")
            && !close.text.zh.contains("2020-0412")
            && close.text.zh.contains("Metro Line 1"),
        "{}",
        close.text.zh
    );
    assert!(
        close.text.en.contains("2020-04-03 14:40"),
        "{}",
        close.text.en
    );
    assert!(
        !close.text.en.contains('{'),
        "unfilled placeholder: {}",
        close.text.en
    );
    assert!(close.notice.is_some());
    assert_eq!(
        status.reasons[1].until, None,
        "a fever lasts until a negative test, not a time"
    );
}

#[test]
fn every_reason_text_is_filled_for_every_rule() {
    let policy = Policy::default_policy().unwrap();
    for sc in scenarios() {
        let status = policy.evaluate(&sc.facts, at(sc.at));
        for reason in &status.reasons {
            for text in [&reason.text.zh, &reason.text.en] {
                assert!(
                    !text.contains('{'),
                    "{}: unfilled placeholder in {text}",
                    sc.name
                );
            }
        }
    }
}

#[test]
fn the_retraction_of_a_fact_is_the_one_in_force() {
    use healthcode_core::facts::{in_force, retraction_of};
    let c = case("c1", "confirmed", "04-05 10:00");
    let x = retraction("x", "c1", "04-06 10:00");
    let y = retraction("y", "x", "04-06 12:00");
    let z = retraction("z", "c1", "04-07 10:00");
    let early = retraction("early", "c1", "04-04 10:00");
    let id = |f: Option<&Fact>| f.map(|f| f.id.clone());
    assert_eq!(id(retraction_of(std::slice::from_ref(&c), "c1")), None);
    assert_eq!(
        id(retraction_of(&[c.clone(), x.clone()], "c1")),
        Some("x".into())
    );
    // A retraction that is itself retracted reinstates the case; a later one withdraws it again.
    let reinstated = [c.clone(), x.clone(), y.clone()];
    assert_eq!(id(retraction_of(&reinstated, "c1")), None);
    assert!(in_force(&reinstated, "c1"));
    assert_eq!(
        id(retraction_of(&[c.clone(), x, y, z], "c1")),
        Some("z".into())
    );
    // A retraction recorded before the fact withdraws nothing.
    assert_eq!(id(retraction_of(&[c.clone(), early], "c1")), None);
}
