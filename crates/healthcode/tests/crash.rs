//! Nothing acknowledged is lost: a client streams scans at a real `healthcode serve`, the server
//! is killed with SIGKILL mid-stream and restarted on the same store, and every acknowledged
//! scan is there exactly once. On SQLite always, on PostgreSQL when
//! HEALTHCODE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
mod common;

use common::{free_port, healthcode, serve};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match body {
            Some(b) => self.http.post(url).json(&b),
            None => self.http.get(url),
        };
        let resp = req.bearer_auth(token).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_acknowledged_scan_and_doubles_none() {
    for database_url in healthcode_testkit::database_urls().await {
        let url = database_url.as_deref();
        let data_dir: PathBuf =
            std::env::temp_dir().join(format!("hc_crash_{}_{}", std::process::id(), url.is_some()));
        let _ = std::fs::remove_dir_all(&data_dir);
        let created = healthcode(&data_dir, url)
            .args([
                "accounts",
                "create",
                "--role",
                "admin",
                "--name",
                "crash test",
            ])
            .output()
            .unwrap();
        assert!(created.status.success(), "{created:?}");
        let out = String::from_utf8_lossy(&created.stdout);
        let admin = out
            .lines()
            .find_map(|l| l.split_once("token (shown once; keep it secret): "))
            .map(|(_, t)| t.trim().to_owned())
            .unwrap();

        let port = free_port();
        let mut node = serve(&data_dir, url, port).await;
        let client = Arc::new(Client {
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}/api/v1"),
        });
        let (_, venue) = client
            .call(
                "/venues",
                &admin,
                Some(
                    json!({"name": "Line 1 Wulin Square", "address": "Wulin Square",
                    "region": "330106", "category": "metro"}),
                ),
            )
            .await;
        let venue = venue["id"].as_str().unwrap().to_owned();
        let (_, checkpoint) = client
            .call(
                &format!("/venues/{venue}/checkpoints"),
                &admin,
                Some(json!({"name": "Gate A"})),
            )
            .await;
        let scanner = checkpoint["token"].as_str().unwrap().to_owned();
        let (status, person) = client
            .call(
                "/people",
                &admin,
                Some(json!({"document_kind": "resident_id",
                    "document_number": "11010519491231002X", "name": "张三"})),
            )
            .await;
        assert_eq!(status, 201, "{person}");
        let id = person["id"].as_str().unwrap().to_owned();
        let (_, pass) = client
            .call(&format!("/people/{id}/pass?format=text"), &admin, None)
            .await;
        let pass = pass.as_str().unwrap().to_owned();

        // Eight scanners stream scans; each notes what was acknowledged and what was in flight.
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let in_flight = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut scanners = Vec::new();
        for s in 0..8 {
            let (client, scanner, pass) = (client.clone(), scanner.clone(), pass.clone());
            let (acked, in_flight) = (acked.clone(), in_flight.clone());
            scanners.push(tokio::spawn(async move {
                for n in 0.. {
                    let scan_id = format!("s{s}-{n}");
                    let sent = client
                        .http
                        .post(format!("{}/scans", client.base))
                        .bearer_auth(&scanner)
                        .json(&json!({"scan_id": scan_id, "text": pass}))
                        .send()
                        .await;
                    // Acknowledged means a success status and the whole answer received.
                    let ok = match sent {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        acked.lock().unwrap().push(scan_id);
                    } else {
                        in_flight.lock().unwrap().push(scan_id);
                        return;
                    }
                }
            }));
        }
        let started = Instant::now();
        while acked.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        node.kill().unwrap(); // SIGKILL: no shutdown, no flush
        node.wait().unwrap();
        for s in scanners {
            s.await.unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        let in_flight = in_flight.lock().unwrap().clone();
        assert!(
            acked.len() >= 300,
            "only {} scans acknowledged",
            acked.len()
        );

        let mut node = serve(&data_dir, url, port).await;
        let visits_now = |client: Arc<Client>, admin: String, venue: String| async move {
            let (status, visits) = client
                .call(&format!("/venues/{venue}/visits?limit=10000"), &admin, None)
                .await;
            assert_eq!(status, 200, "{visits}");
            visits.as_array().unwrap().len()
        };
        let visits = visits_now(client.clone(), admin.clone(), venue.clone()).await;
        // Every acknowledged scan is on record: sent again, it is a duplicate.
        for scan_id in &acked {
            let (status, answer) = client
                .call(
                    "/scans",
                    &scanner,
                    Some(json!({"scan_id": scan_id, "text": pass})),
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(
                answer["duplicate"], true,
                "acknowledged scan {scan_id} was lost"
            );
        }
        // Scans cut off mid-flight may or may not have landed; each that did is counted once.
        let mut landed_unacknowledged = 0;
        for scan_id in &in_flight {
            let (_, answer) = client
                .call(
                    "/scans",
                    &scanner,
                    Some(json!({"scan_id": scan_id, "text": pass})),
                )
                .await;
            if answer["duplicate"] == true {
                landed_unacknowledged += 1;
            }
        }
        assert_eq!(
            visits,
            acked.len() + landed_unacknowledged,
            "one visit per recorded scan, none doubled"
        );
        eprintln!(
            "{}: {} acknowledged, {} cut off of which {landed_unacknowledged} had landed",
            url.map_or("sqlite", |_| "postgres"),
            acked.len(),
            in_flight.len()
        );
        let after = visits_now(client.clone(), admin.clone(), venue.clone()).await;
        assert_eq!(after, visits + in_flight.len() - landed_unacknowledged);
        node.kill().unwrap();
        node.wait().unwrap();
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
