//! Scans and the visit log (到访记录). Scans arrive in groups (group commit): each group is one
//! transaction of multi-row inserts, so a scan is answered only once it is on disk, and a scan
//! sent again under the same `(source, scan_id)` gets the answer it got the first time and never
//! a second visit. On PostgreSQL the visit log is partitioned by day and expires by dropping
//! whole days; on SQLite it expires by deleting in bounded batches.

use crate::audit::{self, Actor};
use crate::db::{CHUNK, placeholders};
use crate::{Store, StoreError, db, from_ms, ms, ordered_id};
use healthcode_core::visits::Direction;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// A scan to record: the receipt (with the answer given) and, when it stands for presence or an
/// exit, the visit.
#[derive(Debug, Clone)]
pub struct NewScan {
    /// Who sent it: a checkpoint id, or `resident:<person id>` for a check-in.
    pub source: String,
    pub scan_id: String,
    pub venue_id: String,
    pub scanned_at: OffsetDateTime,
    /// `admit`, `deny` or `invalid`.
    pub outcome: &'static str,
    /// The answer, as JSON, given now and to every retry.
    pub answer: String,
    pub visit: Option<NewVisit>,
}

#[derive(Debug, Clone)]
pub struct NewVisit {
    pub subject: String,
    pub region: String,
    pub direction: Direction,
    /// `scan` or `checkin`.
    pub via: &'static str,
    pub until: OffsetDateTime,
    pub colour: String,
    pub masked_name: String,
    /// Why it does not count as presence until confirmed.
    pub flag: Option<String>,
}

/// What became of one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The answer as first given.
    pub answer: String,
    /// True when the scan had been recorded before (or earlier in the same group).
    pub duplicate: bool,
    /// The visit it recorded now, if any.
    pub visit_id: Option<String>,
}

/// A visit as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Visit {
    pub id: String,
    /// The pass subject (a pseudonym) of the issuing region.
    pub subject: String,
    pub region: String,
    pub venue_id: String,
    /// `entry` or `exit`.
    pub direction: String,
    /// `scan` or `checkin`.
    pub via: String,
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The end of presence when no exit is scanned.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub colour: String,
    pub masked_name: String,
    pub flag: Option<String>,
    pub confirmed: bool,
}

/// What a retention run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Expired {
    pub visits: u64,
    pub receipts: u64,
}

type VisitRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    String,
    Option<String>,
    bool,
);

const SELECT_VISIT: &str = "SELECT id, subject, region, venue_id, direction, via, source, at, \
     until_at, colour, masked_name, flag, confirmed FROM visits";

fn visit_from(row: VisitRow) -> Visit {
    let (id, subject, region, venue_id, direction, via, source, at, until, colour, masked_name) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10,
    );
    Visit {
        id,
        subject,
        region,
        venue_id,
        direction,
        via,
        source,
        at: from_ms(at),
        until: from_ms(until),
        colour,
        masked_name,
        flag: row.11,
        confirmed: row.12,
    }
}

pub(crate) const MS_PER_DAY: i64 = 86_400_000;

impl Store {
    /// Records a group of scans in one transaction and says, for each in order, the answer it
    /// stands with and whether it was a duplicate.
    pub async fn record_scans(
        &self,
        scans: &[NewScan],
        now: OffsetDateTime,
    ) -> Result<Vec<Recorded>, StoreError> {
        // Within the group, the first of equal keys stands for the others.
        let mut first: HashMap<(&str, &str), usize> = HashMap::new();
        let mut unique = Vec::new();
        let mut same_as = Vec::with_capacity(scans.len());
        for (i, s) in scans.iter().enumerate() {
            let at = *first
                .entry((s.source.as_str(), s.scan_id.as_str()))
                .or_insert_with(|| {
                    unique.push(i);
                    i
                });
            same_as.push(at);
        }
        let days: HashSet<i64> = unique
            .iter()
            .filter(|&&i| scans[i].visit.is_some())
            .map(|&i| ms(scans[i].scanned_at).div_euclid(MS_PER_DAY))
            .collect();
        self.ensure_partitions(days).await?;
        let received = ms(now);
        // Which scans (by index) are new, the first answers of those recorded by an earlier
        // group, and the visits written now.
        let mut fresh = vec![false; scans.len()];
        let mut earlier: HashMap<usize, String> = HashMap::new();
        let mut visit_ids: HashMap<usize, String> = HashMap::new();
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            for chunk in unique.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO scan_receipts (source, scan_id, venue_id, scanned_at, received_at, outcome, answer) \
                     VALUES {} ON CONFLICT (source, scan_id) DO NOTHING RETURNING source, scan_id",
                    placeholders(&self.backend, chunk.len(), 7)
                );
                let mut q = sqlx::query_as::<_, (String, String)>(&sql);
                for &i in chunk {
                    let s = &scans[i];
                    q = q.bind(&s.source).bind(&s.scan_id).bind(&s.venue_id)
                        .bind(ms(s.scanned_at)).bind(received).bind(s.outcome).bind(&s.answer);
                }
                for (source, scan_id) in q.fetch_all(&mut *tx).await? {
                    if let Some(&i) = first.get(&(source.as_str(), scan_id.as_str())) {
                        fresh[i] = true;
                    }
                }
            }
            // Scans recorded by an earlier group: their first answer stands.
            for &i in unique.iter().filter(|&&i| !fresh[i]) {
                let (answer,): (String,) = sqlx::query_as(
                    "SELECT answer FROM scan_receipts WHERE source = $1 AND scan_id = $2",
                )
                .bind(&scans[i].source)
                .bind(&scans[i].scan_id)
                .fetch_one(&mut *tx)
                .await?;
                earlier.insert(i, answer);
            }
            let visits: Vec<(usize, &NewScan, &NewVisit)> = unique
                .iter()
                .filter(|&&i| fresh[i])
                .filter_map(|&i| scans[i].visit.as_ref().map(|v| (i, &scans[i], v)))
                .collect();
            for chunk in visits.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO visits (id, subject, region, venue_id, direction, via, source, at, until_at, \
                     colour, masked_name, flag, confirmed, recorded_at) VALUES {}",
                    placeholders(&self.backend, chunk.len(), 14)
                );
                let mut q = sqlx::query(&sql);
                for (i, s, v) in chunk {
                    let id = ordered_id(now);
                    visit_ids.insert(*i, id.clone());
                    q = q.bind(id).bind(&v.subject).bind(&v.region).bind(&s.venue_id)
                        .bind(v.direction.as_str()).bind(v.via).bind(&s.source)
                        .bind(ms(s.scanned_at)).bind(ms(v.until)).bind(&v.colour)
                        .bind(&v.masked_name).bind(&v.flag).bind(v.flag.is_none()).bind(received);
                }
                q.execute(&mut *tx).await?;
            }
            let recorded = fresh.iter().filter(|&&f| f).count();
            if recorded > 0 {
                let actor = Actor::new("node", "system", "recording scans and check-ins");
                let detail = format!("{recorded} scans recorded, {} visits", visits.len());
                audit::append(&mut *tx, received, &actor, "visits.record", None, detail).await?;
            }
            tx.commit().await?;
        });
        Ok((0..scans.len())
            .map(|i| {
                let f = same_as[i];
                match earlier.get(&f) {
                    Some(answer) => Recorded {
                        answer: answer.clone(),
                        duplicate: true,
                        visit_id: None,
                    },
                    None => Recorded {
                        answer: scans[f].answer.clone(),
                        duplicate: f != i,
                        visit_id: (f == i).then(|| visit_ids.get(&i).cloned()).flatten(),
                    },
                }
            })
            .collect())
    }

    /// On PostgreSQL, creates the day partitions of the visit log that `days` (days since the
    /// Unix epoch, UTC) need; nothing to do on SQLite.
    pub async fn ensure_partitions(&self, days: HashSet<i64>) -> Result<(), StoreError> {
        let db::Backend::Postgres(pool) = &self.backend else {
            return Ok(());
        };
        let mut known = self.partitions.lock().await;
        for day in days {
            if known.contains(&day) {
                continue;
            }
            let name = partition_name(day);
            sqlx::query(&format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF visits FOR VALUES FROM ({}) TO ({})",
                day * MS_PER_DAY,
                (day + 1) * MS_PER_DAY
            ))
            .execute(pool)
            .await?;
            known.insert(day);
        }
        Ok(())
    }

    /// The visits of a pass subject between two instants, oldest first.
    pub async fn visits_of_subject(
        &self,
        subject: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Visit>, StoreError> {
        self.visits_in_window("subject", subject, from, to, limit)
            .await
    }

    /// The visits at a venue between two instants, oldest first.
    pub async fn visits_at_venue(
        &self,
        venue_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Visit>, StoreError> {
        self.visits_in_window("venue_id", venue_id, from, to, limit)
            .await
    }

    /// Visits whose indexed `column` (`subject` or `venue_id`) is `key`, in a window.
    async fn visits_in_window(
        &self,
        column: &'static str,
        key: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Visit>, StoreError> {
        let sql = format!(
            "{SELECT_VISIT} WHERE {column} = $1 AND at >= $2 AND at < $3 ORDER BY at, id LIMIT $4"
        );
        let rows: Vec<VisitRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(key).bind(ms(from)).bind(ms(to)).bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(visit_from).collect())
    }

    /// The latest check-in of a subject at a venue since an instant, if any.
    pub async fn latest_checkin(
        &self,
        subject: &str,
        venue_id: &str,
        since: OffsetDateTime,
    ) -> Result<Option<Visit>, StoreError> {
        let sql = format!(
            "{SELECT_VISIT} WHERE subject = $1 AND at >= $2 AND venue_id = $3 AND via = 'checkin' \
             AND direction = 'entry' ORDER BY at DESC LIMIT 1"
        );
        let row: Option<VisitRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(subject).bind(ms(since)).bind(venue_id).fetch_optional(pool).await?
        });
        Ok(row.map(visit_from))
    }

    pub async fn visit(&self, id: &str) -> Result<Option<Visit>, StoreError> {
        let sql = format!("{SELECT_VISIT} WHERE id = $1");
        let row: Option<VisitRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        Ok(row.map(visit_from))
    }

    /// Confirms a flagged check-in, so that it counts as presence; on the audit chain.
    pub async fn confirm_visit(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Visit, StoreError> {
        let visit = self
            .visit(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("visit {id}")))?;
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE visits SET confirmed = TRUE WHERE id = $1 AND at = $2")
                .bind(id)
                .bind(ms(visit.at))
                .execute(&mut *tx)
                .await?;
            audit::append(&mut *tx, ms(now), actor, "visit.confirm", None,
                format!("visit {id} at venue {} confirmed (flag: {})", visit.venue_id, visit.flag.clone().unwrap_or_default())).await?;
            tx.commit().await?;
        });
        Ok(Visit {
            confirmed: true,
            ..visit
        })
    }

    /// Removes visits older than `visits_before` and scan receipts received before
    /// `receipts_before`, in bounded batches so that scans keep landing meanwhile. On PostgreSQL
    /// a day of visits goes as a whole, by dropping its partition once all of it is due.
    pub async fn expire_visits(
        &self,
        visits_before: OffsetDateTime,
        receipts_before: OffsetDateTime,
        batch: i64,
    ) -> Result<Expired, StoreError> {
        let mut expired = Expired::default();
        match &self.backend {
            db::Backend::Sqlite(_) => {
                expired.visits = drain(
                    &self.backend,
                    "DELETE FROM visits WHERE rowid IN (SELECT rowid FROM visits WHERE at < $1 LIMIT $2)",
                    visits_before,
                    batch,
                )
                .await?;
                expired.receipts = drain(
                    &self.backend,
                    "DELETE FROM scan_receipts WHERE rowid IN \
                     (SELECT rowid FROM scan_receipts WHERE received_at < $1 LIMIT $2)",
                    receipts_before,
                    batch,
                )
                .await?;
            }
            db::Backend::Postgres(pool) => {
                let cutoff_day = ms(visits_before).div_euclid(MS_PER_DAY);
                let names: Vec<(String,)> = sqlx::query_as(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'visits'",
                )
                .fetch_all(pool)
                .await?;
                let mut known = self.partitions.lock().await;
                for (name,) in names {
                    let Some(day) = partition_day(&name).filter(|&d| d < cutoff_day) else {
                        continue;
                    };
                    let (rows,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {name}"))
                        .fetch_one(pool)
                        .await?;
                    sqlx::query(&format!("DROP TABLE {name}"))
                        .execute(pool)
                        .await?;
                    known.remove(&day);
                    expired.visits += rows as u64;
                }
                drop(known);
                expired.receipts = drain(
                    &self.backend,
                    "DELETE FROM scan_receipts WHERE ctid = ANY(ARRAY( \
                     SELECT ctid FROM scan_receipts WHERE received_at < $1 LIMIT $2))",
                    receipts_before,
                    batch,
                )
                .await?;
            }
        }
        Ok(expired)
    }

    /// Scans recorded per venue between two instants, by outcome: for dashboards and tests.
    pub async fn scan_counts(
        &self,
        venue_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT outcome, COUNT(*) FROM scan_receipts WHERE venue_id = $1 AND scanned_at >= $2 \
                 AND scanned_at < $3 GROUP BY outcome ORDER BY outcome",
            )
            .bind(venue_id)
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(pool)
            .await?
        }))
    }
}

fn partition_name(day: i64) -> String {
    let date = from_ms(day * MS_PER_DAY).date();
    format!(
        "visits_d{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("visits_d")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = digits[..4].parse().ok()?;
    let month: u8 = digits[4..6].parse().ok()?;
    let day: u8 = digits[6..].parse().ok()?;
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    Some(ms(date.midnight().assume_utc()).div_euclid(MS_PER_DAY))
}

/// Deletes rows by `sql` (bound to a cut-off and a batch size) until a batch comes short, so
/// that each transaction stays small; gives how many went.
async fn drain(
    backend: &db::Backend,
    sql: &str,
    before: OffsetDateTime,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        let n = db::with_pool!(backend, pool => {
            sqlx::query(sql)
                .bind(ms(before))
                .bind(batch)
                .execute(pool)
                .await?
                .rows_affected()
        });
        total += n;
        if n < batch as u64 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        for day in [0, 1, 20_415, 20_780] {
            assert_eq!(partition_day(&partition_name(day)), Some(day));
        }
        assert_eq!(partition_day("visits_default"), None);
        assert_eq!(partition_day("visits_d2026133"), None);
    }
}
