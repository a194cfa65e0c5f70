//! Figures for the officials' dashboard and the audit log's filtered view: counts over the
//! store's tables, on both backends with one query text each.

use crate::{AuditEntry, Store, StoreError, audit, db, from_ms, ms};
use time::OffsetDateTime;

const HOUR_MS: i64 = 3_600_000;

/// How many people hold each code now: `green`, `yellow`, `red` (confirmed people, from the
/// colours last derived; no row means green) and `pending` (enrollment under review, or a
/// colour derived pending because a rule could not be judged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColourCounts {
    pub green: i64,
    pub yellow: i64,
    pub red: i64,
    pub pending: i64,
}

/// A trace as the dashboard counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFigures {
    pub case_id: String,
    /// The case's person.
    pub person_id: String,
    pub state: String,
    pub close_contacts: i64,
    pub secondary_contacts: i64,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

/// Which audit entries to show; every field narrows, none given shows the latest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub role: Option<String>,
    pub action: Option<String>,
    pub subject: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

impl Store {
    pub async fn colour_counts(&self) -> Result<ColourCounts, StoreError> {
        let enrolled: Vec<(String, i64)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT enrollment, COUNT(*) FROM people GROUP BY enrollment")
                .fetch_all(pool)
                .await?
        });
        let coloured: Vec<(String, i64)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT c.colour, COUNT(*) FROM colours c JOIN people p ON p.id = c.person_id \
                 WHERE p.enrollment = 'confirmed' GROUP BY c.colour",
            )
            .fetch_all(pool)
            .await?
        });
        let count = |rows: &[(String, i64)], key: &str| {
            rows.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, n)| n)
                .sum::<i64>()
        };
        let (yellow, red) = (count(&coloured, "yellow"), count(&coloured, "red"));
        let undecided = count(&coloured, "pending");
        Ok(ColourCounts {
            green: (count(&enrolled, "confirmed") - yellow - red - undecided).max(0),
            yellow,
            red,
            pending: count(&enrolled, "pending") + undecided,
        })
    }

    /// People whose colour was last derived as pending because a rule could not be judged,
    /// most recent first: what an official looks into.
    pub async fn undecided_colours(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
        let rows: Vec<(String, i64)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT person_id, evaluated_at FROM colours WHERE colour = 'pending' \
                 ORDER BY evaluated_at DESC, person_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(id, at)| (id, from_ms(at))).collect())
    }

    /// Entries in the visit log per hour and colour shown at the door, `[from, to)`.
    pub async fn visit_colours_by_hour(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, String, i64)>, StoreError> {
        self.entries_by_hour(
            "SELECT (at / $1) * $1 AS hour, colour, COUNT(*) FROM visits \
             WHERE at >= $2 AND at < $3 AND direction = 'entry' GROUP BY hour, colour ORDER BY hour, colour",
            (from, to),
        )
        .await
    }

    /// Entries in the visit log per hour and the venue's district (region code), `[from, to)`.
    pub async fn visits_by_hour_and_district(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, String, i64)>, StoreError> {
        self.entries_by_hour(
            "SELECT (v.at / $1) * $1 AS hour, n.region, COUNT(*) FROM visits v \
             JOIN venues n ON n.id = v.venue_id \
             WHERE v.at >= $2 AND v.at < $3 AND v.direction = 'entry' \
             GROUP BY hour, n.region ORDER BY hour, n.region",
            (from, to),
        )
        .await
    }

    /// Runs a count of entries grouped by hour (`$1`, in ms) and one key, in `[$2, $3)`.
    async fn entries_by_hour(
        &self,
        sql: &str,
        (from, to): (OffsetDateTime, OffsetDateTime),
    ) -> Result<Vec<(OffsetDateTime, String, i64)>, StoreError> {
        let rows: Vec<(i64, String, i64)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(sql)
                .bind(HOUR_MS)
                .bind(ms(from))
                .bind(ms(to))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(h, key, n)| (from_ms(h), key, n))
            .collect())
    }

    /// The latest traces, newest first, with their contact counts and times.
    pub async fn trace_figures(&self, limit: i64) -> Result<Vec<TraceFigures>, StoreError> {
        type Row = (String, String, String, i64, i64, i64, Option<i64>);
        let rows: Vec<Row> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT case_id, person_id, state, close_contacts, secondary_contacts, created_at, finished_at \
                 FROM traces ORDER BY created_at DESC, case_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(case_id, person_id, state, close, secondary, created, finished)| TraceFigures {
                    case_id,
                    person_id,
                    state,
                    close_contacts: close,
                    secondary_contacts: secondary,
                    created_at: from_ms(created),
                    finished_at: finished.map(from_ms),
                },
            )
            .collect())
    }

    /// Audit entries matching the filter, newest first, at most `limit`.
    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        // Each absent filter is a NULL that matches everything, so one query text serves all.
        let sql = format!(
            "{} WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR role = $2) \
             AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR subject = $4) \
             AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) ORDER BY seq DESC LIMIT $7",
            audit::SELECT
        );
        let rows: Vec<audit::Row> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql)
                .bind(filter.actor.as_deref())
                .bind(filter.role.as_deref())
                .bind(filter.action.as_deref())
                .bind(filter.subject.as_deref())
                .bind(filter.from.map(ms))
                .bind(filter.to.map(ms))
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|r| audit::from_row(r).0).collect())
    }
}
