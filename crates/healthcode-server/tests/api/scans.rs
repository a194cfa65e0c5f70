//! Showing and scanning the code: checkpoint scans, offline batches, exits, venue check-ins, the
//! visit log, retention and load shedding, over real HTTP on every store.

use super::{Node, nodes, nodes_with, unique};
use healthcode_core::Color;
use healthcode_core::region::RegionCode;
use healthcode_pass::keys::{Algorithm, SigningKey};
use healthcode_pass::pass::Pass;
use healthcode_pass::prefix::CodeKind;
use healthcode_pass::trust::{TrustList, TrustListEntry};
use healthcode_pass::verify::Content;
use healthcode_store::{NewScan, NewVisit};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

static PEOPLE: AtomicU32 = AtomicU32::new(0);

/// A fresh resident ID number with its MOD 11-2 check character.
pub(super) fn resident_id() -> String {
    let n = PEOPLE.fetch_add(1, Ordering::SeqCst) + std::process::id() % 500;
    let body = format!(
        "3301061990{:02}{:02}{:03}",
        n % 12 + 1,
        n % 28 + 1,
        n % 1000
    );
    let check = healthcode_core::identity::resident_id_check(&body).unwrap();
    format!("{body}{check}")
}

/// A node whose signing key is two hours old, so that it can have issued passes in the past.
pub(super) fn aged_keys(c: &mut healthcode_server::config::Config) {
    healthcode_pass::keyring::Keyring::open_or_create(
        &c.data_dir.join("keys"),
        Algorithm::EdDSA,
        super::system_now() - Duration::hours(2),
    )
    .unwrap();
}

/// A pass the node issued at `when`.
pub(super) async fn pass_issued_at(node: &Node, id: &str, when: OffsetDateTime) -> String {
    let person = node.state.store.person(id).await.unwrap().unwrap();
    node.state
        .passes
        .issue(&person, Color::Green, "test", when)
        .unwrap()
        .1
}

pub(super) fn at(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// A venue with a checkpoint, registered by a venue manager.
pub(super) struct Gate {
    pub(super) venue: String,
    pub(super) token: String,
}

pub(super) async fn gate(node: &Node, manager: &str, category: &str) -> Gate {
    let (status, venue) = node
        .post(
            "/api/v1/venues",
            manager,
            json!({"name": format!("{category} {}", unique("v")), "address": "1 Wulin Road",
                "region": "330106", "category": category}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{venue}");
    let venue = venue["id"].as_str().unwrap().to_owned();
    let (status, checkpoint) = node
        .post(
            &format!("/api/v1/venues/{venue}/checkpoints"),
            manager,
            json!({"name": "Gate A"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{checkpoint}");
    Gate {
        venue,
        token: checkpoint["token"].as_str().unwrap().to_owned(),
    }
}

/// Enrolls a person (by a health official) and returns their id.
async fn person(node: &Node, official: &str, name: &str) -> String {
    let (status, p) = node
        .post(
            "/api/v1/people",
            official,
            json!({"document_kind": "resident_id", "document_number": resident_id(), "name": name}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

pub(super) async fn pass_text(node: &Node, token: &str, id: &str) -> String {
    let (status, text) = node
        .get(&format!("/api/v1/people/{id}/pass?format=text"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    text.as_str().unwrap().to_owned()
}

async fn venue_code(node: &Node, manager: &str, venue: &str) -> String {
    let (status, text) = node
        .get(&format!("/api/v1/venues/{venue}/code"), manager)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    text.as_str().unwrap().to_owned()
}

pub(super) async fn scan(node: &Node, gate: &Gate, body: Value) -> (StatusCode, Value) {
    node.post("/api/v1/scans", &gate.token, body).await
}

async fn visits_of(node: &Node, token: &str, id: &str) -> Vec<Value> {
    let (status, visits) = node
        .get(&format!("/api/v1/people/{id}/visits"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{visits}");
    visits.as_array().unwrap().clone()
}

/// The pass a text carries, as the node's own verifier reads it.
fn decoded(node: &Node, text: &str) -> Pass {
    match node.state.passes.verify(text, super::system_now()).content {
        Some(Content::Pass(p)) => p,
        other => panic!("not a pass: {other:?}"),
    }
}

/// The same text with one byte of the signature flipped, re-encoded.
fn altered(text: &str) -> String {
    use healthcode_pass::{base45, compress, prefix};
    let (kind, b45) = prefix::strip(text).unwrap();
    let mut signed = compress::decompress(&base45::decode(b45).unwrap(), 1 << 20).unwrap();
    let last = signed.len() - 1;
    signed[last] ^= 0x01;
    prefix::add(
        kind,
        &base45::encode(&compress::compress(&signed, 0).unwrap()),
    )
}

#[tokio::test]
async fn a_checkpoint_scan_gives_the_verdict_and_exactly_one_visit() {
    for node in nodes_with(aged_keys).await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let manager = node.staff("venue_manager").await;
        let metro = gate(&node, &manager, "metro").await;
        let mall = gate(&node, &manager, "mall").await;
        let id = person(&node, &official, "王小二").await;
        let text = pass_text(&node, &official, &id).await;

        // Green at the metro: admitted, masked name, one visit, however often it is sent.
        let (status, first) = scan(&node, &metro, json!({"scan_id": "s1", "text": text})).await;
        assert_eq!(status, StatusCode::OK, "{store}: {first}");
        assert_eq!(first["outcome"], "admit", "{first}");
        assert_eq!(first["colour"], "green");
        assert_eq!(first["colour_zh"], "绿码");
        assert_eq!(first["masked_name"], "王*二");
        assert_eq!(first["reason"]["code"], "admitted");
        assert_eq!(first["visit_recorded"], true);
        assert_eq!(first["duplicate"], false);
        for _ in 0..3 {
            let (status, again) = scan(&node, &metro, json!({"scan_id": "s1", "text": text})).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(again["duplicate"], true, "{again}");
            let mut same = again.clone();
            same["duplicate"] = json!(false);
            assert_eq!(same, first, "a retried scan gets the answer first given");
        }
        let visits = visits_of(&node, &official, &id).await;
        assert_eq!(visits.len(), 1, "{store}: {visits:?}");
        assert_eq!(visits[0]["venue_id"], metro.venue.as_str());
        assert_eq!(visits[0]["direction"], "entry");
        assert_eq!(visits[0]["via"], "scan");
        // The same scan_id from another checkpoint is another scan.
        let (_, other) = scan(&node, &mall, json!({"scan_id": "s1", "text": text})).await;
        assert_eq!(other["duplicate"], false);
        assert_eq!(visits_of(&node, &official, &id).await.len(), 2);

        // A fever: yellow, turned away at the metro (no visit) but admitted at the mall.
        let (status, _) = node
            .post(
                &format!("/api/v1/people/{id}/declarations"),
                &official,
                json!({"temperature_c": 38.4, "symptoms": ["cough"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let yellow = pass_text(&node, &official, &id).await;
        let (_, denied) = scan(&node, &metro, json!({"scan_id": "s2", "text": yellow})).await;
        assert_eq!(denied["outcome"], "deny", "{denied}");
        assert_eq!(denied["admit"], false);
        assert_eq!(denied["colour"], "yellow");
        assert_eq!(denied["reason"]["code"], "colour_not_admitted");
        assert_eq!(denied["reason"]["message_zh"], "黄码：地铁站不予通行");
        assert_eq!(denied["visit_recorded"], false);
        let (_, admitted) = scan(&node, &mall, json!({"scan_id": "s2", "text": yellow})).await;
        assert_eq!(admitted["outcome"], "admit", "{admitted}");
        assert_eq!(visits_of(&node, &official, &id).await.len(), 3);

        // Codes that cannot be trusted: no visit, and the reason says why.
        let stranger = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let forged = decoded(&node, &text).seal(&stranger, 0).unwrap();
        let venue_code = node
            .get(&format!("/api/v1/venues/{}/code", metro.venue), &manager)
            .await
            .1;
        let stale = pass_issued_at(&node, &id, super::system_now() - Duration::hours(1)).await;
        let cases = [
            ("forged", forged, "unknown_issuer"),
            ("altered", altered(&text), "bad_signature"),
            ("expired", stale.clone(), "expired"),
            (
                "venue",
                venue_code.as_str().unwrap().to_owned(),
                "not_a_pass",
            ),
            ("garbage", "HCP1:%%%not base45".to_owned(), "unreadable"),
        ];
        for (scan_id, code, reason) in cases {
            let (status, answer) =
                scan(&node, &metro, json!({"scan_id": scan_id, "text": code})).await;
            assert_eq!(status, StatusCode::OK, "{scan_id}: {answer}");
            assert_eq!(answer["outcome"], "invalid", "{scan_id}: {answer}");
            assert_eq!(answer["reason"]["code"], reason, "{scan_id}: {answer}");
            assert_eq!(answer["admit"], false);
            assert!(answer["colour"].is_null());
            assert!(!answer["reason"]["message_zh"].as_str().unwrap().is_empty());
        }
        // The expired pass scanned offline while it was valid is judged at that time.
        let offline_at = super::system_now() - Duration::hours(1) + Duration::seconds(20);
        let (_, offline) = scan(
            &node,
            &metro,
            json!({"scan_id": "offline-1", "text": stale, "scanned_at": at(offline_at)}),
        )
        .await;
        assert_eq!(offline["outcome"], "admit", "{offline}");
        let visits = visits_of(&node, &official, &id).await;
        assert_eq!(visits.len(), 4, "only admitted scans are visits");

        // Bad requests get a clear error; only a checkpoint scans.
        let (status, e) = scan(&node, &metro, json!({"scan_id": "", "text": text})).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_scan_id"))
        );
        let (status, e) = scan(
            &node,
            &metro,
            json!({"scan_id": "t", "text": text, "scanned_at": "yesterday"}),
        )
        .await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_time"))
        );
        let (status, _) = node
            .post(
                "/api/v1/scans",
                &official,
                json!({"scan_id": "x", "text": text}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let counts = node
            .state
            .store
            .scan_counts(
                &metro.venue,
                super::system_now() - Duration::days(1),
                super::system_now() + Duration::minutes(1),
            )
            .await
            .unwrap();
        assert_eq!(
            counts,
            vec![
                ("admit".into(), 2),
                ("deny".into(), 1),
                ("invalid".into(), 5)
            ],
            "{store}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn an_offline_batch_gives_each_scan_its_own_result_and_never_doubles() {
    for node in nodes_with(aged_keys).await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let manager = node.staff("venue_manager").await;
        let metro = gate(&node, &manager, "metro").await;
        let a = person(&node, &official, "赵一").await;
        let b = person(&node, &official, "钱二").await;
        // The scanner went offline ten minutes ago and scanned passes shown then.
        let t0 = super::system_now() - Duration::minutes(10);
        let pass_a = pass_issued_at(&node, &a, t0).await;
        let pass_b = pass_issued_at(&node, &b, t0).await;
        let (_, online) = scan(
            &node,
            &metro,
            json!({"scan_id": "k0", "text": pass_text(&node, &official, &a).await}),
        )
        .await;
        assert_eq!(online["outcome"], "admit");
        let now = super::system_now();

        let scans = json!([
            {"scan_id": "k3", "text": pass_b, "scanned_at": at(t0 + Duration::seconds(90))},
            {"scan_id": "k1", "text": pass_a, "scanned_at": at(t0 + Duration::seconds(60))},
            {"scan_id": "k1", "text": pass_a, "scanned_at": at(t0 + Duration::seconds(60))},
            {"scan_id": "k0", "text": pass_a},
            {"scan_id": "k2", "text": pass_a, "scanned_at": at(t0 + Duration::seconds(120)), "direction": "exit"},
            {"scan_id": "bad-time", "text": pass_a, "scanned_at": "soon"},
            {"scan_id": "old", "text": pass_a, "scanned_at": at(now - Duration::days(4))},
            {"scan_id": "future", "text": pass_a, "scanned_at": at(now + Duration::hours(1))},
            {"scan_id": "", "text": pass_a},
            {"text": pass_a},
            {"scan_id": "k4", "text": pass_a, "colour": "green"},
            {"scan_id": "k5", "text": altered(&pass_b)},
        ]);
        let (status, result) = node
            .post("/api/v1/scans/batch", &metro.token, json!({"scans": scans}))
            .await;
        assert_eq!(status, StatusCode::OK, "{store}: {result}");
        let results = result["results"].as_array().unwrap();
        assert_eq!(results.len(), 12);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r["index"], i, "results keep the order of the request");
        }
        let outcome = |i: usize| {
            results[i]["answer"]["outcome"]
                .as_str()
                .unwrap_or("-")
                .to_owned()
        };
        let error = |i: usize| {
            results[i]["error"]["code"]
                .as_str()
                .unwrap_or("-")
                .to_owned()
        };
        assert_eq!(outcome(0), "admit", "{result}");
        assert_eq!(outcome(1), "admit");
        assert_eq!(
            results[2]["answer"]["duplicate"], true,
            "twice in one batch"
        );
        assert_eq!(
            results[3]["answer"]["duplicate"], true,
            "sent before the batch"
        );
        assert_eq!(results[3]["answer"]["scanned_at"], online["scanned_at"]);
        assert_eq!(results[4]["answer"]["reason"]["code"], "exit");
        assert_eq!(error(5), "bad_time");
        assert_eq!(error(6), "scan_too_old");
        assert_eq!(error(7), "scan_in_future");
        assert_eq!(error(8), "bad_scan_id");
        assert_eq!(error(9), "invalid_scan");
        assert_eq!(error(10), "invalid_scan", "unknown fields are refused");
        assert_eq!(outcome(11), "invalid");
        for refused in &results[5..=10] {
            assert_eq!(refused["status"], 422);
            assert!(refused["answer"].is_null());
        }
        assert_eq!(
            (
                &result["recorded"],
                &result["duplicates"],
                &result["rejected"]
            ),
            (&json!(4), &json!(2), &json!(6)),
            "{result}"
        );
        // The whole batch again, as a scanner does when the answer was lost: nothing new.
        let (_, again) = node
            .post("/api/v1/scans/batch", &metro.token, json!({"scans": scans}))
            .await;
        assert_eq!(again["recorded"], 0, "{again}");
        assert_eq!(again["duplicates"], 6);
        let visits_a = visits_of(&node, &official, &a).await;
        assert_eq!(visits_a.len(), 3, "k0, k1 and the exit k2: {visits_a:?}");
        assert_eq!(visits_of(&node, &official, &b).await.len(), 1);
        // The exit closed the presence of k1; k0 (after it) runs its dwell time.
        let entry_k1 = visits_a.iter().find(|v| v["direction"] == "entry").unwrap();
        let exit = visits_a.iter().find(|v| v["direction"] == "exit").unwrap();
        assert_eq!(entry_k1["presence_until"], exit["at"], "{visits_a:?}");

        // Limits: more than the batch maximum is refused as a whole.
        let too_many: Vec<Value> = (0..10_001)
            .map(|i| json!({"scan_id": format!("n{i}"), "text": "x"}))
            .collect();
        let (status, e) = node
            .post(
                "/api/v1/scans/batch",
                &metro.token,
                json!({"scans": too_many}),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
        assert_eq!(e["code"], "batch_too_large");
        node.stop().await;
    }
}

#[tokio::test]
async fn residents_check_in_by_venue_code_once_per_window_and_far_check_ins_wait() {
    for node in nodes().await {
        let store = node.store_name();
        let manager = node.staff("venue_manager").await;
        let official = node.staff("health_official").await;
        let mall = gate(&node, &manager, "mall").await;
        let metro = gate(&node, &manager, "metro").await;
        let phone = format!("137{:08}", PEOPLE.fetch_add(1, Ordering::SeqCst));
        let me = node.resident(&phone).await;
        let (status, adult) = node
            .post(
                "/api/v1/people",
                &me,
                json!({"document_kind": "resident_id", "document_number": resident_id(),
                    "name": "孙小美", "phone": phone}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{adult}");
        let id = adult["id"].as_str().unwrap().to_owned();
        let me = node.resident(&phone).await;
        let mall_code = venue_code(&node, &manager, &mall.venue).await;

        let (status, first) = node
            .post(
                "/api/v1/checkins",
                &me,
                json!({"text": mall_code, "region": "330106"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{store}: {first}");
        assert_eq!(first["colour"], "green");
        assert_eq!(first["colour_zh"], "绿码");
        assert_eq!(first["admit"], true);
        assert_eq!(first["masked_name"], "孙*美");
        assert_eq!(first["duplicate"], false);
        assert_eq!(first["visit"]["via"], "checkin");
        assert_eq!(first["visit"]["confirmed"], true);
        let (status, again) = node
            .post("/api/v1/checkins", &me, json!({"text": mall_code}))
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["visit"]["id"], first["visit"]["id"]);

        // A venue code forwarded to a phone in Beijing: flagged, not presence until confirmed.
        let metro_code = venue_code(&node, &manager, &metro.venue).await;
        let (status, far) = node
            .post(
                "/api/v1/checkins",
                &me,
                json!({"text": metro_code, "region": "110105"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{far}");
        assert_eq!(far["visit"]["confirmed"], false);
        assert!(
            far["visit"]["flag"]
                .as_str()
                .unwrap()
                .starts_with("far_from_venue")
        );
        let visit_id = far["visit"]["id"].as_str().unwrap();
        let other_manager = node.staff("venue_manager").await;
        let (status, _) = node
            .post(
                &format!("/api/v1/visits/{visit_id}/confirm"),
                &other_manager,
                json!({}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "only the venue's own manager"
        );
        let (status, confirmed) = node
            .post(
                &format!("/api/v1/visits/{visit_id}/confirm"),
                &manager,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{confirmed}");
        assert_eq!(confirmed["confirmed"], true);

        // The resident sees their own visits; the official's read is on their audit trail.
        let mine = visits_of(&node, &me, &id).await;
        assert_eq!(mine.len(), 2, "{mine:?}");
        visits_of(&node, &official, &id).await;
        let (_, audit) = node.get(&format!("/api/v1/people/{id}/audit"), &me).await;
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "visits.read"),
            "{audit}"
        );
        let (status, log) = node
            .get(&format!("/api/v1/venues/{}/visits", mall.venue), &manager)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(log.as_array().unwrap().len(), 1, "{log}");

        // The resident says they have left the mall: an exit now, which ends the presence;
        // a second time there is nothing to leave.
        let caller = healthcode_server::auth::Caller::from_token(&node.state, &me, None)
            .await
            .unwrap();
        let entry = first["visit"]["id"].as_str().unwrap();
        let now = node.state.now();
        let exit =
            healthcode_server::usecases::checkins::check_out(&node.state, &caller, &id, entry, now)
                .await
                .unwrap();
        assert_eq!(exit.direction, "exit");
        assert!(
            (exit.at - now).abs() < time::Duration::milliseconds(1),
            "at the node's time"
        );
        let mine = visits_of(&node, &me, &id).await;
        let ended = mine.iter().find(|v| v["id"] == entry).unwrap();
        let until = time::OffsetDateTime::parse(
            ended["presence_until"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(until <= node.state.now(), "{store}: {ended}");
        let again =
            healthcode_server::usecases::checkins::check_out(&node.state, &caller, &id, entry, now)
                .await;
        assert_eq!(again.err().map(|e| e.code), Some("already_left"), "{store}");
        let (status, refused) = node
            .post(
                "/api/v1/checkins",
                &me,
                json!({"text": mall_code, "direction": "exit"}),
            )
            .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_left")),
            "{store}: no stay to leave"
        );
        // Back within the duplicate window, after leaving: a new stay, not the old one again.
        let (status, back) = node
            .post("/api/v1/checkins", &me, json!({"text": mall_code}))
            .await;
        assert_eq!(
            (status, back["duplicate"].as_bool()),
            (StatusCode::CREATED, Some(false)),
            "{store}: {back}"
        );
        assert_ne!(back["visit"]["id"], first["visit"]["id"]);
        // A stay the mall's checkpoint recorded ends only by its own exit scan.
        let pass = pass_text(&node, &me, &id).await;
        let (status, scanned) = scan(
            &node,
            &mall,
            json!({"scan_id": format!("leave-{store}"), "text": pass}),
        )
        .await;
        assert!(status.is_success(), "{scanned}");
        let (status, refused) = node
            .post(
                "/api/v1/checkins",
                &me,
                json!({"text": mall_code, "direction": "exit"}),
            )
            .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::CONFLICT, Some("checkpoint_visit")),
            "{store}: {refused}"
        );

        // Not a venue code; not a resident.
        let pass = pass_text(&node, &me, &id).await;
        let (status, e) = node
            .post("/api/v1/checkins", &me, json!({"text": pass}))
            .await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_venue_code"))
        );
        let (status, _) = node
            .post("/api/v1/checkins", &mall.token, json!({"text": mall_code}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = node
            .get(&format!("/api/v1/people/{id}/visits"), &manager)
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a venue manager does not read people"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn passes_of_other_regions_verify_through_the_trust_list() {
    let dir = std::env::temp_dir().join(unique("hc_trust"));
    std::fs::create_dir_all(&dir).unwrap();
    let root = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let shanghai = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let now = super::system_now();
    let list = TrustList {
        version: 1,
        issuer: "test hub".into(),
        sequence: 1,
        issued_at: now - Duration::minutes(1),
        valid_until: now + Duration::days(1),
        entries: vec![TrustListEntry::for_key(
            "310000",
            shanghai.verifying_key(),
            now - Duration::days(1),
            now + Duration::days(30),
        )],
        revoked: Vec::new(),
        regions: Vec::new(),
    };
    std::fs::write(dir.join("trust.cose"), list.sign(&root).unwrap()).unwrap();
    std::fs::write(dir.join("root.pem"), root.verifying_key().to_pem()).unwrap();
    let trust = dir.clone();
    for node in nodes_with(move |c| {
        c.trust_list = Some(trust.join("trust.cose"));
        c.trust_root_key = Some(trust.join("root.pem"));
    })
    .await
    {
        let manager = node.staff("venue_manager").await;
        let station = gate(&node, &manager, "station").await;
        let visitor = |iss: &str| {
            Pass::new(
                RegionCode::parse(iss).unwrap(),
                now,
                Duration::minutes(3),
                healthcode_pass::pass::Colour::Green,
                now,
                "sh-2026",
                [7; 16],
                "周*".into(),
                healthcode_pass::pass::DocumentKind::ResidentId,
                "0012".into(),
            )
            .unwrap()
        };
        let text = visitor("310104").seal(&shanghai, 0).unwrap();
        assert!(text.starts_with(CodeKind::Pass.prefix()));
        let (status, answer) =
            scan(&node, &station, json!({"scan_id": "sh-1", "text": text})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["outcome"], "admit", "{answer}");
        assert_eq!(answer["region"], "310104");
        let (_, log) = node
            .get(
                &format!("/api/v1/venues/{}/visits", station.venue),
                &manager,
            )
            .await;
        assert_eq!(log[0]["region"], "310104", "{log}");
        assert_eq!(log[0]["subject"], "07".repeat(16));
        // Shanghai's key may not sign for Hangzhou.
        let posing = visitor("330106").seal(&shanghai, 0).unwrap();
        let (_, answer) = scan(&node, &station, json!({"scan_id": "sh-2", "text": posing})).await;
        assert_eq!(answer["reason"]["code"], "wrong_key", "{answer}");
        node.stop().await;
    }
}

#[tokio::test]
async fn retention_removes_only_what_is_due() {
    for node in nodes().await {
        let store = node.store_name();
        let now = super::system_now();
        let visit = |scan_id: &str, days_ago: i64| NewScan {
            source: "retention-test".into(),
            scan_id: scan_id.into(),
            venue_id: "v".into(),
            scanned_at: now - Duration::days(days_ago),
            outcome: "admit",
            answer: "{}".into(),
            visit: Some(NewVisit {
                subject: "subject-r".into(),
                region: "330100".into(),
                direction: healthcode_core::visits::Direction::Entry,
                via: "scan",
                until: now - Duration::days(days_ago) + Duration::minutes(30),
                colour: "green".into(),
                masked_name: "x*".into(),
                flag: None,
            }),
        };
        let s = &node.state.store;
        s.record_scans(
            &[visit("old", 30), visit("recent", 27)],
            now - Duration::days(5),
        )
        .await
        .unwrap();
        s.record_scans(&[visit("today", 0)], now).await.unwrap();
        let expired = healthcode_server::usecases::retention::run(&node.state, now)
            .await
            .unwrap();
        assert_eq!((expired.visits, expired.receipts), (1, 2), "{store}");
        let left = s
            .visits_of_subject(
                "subject-r",
                now - Duration::days(60),
                now + Duration::days(1),
                100,
            )
            .await
            .unwrap();
        let days: Vec<i64> = left.iter().map(|v| (now - v.at).whole_days()).collect();
        assert_eq!(days, vec![27, 0], "{store}");
        // Run again: nothing more is due.
        let again = healthcode_server::usecases::retention::run(&node.state, now)
            .await
            .unwrap();
        assert_eq!((again.visits, again.receipts), (0, 0));
        node.stop().await;
    }
}

#[tokio::test]
async fn past_capacity_scans_are_shed_at_once_while_reads_go_on() {
    // SQLite only: another connection holds the write lock, as a stalled disk would.
    let node = nodes_with(|c| c.scans.queue_rows = 2).await.remove(0);
    let official = node.staff("health_official").await;
    let manager = node.staff("venue_manager").await;
    let admin = node.staff("admin").await;
    let metro = gate(&node, &manager, "metro").await;
    let phone = format!("136{:08}", PEOPLE.fetch_add(1, Ordering::SeqCst));
    let me = node.resident(&phone).await;
    let (status, p) = node
        .post(
            "/api/v1/people",
            &me,
            json!({"document_kind": "resident_id", "document_number": resident_id(), "name": "李想", "phone": phone}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let text = pass_text(&node, &me, &id).await;
    let path = node.state.config.data_dir.join("healthcode.db");
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let (http, url, token, text) = (
                node.http.clone(),
                format!("{}/api/v1/scans", node.base),
                metro.token.clone(),
                text.clone(),
            );
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(token)
                    .json(&json!({"scan_id": format!("w{i}"), "text": text}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    while node.state.recorder.queued() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (_, metrics) = node.get("/metrics", &admin).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("healthcode_scan_queue_rows 2"),
        "the queue shows in /metrics"
    );
    let started = std::time::Instant::now();
    let shed = node
        .http
        .post(format!("{}/api/v1/scans", node.base))
        .bearer_auth(&metro.token)
        .json(&json!({"scan_id": "w2", "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "shed at once"
    );
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["code"], "overloaded");
    assert!(!body["message_zh"].as_str().unwrap().is_empty());
    // Reads go on: the resident's colour and a fresh pass.
    let (status, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["code"], "green");
    pass_text(&node, &me, &id).await;

    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    for task in waiting {
        assert_eq!(
            task.await.unwrap(),
            StatusCode::OK,
            "queued scans land once the disk is back"
        );
    }
    let (_, again) = scan(&node, &metro, json!({"scan_id": "w2", "text": text})).await;
    assert_eq!(
        again["duplicate"], false,
        "a shed scan was not recorded: sent again, it is new"
    );
    assert_eq!(visits_of(&node, &official, &id).await.len(), 3);
    node.stop().await;
}
