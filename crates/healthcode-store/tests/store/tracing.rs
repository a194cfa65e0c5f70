//! Tracing against the store's indexes agrees with the all-pairs reference on random cities,
//! and a trace whose worker died is taken up again.

use super::{official, resident_id, stores, unique};
use healthcode_core::contacts::{TraceParams, trace, trace_all_pairs};
use healthcode_core::visits::{Direction, VisitPoint};
use healthcode_core::{Fact, FactBody};
use healthcode_store::{Enrollment, IndexedLog, NewPerson, NewScan, NewVisit, Store, Vault};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;
use time::macros::datetime;

const MIN: i64 = 60_000;
const T0: OffsetDateTime = datetime!(2026-11-20 00:00 UTC);

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[tokio::test]
async fn indexed_tracing_agrees_with_all_pairs_on_random_cities() {
    // An in-memory SQLite database is read as PostgreSQL is (one aggregated value per piece),
    // the file as the node reads it (row by row on read-only connections).
    let memory = Store::open("sqlite::memory:", Vault::from_master_key(&[42; 32]))
        .await
        .unwrap();
    for store in stores().await.into_iter().chain([memory]) {
        let mut rng = StdRng::seed_from_u64(20200123);
        let mut exposures = 0;
        for city in 0..25 {
            let tag = unique("c");
            let subjects: Vec<String> = (0..12).map(|i| format!("{tag}-s{i}")).collect();
            let venues: Vec<String> = (0..4).map(|i| format!("{tag}-v{i}")).collect();
            // (subject, venue, direction, at, until, counts as presence)
            let mut rows = Vec::new();
            for _ in 0..rng.gen_range(10..90) {
                let exit = rng.gen_bool(0.15);
                let at = ms(T0) + rng.gen_range(0..12 * 60) * MIN;
                let until = if exit {
                    at
                } else {
                    at + rng.gen_range(1..=120) * MIN
                };
                rows.push((
                    rng.gen_range(0..subjects.len()),
                    rng.gen_range(0..venues.len()),
                    if exit {
                        Direction::Exit
                    } else {
                        Direction::Entry
                    },
                    at,
                    until,
                    !rng.gen_bool(0.1),
                ));
            }
            let scans: Vec<NewScan> = rows
                .iter()
                .map(|&(s, v, direction, at, until, confirmed)| NewScan {
                    source: format!("{tag}-gate"),
                    scan_id: unique("scan"),
                    venue_id: venues[v].clone(),
                    scanned_at: OffsetDateTime::from_unix_timestamp_nanos(
                        i128::from(at) * 1_000_000,
                    )
                    .unwrap(),
                    outcome: "admit",
                    answer: "{}".into(),
                    visit: Some(NewVisit {
                        subject: subjects[s].clone(),
                        region: "330100".into(),
                        direction,
                        via: "scan",
                        until: OffsetDateTime::from_unix_timestamp_nanos(
                            i128::from(until) * 1_000_000,
                        )
                        .unwrap(),
                        colour: "green".into(),
                        masked_name: "张*".into(),
                        // A flagged check-in is no presence until confirmed.
                        flag: (!confirmed).then(|| "far".to_owned()),
                    }),
                })
                .collect();
            store.record_scans(&scans, T0).await.unwrap();
            let presence: Vec<VisitPoint<&str>> = rows
                .iter()
                .filter(|r| r.5)
                .map(|&(s, v, direction, at, until, _)| VisitPoint {
                    subject: subjects[s].as_str(),
                    venue: venues[v].as_str(),
                    direction,
                    at,
                    until,
                })
                .collect();
            let params = TraceParams {
                margin_ms: rng.gen_range(0..20) * MIN,
                min_overlap_ms: rng.gen_range(0..30) * MIN,
                depth: rng.gen_range(1..4),
                longest_dwell_ms: 120 * MIN,
            };
            let from = ms(T0) + rng.gen_range(0..6 * 60) * MIN;
            let window = (from, from + rng.gen_range(0..12 * 60) * MIN);
            let until = ms(T0) + 3 * 24 * 60 * MIN;
            let case = &subjects[0];
            let reference = trace_all_pairs(&presence, case, window, until, &params);
            let indexed = trace(&IndexedLog(&store), case, window, until, params)
                .await
                .unwrap();
            assert_eq!(
                indexed,
                reference,
                "{} city {city} ({params:?}, window {window:?})",
                store.backend_name()
            );
            exposures += reference.len();
        }
        assert!(
            exposures > 100,
            "the cities should expose people: {exposures}"
        );
    }
}

#[tokio::test]
async fn a_trace_whose_worker_died_is_taken_up_again() {
    for store in stores().await {
        let person = store
            .enroll(
                &NewPerson {
                    document: resident_id("11010519491231002X"),
                    name: "王五".into(),
                    phone: None,
                    guardian_id: None,
                    enrollment: Enrollment::Confirmed,
                },
                &official(),
                T0,
            )
            .await
            .unwrap();
        let case = Fact {
            id: "case-1".into(),
            recorded_at: T0,
            legal_basis: "case 1".into(),
            body: FactBody::Case {
                kind: healthcode_core::facts::CaseKind::Confirmed,
                onset_at: None,
                sampled_at: Some(T0),
                isolated_at: None,
            },
        };
        store
            .record_fact(&person.id, &case, &official(), T0)
            .await
            .unwrap();
        let lease = time::Duration::minutes(5);
        let job = store.claim_trace(T0, lease).await.unwrap().unwrap();
        assert_eq!((job.case_id.as_str(), job.runs), ("case-1", 1));
        // Held: no one else takes it while the lease lasts.
        assert!(
            store
                .claim_trace(T0 + time::Duration::minutes(4), lease)
                .await
                .unwrap()
                .is_none()
        );
        // The worker died: once the lease runs out, the trace runs again.
        let again = store
            .claim_trace(T0 + time::Duration::minutes(6), lease)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again.case_id.as_str(), again.runs), ("case-1", 2));
        // The first worker, slow rather than dead, ends nothing: the second run does.
        store
            .finish_trace("case-1", 1, None, T0 + time::Duration::minutes(6))
            .await
            .unwrap();
        let view = store.trace("case-1").await.unwrap().unwrap();
        assert_eq!(view.state, "running");
        store
            .finish_trace("case-1", again.runs, None, T0 + time::Duration::minutes(7))
            .await
            .unwrap();
        assert!(
            store
                .claim_trace(T0 + time::Duration::hours(1), lease)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(store.trace("case-1").await.unwrap().unwrap().state, "done");
    }
}

#[tokio::test]
async fn a_person_holds_one_contact_fact_per_level_whoever_the_case() {
    use healthcode_core::FactDocument;
    use healthcode_core::facts::ContactLevel;
    use healthcode_store::ContactFact;
    for store in stores().await {
        let x = store
            .enroll(
                &NewPerson {
                    document: resident_id("11010519491231002X"),
                    name: "冯八".into(),
                    phone: None,
                    guardian_id: None,
                    enrollment: Enrollment::Confirmed,
                },
                &official(),
                T0,
            )
            .await
            .unwrap();
        let contact = |n: u32, case: &str, level: ContactLevel, end_hour: i64| {
            let body = FactBody::Contact {
                level,
                case_id: case.into(),
                venue: "Wulin Square".into(),
                exposure_start: T0,
                exposure_end: T0 + time::Duration::hours(end_hour),
            };
            ContactFact {
                person_id: x.id.clone(),
                digest: serde_json::to_string(&body).unwrap(),
                fact: Fact {
                    id: format!("ct-{n}"),
                    recorded_at: T0 + time::Duration::minutes(n.into()),
                    legal_basis: format!("trace of {case}"),
                    body,
                },
            }
        };
        let hold = |case_person: &'static str, c: ContactFact| {
            let store = store.clone();
            async move {
                store
                    .hold_contact_facts(case_person, &[c], &official(), T0)
                    .await
                    .unwrap()
                    .len()
            }
        };
        use ContactLevel::{Close, Secondary};
        assert_eq!(hold("person-a", contact(1, "case-a1", Close, 10)).await, 1);
        assert_eq!(
            hold("person-a", contact(2, "case-a1", Close, 10)).await,
            0,
            "unchanged"
        );
        assert_eq!(
            hold("person-b", contact(3, "case-b1", Close, 9)).await,
            0,
            "ends earlier"
        );
        assert_eq!(
            hold("person-b", contact(4, "case-b1", Close, 11)).await,
            1,
            "lasts longer"
        );
        assert_eq!(
            hold("person-a", contact(5, "case-a2", Secondary, 12)).await,
            1
        );
        let facts = store.facts(&x.id).await.unwrap();
        let doc = FactDocument::as_of(&facts, T0 + time::Duration::days(1));
        let held: Vec<(&str, &str)> = doc.lists["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["case_id"].as_str().unwrap(), c["level"].as_str().unwrap()))
            .collect();
        assert_eq!(
            held,
            vec![("case-b1", "close"), ("case-a2", "secondary")],
            "{}",
            store.backend_name()
        );

        // One call naming the person twice for a level (a batch of notices can): decided in
        // order, as two calls would be, so one contact is held, the later one.
        let both = [
            contact(6, "case-c1", Close, 20),
            contact(7, "case-c1", Close, 21),
        ];
        let recorded = store
            .hold_contact_facts("person-c", &both, &official(), T0)
            .await
            .unwrap();
        assert_eq!(recorded, vec!["ct-6".to_owned(), "ct-7".to_owned()]);
        let facts = store.facts(&x.id).await.unwrap();
        let doc = FactDocument::as_of(&facts, T0 + time::Duration::days(1));
        let close: Vec<&str> = doc.lists["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["level"] == "close")
            .map(|c| c["case_id"].as_str().unwrap())
            .collect();
        assert_eq!(close, vec!["case-c1"], "{}", store.backend_name());
        let check = store.verify_audit_chain().await.unwrap();
        assert_eq!(check.first_broken, None, "{}", store.backend_name());
        let again = store
            .hold_contact_facts(
                "person-c",
                &[contact(8, "case-c1", Close, 21)],
                &official(),
                T0,
            )
            .await
            .unwrap();
        assert!(again.is_empty(), "the held one is the later one");
    }
}
