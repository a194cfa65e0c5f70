//! The store test suite, run against every backend: SQLite always (a fresh file), PostgreSQL when
//! HEALTHCODE_TEST_DATABASE_URL is set (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use healthcode_core::identity::{Document, DocumentKind};
use healthcode_core::{Fact, Policy};
use healthcode_store::{
    Actor, Anchor, Enrollment, Finding, NewPerson, Outbox, Store, StoreError, Vault,
};
use time::OffsetDateTime;
use time::macros::{date, datetime};

#[path = "store/tracing.rs"]
mod tracing;

use healthcode_testkit::unique;

/// Every backend available here, each empty.
async fn stores() -> Vec<Store> {
    let vault = || Vault::from_master_key(&[42; 32]);
    let dir = healthcode_testkit::temp_dir("hc_store");
    let sqlite = format!("sqlite://{}", dir.join("test.db").display());
    let mut all = vec![Store::open(&sqlite, vault()).await.unwrap()];
    if let Some(url) = healthcode_testkit::fresh_postgres().await {
        all.push(Store::open(&url, vault()).await.unwrap());
    }
    all
}

/// Login-code limits with room for everything but `per_phone` codes to a phone.
fn limits(per_phone: i64) -> healthcode_store::CodeLimits {
    healthcode_store::CodeLimits {
        per_phone,
        per_client: 1_000,
        overall: 1_000,
    }
}

fn official() -> Actor {
    Actor::new("acct-official", "health_official", "CDC notice 2020-17")
}

fn resident_id(number: &str) -> Document {
    Document::parse(
        DocumentKind::ResidentId,
        number,
        None,
        date!(2026 - 11 - 23),
    )
    .unwrap()
}

fn adult() -> NewPerson {
    NewPerson {
        document: resident_id("11010519491231002X"),
        name: "张三丰".into(),
        phone: Some("13800138000".into()),
        guardian_id: None,
        enrollment: Enrollment::Confirmed,
    }
}

const NOW: OffsetDateTime = datetime!(2020-04-05 10:00 +08:00);

#[tokio::test]
async fn enrolls_finds_and_refuses_a_second_enrollment() {
    for store in stores().await {
        let me = Actor::new("self", "resident", "enrollment");
        let person = store.enroll(&adult(), &me, NOW).await.unwrap();
        assert_eq!(person.name_masked, "张*丰");
        assert_eq!(person.document_tail.as_deref(), Some("002X"));
        let found = store
            .find_by_document(&resident_id("11010519491231002X"))
            .await
            .unwrap();
        assert_eq!(
            found.as_ref().map(|p| p.id.as_str()),
            Some(person.id.as_str()),
            "{}",
            store.backend_name()
        );
        assert_eq!(store.find_by_phone("13800138000").await.unwrap().len(), 1);
        assert!(store.find_by_phone("13900000000").await.unwrap().is_empty());
        let again = store.enroll(&adult(), &me, NOW).await;
        assert!(
            matches!(again, Err(StoreError::Conflict(_))),
            "{}: {again:?}",
            store.backend_name()
        );

        let child = NewPerson {
            document: Document::parse(DocumentKind::None, "", None, date!(2026 - 11 - 23)).unwrap(),
            name: "张小明".into(),
            phone: Some("13800138000".into()),
            guardian_id: Some(person.id.clone()),
            enrollment: Enrollment::Pending,
        };
        let child = store.enroll(&child, &me, NOW).await.unwrap();
        assert_eq!(child.enrollment, Enrollment::Pending);
        assert_eq!(child.guardian_id.as_deref(), Some(person.id.as_str()));
        assert_eq!(store.find_by_phone("13800138000").await.unwrap().len(), 2);
        // A child staff enrolled without a phone is found through the guardian's.
        let baby = NewPerson {
            document: Document::parse(DocumentKind::None, "", None, date!(2026 - 11 - 23)).unwrap(),
            name: "张小小".into(),
            phone: None,
            guardian_id: Some(person.id.clone()),
            enrollment: Enrollment::Confirmed,
        };
        let baby = store.enroll(&baby, &official(), NOW).await.unwrap();
        let family: std::collections::BTreeSet<String> = store
            .find_by_phone("13800138000")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(
            family,
            [&person.id, &child.id, &baby.id].map(String::clone).into()
        );
        // A session on that phone reads the same family, in one query, each once.
        store
            .issue_login_code(
                "13800138000",
                "client",
                "123456",
                &code_text("123456"),
                time::Duration::minutes(5),
                limits(5),
                NOW,
            )
            .await
            .unwrap()
            .unwrap();
        store
            .redeem_login_code(
                "13800138000",
                "123456",
                "hs_family",
                time::Duration::DAY,
                5,
                NOW,
            )
            .await
            .unwrap()
            .unwrap();
        // The same read carries each one's fact stamp, as `fact_stamp` gives it.
        store
            .record_fact(&child.id, &close_contact("c-family"), &official(), NOW)
            .await
            .unwrap();
        let session = store
            .session_people("hs_family", NOW)
            .await
            .unwrap()
            .unwrap();
        let by_phone = store.find_by_phone("13800138000").await.unwrap();
        assert_eq!(session.people, by_phone, "{}", store.backend_name());
        for p in &session.people {
            assert_eq!(
                session.stamps.get(&p.id),
                Some(&store.fact_stamp(&p.id).await.unwrap())
            );
        }
        assert_eq!(session.stamps[&child.id].count, 1);
        assert_eq!(session.stamps[&person.id].count, 0);
        store
            .confirm_enrollment(&child.id, &official(), NOW)
            .await
            .unwrap();
        assert_eq!(
            store.person(&child.id).await.unwrap().unwrap().enrollment,
            Enrollment::Confirmed
        );
        store.close().await;
    }
}

#[tokio::test]
async fn personal_data_is_sealed_and_reads_of_it_are_audited() {
    for store in stores().await {
        let person = store
            .enroll(&adult(), &Actor::new("self", "resident", "enrollment"), NOW)
            .await
            .unwrap();
        let detail = store
            .person_detail(&person.id, &official(), NOW)
            .await
            .unwrap();
        assert_eq!(detail.name, "张三丰");
        assert_eq!(
            detail.document_number.as_deref(),
            Some("11010519491231002X")
        );
        assert_eq!(detail.phone.as_deref(), Some("13800138000"));
        let about = store.audit_about(&person.id).await.unwrap();
        let actions: Vec<&str> = about.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["person.enroll", "person.read"],
            "{}",
            store.backend_name()
        );
        assert_eq!(about[1].purpose, "CDC notice 2020-17");
        assert!(matches!(
            store.person_detail("nobody", &official(), NOW).await,
            Err(StoreError::NotFound(_))
        ));
        store.close().await;
    }
}

#[tokio::test]
async fn facts_are_appended_and_give_the_colour() {
    for store in stores().await {
        let person = store
            .enroll(&adult(), &Actor::new("self", "resident", "enrollment"), NOW)
            .await
            .unwrap();
        let fact: Fact = serde_json::from_value(serde_json::json!({
            "id": "c1", "type": "contact", "level": "close", "case_id": "2020-0412", "venue": "Metro Line 1",
            "exposure_start": "2020-04-03T14:02:00+08:00", "exposure_end": "2020-04-03T14:40:00+08:00",
            "recorded_at": "2020-04-05T09:00:00+08:00", "legal_basis": "CDC trace 2020-0412"
        }))
        .unwrap();
        store
            .record_fact(&person.id, &fact, &official(), NOW)
            .await
            .unwrap();
        let again = store.record_fact(&person.id, &fact, &official(), NOW).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        let orphan = store
            .record_fact(
                "nobody",
                &Fact {
                    id: "c2".into(),
                    ..fact.clone()
                },
                &official(),
                NOW,
            )
            .await;
        assert!(
            matches!(orphan, Err(StoreError::NotFound(_))),
            "{}: {orphan:?}",
            store.backend_name()
        );
        let facts = store.facts(&person.id).await.unwrap();
        assert_eq!(facts, vec![fact]);
        let status = Policy::default_policy().unwrap().evaluate(&facts, NOW);
        assert_eq!(status.color, healthcode_core::Color::Red);
        store.close().await;
    }
}

#[tokio::test]
async fn the_audit_chain_verifies_and_names_the_first_tampered_entry() {
    for store in stores().await {
        let person = store
            .enroll(&adult(), &Actor::new("self", "resident", "enrollment"), NOW)
            .await
            .unwrap();
        for i in 0..5 {
            store
                .audit(
                    &official(),
                    "person.read",
                    Some(&person.id),
                    &format!("read {i}"),
                    NOW,
                )
                .await
                .unwrap();
        }
        let check = store.verify_audit_chain().await.unwrap();
        assert_eq!(
            (check.entries, check.first_broken),
            (6, None),
            "{}",
            store.backend_name()
        );

        store
            .execute_raw("UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 3")
            .await
            .unwrap();
        assert_eq!(
            store.verify_audit_chain().await.unwrap().first_broken,
            Some(3)
        );
        store.close().await;
    }
}

#[tokio::test]
async fn removing_the_newest_entries_is_detected() {
    for store in stores().await {
        for i in 0..4 {
            store
                .audit(&official(), "policy.read", None, &format!("{i}"), NOW)
                .await
                .unwrap();
        }
        store
            .execute_raw("DELETE FROM audit_log WHERE seq = 4")
            .await
            .unwrap();
        assert_eq!(
            store.verify_audit_chain().await.unwrap().first_broken,
            Some(4),
            "{}",
            store.backend_name()
        );
        store.close().await;
    }
}

/// A bytea/BLOB literal for raw SQL on either store.
fn blob(store: &Store, bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    match store.backend_name() {
        "postgres" => format!("'\\x{hex}'::bytea"),
        _ => format!("X'{hex}'"),
    }
}

/// What an intruder with write access to the database does: rewrites entry `seq`'s purpose and
/// recomputes every hash from there on, and the head, so the chain alone verifies.
async fn rewrite_and_rechain(store: &Store, seq: i64, purpose: &str) {
    let mut entries = store
        .audit_log(&healthcode_store::AuditFilter::default(), 1_000_000)
        .await
        .unwrap();
    entries.reverse();
    let mut prev = vec![0u8; 32];
    for mut entry in entries {
        if entry.seq == seq {
            entry.purpose = purpose.into();
        }
        let hash = healthcode_store::audit::link_hash(&prev, &entry);
        if entry.seq >= seq {
            store
                .execute_raw(&format!(
                    "UPDATE audit_log SET purpose = '{}', prev_hash = {}, hash = {} WHERE seq = {}",
                    entry.purpose,
                    blob(store, &prev),
                    blob(store, &hash),
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
            blob(store, &prev)
        ))
        .await
        .unwrap();
}

/// Appends `n` entries.
async fn reads(store: &Store, n: usize) {
    for i in 0..n {
        store
            .audit(&official(), "policy.read", None, &format!("{i}"), NOW)
            .await
            .unwrap();
    }
}

/// An anchor of the chain's head as it is now, signed (by the node, in its data directory) at `at`.
async fn anchor(store: &Store, at: OffsetDateTime) -> Anchor {
    let (seq, hash) = store.audit_head().await.unwrap();
    Anchor {
        seq,
        hash,
        signed_at: healthcode_store::ms(at),
    }
}

#[tokio::test]
async fn a_rewrite_with_every_later_hash_recomputed_is_found_by_the_anchor() {
    for store in stores().await {
        reads(&store, 5).await;
        let first = anchor(&store, NOW).await;
        reads(&store, 5).await;
        let second = anchor(&store, NOW + time::Duration::minutes(1)).await;
        reads(&store, 2).await;
        let anchors = [first, second];
        let check = store.verify_audit_chain_anchored(&anchors).await.unwrap();
        assert!(check.intact(), "{}: {check:?}", store.backend_name());
        assert_eq!((check.anchors, check.anchored), (2, 10));
        assert_eq!(check.unanchored, 2);

        rewrite_and_rechain(&store, 7, "nothing to see").await;
        // The chain alone says intact: that is the hole the anchors close.
        assert!(store.verify_audit_chain().await.unwrap().intact());
        let check = store.verify_audit_chain_anchored(&anchors).await.unwrap();
        assert_eq!(
            check.findings,
            vec![Finding::DiffersFromAnchor {
                seq: 10,
                since: 6,
                signed_at: healthcode_store::ms(NOW + time::Duration::minutes(1)),
            }],
            "{}",
            store.backend_name()
        );
        assert_eq!(check.first_broken, Some(10));
        store.close().await;
    }
}

#[tokio::test]
async fn cutting_anchored_entries_off_the_end_is_found_even_with_the_head_fixed() {
    for store in stores().await {
        reads(&store, 8).await;
        let anchors = [anchor(&store, NOW).await];
        store
            .execute_raw("DELETE FROM audit_log WHERE seq > 5")
            .await
            .unwrap();
        store
            .execute_raw(
                "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE id = 1",
            )
            .await
            .unwrap();
        assert!(store.verify_audit_chain().await.unwrap().intact());
        let check = store.verify_audit_chain_anchored(&anchors).await.unwrap();
        assert_eq!(
            check.findings,
            vec![Finding::Truncated {
                last: 5,
                anchored: 8,
                signed_at: healthcode_store::ms(NOW),
            }],
            "{}",
            store.backend_name()
        );
        assert_eq!(check.first_broken, Some(6));
        store.close().await;
    }
}

#[tokio::test]
async fn a_deleted_middle_entry_is_named() {
    for store in stores().await {
        reads(&store, 6).await;
        let anchors = [anchor(&store, NOW).await];
        store
            .execute_raw("DELETE FROM audit_log WHERE seq = 3")
            .await
            .unwrap();
        let check = store.verify_audit_chain_anchored(&anchors).await.unwrap();
        assert_eq!(
            check.findings,
            vec![Finding::Missing { seq: 3, count: 1 }],
            "{}",
            store.backend_name()
        );
        assert_eq!((check.entries, check.first_broken), (5, Some(3)));
        store
            .execute_raw("DELETE FROM audit_log WHERE seq IN (4, 5)")
            .await
            .unwrap();
        assert_eq!(
            store.verify_audit_chain().await.unwrap().findings,
            vec![Finding::Missing { seq: 3, count: 3 }]
        );
        store.close().await;
    }
}

#[tokio::test]
async fn concurrent_writers_keep_one_unbroken_chain() {
    for store in stores().await {
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .audit(&official(), "policy.read", None, &format!("{i}"), NOW)
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let check = store.verify_audit_chain().await.unwrap();
        assert_eq!(
            (check.entries, check.first_broken),
            (40, None),
            "{}",
            store.backend_name()
        );
        store.close().await;
    }
}

#[tokio::test]
async fn the_database_file_holds_no_plaintext_identity() {
    let dir = std::env::temp_dir().join(unique("hc_plain"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(
        &format!("sqlite://{}", dir.join("t.db").display()),
        Vault::from_master_key(&[1; 32]),
    )
    .await
    .unwrap();
    let me = Actor::new("self", "resident", "enrollment");
    let person = store.enroll(&adult(), &me, NOW).await.unwrap();
    health_records(&store, &person.id).await;
    store.close().await;
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{} is open to others", path.display());
        }
        bytes.extend(std::fs::read(path).unwrap());
    }
    assert!(
        bytes.windows(3).any(|w| w == b"002"),
        "the document tail is kept for passes"
    );
    for secret in ["张三丰", "11010519491231002X", "13800138000"]
        .into_iter()
        .chain(HEALTH_SECRETS)
    {
        let needle = secret.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{secret} found in the database files"
        );
    }
}

/// What a declaration, an appeal and a staged batch say about a person's health.
const HEALTH_SECRETS: [&str; 4] = [
    "望京街道幸福里9号",
    "持续低烧",
    "那天我在外婆家",
    "华南海鲜市场",
];

/// Records a declaration, an appeal against a contact fact and a staged batch for `person`, each
/// carrying one of `HEALTH_SECRETS`.
async fn health_records(store: &Store, person: &str) {
    let declaration = fact(
        "d1",
        serde_json::json!({"type": "declaration", "temperature_decicelsius": 378,
        "symptoms": [HEALTH_SECRETS[1]], "address": HEALTH_SECRETS[0]}),
    );
    store
        .record_fact(person, &declaration, &official(), NOW)
        .await
        .unwrap();
    store
        .record_fact(person, &close_contact("c1"), &official(), NOW)
        .await
        .unwrap();
    let me = Actor::new("self", "resident", "appeal");
    store
        .file_appeal(person, "c1", HEALTH_SECRETS[2], &me, NOW)
        .await
        .unwrap();
    let mut stay = close_contact("b1");
    if let healthcode_core::FactBody::Contact { venue, .. } = &mut stay.body {
        *venue = HEALTH_SECRETS[3].into();
    }
    let item = healthcode_store::BatchItem {
        person_id: person.into(),
        fact: stay,
    };
    store
        .propose_batch("CDC notice 2020-17", &[item], &official(), NOW)
        .await
        .unwrap();
}

/// Rows of `table` where `condition` holds, on either store.
async fn count(store: &Store, table: &str, condition: &str) -> u64 {
    store
        .execute_raw(&format!("UPDATE {table} SET id = id WHERE {condition}"))
        .await
        .unwrap()
}

#[tokio::test]
async fn health_records_are_sealed_and_bound_to_their_row() {
    for store in stores().await {
        let me = Actor::new("self", "resident", "enrollment");
        let person = store.enroll(&adult(), &me, NOW).await.unwrap();
        health_records(&store, &person.id).await;
        let name = store.backend_name();
        for (table, clear) in [
            ("facts", "body"),
            ("appeals", "reason"),
            ("batches", "items"),
        ] {
            assert_eq!(
                count(&store, table, &format!("{clear} <> ''")).await,
                0,
                "{name}: {table}"
            );
            assert_eq!(
                count(&store, table, &format!("{clear}_sealed IS NULL")).await,
                0,
                "{name}: {table}"
            );
        }
        let facts = store.facts(&person.id).await.unwrap();
        let declared = facts.iter().find(|f| f.id == "d1").unwrap();
        assert!(
            matches!(&declared.body, healthcode_core::FactBody::Declaration { address: Some(a), .. } if a == HEALTH_SECRETS[0]),
            "{name}: {declared:?}"
        );
        let appeals = store.appeals_of(&person.id).await.unwrap();
        assert_eq!(appeals[0].reason, HEALTH_SECRETS[2], "{name}");

        // A sealed body copied into another fact's row does not open there.
        store
            .execute_raw(
                "UPDATE facts SET body_sealed = (SELECT body_sealed FROM facts WHERE id = 'c1') WHERE id = 'd1'",
            )
            .await
            .unwrap();
        assert!(
            matches!(store.facts(&person.id).await, Err(StoreError::Corrupt(_))),
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn rows_an_earlier_version_wrote_in_clear_are_sealed_when_the_store_opens() {
    for store in stores().await {
        let me = Actor::new("self", "resident", "enrollment");
        let person = store.enroll(&adult(), &me, NOW).await.unwrap();
        let body = format!(
            r#"{{"type":"declaration","symptoms":["{}"],"address":"{}"}}"#,
            HEALTH_SECRETS[1], HEALTH_SECRETS[0]
        );
        let contact = serde_json::to_string(&close_contact("c1").body).unwrap();
        for (id, kind, body) in [
            ("d1", "declarations", body.as_str()),
            ("c1", "contacts", contact.as_str()),
        ] {
            store
                .execute_raw(&format!(
                    "INSERT INTO facts (id, person_id, kind, body, recorded_at, legal_basis, actor) \
                     VALUES ('{id}', '{}', '{kind}', '{body}', 0, 'old', 'acct-official')",
                    person.id
                ))
                .await
                .unwrap();
        }
        store
            .execute_raw(&format!(
                "INSERT INTO appeals (id, person_id, fact_id, reason, state, created_at) \
                 VALUES ('a1', '{}', 'c1', '{}', 'open', 0)",
                person.id, HEALTH_SECRETS[2]
            ))
            .await
            .unwrap();
        let name = store.backend_name();
        assert_eq!(store.seal_clear_records().await.unwrap(), 3, "{name}");
        assert_eq!(store.seal_clear_records().await.unwrap(), 0, "{name}");
        assert_eq!(count(&store, "facts", "body <> ''").await, 0, "{name}");
        assert_eq!(count(&store, "appeals", "reason <> ''").await, 0, "{name}");
        let facts = store.facts(&person.id).await.unwrap();
        let declared = facts.iter().find(|f| f.id == "d1").unwrap();
        assert!(
            matches!(&declared.body, healthcode_core::FactBody::Declaration { symptoms, .. } if symptoms == &[HEALTH_SECRETS[1]]),
            "{name}: {facts:?}"
        );
        assert_eq!(
            store.appeal("a1").await.unwrap().unwrap().reason,
            HEALTH_SECRETS[2],
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn accounts_are_found_by_token_until_revoked() {
    for store in stores().await {
        let admin = Actor::new("cli", "admin", "setup");
        let account = store
            .create_account("checkpoint", "Gate 3", "secret-token-1", &admin, NOW)
            .await
            .unwrap();
        let found = store
            .account_by_token("secret-token-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.id.as_str(), found.role.as_str()),
            (account.id.as_str(), "checkpoint")
        );
        assert!(
            store
                .account_by_token("secret-token-2")
                .await
                .unwrap()
                .is_none()
        );
        store
            .revoke_account(&account.id, &admin, NOW)
            .await
            .unwrap();
        assert!(
            store
                .account_by_token("secret-token-1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            store.revoke_account(&account.id, &admin, NOW).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.accounts().await.unwrap().len(), 1);
        store.close().await;
    }
}

/// Logging in reads and then writes; while other writers are busy (the notifier draining its
/// outbox) it waits its turn instead of failing with "database is locked".
#[tokio::test]
async fn logins_wait_for_other_writers_instead_of_failing() {
    let ttl = time::Duration::minutes(5);
    for store in stores().await {
        let mut tasks = Vec::new();
        for n in 0..24 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let phone = format!("139{n:08}");
                // Other writers at the same moment: accounts appended to the audit chain.
                let admin = Actor::new("admin", "admin", "setup");
                store
                    .create_account("auditor", "a", &format!("tok-{n}"), &admin, NOW)
                    .await?;
                store
                    .issue_login_code(
                        &phone,
                        &format!("10.0.0.{n}"),
                        "123456",
                        &code_text("123456"),
                        ttl,
                        limits(5),
                        NOW,
                    )
                    .await?
                    .unwrap();
                store
                    .redeem_login_code(&phone, "123456", &format!("hs_{n}"), ttl, 5, NOW)
                    .await
            }));
        }
        for task in tasks {
            let redeemed = task.await.unwrap().unwrap();
            assert!(redeemed.is_ok(), "{redeemed:?}");
        }
        store.close().await;
    }
}

#[tokio::test]
async fn login_codes_are_limited_and_open_a_session() {
    use healthcode_store::CodeRejection;
    let ttl = time::Duration::minutes(5);
    for store in stores().await {
        let phone = "13800138000";
        assert!(
            store
                .issue_login_code(
                    phone,
                    "client",
                    "123456",
                    &code_text("123456"),
                    ttl,
                    limits(2),
                    NOW
                )
                .await
                .unwrap()
                .is_ok()
        );
        // The code's SMS waits in the outbox for the sender, to the phone, until it expires.
        let lease = time::Duration::minutes(1);
        let sms = store.claim_messages(NOW, lease, 10).await.unwrap();
        assert_eq!(sms.len(), 1);
        assert_eq!(
            (sms[0].outbox, sms[0].phone.as_deref(), &sms[0].text),
            (Outbox::LoginCodes, Some(phone), &code_text("123456"))
        );
        assert_eq!(sms[0].expires_at, Some(NOW + ttl));
        assert!(
            store
                .claim_messages(NOW, lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "held by its lease"
        );
        store
            .mark_sent(Outbox::LoginCodes, std::slice::from_ref(&sms[0].id), NOW)
            .await
            .unwrap();
        let later = NOW + time::Duration::minutes(2);
        assert!(
            store
                .claim_messages(later, lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "sent once"
        );
        // A code an older version queued (a plain-text body) is given up, not retried forever,
        // and does not stop the others.
        let blob = match store.backend_name() {
            "postgres" => "'\\x00'::bytea",
            _ => "x'00'",
        };
        store
            .execute_raw(&format!(
                "INSERT INTO sms_outbox (id, phone_sealed, body_sealed, created_at) \
                 VALUES ('old', {blob}, {blob}, 0)"
            ))
            .await
            .unwrap();
        let other = "13800138001";
        assert!(
            store
                .issue_login_code(
                    other,
                    "client",
                    "654321",
                    &code_text("654321"),
                    ttl,
                    limits(2),
                    later
                )
                .await
                .unwrap()
                .is_ok()
        );
        let claimed = store.claim_messages(later, lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(
            (claimed[0].phone.as_deref(), &claimed[0].text),
            (Some(other), &code_text("654321"))
        );
        let hour = later + time::Duration::hours(1);
        let again = store.claim_messages(hour, lease, 10).await.unwrap();
        assert!(again.iter().all(|m| m.id != "old"), "given up");

        let redeem = |code: &'static str, at: OffsetDateTime| {
            let store = store.clone();
            async move {
                store
                    .redeem_login_code(phone, code, "session-1", time::Duration::DAY, 3, at)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(redeem("000000", NOW).await, Err(CodeRejection::Wrong));
        assert_eq!(
            redeem("123456", NOW + ttl).await,
            Err(CodeRejection::NoCode),
            "expired"
        );
        assert_eq!(redeem("123456", NOW).await, Ok(NOW + time::Duration::DAY));
        assert_eq!(
            redeem("123456", NOW).await,
            Err(CodeRejection::NoCode),
            "used up"
        );
        let session = store
            .session_people("session-1", NOW)
            .await
            .unwrap()
            .expect("the session opened");
        assert_eq!(session.phone_index, store.phone_index_of(phone));
        assert!(session.people.is_empty(), "no one enrolled under it yet");
        assert_eq!(
            store
                .session_phone("session-1", NOW)
                .await
                .unwrap()
                .as_deref(),
            Some(phone),
            "the phone logged in with, sealed with the session"
        );
        assert!(
            store
                .session_people("session-1", NOW + time::Duration::DAY)
                .await
                .unwrap()
                .is_none()
        );

        assert!(
            store
                .issue_login_code(
                    phone,
                    "client",
                    "222222",
                    &code_text("222222"),
                    ttl,
                    limits(2),
                    NOW
                )
                .await
                .unwrap()
                .is_ok()
        );
        let refused = store
            .issue_login_code(
                phone,
                "client",
                "333333",
                &code_text("333333"),
                ttl,
                limits(2),
                NOW,
            )
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            refused.limit,
            healthcode_store::CodeLimit::Phone,
            "rate limited"
        );
        for _ in 0..3 {
            assert_eq!(redeem("999999", NOW).await, Err(CodeRejection::Wrong));
        }
        assert_eq!(
            redeem("222222", NOW).await,
            Err(CodeRejection::Exhausted),
            "too many attempts"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn login_codes_are_keyed_hashes_and_client_addresses_blind_indexes() {
    use sha2::Digest;
    let ttl = time::Duration::minutes(5);
    let vault = Vault::from_master_key(&[42; 32]);
    for store in stores().await {
        let phone = "13800138000";
        store
            .issue_login_code(
                phone,
                "203.0.113.9",
                "123456",
                &code_text("123456"),
                ttl,
                limits(5),
                NOW,
            )
            .await
            .unwrap()
            .unwrap();
        let rows = |column: &str, bytes: Vec<u8>| {
            let sql = format!(
                "UPDATE login_codes SET attempts = attempts WHERE {column} = {}",
                blob(&store, &bytes)
            );
            let store = store.clone();
            async move { store.execute_raw(&sql).await.unwrap() }
        };
        // A dump does not give the code away by hashing all 10^6 candidates.
        assert_eq!(
            rows("code_hash", sha2::Sha256::digest(b"123456").to_vec()).await,
            0
        );
        // The client's address is not there, only its keyed hash.
        assert_eq!(rows("client_index", b"203.0.113.9".to_vec()).await, 0);
        let index = vault.blind_index("login.client", "203.0.113.9");
        assert_eq!(rows("client_index", index).await, 1);
        // The code still opens a session, and only the right one does.
        let redeem = |code: &'static str| {
            let store = store.clone();
            async move {
                store
                    .redeem_login_code(phone, code, "hs_s", time::Duration::DAY, 5, NOW)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            redeem("654321").await,
            Err(healthcode_store::CodeRejection::Wrong)
        );
        assert!(redeem("123456").await.is_ok());
        store.close().await;
    }
}

#[tokio::test]
async fn code_requests_are_limited_per_client_and_overall() {
    use healthcode_store::{CodeLimit, CodeLimits};
    let ttl = time::Duration::minutes(5);
    let limits = CodeLimits {
        per_phone: 5,
        per_client: 2,
        overall: 3,
    };
    for store in stores().await {
        let ask = |phone: &'static str, client: &'static str, at: OffsetDateTime| {
            let store = store.clone();
            async move {
                store
                    .issue_login_code(
                        phone,
                        client,
                        "123456",
                        &code_text("123456"),
                        ttl,
                        limits,
                        at,
                    )
                    .await
                    .unwrap()
            }
        };
        let later = NOW + time::Duration::minutes(10);
        assert!(ask("13800000001", "198.51.100.1", NOW).await.is_ok());
        assert!(ask("13800000002", "198.51.100.1", later).await.is_ok());
        let refused = ask("13800000003", "198.51.100.1", later).await.unwrap_err();
        assert_eq!(
            refused.limit,
            CodeLimit::Client,
            "a third phone from one address"
        );
        assert_eq!(
            refused.retry_after,
            time::Duration::minutes(50),
            "when the first leaves the hour"
        );
        assert!(ask("13800000003", "198.51.100.2", later).await.is_ok());
        let refused = ask("13800000004", "198.51.100.3", later).await.unwrap_err();
        assert_eq!(refused.limit, CodeLimit::Overall, "a fourth code anywhere");
        // An hour after the first, there is room again.
        let hour = NOW + time::Duration::HOUR;
        assert!(ask("13800000004", "198.51.100.3", hour).await.is_ok());
        // Old codes go; the limits count only the last hour anyway.
        assert!(
            store
                .purge_logins(NOW + time::Duration::days(2))
                .await
                .unwrap()
                >= 4
        );
        store.close().await;
    }
}

#[tokio::test]
async fn sessions_end_at_logout_at_expiry_and_with_their_account() {
    let ttl = time::Duration::minutes(5);
    for store in stores().await {
        let admin = Actor::new("cli", "admin", "setup");
        let account = store
            .create_account("health_official", "Dr Li", "api-token-1", &admin, NOW)
            .await
            .unwrap();
        let twelve = time::Duration::hours(12);
        assert_eq!(
            store
                .open_staff_session(&account.id, "hw_a", twelve, NOW)
                .await
                .unwrap(),
            Some(NOW + twelve)
        );
        let found = store
            .staff_session_account("hw_a", NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, account.id);
        assert!(
            store
                .staff_session_account("hw_a", NOW + twelve)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(
            store
                .staff_session_account("api-token-1", NOW)
                .await
                .unwrap()
                .is_none(),
            "the API token is no session"
        );
        assert!(store.end_staff_session("hw_a").await.unwrap());
        assert!(
            store
                .staff_session_account("hw_a", NOW)
                .await
                .unwrap()
                .is_none(),
            "ended"
        );
        assert!(!store.end_staff_session("hw_a").await.unwrap());

        store
            .open_staff_session(&account.id, "hw_b", twelve, NOW)
            .await
            .unwrap();
        store
            .revoke_account(&account.id, &admin, NOW)
            .await
            .unwrap();
        assert!(
            store
                .staff_session_account("hw_b", NOW)
                .await
                .unwrap()
                .is_none(),
            "revoked with its account"
        );
        assert_eq!(
            store
                .open_staff_session(&account.id, "hw_c", twelve, NOW)
                .await
                .unwrap(),
            None
        );

        // A resident session ends at logout.
        store
            .issue_login_code(
                "13800138000",
                "client",
                "123456",
                &code_text("123456"),
                ttl,
                limits(5),
                NOW,
            )
            .await
            .unwrap()
            .unwrap();
        store
            .redeem_login_code("13800138000", "123456", "hs_r", time::Duration::DAY, 5, NOW)
            .await
            .unwrap()
            .unwrap();
        assert!(store.session_people("hs_r", NOW).await.unwrap().is_some());
        assert!(store.end_session("hs_r").await.unwrap());
        assert!(store.session_people("hs_r", NOW).await.unwrap().is_none());
        assert!(!store.end_session("hs_r").await.unwrap());
        store.close().await;
    }
}

fn fact(id: &str, json: serde_json::Value) -> Fact {
    let mut v = json;
    v["id"] = serde_json::json!(id);
    v["recorded_at"] = serde_json::json!("2020-04-05T09:00:00+08:00");
    v["legal_basis"] = serde_json::json!("CDC trace 2020-0412");
    serde_json::from_value(v).unwrap()
}

fn close_contact(id: &str) -> Fact {
    fact(
        id,
        serde_json::json!({"type": "contact", "level": "close", "case_id": "2020-0412", "venue": "Metro Line 1",
        "exposure_start": "2020-04-03T14:02:00+08:00", "exposure_end": "2020-04-03T14:40:00+08:00"}),
    )
}

#[tokio::test]
async fn an_upheld_appeal_retracts_the_fact_and_both_outcomes_are_recorded() {
    use healthcode_store::AppealOutcome;
    let policy = Policy::default_policy().unwrap();
    for store in stores().await {
        let me = Actor::new("self", "resident", "appeal");
        let person = store.enroll(&adult(), &me, NOW).await.unwrap();
        store
            .record_fact(&person.id, &close_contact("c1"), &official(), NOW)
            .await
            .unwrap();
        store
            .record_fact(&person.id, &close_contact("c2"), &official(), NOW)
            .await
            .unwrap();
        assert!(matches!(
            store.file_appeal(&person.id, "nope", "?", &me, NOW).await,
            Err(StoreError::NotFound(_))
        ));
        let a1 = store
            .file_appeal(&person.id, "c1", "I was at home that day", &me, NOW)
            .await
            .unwrap();
        let a2 = store
            .file_appeal(&person.id, "c2", "wrong train", &me, NOW)
            .await
            .unwrap();
        assert_eq!(store.open_appeals(10).await.unwrap().len(), 2);
        let later = NOW + time::Duration::hours(1);
        let retraction = fact(
            "r1",
            serde_json::json!({"type": "retraction", "retracts": "c1", "reason": "phone location confirms"}),
        );
        let d1 = store
            .decide_appeal(
                &a1.id,
                AppealOutcome::FactRetracted,
                "phone location confirms",
                Some((&retraction, None)),
                &official(),
                later,
            )
            .await
            .unwrap();
        assert_eq!(d1.state, "fact_retracted");
        let d2 = store
            .decide_appeal(
                &a2.id,
                AppealOutcome::FactUpheld,
                "ticket record matches",
                None,
                &official(),
                later,
            )
            .await
            .unwrap();
        assert_eq!(
            (d2.state.as_str(), d2.decision_reason.as_deref()),
            ("fact_upheld", Some("ticket record matches"))
        );
        assert!(matches!(
            store
                .decide_appeal(
                    &a1.id,
                    AppealOutcome::FactUpheld,
                    "again",
                    None,
                    &official(),
                    later
                )
                .await,
            Err(StoreError::Conflict(_))
        ));
        let status = policy.evaluate(
            &store.facts(&person.id).await.unwrap(),
            later + time::Duration::MINUTE,
        );
        assert_eq!(
            status
                .reasons
                .iter()
                .map(|r| r.facts[0].as_str())
                .collect::<Vec<_>>(),
            ["c2"],
            "{}",
            store.backend_name()
        );
        assert_eq!(store.appeals_of(&person.id).await.unwrap().len(), 2);
        store.close().await;
    }
}

#[tokio::test]
async fn a_batch_needs_a_second_official_and_applies_atomically() {
    use healthcode_store::BatchItem;
    for store in stores().await {
        let me = Actor::new("self", "resident", "enrollment");
        let a = store.enroll(&adult(), &me, NOW).await.unwrap();
        let mut other = adult();
        other.document = resident_id("440524198001010013");
        other.phone = None;
        let b = store.enroll(&other, &me, NOW).await.unwrap();
        let items = vec![
            BatchItem {
                person_id: a.id.clone(),
                fact: close_contact("b1"),
            },
            BatchItem {
                person_id: b.id.clone(),
                fact: close_contact("b2"),
            },
        ];
        let first = official();
        let batch = store
            .propose_batch("CDC notice 2020-17", &items, &first, NOW)
            .await
            .unwrap();
        assert_eq!((batch.state.as_str(), batch.size), ("awaiting_approval", 2));
        assert!(
            store.facts(&a.id).await.unwrap().is_empty(),
            "nothing lands before approval"
        );
        assert!(matches!(
            store.approve_batch(&batch.id, &first, NOW).await,
            Err(StoreError::Conflict(_))
        ));
        let second = Actor::new("acct-second", "health_official", "review of notice 2020-17");
        let (done, applied) = store.approve_batch(&batch.id, &second, NOW).await.unwrap();
        assert_eq!(applied.len(), batch.size as usize);
        assert_eq!(
            (done.state.as_str(), done.approved_by.as_deref()),
            ("applied", Some("acct-second"))
        );
        assert_eq!(store.facts(&a.id).await.unwrap().len(), 1);
        assert_eq!(store.facts(&b.id).await.unwrap().len(), 1);
        assert!(matches!(
            store.approve_batch(&batch.id, &second, NOW).await,
            Err(StoreError::Conflict(_))
        ));

        // All or nothing: one bad item (an unknown person) and no fact lands.
        let bad = vec![
            BatchItem {
                person_id: a.id.clone(),
                fact: close_contact("b3"),
            },
            BatchItem {
                person_id: "nobody".into(),
                fact: close_contact("b4"),
            },
        ];
        assert!(store.record_facts(&bad, &first, NOW).await.is_err());
        assert_eq!(
            store.facts(&a.id).await.unwrap().len(),
            1,
            "{}",
            store.backend_name()
        );
        // Entries appended many to a transaction (its head written once) chain like single
        // ones, and the head names the last of them.
        let check = store.verify_audit_chain().await.unwrap();
        assert_eq!(check.first_broken, None, "{}", store.backend_name());
        let about_b = store.audit_about(&b.id).await.unwrap();
        assert!(about_b.iter().any(|e| e.action == "fact.record"));
        store.close().await;
    }
}

#[tokio::test]
async fn venues_and_their_checkpoints() {
    use healthcode_store::NewVenue;
    for store in stores().await {
        let manager = Actor::new("acct-manager", "venue_manager", "venue registration");
        let new = NewVenue {
            name: "地铁1号线武林广场站".into(),
            address: "杭州市拱墅区武林广场".into(),
            region: "330105".into(),
            category: "metro".into(),
        };
        let venue = store.create_venue(&new, &manager, NOW).await.unwrap();
        assert_eq!(store.venue(&venue.id).await.unwrap().unwrap(), venue);
        assert_eq!(store.venues(10).await.unwrap().len(), 1);
        let gate = store
            .create_checkpoint(&venue.id, "Gate A", "token-gate-a", &manager, NOW)
            .await
            .unwrap();
        let account = store
            .account_by_token("token-gate-a")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.role, "checkpoint");
        assert_eq!(
            store
                .checkpoint_of_account(&account.id)
                .await
                .unwrap()
                .unwrap(),
            gate
        );
        assert_eq!(store.checkpoints_of(&venue.id).await.unwrap(), vec![gate]);
        assert!(matches!(
            store
                .create_checkpoint("nowhere", "Gate B", "token-b", &manager, NOW)
                .await,
            Err(StoreError::NotFound(_))
        ));
        store.close().await;
    }
}

/// The bilingual SMS that carries a login code.
fn code_text(code: &str) -> healthcode_core::Text {
    healthcode_core::Text {
        zh: format!("验证码 {code}"),
        en: format!("code {code}"),
    }
}

/// The two backends' migrations describe the same tables, column for column: each table's
/// columns by name and whether they may be NULL (types differ only as BLOB and BYTEA do).
#[tokio::test]
async fn both_backends_migrations_describe_the_same_tables() {
    use sqlx::{Connection, Row};
    use std::collections::BTreeMap;
    type Tables = BTreeMap<String, Vec<(String, bool)>>;
    let Some(pg_url) = healthcode_testkit::fresh_postgres().await else {
        return; // one backend only here: nothing to compare
    };
    let dir = healthcode_testkit::temp_dir("hc_schema");
    let sqlite_url = format!("sqlite://{}", dir.join("schema.db").display());
    let vault = || Vault::from_master_key(&[3; 32]);
    Store::open(&sqlite_url, vault())
        .await
        .unwrap()
        .close()
        .await;
    Store::open(&pg_url, vault()).await.unwrap().close().await;

    let mut sqlite = sqlx::SqliteConnection::connect(&sqlite_url).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(&mut sqlite)
    .await
    .unwrap();
    let mut lite = Tables::new();
    for table in names {
        let rows = sqlx::query(&format!("PRAGMA table_info({table})"))
            .fetch_all(&mut sqlite)
            .await
            .unwrap();
        let mut columns: Vec<(String, bool)> = rows
            .iter()
            .map(|r| {
                let not_null: i64 = r.get("notnull");
                let primary: i64 = r.get("pk");
                (r.get("name"), not_null == 0 && primary == 0)
            })
            .collect();
        columns.sort();
        lite.insert(table, columns);
    }

    let mut pg = sqlx::PgConnection::connect(&pg_url).await.unwrap();
    let rows = sqlx::query(
        "SELECT c.table_name::text AS t, c.column_name::text AS col, c.is_nullable::text AS n \
         FROM information_schema.columns c JOIN pg_class k ON k.relname = c.table_name \
         WHERE c.table_schema = 'public' AND NOT k.relispartition AND c.table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap();
    let mut post = Tables::new();
    for r in rows {
        let nullable: String = r.get("n");
        post.entry(r.get("t"))
            .or_default()
            .push((r.get("col"), nullable == "YES"));
    }
    for columns in post.values_mut() {
        columns.sort();
    }
    assert!(lite.len() > 15 && lite.contains_key("facts"), "{lite:?}");
    assert_eq!(lite, post, "SQLite (left) and PostgreSQL (right) differ");
}

#[tokio::test]
async fn the_hubs_records_refuse_a_replay_a_second_decision_and_a_reused_sequence() {
    use healthcode_store::{HubList, HubProposal, HubRegion, HubRevocation};
    for store in stores().await {
        let name = store.backend_name();
        let now = datetime!(2020-04-08 10:00 UTC);
        let region = Actor::new("region:420100", "region_node", "test");
        let official = Actor::new("hub-official-1", "hub_official", "test");
        let proposal = HubProposal {
            id: "p1".into(),
            region: "420100".into(),
            registration: r#"{"region":"420100"}"#.into(),
            signed: vec![1, 2, 3],
            state: "awaiting_approval".into(),
            proposed_at: now,
            decided_by: None,
            decided_at: None,
            decision_reason: None,
        };
        store.propose_region(&proposal, &region, now).await.unwrap();
        assert!(
            matches!(
                store.propose_region(&proposal, &region, now).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}: the same request twice"
        );
        assert_eq!(
            store
                .hub_proposals(Some("awaiting_approval"))
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );
        assert!(
            store
                .hub_proposals(Some("approved"))
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let entry = HubRegion {
            region: "420100".into(),
            registration: proposal.registration.clone(),
            node_key: "key".into(),
            proposal_id: "p1".into(),
            approved_by: official.id.clone(),
            approved_at: now,
        };
        store
            .decide_region_proposal("p1", Some(&entry), "checked", &official, now)
            .await
            .unwrap();
        assert!(
            matches!(
                store
                    .decide_region_proposal("p1", None, "again", &official, now)
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "{name}: decided once"
        );
        let decided = store.hub_proposal("p1").await.unwrap().unwrap();
        assert_eq!(decided.state, "approved", "{name}");
        assert_eq!(
            decided.decided_by.as_deref(),
            Some("hub-official-1"),
            "{name}"
        );
        assert_eq!(store.hub_regions().await.unwrap(), vec![entry], "{name}");

        let revocation = HubRevocation {
            kid: "AAAAAAAAAAA=".into(),
            region: "420100".into(),
            revoked_by: official.id.clone(),
            revoked_at: now,
            reason: "exposed".into(),
        };
        store
            .revoke_hub_key(&revocation, &official, now)
            .await
            .unwrap();
        assert!(
            matches!(
                store.revoke_hub_key(&revocation, &official, now).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );
        assert_eq!(
            store.hub_revocations().await.unwrap(),
            vec![revocation],
            "{name}"
        );

        assert_eq!(store.latest_hub_list().await.unwrap(), None, "{name}");
        let list = |sequence| HubList {
            sequence,
            issued_at: now,
            valid_until: now + time::Duration::hours(24),
            signed: vec![sequence as u8],
        };
        store
            .publish_hub_list(&list(1), &official, now)
            .await
            .unwrap();
        store
            .publish_hub_list(&list(2), &official, now)
            .await
            .unwrap();
        assert!(
            matches!(
                store.publish_hub_list(&list(2), &official, now).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}: two publications of one sequence"
        );
        assert_eq!(
            store.latest_hub_list().await.unwrap(),
            Some(list(2)),
            "{name}"
        );
        // Every change is on the audit chain.
        let check = store.verify_audit_chain().await.unwrap();
        assert!(check.intact(), "{name}: {check:?}");
    }
}

#[tokio::test]
async fn messages_for_other_regions_wait_until_sent_and_are_taken_once() {
    use healthcode_store::{Received, RegionMessage};
    for store in stores().await {
        let name = store.backend_name();
        let now = datetime!(2020-04-08 10:00 UTC);
        let actor = Actor::new("federation", "system", "test");
        let message = RegionMessage {
            id: "m1".into(),
            to_region: "420100".into(),
            kind: "contact".into(),
            body: br#"{"subject":"00ff"}"#.to_vec(),
            attempts: 0,
            created_at: now,
        };
        assert_eq!(
            store
                .queue_for_regions(std::slice::from_ref(&message), &actor, now)
                .await
                .unwrap(),
            1
        );
        // Queued again (a trace run twice): still one.
        assert_eq!(
            store
                .queue_for_regions(std::slice::from_ref(&message), &actor, now)
                .await
                .unwrap(),
            0
        );
        let lease = time::Duration::minutes(1);
        let claimed = store.claim_for_regions(now, lease, 10).await.unwrap();
        assert_eq!(
            claimed,
            vec![message.clone()],
            "{name}: the body opens as sealed"
        );
        // Held by the lease: another drain does not take it.
        assert!(
            store
                .claim_for_regions(now, lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let retry = now + time::Duration::seconds(10);
        store
            .mark_region_failed("m1", "down", Some(retry))
            .await
            .unwrap();
        assert!(
            store
                .claim_for_regions(now, lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            store
                .claim_for_regions(retry, lease, 10)
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );
        assert_eq!(
            store.undelivered_for_regions().await.unwrap(),
            vec![("pending".into(), 1)]
        );
        store.mark_region_sent(&["m1".into()], retry).await.unwrap();
        assert!(
            store.undelivered_for_regions().await.unwrap().is_empty(),
            "{name}"
        );

        let received = Received {
            from_region: "110000",
            id: "m9",
            kind: "contact",
            outcome: "recorded",
            subject: None,
        };
        assert_eq!(
            store
                .received_from_region("110000", &["m9".into()])
                .await
                .unwrap(),
            std::collections::HashMap::new()
        );
        let first = store
            .note_received_from_region(&[received], &actor, now)
            .await
            .unwrap();
        assert_eq!(first, vec!["recorded"]);
        let again = Received {
            outcome: "unknown_subject",
            ..received
        };
        assert_eq!(
            store
                .note_received_from_region(&[again], &actor, now)
                .await
                .unwrap(),
            vec!["recorded"],
            "{name}: the first outcome stands"
        );
    }
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_runs_out() {
    for store in stores().await {
        let minute = time::Duration::minutes(1);
        let (a, b) = ("node-a", "node-b");
        assert!(
            store
                .take_lease("retention", a, NOW, NOW + minute)
                .await
                .unwrap()
        );
        assert!(
            !store
                .take_lease("retention", b, NOW, NOW + minute)
                .await
                .unwrap(),
            "another node waits while the lease holds"
        );
        assert!(
            store
                .take_lease("schedule", b, NOW, NOW + minute)
                .await
                .unwrap(),
            "each job has its own lease"
        );
        let later = NOW + time::Duration::seconds(30);
        assert!(
            store
                .take_lease("retention", a, later, later + minute)
                .await
                .unwrap(),
            "the holder renews it"
        );
        let renewed_end = later + minute;
        assert!(
            !store
                .take_lease("retention", b, NOW + minute, NOW + 2 * minute)
                .await
                .unwrap()
        );
        assert!(
            store
                .take_lease("retention", b, renewed_end, renewed_end + minute)
                .await
                .unwrap(),
            "a lease run out goes to the next node to ask"
        );
        assert!(
            !store
                .take_lease("retention", a, renewed_end, renewed_end + minute)
                .await
                .unwrap()
        );
    }
}
