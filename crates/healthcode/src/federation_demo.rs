//! `healthcode federation demo`: a hub and two regions (420100 Wuhan, 110000 Beijing) on
//! loopback in one process, each a node with its own data directory and store. On the first
//! run the regions register, a hub official approves them, and each region gets demo people and
//! staff; then what to try is printed. Ctrl-C stops all three.

use crate::failure::Failure;
use crate::node_cmd::new_token;
use healthcode_core::identity;
use healthcode_server::config::{Config, NodeRole};
use healthcode_server::federation::{directory, region};
use healthcode_server::{AppState, Running, open_state, start};
use healthcode_store::Actor;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the three nodes keep their data (hub/, wuhan/, beijing/).
    #[arg(long, default_value = "healthcode-federation-demo")]
    dir: PathBuf,
    /// The hub listens on this port, Wuhan on the next, Beijing on the one after.
    #[arg(long, default_value_t = 8090)]
    port: u16,
}

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::new("demo_failed", e.to_string(), format!("演示启动失败：{e}"))
}

pub(crate) struct Node {
    pub(crate) base: String,
    pub(crate) state: AppState,
    pub(crate) running: Running,
}

pub(crate) async fn start_node(config: Config) -> Result<Node, Failure> {
    let state = open_state(config).await.map_err(failure)?;
    let running = start(state.clone()).await.map_err(failure)?;
    Ok(Node {
        base: format!("http://{}", running.addr),
        state,
        running,
    })
}

pub(crate) fn node_config(dir: &Path, region: &str, port: u16) -> Config {
    let mut config = Config {
        listen: format!("127.0.0.1:{port}"),
        region: region.into(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    // The demo's SMS gateway is the log: residents read their login codes there.
    config.login.log_codes = true;
    config.federation.refresh_seconds = 30;
    config
}

/// Starts the hub on `port`, then Wuhan and Beijing on the next two, each configured to trust
/// the hub's root key (written to `dir/hub-root.pem`) and fetch its list; `tune` adjusts every
/// node's configuration before it starts.
pub(crate) async fn start_three(
    dir: &Path,
    port: u16,
    tune: impl Fn(&mut Config),
) -> Result<(Node, Vec<Node>), Failure> {
    let mut hub_config = node_config(&dir.join("hub"), "110000", port);
    hub_config.federation.role = NodeRole::Hub;
    tune(&mut hub_config);
    let hub = start_node(hub_config).await?;
    let root = dir.join("hub-root.pem");
    let pem = hub
        .state
        .hub
        .as_ref()
        .map(|h| h.root.verifying_key().to_pem());
    std::fs::write(&root, pem.unwrap_or_default()).map_err(failure)?;
    let mut regions = Vec::new();
    for (offset, code, name, sub) in [
        (1, "420100", "武汉市", "wuhan"),
        (2, "110000", "北京市", "beijing"),
    ] {
        let port = port + offset;
        let mut c = node_config(&dir.join(sub), code, port);
        c.trust_root_key = Some(root.clone());
        c.federation.name = name.into();
        c.federation.public_url = Some(format!("http://127.0.0.1:{port}"));
        c.federation.hub_url = Some(hub.base.clone());
        tune(&mut c);
        regions.push(start_node(c).await?);
    }
    Ok((hub, regions))
}

pub async fn run(args: DemoArgs) -> Result<ExitCode, Failure> {
    let first_run = !args.dir.join("hub").exists();
    let (hub, regions) = start_three(&args.dir, args.port, |_| {}).await?;
    let (wuhan, beijing) = (&regions[0], &regions[1]);
    let tour = if first_run {
        Some(seed(&hub, wuhan, beijing).await?)
    } else {
        for r in [wuhan, beijing] {
            let _ = directory::refresh(&r.state).await;
        }
        None
    };
    print_tour(&hub, wuhan, beijing, tour.as_ref())?;
    let _ = tokio::signal::ctrl_c().await;
    for n in [hub].into_iter().chain(regions) {
        n.running.shutdown().await.map_err(failure)?;
        n.state.store.close().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// What the first run made, for the tour.
struct Seeded {
    official: String,
    wuhan_admin: String,
    beijing_official: String,
    station_gate: String,
    green_pass: String,
    /// 李四's resident ID, to enroll with in Beijing.
    moving_document: String,
}

async fn token(node: &Node, role: &str, name: &str) -> Result<String, Failure> {
    let token = new_token();
    let actor = Actor::new("demo", "admin", "federation demo setup");
    node.state
        .store
        .create_account(role, name, &token, &actor, node.state.now())
        .await
        .map_err(failure)?;
    Ok(token)
}

async fn post(node: &Node, path: &str, token: &str, body: Value) -> Result<Value, Failure> {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", node.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(failure)?;
    let status = response.status();
    let body: Value = response.json().await.map_err(failure)?;
    if !status.is_success() {
        return Err(failure(format!("{path}: {status} {body}")));
    }
    Ok(body)
}

/// 李四's resident ID without its check character.
const MOVING: &str = "42010219850505432";

fn resident_id(body: &str) -> String {
    let check = identity::resident_id_check(body).unwrap_or('X');
    format!("{body}{check}")
}

/// Each region proposes itself, a hub official approves it, and each fetches the list; gives
/// the official's token.
pub(crate) async fn federate(hub: &Node, regions: &[&Node]) -> Result<String, Failure> {
    let official = token(hub, "hub_official", "枢纽官员（演示）").await?;
    for r in regions {
        let proposal = region::register(&r.state, r.state.now())
            .await
            .map_err(failure)?;
        let id = proposal["id"].as_str().unwrap_or_default();
        let decision = json!({"decision": "approve", "reason": "演示：指纹已电话核对"});
        post(
            hub,
            &format!("/hub/v1/proposals/{id}/decision"),
            &official,
            decision,
        )
        .await?;
    }
    for r in regions {
        directory::refresh(&r.state).await.map_err(failure)?;
    }
    Ok(official)
}

async fn seed(hub: &Node, wuhan: &Node, beijing: &Node) -> Result<Seeded, Failure> {
    let official = federate(hub, &[wuhan, beijing]).await?;
    let wuhan_admin = token(wuhan, "admin", "武汉管理员（演示）").await?;
    let beijing_admin = token(beijing, "admin", "北京管理员（演示）").await?;
    let beijing_official = token(beijing, "health_official", "北京卫健委（演示）").await?;
    // Two Wuhan residents: 张三 green; 李四 a close contact, red, who will move to Beijing.
    let green = post(
        wuhan,
        "/api/v1/people",
        &wuhan_admin,
        json!({"document_kind": "resident_id", "document_number": resident_id("42010219900101123"),
               "name": "张三", "phone": "13900000001"}),
    )
    .await?;
    let red = post(
        wuhan,
        "/api/v1/people",
        &wuhan_admin,
        json!({"document_kind": "resident_id", "document_number": resident_id(MOVING),
               "name": "李四", "phone": "13900000002"}),
    )
    .await?;
    let exposure = wuhan.state.now() - time::Duration::days(2);
    let at = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let wuhan_official = token(wuhan, "health_official", "武汉卫健委（演示）").await?;
    post(
        wuhan,
        &format!("/api/v1/people/{}/facts", red["id"].as_str().unwrap_or_default()),
        &wuhan_official,
        json!({"type": "contact", "level": "close", "case_id": "2020-0412", "venue": "汉口站",
               "exposure_start": at(exposure - time::Duration::hours(1)), "exposure_end": at(exposure),
               "legal_basis": "武汉市疾控中心流调（演示）"}),
    )
    .await?;
    let green_pass = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/people/{}/pass?format=text",
            wuhan.base,
            green["id"].as_str().unwrap_or_default()
        ))
        .bearer_auth(&wuhan_admin)
        .send()
        .await
        .map_err(failure)?
        .text()
        .await
        .map_err(failure)?;
    let station = post(
        beijing,
        "/api/v1/venues",
        &beijing_admin,
        json!({"name": "北京西站", "address": "北京市丰台区", "region": "110106", "category": "station"}),
    )
    .await?;
    let gate = post(
        beijing,
        &format!(
            "/api/v1/venues/{}/checkpoints",
            station["id"].as_str().unwrap_or_default()
        ),
        &beijing_admin,
        json!({"name": "出站口"}),
    )
    .await?;
    Ok(Seeded {
        official,
        wuhan_admin,
        beijing_official,
        station_gate: gate["token"].as_str().unwrap_or_default().to_owned(),
        green_pass,
        moving_document: resident_id(MOVING),
    })
}

fn print_tour(
    hub: &Node,
    wuhan: &Node,
    beijing: &Node,
    seeded: Option<&Seeded>,
) -> Result<(), Failure> {
    let (h, w, b) = (&hub.base, &wuhan.base, &beijing.base);
    let line = |text: String| outln!("{text}").map_err(failure);
    line(String::new())?;
    line(format!(
        "healthcode federation demo: hub {h}, 武汉 420100 {w}, 北京 110000 {b}   (Ctrl-C to stop)"
    ))?;
    line(format!("  the directory:          curl {h}/hub/v1/regions"))?;
    line(format!(
        "  the signed trust list:  curl -sI {h}/hub/v1/trust-list   (ETag: its sequence)"
    ))?;
    line(format!("  what Beijing holds:     curl {b}/readyz"))?;
    let Some(s) = seeded else {
        return line("  (seeded on the first run; tokens were shown then. Remove the demo directory to start over.)".into());
    };
    line(format!("  hub official token:     {}", s.official))?;
    line(format!("  Wuhan admin token:      {}", s.wuhan_admin))?;
    line(format!("  Beijing official token: {}", s.beijing_official))?;
    line(String::new())?;
    line("1. 互通互认: a Beijing station scans a green Wuhan pass (verified offline with the hub's list):".into())?;
    line(format!("     P='{}'", s.green_pass.trim()))?;
    line(format!(
        "     curl -s {b}/api/v1/scans -H 'authorization: Bearer {}' -H 'content-type: application/json' -d \"{{\\\"scan_id\\\":\\\"demo-1\\\",\\\"text\\\":\\\"$P\\\"}}\"",
        s.station_gate
    ))?;
    line("2. 湖北健康码 → 北京健康宝: 李四 (13900000002), a close contact in Wuhan, moves to Beijing.".into())?;
    line(format!(
        "   log in at Wuhan (the code is in this log):   curl -s {w}/api/v1/auth/code -d '{{\"phone\":\"13900000002\"}}' -H 'content-type: application/json'"
    ))?;
    line(format!(
        "                                                curl -s {w}/api/v1/auth/login -d '{{\"phone\":\"13900000002\",\"code\":\"CODE\"}}' -H 'content-type: application/json'"
    ))?;
    line(format!(
        "   consent for Beijing (a code, shown once):    curl -s {w}/api/v1/people/ID/consents -H 'authorization: Bearer TOKEN' -H 'content-type: application/json' -d '{{\"destination\":\"110000\",\"purpose\":\"返京复工\"}}'"
    ))?;
    line(format!(
        "   log in at Beijing the same way and enroll:     curl -s {b}/api/v1/people -H 'authorization: Bearer BJ_TOKEN' -H 'content-type: application/json' -d '{{\"document_kind\":\"resident_id\",\"document_number\":\"{}\",\"name\":\"李四\",\"phone\":\"13900000002\"}}'",
        s.moving_document
    ))?;
    line("   then present the code:".into())?;
    line(format!(
        "                                                curl -s {b}/api/v1/people/BJ_ID/transfers -H 'authorization: Bearer BJ_TOKEN' -H 'content-type: application/json' -d '{{\"origin\":\"420100\",\"code\":\"CODE\"}}'"
    ))?;
    line(format!(
        "   the colour in Beijing, and why:              curl -s {b}/api/v1/people/BJ_ID/status -H 'authorization: Bearer BJ_TOKEN'"
    ))?;
    line("3. A Beijing case whose trace finds a Wuhan pass sends Wuhan a signed contact notice (docs/FEDERATION.md).".into())?;
    line(format!(
        "   revoke a key on the hub: healthcode federation revoke KID --reason … --hub {h}  (HEALTHCODE_TOKEN=hub official token)"
    ))
}
