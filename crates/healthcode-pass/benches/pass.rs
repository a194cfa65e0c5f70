//! Passes issued and verified per second through the whole pipeline, next to the bare
//! signature of the same crypto library (ring) in the same run; zlib levels; EU certificate
//! verification over the EU test data in testdata/dcc (compare with benches/python/verify_dcc.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use healthcode_core::region::RegionCode;
use healthcode_pass::cert::SignerCertificate;
use healthcode_pass::compress;
use healthcode_pass::instant::parse_instant;
use healthcode_pass::keys::{Algorithm, SigningKey};
use healthcode_pass::memo::SignatureMemo;
use healthcode_pass::pass::{self, Colour, DocumentKind, Pass};
use healthcode_pass::trust::{TrustStore, TrustedKey};
use healthcode_pass::verify::{DEFAULT_SKEW, Options, verify, verify_with_options};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2020-04-03 14:02 +08:00);
/// The public test data kept in the repository (testdata/README.md).
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

fn sample_pass() -> Pass {
    Pass::new(
        RegionCode::parse("440300").unwrap(),
        NOW,
        pass::DEFAULT_VALIDITY,
        Colour::Green,
        NOW,
        "440300-2020.4",
        pass::pseudonym(b"secret", "person"),
        pass::mask_name("张小三"),
        DocumentKind::ResidentId,
        pass::document_tail("44030019900101123X"),
    )
    .unwrap()
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pass");
    group.throughput(Throughput::Elements(1));
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let key = SigningKey::generate(alg).unwrap();
        let mut trust = TrustStore::new();
        trust.add(TrustedKey::new(key.verifying_key().clone()));
        let p = sample_pass();
        // The bare signature over a message of the same size as a pass's Sig_structure.
        let message = vec![0x5au8; 200];
        let sig = key.sign(&message).unwrap();
        group.bench_function(format!("{alg}/bare sign"), |b| {
            b.iter(|| key.sign(black_box(&message)).unwrap())
        });
        group.bench_function(format!("{alg}/bare verify"), |b| {
            b.iter(|| {
                assert!(
                    key.verifying_key()
                        .verify(black_box(&message), black_box(&sig))
                )
            })
        });
        for level in [0, 6] {
            group.bench_function(format!("{alg}/issue zlib {level}"), |b| {
                b.iter(|| black_box(&p).seal(&key, level).unwrap())
            });
        }
        let text = p.seal(&key, compress::PASS_LEVEL).unwrap();
        group.bench_function(format!("{alg}/verify"), |b| {
            b.iter(|| assert!(verify(black_box(&text), &trust, NOW, DEFAULT_SKEW).valid))
        });
        // A pass scanned again at another gate: every stage runs, the signature comes from
        // the checkpoint's memo.
        let memo = SignatureMemo::new(1024);
        let options = Options {
            memo: Some(&memo),
            ..Options::default()
        };
        group.bench_function(format!("{alg}/verify, signature kept"), |b| {
            b.iter(|| assert!(verify_with_options(black_box(&text), &trust, NOW, options).valid))
        });
        // Every stage but the signature (no key for the kid): the pipeline's own cost.
        let empty = TrustStore::new();
        group.bench_function(format!("{alg}/verify stages without signature"), |b| {
            b.iter(|| black_box(verify(black_box(&text), &empty, NOW, DEFAULT_SKEW)))
        });
        interleaved_ratio(
            &format!("{alg} verify"),
            || {
                assert!(
                    key.verifying_key()
                        .verify(black_box(&message), black_box(&sig))
                )
            },
            || assert!(verify(black_box(&text), &trust, NOW, DEFAULT_SKEW).valid),
        );
        interleaved_ratio(
            &format!("{alg} issue"),
            || {
                black_box(key.sign(black_box(&message)).unwrap());
            },
            || {
                black_box(p.seal(&key, compress::PASS_LEVEL).unwrap());
            },
        );
    }
    group.finish();
}

/// Rate of `pipeline` relative to `bare`, measured in alternating rounds so that the load of a
/// shared machine falls on both alike; prints the median of the per-round ratios.
fn interleaved_ratio(name: &str, mut bare: impl FnMut(), mut pipeline: impl FnMut()) {
    const ROUNDS: usize = 40;
    const PER_ROUND: u32 = 300;
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut bare_total, mut pipe_total) = (StdDuration::ZERO, StdDuration::ZERO);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        for _ in 0..PER_ROUND {
            bare();
        }
        let b = t.elapsed();
        let t = std::time::Instant::now();
        for _ in 0..PER_ROUND {
            pipeline();
        }
        let p = t.elapsed();
        bare_total += b;
        pipe_total += p;
        ratios.push(b.as_secs_f64() / p.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let per_sec = |d: StdDuration| f64::from(PER_ROUND) * ROUNDS as f64 / d.as_secs_f64();
    println!(
        "interleaved {name}: bare {:.0}/s, pipeline {:.0}/s, pipeline/bare median {:.1}% (min {:.1}%, max {:.1}%)",
        per_sec(bare_total),
        per_sec(pipe_total),
        100.0 * ratios[ROUNDS / 2],
        100.0 * ratios[0],
        100.0 * ratios[ROUNDS - 1],
    );
}

fn zlib(c: &mut Criterion) {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let text = sample_pass().seal(&key, 0).unwrap();
    let cose = {
        let (_, b45) = healthcode_pass::prefix::strip(&text).unwrap();
        compress::decompress(&healthcode_pass::base45::decode(b45).unwrap(), 1 << 16).unwrap()
    };
    let mut group = c.benchmark_group("zlib");
    group.throughput(Throughput::Elements(1));
    for level in [0, 1, 6, 9] {
        let size = compress::compress(&cose, level).unwrap().len();
        group.bench_function(
            format!("compress {} B level {level} -> {size} B", cose.len()),
            |b| b.iter(|| compress::compress(black_box(&cose), level).unwrap()),
        );
    }
    let z = compress::compress(&cose, 6).unwrap();
    group.bench_function("decompress", |b| {
        b.iter(|| compress::decompress(black_box(&z), 1 << 16).unwrap())
    });
    group.finish();
}

/// The EU test certificates whose signature the test data says verifies (and ours does).
fn eu_inputs() -> Vec<(String, TrustStore, OffsetDateTime)> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(TESTDATA).join("dcc")];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e} (the EU test data is part of the repository: testdata/dcc)",
                dir.display()
            )
        });
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(doc) =
                serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&path).unwrap())
            else {
                continue;
            };
            if doc["EXPECTEDRESULTS"]["EXPECTEDVERIFY"] != true {
                continue;
            }
            let (Some(text), Some(cert), Some(clock)) = (
                doc["PREFIX"].as_str(),
                doc["TESTCTX"]["CERTIFICATE"].as_str(),
                doc["TESTCTX"]["VALIDATIONCLOCK"].as_str(),
            ) else {
                continue;
            };
            let (Ok(cert), Ok(clock)) = (
                SignerCertificate::load(cert.as_bytes()),
                parse_instant(clock),
            ) else {
                continue;
            };
            let mut trust = TrustStore::new();
            trust.add(TrustedKey::from_certificate(cert));
            if verify(text, &trust, clock, DEFAULT_SKEW).signature.is_ok() {
                out.push((text.to_owned(), trust, clock));
            }
        }
    }
    out
}

fn eu(c: &mut Criterion) {
    let inputs = eu_inputs();
    let mut group = c.benchmark_group("eu_dcc");
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function(format!("verify {} test certificates", inputs.len()), |b| {
        b.iter(|| {
            for (text, trust, clock) in &inputs {
                black_box(verify(text, trust, *clock, DEFAULT_SKEW));
            }
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(StdDuration::from_secs(3))
        .warm_up_time(StdDuration::from_millis(500))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = pipeline, zlib, eu }
criterion_main!(benches);
