//! `healthcode import`: a department (or a carrier, its bookings) delivers a file (NDJSON or
//! CSV) to a node's API with its own token, in requests of a thousand rows, with a progress bar and a summary that names
//! every rejected row and why. Delivery is idempotent, so a file can be sent again after a
//! failure; requests the node sheds (503) or that fail in transit are retried.

use crate::failure::{Failure, read_input};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Feed {
    /// Nucleic-acid test results, one per sample (POST /feeds/lab-results).
    LabResults,
    /// Telecom itineraries: one row per phone and city-day (POST /feeds/itinerary).
    Itinerary,
    /// Risk areas, each proposed for a second official's approval (POST /risk-areas).
    RiskAreas,
    /// A carrier's bookings of returning passengers, or their next state (held → paid or
    /// lapsed), one per row (POST /carrier/bookings); no legal basis needed.
    Bookings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

#[derive(Args)]
pub struct ImportCommand {
    /// What the file holds.
    #[arg(value_enum)]
    feed: Feed,
    /// The file: NDJSON (one JSON object per line) or CSV with a header row; `-` for stdin.
    file: String,
    /// The node, e.g. https://healthcode.example.gov.cn.
    #[arg(long, env = "HEALTHCODE_NODE")]
    node: String,
    /// The department's API token (better given as HEALTHCODE_TOKEN than on the command line).
    #[arg(long, env = "HEALTHCODE_TOKEN", hide_env_values = true)]
    token: String,
    /// The data-sharing agreement or report number the rows are delivered under (risk areas
    /// carry their own, or take this one); every feed but bookings needs it.
    #[arg(long)]
    legal_basis: Option<String>,
    /// The file's format; by its extension when absent (`.csv`, else NDJSON).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Rows per request.
    #[arg(long, default_value_t = 1000)]
    chunk: usize,
}

/// One row of the file, with the line it came from.
struct Row {
    line: usize,
    value: Value,
}

/// A row the file or the node refused.
struct Refusal {
    line: usize,
    code: String,
    message: String,
}

pub async fn run(cmd: ImportCommand) -> Result<ExitCode, Failure> {
    let text = read_input(&cmd.file, "the import file")?;
    let format = cmd.format.unwrap_or(if cmd.file.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Ndjson
    });
    let (rows, mut refused) = match format {
        Format::Ndjson => ndjson(&text),
        Format::Csv => csv_rows(&text)?,
    };
    let read = rows.len() + refused.len();
    let legal_basis = match (cmd.feed, &cmd.legal_basis) {
        (Feed::Bookings, _) => String::new(),
        (_, Some(basis)) if !basis.trim().is_empty() => basis.clone(),
        _ => {
            return Err(Failure::new(
                "missing_legal_basis",
                "--legal-basis names the agreement or report the rows are delivered under",
                "请用 --legal-basis 注明数据提供所依据的协议或文号",
            ));
        }
    };
    let rows = match cmd.feed {
        Feed::Itinerary => itineraries(rows),
        _ => rows,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| {
            Failure::new(
                "http_client",
                e.to_string(),
                format!("无法创建 HTTP 客户端：{e}"),
            )
        })?;
    let bar = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let base = cmd.node.trim_end_matches('/');
    let (mut recorded, mut duplicates, mut proposed) = (0u64, 0u64, 0u64);
    let chunk = match cmd.feed {
        Feed::RiskAreas | Feed::Bookings => 1,
        _ => cmd.chunk.clamp(1, 10_000),
    };
    for part in rows.chunks(chunk) {
        let values: Vec<Value> = part.iter().map(|r| r.value.clone()).collect();
        let (path, body) = match cmd.feed {
            Feed::LabResults => (
                "feeds/lab-results",
                json!({"results": values, "legal_basis": legal_basis}),
            ),
            Feed::Itinerary => (
                "feeds/itinerary",
                json!({"records": values, "legal_basis": legal_basis}),
            ),
            Feed::RiskAreas => {
                let mut area = values.into_iter().next().unwrap_or(Value::Null);
                if let Value::Object(map) = &mut area {
                    map.entry("legal_basis")
                        .or_insert_with(|| json!(legal_basis));
                }
                ("risk-areas", area)
            }
            Feed::Bookings => (
                "carrier/bookings",
                values.into_iter().next().unwrap_or(Value::Null),
            ),
        };
        let url = format!("{base}/api/v1/{path}");
        match post(&client, &url, &cmd.token, &body).await? {
            Ok((created, _)) if cmd.feed == Feed::Bookings => {
                // 201: a new booking; 200: one reported before, now in this state.
                if created {
                    recorded += 1;
                } else {
                    duplicates += 1;
                }
            }
            Ok((_, report)) if cmd.feed == Feed::RiskAreas => {
                proposed += 1;
                let area = &report["risk_area"];
                bar.println(format!(
                    "line {}: risk area {} ({} people) awaits approval of batch {}",
                    part[0].line, area["name"], area["affected"], report["batch"]["id"]
                ));
            }
            Ok((_, report)) => {
                recorded += report["recorded"].as_u64().unwrap_or(0);
                duplicates += report["duplicates"].as_u64().unwrap_or(0);
                for r in report["rejected"].as_array().into_iter().flatten() {
                    let index = r["index"].as_u64().unwrap_or(0) as usize;
                    refused.push(Refusal {
                        line: part.get(index).map_or(0, |row| row.line),
                        code: r["code"].as_str().unwrap_or_default().to_owned(),
                        message: format!(
                            "{} / {}",
                            r["message"].as_str().unwrap_or_default(),
                            r["message_zh"].as_str().unwrap_or_default()
                        ),
                    });
                }
            }
            Err((code, message)) => {
                // The whole request was refused (a bad risk area, say): every row in it is.
                for row in part {
                    refused.push(Refusal {
                        line: row.line,
                        code: code.clone(),
                        message: message.clone(),
                    });
                }
            }
        }
        bar.inc(part.len() as u64);
    }
    bar.finish_and_clear();
    refused.sort_by_key(|r| r.line);
    for r in &refused {
        eprintln!("line {}: {}: {}", r.line, r.code, r.message);
    }
    match cmd.feed {
        Feed::RiskAreas => outln!(
            "{read} rows read: {proposed} risk areas proposed, {} rejected",
            refused.len()
        )?,
        Feed::Bookings => outln!(
            "{read} rows read: {recorded} bookings recorded, {duplicates} reported before (now in the row's state), {} rejected",
            refused.len()
        )?,
        _ => outln!(
            "{read} rows read: {recorded} facts recorded, {duplicates} already on record, {} rejected",
            refused.len()
        )?,
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Posts one request, retrying what may succeed later: the node shedding load (503), or the
/// request failing in transit. `Ok(Ok((created, answer)))` is an answer (`created`: 201);
/// `Ok(Err(..))` is the node refusing the request as a whole.
async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> Result<Result<(bool, Value), (String, String)>, Failure> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = client.post(url).bearer_auth(token).json(body).send().await;
        let retry = match sent {
            Ok(resp) if resp.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                format!("HTTP {}", resp.status())
            }
            Ok(resp) => {
                let status = resp.status();
                let answer: Value = resp.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    return Ok(Ok((status == reqwest::StatusCode::CREATED, answer)));
                }
                let code = answer["code"].as_str().unwrap_or("http_error").to_owned();
                let message = format!(
                    "{} / {}",
                    answer["message"].as_str().unwrap_or(status.as_str()),
                    answer["message_zh"].as_str().unwrap_or_default()
                );
                if matches!(status.as_u16(), 401 | 403) {
                    return Err(Failure::new(
                        "not_allowed",
                        format!("the node refused the token: {message}"),
                        format!("节点拒绝了此令牌：{message}"),
                    ));
                }
                return Ok(Err((code, message)));
            }
            Err(e) => e.to_string(),
        };
        if attempt == 6 {
            return Err(Failure::new(
                "node_unavailable",
                format!("{url}: {retry}"),
                format!("无法送达 {url}：{retry}"),
            ));
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

fn ndjson(text: &str) -> (Vec<Row>, Vec<Refusal>) {
    let (mut rows, mut refused) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(value) if value.is_object() => rows.push(Row { line: i + 1, value }),
            Ok(_) => refused.push(Refusal {
                line: i + 1,
                code: "bad_line".into(),
                message: "not a JSON object / 不是 JSON 对象".into(),
            }),
            Err(e) => refused.push(Refusal {
                line: i + 1,
                code: "bad_line".into(),
                message: format!("not JSON: {e} / 不是 JSON"),
            }),
        }
    }
    (rows, refused)
}

/// CSV with a header row naming the fields; empty cells are left out.
fn csv_rows(text: &str) -> Result<(Vec<Row>, Vec<Refusal>), Failure> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| {
            Failure::new(
                "bad_csv",
                format!("no header row: {e}"),
                format!("缺少表头：{e}"),
            )
        })?
        .clone();
    let (mut rows, mut refused) = (Vec::new(), Vec::new());
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                let value: Map<String, Value> = header
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, cell)| !cell.is_empty())
                    .map(|(k, v)| (k.to_owned(), json!(v)))
                    .collect();
                rows.push(Row {
                    line,
                    value: Value::Object(value),
                });
            }
            Err(e) => refused.push(Refusal {
                line: e.position().map_or(0, |p| p.line() as usize),
                code: "bad_line".into(),
                message: format!("{e} / CSV 行有误"),
            }),
        }
    }
    Ok((rows, refused))
}

/// Itinerary rows may come flat (`phone, region, date`, as in a CSV) or already grouped
/// (`{phone, cities: [...]}`); flat rows of one phone are grouped into one record.
fn itineraries(rows: Vec<Row>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    let mut by_phone: std::collections::HashMap<String, usize> = Default::default();
    for row in rows {
        let flat = row.value.get("cities").is_none();
        let phone = row.value["phone"].as_str().map(str::to_owned);
        match (flat, phone) {
            (true, Some(phone)) => {
                let city = json!({"region": row.value["region"], "date": row.value["date"]});
                match by_phone.get(&phone) {
                    Some(&i) => {
                        if let Some(cities) = out[i].value["cities"].as_array_mut() {
                            cities.push(city);
                        }
                    }
                    None => {
                        by_phone.insert(phone.clone(), out.len());
                        out.push(Row {
                            line: row.line,
                            value: json!({"phone": phone, "cities": [city]}),
                        });
                    }
                }
            }
            _ => out.push(row),
        }
    }
    out
}
