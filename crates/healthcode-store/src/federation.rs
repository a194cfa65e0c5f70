//! Messages between region nodes: the outbox of what must reach another region (sealed, kept
//! until the peer's signed reply confirms it) and the inbox of what was taken from each region,
//! so that a message delivered twice changes nothing. Each crossing is on the audit chain: when
//! it is queued here, and when the other side takes it there.

use crate::audit::{self, Actor};
use crate::db::{BeginWrite, CHUNK, numbered, placeholders};
use crate::{Store, StoreError, db, from_ms, ms};
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// A message for another region, as queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMessage {
    /// Stable across retries: the receiver's idempotency key.
    pub id: String,
    pub to_region: String,
    pub kind: String,
    /// The message's body (JSON), sealed at rest.
    pub body: Vec<u8>,
    pub attempts: i64,
    pub created_at: OffsetDateTime,
}

/// A message taken from another region: who sent it, its id and kind, what it did, and the
/// person it concerned (for the audit entry they can read).
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub from_region: &'a str,
    pub id: &'a str,
    pub kind: &'a str,
    pub outcome: &'a str,
    pub subject: Option<&'a str>,
}

fn context(id: &str) -> String {
    format!("federation_outbox.body/{id}")
}

impl Store {
    /// Queues messages for other regions, each once (an id already queued is left as it is),
    /// with one audit entry naming what crosses and why.
    pub async fn queue_for_regions(
        &self,
        messages: &[RegionMessage],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let mut queued = 0;
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            for chunk in messages.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO federation_outbox (id, to_region, kind, body_sealed, state, attempts, \
                     next_attempt_at, created_at) VALUES {} ON CONFLICT (id) DO NOTHING",
                    placeholders(&self.backend, chunk.len(), 8)
                );
                let mut q = sqlx::query(&sql);
                for m in chunk {
                    q = q
                        .bind(&m.id)
                        .bind(&m.to_region)
                        .bind(&m.kind)
                        .bind(self.vault.seal(&m.body, &context(&m.id)))
                        .bind("pending")
                        .bind(0i64)
                        .bind(ms(now))
                        .bind(ms(now));
                }
                queued += q.execute(&mut *tx).await?.rows_affected();
            }
            if queued > 0 {
                let mut regions: Vec<&str> = messages.iter().map(|m| m.to_region.as_str()).collect();
                regions.sort_unstable();
                regions.dedup();
                let detail = format!(
                    "{queued} {} message(s) queued for region(s) {}",
                    messages[0].kind,
                    regions.join(", ")
                );
                audit::append(&mut *tx, ms(now), actor, "federation.queue", None, detail).await?;
            }
            tx.commit().await?;
        });
        Ok(queued)
    }

    /// Messages due at `now`, oldest first, each held for `lease` so that another node draining
    /// the same store does not send it at the same time.
    pub async fn claim_for_regions(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: i64,
    ) -> Result<Vec<RegionMessage>, StoreError> {
        type Row = (String, String, String, Vec<u8>, i64, i64);
        let rows: Vec<Row> = db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT id, to_region, kind, body_sealed, attempts, created_at FROM federation_outbox \
                 WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
            )
            .bind(ms(now))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            for chunk in rows.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE federation_outbox SET next_attempt_at = $1 WHERE id IN ({})",
                    numbered(2, chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(ms(now + lease));
                for (id, ..) in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            rows
        });
        rows.into_iter()
            .map(|(id, to_region, kind, sealed, attempts, created)| {
                let body = self.vault.open(&sealed, &context(&id))?;
                Ok(RegionMessage {
                    id,
                    to_region,
                    kind,
                    body,
                    attempts,
                    created_at: from_ms(created),
                })
            })
            .collect()
    }

    /// The peer confirmed these messages (one, or a batch): one statement per 500 ids.
    pub async fn mark_region_sent(
        &self,
        ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE federation_outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1, \
                 last_error = NULL WHERE id IN ({})",
                numbered(2, chunk.len())
            );
            db::with_pool!(&self.backend, pool => {
                let mut q = sqlx::query(&sql).bind(ms(now));
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(pool).await?;
            });
        }
        Ok(())
    }

    /// Delivery failed: tried again at `retry_at`, or given up (`failed`) when `None`.
    pub async fn mark_region_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let (state, at) = match retry_at {
            Some(at) => ("pending", ms(at)),
            None => ("failed", 0),
        };
        db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "UPDATE federation_outbox SET state = $1, next_attempt_at = $2, attempts = attempts + 1, \
                 last_error = $3 WHERE id = $4",
            )
            .bind(state)
            .bind(at)
            .bind(error)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Messages not yet delivered, by state (`pending`, `failed`): for `/metrics`.
    pub async fn undelivered_for_regions(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT state, COUNT(*) FROM federation_outbox WHERE state <> 'sent' GROUP BY state ORDER BY state",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// What messages from another region already did, for those taken before: by id.
    pub async fn received_from_region(
        &self,
        from_region: &str,
        ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut taken = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT id, outcome FROM federation_inbox WHERE from_region = $1 AND id IN ({})",
                numbered(2, chunk.len())
            );
            let rows: Vec<(String, String)> = db::with_pool!(&self.backend, pool => {
                let mut q = sqlx::query_as(&sql).bind(from_region);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            });
            taken.extend(rows);
        }
        Ok(taken)
    }

    /// Notes messages from another region (one, or a batch's items) as taken, each with what it
    /// did and an audit entry the person concerned can read, in one transaction; gives each
    /// one's first outcome (an earlier one where it was taken already), in order.
    pub async fn note_received_from_region(
        &self,
        received: &[Received<'_>],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut first = Vec::with_capacity(received.len());
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let mut chain = audit::Chain::default();
            for chunk in received.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO federation_inbox (from_region, id, kind, outcome, received_at) VALUES {} \
                     ON CONFLICT (from_region, id) DO NOTHING RETURNING from_region, id",
                    placeholders(&self.backend, chunk.len(), 5)
                );
                let mut q = sqlx::query_as::<_, (String, String)>(&sql);
                for r in chunk {
                    q = q.bind(r.from_region).bind(r.id).bind(r.kind).bind(r.outcome).bind(ms(now));
                }
                let inserted: HashSet<(String, String)> = q.fetch_all(&mut *tx).await?.into_iter().collect();
                for r in chunk {
                    let key = (r.from_region.to_owned(), r.id.to_owned());
                    if !inserted.contains(&key) {
                        // Taken before (or twice in this call): the first outcome stands.
                        let (outcome,): (String,) = sqlx::query_as(
                            "SELECT outcome FROM federation_inbox WHERE from_region = $1 AND id = $2",
                        )
                        .bind(r.from_region)
                        .bind(r.id)
                        .fetch_one(&mut *tx)
                        .await?;
                        first.push(outcome);
                        continue;
                    }
                    let detail = format!("{} message {} from region {}: {}", r.kind, r.id, r.from_region, r.outcome);
                    audit::chain(&mut *tx, &mut chain, ms(now), actor, "federation.receive", r.subject.map(str::to_owned), detail).await?;
                    first.push(r.outcome.to_owned());
                }
            }
            audit::close(&mut *tx, &mut chain).await?;
            tx.commit().await?;
        });
        Ok(first)
    }
}

/// A resident's consent to hand their status to another region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    pub id: String,
    pub person_id: String,
    /// The region the status may go to (GB/T 2260).
    pub destination: String,
    pub purpose: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// The region that used it.
    pub used_by: Option<String>,
}

type ConsentRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

const SELECT_CONSENT: &str = "SELECT id, person_id, destination, purpose, created_at, expires_at, used_at, used_by \
     FROM federation_consents";

fn consent_from(r: ConsentRow) -> Consent {
    Consent {
        id: r.0,
        person_id: r.1,
        destination: r.2,
        purpose: r.3,
        created_at: from_ms(r.4),
        expires_at: from_ms(r.5),
        used_at: r.6.map(from_ms),
        used_by: r.7,
    }
}

impl Store {
    /// Keeps a consent (its code only as a hash), on the person's audit chain.
    pub async fn grant_consent(
        &self,
        consent: &Consent,
        code_hash: &[u8],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO federation_consents (id, person_id, destination, purpose, code_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&consent.id)
            .bind(&consent.person_id)
            .bind(&consent.destination)
            .bind(&consent.purpose)
            .bind(code_hash)
            .bind(ms(consent.created_at))
            .bind(ms(consent.expires_at))
            .execute(&mut *tx)
            .await?;
            let detail = format!(
                "consent {} to hand the status to region {} ({}) until {}",
                consent.id, consent.destination, consent.purpose, consent.expires_at
            );
            audit::append(&mut *tx, ms(now), actor, "consent.grant", Some(consent.person_id.clone()), detail).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The consent a code stands for, used or not.
    pub async fn consent_by_code(&self, code_hash: &[u8]) -> Result<Option<Consent>, StoreError> {
        let sql = format!("{SELECT_CONSENT} WHERE code_hash = $1");
        let row: Option<ConsentRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(code_hash).fetch_optional(pool).await?
        });
        Ok(row.map(consent_from))
    }

    /// Uses a consent once, for `region`: false when it was used already (a replay).
    pub async fn use_consent(
        &self,
        id: &str,
        region: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let used = db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "UPDATE federation_consents SET used_at = $1, used_by = $2 WHERE id = $3 AND used_at IS NULL",
            )
            .bind(ms(now))
            .bind(region)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(used == 1)
    }

    /// A person's consents, newest first.
    pub async fn consents_of(&self, person_id: &str) -> Result<Vec<Consent>, StoreError> {
        let sql =
            format!("{SELECT_CONSENT} WHERE person_id = $1 ORDER BY created_at DESC, id LIMIT 100");
        let rows: Vec<ConsentRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(person_id).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(consent_from).collect())
    }
}
