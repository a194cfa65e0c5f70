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

/// A carrier's bookings file: a new booking held, then paid, a passenger with no approved
/// application refused, a bad date and a short line named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carriers_bookings_file_imports_row_by_row_with_each_refusal_named() {
    let data_dir = std::env::temp_dir().join(format!("hc_import_b_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let carrier = account(&data_dir, None, &["--role", "carrier", "--name", "12306"]);
    let worker = account(
        &data_dir,
        None,
        &[
            "--role",
            "community_worker",
            "--name",
            "社区",
            "--scope",
            "330106-001-001",
        ],
    );
    let port = free_port();
    let log = data_dir.join("node.log");
    // The node logs login codes (the demo's SMS gateway), so that a resident can log in.
    let mut node = healthcode(&data_dir, None)
        .arg("serve")
        .env("HEALTHCODE_LISTEN", format!("127.0.0.1:{port}"))
        .env("HEALTHCODE_LOGIN__LOG_CODES", "true")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    common::ready(&base).await;
    let call = |method: reqwest::Method, path: &str, token: &str, body: serde_json::Value| {
        let req = http
            .request(method, format!("{base}/api/v1/{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (
                status,
                resp.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let phone = "13900000031";
    let (status, _) = call(
        reqwest::Method::POST,
        "auth/code",
        "",
        json!({"phone": phone}),
    )
    .await;
    assert_eq!(status, 202);
    let code = common::login_code(&[&log]).await;
    let (status, login) = call(
        reqwest::Method::POST,
        "auth/login",
        "",
        json!({"phone": phone, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let me = login["token"].as_str().unwrap().to_owned();
    let document = resident_id(7);
    let (status, person) = call(
        reqwest::Method::POST,
        "people",
        &me,
        json!({"document_kind": "resident_id", "document_number": document, "name": "赵六", "phone": phone}),
    )
    .await;
    assert_eq!(status, 201, "{person}");
    let travel = (healthcode_server::clock::Clock::system().now() + time::Duration::days(1)).date();
    let (status, app) = call(
        reqwest::Method::POST,
        "returns",
        &me,
        json!({"members": [person["id"]], "origin": "420100", "community": "330106-001-001",
            "address": "文三路 1 号", "reason": "返杭", "planned_date": travel.to_string(), "transport": "train"}),
    )
    .await;
    assert_eq!(status, 201, "{app}");
    let id = app["id"].as_str().unwrap();
    call(
        reqwest::Method::POST,
        &format!("returns/{id}/calls"),
        &worker,
        json!({"outcome": "address_confirmed"}),
    )
    .await;
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("returns/{id}/decision"),
        &worker,
        json!({"decision": "approve", "reason": "核实无误"}),
    )
    .await;
    assert_eq!(status, 200);

    let csv = format!(
        "document_kind,document_number,reference,service,travel_date,station,seat,state\n\
         resident_id,{document},E100,G1234,{travel},杭州东站,05车12F,held\n\
         resident_id,{document},E100,G1234,{travel},杭州东站,05车12F,paid\n\
         resident_id,{stranger},E101,G1234,{travel},杭州东站,05车12A,held\n\
         resident_id,{document},E102,G1234,tomorrow,杭州东站,05车12B,held\n\
         resident_id,{document}\n",
        stranger = resident_id(8),
    );
    let file = data_dir.join("bookings.csv");
    std::fs::write(&file, csv).unwrap();
    let out = healthcode(&data_dir, None)
        .args(["import", "bookings"])
        .arg(&file)
        .args(["--node", &base])
        .env("HEALTHCODE_TOKEN", &carrier)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "5 rows read: 1 bookings recorded, 1 reported before (now in the row's state), 3 rejected"
        ),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("line 4: not_approved:"), "{stderr}");
    assert!(stderr.contains("line 5: "), "{stderr}");
    assert!(stderr.contains("line 6: bad_line:"), "{stderr}");
    let (_, bookings) = call(
        reqwest::Method::GET,
        &format!("people/{}/bookings", person["id"].as_str().unwrap()),
        &me,
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(bookings[0]["state"], "paid", "{bookings}");

    // Another feed still needs its legal basis.
    let missing = healthcode(&data_dir, None)
        .args(["import", "lab-results"])
        .arg(&file)
        .args(["--node", &base])
        .env("HEALTHCODE_TOKEN", &carrier)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing_legal_basis"));
    node.kill().unwrap();
    node.wait().unwrap();
}

/// `healthcode policy propose`: a version checked here, filed on the node and its dry run
/// printed; a broken one is refused before it leaves the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_version_is_proposed_from_the_command_line_with_its_dry_run() {
    let data_dir = std::env::temp_dir().join(format!("hc_propose_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let official = account(
        &data_dir,
        None,
        &["--role", "health_official", "--name", "卫健委"],
    );
    let port = free_port();
    let mut node = serve(&data_dir, None, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let mut doc = serde_json::to_value(
        healthcode_core::Policy::default_policy()
            .unwrap()
            .document(),
    )
    .unwrap();
    doc["version"] = json!("2020.5-cli");
    doc["parameters"]["yellow_checkins"] = json!(5);
    let file = data_dir.join("policy.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let propose = |path: &std::path::Path| {
        healthcode(&data_dir, None)
            .args(["policy", "propose"])
            .arg(path)
            .args(["--node", &base, "--legal-basis", "杭卫发〔2020〕20号"])
            .env("HEALTHCODE_TOKEN", &official)
            .output()
            .unwrap()
    };
    let out = propose(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("proposed: version 2020.5-cli"), "{stdout}");
    assert!(stdout.contains("dry run against"), "{stdout}");
    // The same question asked of the store directly, as the benchmark does.
    let direct = healthcode(&data_dir, None)
        .args(["dry-run"])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&direct.stdout);
    assert!(
        direct.status.success() && said.contains("dry run of 2020.5-cli against"),
        "{said}{}",
        String::from_utf8_lossy(&direct.stderr)
    );
    doc["rules"][0]["when"] = json!({"no-such-operator": []});
    std::fs::write(&file, doc.to_string()).unwrap();
    let refused = propose(&file);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("problem"));
    node.kill().unwrap();
    node.wait().unwrap();
}
