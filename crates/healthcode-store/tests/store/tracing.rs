//! Tracing against the store's indexes agrees with the all-pairs reference on random cities,
//! and a trace whose worker died is taken up again.

use super::{official, resident_id, stores, unique};
use healthcode_core::contacts::{TraceParams, trace, trace_all_pairs};
use healthcode_core::visits::{Direction, VisitPoint};
use healthcode_core::{Fact, FactBody};
use healthcode_store::{Enrollment, IndexedLog, NewPerson, NewScan, NewVisit};
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
    for store in stores().await {
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
            let presence: Vec<VisitPoint<'_>> = rows
                .iter()
                .filter(|r| r.5)
                .map(|&(s, v, direction, at, until, _)| VisitPoint {
                    subject: &subjects[s],
                    venue: &venues[v],
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
        store
            .finish_trace("case-1", None, T0 + time::Duration::minutes(7))
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
