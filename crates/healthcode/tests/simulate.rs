//! `healthcode simulate` as a benchmark author runs it: a small city into a real store (SQLite,
//! and PostgreSQL when HEALTHCODE_TEST_DATABASE_URL is set), then the store read back with SQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use healthcode_core::Policy;
use healthcode_core::identity::{Document, DocumentKind, mask_name};
use healthcode_store::{Actor, Store, Vault};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use time::OffsetDateTime;
use time::macros::datetime;

const PEOPLE: i64 = 1_500;
const VENUES: i64 = 300;
const DAYS: i64 = 3;
const PER_DAY: i64 = 3;
/// The window: the three days before 15 March 2026, China Standard Time.
const UNTIL: &str = "2026-03-15";
const END: OffsetDateTime = datetime!(2026-03-15 00:00 +8);

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hc_sim_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn simulate(dir: &Path, url: Option<&str>, seed: u64, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_healthcode"));
    cmd.arg("--data-dir").arg(dir);
    if let Some(url) = url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.env_remove("HEALTHCODE_TEST_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .args(["simulate", "--until", UNTIL, "--seed", &seed.to_string()])
        .args([
            "--people",
            &PEOPLE.to_string(),
            "--venues",
            &VENUES.to_string(),
        ])
        .args(["--days", &DAYS.to_string()])
        .args(["--visits-per-day", &PER_DAY.to_string()])
        .args(extra);
    cmd.output().unwrap()
}

fn url_of(dir: &Path, pg: Option<&str>) -> String {
    pg.map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("healthcode.db").display()))
}

enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// Runs one query on whichever store, decoding rows as `$t`.
macro_rules! fetch {
    ($db:expr, $t:ty, $sql:expr) => {
        match $db {
            Db::Sqlite(c) => sqlx::query_as::<_, $t>($sql)
                .fetch_all(&mut *c)
                .await
                .unwrap(),
            Db::Postgres(c) => sqlx::query_as::<_, $t>($sql)
                .fetch_all(&mut *c)
                .await
                .unwrap(),
        }
    };
}

impl Db {
    async fn open(url: &str) -> Db {
        if url.starts_with("postgres") {
            Db::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        } else {
            Db::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        }
    }

    async fn count(&mut self, sql: &str) -> i64 {
        fetch!(self, (i64,), sql)[0].0
    }

    /// Every visit's subject, venue and time, in a stable order.
    async fn visits(&mut self) -> Vec<(String, String, i64)> {
        let mut rows = fetch!(
            self,
            (String, String, i64),
            "SELECT subject, venue_id, at FROM visits"
        );
        rows.sort();
        rows
    }
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Everything a simulated store must be, whichever backend holds it.
async fn check_city(dir: &Path, url: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("window   2026-03-12T00:00:00+08:00 .. 2026-03-15T00:00:00+08:00 (start 2026-03-11T16:00:00Z)"), "the start instant is printed: {stdout}");
    assert!(stdout.contains("visits"), "{stdout}");
    let mut db = Db::open(url).await;
    let visits = PEOPLE * DAYS * PER_DAY;
    assert_eq!(db.count("SELECT COUNT(*) FROM people").await, PEOPLE);
    assert_eq!(db.count("SELECT COUNT(*) FROM venues").await, VENUES);
    assert_eq!(db.count("SELECT COUNT(*) FROM visits").await, visits);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM people WHERE enrollment = 'confirmed' AND document_kind = 'resident_id'")
            .await,
        PEOPLE
    );

    // Every visit is a person's (by pseudonym) at a registered venue, inside the window, as a
    // scan writes it.
    let orphans = "SELECT COUNT(*) FROM visits v WHERE \
        NOT EXISTS (SELECT 1 FROM people p WHERE p.pseudonym = v.subject) \
        OR NOT EXISTS (SELECT 1 FROM venues w WHERE w.id = v.venue_id)";
    assert_eq!(db.count(orphans).await, 0);
    let start = ms(END) - DAYS * 86_400_000;
    let (first, last) = fetch!(&mut db, (i64, i64), "SELECT MIN(at), MAX(at) FROM visits")[0];
    assert!(
        first >= start && last < ms(END),
        "{first}..{last} outside {start}..{}",
        ms(END)
    );
    assert!(
        first < start + 86_400_000 && last >= ms(END) - 86_400_000,
        "every day has visits"
    );
    let odd = "SELECT COUNT(*) FROM visits WHERE direction <> 'entry' OR via <> 'scan' \
        OR colour <> 'green' OR NOT confirmed OR flag IS NOT NULL OR region <> '330100' \
        OR masked_name NOT LIKE '%*%' OR recorded_at <> at";
    assert_eq!(db.count(odd).await, 0);
    // Ids as record_scans makes them: 32 hex characters, the time first, all distinct.
    let ids = fetch!(&mut db, (String, i64), "SELECT id, at FROM visits");
    assert!(
        ids.iter()
            .all(|(id, at)| id.len() == 32 && id[..12] == format!("{at:012x}"))
    );
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT id) FROM visits").await,
        visits
    );

    // Presence lasts the default policy's dwell time of the venue's category.
    let policy = Policy::default_policy().unwrap();
    let dwells = fetch!(
        &mut db,
        (String, i64),
        "SELECT DISTINCT w.category, v.until_at - v.at FROM visits v JOIN venues w ON w.id = v.venue_id"
    );
    assert!(dwells.len() >= 8, "most categories are visited: {dwells:?}");
    for (category, dwell) in &dwells {
        let minutes = healthcode_core::visits::dwell_minutes(policy.document(), category);
        assert_eq!(*dwell, minutes * 60_000, "{category}");
    }

    // Skew: the busiest 1% of venues take far more than 1% of the visits.
    let per_venue = fetch!(
        &mut db,
        (i64,),
        "SELECT COUNT(*) FROM visits GROUP BY venue_id ORDER BY COUNT(*) DESC"
    );
    let top: i64 = per_venue
        .iter()
        .take((VENUES / 100) as usize)
        .map(|c| c.0)
        .sum();
    assert!(
        top * 100 >= visits * 10,
        "the top 1% of venues took only {top} of {visits} visits"
    );
    // People keep to their places: 9 visits spread at random over 300 venues would be at 9
    // distinct venues a person (98% of the visits); habits bring people back to the same places.
    let pairs = db
        .count("SELECT COUNT(*) FROM (SELECT DISTINCT subject, venue_id FROM visits) d")
        .await;
    assert!(
        pairs * 4 < visits * 3,
        "{pairs} distinct person-venue pairs in {visits} visits"
    );

    // The visit log's indexes are back, as the migration defines them.
    if url.starts_with("postgres") {
        let names = fetch!(
            &mut db,
            (String,),
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'visits' ORDER BY 1"
        );
        let names: Vec<&str> = names.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(names, ["visits_id", "visits_subject", "visits_venue"]);
        let partitions = db
            .count("SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE 'visits_d%'")
            .await;
        assert!(partitions >= DAYS, "{partitions} day partitions");
        let indexed = db
            .count("SELECT COUNT(*) FROM pg_indexes WHERE tablename LIKE 'visits_d%'")
            .await;
        assert_eq!(indexed, 3 * partitions, "every partition has its indexes");
    } else {
        let names = fetch!(
            &mut db,
            (String, String),
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'visits' ORDER BY name"
        );
        // As the migrations leave them: 0006 replaces 0005's venue index with a covering one.
        let migration = [
            include_str!("../../healthcode-store/migrations/sqlite/0005_visits.sql"),
            include_str!("../../healthcode-store/migrations/sqlite/0006_tracing.sql"),
        ]
        .concat();
        for (name, sql) in &names {
            assert!(migration.contains(&format!("{sql};")), "{name}: {sql}");
        }
        let names: Vec<&str> = names.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(
            names,
            ["visits_at", "visits_id", "visits_subject", "visits_venue"]
        );
        // Written in time order (ids too), which let the time-led indexes stay during the load.
        let written = fetch!(&mut db, (String,), "SELECT id FROM visits ORDER BY rowid");
        assert!(written.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    // Sealed as enrollment seals: the store opens a person's real document and name.
    let vault = Vault::load_or_create(&dir.join("data.key")).unwrap();
    let store = Store::open(url, vault).await.unwrap();
    let people = fetch!(
        &mut db,
        (String,),
        "SELECT id FROM people ORDER BY id LIMIT 20"
    );
    let actor = Actor::new("test", "admin", "simulate test");
    for (id,) in people {
        let detail = store.person_detail(&id, &actor, END).await.unwrap();
        let number = detail.document_number.unwrap();
        assert!(Document::parse(DocumentKind::ResidentId, &number, None, END.date()).is_ok());
        assert_eq!(detail.person.document_tail.as_deref(), Some(&number[14..]));
        assert_eq!(detail.person.name_masked, mask_name(&detail.name));
    }
    // The visit log answers through the store's own query.
    let (venue,) = fetch!(&mut db, (String,), "SELECT venue_id FROM visits LIMIT 1")[0].clone();
    let at_venue = store
        .visits_at_venue(&venue, END - time::Duration::days(DAYS), END, 100_000)
        .await
        .unwrap();
    assert!(!at_venue.is_empty());
    assert!(
        store
            .verify_audit_chain()
            .await
            .unwrap()
            .first_broken
            .is_none()
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_city_is_reproducible_skewed_and_indexed_on_both_stores() {
    let a = data_dir("a");
    let out = simulate(&a, None, 7, &[]);
    check_city(&a, &url_of(&a, None), &out).await;
    let visits_a = Db::open(&url_of(&a, None)).await.visits().await;

    let b = data_dir("b");
    let out = simulate(&b, None, 7, &[]);
    assert!(out.status.success());
    let visits_b = Db::open(&url_of(&b, None)).await.visits().await;
    assert_eq!(visits_a, visits_b, "the same seed gives the same visits");

    let c = data_dir("c");
    let out = simulate(&c, None, 8, &[]);
    assert!(out.status.success());
    let visits_c = Db::open(&url_of(&c, None)).await.visits().await;
    let same = visits_a
        .iter()
        .zip(&visits_c)
        .filter(|(x, y)| x == y)
        .count();
    assert_eq!(
        same, 0,
        "another seed gives other people, venues and visits"
    );

    if let Some(pg) = healthcode_testkit::fresh_postgres().await {
        let d = data_dir("d");
        let out = simulate(&d, Some(&pg), 7, &[]);
        check_city(&d, &pg, &out).await;
        let visits_d = Db::open(&pg).await.visits().await;
        assert_eq!(
            visits_a, visits_d,
            "the same seed gives the same visits on PostgreSQL"
        );
        let _ = std::fs::remove_dir_all(d);
    }
    for dir in [a, b, c] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_people_is_refused_unless_appending() {
    let dir = data_dir("refuse");
    let url = url_of(&dir, None);
    assert!(simulate(&dir, None, 1, &[]).status.success());
    let again = simulate(&dir, None, 2, &[]);
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("error[store_not_empty]") && stderr.contains("--append"),
        "{stderr}"
    );
    assert!(stderr.contains("存储中已有"), "{stderr}");
    let mut db = Db::open(&url).await;
    assert_eq!(db.count("SELECT COUNT(*) FROM people").await, PEOPLE);

    let appended = simulate(&dir, None, 2, &["--append"]);
    assert!(
        appended.status.success(),
        "{}",
        String::from_utf8_lossy(&appended.stderr)
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM people").await, 2 * PEOPLE);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM visits").await,
        2 * PEOPLE * DAYS * PER_DAY
    );
    let _ = std::fs::remove_dir_all(dir);
}
