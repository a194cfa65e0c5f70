//! `healthcode import` against a real node: a CSV of lab results lands with a progress bar and a
//! summary naming each rejected row; sent again, nothing doubles; a department without the feed
//! is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{account, free_port, healthcode, serve};
use serde_json::json;

/// A valid resident ID number (with its MOD 11-2 check character) for serial `n`.
fn resident_id(n: u32) -> String {
    let body = format!("33010619900101{:03}", n % 1000);
    let check = healthcode_core::identity::resident_id_check(&body).unwrap();
    format!("{body}{check}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_file_imports_with_a_summary_of_rejected_rows_and_imports_again_idempotently() {
    let data_dir = std::env::temp_dir().join(format!("hc_import_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let official = account(
        &data_dir,
        None,
        &["--role", "health_official", "--name", "CDC"],
    );
    let lab = account(
        &data_dir,
        None,
        &[
            "--role",
            "department",
            "--name",
            "lab",
            "--feeds",
            "lab_results",
        ],
    );
    let telecom = account(
        &data_dir,
        None,
        &[
            "--role",
            "department",
            "--name",
            "telecom",
            "--feeds",
            "itinerary",
        ],
    );
    let port = free_port();
    let mut node = serve(&data_dir, None, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for n in [1, 2] {
        let resp = http
            .post(format!("{base}/api/v1/people"))
            .bearer_auth(&official)
            .json(&json!({"document_kind": "resident_id", "document_number": resident_id(n), "name": "测试"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
    }
    let csv = format!(
        "sample_id,document_kind,document_number,result,sampled_at,reported_at\n\
         S-1,resident_id,{a},negative,2026-11-20T08:00:00Z,2026-11-20T20:00:00Z\n\
         S-2,resident_id,{b},positive,2026-11-20T09:00:00Z,2026-11-20T21:00:00Z\n\
         S-3,resident_id,{c},negative,2026-11-20T09:00:00Z,2026-11-20T21:00:00Z\n\
         S-4,resident_id,{a},negative,yesterday,2026-11-20T21:00:00Z\n\
         S-5,resident_id\n",
        a = resident_id(1),
        b = resident_id(2),
        c = resident_id(3),
    );
    let file = data_dir.join("lab.csv");
    std::fs::write(&file, csv).unwrap();
    let import = |token: &str, feed: &str| {
        let mut cmd = healthcode(&data_dir, None);
        cmd.args(["import", feed])
            .arg(&file)
            .args(["--node", &base, "--legal-basis", "浙疾控检测〔2020〕5号"])
            .env("HEALTHCODE_TOKEN", token);
        cmd.output().unwrap()
    };
    let first = import(&lab, "lab-results");
    let out = String::from_utf8_lossy(&first.stdout);
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{out}\n{err}");
    assert!(
        out.contains("5 rows read: 2 facts recorded, 0 already on record, 3 rejected"),
        "{out}"
    );
    assert!(err.contains("line 4: unknown_person:"), "{err}");
    assert!(err.contains("line 5: bad_time:"), "{err}");
    assert!(err.contains("line 6: bad_line:"), "{err}");

    let again = import(&lab, "lab-results");
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(
        out.contains("5 rows read: 0 facts recorded, 2 already on record, 3 rejected"),
        "{out}"
    );

    let refused = import(&telecom, "lab-results");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not_allowed"));
    node.kill().unwrap();
    node.wait().unwrap();
}
