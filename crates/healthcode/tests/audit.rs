//! `healthcode audit verify` against the anchors a real `healthcode serve` signs: a rewrite of the
//! chain with every later hash recomputed is found, and a forged anchor line is refused. On
//! SQLite always, on PostgreSQL when HEALTHCODE_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{account, free_port, healthcode, serve};
use healthcode_store::{AuditFilter, Store, Vault};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn verify(data_dir: &Path, url: Option<&str>) -> (Output, String) {
    let out = healthcode(data_dir, url)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// An intruder with write access to the database: rewrites entry `seq` and recomputes every
/// later hash and the head, so the chain alone verifies.
async fn rewrite_and_rechain(data_dir: &Path, url: Option<&str>, seq: i64) {
    let url = url.map_or_else(
        || format!("sqlite://{}", data_dir.join("healthcode.db").display()),
        str::to_owned,
    );
    let store = Store::open(
        &url,
        Vault::load_or_create(&data_dir.join("data.key")).unwrap(),
    )
    .await
    .unwrap();
    let blob = |bytes: &[u8]| {
        let hex = hex::encode(bytes);
        match store.backend_name() {
            "postgres" => format!("'\\x{hex}'::bytea"),
            _ => format!("X'{hex}'"),
        }
    };
    let mut entries = store
        .audit_log(&AuditFilter::default(), 1_000_000)
        .await
        .unwrap();
    entries.reverse();
    let mut prev = vec![0u8; 32];
    for mut entry in entries {
        if entry.seq == seq {
            entry.detail = "nothing happened".into();
        }
        let hash = healthcode_store::audit::link_hash(&prev, &entry);
        if entry.seq >= seq {
            store
                .execute_raw(&format!(
                    "UPDATE audit_log SET detail = '{}', prev_hash = {}, hash = {} WHERE seq = {}",
                    entry.detail,
                    blob(&prev),
                    blob(&hash),
                    entry.seq
                ))
                .await
                .unwrap();
        }
        prev = hash;
    }
    store
        .execute_raw(&format!(
            "UPDATE audit_head SET hash = {} WHERE id = 1",
            blob(&prev)
        ))
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_rechained_rewrite_and_refuses_a_forged_anchor() {
    for database_url in healthcode_testkit::database_urls().await {
        let url = database_url.as_deref();
        let data_dir: PathBuf =
            std::env::temp_dir().join(format!("hc_audit_{}_{}", std::process::id(), url.is_some()));
        let _ = std::fs::remove_dir_all(&data_dir);
        for name in ["one", "two", "three"] {
            account(&data_dir, url, &["--role", "admin", "--name", name]);
        }
        let anchors = data_dir.join("audit-anchors.jsonl");
        assert!(!anchors.exists(), "only the node signs anchors");

        // The node signs the head as it starts (and every interval after, when it moved).
        let mut node = serve(&data_dir, url, free_port()).await;
        let started = Instant::now();
        while std::fs::read_to_string(&anchors).map_or(true, |t| t.is_empty()) {
            assert!(started.elapsed() < Duration::from_secs(30), "no anchor");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node.kill().unwrap();
        node.wait().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = std::fs::metadata(data_dir.join("audit-anchor.key")).unwrap();
            assert_eq!(key.permissions().mode() & 0o777, 0o600);
        }
        let line = std::fs::read_to_string(&anchors).unwrap();
        let signed: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        // Three accounts, and the policy the node started from put on the history.
        assert_eq!(signed["seq"], 4);

        account(&data_dir, url, &["--role", "admin", "--name", "four"]);
        let (out, text) = verify(&data_dir, url);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("audit chain intact: 5 entries"), "{text}");
        assert!(text.contains("not yet anchored: 1"), "{text}");

        // A line that claims a later head, not signed by the node's key.
        let mut forged = signed.clone();
        forged["seq"] = 5.into();
        let forged_line = format!("{line}{forged}\n");
        std::fs::write(&anchors, &forged_line).unwrap();
        let (out, text) = verify(&data_dir, url);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains("anchor line 2 refused: bad signature"),
            "{text}"
        );
        std::fs::write(&anchors, &line).unwrap();

        rewrite_and_rechain(&data_dir, url, 2).await;
        let (out, text) = verify(&data_dir, url);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("audit chain BROKEN at entry 4"), "{text}");
        assert!(
            text.contains("entry 4 differs from the anchor signed at"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
