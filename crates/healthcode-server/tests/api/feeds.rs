//! Department feeds over real HTTP on every store: lab results idempotent by sample id with an
//! error per bad row, telecom itineraries, and risk areas that colour everyone whose visits or
//! itinerary fall inside them once a second official approves.

use super::scans::{aged_keys, at, gate, pass_issued_at, resident_id, scan};
use super::{Node, nodes, nodes_with, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

/// A department account that may deliver `feeds`.
pub(super) async fn department(node: &Node, feeds: &[&str]) -> String {
    let token = node.staff("department").await;
    let account = node
        .state
        .store
        .account_by_token(&token)
        .await
        .unwrap()
        .unwrap();
    let feeds: Vec<String> = feeds.iter().map(|f| (*f).to_owned()).collect();
    let admin = healthcode_store::Actor::new("test", "admin", "test setup");
    node.state
        .store
        .grant_feeds(&account.id, &feeds, &admin, super::system_now())
        .await
        .unwrap();
    token
}

async fn enroll(node: &Node, official: &str, number: &str, phone: Option<&str>) -> String {
    let (status, p) = node
        .post(
            "/api/v1/people",
            official,
            json!({"document_kind": "resident_id", "document_number": number, "name": "钱七", "phone": phone}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

fn codes(report: &Value) -> Vec<(u64, String)> {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(!r["message_zh"].as_str().unwrap().is_empty());
            (
                r["index"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn lab_results_land_once_per_sample_with_an_error_per_bad_row() {
    for node in nodes().await {
        let official = node.staff("health_official").await;
        let lab = department(&node, &["lab_results"]).await;
        let telecom = department(&node, &["itinerary"]).await;
        let number = resident_id();
        let id = enroll(&node, &official, &number, None).await;
        let sampled = at(super::system_now() - Duration::hours(20));
        let reported = at(super::system_now() - Duration::hours(2));
        let row = |sample: &str, result: &str| {
            json!({"sample_id": sample, "document_kind": "resident_id", "document_number": number,
                "result": result, "sampled_at": sampled, "reported_at": reported})
        };
        let s1 = unique("S");
        let s2 = unique("S");
        let stranger = resident_id();
        let results = json!([
            row(&s1, "negative"),
            row(&s2, "negative"),
            row(&s1, "negative"),
            {"sample_id": "x", "document_kind": "resident_id", "document_number": stranger,
                "result": "negative", "sampled_at": sampled},
            {"sample_id": "y", "document_kind": "resident_id", "document_number": "110105194912310029",
                "result": "negative", "sampled_at": sampled},
            {"sample_id": "z", "document_kind": "resident_id", "document_number": number,
                "result": "negative", "sampled_at": "last tuesday"},
            {"sample_id": "w", "result": "negative"},
        ]);
        let body = json!({"results": results, "legal_basis": "浙疾控检测〔2020〕1号"});
        let (status, report) = node
            .post("/api/v1/feeds/lab-results", &lab, body.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(
            (
                report["received"].as_u64(),
                report["recorded"].as_u64(),
                report["duplicates"].as_u64()
            ),
            (Some(7), Some(2), Some(1)),
            "{}: {report}",
            node.store_name()
        );
        assert_eq!(
            codes(&report),
            vec![
                (3, "unknown_person".to_owned()),
                (4, "bad_checksum".to_owned()),
                (5, "bad_time".to_owned()),
                (6, "bad_row".to_owned()),
            ]
        );
        // Sent again: nothing new, nothing doubled.
        let (_, again) = node.post("/api/v1/feeds/lab-results", &lab, body).await;
        assert_eq!(
            (again["recorded"].as_u64(), again["duplicates"].as_u64()),
            (Some(0), Some(3))
        );
        // A row without `reported_at` (delivered now) sent again is the same delivery, not a
        // conflicting one.
        let s3 = unique("S");
        let unreported = json!({"legal_basis": "浙疾控检测〔2020〕2号", "results": [{"sample_id": s3,
            "document_kind": "resident_id", "document_number": number, "result": "negative",
            "sampled_at": sampled}]});
        for (recorded, duplicates) in [(1, 0), (0, 1)] {
            let (_, report) = node
                .post("/api/v1/feeds/lab-results", &lab, unreported.clone())
                .await;
            assert_eq!(
                (report["recorded"].as_u64(), report["duplicates"].as_u64()),
                (Some(recorded), Some(duplicates)),
                "{}: {report}",
                node.store_name()
            );
        }
        let tests: Vec<_> = node
            .state
            .store
            .facts(&id)
            .await
            .unwrap()
            .into_iter()
            .filter(|f| f.body.list() == "tests")
            .collect();
        assert_eq!(tests.len(), 3);
        // A lab that changes its mind about a sample is told so.
        let (_, changed) = node
            .post(
                "/api/v1/feeds/lab-results",
                &lab,
                json!({"results": [row(&s1, "positive")], "legal_basis": "浙疾控检测〔2020〕2号"}),
            )
            .await;
        assert_eq!(codes(&changed), vec![(0, "conflicting_row".to_owned())]);
        // Each department delivers only its own feed.
        let (status, _) = node
            .post(
                "/api/v1/feeds/lab-results",
                &telecom,
                json!({"results": [], "legal_basis": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, refused) = node
            .post(
                "/api/v1/feeds/lab-results",
                &lab,
                json!({"results": [], "legal_basis": " "}),
            )
            .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("legal_basis_required")
            )
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_risk_area_colours_who_was_there_once_a_second_official_approves() {
    for node in nodes_with(aged_keys).await {
        let official = node.staff("health_official").await;
        let second = node.staff("health_official").await;
        let telecom = department(&node, &["itinerary"]).await;
        let commission = department(&node, &["risk_areas"]).await;
        let manager = node.staff("venue_manager").await;
        let market = gate(&node, &manager, "market").await;
        let visitor = enroll(&node, &official, &resident_id(), None).await;
        let traveller = enroll(&node, &official, &resident_id(), Some("13700001111")).await;
        let bystander = enroll(&node, &official, &resident_id(), None).await;
        let now = super::system_now();
        let text = pass_issued_at(&node, &visitor, now - Duration::minutes(90)).await;
        let (status, _) = scan(
            &node,
            &market,
            json!({"scan_id": unique("s"), "text": text, "scanned_at": at(now - Duration::minutes(90))}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        // They left ten minutes later: their stay ends at the exit, as tracing counts presence.
        let left = now - Duration::minutes(80);
        let text = pass_issued_at(&node, &visitor, left).await;
        let (status, body) = scan(
            &node,
            &market,
            json!({"scan_id": unique("s"), "text": text, "scanned_at": at(left), "direction": "exit"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // The telecom itinerary: the traveller's phone was in Wuhan yesterday.
        let yesterday = (now - Duration::days(1)).date().to_string();
        let itinerary = json!({"records": [
            {"phone": "13700001111", "cities": [{"region": "420100", "date": yesterday}, {"region": "330100", "date": now.date().to_string()}]},
            {"phone": "13700002222", "cities": [{"region": "420100", "date": yesterday}]},
            {"phone": "13700001111", "cities": [{"region": "4201", "date": yesterday}]},
            {"phone": "13700001111", "cities": [{"region": "420100", "date": (now - Duration::days(30)).date().to_string()}]},
        ], "legal_basis": "通信大数据行程卡 2020-02"});
        let (status, report) = node
            .post("/api/v1/feeds/itinerary", &telecom, itinerary.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["recorded"], 2, "{report}");
        assert_eq!(
            codes(&report),
            vec![
                (1, "unknown_phone".to_owned()),
                (2, "bad_region".to_owned()),
                (3, "date_out_of_range".to_owned())
            ]
        );
        let (_, again) = node
            .post("/api/v1/feeds/itinerary", &telecom, itinerary)
            .await;
        assert_eq!(
            (again["recorded"].as_u64(), again["duplicates"].as_u64()),
            (Some(0), Some(2))
        );

        // A high-risk venue and a medium-risk city, each staged for approval.
        let start = at(now - Duration::days(3));
        let (status, proposal) = node
            .post(
                "/api/v1/risk-areas",
                &commission,
                json!({"region": "330106", "venue_id": market.venue, "name": "某某农贸市场", "level": "high",
                    "starts_at": start, "legal_basis": "杭防控〔2020〕9号"}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{proposal}");
        assert_eq!(proposal["risk_area"]["affected"], 1);
        assert_eq!(proposal["risk_area"]["state"], "proposed");
        let (_, city) = node
            .post(
                "/api/v1/risk-areas",
                &official,
                json!({"region": "420100", "name": "武汉市", "level": "medium", "starts_at": start,
                    "legal_basis": "国务院联防联控〔2020〕3号"}),
            )
            .await;
        assert_eq!(city["risk_area"]["affected"], 1, "{city}");
        let (_, published) = node.get("/api/v1/risk-areas", &official).await;
        assert_eq!(published, json!([]), "nothing is published before approval");
        assert_eq!(
            super::tracing::status(&node, &official, &visitor).await["code"],
            "green"
        );

        // The proposer cannot approve their own; a second official can.
        let batch = city["batch"]["id"].as_str().unwrap();
        let (status, _) = node
            .post(
                &format!("/api/v1/batches/{batch}/approve"),
                &official,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        for b in [batch, proposal["batch"]["id"].as_str().unwrap()] {
            let (status, body) = node
                .post(&format!("/api/v1/batches/{b}/approve"), &second, json!({}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (_, published) = node.get("/api/v1/risk-areas", &official).await;
        let names: Vec<&str> = published
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{published}");
        assert!(names.contains(&"武汉市") && names.contains(&"某某农贸市场"));
        assert_eq!(
            super::tracing::status(&node, &official, &visitor).await["code"],
            "red"
        );
        let facts = node.state.store.facts(&visitor).await.unwrap();
        let stay_ends: Vec<_> = facts
            .iter()
            .filter_map(|f| match &f.body {
                healthcode_core::FactBody::RiskStay { left_at, .. } => *left_at,
                _ => None,
            })
            .collect();
        assert_eq!(stay_ends.len(), 1, "{facts:?}");
        assert!(
            (stay_ends[0] - left).abs() < Duration::seconds(1),
            "{}: the stay ends at the exit, {left}, not {}",
            node.store_name(),
            stay_ends[0]
        );
        assert_eq!(
            super::tracing::status(&node, &official, &traveller).await["code"],
            "yellow"
        );
        assert_eq!(
            super::tracing::status(&node, &official, &bystander).await["code"],
            "green"
        );
        let (_, told) = node
            .get(
                &format!("/api/v1/people/{traveller}/notifications"),
                &official,
            )
            .await;
        assert!(
            told[0]["text"]["en"].as_str().unwrap().contains("武汉市"),
            "{told}"
        );
        node.stop().await;
    }
}
