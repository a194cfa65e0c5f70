//! The node over real HTTP on a free port, on every store: SQLite always, PostgreSQL when
//! HEALTHCODE_TEST_DATABASE_URL is set (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use healthcode_server::config::Config;
use healthcode_server::usecases::notices::Sender;
use healthcode_server::{AppState, Running, open_state, start};
use healthcode_store::{Actor, Outbox, Outgoing};
use healthcode_testkit::unique;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Numbers phones and documents apart within a run.
pub(crate) static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The time by the system's clock, as a node that was not moved reads it.
fn system_now() -> time::OffsetDateTime {
    healthcode_server::clock::Clock::system().now()
}

#[path = "api/auth.rs"]
mod auth;
#[path = "api/feeds.rs"]
mod feeds;
#[path = "api/policy_versions.rs"]
mod policy_versions;
#[path = "api/returns.rs"]
mod returns;
#[path = "api/scans.rs"]
mod scans;
#[path = "api/tracing.rs"]
mod tracing;
#[path = "api/trust.rs"]
mod trust;
#[path = "api/web.rs"]
mod web;

/// A node on each available store, listening on 127.0.0.1:0.
async fn nodes() -> Vec<Node> {
    nodes_with(|_| {}).await
}

/// Nodes whose configuration `tweak` adjusts.
async fn nodes_with(tweak: impl Fn(&mut Config)) -> Vec<Node> {
    let urls = healthcode_testkit::database_urls().await;
    let mut nodes = Vec::new();
    for database_url in urls {
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: std::env::temp_dir().join(unique("hc_node")),
            database_url,
            max_body_bytes: 64 * 1024,
            ..Config::default()
        };
        tweak(&mut config);
        nodes.push(Node::start(config).await);
    }
    nodes
}

struct Node {
    base: String,
    state: AppState,
    running: Running,
    http: Client,
    gateway: Arc<Gateway>,
    _dir: DataDir,
}

/// The test nodes' SMS and push gateway: keeps what the outbox's sender delivers.
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

impl Gateway {
    /// The code of the next login-code SMS delivered to `phone`, waiting for the sender.
    async fn code_for(&self, phone: &str) -> String {
        let to_phone =
            |m: &Outgoing| m.outbox == Outbox::LoginCodes && m.phone.as_deref() == Some(phone);
        for _ in 0..200 {
            let sms = {
                let mut delivered = self.delivered.lock().unwrap();
                let found = delivered.iter().position(to_phone);
                found.map(|i| delivered.remove(i))
            };
            if let Some(sms) = sms {
                return code_in(&sms);
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no login code was delivered to {phone}");
    }

    /// Whether any login code was delivered to `phone` (and not yet read).
    fn has_code_for(&self, phone: &str) -> bool {
        self.delivered
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.outbox == Outbox::LoginCodes && m.phone.as_deref() == Some(phone))
    }
}

/// The six-digit code a login-code SMS carries.
fn code_in(sms: &Outgoing) -> String {
    sms.text
        .en
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect()
}

/// A test node's data directory (keys, the SQLite file), removed when the node is done with.
struct DataDir(std::path::PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Node {
    async fn start(config: Config) -> Node {
        let mut state = open_state(config).await.unwrap();
        // A node configured to send delivers through the test gateway.
        let gateway = Arc::new(Gateway::default());
        if state.sender.is_some() {
            state = state.with_sender(gateway.clone());
        }
        let running = start(state.clone()).await.unwrap();
        let dir = DataDir(state.config.data_dir.clone());
        Node {
            base: format!("http://{}", running.addr),
            state,
            running,
            http: Client::new(),
            gateway,
            _dir: dir,
        }
    }

    /// A second node of the same region on the same store (its own keys and directory, the
    /// same data key), as a region runs several behind a load balancer.
    async fn sibling(&self) -> Node {
        let own = &self.state.config;
        let key = std::fs::read_to_string(own.data_dir.join("data.key"))
            .map(|k| healthcode_server::config::Secret(k.trim().to_owned()))
            .ok()
            .or_else(|| own.data_key.clone());
        Node::start(Config {
            data_dir: std::env::temp_dir().join(unique("hc_node")),
            database_url: Some(own.database_url()),
            data_key: key,
            ..(**own).clone()
        })
        .await
    }

    fn store_name(&self) -> &'static str {
        self.state.store.backend_name()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn staff(&self, role: &str) -> String {
        let token = format!("test-{role}-{}", unique("t"));
        let admin = Actor::new("test", "admin", "test setup");
        self.state
            .store
            .create_account(role, role, &token, &admin, system_now())
            .await
            .unwrap();
        token
    }

    /// Logs a resident in the way a phone does: ask for a code, read it from the SMS the
    /// node's sender delivered.
    async fn resident(&self, phone: &str) -> String {
        let (status, _) = self
            .call(
                Method::POST,
                "/api/v1/auth/code",
                None,
                Some(json!({"phone": phone})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let code = self.gateway.code_for(phone).await;
        let (status, login) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"phone": phone, "code": code})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        login["token"].as_str().unwrap().to_owned()
    }

    /// A resident logged in by `phone` who enrolls themselves (resident ID 11010519491231002X)
    /// and a child without a document in their care: (their token, the adult, the child).
    async fn family(&self, phone: &str, name: &str, child: &str) -> (String, Value, Value) {
        let me = self.resident(phone).await;
        let (status, adult) = self
            .post(
                "/api/v1/people",
                &me,
                json!({"document_kind": "resident_id",
                "document_number": "11010519491231002X", "name": name, "phone": phone}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{adult}");
        let (status, kid) = self
            .post(
                "/api/v1/people",
                &me,
                json!({"document_kind": "none", "name": child,
                "phone": phone, "guardian_id": adult["id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{kid}");
        (me, adult, kid)
    }

    /// Stops the node; its data directory lasts as long as what this returns, for a node
    /// started again on it.
    async fn stop(self) -> DataDir {
        self.running.shutdown().await.unwrap();
        self.state.store.close().await;
        self._dir
    }
}

fn later(t: &str, ms: i64) -> String {
    let t = OffsetDateTime::parse(t, &Rfc3339).unwrap() + time::Duration::milliseconds(ms);
    t.format(&Rfc3339).unwrap()
}

/// The time `hours` before now, RFC 3339.
fn hours_ago(hours: i64) -> String {
    (system_now() - time::Duration::hours(hours))
        .format(&Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn a_whole_day_of_the_loop() {
    for node in nodes().await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let me = node.resident("13800138000").await;

        // Enroll an adult (confirmed by the ID's check character) and a child (pending review).
        let (status, adult) = node
            .post(
                "/api/v1/people",
                &me,
                json!({"document_kind": "resident_id", "document_number": "11010519491231002X",
                "name": "张三丰", "phone": "13800138000"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{store}: {adult}");
        assert_eq!(adult["enrollment"], "confirmed");
        let id = adult["id"].as_str().unwrap().to_owned();
        let (status, child) = node
            .post(
                "/api/v1/people",
                &me,
                json!({"document_kind": "none", "name": "张小明",
                "phone": "13800138000", "guardian_id": id}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{child}");
        let child_id = child["id"].as_str().unwrap();
        // The same child twice: refused; a twin of another name, and a name that hides text.
        for (name, expected, code) in [
            ("张小明", StatusCode::CONFLICT, Some("already_enrolled")),
            ("张 小·明", StatusCode::CONFLICT, Some("already_enrolled")),
            (
                "张\u{202e}明",
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("bad_name"),
            ),
            ("张小红", StatusCode::CREATED, None),
        ] {
            let (status, body) = node
                .post(
                    "/api/v1/people",
                    &me,
                    json!({"document_kind": "none", "name": name,
                    "phone": "13800138000", "guardian_id": id}),
                )
                .await;
            assert_eq!(status, expected, "{store}: {name}: {body}");
            if code.is_some() {
                assert_eq!(body["code"].as_str(), code, "{body}");
            }
        }
        let (_, child_status) = node
            .get(&format!("/api/v1/people/{child_id}/status"), &me)
            .await;
        assert_eq!(
            child_status["code"], "pending",
            "a child under review is not green"
        );
        assert_eq!(child_status["code_zh"], "审核中");

        // Green, then a fever: yellow with its reason.
        let (_, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
        assert_eq!(s["code"], "green", "{s}");
        let (status, refused) = node
            .post(
                &format!("/api/v1/people/{id}/declarations"),
                &me,
                json!({"temperature_c": 38.2, "district": "330199"}),
            )
            .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_district")),
            "a district is a division that exists: {refused}"
        );
        let (status, decl) = node
            .post(
                &format!("/api/v1/people/{id}/declarations"),
                &me,
                json!({"temperature_c": 38.2, "symptoms": ["cough"], "district": "330106"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{decl}");
        let (_, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
        assert_eq!(s["code"], "yellow", "{s}");
        assert_eq!(s["status"]["reasons"][0]["rule"], "declared-symptoms");
        assert!(
            s["status"]["reasons"][0]["text"]["en"]
                .as_str()
                .unwrap()
                .contains("fever")
        );

        // Two negative tests sampled after the declaration: green again.
        let t0 = decl["recorded_at"].as_str().unwrap();
        for (n, offset) in [(1, 1), (2, 3)] {
            let (status, body) = node
                .post(&format!("/api/v1/people/{id}/facts"), &official, json!({"type": "test", "sample_id": format!("S{n}-{store}"),
                    "result": "negative", "sampled_at": later(t0, offset), "reported_at": later(t0, offset + 1),
                    "legal_basis": "Lab report 2020-0405"}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (_, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
        assert_eq!(s["code"], "green", "{s}");

        // A case needs an official and a legal basis; then red.
        let case =
            json!({"type": "case", "kind": "confirmed", "legal_basis": "CDC notice 2020-0412"});
        let (status, body) = node
            .post(&format!("/api/v1/people/{id}/facts"), &me, case.clone())
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a resident cannot record a case: {body}"
        );
        let (status, body) = node
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &official,
                json!({"type": "case", "kind": "confirmed", "legal_basis": " "}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("legal_basis_required")
            )
        );
        let (status, _) = node
            .post(&format!("/api/v1/people/{id}/facts"), &official, case)
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
        assert_eq!(
            (s["code"].as_str(), s["code_zh"].as_str()),
            (Some("red"), Some("红码")),
            "{s}"
        );
        assert_eq!(s["status"]["reasons"][0]["rule"], "case-confirmed");

        // The resident reads who did what to their record, and on what basis.
        let (status, entries) = node.get(&format!("/api/v1/people/{id}/audit"), &me).await;
        assert_eq!(status, StatusCode::OK);
        let entries = entries.as_array().unwrap();
        assert!(
            entries.iter().any(|e| e["action"] == "fact.record"
                && e["purpose"] == "CDC notice 2020-0412"
                && e["role"] == "health_official"),
            "{entries:?}"
        );
        assert!(
            !entries.iter().any(|e| e["action"] == "status.read"),
            "own reads are not others' reads"
        );
        node.get(&format!("/api/v1/people/{id}/status"), &official)
            .await;
        let (_, entries) = node.get(&format!("/api/v1/people/{id}/audit"), &me).await;
        let entries = entries.as_array().unwrap().clone();
        assert!(
            entries
                .iter()
                .any(|e| e["action"] == "status.read" && e["role"] == "health_official")
        );
        let (status, _) = node
            .get(&format!("/api/v1/people/{child_id}/audit"), &official)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "officials are not auditors");

        // The chain verifies; a tampered entry is found.
        let check = node.state.store.verify_audit_chain().await.unwrap();
        assert_eq!(check.first_broken, None);
        let seq = entries[1]["seq"].as_i64().unwrap();
        node.state
            .store
            .execute_raw(&format!(
                "UPDATE audit_log SET purpose = 'routine' WHERE seq = {seq}"
            ))
            .await
            .unwrap();
        assert_eq!(
            node.state
                .store
                .verify_audit_chain()
                .await
                .unwrap()
                .first_broken,
            Some(seq),
            "{store}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_never_a_500() {
    for node in nodes().await {
        let me = node.resident("13900139000").await;
        let official = node.staff("health_official").await;
        let checkpoint = node.staff("checkpoint").await;
        let raw = |body: &'static str, token: String| {
            let req = node
                .http
                .post(format!("{}/api/v1/people", node.base))
                .bearer_auth(token);
            async move {
                let resp = req
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                (status, resp.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = raw("{\"document_kind\": ", me.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_json"))
        );
        assert!(body["message_zh"].as_str().is_some_and(|m| !m.is_empty()));
        let (status, body) = raw(
            "{\"document_kind\": \"resident_id\", \"nmae\": \"x\"}",
            me.clone(),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
            "{body}"
        );
        let cases = [
            (
                json!({"document_kind": "resident_id", "document_number": "110105194912310021", "name": "李四", "phone": "13900139000"}),
                "bad_checksum",
            ),
            (
                json!({"document_kind": "passport", "document_number": "E12345678", "name": "李四", "phone": "13900139000"}),
                "bad_country",
            ),
            (
                json!({"document_kind": "none", "name": "李小四", "phone": "13900139000"}),
                "guardian_required",
            ),
            (
                json!({"document_kind": "resident_id", "document_number": "11010519491231002X", "name": "", "phone": "13900139000"}),
                "bad_name",
            ),
            (
                json!({"document_kind": "resident_id", "document_number": "11010519491231002X", "name": "李四", "phone": "12345"}),
                "bad_phone",
            ),
        ];
        for (body, code) in cases {
            let (status, answer) = node.post("/api/v1/people", &me, body).await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
                "{answer}"
            );
        }
        let (status, body) = node.call(Method::GET, "/api/v1/me", None, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
        let (status, _) = node.get("/api/v1/me", "not-a-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = node
            .post("/api/v1/people", &checkpoint, json!({"document_kind": "resident_id", "document_number": "11010519491231002X", "name": "李四"}))
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a checkpoint does not enroll people"
        );
        let (status, _) = node.get("/api/v1/people/nobody/status", &official).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = node.get("/api/v1/no/such/path", &official).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = node
            .post(
                "/api/v1/people/nobody/facts",
                &official,
                json!({"type": "case", "kind": "imaginary", "legal_basis": "x"}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_fact"))
        );
        let huge = "x".repeat(100 * 1024);
        let (status, body) = node
            .post("/api/v1/people", &me, json!({"name": huge}))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["code"], "too_large", "{body}");
        let (status, body) = node
            .call(Method::DELETE, "/api/v1/policy", None, None)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
        );
        let (status, body) = node
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"phone": "13900139000", "code": "000000"})),
            )
            .await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status} {body}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn the_policy_is_public_and_the_node_reports_ready() {
    let scraper = |c: &mut Config| {
        c.metrics.token = Some(healthcode_server::config::Secret(
            "scraper-secret-token-1".into(),
        ))
    };
    for node in nodes_with(scraper).await {
        let (status, policy) = node.call(Method::GET, "/api/v1/policy", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(policy["rules"].as_array().unwrap().len() >= 8);
        assert_eq!(
            node.call(Method::GET, "/healthz", None, None).await.0,
            StatusCode::OK
        );
        assert_eq!(
            node.call(Method::GET, "/readyz", None, None).await.0,
            StatusCode::OK
        );
        // Metrics are for the scraper's token or an admin's, unless configured public.
        let (status, body) = node.call(Method::GET, "/metrics", None, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
        let (status, _) = node.get("/metrics", &node.staff("auditor").await).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, text) = node.get("/metrics", "scraper-secret-token-1").await;
        assert_eq!(status, StatusCode::OK);
        let text = text.as_str().unwrap();
        let policy_reads =
            r#"healthcode_http_requests_total{route="/api/v1/policy",method="GET",status="200"} 1"#;
        assert!(text.contains(policy_reads), "{text}");
        assert!(
            text.contains(r#"healthcode_http_request_duration_seconds_bucket{route="/readyz""#),
            "{text}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn appeals_trips_and_batches_over_http() {
    for node in nodes().await {
        let official = node.staff("health_official").await;
        let second = node.staff("health_official").await;
        let me = node.resident("13700137000").await;
        let (_, person) = node
            .post(
                "/api/v1/people",
                &me,
                json!({"document_kind": "resident_id", "document_number": "11010519491231002X",
                "name": "王五", "phone": "13700137000"}),
            )
            .await;
        let id = person["id"].as_str().unwrap().to_owned();

        // A trip from abroad, declared by the resident: yellow.
        let (status, _) = node
            .post(&format!("/api/v1/people/{id}/trips"), &me, json!({"origin": "Milan, IT", "destination": "330100",
                "arrived_at": later(&system_now().format(&Rfc3339).unwrap(), -3_600_000), "abroad": true}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
        assert_eq!(
            s["status"]["reasons"][0]["rule"], "arrival-from-abroad",
            "{s}"
        );

        // A close contact, appealed and retracted: the red goes, both records stay visible.
        let (_, fact) = node
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &official,
                json!({"type": "contact", "level": "close",
                "case_id": "2020-0412", "venue": "Metro Line 1", "exposure_start": hours_ago(3),
                "exposure_end": hours_ago(2),
                "legal_basis": "CDC trace 2020-0412"}),
            )
            .await;
        let (_, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
        assert_eq!(s["code"], "red");
        let (status, appeal) = node
            .post(
                &format!("/api/v1/people/{id}/appeals"),
                &me,
                json!({"fact_id": fact["id"], "reason": "I was at home"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{appeal}");
        let (_, queue) = node.get("/api/v1/appeals", &official).await;
        assert_eq!(queue.as_array().unwrap().len(), 1);
        let (status, _) = node.get("/api/v1/appeals", &me).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, decided) = node
            .post(
                &format!(
                    "/api/v1/appeals/{}/decision",
                    appeal["id"].as_str().unwrap()
                ),
                &official,
                json!({"outcome": "fact_retracted", "reason": "phone location shows home"}),
            )
            .await;
        assert_eq!(
            (status, decided["state"].as_str()),
            (StatusCode::OK, Some("fact_retracted")),
            "{decided}"
        );
        let (_, s) = node.get(&format!("/api/v1/people/{id}/status"), &me).await;
        assert_eq!(
            s["code"], "yellow",
            "the retracted contact no longer counts: {s}"
        );
        let (_, mine) = node.get(&format!("/api/v1/people/{id}/appeals"), &me).await;
        assert_eq!(mine[0]["decision_reason"], "phone location shows home");

        // A batch above the threshold (50) waits for a second official.
        let items: Vec<Value> = (0..51)
            .map(|i| json!({"person_id": id, "fact": {"id": format!("rs-{i}"), "type": "risk_stay", "level": "medium",
                "region": "420106", "arrived_at": hours_ago(72), "left_at": hours_ago(48)}}))
            .collect();
        let (status, batch) = node
            .post(
                "/api/v1/facts/batch",
                &official,
                json!({"legal_basis": "Notice 2020-17", "items": items}),
            )
            .await;
        assert_eq!(
            (status, batch["state"].as_str()),
            (StatusCode::ACCEPTED, Some("awaiting_approval")),
            "{batch}"
        );
        let (_, awaiting) = node.get("/api/v1/batches", &second).await;
        assert_eq!(
            awaiting[0]["id"], batch["id"],
            "listed for approval: {awaiting}"
        );
        let (status, _) = node.get("/api/v1/batches", &me).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let path = format!("/api/v1/batches/{}/approve", batch["id"].as_str().unwrap());
        let (status, body) = node.post(&path, &official, json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict")),
            "the proposer cannot approve"
        );
        let (status, body) = node.post(&path, &second, json!({})).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("applied")),
            "{body}"
        );
        let (_, awaiting) = node.get("/api/v1/batches", &second).await;
        assert_eq!(awaiting, json!([]), "an applied batch waits no more");
        let small = json!({"legal_basis": "Notice 2020-18", "items": [{"person_id": id, "fact": {"type": "test",
            "sample_id": "S-batch", "result": "negative", "sampled_at": hours_ago(10),
            "reported_at": hours_ago(1)}}]});
        let (status, body) = node.post("/api/v1/facts/batch", &official, small).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::CREATED, Some("applied")),
            "{body}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let node = nodes().await.into_iter().next().unwrap();
    let (status, doc) = node
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/people",
        "/api/v1/people/{id}/status",
        "/api/v1/people/{id}/declarations",
        "/api/v1/people/{id}/trips",
        "/api/v1/people/{id}/facts",
        "/api/v1/people/{id}/appeals",
        "/api/v1/appeals/{id}/decision",
        "/api/v1/facts/batch",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/policy",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "StatusView",
        "Person",
        "Fact",
        "FactBody",
        "ErrorBody",
        "EnrollRequest",
    ] {
        assert!(schemas.contains_key(schema), "{schema} missing");
    }
    node.stop().await;
}

#[tokio::test]
async fn staff_find_people_by_document_or_phone_and_the_person_sees_why() {
    for node in nodes().await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let (me, adult, child) = node.family("13600136001", "钱七", "钱小七").await;
        let id = adult["id"].as_str().unwrap().to_owned();
        let search = |body: Value| node.post("/api/v1/people/search", &official, body);

        // By document, spaces and a lower-case check character as people type them.
        let (status, found) = search(json!({"document_kind": "resident_id",
            "document_number": "110105 19491231 002x", "purpose": "流调核实 case 2020-0101"}))
        .await;
        assert_eq!(status, StatusCode::OK, "{store}: {found}");
        let people = found["people"].as_array().unwrap();
        assert_eq!(people.len(), 1, "{store}: {found}");
        assert_eq!(people[0]["id"], adult["id"]);
        assert_eq!(people[0]["name_masked"], "钱*");
        assert!(people[0].get("name").is_none(), "sealed data stays sealed");

        // By phone: the adult and the child in their care.
        let (_, found) = search(json!({"phone": "136 0013 6001", "purpose": "社区排查"})).await;
        let ids: Vec<&str> = found["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            vec![id.as_str(), child["id"].as_str().unwrap()],
            "{store}"
        );

        // A wrong check character is refused; a phone no one uses finds no one, which is an
        // empty list, not an error.
        let (status, found) = search(json!({"document_kind": "resident_id",
            "document_number": "11010519491231002X".replace("0519", "0619").as_str(), "purpose": "核实"}))
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{store}: a wrong check character: {found}"
        );
        let (status, found) = search(json!({"phone": "13999999999", "purpose": "核实"})).await;
        assert_eq!(
            (status, found["people"].as_array().map(Vec::len)),
            (StatusCode::OK, Some(0))
        );

        // Bad searches get a clear error; a checkpoint may not search at all.
        for (body, code) in [
            (
                json!({"phone": "13600136001", "purpose": " "}),
                "purpose_required",
            ),
            (
                json!({"phone": "13600136001", "document_kind": "resident_id",
                "document_number": "11010519491231002X", "purpose": "x"}),
                "search_key_required",
            ),
            (json!({"purpose": "x"}), "search_key_required"),
            (json!({"phone": "12", "purpose": "x"}), "bad_phone"),
        ] {
            let (status, err) = search(body).await;
            assert_eq!(
                (status, err["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
                "{store}: {err}"
            );
        }
        let checkpoint = node.staff("checkpoint").await;
        let (status, _) = node
            .post(
                "/api/v1/people/search",
                &checkpoint,
                json!({"phone": "13600136001", "purpose": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The person reads who looked them up, and why.
        let (_, entries) = node.get(&format!("/api/v1/people/{id}/audit"), &me).await;
        let searches: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "people.search")
            .map(|e| e["purpose"].as_str().unwrap())
            .collect();
        assert_eq!(
            searches,
            vec!["流调核实 case 2020-0101", "社区排查"],
            "{store}: {entries}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn code_request_and_verification() {
    for node in nodes().await {
        let checkpoint = node.staff("checkpoint").await;
        let (me, adult, child) = node.family("13600136000", "赵六", "赵小六").await;
        let id = adult["id"].as_str().unwrap().to_owned();

        // The pass says what the policy says now, and verifies offline.
        let (status, pass) = node.get(&format!("/api/v1/people/{id}/pass"), &me).await;
        assert_eq!(status, StatusCode::OK, "{pass}");
        assert_eq!(pass["colour"], "green");
        assert_eq!(pass["masked_name"], "赵*");
        let text = pass["text"].as_str().unwrap();
        assert!(text.starts_with("HCP1:"), "{text}");
        let (status, report) = node
            .post("/api/v1/passes/verify", &checkpoint, json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["content"]["colour"], "green");
        assert_eq!(report["content"]["document_tail"], "002X");

        // Declare a fever: the next pass is yellow.
        node.post(
            &format!("/api/v1/people/{id}/declarations"),
            &me,
            json!({"temperature_c": 38.5}),
        )
        .await;
        let (_, pass) = node.get(&format!("/api/v1/people/{id}/pass"), &me).await;
        assert_eq!(pass["colour"], "yellow");

        // A child under review gets a pending pass, never a green one.
        let (_, pending) = node
            .get(
                &format!("/api/v1/people/{}/pass", child["id"].as_str().unwrap()),
                &me,
            )
            .await;
        assert_eq!(pending["colour"], "pending");

        // The PNG is a real QR code of the same kind of text.
        let resp = node
            .http
            .get(format!("{}/api/v1/people/{id}/pass?format=png", node.base))
            .bearer_auth(&me)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "image/png");
        let png = resp.bytes().await.unwrap();
        let decoded = healthcode_pass::qr::decode_png(&png).unwrap();
        assert!(decoded.starts_with("HCP1:"));
        let (_, report) = node
            .post(
                "/api/v1/passes/verify",
                &checkpoint,
                json!({"text": decoded}),
            )
            .await;
        assert_eq!(report["valid"], true);

        // An altered pass fails at a named stage; a resident cannot use the verifier.
        let mut altered = text.to_owned();
        let last = altered.pop().unwrap();
        altered.push(if last == '0' { '1' } else { '0' });
        let (_, report) = node
            .post(
                "/api/v1/passes/verify",
                &checkpoint,
                json!({"text": altered}),
            )
            .await;
        assert_eq!(report["valid"], false, "{report}");
        let (status, _) = node
            .post("/api/v1/passes/verify", &me, json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = node
            .get(&format!("/api/v1/people/{id}/pass?format=gif"), &me)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_format"))
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn venues_codes_and_checkpoints() {
    for node in nodes().await {
        let manager = node.staff("venue_manager").await;
        let other_manager = node.staff("venue_manager").await;
        let official = node.staff("health_official").await;
        let venue = json!({"name": "西湖银泰", "address": "杭州市上城区延安路98号", "region": "330102", "category": "mall"});
        let (status, body) = node.post("/api/v1/venues", &official, venue.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, created) = node.post("/api/v1/venues", &manager, venue).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(
            created["dwell_minutes"], 120,
            "the policy's dwell time for malls"
        );
        let id = created["id"].as_str().unwrap();
        for (bad, code) in [
            (
                json!({"name": "x", "address": "y", "region": "33010", "category": "mall"}),
                "bad_region",
            ),
            (
                json!({"name": "x", "address": "y", "region": "330102", "category": "casino"}),
                "bad_category",
            ),
            (
                json!({"name": "", "address": "y", "region": "330102", "category": "mall"}),
                "bad_name",
            ),
        ] {
            let (status, body) = node.post("/api/v1/venues", &manager, bad).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(code))
            );
        }

        // The printable venue code verifies as a venue code of this node.
        let resp = node
            .http
            .get(format!("{}/api/v1/venues/{id}/code", node.base))
            .bearer_auth(&manager)
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        assert!(text.starts_with("HCV1:"), "{text}");
        let (_, checkpoint) = node
            .post(
                &format!("/api/v1/venues/{id}/checkpoints"),
                &manager,
                json!({"name": "A 口"}),
            )
            .await;
        let token = checkpoint["token"].as_str().unwrap().to_owned();
        let (_, report) = node
            .post("/api/v1/passes/verify", &token, json!({"text": text}))
            .await;
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["content"]["venue_id"], id);
        let resp = node
            .http
            .get(format!("{}/api/v1/venues/{id}/code?format=png", node.base))
            .bearer_auth(&manager)
            .send()
            .await
            .unwrap();
        let png = resp.bytes().await.unwrap();
        assert_eq!(
            healthcode_pass::qr::decode_png(&png).unwrap().get(..5),
            Some("HCV1:")
        );

        // A checkpoint's token is a checkpoint account; another venue's manager cannot add one.
        let (_, me) = node.get("/api/v1/me", &token).await;
        assert_eq!(me["role"], "checkpoint");
        let (status, _) = node
            .post(
                &format!("/api/v1/venues/{id}/checkpoints"),
                &other_manager,
                json!({"name": "B 口"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, all) = node.get("/api/v1/venues", &official).await;
        assert_eq!(all.as_array().unwrap().len(), 1);
        node.stop().await;
    }
}

#[tokio::test]
async fn venue_codes_outlive_a_key_rotation() {
    let node = nodes().await.into_iter().next().unwrap();
    let manager = node.staff("venue_manager").await;
    let (_, venue) = node
        .post(
            "/api/v1/venues",
            &manager,
            json!({"name": "杭州东站", "address": "杭州市上城区",
            "region": "330102", "category": "station"}),
        )
        .await;
    let path = format!("/api/v1/venues/{}/code", venue["id"].as_str().unwrap());
    let text = node
        .http
        .get(format!("{}{path}", node.base))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Rotate the node's signing key, as `healthcode keys rotate` would, and start the node again.
    let keys = node.state.config.data_dir.join("keys");
    let now = system_now();
    let mut ring = healthcode_pass::keyring::Keyring::open_or_create(
        &keys,
        healthcode_pass::keys::Algorithm::EdDSA,
        now,
    )
    .unwrap();
    ring.rotate(healthcode_pass::keys::Algorithm::EdDSA, now)
        .unwrap();
    let config = (*node.state.config).clone();
    let _dir = node.stop().await;
    // An hour on, long after any pass of the old key expired, the node starts again.
    let later = now + time::Duration::hours(1);
    let passes = healthcode_server::passes::Passes::open(&config, later).unwrap();
    let report = passes.verify(&text, later);
    assert!(
        report.valid,
        "a venue code printed before the rotation still verifies: {report:?}"
    );
}

#[tokio::test]
async fn a_kept_status_never_outlives_a_fact_through_any_node_nor_its_time() {
    for a in nodes().await {
        let store = a.store_name();
        let b = a.sibling().await;
        let official = a.staff("health_official").await;
        let (token, adult, _) = a.family("13900000041", "王五", "王小五").await;
        let id = adult["id"].as_str().unwrap();
        let status = format!("/api/v1/people/{id}/status");
        for _ in 0..2 {
            let (code, st) = a.get(&status, &token).await;
            assert_eq!(code, StatusCode::OK, "{st}");
            assert_eq!(st["code"], "green", "{store}");
        }

        // A fever declared through the other node: the next read here is yellow, at once.
        let (code, body) = b
            .post(
                &format!("/api/v1/people/{id}/declarations"),
                &token,
                json!({"temperature_c": 38.5}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        let (_, st) = a.get(&status, &token).await;
        assert_eq!(st["code"], "yellow", "{store}: {st}");
        let (code, pass) = a.get(&format!("/api/v1/people/{id}/pass"), &token).await;
        assert_eq!(code, StatusCode::OK, "{pass}");
        assert_eq!(pass["colour"], "yellow", "{store}: the pass too");

        // A negative test through the other node: green again here.
        let (code, body) = b
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &official,
                json!({"type": "test", "sample_id": format!("K-{store}"), "result": "negative",
                       "sampled_at": hours_ago(0),
                       "reported_at": hours_ago(0),
                       "legal_basis": "杭卫发〔2020〕1号"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        let (_, st) = a.get(&status, &token).await;
        assert_eq!(st["code"], "green", "{store}: {st}");

        // Home observation with a check-in, read (and kept); 37 hours on, with no new fact,
        // the missed check-in turns it yellow: time alone is not outlived either.
        let (code, body) = b
            .post(
                &format!("/api/v1/people/{id}/facts"),
                &official,
                json!({"type": "observation", "kind": "home", "start_at": hours_ago(1),
                       "legal_basis": "杭卫发〔2020〕2号"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        let (_, st) = a.get(&status, &token).await;
        assert_eq!(st["code"], "green", "{store}: {st}");
        let (_, again) = a.get(&status, &token).await;
        assert_eq!(
            again["status"]["evaluated_at"], st["status"]["evaluated_at"],
            "{store}: kept"
        );
        a.state.clock.advance(time::Duration::hours(37));
        let (_, st) = a.get(&status, &token).await;
        assert_eq!(st["code"], "yellow", "{store}: {st}");
    }
}
