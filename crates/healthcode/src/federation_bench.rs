//! `healthcode federation bench`: the figures docs/BENCHMARKS.md gives for federation, from a
//! hub and two regions on loopback in this process (release build): verifying another region's
//! pass beside our own, through the list the region fetched from the hub. (Contact notices in
//! bulk and status transfers are measured in a later step: docs/BENCHMARKS.md says why.)

use crate::failure::Failure;
use crate::federation_demo::{Node, federate, start_three};
use healthcode_core::Color;
use healthcode_core::identity::DocumentKind;
use healthcode_store::Enrollment;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Pass verifications per kind.
    #[arg(long, default_value_t = 20_000)]
    verifications: u32,
    /// Where the three nodes keep their data (removed afterwards).
    #[arg(long, default_value = "healthcode-federation-bench")]
    dir: PathBuf,
}

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::new("bench_failed", e.to_string(), format!("基准测试失败：{e}"))
}

pub async fn run(args: BenchArgs) -> Result<ExitCode, Failure> {
    let _ = std::fs::remove_dir_all(&args.dir);
    let (hub, regions) = start_three(&args.dir, 18_700, |c| {
        c.login.log_codes = false;
        c.federation.refresh_seconds = 3600;
    })
    .await?;
    let (wuhan, beijing) = (&regions[0], &regions[1]);
    federate(&hub, &[wuhan, beijing]).await?;
    outln!("a hub and two regions on loopback (SQLite each), release build").map_err(failure)?;

    verification(wuhan, beijing, args.verifications)?;

    for n in [hub].into_iter().chain(regions) {
        n.running.shutdown().await.map_err(failure)?;
        n.state.store.close().await;
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    Ok(ExitCode::SUCCESS)
}

fn sample_person(node: &Node, pseudonym: &str) -> healthcode_store::Person {
    healthcode_store::Person {
        id: "bench".into(),
        pseudonym: pseudonym.into(),
        document_kind: DocumentKind::ResidentId,
        document_tail: Some("1234".into()),
        name_masked: "张*".into(),
        guardian_id: None,
        enrollment: Enrollment::Confirmed,
        created_at: node.state.now(),
    }
}

/// Beijing verifies its own pass and Wuhan's, the same number of times each.
fn verification(wuhan: &Node, beijing: &Node, n: u32) -> Result<(), Failure> {
    let now = beijing.state.now();
    let person = sample_person(beijing, "00112233445566778899aabbccddeeff");
    let issue = |node: &Node| {
        node.state
            .passes
            .issue(&person, Color::Green, "bench", now)
            .map(|(_, t)| t)
    };
    let own = issue(beijing).map_err(failure)?;
    let other = issue(wuhan).map_err(failure)?;
    let mut per = Vec::new();
    for (label, text) in [("own (110000)", &own), ("other region's (420100)", &other)] {
        assert_valid(beijing, text)?;
        let started = Instant::now();
        for _ in 0..n {
            std::hint::black_box(beijing.state.passes.verify(text, now));
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        per.push(us);
        outln!("verify {label:<26} {us:>8.1} µs per pass ({n} in a row, one core)")
            .map_err(failure)?;
    }
    outln!("other region's / own: {:.2}", per[1] / per[0]).map_err(failure)
}

fn assert_valid(node: &Node, text: &str) -> Result<(), Failure> {
    if node.state.passes.verify(text, node.state.now()).valid {
        Ok(())
    } else {
        Err(failure("a bench pass does not verify"))
    }
}
