//! Federation end to end over loopback HTTP: a hub and two regions (420100 Wuhan, 110000
//! Beijing), each a node of its own with its own store. A region proposes its entry signed with
//! its node key, a hub official approves it, the hub publishes a signed trust list, and the other
//! region fetches it and verifies the first region's passes offline; a revoked key, a hub that is
//! down, a list that expired, a rolled-back or tampered list and a forged or replayed request
//! each end as their own refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use healthcode_core::identity::DocumentKind;
use healthcode_pass::cose;
use healthcode_pass::keys::{Algorithm, SigningKey};
use healthcode_server::config::{Config, NodeRole};
use healthcode_server::federation::directory::{Refreshed, Refusal};
use healthcode_server::federation::{directory, region};
use healthcode_server::usecases::notices::Sender;
use healthcode_server::{AppState, Running, open_state, start};
use healthcode_store::{Actor, Enrollment, Person};
use healthcode_store::{Outbox, Outgoing};
use healthcode_testkit::unique;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

struct Node {
    base: String,
    state: AppState,
    running: Running,
    gateway: Arc<Gateway>,
}

/// The nodes' SMS gateway: keeps what each node's outbox delivers.
#[derive(Default)]
struct Gateway {
    delivered: Mutex<Vec<Outgoing>>,
}

impl Sender for Gateway {
    fn send<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        self.delivered.lock().unwrap().push(message.clone());
        Box::pin(std::future::ready(Ok(())))
    }
}

impl Node {
    async fn start(config: Config) -> Node {
        let gateway = Arc::new(Gateway::default());
        let state = open_state(config)
            .await
            .unwrap()
            .with_sender(gateway.clone());
        let running = start(state.clone()).await.unwrap();
        Node {
            base: format!("http://{}", running.addr),
            state,
            running,
            gateway,
        }
    }

    /// A resident's session: a login code by SMS, traded for a token.
    async fn resident(&self, phone: &str) -> String {
        let (status, body) = self
            .post("/api/v1/auth/code", None, json!({"phone": phone}))
            .await;
        assert!(status < 300, "{body}");
        let mut code = String::new();
        for _ in 0..200 {
            let found = self
                .gateway
                .delivered
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find_map(|m| {
                    (m.outbox == Outbox::LoginCodes && m.phone.as_deref() == Some(phone)).then(
                        || {
                            m.text
                                .en
                                .chars()
                                .filter(char::is_ascii_digit)
                                .take(6)
                                .collect()
                        },
                    )
                });
            if let Some(found) = found {
                code = found;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"phone": phone, "code": code}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn stop(self) {
        self.running.shutdown().await.unwrap();
        self.state.store.close().await;
        let _ = std::fs::remove_dir_all(&self.state.config.data_dir);
    }

    async fn token(&self, role: &str, name: &str) -> String {
        let token = format!("t-{}", unique(role));
        let admin = Actor::new("test", "admin", "test setup");
        self.state
            .store
            .create_account(role, name, &token, &admin, self.state.now())
            .await
            .unwrap();
        token
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get_with(&self, path: &str, token: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// A free loopback port, so a region knows its public URL before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn base_config(region: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".into(),
        region: region.into(),
        data_dir: std::env::temp_dir().join(unique("hc_fed")),
        ..Config::default()
    }
}

async fn hub() -> Node {
    let mut config = base_config("110000");
    config.federation.role = NodeRole::Hub;
    config.federation.list_validity_hours = 24;
    Node::start(config).await
}

/// A region whose trust root is the hub's; its job does not run during the test (refreshes are
/// made by the test, as the job would make them).
async fn region(hub: &Node, code: &str, name: &str) -> Node {
    let root = std::env::temp_dir().join(format!("{}.pem", unique("hub_root")));
    let pem = hub
        .state
        .hub
        .as_ref()
        .unwrap()
        .root
        .verifying_key()
        .to_pem();
    std::fs::write(&root, pem).unwrap();
    let port = free_port();
    let mut config = base_config(code);
    config.listen = format!("127.0.0.1:{port}");
    config.trust_root_key = Some(root);
    config.federation.name = name.into();
    config.federation.public_url = Some(format!("http://127.0.0.1:{port}"));
    config.federation.hub_url = Some(hub.base.clone());
    config.federation.refresh_seconds = 3600;
    // Keys four hours old, so that the region can have issued passes earlier today.
    healthcode_pass::keyring::Keyring::open_or_create(
        &config.data_dir.join("keys"),
        Algorithm::EdDSA,
        healthcode_server::clock::Clock::system().now() - Duration::hours(4),
    )
    .unwrap();
    Node::start(config).await
}

/// A pass the region issues for a resident of its own.
fn pass_of(node: &Node, now: OffsetDateTime) -> String {
    let person = Person {
        id: "p1".into(),
        pseudonym: "00112233445566778899aabbccddeeff".into(),
        document_kind: DocumentKind::ResidentId,
        document_tail: Some("1234".into()),
        name_masked: "张*".into(),
        guardian_id: None,
        enrollment: Enrollment::Confirmed,
        created_at: now,
    };
    let (_, text) = node
        .state
        .passes
        .issue(&person, healthcode_core::Color::Green, "test", now)
        .unwrap();
    text
}

/// The signature stage's outcome when `node` verifies `text` at `at`.
fn outcome(node: &Node, text: &str, at: OffsetDateTime) -> String {
    let report = node.state.passes.verify(text, at);
    if report.valid {
        return "valid".into();
    }
    report.signature.outcome.unwrap_or("failed").to_owned()
}

/// Each region registers, a hub official approves it, and each fetches the list.
async fn federate(hub: &Node, regions: &[&Node]) {
    let official = hub.token("hub_official", "枢纽官员").await;
    for node in regions {
        let proposal = region::register(&node.state, node.state.now())
            .await
            .unwrap();
        let id = proposal["id"].as_str().unwrap().to_owned();
        assert_eq!(approve(hub, &official, &id).await.0, 200);
    }
    for node in regions {
        directory::refresh(&node.state).await.unwrap();
    }
}

async fn approve(hub: &Node, token: &str, id: &str) -> (u16, Value) {
    hub.post(
        &format!("/hub/v1/proposals/{id}/decision"),
        Some(token),
        json!({"decision": "approve", "reason": "fingerprint confirmed by phone"}),
    )
    .await
}

#[tokio::test]
async fn regions_recognise_each_others_passes_through_the_hubs_signed_list() {
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let beijing = region(&hub, "110000", "北京市").await;
    let official = hub.token("hub_official", "枢纽官员甲").await;
    let now = wuhan.state.now();

    // Before any list, Beijing does not know Wuhan's key.
    let text = pass_of(&wuhan, now);
    assert_eq!(outcome(&beijing, &text, now), "no_key");

    // Each region proposes itself; the proposal waits for a hub official.
    let proposed = region::register(&wuhan.state, now).await.unwrap();
    assert_eq!(proposed["state"], "awaiting_approval");
    assert_eq!(proposed["region"], "420100");
    let wuhan_id = proposed["id"].as_str().unwrap().to_owned();
    let beijing_id = region::register(&beijing.state, now).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Nobody but a hub official decides.
    let (status, body) = hub
        .post(
            &format!("/hub/v1/proposals/{wuhan_id}/decision"),
            None,
            json!({"decision": "approve", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let admin = hub.token("admin", "管理员").await;
    let (status, _) = approve(&hub, &admin, &wuhan_id).await;
    assert_eq!(status, 403);

    let (status, body) = approve(&hub, &official, &wuhan_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "approved");
    let (status, body) = approve(&hub, &official, &wuhan_id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_decided"))
    );
    approve(&hub, &official, &beijing_id).await;

    // Beijing fetches the list and now verifies Wuhan's pass offline; /readyz shows the list.
    let refreshed = directory::refresh(&beijing.state).await.unwrap();
    let Refreshed::Installed(sequence) = refreshed else {
        panic!("a first list is installed: {refreshed:?}");
    };
    let (_, ready) = beijing.get("/readyz").await;
    assert_eq!(ready["trust_list"]["sequence"], sequence);
    assert_eq!(ready["trust_list"]["regions"], 2);
    assert_eq!(outcome(&beijing, &text, now), "valid");
    let (_, directory) = hub.get("/hub/v1/regions").await;
    assert_eq!(directory.as_array().unwrap().len(), 2);

    // Asked again, an unchanged list costs a 304.
    let refreshed = directory::refresh(&beijing.state).await.unwrap();
    assert_eq!(refreshed, Refreshed::Unchanged(sequence));

    // The hub revokes Wuhan's key: after one refresh Beijing refuses it with its own reason
    // (the signature Beijing verified and kept above does not outlive its key's trust).
    let kid = wuhan.state.passes.own_entries(now, Duration::days(1))[0]
        .kid
        .clone();
    let (status, body) = hub
        .post(
            &format!(
                "/hub/v1/keys/{}/revoke",
                kid.replace('/', "%2F").replace('+', "%2B")
            ),
            Some(&official),
            json!({"reason": "key exposed"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    directory::refresh(&beijing.state).await.unwrap();
    assert_eq!(outcome(&beijing, &text, now), "revoked_key");

    // The hub goes down: Beijing keeps the list it holds until it expires, then refuses other
    // regions' codes as trust_list_expired; its own still verify.
    let own = pass_of(&beijing, now);
    let beijing_dir = beijing.state.config.data_dir.clone();
    hub.stop().await;
    assert!(matches!(
        directory::refresh(&beijing.state).await,
        Err(Refusal::Unreachable(_))
    ));
    let held = beijing.state.directory.state(now).unwrap();
    assert!(!held.expired);
    let later = held.valid_until + Duration::minutes(1);
    let fresh_wuhan = pass_of(&wuhan, later);
    assert_eq!(outcome(&beijing, &fresh_wuhan, later), "trust_list_expired");
    assert_eq!(outcome(&beijing, &pass_of(&beijing, later), later), "valid");
    assert_eq!(outcome(&beijing, &own, now), "valid");

    // The list held survives a restart: it is read back from the data directory.
    let config = (*beijing.state.config).clone();
    beijing.running.shutdown().await.unwrap();
    beijing.state.store.close().await;
    let again = open_state(config).await.unwrap();
    assert_eq!(again.directory.state(now).unwrap().sequence, held.sequence);
    again.store.close().await;
    let _ = std::fs::remove_dir_all(beijing_dir);
    wuhan.stop().await;
}

#[tokio::test]
async fn forged_replayed_and_stale_proposals_are_refused_and_nothing_is_kept() {
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let now = wuhan.state.now();
    let registration = region::registration(&wuhan.state, now).unwrap();
    let signed = |key: &SigningKey, r: &healthcode_server::federation::Registration| {
        let json = serde_json::to_vec(r).unwrap();
        STANDARD.encode(cose::sign(json, key).unwrap())
    };

    // Signed by another key than the node key it names.
    let stranger = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let (status, body) = hub
        .post(
            "/hub/v1/proposals",
            None,
            json!({"signed": signed(&stranger, &registration)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_node_signature"))
    );

    // Signed an hour ago: stale.
    let mut old = registration.clone();
    old.signed_at = now - Duration::hours(1);
    let (status, body) = hub
        .post(
            "/hub/v1/proposals",
            None,
            json!({"signed": signed(&wuhan.state.node_key, &old)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("stale_request"))
    );

    // A key of another region in the registration.
    let mut foreign = registration.clone();
    foreign.keys[0].region = "110000".into();
    let (status, body) = hub
        .post(
            "/hub/v1/proposals",
            None,
            json!({"signed": signed(&wuhan.state.node_key, &foreign)}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("bad_keys")));

    // The same signed request twice: the second is a replay.
    let good = json!({"signed": signed(&wuhan.state.node_key, &registration)});
    let (status, _) = hub.post("/hub/v1/proposals", None, good.clone()).await;
    assert_eq!(status, 202);
    let (status, body) = hub.post("/hub/v1/proposals", None, good).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("replayed_request"))
    );
    assert_eq!(hub.state.store.hub_proposals(None).await.unwrap().len(), 1);

    // Once Wuhan is in the directory, a change must be signed by the node key on record: a new
    // key proposing itself for Wuhan is refused.
    let official = hub.token("hub_official", "枢纽官员乙").await;
    let id = hub.state.store.hub_proposals(None).await.unwrap()[0]
        .id
        .clone();
    assert_eq!(approve(&hub, &official, &id).await.0, 200);
    let usurper = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let mut takeover = registration.clone();
    takeover.node_key = healthcode_server::federation::encode_key(usurper.verifying_key());
    takeover.url = "http://attacker.example".into();
    let (status, body) = hub
        .post(
            "/hub/v1/proposals",
            None,
            json!({"signed": signed(&usurper, &takeover)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_node_signature"))
    );
    hub.stop().await;
    wuhan.stop().await;
}

#[tokio::test]
async fn a_rolled_back_tampered_or_foreign_list_is_refused_and_the_held_one_stays() {
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let beijing = region(&hub, "110000", "北京市").await;
    let official = hub.token("hub_official", "枢纽官员丙").await;
    let now = wuhan.state.now();
    let id = region::register(&wuhan.state, now).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    approve(&hub, &official, &id).await;
    let first = hub.state.store.latest_hub_list().await.unwrap().unwrap();
    // A second publication; Beijing takes it.
    healthcode_server::federation::hub::publish(&hub.state, now)
        .await
        .unwrap();
    directory::refresh(&beijing.state).await.unwrap();
    let held = beijing.state.directory.state(now).unwrap().sequence;
    assert_eq!(held, first.sequence as u64 + 1);

    // The hub's store is rolled back to the first list (or an attacker replays it).
    let rollback = serve_once(first.signed.clone()).await;
    let mut config = (*beijing.state.config).clone();
    config.federation.hub_url = Some(rollback.clone());
    let dir = healthcode_server::federation::directory::Directory::new(
        &config.data_dir,
        config.federation.hub_url.clone(),
        healthcode_server::passes::root_key(&config).unwrap(),
    );
    dir.load(now).unwrap();
    assert!(matches!(
        dir.fetch(now).await,
        Err(Refusal::Rollback { held: h, got }) if h == held && got == first.sequence as u64
    ));

    // One byte of the list changed: its signature no longer holds.
    let mut tampered = first.signed.clone();
    let at = tampered.windows(6).position(|w| w == b"420100").unwrap();
    tampered[at] = b'5';
    let tampered_hub = serve_once(tampered).await;
    let dir = healthcode_server::federation::directory::Directory::new(
        &config.data_dir,
        Some(tampered_hub),
        healthcode_server::passes::root_key(&config).unwrap(),
    );
    dir.load(now).unwrap();
    assert!(matches!(dir.fetch(now).await, Err(Refusal::Signature(_))));

    // A list signed by another root.
    let other_root = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let (list, _) = healthcode_pass::trust::TrustList::verify_signature(
        &first.signed,
        hub.state.hub.as_ref().unwrap().root.verifying_key(),
    )
    .unwrap();
    let foreign = serve_once(list.sign(&other_root).unwrap()).await;
    let dir = healthcode_server::federation::directory::Directory::new(
        &config.data_dir,
        Some(foreign),
        healthcode_server::passes::root_key(&config).unwrap(),
    );
    dir.load(now).unwrap();
    assert!(matches!(dir.fetch(now).await, Err(Refusal::Signature(_))));

    // An expired list, however well signed.
    let mut stale = list.clone();
    stale.sequence = held + 5;
    stale.issued_at = now - Duration::days(3);
    stale.valid_until = now - Duration::days(2);
    let expired = serve_once(stale.sign(&hub.state.hub.as_ref().unwrap().root).unwrap()).await;
    let dir = healthcode_server::federation::directory::Directory::new(
        &config.data_dir,
        Some(expired),
        healthcode_server::passes::root_key(&config).unwrap(),
    );
    dir.load(now).unwrap();
    assert!(matches!(dir.fetch(now).await, Err(Refusal::Time(_))));

    // Through all of it the node holds the list it took.
    assert_eq!(beijing.state.directory.state(now).unwrap().sequence, held);
    hub.stop().await;
    wuhan.stop().await;
    beijing.stop().await;
}

/// A stand-in for a hub that went wrong: answers every request with these bytes.
async fn serve_once(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { body }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A Beijing checkpoint judges a Wuhan pass by Beijing's recognition table: green from Wuhan
/// is admitted; once Beijing publishes a high-risk area in Wuhan, green from there is treated
/// as yellow at a station (and turned away there), still admitted at a mall.
#[tokio::test]
async fn a_checkpoint_judges_another_regions_pass_by_the_recognition_table() {
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let beijing = region(&hub, "110000", "北京市").await;
    let official = hub.token("hub_official", "枢纽官员丁").await;
    let now = wuhan.state.now();
    let id = region::register(&wuhan.state, now).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    approve(&hub, &official, &id).await;
    directory::refresh(&beijing.state).await.unwrap();

    let admin = beijing.token("admin", "管理员").await;
    let checkpoint = |name: &'static str, category: &'static str| {
        let (beijing, admin) = (&beijing, admin.clone());
        async move {
            let (status, venue) = beijing
                .post(
                    "/api/v1/venues",
                    Some(&admin),
                    json!({"name": name, "address": "北京", "region": "110101", "category": category}),
                )
                .await;
            assert_eq!(status, 201, "{venue}");
            let path = format!(
                "/api/v1/venues/{}/checkpoints",
                venue["id"].as_str().unwrap()
            );
            let (_, gate) = beijing
                .post(&path, Some(&admin), json!({"name": "A口"}))
                .await;
            gate["token"].as_str().unwrap().to_owned()
        }
    };
    let station = checkpoint("北京西站", "station").await;
    let mall = checkpoint("西单商场", "mall").await;
    let scan = |gate: String, text: String| {
        let beijing = &beijing;
        async move {
            let (status, answer) = beijing
                .post(
                    "/api/v1/scans",
                    Some(&gate),
                    json!({"scan_id": unique("s"), "text": text}),
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            answer
        }
    };
    let text = pass_of(&wuhan, beijing.state.now());
    let answer = scan(station.clone(), text.clone()).await;
    assert_eq!(answer["outcome"], "admit", "{answer}");
    assert_eq!(answer["region"], "420100");
    assert!(answer.get("treated_as").is_none(), "{answer}");

    // Beijing publishes a high-risk area in Wuhan (proposed by one official, approved by another).
    let (a, b) = (
        beijing.token("health_official", "卫健委甲").await,
        beijing.token("health_official", "卫健委乙").await,
    );
    let starts = (beijing.state.now() - Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, proposal) = beijing
        .post(
            "/api/v1/risk-areas",
            Some(&a),
            json!({"region": "420100", "name": "武汉市", "level": "high", "starts_at": starts,
                   "legal_basis": "国务院联防联控机制 2020 年第 1 号通告"}),
        )
        .await;
    assert_eq!(status, 202, "{proposal}");
    let batch = proposal["batch"]["id"].as_str().unwrap();
    let (status, body) = beijing
        .post(
            &format!("/api/v1/batches/{batch}/approve"),
            Some(&b),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let answer = scan(station, text.clone()).await;
    assert_eq!(answer["outcome"], "deny", "{answer}");
    assert_eq!(answer["colour"], "green");
    assert_eq!(answer["treated_as"], "yellow");
    assert_eq!(answer["reason"]["code"], "colour_not_admitted");
    assert!(
        answer["reason"]["message_zh"]
            .as_str()
            .unwrap()
            .contains("按黄码核验"),
        "{answer}"
    );
    let answer = scan(mall, text).await;
    assert_eq!(answer["outcome"], "admit", "{answer}");
    hub.stop().await;
    wuhan.stop().await;
    beijing.stop().await;
}

/// Enrolls a person with a resident ID of `prefix` (six digits) and gives their pass's text,
/// as the node issued it at `issued_at`.
async fn enrolled(
    node: &Node,
    admin: &str,
    prefix: &str,
    n: u32,
    issued_at: OffsetDateTime,
) -> (String, String) {
    let body = format!(
        "{prefix}1990{:02}{:02}{:03}",
        n % 12 + 1,
        n % 28 + 1,
        n % 1000
    );
    let check = healthcode_core::identity::resident_id_check(&body).unwrap();
    let (status, person) = node
        .post(
            "/api/v1/people",
            Some(admin),
            json!({"document_kind": "resident_id", "document_number": format!("{body}{check}"), "name": "张三"}),
        )
        .await;
    assert_eq!(status, 201, "{person}");
    let id = person["id"].as_str().unwrap().to_owned();
    let person = node.state.store.person(&id).await.unwrap().unwrap();
    let (_, text) = node
        .state
        .passes
        .issue(&person, healthcode_core::Color::Green, "test", issued_at)
        .unwrap();
    (id, text)
}

/// The colour a node derives for one of its people now.
async fn colour(node: &Node, person: &str) -> String {
    let facts = node.state.store.facts(person).await.unwrap();
    node.state
        .policy
        .evaluate(&facts, node.state.now())
        .color
        .to_string()
}

/// Waits until `check` holds, running `step` between looks (the nodes' own jobs run too).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

/// A Beijing case finds a Wuhan resident who shared a Beijing venue with them: Beijing's trace
/// sends Wuhan a signed contact notice; Wuhan records the contact and turns its resident red. The
/// case is retracted: Beijing sends the withdrawal and Wuhan turns them back. A notice sent
/// while Wuhan is unreachable waits in Beijing's outbox; delivered twice, it changes nothing.
#[tokio::test]
async fn a_trace_across_the_border_turns_the_other_regions_resident_red_and_back() {
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let beijing = region(&hub, "110000", "北京市").await;
    federate(&hub, &[&wuhan, &beijing]).await;

    let wuhan_admin = wuhan.token("admin", "武汉管理员").await;
    let beijing_admin = beijing.token("admin", "北京管理员").await;
    // Both scan in at a Beijing venue at the same time, three hours ago.
    let scanned = beijing.state.now() - Duration::hours(3);
    let (traveller, wuhan_pass) = enrolled(&wuhan, &wuhan_admin, "420102", 7, scanned).await;
    let (case_person, beijing_pass) =
        enrolled(&beijing, &beijing_admin, "110101", 8, scanned).await;
    assert_eq!(colour(&wuhan, &traveller).await, "green");

    let (_, venue) = beijing
        .post(
            "/api/v1/venues",
            Some(&beijing_admin),
            json!({"name": "地铁西单站", "address": "北京", "region": "110102", "category": "mall"}),
        )
        .await;
    let path = format!(
        "/api/v1/venues/{}/checkpoints",
        venue["id"].as_str().unwrap()
    );
    let (_, gate) = beijing
        .post(&path, Some(&beijing_admin), json!({"name": "A口"}))
        .await;
    let gate = gate["token"].as_str().unwrap().to_owned();
    let scanned_at = scanned
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for text in [&wuhan_pass, &beijing_pass] {
        let (status, answer) = beijing
            .post(
                "/api/v1/scans",
                Some(&gate),
                json!({"scan_id": unique("s"), "text": text, "scanned_at": scanned_at}),
            )
            .await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("admit")),
            "{answer}"
        );
    }

    // Wuhan is unreachable when the case is recorded: the notice waits in Beijing's outbox.
    let wuhan_config = (*wuhan.state.config).clone();
    wuhan.running.shutdown().await.unwrap();
    let health = beijing.token("health_official", "北京卫健委").await;
    let onset = (beijing.state.now() - Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, case) = beijing
        .post(
            "/api/v1/cases",
            Some(&health),
            json!({"person_id": case_person, "kind": "confirmed", "onset_at": onset,
                   "legal_basis": "京卫疾控〔2020〕12号"}),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["id"].as_str().unwrap().to_owned();
    eventually("Beijing queued a notice for Wuhan", || async {
        beijing
            .state
            .store
            .undelivered_for_regions()
            .await
            .unwrap()
            .iter()
            .any(|(state, n)| state == "pending" && *n == 1)
    })
    .await;

    // Wuhan is back (same data directory, same port): the notice arrives, once.
    let wuhan = Node {
        base: wuhan.base.clone(),
        running: start(wuhan.state.clone()).await.unwrap(),
        state: wuhan.state,
        gateway: wuhan.gateway,
    };
    assert_eq!(wuhan_config.listen, wuhan.state.config.listen);
    // Beijing's next attempt is due after its back-off: move its clock past it.
    beijing.state.clock.advance(Duration::minutes(1));
    let delivered =
        healthcode_server::federation::messages::drain(&beijing.state, beijing.state.now())
            .await
            .unwrap();
    assert_eq!(delivered, 1);
    assert_eq!(colour(&wuhan, &traveller).await, "red");
    let facts = wuhan.state.store.facts(&traveller).await.unwrap();
    let contacts: Vec<_> = facts
        .iter()
        .filter(|f| matches!(&f.body, healthcode_core::FactBody::Contact { case_id: named, .. } if *named == format!("110000:{case_id}")))
        .collect();
    assert_eq!(contacts.len(), 1, "{facts:?}");
    assert!(
        contacts[0]
            .legal_basis
            .starts_with("contact notice from region 110000")
    );
    // Wuhan's audit chain has the crossing; the person is told (an outbox message on record).
    assert!(
        wuhan
            .state
            .store
            .audit_about(&traveller)
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "federation.receive")
    );
    assert!(
        !wuhan
            .state
            .store
            .notifications_of(&traveller, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Delivered again (a lost reply), it changes nothing.
    let resent =
        healthcode_server::federation::messages::drain(&beijing.state, beijing.state.now())
            .await
            .unwrap();
    assert_eq!(resent, 0, "nothing left to send");

    // The case is retracted: Beijing withdraws the contact in Wuhan.
    let (status, body) = beijing
        .post(
            &format!("/api/v1/people/{case_person}/facts"),
            Some(&health),
            json!({"type": "retraction", "retracts": case_id, "reason": "false positive",
                   "legal_basis": "京卫疾控〔2020〕13号"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    eventually("Wuhan turned its resident back", || async {
        let _ = healthcode_server::federation::messages::drain(&beijing.state, beijing.state.now())
            .await;
        colour(&wuhan, &traveller).await == "green"
    })
    .await;
    hub.stop().await;
    wuhan.stop().await;
    beijing.stop().await;
}

/// A message from a region the directory does not hold, one not signed by the sender's node
/// key, and one for another region are each refused with their own code, and nothing is taken.
#[tokio::test]
async fn messages_from_unknown_or_forged_senders_are_refused() {
    use healthcode_server::federation::messages::Envelope;
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let beijing = region(&hub, "110000", "北京市").await;
    let official = hub.token("hub_official", "枢纽官员己").await;
    let now = wuhan.state.now();
    let send = |key: &SigningKey, from: &str, to: &str| {
        let envelope = Envelope {
            id: unique("m"),
            from: from.into(),
            to: to.into(),
            kind: "contact_withdrawn".into(),
            sent_at: now,
            body: json!({"case_ref": "c1", "legal_basis": "test"}),
        };
        cose::sign(serde_json::to_vec(&envelope).unwrap(), key).unwrap()
    };
    let post = |signed: Vec<u8>| {
        let base = wuhan.base.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/federation/v1/messages"))
                .body(signed)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body["code"].as_str().map(str::to_owned))
        }
    };
    // Beijing is not in Wuhan's directory yet.
    let beijing_key = beijing.state.node_key.clone();
    let answer = post(send(&beijing_key, "110000", "420100")).await;
    assert_eq!(answer, (403, Some("unknown_peer".into())));

    for node in [&wuhan, &beijing] {
        let id = region::register(&node.state, now).await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        approve(&hub, &official, &id).await;
    }
    directory::refresh(&wuhan.state).await.unwrap();
    let forger = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let answer = post(send(&forger, "110000", "420100")).await;
    assert_eq!(answer, (401, Some("bad_node_signature".into())));
    let answer = post(send(&beijing_key, "110000", "330100")).await;
    assert_eq!(answer, (422, Some("wrong_recipient".into())));
    // Signed by Beijing's node key, for Wuhan: taken, and answered with a signed reply.
    let answer = post(send(&beijing_key, "110000", "420100")).await;
    assert_eq!(answer.0, 200);
    hub.stop().await;
    wuhan.stop().await;
    beijing.stop().await;
}

/// Contact notices travel in batches: each item is taken once by its own id and answered on its
/// own (recorded, a subject never issued, a notice out of bounds); the same items sent again in
/// another batch are answered as duplicates with their first outcomes and record nothing more.
#[tokio::test]
async fn a_batch_of_contact_notices_is_taken_item_by_item_once() {
    use healthcode_server::federation::messages::{CONTACTS, Envelope, Reply};
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let beijing = region(&hub, "110000", "北京市").await;
    federate(&hub, &[&wuhan, &beijing]).await;
    let admin = wuhan.token("admin", "武汉管理员丙").await;
    let now = wuhan.state.now();
    let (resident, _) = enrolled(&wuhan, &admin, "420102", 7, now).await;
    let subject = wuhan
        .state
        .store
        .person(&resident)
        .await
        .unwrap()
        .unwrap()
        .pseudonym;
    let at = |t: OffsetDateTime| healthcode_core::facts::rfc3339(t);
    let notice = |subject: &str, level: u8| {
        json!({"case_ref": "bj-2020-7", "subject": subject, "level": level, "venue": "北京西站",
            "exposure_start": at(now - Duration::hours(3)), "exposure_end": at(now - Duration::hours(2)),
            "legal_basis": "北京市疾控中心流调"})
    };
    let items = json!([
        {"id": unique("n"), "notice": notice(&subject, 1)},
        {"id": unique("n"), "notice": notice("00000000000000000000000000000000", 1)},
        {"id": unique("n"), "notice": notice(&subject, 3)},
    ]);
    let send = |items: Value| {
        let envelope = Envelope {
            id: unique("b"),
            from: "110000".into(),
            to: "420100".into(),
            kind: CONTACTS.into(),
            sent_at: now,
            body: items,
        };
        let signed = cose::sign(
            serde_json::to_vec(&envelope).unwrap(),
            &beijing.state.node_key,
        )
        .unwrap();
        let base = wuhan.base.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/federation/v1/messages"))
                .body(signed)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let bytes = response.bytes().await.unwrap();
            let reply: Reply =
                serde_json::from_slice(cose::parse(&bytes).unwrap().payload()).unwrap();
            reply
                .items
                .into_iter()
                .map(|i| (i.outcome, i.duplicate))
                .collect::<Vec<_>>()
        }
    };
    let first = send(items.clone()).await;
    let outcomes = |duplicate: bool| {
        ["recorded", "unknown_subject", "bad_message"]
            .map(|o| (o.to_owned(), duplicate))
            .to_vec()
    };
    assert_eq!(first, outcomes(false));
    assert_eq!(colour(&wuhan, &resident).await, "red");
    let again = send(items).await;
    assert_eq!(
        again,
        outcomes(true),
        "taken once, answered with the first outcomes"
    );
    let contacts = wuhan
        .state
        .store
        .facts(&resident)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.body.kind() == "contact")
        .count();
    assert_eq!(contacts, 1, "recorded once");
    hub.stop().await;
    wuhan.stop().await;
    beijing.stop().await;
}

/// 湖北健康码 → 北京健康宝: a Wuhan resident who is a close contact there consents to hand their
/// status to Beijing; enrolled in Beijing too, they present the code there, Beijing receives
/// Wuhan's signed attestation and gives the colour its own policy says, with the reason. A
/// replayed code, an expired consent, a consent for another region and another person's code
/// are each refused with their own code, and record nothing.
#[tokio::test]
async fn a_residents_status_follows_them_to_another_region_with_their_consent() {
    let hub = hub().await;
    let wuhan = region(&hub, "420100", "武汉市").await;
    let beijing = region(&hub, "110000", "北京市").await;
    federate(&hub, &[&wuhan, &beijing]).await;
    let now = wuhan.state.now();

    // The same person enrolls in both regions under the same document.
    let phone = "13900001111";
    let body = "420102199003071234";
    let check = healthcode_core::identity::resident_id_check(&body[..17]).unwrap();
    let document = format!("{}{check}", &body[..17]);
    let enroll = |node: &Node, token: String| {
        let document = document.clone();
        let base = node.base.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/api/v1/people"))
                .bearer_auth(&token)
                .json(&json!({"document_kind": "resident_id", "document_number": document, "name": "李四", "phone": phone}))
                .send()
                .await
                .unwrap();
            let person: Value = response.json().await.unwrap();
            person["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{person}"))
                .to_owned()
        }
    };
    let in_wuhan = wuhan.resident(phone).await;
    let wuhan_id = enroll(&wuhan, in_wuhan.clone()).await;
    let in_beijing = beijing.resident(phone).await;
    let beijing_id = enroll(&beijing, in_beijing.clone()).await;

    // In Wuhan they are a close contact: red.
    let exposure_end = now - Duration::days(2);
    let contact = healthcode_core::Fact {
        id: "f-contact".into(),
        recorded_at: now,
        legal_basis: "武汉市疾控 2020-03".into(),
        body: healthcode_core::FactBody::Contact {
            level: healthcode_core::facts::ContactLevel::Close,
            case_id: "case-1".into(),
            venue: "汉口站".into(),
            exposure_start: exposure_end - Duration::hours(1),
            exposure_end,
        },
    };
    let actor = Actor::new("test", "health_official", "test");
    wuhan
        .state
        .store
        .record_fact(&wuhan_id, &contact, &actor, now)
        .await
        .unwrap();
    assert_eq!(colour(&wuhan, &wuhan_id).await, "red");
    assert_eq!(colour(&beijing, &beijing_id).await, "green");

    let consent = |destination: &'static str, hours: i64| {
        let wuhan = &wuhan;
        let (token, id) = (in_wuhan.clone(), wuhan_id.clone());
        async move {
            let (status, body) = wuhan
                .post(
                    &format!("/api/v1/people/{id}/consents"),
                    Some(&token),
                    json!({"destination": destination, "purpose": "返京复工", "valid_hours": hours}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            body["code"].as_str().unwrap().to_owned()
        }
    };
    let transfer = |code: String, id: String, token: String| {
        let beijing = &beijing;
        async move {
            beijing
                .post(
                    &format!("/api/v1/people/{id}/transfers"),
                    Some(&token),
                    json!({"origin": "420100", "code": code}),
                )
                .await
        }
    };

    // A consent for Shanghai is no consent for Beijing.
    let code = consent("310000", 24).await;
    let (status, body) = transfer(code, beijing_id.clone(), in_beijing.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("consent_not_for_this_region")),
        "{body}"
    );

    // Another Beijing resident presenting the code: refused, and the code stays unused.
    let code = consent("110000", 24).await;
    let other = beijing.resident("13900002222").await;
    let (status, other_person) = beijing
        .post(
            "/api/v1/people",
            Some(&other),
            json!({"document_kind": "resident_id", "document_number": format!("{}{}", "11010119850505123", healthcode_core::identity::resident_id_check("11010119850505123").unwrap()), "name": "王五", "phone": "13900002222"}),
        )
        .await;
    assert_eq!(status, 201, "{other_person}");
    let (status, body) = transfer(
        code.clone(),
        other_person["id"].as_str().unwrap().to_owned(),
        other.clone(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("person_mismatch")),
        "{body}"
    );

    // The person presents it: Beijing records Wuhan's attestation, and its policy gives red.
    let (status, body) = transfer(code.clone(), beijing_id.clone(), in_beijing.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["attestation"]["colour"], "red");
    assert_eq!(body["attestation"]["rules"], json!(["close-contact"]));
    assert_eq!(colour(&beijing, &beijing_id).await, "red");
    let facts = beijing.state.store.facts(&beijing_id).await.unwrap();
    let status = beijing.state.policy.evaluate(&facts, beijing.state.now());
    assert_eq!(status.reasons[0].rule, "transferred-red");
    // The consent is used, and says by whom, on the Wuhan side.
    let (_, consents) = wuhan
        .get_with(&format!("/api/v1/people/{wuhan_id}/consents"), &in_wuhan)
        .await;
    assert_eq!(consents[0]["used_by"], "110000", "{consents}");

    // The same code again: a replay.
    let (status, body) = transfer(code, beijing_id.clone(), in_beijing.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("consent_used")),
        "{body}"
    );

    // A consent of an hour, presented two hours later: expired.
    let code = consent("110000", 1).await;
    wuhan.state.clock.advance(Duration::hours(2));
    beijing.state.clock.advance(Duration::hours(2));
    let (status, body) = transfer(code, beijing_id.clone(), in_beijing).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("consent_expired")),
        "{body}"
    );
    let attestations = beijing
        .state
        .store
        .facts(&beijing_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.body.kind() == "attestation")
        .count();
    assert_eq!(attestations, 1, "the refusals recorded nothing");
    hub.stop().await;
    wuhan.stop().await;
    beijing.stop().await;
}
