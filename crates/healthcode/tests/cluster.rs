//! Several nodes, one PostgreSQL: three `healthcode serve` processes share a database and their
//! keys behind HAProxy (Debian's) on loopback, as a region runs past one machine.
//! - A resident's own write through one node is read through every other at once.
//! - A trace whose node is killed mid-trace is finished by another once its lease runs out, and
//!   nothing is recorded or announced twice. The kill lands mid-trace, not before or after: the
//!   test holds a lock on the table the trace writes first, and kills the node whose query waits
//!   on it (PostgreSQL names the node behind each connection).
//! - Periodic jobs run on one node at a time, and a survivor takes over a dead node's.
//!
//! PostgreSQL only (an SQLite file is one node's). `.ci/run` installs HAProxy; elsewhere a
//! missing HAProxy or database skips the test, except under CI, where it is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{account, free_port, healthcode, login_code, ready};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;

const HAPROXY: &str = "/usr/sbin/haproxy";

struct Node {
    port: u16,
    child: Child,
    log: PathBuf,
}

struct Cluster {
    nodes: Vec<Node>,
    balancer: Child,
    /// The balancer's address.
    base: String,
    http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        let _ = self.balancer.kill();
        let _ = self.balancer.wait();
    }
}

impl Cluster {
    async fn call(
        &self,
        base: &str,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{base}/api/v1{path}");
        let req = match body {
            Some(b) => self.http.request(method.parse().unwrap(), url).json(&b),
            None => self.http.request(method.parse().unwrap(), url),
        };
        let resp = req.bearer_auth(token).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Through the balancer.
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(&self.base, "POST", path, token, Some(body)).await
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(&self.base, "GET", path, token, None).await
    }

    /// Straight to one node, past the balancer.
    async fn on(
        &self,
        node: usize,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let base = format!("http://127.0.0.1:{}", self.nodes[node].port);
        self.call(&base, method, path, token, body).await
    }
}

fn start_node(data_dir: &Path, url: &str, log: PathBuf) -> Node {
    let port = free_port();
    let child = healthcode(data_dir, Some(url))
        .arg("serve")
        .env("HEALTHCODE_POLICY_FILE", data_dir.join("../policy.json"))
        .env("HEALTHCODE_LISTEN", format!("127.0.0.1:{port}"))
        .env("HEALTHCODE_LOGIN__LOG_CODES", "true")
        // A dead node's trace is taken over after 10 s, its periodic jobs after 2 s.
        .env("HEALTHCODE_TRACING__LEASE_SECONDS", "10")
        .env("HEALTHCODE_TRACING__POLL_SECONDS", "1")
        .env("HEALTHCODE_TRACING__SCHEDULE_INTERVAL_SECONDS", "1")
        .env("HEALTHCODE_SCANS__RETENTION_INTERVAL_SECONDS", "1")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Node { port, child, log }
}

/// Every node holds the same keys: the first node's data directory, copied.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The shipped policy, but five minutes together make a contact (fifteen in the shipped one):
/// with the margin, two people who passed the same gate just now met for about ten minutes, and a
/// test cannot backdate a pass from outside the node.
fn policy(root: &Path) {
    let mut policy: Value =
        serde_json::from_str(include_str!("../../healthcode-core/policy/default.json")).unwrap();
    policy["parameters"]["contact_min_overlap_minutes"] = json!(5);
    std::fs::write(root.join("policy.json"), policy.to_string()).unwrap();
}

async fn cluster(url: &str, root: &Path) -> Cluster {
    let http = reqwest::Client::new();
    policy(root);
    let first = root.join("node0");
    let mut nodes = vec![start_node(&first, url, root.join("node0.log"))];
    ready(&format!("http://127.0.0.1:{}", nodes[0].port)).await;
    for i in 1..3 {
        let dir = root.join(format!("node{i}"));
        copy_dir(&first, &dir);
        nodes.push(start_node(&dir, url, root.join(format!("node{i}.log"))));
    }
    for node in &nodes[1..] {
        ready(&format!("http://127.0.0.1:{}", node.port)).await;
    }
    let port = free_port();
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("    server n{i} 127.0.0.1:{} check\n", n.port))
        .collect();
    let config = format!(
        "global\n    maxconn 512\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    \
         retries 3\n    option redispatch\n\
         listen healthcode\n    bind 127.0.0.1:{port}\n    balance roundrobin\n    \
         option httpchk GET /readyz\n    default-server inter 300ms fall 2 rise 1\n{servers}"
    );
    let config_file = root.join("haproxy.cfg");
    std::fs::write(&config_file, config).unwrap();
    let balancer = Command::new(HAPROXY)
        .arg("-db")
        .arg("-f")
        .arg(&config_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("haproxy.log")).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    ready(&base).await;
    Cluster {
        nodes,
        balancer,
        base,
        http,
    }
}

fn at(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn now() -> time::OffsetDateTime {
    healthcode_server::clock::Clock::system().now()
}

/// A resident ID number: the 17 digits given and their check character (GB 11643).
fn resident_id(body: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(WEIGHTS)
        .map(|(d, w)| d.to_digit(10).unwrap() * w)
        .sum();
    format!(
        "{body}{}",
        "10X98765432".as_bytes()[(sum % 11) as usize] as char
    )
}

/// The process id in a node's name (`healthcode@host:pid`).
fn pid_of(name: &str) -> u32 {
    name.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_a_balancer_share_one_postgresql() {
    let missing: Vec<&str> = [
        std::env::var_os("HEALTHCODE_TEST_DATABASE_URL")
            .is_none()
            .then_some("PostgreSQL (HEALTHCODE_TEST_DATABASE_URL)"),
        (!Path::new(HAPROXY).exists()).then_some("haproxy (apt-get install haproxy)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the cluster test, but these are missing: {missing:?}"
        );
        eprintln!("SKIPPED the cluster test: missing {missing:?}; `bash .ci/run` installs them");
        return;
    }
    let url = healthcode_testkit::fresh_postgres().await.unwrap();
    let root = healthcode_testkit::temp_dir("hc_cluster");
    let mut c = cluster(&url, &root).await;
    let first = root.join("node0");
    let official = account(
        &first,
        Some(&url),
        &["--role", "health_official", "--name", "疾控"],
    );
    let manager = account(
        &first,
        Some(&url),
        &["--role", "venue_manager", "--name", "场所"],
    );

    // A resident logs in and enrolls through the balancer, whichever nodes answer.
    let phone = "13900000077";
    let (status, _) = c.post("/auth/code", "", json!({"phone": phone})).await;
    assert_eq!(status, 202);
    let logs: Vec<&Path> = c.nodes.iter().map(|n| n.log.as_path()).collect();
    let code = login_code(&logs).await;
    let (status, login) = c
        .post("/auth/login", "", json!({"phone": phone, "code": code}))
        .await;
    assert_eq!(status, 200, "{login}");
    let me = login["token"].as_str().unwrap().to_owned();
    let (status, person) = c
        .post(
            "/people",
            &me,
            json!({"document_kind": "resident_id", "document_number": "11010519491231002X",
                "name": "张三", "phone": phone}),
        )
        .await;
    assert_eq!(status, 201, "{person}");
    let id = person["id"].as_str().unwrap().to_owned();
    let colour_on = |node: usize| {
        let (c, path, me) = (&c, format!("/people/{id}/status"), me.clone());
        async move {
            let (status, body) = c.on(node, "GET", &path, &me, None).await;
            assert_eq!(status, 200, "node {node}: {body}");
            body["status"]["color"].as_str().unwrap().to_owned()
        }
    };
    // Every node has read (and keeps) the green code.
    for node in 0..3 {
        assert_eq!(colour_on(node).await, "green", "node {node}");
    }
    // A fever declared on node 1 is read on every node at once, kept colours notwithstanding.
    let (status, body) = c
        .on(
            1,
            "POST",
            &format!("/people/{id}/declarations"),
            &me,
            Some(json!({"temperature_c": 38.6, "symptoms": ["cough"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for node in [0, 2, 1] {
        assert_eq!(
            colour_on(node).await,
            "yellow",
            "node {node} reads the resident's own write"
        );
    }

    // A venue, a case and a contact who met there, all through the balancer.
    let (status, venue) = c
        .post(
            "/venues",
            &manager,
            json!({"name": "地铁1号线武林广场站", "address": "武林广场", "region": "330106", "category": "metro"}),
        )
        .await;
    assert_eq!(status, 201, "{venue}");
    let venue = venue["id"].as_str().unwrap().to_owned();
    let (status, gate) = c
        .post(
            &format!("/venues/{venue}/checkpoints"),
            &manager,
            json!({"name": "A口"}),
        )
        .await;
    assert_eq!(status, 201, "{gate}");
    let gate = gate["token"].as_str().unwrap().to_owned();
    let mut people = Vec::new();
    for (n, name) in [(1, "王病例"), (2, "李密接")] {
        let (status, p) = c
            .post(
                "/people",
                &official,
                json!({"document_kind": "resident_id", "document_number": resident_id(&format!("3301061990010100{n}")),
                    "name": name, "phone": format!("1390000010{n}")}),
            )
            .await;
        assert_eq!(status, 201, "{p}");
        let pid = p["id"].as_str().unwrap().to_owned();
        let (status, pass) = c
            .get(&format!("/people/{pid}/pass?format=text"), &official)
            .await;
        assert_eq!(status, 200, "{pass}");
        let (status, scan) = c
            .post(
                "/scans",
                &gate,
                json!({"scan_id": format!("cluster-{n}"), "text": pass.as_str().unwrap(), "scanned_at": at(now())}),
            )
            .await;
        assert_eq!(status, 200, "{scan}");
        people.push(pid);
    }
    let (case_person, contact) = (people[0].clone(), people[1].clone());

    // The trace's first write waits on a lock this test holds.
    let mut db = PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut db).await.unwrap();
    sqlx::query("LOCK TABLE trace_exposures IN SHARE MODE")
        .execute(&mut db)
        .await
        .unwrap();
    let (status, case) = c
        .post(
            "/cases",
            &official,
            json!({"person_id": case_person, "kind": "confirmed",
                "onset_at": at(now() - time::Duration::days(1)), "legal_basis": "杭卫疾控〔2020〕37号"}),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let case = case["id"].as_str().unwrap().to_owned();
    let mut observer = PgConnection::connect(&url).await.unwrap();
    let started = Instant::now();
    let tracer = loop {
        let waiting: Option<(String,)> = sqlx::query_as(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO trace_exposures%'",
        )
        .fetch_optional(&mut observer)
        .await
        .unwrap();
        if let Some((name,)) = waiting {
            break pid_of(&name);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no node began the trace"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (state, runs): (String, i64) =
        sqlx::query_as("SELECT state, runs FROM traces WHERE case_id = $1")
            .bind(&case)
            .fetch_one(&mut observer)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), runs),
        ("running", 1),
        "the trace is mid-way on one node"
    );
    let dead = c
        .nodes
        .iter()
        .position(|n| n.child.id() == tracer)
        .expect("the tracing node is one of ours");
    c.nodes[dead].child.kill().unwrap();
    c.nodes[dead].child.wait().unwrap();
    sqlx::query("ROLLBACK").execute(&mut db).await.unwrap();

    // Another node takes the trace over when its lease runs out, and finishes it.
    let started = Instant::now();
    let trace = loop {
        let (status, trace) = c
            .get(&format!("/cases/{case}/trace?limit=1000"), &official)
            .await;
        assert_eq!(status, 200, "{trace}");
        match trace["trace"]["state"].as_str().unwrap() {
            "done" => break trace,
            "failed" => panic!("the trace failed: {trace}"),
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nobody finished the trace: {trace}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(trace["trace"]["close_contacts"], 1, "{trace}");
    let (runs,): (i64,) = sqlx::query_as("SELECT runs FROM traces WHERE case_id = $1")
        .bind(&case)
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert_eq!(
        runs, 2,
        "run once on the killed node, once to the end on another"
    );
    let (facts,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM contact_facts WHERE contact_person = $1")
            .bind(&contact)
            .fetch_one(&mut observer)
            .await
            .unwrap();
    assert_eq!(facts, 1, "one contact fact, not one per run");
    let (status, contact_status) = c.get(&format!("/people/{contact}/status"), &official).await;
    assert_eq!(status, 200);
    assert_ne!(
        contact_status["status"]["color"], "green",
        "{contact_status}"
    );

    // The contact is told once per channel, whichever nodes drained the outbox.
    let started = Instant::now();
    loop {
        let (status, list) = c
            .get(&format!("/people/{contact}/notifications"), &official)
            .await;
        assert_eq!(status, 200, "{list}");
        let mut channels: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["state"] == "sent")
            .map(|n| n["channel"].as_str().unwrap().to_owned())
            .collect();
        channels.sort();
        if channels.len() >= 2 {
            assert_eq!(channels, ["app", "sms"], "{list}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the contact was not told: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Each periodic job has one holder, a live node: a survivor took over the dead node's.
    let alive: Vec<u32> = (0..3)
        .filter(|&i| i != dead)
        .map(|i| c.nodes[i].child.id())
        .collect();
    let started = Instant::now();
    loop {
        let leases: Vec<(String, String)> =
            sqlx::query_as("SELECT job, holder FROM leases ORDER BY job")
                .fetch_all(&mut observer)
                .await
                .unwrap();
        let jobs: Vec<&str> = leases.iter().map(|(j, _)| j.as_str()).collect();
        if jobs == ["retention", "schedule"]
            && leases.iter().all(|(_, h)| alive.contains(&pid_of(h)))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the jobs' leases are not all held by live nodes {alive:?}: {leases:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(c);
    let _ = std::fs::remove_dir_all(&root);
}
