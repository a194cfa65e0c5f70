//! Document claims (证件冒用申诉): a resident finds their document already enrolled under another
//! phone and claims it; staff check the holder in person and uphold the claim, which moves the
//! record to the claimant's phone, or reject it. Either way with a reason, on the audit chain.

use crate::audit::{self, Actor};
use crate::people::Person;
use crate::{Store, StoreError, db, from_ms, ms, new_id, unique_violation};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentClaim {
    pub id: String,
    /// The record the claimed document is enrolled as.
    pub person_id: String,
    /// The claimant's phone, masked (138****5678).
    pub phone_masked: String,
    pub reason: String,
    /// `open`, `upheld` or `rejected`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
}

type ClaimRow = (
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const SELECT: &str = "SELECT id, person_id, phone_sealed, reason_sealed, state, created_at, \
     decided_at, decided_by, decision_reason FROM document_claims";

fn context(what: &str, id: &str) -> String {
    format!("document_claims.{what}/{id}")
}

impl Store {
    fn claim_from(&self, r: ClaimRow) -> Result<DocumentClaim, StoreError> {
        let open = |what: &str, sealed: &[u8]| {
            self.vault
                .open_string(sealed, &context(what, &r.0))
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", context(what, &r.0))))
        };
        let phone = open("phone", &r.2)?;
        Ok(DocumentClaim {
            phone_masked: healthcode_core::identity::mask_phone(&phone),
            reason: open("reason", &r.3)?,
            id: r.0,
            person_id: r.1,
            state: r.4,
            created_at: from_ms(r.5),
            decided_at: r.6.map(from_ms),
            decided_by: r.7,
            decision_reason: r.8,
        })
    }

    /// Files a claim on the record `person` (found by the claimed document), by the holder of
    /// `phone`; a conflict when this phone already has a claim open on it.
    pub async fn file_document_claim(
        &self,
        person: &Person,
        phone: &str,
        reason: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<DocumentClaim, StoreError> {
        let id = new_id();
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO document_claims (id, person_id, phone_index, phone_sealed, reason_sealed, state, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'open', $6)",
            )
            .bind(&id)
            .bind(&person.id)
            .bind(self.vault.blind_index("phone", phone))
            .bind(self.vault.seal(phone.as_bytes(), &context("phone", &id)))
            .bind(self.vault.seal(reason.as_bytes(), &context("reason", &id)))
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, "a claim from this phone on this document is already open"))?;
            audit::append(&mut *tx, ms(now), actor, "document_claim.file", Some(person.id.clone()), format!("claim {id}")).await?;
            tx.commit().await?;
        });
        self.document_claim(&id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("claim {id}")))
    }

    pub async fn document_claim(&self, id: &str) -> Result<Option<DocumentClaim>, StoreError> {
        let sql = format!("{SELECT} WHERE id = $1");
        let row: Option<ClaimRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(|r| self.claim_from(r)).transpose()
    }

    /// The claims filed from a phone, oldest first: what the claimant reads.
    pub async fn document_claims_of_phone(
        &self,
        phone_index: &[u8],
    ) -> Result<Vec<DocumentClaim>, StoreError> {
        let sql = format!("{SELECT} WHERE phone_index = $1 ORDER BY created_at, id");
        let rows: Vec<ClaimRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(phone_index).fetch_all(pool).await?
        });
        rows.into_iter().map(|r| self.claim_from(r)).collect()
    }

    /// Open claims, oldest first: staff's queue.
    pub async fn open_document_claims(&self, limit: i64) -> Result<Vec<DocumentClaim>, StoreError> {
        let sql = format!("{SELECT} WHERE state = 'open' ORDER BY created_at, id LIMIT $1");
        let rows: Vec<ClaimRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
        });
        rows.into_iter().map(|r| self.claim_from(r)).collect()
    }

    /// Decides an open claim. Upheld, the record moves to the claimant's phone (whoever enrolled
    /// it loses it at their next request), and the other open claims on it are rejected with it.
    pub async fn decide_document_claim(
        &self,
        id: &str,
        upheld: bool,
        reason: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<DocumentClaim, StoreError> {
        let state = if upheld { "upheld" } else { "rejected" };
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<(String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
                "SELECT person_id, phone_index, phone_sealed FROM document_claims WHERE id = $1 AND state = 'open'",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((person_id, phone_index, phone_sealed)) = row else {
                return Err(StoreError::Conflict(format!("claim {id} is not open")));
            };
            sqlx::query("UPDATE document_claims SET state = $1, decided_at = $2, decided_by = $3, decision_reason = $4 WHERE id = $5")
                .bind(state)
                .bind(ms(now))
                .bind(&actor.id)
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            audit::append(&mut *tx, ms(now), actor, "document_claim.decide", Some(person_id.clone()),
                format!("claim {id}: {state} ({reason})")).await?;
            if upheld {
                let phone = self
                    .vault
                    .open(&phone_sealed, &context("phone", id))
                    .map_err(|e| StoreError::Corrupt(format!("claim {id}: {e}")))?;
                sqlx::query("UPDATE people SET phone_index = $1, phone_sealed = $2 WHERE id = $3")
                    .bind(&phone_index)
                    .bind(self.vault.seal(&phone, "people.phone"))
                    .bind(&person_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE document_claims SET state = 'rejected', decided_at = $1, decided_by = $2, \
                     decision_reason = $3 WHERE person_id = $4 AND state = 'open'")
                    .bind(ms(now))
                    .bind(&actor.id)
                    .bind(format!("another claim on this document was upheld ({reason})"))
                    .bind(&person_id)
                    .execute(&mut *tx)
                    .await?;
                audit::append(&mut *tx, ms(now), actor, "person.rebind", Some(person_id),
                    format!("phone changed by claim {id}")).await?;
            }
            tx.commit().await?;
        });
        self.document_claim(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("claim {id}")))
    }
}
