//! Appeal waivers: a contact fact withdrawn on appeal binds later runs of the same case's
//! trace, until an official overrides it with a new legal basis. The use case decides what a
//! waiver covers; this keeps it, in the transaction of the decision.

use crate::audit::{self, Actor};
use crate::db::{Conn, on_conn};
use crate::{Store, StoreError, db, from_ms, ms};
use serde::Serialize;
use time::OffsetDateTime;

/// What an upheld appeal against a contact fact waives: the person is no contact of this case
/// for an exposure overlapping `[exposure_start, exposure_end]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Waiver {
    pub appeal_id: String,
    pub person_id: String,
    pub case_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub exposure_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub exposure_end: OffsetDateTime,
}

/// Writes a waiver inside the open transaction of the appeal's decision.
pub(crate) async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    w: &Waiver,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_conn!(&mut conn.into(), c => {
        sqlx::query(
            "INSERT INTO appeal_waivers (appeal_id, person_id, case_id, exposure_start, exposure_end, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&w.appeal_id)
        .bind(&w.person_id)
        .bind(&w.case_id)
        .bind(ms(w.exposure_start))
        .bind(ms(w.exposure_end))
        .bind(ms(now))
        .execute(&mut **c)
        .await?;
    });
    Ok(())
}

type WaiverRow = (String, String, String, i64, i64);

impl Store {
    /// The waivers in force for a case's trace.
    pub async fn waivers_of_case(&self, case_id: &str) -> Result<Vec<Waiver>, StoreError> {
        let rows: Vec<WaiverRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT appeal_id, person_id, case_id, exposure_start, exposure_end FROM appeal_waivers \
                 WHERE case_id = $1 AND overridden_at IS NULL ORDER BY appeal_id",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(appeal_id, person_id, case_id, start, end)| Waiver {
                appeal_id,
                person_id,
                case_id,
                exposure_start: from_ms(start),
                exposure_end: from_ms(end),
            })
            .collect())
    }

    /// Lifts the waiver an appeal made, with the legal basis `actor.purpose`, and queues the
    /// case's trace again in the same transaction so the person can be found once more.
    /// Gives the waiver lifted.
    pub async fn override_waiver(
        &self,
        appeal_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Waiver, StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<WaiverRow> = sqlx::query_as(
                "UPDATE appeal_waivers SET overridden_at = $1, overridden_by = $2, override_basis = $3 \
                 WHERE appeal_id = $4 AND overridden_at IS NULL \
                 RETURNING appeal_id, person_id, case_id, exposure_start, exposure_end",
            )
            .bind(ms(now))
            .bind(&actor.id)
            .bind(&actor.purpose)
            .bind(appeal_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((appeal_id, person_id, case_id, start, end)) = row else {
                return Err(StoreError::NotFound(format!("a waiver in force from appeal {appeal_id}")));
            };
            crate::trace_queue::requeue_withdrawn(&mut *tx, &case_id).await?;
            audit::append(&mut *tx, ms(now), actor, "appeal.override", Some(person_id.clone()),
                format!("appeal {appeal_id} no longer binds the trace of case {case_id}")).await?;
            tx.commit().await?;
            Ok(Waiver {
                appeal_id,
                person_id,
                case_id,
                exposure_start: from_ms(start),
                exposure_end: from_ms(end),
            })
        })
    }
}
