//! What the test suites share: names no other run uses, and a fresh database on every store this
//! machine has: SQLite always, PostgreSQL when `HEALTHCODE_TEST_DATABASE_URL` names a server
//! (CI sets it; each test gets a database of its own, which `.ci/run` drops afterwards).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `prefix` with this process, a counter and a random part: unique within a run and, with the
/// random part, against what an earlier run left behind. Also a valid SQL identifier when
/// `prefix` is one.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let salt = rand::random::<u32>();
    format!("{prefix}_{}_{n}_{salt}", std::process::id())
}

/// A new, empty directory under the system's temporary directory.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The URL of a new, empty PostgreSQL database, when the suite has a server.
pub async fn fresh_postgres() -> Option<String> {
    let url = std::env::var("HEALTHCODE_TEST_DATABASE_URL").ok()?;
    let name = unique("hc_test");
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to HEALTHCODE_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// Every store to test on: `None` for SQLite (a file in the test's data directory), then a fresh
/// PostgreSQL database when the suite has a server.
pub async fn database_urls() -> Vec<Option<String>> {
    let mut urls = vec![None];
    if let Some(url) = fresh_postgres().await {
        urls.push(Some(url));
    }
    urls
}
