//! Appeals (纠错/申诉): a resident contests a fact; an official upholds it or retracts it, with a
//! reason. A retraction is a new fact, written in the same transaction as the decision.

use crate::audit::{self, Actor};
use crate::sealed::Sealed;
use crate::{Store, StoreError, db, from_ms, ms, new_id};
use healthcode_core::Fact;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    /// The fact stands.
    FactUpheld,
    /// The fact is withdrawn by a retraction fact.
    FactRetracted,
}

impl AppealOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AppealOutcome::FactUpheld => "fact_upheld",
            AppealOutcome::FactRetracted => "fact_retracted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appeal {
    pub id: String,
    pub person_id: String,
    pub fact_id: String,
    pub reason: String,
    /// `open`, `fact_upheld` or `fact_retracted`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
}

type AppealRow = (
    String,
    String,
    String,
    Vec<u8>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const SELECT: &str = "SELECT id, person_id, fact_id, reason_sealed, state, created_at, decided_at, decided_by, decision_reason FROM appeals";

impl Store {
    /// An appeal from its row, the resident's reason opened.
    fn appeal_from(&self, row: AppealRow) -> Result<Appeal, StoreError> {
        let (
            id,
            person_id,
            fact_id,
            reason,
            state,
            created_at,
            decided_at,
            decided_by,
            decision_reason,
        ) = row;
        let reason = String::from_utf8(self.open_sealed(Sealed::AppealReason, &id, &reason)?)
            .map_err(|e| StoreError::Corrupt(format!("appeal {id}: {e}")))?;
        Ok(Appeal {
            id,
            person_id,
            fact_id,
            reason,
            state,
            created_at: from_ms(created_at),
            decided_at: decided_at.map(from_ms),
            decided_by,
            decision_reason,
        })
    }
}

impl Store {
    /// Files an appeal against one of the person's facts.
    pub async fn file_appeal(
        &self,
        person_id: &str,
        fact_id: &str,
        reason: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Appeal, StoreError> {
        let appeal = Appeal {
            id: new_id(),
            person_id: person_id.to_owned(),
            fact_id: fact_id.to_owned(),
            reason: reason.to_owned(),
            state: "open".into(),
            created_at: now,
            decided_at: None,
            decided_by: None,
            decision_reason: None,
        };
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO appeals (id, person_id, fact_id, reason, reason_sealed, state, created_at) \
                 SELECT $1, $2, $3, '', $4, 'open', $5 WHERE EXISTS (SELECT 1 FROM facts WHERE id = $3 AND person_id = $2)",
            )
            .bind(&appeal.id)
            .bind(person_id)
            .bind(fact_id)
            .bind(self.seal(Sealed::AppealReason, &appeal.id, reason.as_bytes()))
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("fact {fact_id} of this person")));
            }
            audit::append(&mut *tx, ms(now), actor, "appeal.file", Some(person_id.to_owned()), format!("appeal {} against fact {fact_id}", appeal.id)).await?;
            tx.commit().await?;
        });
        Ok(appeal)
    }

    pub async fn appeal(&self, id: &str) -> Result<Option<Appeal>, StoreError> {
        let sql = format!("{SELECT} WHERE id = $1");
        let row: Option<AppealRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(|r| self.appeal_from(r)).transpose()
    }

    /// A person's appeals, oldest first.
    pub async fn appeals_of(&self, person_id: &str) -> Result<Vec<Appeal>, StoreError> {
        let sql = format!("{SELECT} WHERE person_id = $1 ORDER BY created_at, id");
        let rows: Vec<AppealRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(person_id).fetch_all(pool).await?
        });
        rows.into_iter().map(|r| self.appeal_from(r)).collect()
    }

    /// Open appeals, oldest first: an official's queue.
    pub async fn open_appeals(&self, limit: i64) -> Result<Vec<Appeal>, StoreError> {
        let sql = format!("{SELECT} WHERE state = 'open' ORDER BY created_at, id LIMIT $1");
        let rows: Vec<AppealRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
        });
        rows.into_iter().map(|r| self.appeal_from(r)).collect()
    }

    /// Decides an open appeal, at most once. Withdrawing the fact (`FactRetracted`) records the
    /// `withdrawal` the caller decided on, a retraction fact and the waiver it makes, in the
    /// same transaction.
    pub async fn decide_appeal(
        &self,
        id: &str,
        outcome: AppealOutcome,
        reason: &str,
        withdrawal: Option<(&Fact, Option<&crate::Waiver>)>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Appeal, StoreError> {
        let appeal = self
            .appeal(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("appeal {id}")))?;
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let decided = sqlx::query(
                "UPDATE appeals SET state = $1, decided_at = $2, decided_by = $3, decision_reason = $4 \
                 WHERE id = $5 AND state = 'open'",
            )
            .bind(outcome.as_str())
            .bind(ms(now))
            .bind(&actor.id)
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if decided.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("appeal {id} is already decided")));
            }
            audit::append(&mut *tx, ms(now), actor, "appeal.decide", Some(appeal.person_id.clone()),
                format!("appeal {id}: {} ({reason})", outcome.as_str())).await?;
            if let Some((retraction, waiver)) = withdrawal {
                let mut chain = audit::Chain::default();
                self.insert_fact(&mut *tx, &mut chain, &appeal.person_id, retraction, actor, now).await?;
                audit::close(&mut *tx, &mut chain).await?;
                if let Some(waiver) = waiver {
                    crate::waivers::insert(&mut *tx, waiver, now).await?;
                }
            }
            tx.commit().await?;
        });
        self.appeal(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("appeal {id}")))
    }
}
