//! Contact tracing as durable jobs. Recording a case queues its trace in the same transaction;
//! a worker claims it with a lease, records what each level finds as it goes, and marks it done.
//! A worker that dies leaves a lease that runs out, and the trace is taken up again from the
//! start: exposures and contact facts are written so that a second run adds nothing twice.
//! Retracting a case queues its trace again in the same transaction, and that run withdraws the
//! contact facts the case caused, so a retraction is never left with its contacts in force.

use crate::audit::{self, Actor};
use crate::db::{BeginWrite, CHUNK, numbered, placeholders};
use crate::{Store, StoreError, db, from_ms, ms};
use healthcode_core::contacts::{
    ContactUpdate, HeldContact, LoggedVisit, Names, VisitLog, contact_update,
};
use healthcode_core::visits::Direction;
use healthcode_core::{Fact, FactBody};
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// A claimed trace: the case it is for.
#[derive(Debug, Clone)]
pub struct TraceJob {
    pub case_id: String,
    pub person_id: String,
    pub case: Fact,
    /// How many times it has been started, this one included.
    pub runs: i64,
}

/// A trace as officials see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceView {
    pub case_id: String,
    pub person_id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub window_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub window_until: OffsetDateTime,
    pub close_contacts: i64,
    pub secondary_contacts: i64,
    /// Contacts who carry another region's pass: listed with their region, not coloured here.
    pub other_region: i64,
    pub facts_recorded: i64,
    /// Visits read from the log so far (a measure of the work done).
    pub rows_read: i64,
    pub runs: i64,
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

/// One exposure a trace found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TracedExposure {
    /// 1: close contact; 2: secondary contact.
    pub level: i64,
    /// The pass subject (pseudonym) and its region.
    pub subject: String,
    pub region: String,
    /// The person, when the subject is one of this region's.
    pub person_id: Option<String>,
    pub venue_id: String,
    pub venue_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub exposed_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub exposed_until: OffsetDateTime,
    /// Whose presence it overlapped (a pass subject).
    pub source: String,
}

/// The order a case's exposures are listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExposureOrder {
    /// Close contacts first, then by time.
    #[default]
    Level,
    Time,
    Venue,
}

/// People and exposures a trace found at one venue, at one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueTally {
    pub venue: String,
    pub level: i64,
    pub people: i64,
    pub exposures: i64,
}

/// Progress of a running trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceProgress {
    pub window: (i64, i64),
    pub close_contacts: i64,
    pub secondary_contacts: i64,
    pub other_region: i64,
    pub facts_recorded: i64,
    pub rows_read: i64,
}

/// A contact fact to hold for one person; `digest` identifies its content, so an unchanged one
/// is not recorded again.
#[derive(Debug, Clone)]
pub struct ContactFact {
    pub person_id: String,
    pub fact: Fact,
    pub digest: String,
}

type TraceRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

const SELECT_TRACE: &str = "SELECT case_id, person_id, state, window_from, window_until, close_contacts, \
     secondary_contacts, other_region, facts_recorded, rows_read, runs, error, created_at, started_at, \
     finished_at FROM traces";

fn trace_from(r: TraceRow) -> TraceView {
    TraceView {
        case_id: r.0,
        person_id: r.1,
        state: r.2,
        window_from: from_ms(r.3),
        window_until: from_ms(r.4),
        close_contacts: r.5,
        secondary_contacts: r.6,
        other_region: r.7,
        facts_recorded: r.8,
        rows_read: r.9,
        runs: r.10,
        error: r.11,
        created_at: from_ms(r.12),
        started_at: r.13.map(from_ms),
        finished_at: r.14.map(from_ms),
    }
}

impl Store {
    /// Claims the oldest trace that is queued, or running under a lease that has run out.
    pub async fn claim_trace(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<Option<TraceJob>, StoreError> {
        let now_ms = ms(now);
        loop {
            let next: Option<(String,)> = db::with_pool!(&self.backend, pool => {
                sqlx::query_as(
                    "SELECT case_id FROM traces WHERE state = 'queued' OR (state = 'running' AND lease_until < $1) \
                     ORDER BY created_at, case_id LIMIT 1",
                )
                .bind(now_ms)
                .fetch_optional(pool)
                .await?
            });
            let Some((case_id,)) = next else {
                return Ok(None);
            };
            // Compare and set: another worker may have claimed it meanwhile.
            let claimed = db::with_pool!(&self.backend, pool => {
                sqlx::query(
                    "UPDATE traces SET state = 'running', lease_until = $1, runs = runs + 1, started_at = $2, \
                     error = NULL, finished_at = NULL WHERE case_id = $3 AND (state = 'queued' OR (state = 'running' AND lease_until < $2))",
                )
                .bind(ms(now + lease))
                .bind(now_ms)
                .bind(&case_id)
                .execute(pool)
                .await?
                .rows_affected()
            });
            if claimed == 0 {
                continue;
            }
            type CaseRow = (
                i64,
                Option<String>,
                Option<Vec<u8>>,
                Option<i64>,
                Option<String>,
            );
            let (runs, person_id, body, recorded_at, legal_basis): CaseRow = db::with_pool!(&self.backend, pool => {
                sqlx::query_as(
                    "SELECT t.runs, f.person_id, f.body_sealed, f.recorded_at, f.legal_basis FROM traces t \
                     LEFT JOIN facts f ON f.id = t.case_id WHERE t.case_id = $1",
                )
                .bind(&case_id)
                .fetch_one(pool)
                .await?
            });
            let (Some(person_id), Some(body), Some(recorded_at), Some(legal_basis)) =
                (person_id, body, recorded_at, legal_basis)
            else {
                self.finish_trace(&case_id, runs, Some("the case fact is missing"), now)
                    .await?;
                continue;
            };
            return Ok(Some(TraceJob {
                case: self.fact_from(case_id.clone(), &body, recorded_at, legal_basis)?,
                case_id,
                person_id,
                runs,
            }));
        }
    }

    /// Records a running trace's progress and extends its lease.
    pub async fn trace_progress(
        &self,
        case_id: &str,
        runs: i64,
        progress: &TraceProgress,
        lease_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "UPDATE traces SET window_from = $1, window_until = $2, close_contacts = $3, secondary_contacts = $4, \
                 other_region = $5, facts_recorded = $6, rows_read = $7, lease_until = $8 \
                 WHERE case_id = $9 AND state = 'running' AND runs = $10",
            )
            .bind(progress.window.0)
            .bind(progress.window.1)
            .bind(progress.close_contacts)
            .bind(progress.secondary_contacts)
            .bind(progress.other_region)
            .bind(progress.facts_recorded)
            .bind(progress.rows_read)
            .bind(ms(lease_until))
            .bind(case_id)
            .bind(runs)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Ends run `runs` of a trace: done, or failed with the error. A run whose trace was
    /// queued again meanwhile (its case retracted) or taken over (its lease ran out) ends
    /// nothing: the newer run does.
    pub async fn finish_trace(
        &self,
        case_id: &str,
        runs: i64,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let state = if error.is_some() { "failed" } else { "done" };
        db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "UPDATE traces SET state = $1, error = $2, finished_at = $3, lease_until = NULL \
                 WHERE case_id = $4 AND state = 'running' AND runs = $5",
            )
            .bind(state)
            .bind(error)
            .bind(ms(now))
            .bind(case_id)
            .bind(runs)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Queues a finished or failed trace to run again (after visits arrived late, say).
    pub async fn requeue_trace(
        &self,
        case_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE traces SET state = 'queued', lease_until = NULL WHERE case_id = $1 AND state IN ('done', 'failed')",
            )
            .bind(case_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                let exists: Option<(String,)> = sqlx::query_as("SELECT state FROM traces WHERE case_id = $1")
                    .bind(case_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                return Err(match exists {
                    None => StoreError::NotFound(format!("trace of case {case_id}")),
                    Some((state,)) => StoreError::Conflict(format!("the trace is {state}")),
                });
            }
            audit::append(&mut *tx, ms(now), actor, "trace.requeue", None, format!("trace of case {case_id}")).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn trace(&self, case_id: &str) -> Result<Option<TraceView>, StoreError> {
        let sql = format!("{SELECT_TRACE} WHERE case_id = $1");
        let row: Option<TraceRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(case_id).fetch_optional(pool).await?
        });
        Ok(row.map(trace_from))
    }

    /// Traces not yet done, oldest first (for the console and the metrics).
    pub async fn traces_in(&self, state: &str, limit: i64) -> Result<Vec<TraceView>, StoreError> {
        let sql = format!("{SELECT_TRACE} WHERE state = $1 ORDER BY created_at, case_id LIMIT $2");
        let rows: Vec<TraceRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(state).bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(trace_from).collect())
    }

    /// Records exposures a trace found; ones already recorded by an earlier run are left as
    /// they are.
    pub async fn record_exposures(
        &self,
        case_id: &str,
        exposures: &[TracedExposure],
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            for chunk in exposures.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO trace_exposures (case_id, level, subject, region, person_id, venue_id, exposed_from, \
                     exposed_until, source) VALUES {} ON CONFLICT DO NOTHING",
                    placeholders(&self.backend, chunk.len(), 9)
                );
                let mut q = sqlx::query(&sql);
                for e in chunk {
                    q = q.bind(case_id).bind(e.level).bind(&e.subject).bind(&e.region).bind(&e.person_id)
                        .bind(&e.venue_id).bind(ms(e.exposed_from)).bind(ms(e.exposed_until)).bind(&e.source);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// A trace's exposures, by level and time, with venue names; a page at a time.
    pub async fn trace_exposures(
        &self,
        case_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<TracedExposure>, StoreError> {
        self.trace_exposures_by(case_id, ExposureOrder::Level, limit, offset)
            .await
    }

    /// How many people and exposures a case's trace found at each venue, by level.
    pub async fn trace_by_venue(&self, case_id: &str) -> Result<Vec<VenueTally>, StoreError> {
        let rows: Vec<(String, i64, i64, i64)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT COALESCE(v.name, e.venue_id), e.level, COUNT(DISTINCT e.subject), COUNT(*) \
                 FROM trace_exposures e LEFT JOIN venues v ON v.id = e.venue_id WHERE e.case_id = $1 \
                 GROUP BY COALESCE(v.name, e.venue_id), e.level ORDER BY 1, 2",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(venue, level, people, exposures)| VenueTally {
                venue,
                level,
                people,
                exposures,
            })
            .collect())
    }

    /// A page of a case's exposures in the order asked for.
    pub async fn trace_exposures_by(
        &self,
        case_id: &str,
        order: ExposureOrder,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<TracedExposure>, StoreError> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            i64,
            i64,
            String,
        );
        let rows: Vec<Row> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(match order {
                ExposureOrder::Level => "SELECT e.level, e.subject, e.region, e.person_id, e.venue_id, v.name, e.exposed_from, e.exposed_until, e.source \
                 FROM trace_exposures e LEFT JOIN venues v ON v.id = e.venue_id WHERE e.case_id = $1 \
                 ORDER BY e.level, e.exposed_from, e.subject, e.venue_id, e.source LIMIT $2 OFFSET $3",
                ExposureOrder::Time => "SELECT e.level, e.subject, e.region, e.person_id, e.venue_id, v.name, e.exposed_from, e.exposed_until, e.source \
                 FROM trace_exposures e LEFT JOIN venues v ON v.id = e.venue_id WHERE e.case_id = $1 \
                 ORDER BY e.exposed_from, e.level, e.subject, e.venue_id, e.source LIMIT $2 OFFSET $3",
                ExposureOrder::Venue => "SELECT e.level, e.subject, e.region, e.person_id, e.venue_id, v.name, e.exposed_from, e.exposed_until, e.source \
                 FROM trace_exposures e LEFT JOIN venues v ON v.id = e.venue_id WHERE e.case_id = $1 \
                 ORDER BY COALESCE(v.name, e.venue_id), e.level, e.exposed_from, e.subject, e.source LIMIT $2 OFFSET $3",
            })
            .bind(case_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| TracedExposure {
                level: r.0,
                subject: r.1,
                region: r.2,
                person_id: r.3,
                venue_id: r.4,
                venue_name: r.5,
                exposed_from: from_ms(r.6),
                exposed_until: from_ms(r.7),
                source: r.8,
            })
            .collect())
    }

    /// This region's people behind pass subjects: pseudonym → person id.
    pub async fn people_by_pseudonym(
        &self,
        pseudonyms: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        self.lookup(
            "SELECT pseudonym, id FROM people WHERE pseudonym IN ({list})",
            pseudonyms,
        )
        .await
    }

    /// The region of each pass subject, from its visits.
    pub async fn subject_regions(
        &self,
        subjects: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        self.lookup(
            "SELECT subject, MIN(region) FROM visits WHERE subject IN ({list}) GROUP BY subject",
            subjects,
        )
        .await
    }

    /// Venue names by id.
    pub async fn venue_names(&self, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        self.lookup("SELECT id, name FROM venues WHERE id IN ({list})", ids)
            .await
    }

    /// Runs a two-column query whose `{list}` is an `IN` list of `keys`, a chunk at a time.
    async fn lookup(
        &self,
        sql: &str,
        keys: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = sql.replace("{list}", &numbered(1, chunk.len()));
            let rows: Vec<(String, String)> = db::with_pool!(&self.backend, pool => {
                let mut q = sqlx::query_as(&sql);
                for key in chunk {
                    q = q.bind(key);
                }
                q.fetch_all(pool).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Holds one contact fact per person and level, as `contact_update` decides: a new one is
    /// recorded, and one it replaces is retracted, in the same transaction. Returns the ids of
    /// the facts recorded.
    pub async fn hold_contact_facts(
        &self,
        case_person: &str,
        facts: &[ContactFact],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut recorded = Vec::new();
        for chunk in facts.chunks(CHUNK) {
            db::with_pool!(&self.backend, pool => {
                let mut tx = pool.begin_write().await?;
                let mut chain = audit::Chain::default();
                let sql = format!(
                    "SELECT contact_person, level, case_person, fact_id, digest, exposure_end FROM contact_facts \
                     WHERE contact_person IN ({})",
                    numbered(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (String, i64, String, String, String, i64)>(&sql);
                for c in chunk {
                    q = q.bind(&c.person_id);
                }
                let held: HashMap<(String, i64), HeldContact> = q
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|(person, level, case_person, fact_id, digest, exposure_end)| {
                        ((person, level), HeldContact { case_person, fact_id, digest, exposure_end })
                    })
                    .collect();
                // Decided in order, each against what the ones before it left held: a person
                // named twice in a chunk is decided as if the two came one after the other.
                let mut held = held;
                let mut retractions = Vec::new();
                let mut new = Vec::new();
                for c in chunk {
                    let Some((level, end)) = contact_level(&c.fact) else {
                        continue;
                    };
                    let key = (c.person_id.clone(), level);
                    match contact_update(held.get(&key), case_person, &c.digest, end) {
                        ContactUpdate::Keep => continue,
                        ContactUpdate::Record => {}
                        ContactUpdate::Replace(old) => retractions.push((c, Fact {
                            id: format!("{}-r", c.fact.id),
                            recorded_at: c.fact.recorded_at,
                            legal_basis: c.fact.legal_basis.clone(),
                            body: FactBody::Retraction {
                                retracts: old,
                                reason: format!("superseded by {}", c.fact.id),
                            },
                        })),
                    }
                    held.insert(key, HeldContact {
                        case_person: case_person.to_owned(),
                        fact_id: c.fact.id.clone(),
                        digest: c.digest.clone(),
                        exposure_end: end,
                    });
                    new.push(c);
                }
                let mut facts: Vec<(&str, &Fact)> = retractions
                    .iter()
                    .map(|(c, r)| (c.person_id.as_str(), r))
                    .collect();
                facts.extend(new.iter().map(|c| (c.person_id.as_str(), &c.fact)));
                self.insert_facts(&mut *tx, &mut chain, &facts, actor, now).await?;
                // The last decision for each person and level is what is held.
                let mut last: HashMap<(&str, i64), &ContactFact> = HashMap::new();
                for c in &new {
                    if let Some((level, _)) = contact_level(&c.fact) {
                        last.insert((c.person_id.as_str(), level), c);
                    }
                }
                let rows: Vec<((&str, i64), &ContactFact)> = last.into_iter().collect();
                if !rows.is_empty() {
                    let sql = format!(
                        "INSERT INTO contact_facts (contact_person, level, case_person, fact_id, digest, exposure_end) \
                         VALUES {} ON CONFLICT (contact_person, level) DO UPDATE SET case_person = excluded.case_person, \
                         fact_id = excluded.fact_id, digest = excluded.digest, exposure_end = excluded.exposure_end",
                        placeholders(&self.backend, rows.len(), 6)
                    );
                    let mut q = sqlx::query(&sql);
                    for ((person, level), c) in &rows {
                        let end = contact_level(&c.fact).map_or(0, |(_, end)| end);
                        q = q
                            .bind(*person)
                            .bind(*level)
                            .bind(case_person)
                            .bind(&c.fact.id)
                            .bind(&c.digest)
                            .bind(end);
                    }
                    q.execute(&mut *tx).await?;
                }
                recorded.extend(new.iter().map(|c| c.fact.id.clone()));
                audit::close(&mut *tx, &mut chain).await?;
                tx.commit().await?;
            });
        }
        Ok(recorded)
    }
}

impl Store {
    /// Withdraws what a retracted case caused: every contact fact still held that names
    /// `case_id` gets a retraction with `legal_basis`, in the transaction that forgets it and
    /// queues again the other traces that found the person (an exposure to another case stands,
    /// and their next run holds it, whether this fact had superseded it or outlasted it). Returns
    /// everyone the case's trace found, whose colours are then derived again: those withdrawn
    /// now, and those withdrawn by an earlier run that failed before deriving them. Nothing
    /// happens for a fact that was no traced case, or twice for the same case.
    pub async fn retract_contacts_of(
        &self,
        case_id: &str,
        legal_basis: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let people: Vec<(String,)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT DISTINCT person_id FROM trace_exposures WHERE case_id = $1 AND person_id IS NOT NULL",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?
        });
        for chunk in people.chunks(CHUNK) {
            db::with_pool!(&self.backend, pool => {
                let mut tx = pool.begin_write().await?;
                let mut chain = audit::Chain::default();
                let sql = format!(
                    "SELECT c.contact_person, c.level, f.id, f.body_sealed, f.recorded_at, f.legal_basis \
                     FROM contact_facts c JOIN facts f ON f.id = c.fact_id WHERE c.contact_person IN ({})",
                    numbered(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (String, i64, String, Vec<u8>, i64, String)>(&sql);
                for (person,) in chunk {
                    q = q.bind(person);
                }
                for (person, level, id, body, recorded_at, basis) in q.fetch_all(&mut *tx).await? {
                    let fact = self.fact_from(id, &body, recorded_at, basis)?;
                    let FactBody::Contact { case_id: named, .. } = &fact.body else {
                        continue;
                    };
                    if named != case_id {
                        continue;
                    }
                    let retraction = Fact {
                        id: format!("{}-withdrawn", fact.id),
                        recorded_at: now,
                        legal_basis: legal_basis.to_owned(),
                        body: FactBody::Retraction {
                            retracts: fact.id.clone(),
                            reason: format!("case {case_id} was retracted"),
                        },
                    };
                    self.insert_fact(&mut *tx, &mut chain, &person, &retraction, actor, now).await?;
                    sqlx::query("DELETE FROM contact_facts WHERE contact_person = $1 AND level = $2")
                        .bind(&person)
                        .bind(level)
                        .execute(&mut *tx)
                        .await?;
                    crate::trace_queue::requeue_reaching(&mut *tx, &person, case_id).await?;
                }
                audit::close(&mut *tx, &mut chain).await?;
                tx.commit().await?;
            });
        }
        Ok(people.into_iter().map(|(person,)| person).collect())
    }
}

/// A contact fact's level (1 close, 2 secondary) and the end of its exposure.
fn contact_level(fact: &Fact) -> Option<(i64, i64)> {
    match &fact.body {
        FactBody::Contact {
            level,
            exposure_end,
            ..
        } => Some((
            match level {
                healthcode_core::facts::ContactLevel::Close => 1,
                healthcode_core::facts::ContactLevel::Secondary => 2,
            },
            ms(*exposure_end),
        )),
        _ => None,
    }
}

/// The store's visit log as tracing reads it: two range queries on the `(venue_id, at)` and
/// `(subject, at)` indexes, visits that count as presence only.
pub struct IndexedLog<'a>(pub &'a Store);

/// Ranges of the visit log longer than this are read in pieces, at most `MOST_PIECES`.
const PIECE_MS: i64 = 4 * 3_600_000;
const MOST_PIECES: i64 = 4;

/// Visits read from one piece of a range: per row `at`, `until`, whether it is an exit, and
/// where its `other` name (venue or subject) ends in `text`, the names kept end to end.
#[derive(Debug, Default)]
struct Piece {
    text: String,
    rows: Vec<(i64, i64, bool, usize)>,
}

impl Piece {
    fn push(&mut self, at: i64, until: i64, exit: bool, other: &str) {
        self.text.push_str(other);
        self.rows.push((at, until, exit, self.text.len()));
    }
}

impl IndexedLog<'_> {
    /// The visits whose `key` column is `value` in `[from, to)`, with `ended_by` leaving out
    /// entries whose presence ended by then (exits are kept). A long range is read as several
    /// pieces at once, so that both cores work on a busy venue's days of rows.
    async fn select(
        &self,
        (key, value): (&'static str, &str),
        (from, to): (i64, i64),
        ended_by: Option<i64>,
        names: &mut Names,
    ) -> Result<Vec<LoggedVisit>, StoreError> {
        let other = if key == "venue_id" {
            "subject"
        } else {
            "venue_id"
        };
        let filter = match ended_by {
            Some(_) => "AND (until_at > $4 OR direction = 'exit')",
            None => "",
        };
        let from_where = format!(
            "FROM visits WHERE {key} = $1 AND at >= $2 AND at < $3 AND confirmed = TRUE {filter}"
        );
        let pieces = ((to - from) / PIECE_MS).clamp(1, MOST_PIECES);
        let ranges = (0..pieces).map(|i| {
            (
                from + (to - from) * i / pieces,
                from + (to - from) * (i + 1) / pieces,
            )
        });
        let read = match (&self.0.readers, &self.0.backend) {
            // SQLite: row by row on its own read-only connections (sqlite_reads.rs).
            (Some(readers), _) => {
                let sql: std::sync::Arc<str> =
                    format!("SELECT at, until_at, direction = 'exit', {other} {from_where}").into();
                let reads = ranges.map(|(a, b)| {
                    let (sql, value) = (sql.clone(), value.to_owned());
                    readers.run(move |conn| {
                        let mut stmt = conn.prepare_cached(&sql)?;
                        stmt.raw_bind_parameter(1, &value)?;
                        stmt.raw_bind_parameter(2, a)?;
                        stmt.raw_bind_parameter(3, b)?;
                        if let Some(t) = ended_by {
                            stmt.raw_bind_parameter(4, t)?;
                        }
                        let mut rows = stmt.raw_query();
                        let mut piece = Piece::default();
                        while let Some(row) = rows.next()? {
                            let other = row.get_ref(3)?.as_str()?;
                            piece.push(row.get(0)?, row.get(1)?, row.get(2)?, other);
                        }
                        Ok(piece)
                    })
                });
                futures_util::future::try_join_all(reads).await?
            }
            // PostgreSQL (and an in-memory SQLite database): a piece's rows come back as one
            // value, `at,until,e|x,other` records joined by `;`, which spares a row's decoding
            // and allocation per visit. Ids and subjects are hex, so the separators cannot
            // occur in them.
            (None, backend) => {
                let sql = format!(
                    "SELECT string_agg(at || ',' || until_at || ',' || \
                     CASE WHEN direction = 'exit' THEN 'x' ELSE 'e' END || ',' || {other}, ';') {from_where}"
                );
                let reads = ranges.map(|(a, b)| {
                    let sql = &sql;
                    async move {
                        let text: Option<String> = db::with_pool!(backend, pool => {
                            let mut q = sqlx::query_scalar(sql).bind(value).bind(a).bind(b);
                            if let Some(t) = ended_by {
                                q = q.bind(t);
                            }
                            q.fetch_one(pool).await?
                        });
                        parse_records(text.as_deref().unwrap_or_default())
                    }
                });
                futures_util::future::try_join_all(reads).await?
            }
        };
        let value = names.number(value);
        let mut out = Vec::with_capacity(read.iter().map(|p| p.rows.len()).sum());
        for piece in &read {
            let mut start = 0;
            for &(at, until, exit, end) in &piece.rows {
                let other = names.number(&piece.text[start..end]);
                start = end;
                let (subject, venue) = if key == "venue_id" {
                    (other, value)
                } else {
                    (value, other)
                };
                out.push(LoggedVisit {
                    subject,
                    venue,
                    direction: if exit {
                        Direction::Exit
                    } else {
                        Direction::Entry
                    },
                    at,
                    until,
                });
            }
        }
        Ok(out)
    }
}

/// The `at,until,e|x,other` records of one aggregated value.
fn parse_records(text: &str) -> Result<Piece, StoreError> {
    let mut piece = Piece::default();
    for record in text.split(';').filter(|r| !r.is_empty()) {
        let bad = || StoreError::Corrupt(format!("visit log record {record:?}"));
        let mut fields = record.splitn(4, ',');
        let mut field = || fields.next().ok_or_else(bad);
        let at = field()?.parse().map_err(|_| bad())?;
        let until = field()?.parse().map_err(|_| bad())?;
        let exit = field()? == "x";
        piece.push(at, until, exit, field()?);
    }
    Ok(piece)
}

impl VisitLog for IndexedLog<'_> {
    type Error = StoreError;

    async fn at_venue(
        &self,
        venue: &str,
        range: (i64, i64),
        ended_by: i64,
        names: &mut Names,
    ) -> Result<Vec<LoggedVisit>, StoreError> {
        // The covering index (venue_id, at, until_at, …) filters without reading the table.
        self.select(("venue_id", venue), range, Some(ended_by), names)
            .await
    }

    async fn of_subject(
        &self,
        subject: &str,
        range: (i64, i64),
        names: &mut Names,
    ) -> Result<Vec<LoggedVisit>, StoreError> {
        self.select(("subject", subject), range, None, names).await
    }
}
