//! Facts: append-only, each written with its audit entry in one transaction.

use crate::audit::{self, Actor};
use crate::db::{CHUNK, Conn, on_conn, placeholders};
use crate::sealed::Sealed;
use crate::{Store, StoreError, db, from_ms, ms, trace_queue, unique_violation};
use healthcode_core::{Fact, FactBody};
use std::collections::HashMap;
use time::OffsetDateTime;

type FactRow = (String, Vec<u8>, i64, String);

/// A person's facts as they stand: how many, and when the latest was recorded (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FactStamp {
    pub count: i64,
    pub latest: i64,
}

impl FactStamp {
    /// The stamp from `COUNT(*)` and `MAX(recorded_at)` of a person's facts, however they were
    /// read: a kept status compares stamps from `fact_stamp` and `session_people` alike.
    pub(crate) fn counted(count: i64, latest: Option<i64>) -> FactStamp {
        FactStamp {
            count,
            latest: latest.unwrap_or(0),
        }
    }
}

impl Store {
    /// Inserts a fact (its body sealed) and its audit entry (on `chain`, which the caller closes
    /// before the transaction commits) inside an open transaction. A case queues its trace; a
    /// retraction queues again the trace of what it retracts, whose next run withdraws the
    /// contacts it caused.
    pub(crate) async fn insert_fact<'c>(
        &self,
        conn: impl Into<Conn<'c>>,
        chain: &mut audit::Chain,
        person_id: &str,
        fact: &Fact,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.insert_facts(conn, chain, &[(person_id, fact)], actor, now)
            .await
    }

    /// Inserts facts as `insert_fact` does, a chunk per statement: a trace's contacts are
    /// thousands at a time.
    pub(crate) async fn insert_facts<'c>(
        &self,
        conn: impl Into<Conn<'c>>,
        chain: &mut audit::Chain,
        facts: &[(&str, &Fact)],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut conn = conn.into();
        for chunk in facts.chunks(CHUNK) {
            let sealed = chunk
                .iter()
                .map(|(_, f)| self.seal_json(Sealed::FactBody, &f.id, &f.body))
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!(
                "INSERT INTO facts (id, person_id, kind, body, body_sealed, recorded_at, legal_basis, actor) VALUES {}",
                placeholders(&conn, chunk.len(), 8)
            );
            on_conn!(&mut conn, c => {
                let mut q = sqlx::query(&sql);
                for ((person_id, fact), body) in chunk.iter().zip(&sealed) {
                    q = q
                        .bind(&fact.id)
                        .bind(*person_id)
                        .bind(fact.body.list())
                        .bind("")
                        .bind(body)
                        .bind(ms(fact.recorded_at))
                        .bind(&fact.legal_basis)
                        .bind(&actor.id);
                }
                q.execute(&mut **c).await.map(drop)
            })
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                    StoreError::NotFound(match chunk {
                        [(person, _)] => format!("person {person}"),
                        _ => "a person these facts name".to_owned(),
                    })
                }
                _ => unique_violation(e, "a fact with this id is already recorded"),
            })?;
            for (person_id, fact) in chunk {
                match &fact.body {
                    FactBody::Case { .. } => {
                        trace_queue::queue(&mut conn, person_id, &fact.id, now).await?
                    }
                    FactBody::Retraction { retracts, .. } => {
                        trace_queue::requeue_withdrawn(&mut conn, retracts).await?
                    }
                    _ => {}
                }
                let detail = format!(
                    "{} {} (legal basis: {})",
                    fact.body.list(),
                    fact.id,
                    fact.legal_basis
                );
                let subject = Some((*person_id).to_owned());
                audit::chain(
                    &mut conn,
                    chain,
                    ms(now),
                    actor,
                    "fact.record",
                    subject,
                    detail,
                )
                .await?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Records a fact about a person. The fact's id must be new; the actor and legal basis go on
    /// the audit chain with it.
    pub async fn record_fact(
        &self,
        person_id: &str,
        fact: &Fact,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let mut chain = audit::Chain::default();
            self.insert_fact(&mut *tx, &mut chain, person_id, fact, actor, now).await?;
            audit::close(&mut *tx, &mut chain).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// What a person's facts are now, cheaply (from the index alone): how many, and the latest
    /// recorded. Facts are only appended (or deleted when they expire), so any change changes it.
    pub async fn fact_stamp(&self, person_id: &str) -> Result<FactStamp, StoreError> {
        const SQL: &str = "SELECT COUNT(*), MAX(recorded_at) FROM facts WHERE person_id = $1";
        let (count, latest): (i64, Option<i64>) = match &self.readers {
            Some(readers) => readers.inline(|c| {
                c.prepare_cached(SQL)?
                    .query_row([person_id], |r| r.try_into())
            })?,
            None => db::with_pool!(&self.backend, pool => {
                sqlx::query_as(SQL).bind(person_id).fetch_one(pool).await?
            }),
        };
        Ok(FactStamp::counted(count, latest))
    }

    /// Every fact recorded about a person, oldest first.
    pub async fn facts(&self, person_id: &str) -> Result<Vec<Fact>, StoreError> {
        let rows: Vec<FactRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT id, body_sealed, recorded_at, legal_basis FROM facts WHERE person_id = $1 ORDER BY recorded_at, id",
            )
            .bind(person_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, body, recorded_at, legal_basis)| {
                self.fact_from(id, &body, recorded_at, legal_basis)
            })
            .collect()
    }

    /// The facts of many people at once (oldest first for each), for re-deriving colours in bulk.
    pub async fn facts_of_people(
        &self,
        person_ids: &[String],
    ) -> Result<HashMap<String, Vec<Fact>>, StoreError> {
        let mut out: HashMap<String, Vec<Fact>> = HashMap::new();
        for chunk in person_ids.chunks(crate::db::CHUNK) {
            let sql = format!(
                "SELECT person_id, id, body_sealed, recorded_at, legal_basis FROM facts WHERE person_id IN ({}) \
                 ORDER BY person_id, recorded_at, id",
                crate::db::numbered(1, chunk.len())
            );
            let rows: Vec<PersonFactRow> = db::with_pool!(&self.backend, pool => {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            });
            self.group_facts(rows, &mut out)?;
        }
        Ok(out)
    }
}

/// A fact as read with its person: (person, id, sealed body, recorded_at, legal_basis).
pub(crate) type PersonFactRow = (String, String, Vec<u8>, i64, String);

impl Store {
    /// Adds facts read with their person to each person's list, in the order read.
    pub(crate) fn group_facts(
        &self,
        rows: Vec<PersonFactRow>,
        into: &mut HashMap<String, Vec<Fact>>,
    ) -> Result<(), StoreError> {
        for (person, id, body, recorded_at, legal_basis) in rows {
            let fact = self.fact_from(id, &body, recorded_at, legal_basis)?;
            into.entry(person).or_default().push(fact);
        }
        Ok(())
    }

    /// A fact from its row, its body opened.
    pub(crate) fn fact_from(
        &self,
        id: String,
        body: &[u8],
        recorded_at: i64,
        legal_basis: String,
    ) -> Result<Fact, StoreError> {
        let body: FactBody = self.open_json(Sealed::FactBody, &id, body)?;
        Ok(Fact {
            id,
            recorded_at: from_ms(recorded_at),
            legal_basis,
            body,
        })
    }
}
