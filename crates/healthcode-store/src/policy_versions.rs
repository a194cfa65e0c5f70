//! Versions of the colour policy as stored: proposed, approved by a second official or
//! withdrawn, each change with its audit entry in the same transaction, and claimed once when it
//! takes effect so that one node re-derives everyone's colour.

use crate::audit::{self, Actor};
use crate::db::BeginWrite;
use crate::{Store, StoreError, db, from_ms, ms, ordered_id, unique_violation};
use serde::Serialize;
use time::OffsetDateTime;

/// One version of the policy and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyVersion {
    pub id: String,
    pub version: String,
    /// The policy document (JSON text).
    #[serde(skip)]
    pub document: String,
    pub legal_basis: String,
    #[serde(with = "time::serde::rfc3339")]
    pub effective_at: OffsetDateTime,
    /// `proposed`, `approved` or `withdrawn`.
    pub state: String,
    pub proposed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub proposed_at: OffsetDateTime,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
}

type Row = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

const SELECT: &str = "SELECT id, version, document, legal_basis, effective_at, state, proposed_by, \
     proposed_at, decided_by, decided_at, activated_at FROM policy_versions";

fn from_row(r: Row) -> PolicyVersion {
    PolicyVersion {
        id: r.0,
        version: r.1,
        document: r.2,
        legal_basis: r.3,
        effective_at: from_ms(r.4),
        state: r.5,
        proposed_by: r.6,
        proposed_at: from_ms(r.7),
        decided_by: r.8,
        decided_at: r.9.map(from_ms),
        activated_at: r.10.map(from_ms),
    }
}

impl Store {
    /// Files a proposed version; a version string used before is a conflict.
    pub async fn propose_policy(
        &self,
        version: &str,
        document: &str,
        legal_basis: &str,
        effective_at: OffsetDateTime,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<PolicyVersion, StoreError> {
        let id = ordered_id(now);
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO policy_versions (id, version, document, legal_basis, effective_at, state, \
                 proposed_by, proposed_at) VALUES ($1, $2, $3, $4, $5, 'proposed', $6, $7)",
            )
            .bind(&id).bind(version).bind(document).bind(legal_basis).bind(ms(effective_at))
            .bind(&actor.id).bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, &format!("policy version {version}")))?;
            let detail = format!("policy version {version} proposed ({legal_basis}), effective {effective_at}");
            audit::append(&mut *tx, ms(now), actor, "policy.propose", None, detail).await?;
            tx.commit().await?;
        });
        self.policy_version(&id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("policy version {id}")))
    }

    /// Records the region's base, the version its first node started from, in effect from
    /// `effective_at`, on the public history and the audit chain; nothing when the version
    /// string is recorded already (by a node that raced this one, or a proposal): the caller
    /// reads back what is recorded.
    pub async fn record_base_policy(
        &self,
        version: &str,
        document: &str,
        effective_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let id = ordered_id(now);
        let actor = Actor::new("configuration", "system", "the policy the node starts from");
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let new = sqlx::query(
                "INSERT INTO policy_versions (id, version, document, legal_basis, effective_at, state, \
                 proposed_by, proposed_at) VALUES ($1, $2, $3, 'the node configuration (policy_file)', $4, 'base', $5, $6) \
                 ON CONFLICT (version) DO NOTHING",
            )
            .bind(&id).bind(version).bind(document).bind(ms(effective_at)).bind(&actor.id).bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if new {
                let detail = format!("policy version {version} is the base a node started from");
                audit::append(&mut *tx, ms(now), &actor, "policy.base", None, detail).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn policy_version(&self, id: &str) -> Result<Option<PolicyVersion>, StoreError> {
        let sql = format!("{SELECT} WHERE id = $1");
        let row: Option<Row> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        Ok(row.map(from_row))
    }

    /// Every version ever proposed, by effective time then proposal.
    pub async fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let sql = format!("{SELECT} ORDER BY effective_at, proposed_at, id");
        let rows: Vec<Row> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Moves a version from `from` to `to` (`approved` or `withdrawn`), at the effective time
    /// given, only while it is still in `from` and before it took effect; None when it was not.
    pub async fn decide_policy(
        &self,
        id: &str,
        from: &str,
        to: &str,
        effective_at: OffsetDateTime,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Option<PolicyVersion>, StoreError> {
        let moved = db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE policy_versions SET state = $1, decided_by = $2, decided_at = $3, effective_at = $4 \
                 WHERE id = $5 AND state = $6 AND effective_at > $3",
            )
            .bind(to).bind(&actor.id).bind(ms(now)).bind(ms(effective_at)).bind(id).bind(from)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 {
                let detail = format!("policy version {id}: {from} -> {to}, effective {effective_at}");
                audit::append(&mut *tx, ms(now), actor, &format!("policy.{to}"), None, detail).await?;
                tx.commit().await?;
            }
            done == 1
        });
        if moved {
            self.policy_version(id).await
        } else {
            Ok(None)
        }
    }

    /// Claims the approved versions whose effective time has come and that no node has
    /// activated: each is claimed by one node only.
    pub async fn claim_policy_activations(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let rows = sqlx::query_as(
                "UPDATE policy_versions SET activated_at = $1 \
                 WHERE state = 'approved' AND effective_at <= $1 AND activated_at IS NULL RETURNING version",
            )
            .bind(ms(now))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows
        });
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }
}
