//! What a staff token lookup costs (`Store::account_by_token`, one indexed read), the read every
//! API request with a staff token makes now that tokens are not cached: one at a time, and 64 at
//! once on the 2 cores, against SQLite and (given its URL) PostgreSQL.
//!
//! `cargo run --release -p healthcode-store --example token_lookup [postgres://…/db]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use healthcode_store::{Actor, Store, Vault};
use std::time::Instant;

const ACCOUNTS: usize = 1_000;
const SEQUENTIAL: usize = 20_000;
const TASKS: usize = 64;
const PER_TASK: usize = 1_000;

async fn measure(store: Store) {
    let admin = Actor::new("bench", "admin", "bench");
    let now = time::macros::datetime!(2026-12-01 08:00 UTC);
    for n in 0..ACCOUNTS {
        store
            .create_account(
                "checkpoint",
                "gate",
                &format!("hc_bench_token_{n}"),
                &admin,
                now,
            )
            .await
            .unwrap();
    }
    let started = Instant::now();
    for i in 0..SEQUENTIAL {
        let token = format!("hc_bench_token_{}", (i * 7919) % ACCOUNTS);
        assert!(store.account_by_token(&token).await.unwrap().is_some());
    }
    let one = started.elapsed().as_secs_f64() / SEQUENTIAL as f64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let token = format!("hc_bench_token_{}", (t * 131 + i * 7919) % ACCOUNTS);
                assert!(store.account_by_token(&token).await.unwrap().is_some());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = (TASKS * PER_TASK) as f64 / started.elapsed().as_secs_f64();
    println!(
        "{:<8} one at a time: {:>6.1} µs per lookup; {TASKS} at once: {:>7.0} lookups/s",
        store.backend_name(),
        one * 1e6,
        rate
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("hc_token_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vault = || Vault::from_master_key(&[1; 32]);
    let sqlite = format!("sqlite://{}", dir.join("bench.db").display());
    measure(Store::open(&sqlite, vault()).await.unwrap()).await;
    if let Some(url) = std::env::args().nth(1) {
        measure(Store::open(&url, vault()).await.unwrap()).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
