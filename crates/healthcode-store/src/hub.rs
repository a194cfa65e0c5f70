//! The hub's records: regions' proposals as they were signed, the directory of approved
//! regions, revoked keys and every trust list published. The federation use case decides what
//! a proposal means and what a list holds; this keeps them, each change with its audit entry.

use crate::audit::{self, Actor};
use crate::db::BeginWrite;
use crate::{Store, StoreError, db, from_ms, ms, unique_violation};
use serde::Serialize;
use time::OffsetDateTime;

/// A region's request to join the directory or change its entry, kept as it was signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubProposal {
    pub id: String,
    pub region: String,
    /// The registration (JSON) the region signed.
    pub registration: String,
    #[serde(skip)]
    pub signed: Vec<u8>,
    /// `awaiting_approval`, `approved` or `rejected`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: OffsetDateTime,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decision_reason: Option<String>,
}

/// A region in the directory: its approved registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubRegion {
    pub region: String,
    pub registration: String,
    /// The node key (SPKI DER, base64) that signs the region's requests.
    pub node_key: String,
    pub proposal_id: String,
    pub approved_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub approved_at: OffsetDateTime,
}

/// A signing key the hub revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubRevocation {
    pub kid: String,
    pub region: String,
    pub revoked_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    pub reason: String,
}

/// A trust list as published: its sequence, times and signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubList {
    pub sequence: i64,
    pub issued_at: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    pub signed: Vec<u8>,
}

type ProposalRow = (
    String,
    String,
    String,
    Vec<u8>,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
);

const SELECT_PROPOSAL: &str = "SELECT id, region, registration, signed, state, proposed_at, \
     decided_by, decided_at, decision_reason FROM hub_proposals";

fn proposal_from(r: ProposalRow) -> HubProposal {
    HubProposal {
        id: r.0,
        region: r.1,
        registration: r.2,
        signed: r.3,
        state: r.4,
        proposed_at: from_ms(r.5),
        decided_by: r.6,
        decided_at: r.7.map(from_ms),
        decision_reason: r.8,
    }
}

impl Store {
    /// Keeps a region's signed proposal, awaiting a hub official. The same signed request sent
    /// again is refused (its id is the hash of what was signed).
    pub async fn propose_region(
        &self,
        proposal: &HubProposal,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO hub_proposals (id, region, registration, signed, state, proposed_at) \
                 VALUES ($1, $2, $3, $4, 'awaiting_approval', $5)",
            )
            .bind(&proposal.id)
            .bind(&proposal.region)
            .bind(&proposal.registration)
            .bind(&proposal.signed)
            .bind(ms(proposal.proposed_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, "this signed request was already received"))?;
            let detail = format!("proposal {} from region {}", proposal.id, proposal.region);
            audit::append(&mut *tx, ms(now), actor, "hub.propose", None, detail).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn hub_proposal(&self, id: &str) -> Result<Option<HubProposal>, StoreError> {
        let sql = format!("{SELECT_PROPOSAL} WHERE id = $1");
        let row: Option<ProposalRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        Ok(row.map(proposal_from))
    }

    /// Proposals, newest first; only those in `state` when given.
    pub async fn hub_proposals(&self, state: Option<&str>) -> Result<Vec<HubProposal>, StoreError> {
        let sql = format!(
            "{SELECT_PROPOSAL} WHERE ($1 IS NULL OR state = $1) ORDER BY proposed_at DESC, id LIMIT 500"
        );
        let rows: Vec<ProposalRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(state).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(proposal_from).collect())
    }

    /// Decides a proposal still awaiting: approved with the region's new directory entry, or
    /// rejected with a reason; refused when it was decided already.
    pub async fn decide_region_proposal(
        &self,
        id: &str,
        approved: Option<&HubRegion>,
        reason: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let state = if approved.is_some() {
            "approved"
        } else {
            "rejected"
        };
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE hub_proposals SET state = $1, decided_by = $2, decided_at = $3, decision_reason = $4 \
                 WHERE id = $5 AND state = 'awaiting_approval'",
            )
            .bind(state)
            .bind(&actor.id)
            .bind(ms(now))
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::Conflict(format!("proposal {id} is not awaiting approval")));
            }
            if let Some(r) = approved {
                sqlx::query(
                    "INSERT INTO hub_regions (region, registration, node_key, proposal_id, approved_by, approved_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (region) DO UPDATE SET \
                     registration = $2, node_key = $3, proposal_id = $4, approved_by = $5, approved_at = $6",
                )
                .bind(&r.region)
                .bind(&r.registration)
                .bind(&r.node_key)
                .bind(&r.proposal_id)
                .bind(&r.approved_by)
                .bind(ms(r.approved_at))
                .execute(&mut *tx)
                .await?;
            }
            let detail = format!("proposal {id} {state}: {reason}");
            audit::append(&mut *tx, ms(now), actor, "hub.decide", None, detail).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The directory: every approved region, by code.
    pub async fn hub_regions(&self) -> Result<Vec<HubRegion>, StoreError> {
        let rows: Vec<(String, String, String, String, String, i64)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT region, registration, node_key, proposal_id, approved_by, approved_at \
                 FROM hub_regions ORDER BY region",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| HubRegion {
                region: r.0,
                registration: r.1,
                node_key: r.2,
                proposal_id: r.3,
                approved_by: r.4,
                approved_at: from_ms(r.5),
            })
            .collect())
    }

    /// Revokes a key for good; refused when it was revoked already.
    pub async fn revoke_hub_key(
        &self,
        revocation: &HubRevocation,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO hub_revocations (kid, region, revoked_by, revoked_at, reason) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&revocation.kid)
            .bind(&revocation.region)
            .bind(&revocation.revoked_by)
            .bind(ms(revocation.revoked_at))
            .bind(&revocation.reason)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, "this key is revoked already"))?;
            let detail = format!(
                "key {} of region {} revoked: {}",
                revocation.kid, revocation.region, revocation.reason
            );
            audit::append(&mut *tx, ms(now), actor, "hub.revoke", None, detail).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn hub_revocations(&self) -> Result<Vec<HubRevocation>, StoreError> {
        let rows: Vec<(String, String, String, i64, String)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT kid, region, revoked_by, revoked_at, reason FROM hub_revocations ORDER BY revoked_at, kid",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| HubRevocation {
                kid: r.0,
                region: r.1,
                revoked_by: r.2,
                revoked_at: from_ms(r.3),
                reason: r.4,
            })
            .collect())
    }

    /// Keeps a published list. Its sequence must be new: two hub nodes publishing at once
    /// cannot both publish the same number.
    pub async fn publish_hub_list(
        &self,
        list: &HubList,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO hub_lists (sequence, issued_at, valid_until, signed) VALUES ($1, $2, $3, $4)",
            )
            .bind(list.sequence)
            .bind(ms(list.issued_at))
            .bind(ms(list.valid_until))
            .bind(&list.signed)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, "a list with this sequence is published already"))?;
            let detail = format!("trust list {} published", list.sequence);
            audit::append(&mut *tx, ms(now), actor, "hub.publish", None, detail).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The latest list published, if any.
    pub async fn latest_hub_list(&self) -> Result<Option<HubList>, StoreError> {
        let row: Option<(i64, i64, i64, Vec<u8>)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT sequence, issued_at, valid_until, signed FROM hub_lists ORDER BY sequence DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(sequence, issued, until, signed)| HubList {
            sequence,
            issued_at: from_ms(issued),
            valid_until: from_ms(until),
            signed,
        }))
    }
}
