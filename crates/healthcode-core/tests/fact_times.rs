//! The times a fact may give, around the node's clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use healthcode_core::FactBody;
use healthcode_core::facts::{TimeBounds, TimeProblem};
use serde_json::json;
use time::macros::datetime;

fn body(v: serde_json::Value) -> FactBody {
    serde_json::from_value(v).unwrap()
}

#[test]
fn what_happened_lies_in_the_past_plans_within_a_year_and_each_pair_in_order() {
    let now = datetime!(2026-12-03 10:00 UTC);
    let bounds = TimeBounds::around(now, time::Duration::days(365));
    let test = |sampled: &str, reported: &str| {
        body(
            json!({"type": "test", "sample_id": "S", "result": "negative",
                    "sampled_at": sampled, "reported_at": reported}),
        )
        .check_times(&bounds)
    };
    assert_eq!(test("2026-12-02T10:00:00Z", "2026-12-03T09:00:00Z"), Ok(()));
    assert_eq!(
        test("0001-01-01T00:00:00Z", "2026-12-03T09:00:00Z"),
        Err(TimeProblem::TooOld("sampled_at"))
    );
    assert_eq!(
        test("2026-12-02T10:00:00Z", "9999-12-31T23:59:59Z"),
        Err(TimeProblem::InFuture("reported_at"))
    );
    assert_eq!(
        test("2026-12-03T09:00:00Z", "2026-12-02T10:00:00Z"),
        Err(TimeProblem::Order("sampled_at", "reported_at"))
    );
    // A clock a few minutes fast is tolerated; an hour is not.
    assert_eq!(test("2026-12-03T10:00:00Z", "2026-12-03T10:04:00Z"), Ok(()));
    assert_eq!(
        test("2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z"),
        Err(TimeProblem::InFuture("reported_at"))
    );
    // A trip may be planned, up to a year ahead.
    let trip = |arrived: &str| {
        body(
            json!({"type": "trip", "origin": "420100", "destination": "110000",
                    "arrived_at": arrived}),
        )
        .check_times(&bounds)
    };
    assert_eq!(trip("2027-02-01T10:00:00Z"), Ok(()));
    assert_eq!(
        trip("9999-12-31T00:00:00Z"),
        Err(TimeProblem::TooFar("arrived_at"))
    );
    // A check-in happened now or before.
    let checkin =
        body(json!({"type": "checkin", "date": "2026-12-10", "at": "2026-12-10T09:00:00Z"}));
    assert_eq!(
        checkin.check_times(&bounds),
        Err(TimeProblem::InFuture("at"))
    );
    let problem = TimeProblem::TooOld("onset_at");
    assert!(problem.en(&bounds).contains("2025-12-03"));
    assert!(problem.zh(&bounds).contains("早于"));
}
