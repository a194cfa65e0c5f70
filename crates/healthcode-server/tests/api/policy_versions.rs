//! Publishing a policy version over HTTP, on every store: a broken version is refused with its
//! problems; a version that stops fever declarations turning the code yellow is proposed, its dry
//! run names exactly who it would turn (checked against judging each person under both
//! versions), its proposer cannot approve it, a second official does, and at its effective time
//! colours change, are announced and name the version; anyone reads the history with the diff.

use super::{Node, nodes, nodes_with};
use healthcode_core::{Fact, Policy};
use healthcode_server::usecases::{colours, policy_versions};
use healthcode_store::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::Duration;
use time::format_description::well_known::Rfc3339;

fn resident_id(n: u32) -> String {
    let body = format!("11010119800101{:03}", n);
    let check = healthcode_core::identity::resident_id_check(&body).unwrap();
    format!("{body}{check}")
}

/// Enrolls people by an official and records their facts: (id, kind) pairs, kind being what
/// they declared.
async fn city(node: &Node, official: &str) -> Vec<String> {
    let now = node.state.now();
    let at = |h: i64| (now - Duration::hours(h)).format(&Rfc3339).unwrap();
    let stories: Vec<Vec<Value>> = vec![
        // A fever declared: yellow under the base.
        vec![
            json!({"type": "declaration", "temperature_decicelsius": 383, "symptoms": ["fever"], "district": "330106"}),
        ],
        vec![
            json!({"type": "declaration", "temperature_decicelsius": 379, "symptoms": [], "district": "330105"}),
        ],
        vec![json!({"type": "declaration", "temperature_decicelsius": 365, "symptoms": ["cough"]})],
        // A fever, then a negative test: green under both.
        vec![
            json!({"type": "declaration", "temperature_decicelsius": 383, "symptoms": ["fever"], "recorded_at": at(30)}),
            json!({"type": "test", "sample_id": "S-pv-1", "result": "negative", "sampled_at": at(20), "reported_at": at(10)}),
        ],
        // A close contact: red under both.
        vec![
            json!({"type": "contact", "level": "close", "case_id": "2020-0001", "venue": "某商场",
            "exposure_start": at(30), "exposure_end": at(29)}),
        ],
        // Nothing that matters.
        vec![json!({"type": "declaration", "temperature_decicelsius": 362, "symptoms": []})],
    ];
    let actor = Actor::new("test-official", "health_official", "test facts");
    let mut ids = Vec::new();
    for (n, story) in stories.into_iter().enumerate() {
        let (code, person) = node
            .post(
                "/api/v1/people",
                official,
                json!({"document_kind": "resident_id", "document_number": resident_id(n as u32 + 1),
                    "name": "测试人"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{person}");
        let id = person["id"].as_str().unwrap().to_owned();
        for (k, mut body) in story.into_iter().enumerate() {
            body["id"] = json!(format!("pv-{n}-{k}"));
            body["legal_basis"] = json!("self-declared");
            if body.get("recorded_at").is_none() {
                body["recorded_at"] = json!(at(2));
            }
            let fact: Fact = serde_json::from_value(body).unwrap();
            node.state
                .store
                .record_fact(&id, &fact, &actor, now)
                .await
                .unwrap();
        }
        ids.push(id);
    }
    // The colours kept as the node would have kept them had the facts come through it.
    colours::reassess_everyone(&node.state, now).await.unwrap();
    ids
}

fn without_fever_rule(version: &str) -> Value {
    let mut doc = Policy::default_policy().unwrap().document().clone();
    doc.version = version.into();
    doc.rules.retain(|r| r.id != "declared-symptoms");
    serde_json::to_value(doc).unwrap()
}

#[tokio::test]
async fn a_version_is_checked_dry_run_approved_by_a_second_official_and_takes_effect() {
    for node in nodes().await {
        let store = node.store_name();
        let proposer = node.staff("health_official").await;
        let approver = node.staff("health_official").await;
        let people = city(&node, &proposer).await;

        // A version that does not check is refused with every problem, before anything else.
        let mut broken = without_fever_rule("2020.2-broken");
        broken["rules"][0]["when"] = json!({"no-such-operator": [1]});
        broken["rules"][1]["until"] = json!({"param": "no_such_parameter"});
        let (code, body) = node
            .post(
                "/api/v1/policy/versions",
                &proposer,
                json!({"document": broken, "legal_basis": "京卫发〔2020〕12号"}),
            )
            .await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_policy")),
            "{store}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("2 problem"),
            "{body}"
        );

        // A resident proposes nothing.
        let me = node.resident("13900001801").await;
        let (code, _) = node
            .post(
                "/api/v1/policy/versions",
                &me,
                json!({"document": without_fever_rule("x"), "legal_basis": "x"}),
            )
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN);

        let proposed_doc = without_fever_rule("2020.2-test");
        let (code, version) = node
            .post(
                "/api/v1/policy/versions",
                &proposer,
                json!({"document": proposed_doc, "legal_basis": "京卫发〔2020〕12号：发热申报不再赋黄码"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{store}: {version}");
        let id = version["id"].as_str().unwrap().to_owned();
        assert_eq!(version["state"], "proposed");
        let (code, again) = node
            .post(
                "/api/v1/policy/versions",
                &proposer,
                json!({"document": proposed_doc, "legal_basis": "again"}),
            )
            .await;
        assert_eq!(
            (code, again["code"].as_str()),
            (StatusCode::CONFLICT, Some("version_taken"))
        );

        // The dry run names exactly who would change, as judging each person under both says.
        let (code, dry) = node
            .get(&format!("/api/v1/policy/versions/{id}/dry-run"), &approver)
            .await;
        assert_eq!(code, StatusCode::OK, "{store}: {dry}");
        let at = time::OffsetDateTime::parse(dry["at"].as_str().unwrap(), &Rfc3339).unwrap();
        let (base, next) = (
            Policy::default_policy().unwrap(),
            Policy::new(serde_json::from_value(proposed_doc.clone()).unwrap()).unwrap(),
        );
        let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
        for p in &people {
            let facts = node.state.store.facts(p).await.unwrap();
            let (was, will) = (
                base.evaluate(&facts, at).color,
                next.evaluate(&facts, at).color,
            );
            if was != will {
                *expected
                    .entry((was.as_str().into(), will.as_str().into()))
                    .or_default() += 1;
            }
        }
        let reported: BTreeMap<(String, String), u64> = dry["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    (
                        c["from"].as_str().unwrap().into(),
                        c["to"].as_str().unwrap().into(),
                    ),
                    c["people"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(reported, expected, "{store}: {dry}");
        assert_eq!(expected.get(&("yellow".into(), "green".into())), Some(&3));
        let change = &dry["changes"][0];
        assert_eq!(change["by_rule"]["declared-symptoms"], 3, "{dry}");
        assert_eq!(
            change["by_district"],
            json!([
                {"district": "330105", "name": "拱墅区", "people": 1},
                {"district": "330106", "name": "西湖区", "people": 1},
                {"district": null, "name": null, "people": 1},
            ]),
            "where they live, the undeclared last: {dry}"
        );
        assert_eq!(change["sample"].as_array().unwrap().len(), 3);
        assert_eq!(dry["evaluated"], 6, "{store}: {dry}");

        // Its proposer cannot approve it; another official can.
        let approve = |token: String| {
            let node = &node;
            let id = id.clone();
            async move {
                node.post(
                    &format!("/api/v1/policy/versions/{id}/approve"),
                    &token,
                    json!({}),
                )
                .await
            }
        };
        let (code, body) = approve(proposer.clone()).await;
        assert_eq!(
            (code, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("same_official")),
            "{store}: {body}"
        );
        let (code, approved) = approve(approver.clone()).await;
        assert_eq!(code, StatusCode::OK, "{store}: {approved}");
        assert_eq!(approved["state"], "approved");
        let (code, _) = approve(approver.clone()).await;
        assert_eq!(code, StatusCode::CONFLICT, "decided once");

        // Until its effective time the base judges; from it, the new version, on every read.
        let official = &proposer;
        let status = |person: String| {
            let node = &node;
            async move { super::tracing::status(node, official, &person).await }
        };
        let first = status(people[0].clone()).await;
        assert_eq!(first["code"], "yellow", "{store}: {first}");
        node.state.clock.advance(Duration::seconds(61));
        let changed = policy_versions::activate(&node.state, node.state.now())
            .await
            .unwrap();
        assert_eq!(changed, 3, "{store}: the three fevers turn green");
        assert_eq!(
            policy_versions::activate(&node.state, node.state.now())
                .await
                .unwrap(),
            0,
            "a version is activated once"
        );
        let first = status(people[0].clone()).await;
        assert_eq!(
            (&first["code"], &first["status"]["policy_version"]),
            (&json!("green"), &json!("2020.2-test")),
            "{store}: {first}"
        );
        let told = node
            .state
            .store
            .notifications_of(&people[0], 10)
            .await
            .unwrap();
        assert!(
            told.iter()
                .any(|n| n.text.en.contains("green") || n.text.en.contains("Green")),
            "{store}: {told:?}"
        );
        let contact = status(people[4].clone()).await;
        assert_eq!(contact["code"], "red");

        // A later version, withdrawn before its time, never applies.
        let mut later = without_fever_rule("2020.3-test");
        later["parameters"]["close_contact_days"] = json!(7);
        let effective = (node.state.now() + Duration::days(1))
            .format(&Rfc3339)
            .unwrap();
        let (code, v3) = node
            .post(
                "/api/v1/policy/versions",
                &proposer,
                json!({"document": later, "legal_basis": "京卫发〔2020〕13号", "effective_at": effective}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{v3}");
        let v3 = v3["id"].as_str().unwrap().to_owned();
        let (code, withdrawn) = node
            .post(
                &format!("/api/v1/policy/versions/{v3}/withdraw"),
                &proposer,
                json!({}),
            )
            .await;
        assert_eq!(
            (code, withdrawn["state"].as_str()),
            (StatusCode::OK, Some("withdrawn")),
            "{withdrawn}"
        );
        let (code, _) = node
            .post(
                &format!("/api/v1/policy/versions/{v3}/withdraw"),
                &approver,
                json!({}),
            )
            .await;
        assert_eq!(
            code,
            StatusCode::CONFLICT,
            "withdrawn once, by whom it says"
        );

        // Anyone reads the history: the base, the version in force and its diff, the withdrawn one.
        let (code, history) = node
            .call(Method::GET, "/api/v1/policy/versions", None, None)
            .await;
        assert_eq!(code, StatusCode::OK, "{history}");
        let list = history.as_array().unwrap();
        assert_eq!(list.len(), 3, "{store}: {history}");
        assert_eq!(list[0]["version"]["state"], "base");
        let v2 = &list[1];
        assert_eq!(
            (
                v2["version"]["version"].as_str(),
                v2["version"]["state"].as_str(),
                v2["changes"]["rules_removed"][0]["id"].as_str()
            ),
            (
                Some("2020.2-test"),
                Some("approved"),
                Some("declared-symptoms")
            ),
            "{store}: {v2}"
        );
        assert_ne!(v2["version"]["proposed_by"], v2["version"]["decided_by"]);
        assert_eq!(list[2]["version"]["state"], "withdrawn");
        assert_eq!(
            list[2]["changes"]["parameters"][0]["name"], "close_contact_days",
            "the diff is from the version in force before it: {history}"
        );
        let (code, doc) = node
            .call(
                Method::GET,
                &format!("/api/v1/policy/versions/{id}"),
                None,
                None,
            )
            .await;
        assert_eq!(
            (code, doc["version"].as_str()),
            (StatusCode::OK, Some("2020.2-test"))
        );
        let (code, published) = node.call(Method::GET, "/api/v1/policy", None, None).await;
        assert_eq!(
            (code, published["version"].as_str()),
            (StatusCode::OK, Some("2020.2-test"))
        );
    }
}

/// Two nodes of one region on one store, as behind a load balancer: a version approved on one
/// applies on both from the same instant and never before, is activated once, cannot be
/// withdrawn once another node may hold it for its time, and a node that stopped reading the
/// versions says it is not ready rather than judge by a version it is unsure of.
#[tokio::test]
async fn the_nodes_of_a_region_switch_at_the_same_instant() {
    // Reads only when told to (the jobs' first reading is at start), to watch each step.
    let slow = |c: &mut healthcode_server::config::Config| {
        c.policy_versions.notice_seconds = 7200;
        c.policy_versions.refresh_seconds = 3600;
    };
    for a in nodes_with(slow).await {
        let b = a.sibling().await;
        let store = a.store_name();
        let proposer = a.staff("health_official").await;
        let approver = a.staff("health_official").await;
        let people = city(&a, &proposer).await;
        let base = Policy::default_policy().unwrap().document().version.clone();

        // The region's base is the one its first node recorded: a node started from another
        // file judges by the recorded base all the same, and the history holds one base.
        let file = std::env::temp_dir().join(healthcode_testkit::unique("policy.json"));
        std::fs::write(&file, without_fever_rule("2020.1-local").to_string()).unwrap();
        let restarted = healthcode_server::open_state(healthcode_server::config::Config {
            policy_file: Some(file.clone()),
            ..(*b.state.config).clone()
        })
        .await
        .unwrap();
        assert_eq!(restarted.policy.base().document().version, base, "{store}");
        let bases: Vec<String> = policy_versions::history(&restarted)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.version.state == "base")
            .map(|p| p.version.version)
            .collect();
        assert_eq!(bases, std::slice::from_ref(&base), "{store}");
        let _ = std::fs::remove_file(file);

        let requested = a.state.now() + Duration::hours(3);
        let (code, v) = a
            .post(
                "/api/v1/policy/versions",
                &proposer,
                json!({"document": without_fever_rule("2020.2-nodes"), "legal_basis": "京卫发〔2020〕14号",
                    "effective_at": requested.format(&Rfc3339).unwrap()}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{store}: {v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let (code, approved) = b
            .post(
                &format!("/api/v1/policy/versions/{id}/approve"),
                &approver,
                json!({}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{store}: {approved}");
        let t = time::OffsetDateTime::parse(approved["effective_at"].as_str().unwrap(), &Rfc3339)
            .unwrap();
        assert!(
            (t - requested).abs() < Duration::milliseconds(1),
            "far enough ahead: the time asked for, to the millisecond"
        );

        // The node that approved knows it; the other reads it on its schedule, long before t.
        policy_versions::activate(&a.state, a.state.now())
            .await
            .unwrap();
        for node in [&a, &b] {
            let at = |i| node.state.policy.at(i).document().version.clone();
            assert_eq!(
                (at(t - Duration::nanoseconds(1)), at(t)),
                (base.clone(), "2020.2-nodes".to_owned()),
                "{store}: one version for each instant, on every node"
            );
        }

        // Within the notice before t, another node may hold it: too late to withdraw.
        let step = t - Duration::minutes(30) - a.state.now();
        for node in [&a, &b] {
            node.state.clock.advance(step);
        }
        let (code, refused) = b
            .post(
                &format!("/api/v1/policy/versions/{id}/withdraw"),
                &proposer,
                json!({}),
            )
            .await;
        assert_eq!(
            (code, refused["code"].as_str()),
            (StatusCode::CONFLICT, Some("too_late")),
            "{store}: {refused}"
        );

        // Neither node has read the versions for over the notice: neither is sure, neither ready.
        let (code, ready) = a.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(
            (code, ready["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("policy_stale")),
            "{store}: {ready}"
        );
        for node in [&a, &b] {
            policy_versions::activate(&node.state, node.state.now())
                .await
                .unwrap();
            let (code, _) = node.call(Method::GET, "/readyz", None, None).await;
            assert_eq!(code, StatusCode::OK, "{store}: ready once it has read them");
        }

        // At t both judge by it; exactly one re-derives everyone, and each change is told once.
        for node in [&a, &b] {
            node.state.clock.advance(Duration::minutes(30));
        }
        let (x, y) = tokio::join!(
            policy_versions::activate(&a.state, a.state.now()),
            policy_versions::activate(&b.state, b.state.now())
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(
            (x + y, x.min(y)),
            (3, 0),
            "{store}: activated by one node: {x} and {y}"
        );
        for node in [&a, &b] {
            let status = super::tracing::status(node, &proposer, &people[0]).await;
            assert_eq!(
                (&status["code"], &status["status"]["policy_version"]),
                (&json!("green"), &json!("2020.2-nodes")),
                "{store}: {status}"
            );
        }
        let told = a
            .state
            .store
            .notifications_of(&people[0], 20)
            .await
            .unwrap();
        let mut greens: Vec<&str> = told
            .iter()
            .filter(|n| n.colour_to == "green")
            .map(|n| n.channel.as_str())
            .collect();
        greens.sort_unstable();
        assert_eq!(
            greens,
            ["app", "sms"],
            "{store}: told once, on each channel: {told:?}"
        );

        // The policy file is no back door: a changed document, under the base's version or a
        // new one, starts a node that judges by the recorded base and the approved version.
        let mut edited = without_fever_rule(&base);
        edited["parameters"]["close_contact_days"] = json!(3);
        let file = std::env::temp_dir().join(healthcode_testkit::unique("policy.json"));
        let config = healthcode_server::config::Config {
            policy_file: Some(file.clone()),
            ..(*b.state.config).clone()
        };
        for version in [base.as_str(), "2020.1-edited"] {
            edited["version"] = json!(version);
            std::fs::write(&file, edited.to_string()).unwrap();
            let restarted = healthcode_server::open_state(config.clone()).await.unwrap();
            let judged = restarted.policy.at(a.state.now());
            assert_eq!(
                (
                    restarted.policy.base().document().version.as_str(),
                    judged.document().version.as_str(),
                    healthcode_core::visits::parameter_i64(
                        judged.document(),
                        "close_contact_days",
                        0
                    ),
                ),
                (base.as_str(), "2020.2-nodes", 14),
                "{store}: {version}"
            );
        }
        let _ = std::fs::remove_file(file);
    }
}
