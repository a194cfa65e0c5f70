//! Contact tracing over real HTTP on every store: a case turns its contacts' colours with the
//! reason, they are told, a trace survives a restart and runs twice without doubling anything,
//! colours end by time, and the outbox retries with back-off.

use super::scans::{Gate, aged_keys, at, gate, pass_issued_at, resident_id, scan};
use super::{Node, nodes_with, unique};
use healthcode_server::config::Config;
use healthcode_server::usecases::notices::{self, Sender};
use healthcode_store::Outgoing;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use time::{Duration, OffsetDateTime};

static PHONES: AtomicU32 = AtomicU32::new(0);

/// Enrolls a person with a phone of their own; returns (id, phone).
async fn enrolled(node: &Node, official: &str, name: &str) -> (String, String) {
    let n = PHONES.fetch_add(1, Ordering::SeqCst) + std::process::id() % 10_000 * 100;
    let phone = format!("137{:08}", n % 100_000_000);
    let (status, p) = node
        .post(
            "/api/v1/people",
            official,
            json!({"document_kind": "resident_id", "document_number": resident_id(), "name": name, "phone": phone}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    (p["id"].as_str().unwrap().to_owned(), phone)
}

/// A checkpoint scan of `id`'s pass at `when` (in the last two hours: the keys are that old).
async fn scanned(node: &Node, gate: &Gate, id: &str, when: OffsetDateTime, direction: &str) {
    let text = pass_issued_at(node, id, when).await;
    let (status, answer) = scan(
        node,
        gate,
        json!({"scan_id": unique("s"), "text": text, "scanned_at": at(when), "direction": direction}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// Polls the trace until it is done (or fails the test after 30 s).
async fn finished(node: &Node, official: &str, case: &str) -> Value {
    for _ in 0..300 {
        let (status, trace) = node
            .get(&format!("/api/v1/cases/{case}/trace?limit=1000"), official)
            .await;
        assert_eq!(status, StatusCode::OK, "{trace}");
        match trace["trace"]["state"].as_str().unwrap() {
            "done" => return trace,
            "failed" => panic!("the trace failed: {trace}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    panic!("the trace of {case} did not finish");
}

pub(super) async fn status(node: &Node, token: &str, id: &str) -> Value {
    let (code, status) = node
        .get(&format!("/api/v1/people/{id}/status"), token)
        .await;
    assert_eq!(code, StatusCode::OK, "{status}");
    status
}

async fn notifications(node: &Node, token: &str, id: &str) -> Vec<Value> {
    let (code, list) = node
        .get(&format!("/api/v1/people/{id}/notifications"), token)
        .await;
    assert_eq!(code, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

async fn record_case(node: &Node, official: &str, person: &str, kind: &str, basis: &str) -> String {
    let onset = super::system_now() - Duration::days(1);
    let (code, case) = node
        .post(
            "/api/v1/cases",
            official,
            json!({"person_id": person, "kind": kind, "onset_at": at(onset), "legal_basis": basis}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["trace"], format!("/api/v1/cases/{id}/trace"));
    id
}

/// The city of the tests: a case, a close contact who then goes to the office where a
/// secondary contact meets them, someone at the metro after the case left, and someone who left
/// the metro within three minutes. Returns (venues, people by role).
struct City {
    metro: Gate,
    office: Gate,
    case: String,
    close: (String, String),
    secondary: String,
    later: String,
    brief: String,
}

async fn city(node: &Node, official: &str) -> City {
    let manager = node.staff("venue_manager").await;
    let metro = gate(node, &manager, "metro").await;
    let office = gate(node, &manager, "office").await;
    let (case, _) = enrolled(node, official, "王病例").await;
    let close = enrolled(node, official, "李密接").await;
    let (secondary, _) = enrolled(node, official, "赵次密").await;
    let (later, _) = enrolled(node, official, "钱稍后").await;
    let (brief, _) = enrolled(node, official, "孙匆匆").await;
    let t = super::system_now();
    scanned(node, &metro, &case, t - Duration::minutes(110), "entry").await;
    scanned(node, &metro, &close.0, t - Duration::minutes(108), "entry").await;
    scanned(node, &metro, &brief, t - Duration::minutes(110), "entry").await;
    scanned(node, &metro, &brief, t - Duration::minutes(107), "exit").await;
    scanned(node, &office, &close.0, t - Duration::minutes(70), "entry").await;
    scanned(
        node,
        &office,
        &secondary,
        t - Duration::minutes(65),
        "entry",
    )
    .await;
    // Left: every exposure is over, so a second run finds exactly the same.
    scanned(node, &office, &close.0, t - Duration::minutes(40), "exit").await;
    // The case's metro presence ends at -80 (30 minutes' dwell), -70 with the margin.
    scanned(node, &metro, &later, t - Duration::minutes(30), "entry").await;
    City {
        metro,
        office,
        case,
        close,
        secondary,
        later,
        brief,
    }
}

fn reasons(status: &Value) -> Vec<(String, String)> {
    status["status"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_owned(),
                r["text"]["en"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_case_turns_its_contacts_with_the_reason_and_tells_them() {
    for node in nodes_with(aged_keys).await {
        let official = node.staff("health_official").await;
        let c = city(&node, &official).await;
        let case = record_case(
            &node,
            &official,
            &c.case,
            "confirmed",
            "杭卫疾控〔2020〕37号",
        )
        .await;
        let trace = finished(&node, &official, &case).await;
        let store = node.store_name();
        let t = &trace["trace"];
        assert_eq!(
            (
                t["close_contacts"].as_i64(),
                t["secondary_contacts"].as_i64()
            ),
            (Some(1), Some(1)),
            "{store}: {trace}"
        );
        assert_eq!(t["other_region"], 0);
        assert_eq!(t["facts_recorded"], 2);
        let contacts = trace["contacts"].as_array().unwrap();
        let found: Vec<(i64, Option<&str>, &str)> = contacts
            .iter()
            .map(|e| {
                (
                    e["level"].as_i64().unwrap(),
                    e["person_id"].as_str(),
                    e["venue_id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                (1, Some(c.close.0.as_str()), c.metro.venue.as_str()),
                (2, Some(c.secondary.as_str()), c.office.venue.as_str()),
            ],
            "{store}"
        );
        assert!(
            contacts[0]["venue_name"]
                .as_str()
                .unwrap()
                .starts_with("metro")
        );

        // The close contact sees red on their own phone, and why: a confirmed case (never its
        // id) and the venue.
        let resident = node.resident(&c.close.1).await;
        let close = status(&node, &resident, &c.close.0).await;
        assert_eq!(close["code"], "red", "{store}: {close}");
        let why = reasons(&close);
        assert_eq!(why.len(), 1, "{why:?}");
        assert_eq!(why[0].0, "close-contact");
        assert!(
            why[0].1.contains("a confirmed case")
                && !why[0].1.contains(&case)
                && why[0].1.contains("metro"),
            "{why:?}"
        );
        let secondary = status(&node, &official, &c.secondary).await;
        assert_eq!(secondary["code"], "yellow", "{secondary}");
        assert_eq!(reasons(&secondary)[0].0, "secondary-contact");
        for id in [&c.later, &c.brief] {
            assert_eq!(
                status(&node, &official, id).await["code"],
                "green",
                "{store}"
            );
        }
        assert_eq!(status(&node, &official, &c.case).await["code"], "red");

        // They are told, by SMS and in the app, and the log sender delivers it.
        let mut told = Vec::new();
        for _ in 0..100 {
            told = notifications(&node, &resident, &c.close.0).await;
            if told.iter().all(|n| n["state"] == "sent") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let channels: Vec<&str> = told
            .iter()
            .map(|n| n["channel"].as_str().unwrap())
            .collect();
        assert_eq!(channels, vec!["app", "sms"], "{store}: {told:?}");
        for n in &told {
            assert_eq!(
                (n["colour_from"].as_str(), n["colour_to"].as_str()),
                (Some("green"), Some("red"))
            );
            assert_eq!(n["state"], "sent", "{n}");
            assert!(n["text"]["zh"].as_str().unwrap().contains("由绿码转为红码"));
            let en = n["text"]["en"].as_str().unwrap();
            assert!(
                en.contains("a confirmed case") && !en.contains(&case),
                "{en}"
            );
        }
        assert!(notifications(&node, &official, &c.later).await.is_empty());
        // The trace is for officials only, and reading it is on the case person's record.
        let (code, _) = node
            .get(&format!("/api/v1/cases/{case}/trace"), &resident)
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        let auditor = node.staff("auditor").await;
        let (_, audit) = node
            .get(&format!("/api/v1/people/{}/audit", c.case), &auditor)
            .await;
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "trace.read")
        );

        // Run again: nothing doubles.
        let (code, _) = node
            .post(&format!("/api/v1/cases/{case}/trace"), &official, json!({}))
            .await;
        assert_eq!(code, StatusCode::ACCEPTED);
        let again = finished(&node, &official, &case).await;
        assert_eq!(again["trace"]["runs"], 2);
        assert_eq!(again["trace"]["facts_recorded"], 0, "{again}");
        assert_eq!(again["contacts"].as_array().unwrap().len(), contacts.len());
        assert_eq!(notifications(&node, &resident, &c.close.0).await.len(), 2);
        let facts = node.state.store.facts(&c.close.0).await.unwrap();
        assert_eq!(facts.len(), 1, "{store}: {facts:?}");

        // A later case for the same person (suspected, then confirmed) updates the contact's
        // fact instead of adding a second one.
        let confirmed = record_case(
            &node,
            &official,
            &c.case,
            "confirmed",
            "杭卫疾控〔2020〕38号",
        )
        .await;
        finished(&node, &official, &confirmed).await;
        let close = status(&node, &official, &c.close.0).await;
        let why = reasons(&close);
        assert_eq!(why.len(), 1, "{store}: {why:?}");
        // The reason's fact is the contact with the confirmed case.
        let behind = close["status"]["reasons"][0]["facts"][0].as_str().unwrap();
        let facts = node.state.store.facts(&c.close.0).await.unwrap();
        let case_of = facts
            .iter()
            .find(|f| f.id == behind)
            .map(|f| match &f.body {
                healthcode_core::FactBody::Contact { case_id, .. } => case_id.as_str(),
                _ => "",
            });
        assert_eq!(case_of, Some(confirmed.as_str()), "{store}: {close}");
        // Still red: no second message.
        assert_eq!(notifications(&node, &resident, &c.close.0).await.len(), 2);

        // Fourteen days on, the scheduler turns them green, and says so.
        let changed = healthcode_server::usecases::colours::run_schedule(
            &node.state,
            super::system_now() + Duration::days(15),
        )
        .await
        .unwrap();
        assert!(changed >= 2, "{store}: {changed}");
        let told = notifications(&node, &resident, &c.close.0).await;
        assert_eq!(told.len(), 4, "{told:?}");
        assert_eq!(
            (
                told[0]["colour_from"].as_str(),
                told[0]["colour_to"].as_str()
            ),
            (Some("red"), Some("green"))
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn retracting_a_case_withdraws_the_contacts_it_caused() {
    for node in nodes_with(aged_keys).await {
        let official = node.staff("health_official").await;
        let c = city(&node, &official).await;
        let case = record_case(
            &node,
            &official,
            &c.case,
            "suspected",
            "杭卫疾控〔2020〕38号",
        )
        .await;
        finished(&node, &official, &case).await;
        let store = node.store_name();
        assert_eq!(
            status(&node, &official, &c.close.0).await["code"],
            "red",
            "{store}"
        );
        assert_eq!(
            status(&node, &official, &c.secondary).await["code"],
            "yellow",
            "{store}"
        );

        let (code, body) = node
            .post(
                &format!("/api/v1/people/{}/facts", c.case),
                &official,
                json!({"type": "retraction", "retracts": case, "reason": "the test was a false positive",
                    "legal_basis": "杭卫疾控〔2020〕39号"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{store}: {body}");
        // The retraction queued the case's trace again, and that run withdraws its contacts.
        let rerun = finished(&node, &official, &case).await;
        assert_eq!(rerun["trace"]["runs"], 2, "{store}: {rerun}");
        for id in [&c.close.0, &c.secondary] {
            let s = status(&node, &official, id).await;
            assert_eq!(s["code"], "green", "{store}: the contact is withdrawn: {s}");
            let facts = node
                .state
                .store
                .facts_of_people(std::slice::from_ref(id))
                .await
                .unwrap();
            let withdrawn: Vec<&str> = facts[id.as_str()]
                .iter()
                .filter(|f| matches!(f.body, healthcode_core::FactBody::Retraction { .. }))
                .map(|f| f.legal_basis.as_str())
                .collect();
            assert_eq!(
                withdrawn,
                vec!["杭卫疾控〔2020〕39号"],
                "{store}: one retraction each"
            );
        }
        let close = notifications(&node, &official, &c.close.0).await;
        assert!(
            close.iter().any(|n| n["colour_to"] == "green"),
            "{store}: the contact is told: {close:?}"
        );
        let (code, body) = node
            .post(&format!("/api/v1/cases/{case}/trace"), &official, json!({}))
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("case_retracted")),
            "{store}: a retracted case is traced no more"
        );
        node.stop().await;
    }
}

/// Polls the trace until its run `runs` is done.
async fn finished_run(node: &Node, official: &str, case: &str, runs: u64) -> Value {
    for _ in 0..300 {
        let trace = finished(node, official, case).await;
        if trace["trace"]["runs"].as_u64() >= Some(runs) {
            return trace;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, trace) = node
        .get(&format!("/api/v1/cases/{case}/trace?limit=1000"), official)
        .await;
    panic!("run {runs} of the trace of {case} did not finish: {trace}");
}

#[tokio::test]
async fn withdrawing_a_later_case_leaves_the_contact_an_earlier_case_caused() {
    for node in nodes_with(aged_keys).await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let manager = node.staff("venue_manager").await;
        let metro = gate(&node, &manager, "metro").await;
        let office = gate(&node, &manager, "office").await;
        let (first, _) = enrolled(&node, &official, "甲病例").await;
        let (second, _) = enrolled(&node, &official, "乙病例").await;
        let (contact, _) = enrolled(&node, &official, "丙密接").await;
        let t = super::system_now();
        scanned(&node, &metro, &first, t - Duration::minutes(110), "entry").await;
        scanned(&node, &metro, &contact, t - Duration::minutes(108), "entry").await;
        scanned(&node, &office, &second, t - Duration::minutes(70), "entry").await;
        scanned(&node, &office, &contact, t - Duration::minutes(65), "entry").await;
        scanned(&node, &office, &contact, t - Duration::minutes(40), "exit").await;

        let earlier = record_case(
            &node,
            &official,
            &first,
            "confirmed",
            "杭卫疾控〔2020〕40号",
        )
        .await;
        finished(&node, &official, &earlier).await;
        let later = record_case(
            &node,
            &official,
            &second,
            "suspected",
            "杭卫疾控〔2020〕41号",
        )
        .await;
        finished(&node, &official, &later).await;
        let held = |facts: &[healthcode_core::Fact]| -> Vec<String> {
            facts
                .iter()
                .filter(|f| healthcode_core::facts::in_force(facts, &f.id))
                .filter_map(|f| match &f.body {
                    healthcode_core::FactBody::Contact { case_id, .. } => Some(case_id.clone()),
                    _ => None,
                })
                .collect()
        };
        let facts_of = async |id: &str| {
            let mut all = node
                .state
                .store
                .facts_of_people(&[id.to_owned()])
                .await
                .unwrap();
            all.remove(id).unwrap_or_default()
        };
        assert_eq!(
            held(&facts_of(&contact).await),
            vec![later.clone()],
            "{store}: the later exposure supersedes the earlier one"
        );

        let (code, body) = node
            .post(
                &format!("/api/v1/people/{second}/facts"),
                &official,
                json!({"type": "retraction", "retracts": later, "reason": "the test was a false positive",
                    "legal_basis": "杭卫疾控〔2020〕42号"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{store}: {body}");
        finished_run(&node, &official, &later, 2).await;
        // Withdrawing the later contact queued the earlier case's trace again, which holds the
        // contact the person still is.
        finished_run(&node, &official, &earlier, 2).await;
        assert_eq!(
            held(&facts_of(&contact).await),
            vec![earlier.clone()],
            "{store}: the earlier case's contact stands"
        );
        let s = status(&node, &official, &contact).await;
        assert_eq!(s["code"], "red", "{store}: still a close contact: {s}");
        node.stop().await;
    }
}

#[tokio::test]
async fn a_won_appeal_binds_later_runs_of_the_trace_until_an_official_overrides_it() {
    for node in nodes_with(aged_keys).await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let c = city(&node, &official).await;
        let case = record_case(
            &node,
            &official,
            &c.case,
            "confirmed",
            "杭卫疾控〔2020〕40号",
        )
        .await;
        finished(&node, &official, &case).await;
        let me = node.resident(&c.close.1).await;
        let s = status(&node, &me, &c.close.0).await;
        assert_eq!(s["code"], "red", "{store}: {s}");
        let contact = s["status"]["reasons"][0]["facts"][0]
            .as_str()
            .unwrap()
            .to_owned();

        // The close contact appeals (they were not on that train) and wins.
        let (code, appeal) = node
            .post(
                &format!("/api/v1/people/{}/appeals", c.close.0),
                &me,
                json!({"fact_id": contact, "reason": "I was at home; someone used my code"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{store}: {appeal}");
        let appeal = appeal["id"].as_str().unwrap().to_owned();
        let (code, body) = node
            .post(
                &format!("/api/v1/appeals/{appeal}/decision"),
                &official,
                json!({"outcome": "fact_retracted", "reason": "phone location shows home"}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{store}: {body}");
        assert_eq!(status(&node, &me, &c.close.0).await["code"], "green");

        // A late exit scan changes the exposure; the trace runs again for it. The decided appeal
        // binds the run: the person is not made a contact again for the same exposure.
        let t = super::system_now();
        scanned(
            &node,
            &c.metro,
            &c.close.0,
            t - Duration::minutes(85),
            "exit",
        )
        .await;
        let (code, _) = node
            .post(&format!("/api/v1/cases/{case}/trace"), &official, json!({}))
            .await;
        assert_eq!(code, StatusCode::ACCEPTED);
        finished(&node, &official, &case).await;
        let s = status(&node, &me, &c.close.0).await;
        assert_eq!(s["code"], "green", "{store}: the appeal stuck: {s}");

        // Only an official, with a new legal basis, lifts it; the run then finds them again.
        let override_path = format!("/api/v1/appeals/{appeal}/override");
        let (code, _) = node
            .post(&override_path, &me, json!({"legal_basis": "mine"}))
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        let (code, body) = node
            .post(&override_path, &official, json!({"legal_basis": ""}))
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (code, body) = node
            .post(
                &override_path,
                &official,
                json!({"legal_basis": "杭卫疾控〔2020〕41号: ticket and CCTV place them on the train"}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{store}: {body}");
        assert_eq!(body["case_id"], case);
        finished(&node, &official, &case).await;
        for _ in 0..50 {
            if status(&node, &me, &c.close.0).await["code"] == "red" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            status(&node, &me, &c.close.0).await["code"],
            "red",
            "{store}"
        );
        let (_, audit) = node
            .get(&format!("/api/v1/people/{}/audit", c.close.0), &me)
            .await;
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "appeal.override"
                    && e["purpose"].as_str().unwrap().contains("41号")),
            "{store}: the person reads why: {audit}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_trace_queued_before_a_restart_runs_after_it() {
    let no_workers = |c: &mut Config| {
        aged_keys(c);
        c.tracing.workers = 0;
    };
    for node in nodes_with(no_workers).await {
        let official = node.staff("health_official").await;
        let c = city(&node, &official).await;
        let case = record_case(&node, &official, &c.case, "asymptomatic", "case 7").await;
        let (_, trace) = node
            .get(&format!("/api/v1/cases/{case}/trace"), &official)
            .await;
        assert_eq!(trace["trace"]["state"], "queued");
        assert_eq!(status(&node, &official, &c.close.0).await["code"], "green");
        let (_, metrics) = node.get("/metrics", &node.staff("admin").await).await;
        let metrics = metrics.as_str().unwrap().to_owned();
        assert!(metrics.contains("healthcode_traces_queued 1"), "{metrics}");
        assert!(
            metrics.contains("healthcode_notifications_pending "),
            "{metrics}"
        );

        // The node stops with the trace queued; the next one on the same store runs it.
        let mut config = (*node.state.config).clone();
        config.tracing.workers = 1;
        let _dir = node.stop().await;
        let node = Node::start(config).await;
        let trace = finished(&node, &official, &case).await;
        assert_eq!(trace["trace"]["runs"], 1);
        assert_eq!(status(&node, &official, &c.close.0).await["code"], "red");
        node.stop().await;
    }
}

/// A gateway that is down for its first `failures` attempts and counts deliveries.
struct Flaky {
    failures: AtomicU32,
    delivered: std::sync::Mutex<Vec<Outgoing>>,
}

impl Sender for Flaky {
    fn send<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        let down = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !down {
            self.delivered.lock().unwrap().push(message.clone());
        }
        Box::pin(std::future::ready(if down {
            Err("gateway unavailable".to_owned())
        } else {
            Ok(())
        }))
    }
}

#[tokio::test]
async fn the_outbox_retries_with_back_off_and_never_sends_twice() {
    let quiet = |c: &mut Config| c.notifications.sender = "none".into();
    for node in nodes_with(quiet).await {
        let official = node.staff("health_official").await;
        let (id, _) = enrolled(&node, &official, "周发热").await;
        let (code, _) = node
            .post(
                &format!("/api/v1/people/{id}/declarations"),
                &official,
                json!({"temperature_c": 38.2}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
        let flaky = Arc::new(Flaky {
            failures: AtomicU32::new(2),
            delivered: Default::default(),
        });
        let state = node.state.clone().with_sender(flaky.clone());
        let t0 = super::system_now();
        // Two messages (SMS and app), both fail: retried after 10 s.
        let first = notices::drain(&state, t0).await.unwrap();
        assert_eq!((first.sent, first.retried), (0, 2));
        let early = notices::drain(&state, t0 + Duration::seconds(5))
            .await
            .unwrap();
        assert_eq!(early, notices::Drained::default(), "not due yet");
        let second = notices::drain(&state, t0 + Duration::seconds(11))
            .await
            .unwrap();
        assert_eq!((second.sent, second.retried), (2, 0));
        let done = notices::drain(&state, t0 + Duration::hours(2))
            .await
            .unwrap();
        assert_eq!(
            done,
            notices::Drained::default(),
            "sent ones are not sent again"
        );
        assert_eq!(flaky.delivered.lock().unwrap().len(), 2);
        let told = notifications(&node, &official, &id).await;
        assert!(
            told.iter()
                .all(|n| n["state"] == "sent" && n["attempts"] == 2),
            "{told:?}"
        );
        assert!(
            told[0]["text"]["en"]
                .as_str()
                .unwrap()
                .contains("from green to yellow")
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_login_code_goes_out_through_the_same_sender_until_it_expires() {
    let quiet = |c: &mut Config| c.notifications.sender = "none".into();
    for node in nodes_with(quiet).await {
        let ask = |phone: &'static str| {
            node.call(
                Method::POST,
                "/api/v1/auth/code",
                None,
                Some(json!({ "phone": phone })),
            )
        };
        assert_eq!(ask("13700137000").await.0, StatusCode::ACCEPTED);
        let down = Arc::new(Flaky {
            failures: AtomicU32::new(u32::MAX),
            delivered: Default::default(),
        });
        let state = node.state.clone().with_sender(down.clone());
        let t0 = super::system_now();
        let first = notices::drain(&state, t0).await.unwrap();
        assert_eq!((first.sent, first.retried), (0, 1), "retried after 10 s");
        let again = notices::drain(&state, t0 + Duration::seconds(11))
            .await
            .unwrap();
        assert_eq!(again.retried, 1, "and after 20 s more");
        // The code lives 5 minutes: once it has expired it is given up, not sent.
        let late = notices::drain(&state, t0 + Duration::minutes(6))
            .await
            .unwrap();
        assert_eq!((late.sent, late.failed), (0, 1));

        // A working gateway gets a new code once, with the code in both languages.
        assert_eq!(ask("13700137000").await.0, StatusCode::ACCEPTED);
        let up = Arc::new(Flaky {
            failures: AtomicU32::new(0),
            delivered: Default::default(),
        });
        let state = state.with_sender(up.clone());
        let now = super::system_now();
        assert_eq!(notices::drain(&state, now).await.unwrap().sent, 1);
        assert_eq!(
            notices::drain(&state, now + Duration::minutes(1))
                .await
                .unwrap(),
            notices::Drained::default(),
            "sent once"
        );
        let delivered = up.delivered.lock().unwrap().clone();
        assert_eq!(delivered.len(), 1);
        let sms = &delivered[0];
        assert_eq!(sms.phone.as_deref(), Some("13700137000"));
        assert!(sms.text.zh.contains("验证码"), "{:?}", sms.text);
        // The code it carries logs the phone in.
        let code = super::code_in(sms);
        let (status, login) = node
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"phone": "13700137000", "code": code})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        assert!(down.delivered.lock().unwrap().is_empty());
        node.stop().await;
    }
}
