//! Each person's colour as last derived, the next moment it can change by time alone, and the
//! announcement of a change. Reads of a colour never come from here (they derive it afresh);
//! this is what lets the node notice a change nobody asked about: a new fact, a contact found by
//! a trace, or an end reached by time.

use crate::audit::{self, Actor};
use crate::db::{BeginWrite, CHUNK, numbered, placeholders};
use crate::facts::PersonFactRow;
use crate::outbox::{NewNotice, queue_notices};
use crate::{Outbox, Store, StoreError, db, ms};
use healthcode_core::{Color, Fact, Status};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// A colour that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColourChange {
    pub person_id: String,
    pub from: Color,
    pub to: Color,
}

/// How a change of colour is announced: on which channels and in which words. The caller (the
/// colour use case) decides; the store writes one outbox message per channel.
#[derive(Debug, Clone, Copy)]
pub struct Announcement<'a> {
    pub channels: &'a [&'a str],
    /// The policy whose words (`Policy::messages`, told by `notice::colour_change`) tell each
    /// change.
    pub policy: &'a healthcode_core::Policy,
}

impl Store {
    /// Keeps the derived colours of these people and announces every change: in one
    /// transaction per chunk, the colour and next change are written, and for a changed colour
    /// an audit entry and one outbox message per channel of `announce`. A person with no row counts as
    /// green with nothing due, so the many who never had a fact cost no row.
    pub async fn keep_colours(
        &self,
        statuses: &[(String, Status)],
        announce: Announcement<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<ColourChange>, StoreError> {
        let mut changes = Vec::new();
        let words = announce.policy.messages();
        let actor = Actor::new("node", "system", "colour derived by the published policy");
        for chunk in statuses.chunks(CHUNK) {
            db::with_pool!(&self.backend, pool => {
                let mut tx = pool.begin_write().await?;
                let mut chain = audit::Chain::default();
                let sql = format!(
                    "SELECT person_id, colour, next_change, evaluated_at FROM colours WHERE person_id IN ({})",
                    numbered(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (String, String, Option<i64>, i64)>(&sql);
                for (id, _) in chunk {
                    q = q.bind(id);
                }
                let held: HashMap<String, (String, Option<i64>, i64)> = q
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|(id, colour, next, at)| (id, (colour, next, at)))
                    .collect();
                let mut kept_rows = Vec::new();
                let mut announced = Vec::new();
                let mut seen = HashSet::new();
                for (person_id, status) in chunk {
                    // One row per person in a statement (PostgreSQL updates a row once).
                    if !seen.insert(person_id) {
                        continue;
                    }
                    let kept = held.get(person_id).map(|(c, n, _)| kept_colour(c, *n));
                    if unchanged(kept, status) {
                        continue;
                    }
                    kept_rows.push((person_id, status));
                    let old = kept.map_or(Color::Green, |(c, _)| c);
                    if old == status.color {
                        continue;
                    }
                    let old_at = held.get(person_id).map_or(0, |(_, _, at)| *at);
                    let text = healthcode_core::notice::colour_change(&words, old, status);
                    let body = serde_json::to_vec(&text)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let sealed = self.vault.seal(&body, Outbox::Notices.body_context());
                    announced.push((person_id, status, old, old_at, sealed));
                }
                if !kept_rows.is_empty() {
                    let sql = format!(
                        "INSERT INTO colours (person_id, colour, next_change, evaluated_at, policy_version) VALUES {} \
                         ON CONFLICT (person_id) DO UPDATE SET colour = excluded.colour, next_change = excluded.next_change, \
                         evaluated_at = excluded.evaluated_at, policy_version = excluded.policy_version",
                        placeholders(&self.backend, kept_rows.len(), 5)
                    );
                    let mut q = sqlx::query(&sql);
                    for (person_id, status) in &kept_rows {
                        q = q
                            .bind(*person_id)
                            .bind(status.color.as_str())
                            .bind(status.next_change.map(ms))
                            .bind(ms(now))
                            .bind(&status.policy_version);
                    }
                    q.execute(&mut *tx).await?;
                }
                // One message per channel. Two writers deriving the same change from the same
                // row make the same keys, and only one of them announces it.
                let mut messages = Vec::new();
                for (person_id, status, old, old_at, sealed) in &announced {
                    for channel in announce.channels {
                        messages.push(NewNotice {
                            person_id,
                            channel,
                            dedup_key: format!("{person_id}:{old_at}:{}:{channel}", status.color),
                            colours: (old.as_str(), status.color.as_str()),
                            sealed,
                        });
                    }
                }
                let inserted = queue_notices(&mut *tx, &messages, now).await?;
                for (person_id, status, old, _, _) in announced {
                    if !inserted.contains(person_id.as_str()) {
                        continue;
                    }
                    let rules: Vec<&str> = status.reasons.iter().map(|r| r.rule.as_str()).collect();
                    let detail = format!("colour {old} → {} ({})", status.color, rules.join(", "));
                    audit::chain(&mut *tx, &mut chain, ms(now), &actor, "colour.change", Some(person_id.clone()), detail).await?;
                    changes.push(ColourChange {
                        person_id: person_id.clone(),
                        from: old,
                        to: status.color,
                    });
                }
                audit::close(&mut *tx, &mut chain).await?;
                tx.commit().await?;
            });
        }
        Ok(changes)
    }

    /// People whose colour can change by time at or before `now`, soonest first.
    pub async fn colours_due(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT person_id FROM colours WHERE next_change <= $1 ORDER BY next_change, person_id LIMIT $2",
            )
            .bind(ms(now))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// A page of person ids after `after`, in id order: for sweeping everyone.
    pub async fn person_ids_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT id FROM people WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Everything that shapes the colours of the people whose ids are in `(after, last]`: their
    /// facts and their kept colours, one range read of each index, for sweeping everyone in id
    /// order. Only people with a history appear.
    pub async fn histories_between(
        &self,
        after: &str,
        last: &str,
    ) -> Result<Histories, StoreError> {
        let (facts, kept): (Vec<PersonFactRow>, Vec<KeptRow>) = db::with_pool!(&self.backend, pool => {
            let facts = sqlx::query_as(
                "SELECT person_id, id, body_sealed, recorded_at, legal_basis FROM facts \
                 WHERE person_id > $1 AND person_id <= $2 ORDER BY person_id, recorded_at, id",
            )
            .bind(after)
            .bind(last)
            .fetch_all(pool)
            .await?;
            let kept = sqlx::query_as(
                "SELECT person_id, colour, next_change FROM colours WHERE person_id > $1 AND person_id <= $2",
            )
            .bind(after)
            .bind(last)
            .fetch_all(pool)
            .await?;
            (facts, kept)
        });
        let mut out = Histories::default();
        self.group_facts(facts, &mut out.facts)?;
        out.kept = kept
            .into_iter()
            .map(|(person, colour, next_change)| (person, kept_colour(&colour, next_change)))
            .collect();
        Ok(out)
    }
}

/// A kept row's colour and next change; an unreadable colour counts as green.
fn kept_colour(colour: &str, next_change: Option<i64>) -> (Color, Option<i64>) {
    (Color::parse(colour).unwrap_or(Color::Green), next_change)
}

/// Whether `status` says what is kept (no row: green with nothing due), so nothing is written.
fn unchanged(kept: Option<(Color, Option<i64>)>, status: &Status) -> bool {
    kept.unwrap_or((Color::Green, None)) == (status.color, status.next_change.map(ms))
}

/// A kept colour: (person, colour, next_change).
type KeptRow = (String, String, Option<i64>);

/// The facts and kept colours of a range of people (`Store::histories_between`).
#[derive(Debug, Default)]
pub struct Histories {
    pub facts: HashMap<String, Vec<Fact>>,
    /// The colour last kept and its next change (ms), for those who have one.
    pub kept: HashMap<String, (Color, Option<i64>)>,
}

impl Histories {
    /// Everyone in the range with a history, in id order.
    pub fn people(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.facts.keys().chain(self.kept.keys()).cloned().collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether `status` differs from what is kept for `person` (no row: green, nothing due).
    pub fn differs(&self, person: &str, status: &Status) -> bool {
        !unchanged(self.kept.get(person).copied(), status)
    }
}
