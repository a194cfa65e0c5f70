//! A read replica: a PostgreSQL primary and its streaming standby (two clusters this test makes
//! on the machine's own PostgreSQL binaries), and a node reading residents' own codes from the
//! standby. Reads go to the standby while it is fresh; a resident's own write is read at once
//! (the position the write handed back); with the standby's replay paused, a fact recorded by
//! staff is read from the primary once the lag bound has passed; resumed, the standby serves
//! again. `.ci/run` runs it; elsewhere, without PostgreSQL's server binaries, it skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{account, free_port, healthcode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bound the node is given: a read the standby serves misses no commit older than this.
const MAX_LAG_MS: u64 = 500;

/// PostgreSQL's server programs (`pg_config --bindir`).
fn bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A PostgreSQL program, as the `postgres` user when the test runs as root (the server refuses
/// to run as root).
fn pg(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin.join(program));
        cmd
    } else {
        Command::new(bin.join(program))
    }
}

fn run(mut cmd: Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

/// Two clusters, stopped when dropped.
struct Pair {
    bin: PathBuf,
    root: PathBuf,
    primary: u16,
    standby: u16,
}

impl Pair {
    fn start(bin: PathBuf) -> Pair {
        let root = healthcode_testkit::temp_dir("hc_replica_pg");
        if is_root() {
            run({
                let mut c = Command::new("chown");
                c.args(["postgres:postgres"]).arg(&root);
                c
            });
        }
        let (primary, standby) = (free_port(), free_port());
        let data = root.join("primary");
        run({
            let mut c = pg(&bin, "initdb");
            c.args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(&data);
            c
        });
        let conf = format!(
            "port = {primary}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nwal_level = replica\nmax_wal_senders = 4\n",
            root.display()
        );
        append(&data.join("postgresql.conf"), &conf);
        let pair = Pair {
            bin,
            root,
            primary,
            standby,
        };
        pair.pg_ctl("primary", &["start", "-w"]);
        let standby_data = pair.root.join("standby");
        run({
            let mut c = pg(&pair.bin, "pg_basebackup");
            c.args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-D",
            ])
            .arg(&standby_data);
            c
        });
        append(
            &standby_data.join("postgresql.conf"),
            &format!("port = {standby}\n"),
        );
        pair.pg_ctl("standby", &["start", "-w"]);
        pair
    }

    fn pg_ctl(&self, cluster: &str, args: &[&str]) {
        let data = self.root.join(cluster);
        run({
            let mut c = pg(&self.bin, "pg_ctl");
            c.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(self.root.join(format!("{cluster}.log")));
            c.args(args);
            c
        });
    }

    fn url(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    /// Runs one statement on the standby (pausing or resuming its replay).
    fn on_standby(&self, sql: &str) {
        run({
            let mut c = Command::new("psql");
            c.args([&self.url(self.standby), "-Atqc", sql]);
            c
        });
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for cluster in ["standby", "primary"] {
            let _ = pg(&self.bin, "pg_ctl")
                .arg("-D")
                .arg(self.root.join(cluster))
                .args(["stop", "-m", "immediate"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

struct Node {
    child: Child,
    base: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// A call; the answer's read-after position, if it gave one.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        read_after: Option<&str>,
    ) -> (u16, Value, Option<String>) {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.base),
            )
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(p) = read_after {
            req = req.header("Healthcode-Read-After", p);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let position = resp
            .headers()
            .get("healthcode-read-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body, position)
    }

    async fn colour(&self, token: &str, id: &str, read_after: Option<&str>) -> String {
        let (status, body, _) = self
            .call(
                "GET",
                &format!("/people/{id}/status"),
                token,
                None,
                read_after,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["status"]["color"].as_str().unwrap().to_owned()
    }

    /// How many residents' reads each store served (`/metrics`).
    async fn served(&self) -> (u64, u64) {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |store: &str| {
            let series = format!("healthcode_replica_reads_total{{store=\"{store}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&series))
                .map_or(0, |n| n.trim().parse().unwrap())
        };
        (count("replica"), count("primary"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_serves_residents_reads_within_its_bound_and_their_own_writes_at_once() {
    let Some(bin) = bindir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the replica test, but PostgreSQL's server programs are missing"
        );
        eprintln!("SKIPPED the replica test: no PostgreSQL server programs (pg_config --bindir)");
        return;
    };
    let pair = Pair::start(bin);
    let primary = pair.url(pair.primary);
    let dir = healthcode_testkit::temp_dir("hc_replica_node");
    let official = account(
        &dir,
        Some(&primary),
        &["--role", "health_official", "--name", "疾控"],
    );
    let port = free_port();
    let log = dir.join("node.log");
    let child = healthcode(&dir, Some(&primary))
        .arg("serve")
        .env("HEALTHCODE_LISTEN", format!("127.0.0.1:{port}"))
        .env("HEALTHCODE_REPLICA__URL", pair.url(pair.standby))
        .env("HEALTHCODE_REPLICA__MAX_LAG_MS", MAX_LAG_MS.to_string())
        .env("HEALTHCODE_LOGIN__LOG_CODES", "true")
        .env("HEALTHCODE_METRICS__PUBLIC", "true")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let node = Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
        http: reqwest::Client::new(),
    };
    common::ready(&node.base).await;

    // A resident logs in and enrolls: writes, on the primary.
    let phone = "13900000088";
    let (status, _, _) = node
        .call(
            "POST",
            "/auth/code",
            "",
            Some(json!({"phone": phone})),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let code = common::login_code(&[&node.log]).await;
    let (status, login, _) = node
        .call(
            "POST",
            "/auth/login",
            "",
            Some(json!({"phone": phone, "code": code})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let me = login["token"].as_str().unwrap().to_owned();
    let (status, person, enrolled_at) = node
        .call(
            "POST",
            "/people",
            &me,
            Some(
                json!({"document_kind": "resident_id", "document_number": "11010519491231002X",
                "name": "张三", "phone": phone}),
            ),
            None,
        )
        .await;
    assert_eq!(status, 201, "{person}");
    let enrolled_at = enrolled_at.expect("a write hands back the primary's position");
    let id = person["id"].as_str().unwrap().to_owned();

    // The resident's reads of their code go to the standby once it has caught up.
    assert_eq!(node.colour(&me, &id, Some(&enrolled_at)).await, "green");
    let started = Instant::now();
    loop {
        let before = node.served().await;
        assert_eq!(node.colour(&me, &id, Some(&enrolled_at)).await, "green");
        let (status, pass, _) = node
            .call(
                "GET",
                &format!("/people/{id}/pass?format=text"),
                &me,
                None,
                Some(&enrolled_at),
            )
            .await;
        assert_eq!(status, 200, "{pass}");
        let after = node.served().await;
        if after.0 >= before.0 + 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the standby never served a read: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // With the standby's replay paused, the resident's own fever is read at once: the position
    // their write handed back sends the read to the primary.
    pair.on_standby("SELECT pg_wal_replay_pause()");
    let (status, body, declared_at) = node
        .call(
            "POST",
            &format!("/people/{id}/declarations"),
            &me,
            Some(json!({"temperature_c": 38.6, "symptoms": ["cough"]})),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let declared_at = declared_at.unwrap();
    let before = node.served().await;
    assert_eq!(node.colour(&me, &id, Some(&declared_at)).await, "yellow");
    let after = node.served().await;
    assert_eq!(after, (before.0, before.1 + 1), "read from the primary");

    // A fact staff record (a confirmed case) brings no position of the resident's: once the
    // bound has passed, the paused standby is too stale and the primary answers.
    let onset = healthcode_server::clock::Clock::system().now() - time::Duration::days(1);
    let (status, case, _) = node
        .call(
            "POST",
            "/cases",
            &official,
            Some(json!({"person_id": id, "kind": "confirmed",
                "onset_at": onset.format(&time::format_description::well_known::Rfc3339).unwrap(),
                "legal_basis": "杭卫疾控〔2020〕37号"})),
            None,
        )
        .await;
    assert_eq!(status, 201, "{case}");
    tokio::time::sleep(Duration::from_millis(MAX_LAG_MS + 100)).await;
    assert_eq!(
        node.colour(&me, &id, None).await,
        "red",
        "never staler than the bound"
    );

    // Resumed, the standby catches up and serves again, with the case.
    pair.on_standby("SELECT pg_wal_replay_resume()");
    let started = Instant::now();
    loop {
        let before = node.served().await;
        assert_eq!(node.colour(&me, &id, None).await, "red");
        if node.served().await.0 > before.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the standby did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
