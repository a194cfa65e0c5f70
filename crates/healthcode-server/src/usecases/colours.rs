//! Deriving colours: after new facts, when a trace finds contacts, when an end by time comes,
//! and for everyone when asked. The colour is the policy's answer for the facts and the moment;
//! what is kept is only what lets the node announce a change (`Store::keep_colours`), on the
//! channels and in the words decided here (`ANNOUNCE`).

use crate::AppState;
use healthcode_core::{Fact, Policy, Status};
use healthcode_store::{Announcement, ColourChange, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// People evaluated per store round trip when many are re-derived.
const PAGE: usize = 2_000;
/// People per page of a sweep of everyone (ids read, then two range reads).
const SWEEP_PAGE: i64 = 10_000;

/// Every change of colour is announced by SMS and in the app, in the words of the policy in
/// effect (`messages`: the new colour, why, what to do, the hotline).
fn announce(policy: &Policy) -> Announcement<'_> {
    Announcement {
        channels: &["sms", "app"],
        policy,
    }
}

/// Re-derives these people's colours at `now`, keeps them, and announces the changes.
pub async fn reassess(
    state: &AppState,
    person_ids: &[String],
    now: OffsetDateTime,
) -> Result<Vec<ColourChange>, StoreError> {
    let mut changes = Vec::new();
    for page in person_ids.chunks(PAGE) {
        let facts = state.store.facts_of_people(page).await?;
        let policy = state.policy.at(now);
        let statuses = evaluate_all(&policy, page, facts, now).await;
        for (id, status) in &statuses {
            note_undecided(state, id, status);
        }
        changes.extend(
            state
                .store
                .keep_colours(&statuses, announce(&policy), now)
                .await?,
        );
    }
    Ok(changes)
}

/// A status with a rule that could not be judged shows pending (the policy's fail-safe);
/// it is logged with the rules concerned and counted in `/metrics`.
pub fn note_undecided(state: &AppState, person_id: &str, status: &Status) {
    if status.errors.is_empty() {
        return;
    }
    let rules: Vec<&str> = status.errors.iter().map(|e| e.rule.as_str()).collect();
    tracing::warn!(person = %person_id, rules = ?rules, "a rule could not be judged: the code shows pending");
    state.metrics.add(crate::metrics::UNDECIDED, "", 1);
}

/// After facts land about these people: wakes the tracers when a case or a retraction (which
/// may have queued a case's trace again) is among them, and re-derives the people's colours,
/// announcing changes. The facts are recorded whatever happens here; a failure is logged, and
/// the scheduler and the next fact make up for it.
pub async fn after_facts<'a>(
    state: &AppState,
    facts: impl IntoIterator<Item = (&'a str, &'a Fact)>,
    now: OffsetDateTime,
) {
    let mut people: Vec<String> = Vec::new();
    let mut wake = false;
    for (person, fact) in facts {
        wake |= matches!(
            fact.body,
            healthcode_core::FactBody::Case { .. } | healthcode_core::FactBody::Retraction { .. }
        );
        people.push(person.to_owned());
    }
    people.sort();
    people.dedup();
    if wake {
        state.tracer.notify_one();
    }
    if let Err(e) = reassess(state, &people, now).await {
        tracing::error!(error = %e, "re-deriving colours after new facts failed");
    }
}

/// Re-derives everyone whose colour can change by time at `now`; returns how many changed.
pub async fn run_schedule(state: &AppState, now: OffsetDateTime) -> Result<u64, StoreError> {
    let mut changed = 0;
    loop {
        let due = state.store.colours_due(now, 2_000).await?;
        if due.is_empty() {
            return Ok(changed);
        }
        changed += reassess(state, &due, now).await?.len() as u64;
        if due.len() < 2_000 {
            return Ok(changed);
        }
    }
}

/// What a sweep of everyone did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sweep {
    pub people: u64,
    /// People with facts or a kept colour: the only ones evaluated one by one.
    pub evaluated: u64,
    pub changed: u64,
}

/// Re-derives everyone, a page of ids at a time (after a policy change, or to check the kept
/// colours), reading each page's facts and kept colours as two ranges. People with no facts
/// and no kept colour all have the colour of an empty record; it is derived once and kept for
/// none of them unless it is not plain green. Only colours that differ from the kept ones are
/// written.
pub async fn reassess_everyone(state: &AppState, now: OffsetDateTime) -> Result<Sweep, StoreError> {
    let mut sweep = Sweep::default();
    let policy = state.policy.at(now);
    let empty = policy.evaluate(&[], now);
    let plain = empty.reasons.is_empty() && empty.next_change.is_none();
    let mut after = String::new();
    loop {
        let page = state.store.person_ids_after(&after, SWEEP_PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        let mut history = state.store.histories_between(&after, last).await?;
        after = last.clone();
        sweep.people += page.len() as u64;
        let ids = if plain { history.people() } else { page };
        sweep.evaluated += ids.len() as u64;
        let facts = std::mem::take(&mut history.facts);
        let statuses = evaluate_all(&policy, &ids, facts, now).await;
        for (id, status) in &statuses {
            note_undecided(state, id, status);
        }
        let differ: Vec<(String, Status)> = statuses
            .into_iter()
            .filter(|(id, status)| history.differs(id, status))
            .collect();
        sweep.changed += state
            .store
            .keep_colours(&differ, announce(&policy), now)
            .await?
            .len() as u64;
    }
    Ok(sweep)
}

/// Evaluates each person's facts; large pages on the blocking pool, split across the cores.
pub(crate) async fn evaluate_all(
    policy: &Arc<Policy>,
    ids: &[String],
    mut facts: HashMap<String, Vec<Fact>>,
    now: OffsetDateTime,
) -> Vec<(String, Status)> {
    let work: Vec<(String, Vec<Fact>)> = ids
        .iter()
        .map(|id| (id.clone(), facts.remove(id).unwrap_or_default()))
        .collect();
    if work.len() <= 32 {
        return work
            .into_iter()
            .map(|(id, facts)| {
                let status = policy.evaluate(&facts, now);
                (id, status)
            })
            .collect();
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = work.len().div_ceil(threads);
    let mut tasks = Vec::new();
    let mut rest = work;
    while !rest.is_empty() {
        let part: Vec<(String, Vec<Fact>)> = rest.drain(..per.min(rest.len())).collect();
        let policy = policy.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|(id, facts)| {
                    let status = policy.evaluate(&facts, now);
                    (id, status)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut out = Vec::with_capacity(ids.len());
    for task in tasks {
        // A panicking evaluation would be a bug in the policy engine; the others still count,
        // and the scheduler or the next fact derives the rest again.
        match task.await {
            Ok(part) => out.extend(part),
            Err(e) => tracing::error!(error = %e, "evaluating colours failed"),
        }
    }
    out
}
