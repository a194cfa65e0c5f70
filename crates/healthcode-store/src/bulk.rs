//! Bulk loading, for synthetic cities and benchmarks: people, venues and visits written many rows
//! per statement, with ids and times chosen by the caller (so a seeded generator reproduces the
//! same store). Each call is audited as a whole, not row by row.
//!
//! Visits, the big table, load without their indexes, which come back at the end exactly as the
//! migration defines them: building an index once from sorted data is far cheaper than 40 million
//! random insertions into it. SQLite takes multi-row INSERTs in large transactions, with
//! `synchronous = OFF` on the loading connection only; PostgreSQL takes COPY.

use crate::audit::{self, Actor};
use crate::db::placeholders;
use crate::people::{PERSON_COLUMNS, bind_person};
use crate::visits::MS_PER_DAY;
use crate::{NewPerson, Store, StoreError, Venue, db, ms, unique_violation};
use healthcode_core::visits::Direction;
use sqlx::Connection;
use sqlx::pool::PoolConnection;
use std::collections::HashSet;
use std::sync::Arc;
use time::OffsetDateTime;

/// A person to enroll in bulk, under ids the caller chose.
#[derive(Debug, Clone)]
pub struct BulkPerson {
    pub id: String,
    pub pseudonym: String,
    pub enrolled_at: OffsetDateTime,
    pub person: NewPerson,
}

/// A visit for the bulk loader: every column of the log. The strings that repeat from row to row
/// are shared.
#[derive(Debug, Clone)]
pub struct BulkVisit {
    pub id: String,
    pub subject: Arc<str>,
    pub region: Arc<str>,
    pub venue_id: Arc<str>,
    pub direction: Direction,
    /// `scan` or `checkin`.
    pub via: &'static str,
    pub source: Arc<str>,
    pub at: OffsetDateTime,
    pub until: OffsetDateTime,
    pub colour: Arc<str>,
    pub masked_name: Arc<str>,
    /// Why it does not count as presence until confirmed; `None` is confirmed.
    pub flag: Option<String>,
    pub recorded_at: OffsetDateTime,
}

/// Rows per multi-row INSERT of people and venues (13 and 7 columns).
const CHUNK: usize = 500;
/// Rows per multi-row INSERT of visits on SQLite: 14 × 2,000 binds, below its limit of 32,766.
const VISIT_CHUNK: usize = 2_000;
const VISIT_COLUMNS: &str = "id, subject, region, venue_id, direction, via, source, at, until_at, \
     colour, masked_name, flag, confirmed, recorded_at";

/// The visit log's indexes as its migrations leave them: (name, statement), a later migration's
/// definition replacing an earlier one of the same name.
fn visit_indexes(backend: &db::Backend) -> Vec<(String, String)> {
    let migrations = match backend {
        db::Backend::Sqlite(_) => [
            include_str!("../migrations/sqlite/0005_visits.sql"),
            include_str!("../migrations/sqlite/0006_tracing.sql"),
        ],
        db::Backend::Postgres(_) => [
            include_str!("../migrations/postgres/0005_visits.sql"),
            include_str!("../migrations/postgres/0006_tracing.sql"),
        ],
    };
    index_statements(&migrations.concat())
}

/// Whether an index's first column grows with time: the visit's time, or its id, which begins
/// with the time.
fn time_led(create: &str) -> bool {
    create.contains("ON visits (at") || create.contains("ON visits (id")
}

/// The order in which a bulk load's visits arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitOrder {
    Any,
    /// Nondecreasing in time, ids too (their time prefix first).
    ByTime,
}

fn index_statements(migrations: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in migrations
        .lines()
        .filter(|l| l.starts_with("CREATE INDEX visits_"))
    {
        let Some(name) = line.split_whitespace().nth(2) else {
            continue;
        };
        let create = line.trim_end_matches(';').to_owned();
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(held) => held.1 = create,
            None => out.push((name.to_owned(), create)),
        }
    }
    out
}

impl Store {
    /// How many people are enrolled.
    pub async fn people_count(&self) -> Result<i64, StoreError> {
        Ok(db::with_pool!(&self.backend, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM people").fetch_one(pool).await?
        }))
    }

    /// Starts a bulk load: takes one connection, sets it up for speed and drops the visit log's
    /// indexes (`BulkLoader::finish` rebuilds them). With `VisitOrder::ByTime` the indexes that
    /// lead with the time (`at`, and `id`, which begins with it) stay: time-ordered rows land at
    /// their right edge, cheaper than a rebuild that reads the whole table again. Meant for a
    /// store nothing else is writing to: until `finish`, lookups by subject or venue scan the
    /// whole visit log.
    pub async fn bulk_loader(
        &self,
        actor: &Actor,
        order: VisitOrder,
    ) -> Result<BulkLoader, StoreError> {
        let conn = match &self.backend {
            db::Backend::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                // This connection only: the pool's others keep synchronous = FULL. A crash
                // mid-load may lose the load, which is started over on a fresh store anyway.
                for pragma in [
                    "PRAGMA synchronous = OFF",
                    "PRAGMA cache_size = -1048576",
                    "PRAGMA threads = 2",
                ] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Loading::Sqlite(conn)
            }
            db::Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                for set in [
                    "SET synchronous_commit = off",
                    "SET maintenance_work_mem = '1GB'",
                ] {
                    sqlx::query(set).execute(&mut *conn).await?;
                }
                Loading::Postgres(conn)
            }
        };
        let mut loader = BulkLoader {
            store: self.clone(),
            conn,
            actor: actor.clone(),
            indexes: visit_indexes(&self.backend)
                .into_iter()
                .filter(|(_, create)| order == VisitOrder::Any || !time_led(create))
                .collect(),
            visits: 0,
        };
        for (name, _) in &loader.indexes {
            let drop = format!("DROP INDEX IF EXISTS {name}");
            with_conn!(&mut loader.conn, c => {
                sqlx::query(&drop).execute(&mut **c).await?;
            });
        }
        Ok(loader)
    }
}

enum Loading {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

/// Runs `$body` with `$c` bound to the loader's connection, whichever backend it is.
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Loading::Sqlite($c) => $body,
            Loading::Postgres($c) => $body,
        }
    };
}
use with_conn;

/// A bulk load under way, on a connection of its own. Each batch is one transaction with its
/// own audit entry; `finish` rebuilds the visit log's indexes.
pub struct BulkLoader {
    store: Store,
    conn: Loading,
    actor: Actor,
    indexes: Vec<(String, String)>,
    visits: u64,
}

impl std::fmt::Debug for BulkLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoader")
            .field("visits", &self.visits)
            .finish()
    }
}

impl BulkLoader {
    /// Enrolls people, sealed as `enroll` seals them. An id, pseudonym or document already
    /// enrolled is a conflict and nothing of the batch lands.
    pub async fn people(
        &mut self,
        people: &[BulkPerson],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let rows: Vec<_> = people
            .iter()
            .map(|p| {
                self.store
                    .person_row(p.id.clone(), p.pseudonym.clone(), &p.person, p.enrolled_at)
            })
            .collect();
        let detail = format!("{} people enrolled in bulk", rows.len());
        let actor = &self.actor;
        let backend = &self.store.backend;
        with_conn!(&mut self.conn, c => {
            let mut tx = c.begin().await?;
            for chunk in rows.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO people ({PERSON_COLUMNS}) VALUES {}",
                    placeholders(backend, chunk.len(), 13)
                );
                let mut q = sqlx::query(&sql);
                for (person, sealed) in chunk {
                    q = bind_person!(q, person, sealed);
                }
                q.execute(&mut *tx)
                    .await
                    .map_err(|e| unique_violation(e, "a person or document is already enrolled"))?;
            }
            audit::append(&mut *tx, ms(now), actor, "person.bulk_enroll", None, detail).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Registers venues under the ids, managers and times they carry.
    pub async fn venues(
        &mut self,
        venues: &[Venue],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let detail = format!("{} venues registered in bulk", venues.len());
        let actor = &self.actor;
        let backend = &self.store.backend;
        with_conn!(&mut self.conn, c => {
            let mut tx = c.begin().await?;
            for chunk in venues.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO venues (id, name, address, region, category, manager_id, created_at) VALUES {}",
                    placeholders(backend, chunk.len(), 7)
                );
                let mut q = sqlx::query(&sql);
                for v in chunk {
                    q = q.bind(&v.id).bind(&v.name).bind(&v.address).bind(&v.region)
                        .bind(&v.category).bind(&v.manager_id).bind(ms(v.created_at));
                }
                q.execute(&mut *tx)
                    .await
                    .map_err(|e| unique_violation(e, "a venue id is already taken"))?;
            }
            audit::append(&mut *tx, ms(now), actor, "venue.bulk_create", None, detail).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Writes visits: multi-row INSERTs on SQLite, COPY on PostgreSQL, in one transaction.
    pub async fn visits(
        &mut self,
        visits: &[BulkVisit],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let days: HashSet<i64> = visits
            .iter()
            .map(|v| ms(v.at).div_euclid(MS_PER_DAY))
            .collect();
        self.store.ensure_partitions(days).await?;
        let detail = format!("{} visits loaded in bulk", visits.len());
        let actor = &self.actor;
        match &mut self.conn {
            Loading::Sqlite(conn) => {
                let mut tx = conn.begin().await?;
                for chunk in visits.chunks(VISIT_CHUNK) {
                    let sql = format!(
                        "INSERT INTO visits ({VISIT_COLUMNS}) VALUES {}",
                        placeholders(&self.store.backend, chunk.len(), 14)
                    );
                    let mut q = sqlx::query(&sql);
                    for v in chunk {
                        q = q
                            .bind(v.id.as_str())
                            .bind(&*v.subject)
                            .bind(&*v.region)
                            .bind(&*v.venue_id)
                            .bind(v.direction.as_str())
                            .bind(v.via)
                            .bind(&*v.source)
                            .bind(ms(v.at))
                            .bind(ms(v.until))
                            .bind(&*v.colour)
                            .bind(&*v.masked_name)
                            .bind(v.flag.as_deref())
                            .bind(v.flag.is_none())
                            .bind(ms(v.recorded_at));
                    }
                    q.execute(&mut *tx).await?;
                }
                audit::append(&mut *tx, ms(now), actor, "visits.bulk_load", None, detail).await?;
                tx.commit().await?;
            }
            Loading::Postgres(conn) => {
                let mut tx = conn.begin().await?;
                let mut copy = tx
                    .copy_in_raw(&format!("COPY visits ({VISIT_COLUMNS}) FROM STDIN"))
                    .await?;
                let mut buf = Vec::with_capacity(1 << 20);
                for v in visits {
                    copy_row(&mut buf, v);
                    if buf.len() >= 1 << 20 {
                        copy.send(buf.as_slice()).await?;
                        buf.clear();
                    }
                }
                if !buf.is_empty() {
                    copy.send(buf.as_slice()).await?;
                }
                copy.finish().await?;
                audit::append(&mut *tx, ms(now), actor, "visits.bulk_load", None, detail).await?;
                tx.commit().await?;
            }
        }
        self.visits += visits.len() as u64;
        Ok(())
    }

    /// Visits written so far.
    pub fn visits_written(&self) -> u64 {
        self.visits
    }

    /// Rebuilds the visit log's indexes and puts the connection's settings back. Call it after a
    /// failed batch too: it leaves the store indexed.
    pub async fn finish(mut self) -> Result<u64, StoreError> {
        for (_, create) in &self.indexes {
            let create = create.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1);
            with_conn!(&mut self.conn, c => {
                sqlx::query(&create).execute(&mut **c).await?;
            });
        }
        let restore: &[&str] = match &self.conn {
            Loading::Sqlite(_) => &[
                "PRAGMA synchronous = FULL",
                "PRAGMA cache_size = -2000",
                "PRAGMA threads = 0",
                // Durable now, and the write-ahead log back to nothing.
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ],
            // Fresh statistics, so that the planner uses the new indexes at once.
            Loading::Postgres(_) => &["ANALYZE visits", "RESET ALL"],
        };
        for sql in restore {
            with_conn!(&mut self.conn, c => {
                sqlx::query(sql).execute(&mut **c).await?;
            });
        }
        Ok(self.visits)
    }
}

/// One row of COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_row(buf: &mut Vec<u8>, v: &BulkVisit) {
    use std::io::Write;
    let text = |buf: &mut Vec<u8>, s: &str| {
        for b in s.bytes() {
            match b {
                b'\\' => buf.extend_from_slice(b"\\\\"),
                b'\t' => buf.extend_from_slice(b"\\t"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                _ => buf.push(b),
            }
        }
        buf.push(b'\t');
    };
    text(buf, &v.id);
    text(buf, &v.subject);
    text(buf, &v.region);
    text(buf, &v.venue_id);
    text(buf, v.direction.as_str());
    text(buf, v.via);
    text(buf, &v.source);
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{}\t{}\t", ms(v.at), ms(v.until));
    text(buf, &v.colour);
    text(buf, &v.masked_name);
    match &v.flag {
        Some(flag) => text(buf, flag),
        None => buf.extend_from_slice(b"\\N\t"),
    }
    let confirmed = if v.flag.is_none() { "t" } else { "f" };
    let _ = writeln!(buf, "{confirmed}\t{}", ms(v.recorded_at));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit_indexes_of(first: &str, second: &str) -> Vec<(String, String)> {
        index_statements(&[first, second].concat())
    }

    #[test]
    fn indexes_come_from_the_migrations() {
        let sqlite = visit_indexes_of(
            include_str!("../migrations/sqlite/0005_visits.sql"),
            include_str!("../migrations/sqlite/0006_tracing.sql"),
        );
        let names: Vec<&str> = sqlite.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["visits_subject", "visits_venue", "visits_id", "visits_at"]
        );
        assert_eq!(
            sqlite[0].1,
            "CREATE INDEX visits_subject ON visits (subject, at)"
        );
        assert_eq!(
            sqlite[1].1,
            "CREATE INDEX visits_venue ON visits (venue_id, at, until_at, direction, confirmed, subject)",
            "the covering index of 0006 replaces 0005's"
        );
        let postgres = visit_indexes_of(
            include_str!("../migrations/postgres/0005_visits.sql"),
            include_str!("../migrations/postgres/0006_tracing.sql"),
        );
        assert_eq!(postgres.len(), 3, "no time index on the partitioned log");
        let led: Vec<bool> = sqlite.iter().map(|(_, c)| time_led(c)).collect();
        assert_eq!(led, [false, false, true, true]);
    }

    #[test]
    fn copy_rows_escape_text_and_write_null() {
        let shared = |s: &str| Arc::<str>::from(s);
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1_000);
        let v = BulkVisit {
            id: "a\tb".into(),
            subject: shared("s\\1"),
            region: shared("330100"),
            venue_id: shared("v"),
            direction: Direction::Entry,
            via: "scan",
            source: shared("sim\nx"),
            at,
            until: at + time::Duration::minutes(1),
            colour: shared("green"),
            masked_name: shared("张*丰"),
            flag: None,
            recorded_at: at,
        };
        let mut buf = Vec::new();
        copy_row(&mut buf, &v);
        assert_eq!(
            String::from_utf8(buf).unwrap_or_default(),
            "a\\tb\ts\\\\1\t330100\tv\tentry\tscan\tsim\\nx\t1000\t61000\tgreen\t张*丰\t\\N\tt\t1000\n"
        );
    }
}
