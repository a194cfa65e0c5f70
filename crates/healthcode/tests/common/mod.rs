//! What the tests of the `healthcode` binary share: running it on a data directory (and
//! PostgreSQL when given), and serving a node until it answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn healthcode(data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_healthcode"));
    cmd.arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.env_remove("HEALTHCODE_TEST_DATABASE_URL");
    cmd
}

// The caller kills and waits for the child it gets; a panic here ends the test process.
#[allow(clippy::zombie_processes)]
pub async fn serve(data_dir: &Path, database_url: Option<&str>, port: u16) -> Child {
    let child = healthcode(data_dir, database_url)
        .arg("serve")
        .env("HEALTHCODE_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ready(&format!("http://127.0.0.1:{port}")).await;
    child
}

/// Waits until a node at `base` answers `/readyz` (the test fails after 60 s).
pub async fn ready(base: &str) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{base} did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The login code the demo's SMS gateway (`login.log_codes`) wrote first into any of these
/// node logs (the test fails after 20 s).
pub async fn login_code(logs: &[&Path]) -> String {
    let started = Instant::now();
    loop {
        for log in logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(c) = text.split("login code is ").nth(1) {
                return c.chars().take(6).collect();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no login code was sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates an account with the command line and returns its token.
pub fn account(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> String {
    let created = healthcode(data_dir, database_url)
        .args(["accounts", "create"])
        .args(args)
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let out = String::from_utf8_lossy(&created.stdout);
    out.lines()
        .find_map(|l| l.strip_prefix("token (shown once; keep it secret): "))
        .unwrap()
        .trim()
        .to_owned()
}
