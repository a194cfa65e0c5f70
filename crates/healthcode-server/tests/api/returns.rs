//! The return journey's first half over HTTP, on every store: a family applies, the community
//! verifies by phone and approves, a carrier checks eligibility and books; and what must be
//! refused is refused.

use super::{Node, nodes, system_now, unique};
use healthcode_store::Actor;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

/// A staff account of `role` working for `scope` (none when empty): its token.
pub(super) async fn worker(node: &Node, role: &str, scope: &str) -> String {
    let token = format!("test-{role}-{}", unique("t"));
    let admin = Actor::new("test", "admin", "test setup");
    let account = node
        .state
        .store
        .create_account(role, role, &token, &admin, system_now())
        .await
        .unwrap();
    if !scope.is_empty() {
        node.state
            .store
            .set_account_scope(&account.id, scope, &admin, system_now())
            .await
            .unwrap();
    }
    token
}

pub(super) fn date_in(days: i64) -> String {
    (system_now() + Duration::days(days)).date().to_string()
}

async fn app_notices(node: &Node, token: &str, person: &str) -> Vec<String> {
    let (code, list) = node
        .get(&format!("/api/v1/people/{person}/notifications"), token)
        .await;
    assert_eq!(code, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .filter(|n| n["channel"] == "app")
        .map(|n| n["text"]["en"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_family_applies_is_verified_approved_and_booked() {
    for node in nodes().await {
        let store = node.store_name();
        let (me, adult, kid) = node.family("13900001701", "王五", "王小五").await;
        let (adult, kid) = (adult["id"].as_str().unwrap(), kid["id"].as_str().unwrap());
        let apply = json!({
            "members": [adult, kid], "origin": "420100", "community": "110105-003-002",
            "address": "朝阳区某街道 1 号楼 2 单元 301", "reason": "返京复工",
            "planned_date": date_in(3), "transport": "train"
        });
        let mut named_twice = apply.clone();
        named_twice["members"] = json!([adult, kid, adult]);
        let (code, app) = node.post("/api/v1/returns", &me, named_twice).await;
        assert_eq!(code, StatusCode::CREATED, "{store}: {app}");
        let id = app["id"].as_str().unwrap().to_owned();
        assert_eq!(app["state"], "submitted");
        assert_eq!(app["origin_basis"], "declared");
        assert_eq!(app["members"].as_array().unwrap().len(), 2);
        assert_eq!(app["steps"][0]["kind"], "applied");
        assert_eq!(
            app_notices(&node, &me, adult).await.len(),
            1,
            "{store}: told at once"
        );

        // Another community's worker neither sees nor acts on it.
        let elsewhere = worker(&node, "community_worker", "110105-004-001").await;
        let (code, _) = node.get(&format!("/api/v1/returns/{id}"), &elsewhere).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{store}");
        let (code, body) = node
            .post(
                &format!("/api/v1/returns/{id}/calls"),
                &elsewhere,
                json!({"outcome": "reached"}),
            )
            .await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{store}: {body}");
        let (_, queue) = node.get("/api/v1/returns", &elsewhere).await;
        assert!(
            queue["applications"].as_array().unwrap().is_empty(),
            "{store}"
        );
        // A worker with no scope is told why.
        let unscoped = worker(&node, "community_worker", "").await;
        let (code, body) = node.get("/api/v1/returns", &unscoped).await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("no_scope"))
        );

        // The community's worker calls, cannot approve before the address is confirmed, then does.
        let community = worker(&node, "community_worker", "110105-003-002").await;
        let (_, queue) = node.get("/api/v1/returns", &community).await;
        assert_eq!(queue["applications"][0]["id"], id.as_str(), "{store}");
        let (code, _) = node
            .post(
                &format!("/api/v1/returns/{id}/calls"),
                &community,
                json!({"outcome": "not_reached", "note": "无人接听"}),
            )
            .await;
        assert_eq!(code, StatusCode::OK);
        let (code, body) = node
            .post(
                &format!("/api/v1/returns/{id}/decision"),
                &community,
                json!({"decision": "approve", "reason": "核实无误"}),
            )
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("not_verified")),
            "{store}"
        );
        node.post(
            &format!("/api/v1/returns/{id}/calls"),
            &community,
            json!({"outcome": "address_confirmed"}),
        )
        .await;
        let (code, app) = node
            .post(
                &format!("/api/v1/returns/{id}/decision"),
                &community,
                json!({"decision": "approve", "reason": "核实无误"}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{store}: {app}");
        assert_eq!(app["state"], "approved");
        let kinds: Vec<&str> = app["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["applied", "call", "call", "approved"], "{store}");
        let (code, body) = node
            .post(
                &format!("/api/v1/returns/{id}/decision"),
                &community,
                json!({"decision": "reject", "reason": "改变主意"}),
            )
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_decided"))
        );
        // The applicant sees every step and was told at each.
        let (_, mine) = node
            .get(&format!("/api/v1/people/{kid}/returns"), &me)
            .await;
        assert_eq!(mine[0]["steps"].as_array().unwrap().len(), 4, "{store}");
        let told = app_notices(&node, &me, adult).await;
        assert_eq!(told.len(), 4, "{store}: {told:?}");
        assert!(told.iter().any(|t| t.contains("approved")), "{told:?}");

        // A carrier learns yes and the days, nothing else; and no for a stranger.
        let carrier = worker(&node, "carrier", "").await;
        let adult_doc =
            json!({"document_kind": "resident_id", "document_number": "11010519491231002X"});
        let (code, answer) = node
            .post("/api/v1/carrier/eligibility", &carrier, adult_doc.clone())
            .await;
        assert_eq!(code, StatusCode::OK, "{answer}");
        assert_eq!(answer["eligible"], true);
        assert_eq!(
            answer.as_object().unwrap().len(),
            3,
            "yes or no and the window only: {answer}"
        );
        let stranger =
            json!({"document_kind": "resident_id", "document_number": "110101199003070011"});
        let (_, answer) = node
            .post("/api/v1/carrier/eligibility", &carrier, stranger.clone())
            .await;
        assert_eq!(answer["eligible"], false, "{store}: {answer}");
        // A resident or a community worker cannot ask.
        let (code, _) = node
            .post("/api/v1/carrier/eligibility", &me, adult_doc.clone())
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN);

        // Booking: refused for an unapproved person and outside the window; held, then paid.
        let booking = |doc: &Value, reference: &str, state: &str, days: i64| {
            let mut b = doc.clone();
            let o = b.as_object_mut().unwrap();
            o.insert("reference".into(), json!(reference));
            o.insert("service".into(), json!("G72"));
            o.insert("travel_date".into(), json!(date_in(days)));
            o.insert("station".into(), json!("北京西站"));
            o.insert("seat".into(), json!("05车12F"));
            o.insert("state".into(), json!(state));
            b
        };
        let (code, body) = node
            .post(
                "/api/v1/carrier/bookings",
                &carrier,
                booking(&stranger, "E1", "held", 3),
            )
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("not_approved")),
            "{store}: {body}"
        );
        let (code, body) = node
            .post(
                "/api/v1/carrier/bookings",
                &carrier,
                booking(&adult_doc, "E2", "held", 30),
            )
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("outside_window")),
            "{store}: {body}"
        );
        let (code, held) = node
            .post(
                "/api/v1/carrier/bookings",
                &carrier,
                booking(&adult_doc, "E3", "held", 3),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{store}: {held}");
        assert_eq!(held["state"], "held");
        assert_eq!(held["application_id"], id.as_str());
        let (code, paid) = node
            .post(
                "/api/v1/carrier/bookings",
                &carrier,
                booking(&adult_doc, "E3", "paid", 3),
            )
            .await;
        assert_eq!(
            (code, paid["state"].as_str()),
            (StatusCode::OK, Some("paid")),
            "{store}: {paid}"
        );
        let (code, _) = node
            .post(
                "/api/v1/carrier/bookings",
                &carrier,
                booking(&adult_doc, "E3", "paid", 3),
            )
            .await;
        assert_eq!(
            code,
            StatusCode::OK,
            "the same report again changes nothing"
        );

        // A second seat held and not paid within two hours lapses, and cannot be paid after.
        let (code, _) = node
            .post(
                "/api/v1/carrier/bookings",
                &carrier,
                booking(&adult_doc, "E4", "held", 3),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
        node.state.clock.advance(Duration::minutes(121));
        let (_, mine) = node
            .get(&format!("/api/v1/people/{adult}/bookings"), &me)
            .await;
        let states: Vec<(&str, &str)> = mine
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["reference"].as_str().unwrap(),
                    b["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(
            states.contains(&("E4", "lapsed")) && states.contains(&("E3", "paid")),
            "{store}: {states:?}"
        );
        let (code, body) = node
            .post(
                "/api/v1/carrier/bookings",
                &carrier,
                booking(&adult_doc, "E4", "paid", 3),
            )
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("booking_state")),
            "{store}: {body}"
        );

        // Audit: the person can read who looked at them and why.
        let (_, audit) = node
            .get(&format!("/api/v1/people/{adult}/audit"), &me)
            .await;
        let actions: Vec<&str> = audit["entries"]
            .as_array()
            .or(audit.as_array())
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert!(
            actions.contains(&"return.apply")
                && actions.contains(&"return.eligibility")
                && actions.contains(&"return.booking"),
            "{store}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn an_untouched_application_is_escalated_to_the_street() {
    for node in nodes().await {
        let me = node.resident("13900001702").await;
        let (code, adult) = node
            .post(
                "/api/v1/people",
                &me,
                json!({"document_kind": "resident_id",
                "document_number": "110101199003070011", "name": "赵六", "phone": "13900001702"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{adult}");
        let apply = json!({
            "members": [adult["id"]], "origin": "420100", "community": "110105-003-007",
            "address": "某小区 3 号楼", "reason": "回家", "planned_date": date_in(5), "transport": "car"
        });
        let (code, app) = node.post("/api/v1/returns", &me, apply.clone()).await;
        assert_eq!(code, StatusCode::CREATED, "{app}");
        // Hostile input: someone else's person, the node's own region, a bad community.
        let mut bad = apply.clone();
        bad["members"] = json!(["someone-else"]);
        let (code, _) = node.post("/api/v1/returns", &me, bad).await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        let own = node.state.config.region.clone();
        for (field, value, code) in [
            ("origin", json!(own), "bad_origin"),
            ("origin", json!("42010"), "bad_origin"),
            ("community", json!("110105"), "bad_community"),
            ("planned_date", json!(date_in(-2)), "bad_date"),
        ] {
            let mut bad = apply.clone();
            bad[field] = value;
            let (status, body) = node.post("/api/v1/returns", &me, bad).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
                "{body}"
            );
        }

        let street = worker(&node, "community_worker", "110105-003").await;
        let (_, queue) = node.get("/api/v1/returns", &street).await;
        assert_eq!(
            queue["applications"].as_array().unwrap().len(),
            1,
            "{queue}"
        );
        assert!(queue["escalated"].as_array().unwrap().is_empty());
        node.state.clock.advance(Duration::hours(25));
        let (_, queue) = node.get("/api/v1/returns", &street).await;
        assert_eq!(
            queue["escalated"],
            json!([app["id"]]),
            "{}: {queue}",
            node.store_name()
        );
        // A worker's call stops the clock.
        node.post(
            &format!("/api/v1/returns/{}/calls", app["id"].as_str().unwrap()),
            &street,
            json!({"outcome": "reached"}),
        )
        .await;
        let (_, queue) = node.get("/api/v1/returns", &street).await;
        assert!(queue["escalated"].as_array().unwrap().is_empty(), "{queue}");
    }
}

/// A family approved for a return on `node`: (resident token, adult id, child id, application id).
async fn approved_family(
    node: &Node,
    phone: &str,
    document: &str,
    community: &str,
) -> (String, String, String, String) {
    let me = node.resident(phone).await;
    let (code, adult) = node
        .post(
            "/api/v1/people",
            &me,
            json!({"document_kind": "resident_id",
            "document_number": document, "name": "孙七", "phone": phone}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{adult}");
    let (code, kid) = node
        .post(
            "/api/v1/people",
            &me,
            json!({"document_kind": "none", "name": "孙小七",
            "phone": phone, "guardian_id": adult["id"]}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{kid}");
    let (adult, kid) = (
        adult["id"].as_str().unwrap().to_owned(),
        kid["id"].as_str().unwrap().to_owned(),
    );
    let (code, app) = node
        .post(
            "/api/v1/returns",
            &me,
            json!({"members": [adult, kid], "origin": "420100",
            "community": community, "address": "某小区 5 号楼", "reason": "返京",
            "planned_date": date_in(1), "transport": "train"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{app}");
    let id = app["id"].as_str().unwrap().to_owned();
    let worker = worker(node, "community_worker", community).await;
    node.post(
        &format!("/api/v1/returns/{id}/calls"),
        &worker,
        json!({"outcome": "address_confirmed"}),
    )
    .await;
    let (code, app) = node
        .post(
            &format!("/api/v1/returns/{id}/decision"),
            &worker,
            json!({"decision": "approve", "reason": "核实无误"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{app}");
    (me, adult, kid, id)
}

async fn arrive(
    node: &Node,
    station: &str,
    me: &str,
    person: &str,
    tenths: i64,
) -> (StatusCode, Value) {
    let pass = super::scans::pass_text(node, me, person).await;
    node.post(
        "/api/v1/returns/arrivals",
        station,
        json!({"text": pass, "temperature_c": tenths as f64 / 10.0, "station": "北京西站"}),
    )
    .await
}

#[tokio::test]
async fn arrival_hand_offs_and_fourteen_days_of_observation_release_the_family() {
    for node in nodes().await {
        let store = node.store_name();
        let (me, adult, kid, id) =
            approved_family(&node, "13900001703", "11010519491231002X", "110105-003-002").await;
        let station = worker(&node, "checkpoint", "").await;
        // The station scans each of them: normal temperatures, and they have arrived.
        let (code, arrival) = arrive(&node, &station, &me, &adult, 366).await;
        assert_eq!(code, StatusCode::OK, "{store}: {arrival}");
        assert_eq!(
            (
                arrival["fever"].as_bool(),
                arrival["application"]["state"].as_str()
            ),
            (Some(false), Some("arrived"))
        );
        let (code, body) = arrive(&node, &station, &me, &kid, 365).await;
        assert_eq!(code, StatusCode::OK, "{store}: {body}");
        // Only a station checkpoint scans arrivals, and a temperature is a temperature.
        let (code, _) = node
            .post(
                "/api/v1/returns/arrivals",
                &me,
                json!({"text": "x", "temperature_c": 36.6, "station": "s"}),
            )
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        let (code, body) = arrive(&node, &station, &me, &adult, 600).await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_temperature"))
        );

        // Hand-offs, each confirmed by the receiving side, in order.
        let district = worker(&node, "community_worker", "110105").await;
        let street = worker(&node, "community_worker", "110105-003").await;
        let community = worker(&node, "community_worker", "110105-003-002").await;
        let handoff = |token: String, stage: &'static str| {
            let node = &node;
            let id = id.clone();
            async move {
                node.post(
                    &format!("/api/v1/returns/{id}/handoffs"),
                    &token,
                    json!({"stage": stage}),
                )
                .await
            }
        };
        let (code, body) = handoff(community.clone(), "district").await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("wrong_stage")),
            "{store}"
        );
        let (code, body) = handoff(street.clone(), "street").await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("out_of_order")),
            "{store}"
        );
        for (token, stage, state) in [
            (district, "district", "with_district"),
            (street, "street", "with_street"),
        ] {
            let (code, app) = handoff(token, stage).await;
            assert_eq!(
                (code, app["state"].as_str()),
                (StatusCode::OK, Some(state)),
                "{store}: {app}"
            );
        }
        // The community receives the family by scanning the adult's pass; a worker of another
        // community who scans it finds no application.
        let pass = super::scans::pass_text(&node, &me, &adult).await;
        let other = worker(&node, "community_worker", "110105-003-001").await;
        let (code, _) = node
            .post(
                "/api/v1/returns/handoffs",
                &other,
                json!({"text": pass, "stage": "community"}),
            )
            .await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{store}");
        let (code, app) = node
            .post(
                "/api/v1/returns/handoffs",
                &community,
                json!({"text": pass, "stage": "community", "note": "已送达家中"}),
            )
            .await;
        assert_eq!(
            (code, app["state"].as_str()),
            (StatusCode::OK, Some("observing")),
            "{store}: {app}"
        );
        let (_, app) = node.get(&format!("/api/v1/returns/{id}"), &me).await;
        let steps: Vec<String> = app["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["kind"].as_str().unwrap(),
                    s["outcome"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            steps[3..],
            [
                "arrival:normal",
                "arrival:normal",
                "handoff:district",
                "handoff:street",
                "handoff:community"
            ],
            "{store}"
        );

        // Fourteen days of home observation with a daily check-in: green throughout, then
        // released by the policy, with nobody typing a colour.
        for day in 1..=14 {
            node.state.clock.advance(Duration::days(1));
            // Sessions last days, not weeks: the resident logs in again as a phone would.
            let me = node.resident("13900001703").await;
            for person in [&adult, &kid] {
                let (code, body) = node
                    .post(
                        &format!("/api/v1/people/{person}/declarations"),
                        &me,
                        json!({"temperature_c": 36.5, "symptoms": []}),
                    )
                    .await;
                assert_eq!(code, StatusCode::CREATED, "{store} day {day}: {body}");
                let status = super::tracing::status(&node, &me, person).await;
                // The child's code shows pending until an official confirms the enrollment;
                // the colour the policy derives is what observation decides.
                assert_eq!(
                    status["status"]["color"], "green",
                    "{store} day {day}: {status}"
                );
            }
            if day == 5 {
                // The community worker sees today's check-ins at a glance.
                let (code, board) = node.get("/api/v1/returns/observation", &community).await;
                assert_eq!(code, StatusCode::OK, "{board}");
                let people = board["people"].as_array().unwrap();
                assert_eq!(people.len(), 2, "{store}: {board}");
                for p in people {
                    assert_eq!(
                        (
                            p["day"].as_i64(),
                            p["days"].as_i64(),
                            p["checked_in_today"].as_bool(),
                            p["missed"].as_bool(),
                            p["temperature_c"].as_f64(),
                        ),
                        (Some(6), Some(14), Some(true), Some(false), Some(36.5)),
                        "{store}: {p}"
                    );
                }
                // ... and the person reads that the worker read it.
                let (_, audit) = node
                    .get(&format!("/api/v1/people/{adult}/audit"), &me)
                    .await;
                assert!(
                    audit.to_string().contains("return.observation.read"),
                    "{store}: {audit}"
                );
                let (_, figures) = node.get("/api/v1/returns/figures", &community).await;
                let funnel: Vec<i64> = figures["funnel"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["people"].as_i64().unwrap())
                    .collect();
                assert_eq!(funnel, [2, 2, 2, 2, 0], "{store}: {figures}");
                assert_eq!(figures["under_observation"], 2, "{store}: {figures}");
            }
        }
        node.state.clock.advance(Duration::days(2));
        let me = node.resident("13900001703").await;
        let status = super::tracing::status(&node, &me, &adult).await;
        assert_eq!(
            status["code"], "green",
            "{store}: released, no check-in needed: {status}"
        );
        let (_, figures) = node.get("/api/v1/returns/figures", &community).await;
        assert_eq!(
            (&figures["released"], &figures["under_observation"]),
            (&json!(2), &json!(0)),
            "{store}: {figures}"
        );
        let (_, board) = node.get("/api/v1/returns/observation", &community).await;
        assert!(
            board["people"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["released"] == true && p["missed"] == false),
            "{store}: {board}"
        );
    }
}

#[tokio::test]
async fn a_fever_a_missed_check_in_and_a_hand_off_left_waiting() {
    for node in nodes().await {
        let store = node.store_name();
        let station = worker(&node, "checkpoint", "").await;
        // A fever at the station: the family goes to the fever clinic, the code turns yellow.
        let (me, adult, _, id) =
            approved_family(&node, "13900001704", "11010519491231002X", "110105-003-002").await;
        let (code, arrival) = arrive(&node, &station, &me, &adult, 381).await;
        assert_eq!(code, StatusCode::OK, "{store}: {arrival}");
        assert_eq!(
            (
                arrival["fever"].as_bool(),
                arrival["application"]["state"].as_str()
            ),
            (Some(true), Some("fever_clinic"))
        );
        let status = super::tracing::status(&node, &me, &adult).await;
        assert_eq!(status["code"], "yellow", "{store}: {status}");
        let district = worker(&node, "community_worker", "110105").await;
        let (code, body) = node
            .post(
                &format!("/api/v1/returns/{id}/handoffs"),
                &district,
                json!({"stage": "district"}),
            )
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("out_of_order")),
            "not home: {body}"
        );

        // Someone with no approved application does not arrive.
        let stranger = node.resident("13900001705").await;
        let (_, person) = node
            .post(
                "/api/v1/people",
                &stranger,
                json!({"document_kind": "resident_id",
            "document_number": "110101199003070011", "name": "周八", "phone": "13900001705"}),
            )
            .await;
        let (code, body) = arrive(
            &node,
            &station,
            &stranger,
            person["id"].as_str().unwrap(),
            366,
        )
        .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("not_travelling")),
            "{store}"
        );

        // Arrived and not received by the district within two hours: escalated.
        let (me2, adult2, _, id2) =
            approved_family(&node, "13900001706", "110105195001010012", "110105-003-002").await;
        let (code, _) = arrive(&node, &station, &me2, &adult2, 366).await;
        assert_eq!(code, StatusCode::OK);
        let (_, queue) = node.get("/api/v1/returns", &district).await;
        assert!(
            !queue["escalated"].as_array().unwrap().contains(&json!(id2)),
            "{queue}"
        );
        node.state.clock.advance(Duration::minutes(121));
        let (_, queue) = node.get("/api/v1/returns", &district).await;
        assert!(
            queue["escalated"].as_array().unwrap().contains(&json!(id2)),
            "{store}: {queue}"
        );

        // No check-in for more than 36 hours of home observation: yellow, with the reason.
        node.state.clock.advance(Duration::hours(36));
        let status = super::tracing::status(&node, &me2, &adult2).await;
        assert_eq!(status["code"], "yellow", "{store}: {status}");
        let rules: Vec<&str> = status["status"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["rule"].as_str())
            .collect();
        assert!(rules.contains(&"missed-checkin"), "{store}: {rules:?}");
        // ... and their community worker sees it first on the observation board, once the
        // community has received them.
        let street = worker(&node, "community_worker", "110105-003").await;
        let community = worker(&node, "community_worker", "110105-003-002").await;
        for (token, stage) in [
            (&district, "district"),
            (&street, "street"),
            (&community, "community"),
        ] {
            let (code, body) = node
                .post(
                    &format!("/api/v1/returns/{id2}/handoffs"),
                    token,
                    json!({"stage": stage}),
                )
                .await;
            assert_eq!(code, StatusCode::OK, "{store}: {body}");
        }
        let (_, board) = node.get("/api/v1/returns/observation", &community).await;
        // The child the station did not check is under observation too, from the door.
        let people = board["people"].as_array().unwrap();
        assert_eq!(people.len(), 2, "{store}: {board}");
        assert_eq!(
            (
                people[1]["checked_at_station"].as_bool(),
                people[1]["missed"].as_bool()
            ),
            (Some(false), Some(false)),
            "{store}: {board}"
        );
        assert_eq!(people[0]["checked_at_station"], true, "{store}: {board}");
        let first = &board["people"][0];
        assert_eq!(
            (
                first["person_id"].as_str(),
                first["missed"].as_bool(),
                first["colour"].as_str()
            ),
            (Some(adult2.as_str()), Some(true), Some("yellow")),
            "{store}: {board}"
        );
        // The region's figures count the fever at the station apart.
        let official = worker(&node, "health_official", "").await;
        let (code, figures) = node.get("/api/v1/returns/figures", &official).await;
        assert_eq!(code, StatusCode::OK, "{figures}");
        assert_eq!(figures["fever_clinic"], 2, "{store}: {figures}");
        // A resident reads no figures.
        let (code, _) = node.get("/api/v1/returns/figures", &me2).await;
        assert_eq!(code, StatusCode::FORBIDDEN);
    }
}
