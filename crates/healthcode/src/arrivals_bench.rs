//! `healthcode arrivals-bench`: a day of returning people at one arrival station (北京西站-like),
//! on a node on loopback in this process (release build, SQLite): each approved traveller's
//! arrival scan with a temperature, then the district's receipt (the first hand-off), each timed
//! one request at a time beside a plain checkpoint scan at the same gate in the same run; then
//! the console's figures, checked against what went in (docs/BENCHMARKS.md).

use crate::failure::Failure;
use crate::federation_bench::{Enrolled, enroll};
use crate::federation_demo::{Node, node_config, start_node};
use healthcode_core::Color;
use healthcode_core::returns::ReturnState;
use healthcode_store::{Actor, NewReturn, NewStep, NewVenue};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ArrivalsBenchArgs {
    /// Returning people arriving at the station (one in fifty with a fever).
    #[arg(long, default_value_t = 10_000)]
    arrivals: u32,
    /// Where the node keeps its data (removed afterwards).
    #[arg(long, default_value = "healthcode-arrivals-bench")]
    dir: PathBuf,
    #[arg(long, default_value_t = 18_800)]
    port: u16,
}

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::new("bench_failed", e.to_string(), format!("基准测试失败：{e}"))
}

const STATION: &str = "北京西站";
const DISTRICT: &str = "110102";

/// Latencies of one kind of request, in milliseconds.
struct Timings(Vec<f64>);

impl Timings {
    fn quantile(&mut self, q: f64) -> f64 {
        self.0.sort_by(f64::total_cmp);
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0.get(i).copied().unwrap_or(f64::NAN)
    }

    fn line(&mut self, label: &str) -> Result<(f64, f64), Failure> {
        let (p50, p99) = (self.quantile(0.5), self.quantile(0.99));
        outln!(
            "{label:<52} {:>6}: p50 {p50:>6.2} ms, p99 {p99:>6.2} ms, max {:>6.1} ms",
            self.0.len(),
            self.quantile(1.0)
        )
        .map_err(failure)?;
        Ok((p50, p99))
    }
}

pub async fn run(args: ArrivalsBenchArgs) -> Result<ExitCode, Failure> {
    let _ = std::fs::remove_dir_all(&args.dir);
    let mut config = node_config(&args.dir, "110000", args.port);
    config.login.log_codes = false;
    let node = start_node(config).await?;
    let n = args.arrivals;
    outln!("one node on loopback (SQLite), release build; {n} arrivals at {STATION}")
        .map_err(failure)?;
    let (gate, district, official) = accounts(&node).await?;
    let started = Instant::now();
    let travellers = enroll(&node, "110102", n).await?;
    let others = enroll(&node, "110105", n).await?;
    let applications = approve_all(&node, &travellers).await?;
    outln!(
        "set-up: {} people enrolled, {n} applications filed and approved in {:.1} s",
        2 * n,
        started.elapsed().as_secs_f64()
    )
    .map_err(failure)?;

    let http = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| {
        let req = http
            .post(format!("{}/api/v1/{path}", node.base))
            .bearer_auth(token)
            .json(&body);
        async move {
            let t = Instant::now();
            let resp = req.send().await.map_err(failure)?;
            let status = resp.status();
            let answer: Value = resp.json().await.map_err(failure)?;
            if !status.is_success() {
                return Err(failure(format!("{status}: {answer}")));
            }
            Ok::<_, Failure>((t.elapsed().as_secs_f64() * 1e3, answer))
        }
    };
    let (mut plain, mut arrival, mut handoff) = (
        Timings(Vec::new()),
        Timings(Vec::new()),
        Timings(Vec::new()),
    );
    let mut fevers = 0;
    let day = Instant::now();
    for (i, ((traveller, other), app)) in travellers
        .iter()
        .zip(&others)
        .zip(&applications)
        .enumerate()
    {
        // Each shows a fresh pass, as their phone would; issuing it is not timed.
        let (text, other_text) = (pass(&node, traveller).await?, pass(&node, other).await?);
        let (ms, _) = post(
            "scans",
            &gate,
            json!({"scan_id": format!("bench-{i}"), "text": other_text}),
        )
        .await?;
        plain.0.push(ms);
        let fever = i % 50 == 49;
        let temperature = if fever { 38.2 } else { 36.5 };
        let (ms, answer) = post(
            "returns/arrivals",
            &gate,
            json!({"text": text, "temperature_c": temperature, "station": STATION}),
        )
        .await?;
        arrival.0.push(ms);
        if answer["fever"].as_bool() != Some(fever) {
            return Err(failure(format!("arrival {i} answered {answer}")));
        }
        if fever {
            fevers += 1;
            continue;
        }
        let (ms, _) = post(
            &format!("returns/{app}/handoffs"),
            &district,
            json!({"stage": "district"}),
        )
        .await?;
        handoff.0.push(ms);
    }
    let secs = day.elapsed().as_secs_f64();
    outln!(
        "{} requests one after another in {secs:.1} s",
        plain.0.len() + arrival.0.len() + handoff.0.len()
    )
    .map_err(failure)?;
    let (plain_p50, plain_p99) = plain.line("plain checkpoint scan (POST /scans)")?;
    let (arrival_p50, arrival_p99) =
        arrival.line("arrival scan + temperature (POST /returns/arrivals)")?;
    handoff.line("district receipt (POST /returns/{id}/handoffs)")?;
    outln!(
        "arrival / plain scan: p50 {:.2}, p99 {:.2}",
        arrival_p50 / plain_p50,
        arrival_p99 / plain_p99
    )
    .map_err(failure)?;

    // The console's figures against what went in.
    let t = Instant::now();
    let figures: Value = http
        .get(format!("{}/api/v1/returns/figures", node.base))
        .bearer_auth(&official)
        .send()
        .await
        .map_err(failure)?
        .json()
        .await
        .map_err(failure)?;
    let took = t.elapsed().as_secs_f64() * 1e3;
    let funnel: Vec<i64> = figures["funnel"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["people"].as_i64())
        .collect();
    let n = i64::from(n);
    let expected = (vec![n, n, n, 0, 0], n - fevers, fevers);
    let got = (
        funnel,
        figures["in_transit"].as_i64().unwrap_or(-1),
        figures["fever_clinic"].as_i64().unwrap_or(-1),
    );
    if got != expected {
        return Err(failure(format!(
            "the figures do not add up: {got:?}, expected {expected:?}"
        )));
    }
    outln!(
        "figures (GET /returns/figures) in {took:.1} ms, checked: applied = approved = arrived = {n}, in transit {}, fever clinic {fevers}",
        n - fevers
    )
    .map_err(failure)?;
    node.running.shutdown().await.map_err(failure)?;
    node.state.store.close().await;
    let _ = std::fs::remove_dir_all(&args.dir);
    Ok(ExitCode::SUCCESS)
}

/// The station's checkpoint, the district's reception worker and a health official.
async fn accounts(node: &Node) -> Result<(String, String, String), Failure> {
    let store = &node.state.store;
    let now = node.state.now();
    let admin = Actor::new("bench", "admin", "arrivals bench");
    let venue = store
        .create_venue(
            &NewVenue {
                name: STATION.into(),
                address: "北京市丰台区莲花池东路 118 号".into(),
                region: DISTRICT.into(),
                category: "station".into(),
            },
            &admin,
            now,
        )
        .await
        .map_err(failure)?;
    let gate = crate::node_cmd::new_token();
    store
        .create_checkpoint(&venue.id, "出站口 1", &gate, &admin, now)
        .await
        .map_err(failure)?;
    let district = crate::node_cmd::new_token();
    let account = store
        .create_account("community_worker", "西城区接站组", &district, &admin, now)
        .await
        .map_err(failure)?;
    store
        .set_account_scope(&account.id, DISTRICT, &admin, now)
        .await
        .map_err(failure)?;
    let official = crate::node_cmd::new_token();
    store
        .create_account("health_official", "卫健委", &official, &admin, now)
        .await
        .map_err(failure)?;
    Ok((gate, district, official))
}

/// An application per traveller, to one of a hundred communities of the district, verified by
/// a call and approved: their ids, in the travellers' order.
async fn approve_all(node: &Node, travellers: &[Enrolled]) -> Result<Vec<String>, Failure> {
    let store = &node.state.store;
    let now = node.state.now();
    let resident = Actor::new("bench", "resident", "return application");
    let worker = Actor::new("bench-worker", "community_worker", "return verification");
    let message = healthcode_core::Text {
        zh: "返程申请（基准测试）".into(),
        en: "return application (bench)".into(),
    };
    let mut ids = Vec::with_capacity(travellers.len());
    for (i, t) in travellers.iter().enumerate() {
        let new = NewReturn {
            applicant_id: t.id.clone(),
            members: vec![t.id.clone()],
            origin: "420100".into(),
            community: format!("{DISTRICT}-{:03}-{:03}", 1 + i % 10, 1 + (i / 10) % 10),
            address: "某小区 1 号楼".into(),
            reason: "返京".into(),
            planned_date: now.date(),
            transport: "train".into(),
            origin_colour: "green".into(),
            origin_basis: "declared".into(),
        };
        let app = store
            .create_return(&new, &message, &resident, now)
            .await
            .map_err(failure)?;
        for (kind, outcome, from, to) in [
            (
                "call",
                "address_confirmed",
                ReturnState::Submitted,
                ReturnState::Submitted,
            ),
            (
                "approved",
                "approved",
                ReturnState::Submitted,
                ReturnState::Approved,
            ),
        ] {
            let step = NewStep {
                kind,
                outcome,
                note: "",
                from,
                to,
                touches: true,
                message: message.clone(),
            };
            store
                .add_return_step(&app.id, &step, &worker, now)
                .await
                .map_err(failure)?;
        }
        ids.push(app.id);
    }
    Ok(ids)
}

async fn pass(node: &Node, person: &Enrolled) -> Result<String, Failure> {
    let found = node
        .state
        .store
        .person(&person.id)
        .await
        .map_err(failure)?
        .ok_or_else(|| failure("an enrolled person is missing"))?;
    node.state
        .passes
        .issue(&found, Color::Green, "bench", node.state.now())
        .map(|(_, text)| text)
        .map_err(failure)
}
