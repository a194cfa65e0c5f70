//! `healthcode trace-bench`: times contact tracing on a store, one random case at a time, the way
//! the node's tracer reads the visit log (docs/BENCHMARKS.md). It can write the cases and what
//! was found as JSON, so the same question can be put to another engine (bench/tracing.py asks
//! DuckDB) and the answers compared.

use crate::failure::Failure;
use crate::node_cmd;
use clap::Args;
use healthcode_core::contacts::{Trace, TraceParams};
use healthcode_server::clock::Clock;
use healthcode_server::config::Config;
use healthcode_store::IndexedLog;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Instant;
use time::OffsetDateTime;

#[derive(Args, Debug)]
pub struct TraceBenchCommand {
    /// Cases to trace, drawn at random among the people.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    cases: u64,
    /// The random seed for drawing cases.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Levels to trace: 1 for close contacts (the question bench/tracing.py asks DuckDB too), 2
    /// with secondary contacts.
    #[arg(long, default_value_t = 1)]
    depth: u8,
    /// Days of infectious window before its end (onset 2 days before isolation gives 4).
    #[arg(long, default_value_t = 4)]
    window_days: i64,
    /// The end of every case's window (isolation), RFC 3339; now when absent.
    #[arg(long)]
    window_end: Option<String>,
    /// Write the cases, parameters and contacts found to this JSON file.
    #[arg(long)]
    export: Option<std::path::PathBuf>,
}

pub async fn run(config: Config, cmd: TraceBenchCommand) -> Result<ExitCode, Failure> {
    let state = node_cmd::open(config).await?;
    let store = &state.store;
    let failed = |e: healthcode_store::StoreError| {
        Failure::new("bench", e.to_string(), format!("基准测试出错：{e}"))
    };
    let end = match &cmd.window_end {
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| Failure::new("bad_time", e.to_string(), format!("时间有误：{e}")))?,
        None => Clock::system().now(),
    };
    let end_ms = healthcode_store::ms(end);
    let window = (end_ms - cmd.window_days * 86_400_000, end_ms);
    let params = TraceParams {
        depth: cmd.depth,
        ..TraceParams::from_policy(state.policy.current().document())
    };
    if store.people_count().await.map_err(failed)? == 0 {
        return Err(Failure::new(
            "empty_store",
            "the store holds no one to trace (fill one with healthcode simulate)",
            "库中没有可追踪的人员（可先运行 healthcode simulate）",
        ));
    }
    // Cases: the person after a random id, so every draw is one indexed lookup; a draw past
    // the last id finds no one and is drawn again.
    let mut rng = StdRng::seed_from_u64(cmd.seed);
    let mut subjects = Vec::new();
    while (subjects.len() as u64) < cmd.cases {
        let after: String = (0..32)
            .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
            .collect();
        let ids = store.person_ids_after(&after, 1).await.map_err(failed)?;
        let Some(id) = ids.first() else { continue };
        if let Some(person) = store.person(id).await.map_err(failed)? {
            subjects.push(person.pseudonym);
        }
    }
    let log = IndexedLog(store);
    let mut timings = Vec::new();
    let mut exported = Vec::new();
    let (mut contacts_total, mut rows_total) = (0usize, 0u64);
    for subject in &subjects {
        let started = Instant::now();
        let mut trace = Trace::start(&log, subject, window, end_ms, params)
            .await
            .map_err(failed)?;
        let mut levels = Vec::new();
        while let Some(level) = trace.next_level(&log).await.map_err(failed)? {
            levels.push(level);
        }
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
        // Counting distinct contacts is the bench's bookkeeping, not the trace's work.
        let found: BTreeSet<_> = levels.into_iter().flatten().map(|e| e.subject).collect();
        contacts_total += found.len();
        rows_total += trace.rows_read;
        exported.push(json!({"subject": subject, "contacts": found.len(),
            "contact_subjects": if cmd.depth == 1 { json!(found) } else { json!(null) }}));
    }
    let mut sorted = timings.clone();
    sorted.sort_by(f64::total_cmp);
    let pct =
        |p: f64| sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1];
    outln!(
        "{} cases on {} (depth {}, window {} days): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         {:.0} contacts and {:.0} visits read per case",
        subjects.len(),
        store.backend_name(),
        cmd.depth,
        cmd.window_days,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        sorted.last().copied().unwrap_or(0.0),
        contacts_total as f64 / subjects.len().max(1) as f64,
        rows_total as f64 / subjects.len().max(1) as f64,
    )?;
    if let Some(path) = &cmd.export {
        let doc = json!({
            "store": store.backend_name(),
            "window_from": window.0, "window_until": window.1,
            "margin_ms": params.margin_ms, "min_overlap_ms": params.min_overlap_ms,
            "depth": params.depth, "timings_ms": timings, "cases": exported,
        });
        std::fs::write(path, doc.to_string())
            .map_err(|e| Failure::new("unwritable", e.to_string(), format!("无法写入：{e}")))?;
    }
    state.store.close().await;
    Ok(ExitCode::SUCCESS)
}
