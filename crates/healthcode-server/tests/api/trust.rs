//! Trust: no one turns their own code green, one table decides who records which fact by
//! which route, times are bounded by the node's clock, and a rule that cannot be judged shows
//! pending, never green. On every store.

use super::scans::resident_id;
use super::web::Browser;
use super::{Node, hours_ago, nodes, nodes_with, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

fn now() -> String {
    super::system_now().format(&Rfc3339).unwrap()
}

fn today() -> String {
    let t = super::system_now()
        .checked_to_offset(time::macros::offset!(+8))
        .unwrap();
    t.date().to_string()
}

/// A resident who enrolled themselves under a phone of their own: (token, id, document, phone).
async fn resident(node: &Node) -> (String, String, String, String) {
    let n = super::COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let phone = format!(
        "136{:08}",
        (std::process::id() as usize * 1000 + n) % 100_000_000
    );
    let token = node.resident(&phone).await;
    let document = resident_id();
    let (status, person) = node
        .post(
            "/api/v1/people",
            &token,
            json!({"document_kind": "resident_id", "document_number": document,
                   "name": "周自愈", "phone": phone}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{person}");
    let id = person["id"].as_str().unwrap().to_owned();
    (token, id, document, phone)
}

async fn code(node: &Node, token: &str, id: &str) -> Value {
    let (status, s) = node
        .get(&format!("/api/v1/people/{id}/status"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    s
}

/// Declares for `id` (the day's check-in): the status and the answer.
async fn declare(node: &Node, token: &str, id: &str, declaration: Value) -> (StatusCode, Value) {
    node.post(
        &format!("/api/v1/people/{id}/declarations"),
        token,
        declaration,
    )
    .await
}

#[tokio::test]
async fn a_resident_cannot_release_themselves_from_red() {
    for node in nodes().await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let (me, id, _, _) = resident(&node).await;
        let (status, body) = node
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &official,
                json!({"type": "contact",
                "level": "close", "case_id": "2020-0412", "venue": "Metro Line 1",
                "exposure_start": hours_ago(3), "exposure_end": hours_ago(2),
                "legal_basis": "CDC trace 2020-0412"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(code(&node, &me, &id).await["code"], "red");

        // Fourteen check-ins of its own choosing: refused, by either route.
        let checkins: Vec<Value> = (0..14)
            .map(|d| {
                let day = super::system_now() + time::Duration::days(d);
                json!({"type": "checkin", "date": day.date().to_string(),
                       "at": day.format(&Rfc3339).unwrap(), "legal_basis": "self-declared"})
            })
            .collect();
        let (status, _) = node
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &me,
                checkins[13].clone(),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{store}");
        let items: Vec<Value> = checkins
            .iter()
            .map(|f| json!({"person_id": id, "fact": f}))
            .collect();
        let (status, _) = node
            .post(
                "/api/v1/facts/batch",
                &me,
                json!({"legal_basis": "self", "items": items}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{store}");

        // The daily declaration is the check-in: fourteen today count as one, on today.
        for n in 0..14 {
            let (status, answer) = declare(
                &node,
                &me,
                &id,
                json!({"temperature_c": 36.5, "symptoms": []}),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            assert_eq!(answer["checkin"]["date"], today());
            assert_eq!(
                answer["checkin"]["first_today"],
                n == 0,
                "{store}: {answer}"
            );
        }
        let facts = node.state.store.facts(&id).await.unwrap();
        let checkins: Vec<_> = facts
            .iter()
            .filter(|f| matches!(f.body, healthcode_core::FactBody::Checkin { .. }))
            .collect();
        assert_eq!(checkins.len(), 1, "{store}: one check-in a day");
        assert_eq!(code(&node, &me, &id).await["code"], "red", "{store}");
        node.stop().await;
    }
}

#[tokio::test]
async fn times_out_of_bounds_are_refused_from_every_role_and_route() {
    for node in nodes().await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let (me, id, document, _) = resident(&node).await;
        let facts = format!("/api/v1/people/{id}/facts");
        for (when, field) in [
            ("0001-01-01T00:00:00Z", "sampled_at"),
            ("9999-12-31T23:59:59Z", "reported_at"),
        ] {
            let (sampled, reported) = if field == "sampled_at" {
                (when.to_owned(), hours_ago(1))
            } else {
                (hours_ago(1), when.to_owned())
            };
            let (status, body) = node
                .post(
                    &facts,
                    &official,
                    json!({"type": "test", "sample_id": unique("S"),
                    "result": "negative", "sampled_at": sampled, "reported_at": reported,
                    "legal_basis": "Lab 1"}),
                )
                .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_time")),
                "{store}: {body}"
            );
            assert!(body["message"].as_str().unwrap().contains(field), "{body}");
            assert!(!body["message_zh"].as_str().unwrap().is_empty());
        }
        let (status, body) = node
            .post(
                "/api/v1/cases",
                &official,
                json!({"person_id": id, "kind": "confirmed",
                "onset_at": "9999-12-31T23:59:59+14:00", "legal_basis": "CDC"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{store}: {body}");
        let (status, body) = node
            .post(
                &format!("/api/v1/people/{id}/trips"),
                &me,
                json!({"origin": "420100",
                "destination": "330100", "arrived_at": "9999-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{store}: {body}");
        let (status, body) = node
            .post(
                "/api/v1/risk-areas",
                &official,
                json!({"region": "330108", "name": "末日小区",
                "level": "high", "starts_at": "9999-12-31T20:00:00Z", "legal_basis": "杭防控"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{store}: {body}");
        let (status, report) = node
            .post(
                "/api/v1/feeds/lab-results",
                &official,
                json!({"legal_basis": "Lab 2",
                "results": [{"sample_id": unique("S"), "document_kind": "resident_id",
                "document_number": document, "result": "negative",
                "sampled_at": "0001-01-01T00:00:00Z"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(
            report["rejected"][0]["code"], "bad_time",
            "{store}: {report}"
        );
        // The console still draws every page: nothing at the end of time was recorded.
        let mut browser = Browser::new(&node);
        browser.sign_in(&official).await;
        for page in ["/console", "/console/risk-areas", "/console/dashboard"] {
            assert_eq!(browser.get(page).await.status, StatusCode::OK, "{page}");
        }
        node.stop().await;
    }
}

/// Who may record which kind of fact by which route, as docs/SECURITY.md states it: the test
/// holds its own copy of the table, so a change to the node's must be a change to this too.
fn permitted(role: &str, route: &str, kind: &str) -> bool {
    const OFFICIAL: [&str; 7] = [
        "case",
        "test",
        "contact",
        "risk_stay",
        "observation",
        "release",
        "retraction",
    ];
    match (role, route) {
        ("health_official", "single" | "batch") => OFFICIAL.contains(&kind),
        ("community_worker", "single" | "batch") => matches!(kind, "observation" | "release"),
        _ => false,
    }
}

/// A well-formed fact of each kind about `id`, with `target` for a release or retraction.
fn sample(kind: &str, target: &str) -> Value {
    let mut fact = match kind {
        "case" => json!({"kind": "confirmed", "onset_at": hours_ago(30)}),
        "test" => json!({"sample_id": unique("S"), "result": "negative",
                         "sampled_at": hours_ago(5), "reported_at": hours_ago(1)}),
        "contact" => json!({"level": "secondary", "case_id": "c-1", "venue": "Metro",
                            "exposure_start": hours_ago(5), "exposure_end": hours_ago(4)}),
        "risk_stay" => json!({"level": "medium", "region": "420100",
                              "arrived_at": hours_ago(50), "left_at": hours_ago(30)}),
        "itinerary" => json!({"region": "420100", "date": today()}),
        "trip" => json!({"origin": "420100", "destination": "330100", "arrived_at": hours_ago(3)}),
        "declaration" => json!({"symptoms": []}),
        "observation" => json!({"kind": "home", "start_at": hours_ago(1)}),
        "checkin" => json!({"date": today(), "at": now()}),
        "release" => json!({"releases": target, "at": now()}),
        "retraction" => json!({"retracts": target, "reason": "entered in error"}),
        // Only another region's signed answer under the person's consent records one.
        "attestation" => json!({"origin": "420100", "colour": "red", "rules": ["close-contact"],
                                "attested_at": hours_ago(1)}),
        other => panic!("no sample for {other}"),
    };
    fact["type"] = json!(kind);
    fact["legal_basis"] = json!("Notice 2026-1");
    fact
}

#[tokio::test]
async fn one_table_decides_who_records_which_fact_by_which_route() {
    for node in nodes().await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let (me, id, document, phone) = resident(&node).await;
        let granted =
            super::feeds::department(&node, &["lab_results", "itinerary", "risk_areas"]).await;
        let mut callers: Vec<(&str, String)> = vec![("resident", me.clone())];
        for role in [
            "checkpoint",
            "venue_manager",
            "health_official",
            "community_worker",
            "department",
            "auditor",
            "admin",
        ] {
            callers.push((role, node.staff(role).await));
        }
        // Releases and retractions need a fact in force to name: an observation order each.
        let target = || {
            let official = official.clone();
            let facts = format!("/api/v1/people/{id}/facts");
            let node = &node;
            async move {
                let (status, fact) = node
                    .post(&facts, &official, sample("observation", ""))
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{fact}");
                fact["id"].as_str().unwrap().to_owned()
            }
        };
        for (role, token) in &callers {
            for kind in healthcode_core::facts::KINDS {
                for route in ["single", "batch"] {
                    let named = target().await;
                    let fact = sample(kind, &named);
                    let (status, body) = match route {
                        "single" => {
                            node.post(&format!("/api/v1/people/{id}/facts"), token, fact)
                                .await
                        }
                        _ => {
                            node.post(
                                "/api/v1/facts/batch",
                                token,
                                json!({"legal_basis": "Notice 2026-2",
                                "items": [{"person_id": id, "fact": fact}]}),
                            )
                            .await
                        }
                    };
                    let expected = if permitted(role, route, kind) {
                        StatusCode::CREATED
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    assert_eq!(
                        status, expected,
                        "{store}: {role} recording a {kind} by {route}: {body}"
                    );
                }
            }
            // Declarations (and the check-in they make) and trips: the person, and staff for them.
            let declares = matches!(*role, "resident" | "health_official" | "community_worker");
            let expected = if declares {
                StatusCode::CREATED
            } else {
                StatusCode::FORBIDDEN
            };
            let (status, body) = declare(&node, token, &id, json!({"symptoms": []})).await;
            assert_eq!(status, expected, "{store}: {role} declaring: {body}");
            let (status, body) = node
                .post(
                    &format!("/api/v1/people/{id}/trips"),
                    token,
                    json!({"origin": "420100",
                    "destination": "330100", "arrived_at": hours_ago(2)}),
                )
                .await;
            assert_eq!(status, expected, "{store}: {role} declaring a trip: {body}");
            // Feeds: health officials, and departments granted them.
            let feeds = *role == "health_official";
            for (path, body, ok) in [
                (
                    "/api/v1/feeds/lab-results",
                    json!({"legal_basis": "Lab 3", "results": [{"sample_id": unique("S"),
                    "document_kind": "resident_id", "document_number": document, "result": "negative",
                    "sampled_at": hours_ago(2)}]}),
                    StatusCode::OK,
                ),
                (
                    "/api/v1/feeds/itinerary",
                    json!({"legal_basis": "Telecom 1", "records": [{"phone": phone,
                    "cities": [{"region": "420100", "date": today()}]}]}),
                    StatusCode::OK,
                ),
                (
                    "/api/v1/risk-areas",
                    json!({"region": "420100", "name": "某小区", "level": "medium",
                    "starts_at": hours_ago(20), "legal_basis": "Notice 2026-3"}),
                    StatusCode::ACCEPTED,
                ),
            ] {
                let expected = if feeds { ok } else { StatusCode::FORBIDDEN };
                let (status, answer) = node.post(path, token, body).await;
                assert_eq!(
                    status, expected,
                    "{store}: {role} delivering {path}: {answer}"
                );
            }
        }
        // A department delivers what it was granted, and nothing by any other route.
        for (path, body, ok) in [
            (
                "/api/v1/feeds/lab-results",
                json!({"legal_basis": "Lab 4", "results": [{"sample_id": unique("S"),
                "document_kind": "resident_id", "document_number": document, "result": "negative",
                "sampled_at": hours_ago(2)}]}),
                StatusCode::OK,
            ),
            (
                "/api/v1/risk-areas",
                json!({"region": "420100", "name": "某小区", "level": "medium",
                "starts_at": hours_ago(20), "legal_basis": "Notice 2026-4"}),
                StatusCode::ACCEPTED,
            ),
        ] {
            let (status, answer) = node.post(path, &granted, body).await;
            assert_eq!(
                status, ok,
                "{store}: a granted department delivering {path}: {answer}"
            );
        }
        for kind in ["test", "risk_stay"] {
            let (status, _) = node
                .post(
                    &format!("/api/v1/people/{id}/facts"),
                    &granted,
                    sample(kind, ""),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{store}: a department's {kind} by /facts"
            );
        }
        // A community worker releases an observation order, never a case or a contact.
        let worker = node.staff("community_worker").await;
        let (_, contact) = node
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &official,
                sample("contact", ""),
            )
            .await;
        let (status, body) = node
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &worker,
                sample("release", contact["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{store}: {body}");
        let (status, body) = node
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &official,
                sample("release", "no-such-fact"),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_fact")),
            "{body}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_rule_that_cannot_be_judged_shows_pending_is_counted_and_listed() {
    // The default policy, with one more rule that fails on a record with hiccups.
    let mut policy: Value =
        serde_json::from_str(healthcode_core::policy::DEFAULT_POLICY_JSON).unwrap();
    policy["rules"].as_array_mut().unwrap().push(json!({
        "id": "hiccups", "color": "yellow", "for_each": "declarations",
        "when": {"if": [{"in": ["hiccups", {"var": "fact.symptoms"}]}, {"+": ["x", 1]}, false]},
        "description": {"zh": "打嗝", "en": "hiccups"}}));
    let path = std::env::temp_dir().join(format!("{}.json", unique("policy")));
    std::fs::write(&path, policy.to_string()).unwrap();
    for node in nodes_with(|c| c.policy_file = Some(path.clone())).await {
        let store = node.store_name();
        let (me, id, _, _) = resident(&node).await;
        assert_eq!(code(&node, &me, &id).await["code"], "green");
        let (status, body) = declare(&node, &me, &id, json!({"symptoms": ["hiccups"]})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let s = code(&node, &me, &id).await;
        assert_eq!(
            (s["code"].as_str(), s["code_zh"].as_str()),
            (Some("pending"), Some("审核中")),
            "{store}: {s}"
        );
        assert_eq!(
            s["status"]["reasons"][0]["rule"],
            healthcode_core::policy::UNDECIDED,
            "{s}"
        );
        let (_, pass) = node.get(&format!("/api/v1/people/{id}/pass"), &me).await;
        assert_eq!(
            pass["colour"], "pending",
            "{store}: the pass is never green: {pass}"
        );
        let (_, metrics) = node.get("/metrics", &node.staff("admin").await).await;
        let metrics = metrics.as_str().unwrap().to_owned();
        assert!(
            metrics.contains("healthcode_status_undecided_total"),
            "{metrics}"
        );
        let mut browser = Browser::new(&node);
        browser.sign_in(&node.staff("health_official").await).await;
        let home = browser.get("/console").await;
        assert!(home.body.contains(&id), "{store}: listed on the console");
        node.stop().await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_the_database_are_the_nodes_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(unique("hc_modes"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Both stores' nodes share the directory; the first (SQLite) is the one looked at.
    let nodes = nodes_with(|c| c.data_dir = dir.clone()).await;
    let node = &nodes[0];
    let (token, id, ..) = resident(node).await;
    code(node, &token, &id).await;
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for file in [
        "healthcode.db",
        "healthcode.db-wal",
        "healthcode.db-shm",
        "data.key",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

/// Fourteen days of a close contact's observation on the node's own clock, moved a day at a time:
/// the colour lifts at the fourteenth daily check-in (one day before the exposure's fourteen days
/// run out), and a day without one makes home observation yellow.
#[tokio::test]
async fn fourteen_days_of_daily_check_ins_pass_in_a_moment_on_the_nodes_clock() {
    for node in nodes().await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let (_, id, _, phone) = resident(&node).await;
        let at = |hours: i64| {
            (node.state.now() - time::Duration::hours(hours))
                .format(&Rfc3339)
                .unwrap()
        };
        let facts = format!("/api/v1/people/{id}/facts");
        let (status, body) = node
            .post(
                &facts,
                &official,
                json!({"type": "contact", "level": "close", "case_id": "2020-0412",
                "venue": "Metro Line 1", "exposure_start": at(2), "exposure_end": at(1),
                "legal_basis": "CDC trace 2020-0412"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for day in 1..=14 {
            // Sessions last three days: log in again each day, as a person would.
            let me = node.resident(&phone).await;
            let (status, answer) = declare(
                &node,
                &me,
                &id,
                json!({"temperature_c": 36.5, "symptoms": []}),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{store}: {answer}");
            assert_eq!(answer["checkin"]["first_today"], true, "{store}: day {day}");
            let expected = if day < 14 { "red" } else { "green" };
            assert_eq!(
                code(&node, &me, &id).await["code"],
                expected,
                "{store}: day {day}"
            );
            node.state.clock.advance(time::Duration::days(1));
        }

        // Home observation from now: a day and a half without a check-in turns it yellow; the
        // next declaration turns it back.
        let (status, body) = node
            .post(
                &facts,
                &official,
                json!({"type": "observation", "kind": "home", "start_at": at(0),
                "legal_basis": "community order 2020-88"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        node.state.clock.advance(time::Duration::hours(37));
        let me = node.resident(&phone).await;
        let s = code(&node, &me, &id).await;
        assert_eq!(s["code"], "yellow", "{store}: {s}");
        let (status, _) = declare(
            &node,
            &me,
            &id,
            json!({"temperature_c": 36.4, "symptoms": []}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(code(&node, &me, &id).await["code"], "green", "{store}");
        node.stop().await;
    }
}
