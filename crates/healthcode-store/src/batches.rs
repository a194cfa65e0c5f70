//! Batches of facts about many people at once. Above the configured size a batch waits for a
//! second official's approval, so no one official can colour a crowd alone.

use crate::audit::{self, Actor};
use crate::sealed::Sealed;
use crate::{Store, StoreError, db, from_ms, ms, new_id};
use healthcode_core::Fact;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItem {
    pub person_id: String,
    pub fact: Fact,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Batch {
    pub id: String,
    pub created_by: String,
    pub legal_basis: String,
    pub size: i64,
    /// `awaiting_approval` or `applied`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub approved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub approved_at: Option<OffsetDateTime>,
}

type BatchRow = (
    String,
    String,
    String,
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

fn batch_from(row: BatchRow) -> Batch {
    let (id, created_by, legal_basis, size, state, created_at, approved_by, approved_at) = row;
    Batch {
        id,
        created_by,
        legal_basis,
        size,
        state,
        created_at: from_ms(created_at),
        approved_by,
        approved_at: approved_at.map(from_ms),
    }
}

impl Store {
    /// Records a batch awaiting approval. Nothing about any person changes yet.
    pub async fn propose_batch(
        &self,
        legal_basis: &str,
        items: &[BatchItem],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Batch, StoreError> {
        let id = new_id();
        let sealed = self.seal_json(Sealed::BatchItems, &id, items)?;
        let size = items.len() as i64;
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO batches (id, created_by, legal_basis, items, items_sealed, size, state, created_at) \
                 VALUES ($1, $2, $3, '', $4, $5, 'awaiting_approval', $6)",
            )
            .bind(&id)
            .bind(&actor.id)
            .bind(legal_basis)
            .bind(&sealed)
            .bind(size)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            audit::append(&mut *tx, ms(now), actor, "batch.propose", None, format!("batch {id} of {size} facts (legal basis: {legal_basis})")).await?;
            tx.commit().await?;
        });
        self.batch(&id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("batch {id}")))
    }

    pub async fn batch(&self, id: &str) -> Result<Option<Batch>, StoreError> {
        let row: Option<BatchRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT id, created_by, legal_basis, size, state, created_at, approved_by, approved_at FROM batches WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(batch_from))
    }

    /// Batches still awaiting a second official's approval, oldest first.
    pub async fn batches_awaiting(&self, limit: i64) -> Result<Vec<Batch>, StoreError> {
        let rows: Vec<BatchRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT id, created_by, legal_basis, size, state, created_at, approved_by, approved_at FROM batches \
                 WHERE state = 'awaiting_approval' ORDER BY created_at, id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(batch_from).collect())
    }

    /// Applies facts about several people in one transaction: all land, each with its audit
    /// entry, or none does.
    pub async fn record_facts(
        &self,
        items: &[BatchItem],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let mut chain = audit::Chain::default();
            for item in items {
                self.insert_fact(&mut *tx, &mut chain, &item.person_id, &item.fact, actor, now).await?;
            }
            audit::close(&mut *tx, &mut chain).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Approves a batch proposed by someone else and applies it, atomically; gives the batch
    /// and the facts now on record.
    pub async fn approve_batch(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(Batch, Vec<BatchItem>), StoreError> {
        let (created_by, items): (String, Vec<u8>) = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT created_by, items_sealed FROM batches WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("batch {id}")))?
        });
        if created_by == actor.id {
            return Err(StoreError::Conflict(
                "a batch needs a second official: its proposer cannot approve it".into(),
            ));
        }
        let mut items: Vec<BatchItem> = self.open_json(Sealed::BatchItems, id, &items)?;
        // The facts are on record from the approval, not from the proposal.
        for item in &mut items {
            item.fact.recorded_at = now;
        }
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let approved = sqlx::query(
                "UPDATE batches SET state = 'applied', approved_by = $1, approved_at = $2 WHERE id = $3 AND state = 'awaiting_approval'",
            )
            .bind(&actor.id)
            .bind(ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if approved.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("batch {id} is not awaiting approval")));
            }
            let mut chain = audit::Chain::default();
            audit::chain(&mut *tx, &mut chain, ms(now), actor, "batch.approve", None, format!("batch {id} proposed by {created_by}")).await?;
            for item in &items {
                self.insert_fact(&mut *tx, &mut chain, &item.person_id, &item.fact, actor, now).await?;
            }
            audit::close(&mut *tx, &mut chain).await?;
            tx.commit().await?;
        });
        let batch = self
            .batch(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("batch {id}")))?;
        Ok((batch, items))
    }
}
