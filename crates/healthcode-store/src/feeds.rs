//! Department feeds: facts that arrive by the thousand and must land idempotently (a lab sends
//! the same sample twice; a telecom file is imported again), and risk areas, which find the
//! people whose visits or itinerary fall inside them.

use crate::audit::{self, Actor};
use crate::batches::BatchItem;
use crate::db::numbered;
use crate::db::{BeginWrite, CHUNK};
use crate::facts::PersonFactRow;
use crate::sealed::Sealed;
use crate::{Batch, Store, StoreError, db, from_ms, ms};
use healthcode_core::region::RegionCode;
use healthcode_core::visits::{Direction, VisitPoint};
use healthcode_core::{Fact, FactBody};
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// What became of one fact delivered by a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivered {
    Recorded,
    /// The same fact (same id, person and content) was already on record.
    Duplicate,
    /// A different fact is on record under this id: the feed contradicts itself.
    Conflict,
}

/// A risk area as published (or proposed).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskArea {
    pub id: String,
    pub region: String,
    pub venue_id: Option<String>,
    pub name: String,
    /// `medium` or `high`.
    pub level: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    pub legal_basis: String,
    /// The batch of facts that publishes it once a second official approves.
    pub batch_id: String,
    /// `proposed` or `published`.
    pub state: String,
    /// People whose visits or itinerary fall inside it.
    pub affected: i64,
    pub proposed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

type RiskAreaRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    String,
    String,
    String,
    i64,
    String,
    i64,
);

impl Store {
    /// Records facts delivered by a feed, each idempotently by its id: a fact already on record
    /// is a duplicate when it is the same, a conflict when it is not; the rest land with their
    /// audit entries. One outcome per item, in order.
    pub async fn deliver_facts(
        &self,
        items: &[BatchItem],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Vec<Delivered>, StoreError> {
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(CHUNK) {
            db::with_pool!(&self.backend, pool => {
                let mut tx = pool.begin_write().await?;
                let mut chain = audit::Chain::default();
                let sql = format!(
                    "SELECT id, person_id, body_sealed FROM facts WHERE id IN ({})",
                    numbered(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (String, String, Vec<u8>)>(&sql);
                for item in chunk {
                    q = q.bind(&item.fact.id);
                }
                let mut held: HashMap<String, (String, FactBody)> = HashMap::new();
                for (id, person, body) in q.fetch_all(&mut *tx).await? {
                    let body = self.open_json(Sealed::FactBody, &id, &body)?;
                    held.insert(id, (person, body));
                }
                for item in chunk {
                    if let Some((person, held_body)) = held.get(&item.fact.id) {
                        let same = *person == item.person_id && *held_body == item.fact.body;
                        out.push(if same { Delivered::Duplicate } else { Delivered::Conflict });
                        continue;
                    }
                    self.insert_fact(&mut *tx, &mut chain, &item.person_id, &item.fact, actor, now).await?;
                    held.insert(item.fact.id.clone(), (item.person_id.clone(), item.fact.body.clone()));
                    out.push(Delivered::Recorded);
                }
                audit::close(&mut *tx, &mut chain).await?;
                tx.commit().await?;
            });
        }
        Ok(out)
    }

    /// The confirmed visits, entries and exits, at a venue or at any venue of a region, made in
    /// `[from, to)`, handed to `each` one subject's visits at one venue at a time, in time order:
    /// what presence there is computed from (`healthcode_core::visits::presences`). Streamed, so a
    /// region of millions of visits is never held at once.
    pub async fn each_visit_group(
        &self,
        region: &RegionCode,
        venue_id: Option<&str>,
        from: OffsetDateTime,
        to: OffsetDateTime,
        mut each: impl FnMut(&[VisitPoint<String>]),
    ) -> Result<(), StoreError> {
        use futures_util::TryStreamExt;
        let (sql, key) = match venue_id {
            Some(venue) => (
                "SELECT subject, venue_id, direction, at, until_at FROM visits WHERE venue_id = $1 \
                 AND at >= $2 AND at < $3 AND confirmed = TRUE ORDER BY subject, venue_id, at",
                venue.to_owned(),
            ),
            None => (
                "SELECT v.subject, v.venue_id, v.direction, v.at, v.until_at FROM visits v \
                 JOIN venues p ON p.id = v.venue_id \
                 WHERE p.region LIKE $1 AND v.at >= $2 AND v.at < $3 AND v.confirmed = TRUE \
                 ORDER BY v.subject, v.venue_id, v.at",
                format!("{}%", region.prefix()),
            ),
        };
        let mut group: Vec<VisitPoint<String>> = Vec::new();
        db::with_pool!(&self.backend, pool => {
            let mut rows = sqlx::query_as::<_, (String, String, String, i64, i64)>(sql)
                .bind(&key)
                .bind(ms(from))
                .bind(ms(to))
                .fetch(pool);
            while let Some((subject, venue, direction, at, until)) = rows.try_next().await? {
                let direction = Direction::parse(&direction)
                    .ok_or_else(|| StoreError::Corrupt(format!("visit direction {direction:?}")))?;
                if group
                    .last()
                    .is_some_and(|p| p.subject != subject || p.venue != venue)
                {
                    each(&group);
                    group.clear();
                }
                group.push(VisitPoint { subject, venue, direction, at, until });
            }
        });
        if !group.is_empty() {
            each(&group);
        }
        Ok(())
    }

    /// Every itinerary fact on record: (person, fact), for matching against a risk area.
    pub async fn itinerary_facts(&self) -> Result<Vec<(String, Fact)>, StoreError> {
        let rows: Vec<PersonFactRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT person_id, id, body_sealed, recorded_at, legal_basis FROM facts WHERE kind = 'itinerary'",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(person, id, body, recorded_at, legal_basis)| {
                Ok((person, self.fact_from(id, &body, recorded_at, legal_basis)?))
            })
            .collect()
    }

    /// Proposes a risk area (its `id` chosen by the caller, so the facts can name it) with the facts that publishing it records: the batch waits for a
    /// second official, whose approval publishes the area.
    pub async fn propose_risk_area(
        &self,
        area: &RiskArea,
        items: &[BatchItem],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(RiskArea, Batch), StoreError> {
        let batch = self
            .propose_batch(&area.legal_basis, items, actor, now)
            .await?;
        let id = &area.id;
        db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "INSERT INTO risk_areas (id, region, venue_id, name, level, starts_at, ends_at, legal_basis, batch_id, \
                 affected, proposed_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(id)
            .bind(&area.region)
            .bind(&area.venue_id)
            .bind(&area.name)
            .bind(&area.level)
            .bind(ms(area.starts_at))
            .bind(area.ends_at.map(ms))
            .bind(&area.legal_basis)
            .bind(&batch.id)
            .bind(items.len() as i64)
            .bind(&actor.id)
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        let area = self
            .risk_area(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("risk area {id}")))?;
        Ok((area, batch))
    }

    pub async fn risk_area(&self, id: &str) -> Result<Option<RiskArea>, StoreError> {
        Ok(self
            .risk_areas_where("r.id = $1", id)
            .await?
            .into_iter()
            .next())
    }

    /// Published risk areas (or all, with proposals), newest first.
    pub async fn risk_areas(&self, with_proposals: bool) -> Result<Vec<RiskArea>, StoreError> {
        let filter = if with_proposals {
            "$1 = $1"
        } else {
            "b.state = $1"
        };
        self.risk_areas_where(filter, "applied").await
    }

    async fn risk_areas_where(
        &self,
        filter: &str,
        value: &str,
    ) -> Result<Vec<RiskArea>, StoreError> {
        let sql = format!(
            "SELECT r.id, r.region, r.venue_id, r.name, r.level, r.starts_at, r.ends_at, r.legal_basis, r.batch_id, \
             b.state, r.affected, r.proposed_by, r.created_at FROM risk_areas r JOIN batches b ON b.id = r.batch_id \
             WHERE {filter} ORDER BY r.created_at DESC, r.id"
        );
        let rows: Vec<RiskAreaRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(value).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|r| RiskArea {
                id: r.0,
                region: r.1,
                venue_id: r.2,
                name: r.3,
                level: r.4,
                starts_at: from_ms(r.5),
                ends_at: r.6.map(from_ms),
                legal_basis: r.7,
                batch_id: r.8,
                state: if r.9 == "applied" {
                    "published".into()
                } else {
                    "proposed".into()
                },
                affected: r.10,
                proposed_by: r.11,
                created_at: from_ms(r.12),
            })
            .collect())
    }
}
