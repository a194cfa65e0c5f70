//! The tracing worker: takes queued traces from the store (or ones whose worker died), runs
//! them level by level, and records after each level what it found: exposures, one contact
//! fact per contact person, and their re-derived colours, which announce the change. A trace
//! run twice records nothing twice.

use crate::AppState;
use crate::federation::messages::{self, ContactNotice, ContactWithdrawal};
use crate::usecases::colours::reassess;
use healthcode_core::contacts::{Exposure, Trace, TraceParams, infectious_window};
use healthcode_core::facts::ContactLevel;
use healthcode_core::{Fact, FactBody};
use healthcode_store::{
    Actor, ContactFact, IndexedLog, StoreError, TraceJob, TraceProgress, TracedExposure, from_ms,
    ms,
};
use std::collections::BTreeMap;

/// Claims and runs one trace; false when there was none to run.
pub async fn run_next(state: &AppState) -> Result<bool, StoreError> {
    let lease = time::Duration::seconds(state.config.tracing.lease_seconds);
    let Some(job) = state.store.claim_trace(state.now(), lease).await? else {
        return Ok(false);
    };
    let outcome = run(state, &job).await;
    let error = outcome.as_ref().err().map(|e| e.to_string());
    if let Some(e) = &error {
        tracing::error!(case = %job.case_id, error = %e, "trace failed");
    }
    state
        .store
        .finish_trace(&job.case_id, job.runs, error.as_deref(), state.now())
        .await?;
    Ok(true)
}

/// The retraction that withdrew a case, if it is withdrawn.
pub async fn retraction_of(
    state: &AppState,
    person_id: &str,
    case_id: &str,
) -> Result<Option<Fact>, StoreError> {
    let facts = state.store.facts_of_people(&[person_id.to_owned()]).await?;
    let facts = facts.get(person_id).map(Vec::as_slice).unwrap_or_default();
    Ok(healthcode_core::facts::retraction_of(facts, case_id).cloned())
}

/// Runs one trace from the start. A retracted case is traced no more: its run withdraws the
/// contact facts it caused, and so does a run during which the case was retracted.
async fn run(state: &AppState, job: &TraceJob) -> Result<(), StoreError> {
    if let Some(retraction) = retraction_of(state, &job.person_id, &job.case_id).await? {
        return withdraw(state, job, &retraction).await;
    }
    find_contacts(state, job).await?;
    match retraction_of(state, &job.person_id, &job.case_id).await? {
        Some(retraction) => withdraw(state, job, &retraction).await,
        None => Ok(()),
    }
}

/// Withdraws every contact fact a retracted case caused that is still held, under the
/// retraction's legal basis, and re-derives and tells the people concerned.
async fn withdraw(state: &AppState, job: &TraceJob, retraction: &Fact) -> Result<(), StoreError> {
    let actor = Actor::new(
        "tracer",
        "system",
        format!("case {} was retracted", job.case_id),
    );
    let now = state.now();
    let people = state
        .store
        .retract_contacts_of(&job.case_id, &retraction.legal_basis, &actor, now)
        .await?;
    reassess(state, &people, now).await?;
    // The regions told of contacts of this case are told they are withdrawn.
    let mut regions: Vec<String> = state
        .store
        .trace_exposures(&job.case_id, i64::MAX, 0)
        .await?
        .into_iter()
        .filter(|e| e.person_id.is_none() && is_other_region(state, &e.region))
        .map(|e| e.region)
        .collect();
    regions.sort();
    regions.dedup();
    let withdrawals = regions
        .into_iter()
        .map(|region| {
            let id = messages::message_id(&[&job.case_id, messages::CONTACT_WITHDRAWN, &region]);
            let body = ContactWithdrawal {
                case_ref: job.case_id.clone(),
                legal_basis: retraction.legal_basis.clone(),
            };
            (id, region, body)
        })
        .collect();
    let purpose = format!("case {} was retracted", job.case_id);
    messages::queue(
        state,
        messages::CONTACT_WITHDRAWN,
        withdrawals,
        &purpose,
        now,
    )
    .await?;
    Ok(())
}

/// Whether a pass region is another region's (one this node does not serve).
fn is_other_region(state: &AppState, region: &str) -> bool {
    !region.is_empty() && !state.passes.region().covers(region)
}

/// Traces a case level by level, recording each level as it is found.
async fn find_contacts(state: &AppState, job: &TraceJob) -> Result<(), StoreError> {
    let store = &state.store;
    let FactBody::Case {
        onset_at,
        sampled_at,
        isolated_at,
        ..
    } = &job.case.body
    else {
        return Err(StoreError::Conflict(format!(
            "{} is not a case",
            job.case_id
        )));
    };
    let person = store
        .person(&job.person_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("person {}", job.person_id)))?;
    let now = state.now();
    let policy = state.policy.at(now);
    let policy = policy.document();
    let window = infectious_window(
        policy,
        onset_at.map(ms),
        sampled_at.map(ms),
        ms(job.case.recorded_at),
        isolated_at.map(ms),
        ms(now),
    );
    let lease = time::Duration::seconds(state.config.tracing.lease_seconds);
    let log = IndexedLog(store);
    let mut trace = Trace::start(
        &log,
        &person.pseudonym,
        window,
        ms(now),
        TraceParams::from_policy(policy),
    )
    .await?;
    // Decided appeals bind this run: a person found no contact of this case on appeal is not
    // made one again for that exposure, unless an official lifted the appeal.
    for waiver in store.waivers_of_case(&job.case_id).await? {
        if let Some(person) = store.person(&waiver.person_id).await? {
            trace.waive(
                &person.pseudonym,
                ms(waiver.exposure_start),
                ms(waiver.exposure_end),
            );
        }
    }
    let mut progress = TraceProgress {
        window,
        ..TraceProgress::default()
    };
    store
        .trace_progress(&job.case_id, job.runs, &progress, state.now() + lease)
        .await?;
    let actor = Actor::new(
        "tracer",
        "system",
        format!("contact tracing of case {}", job.case_id),
    );
    while let Some(found) = trace.next_level(&log).await? {
        let level = trace.next_level_number() - 1;
        let recorded = record_level(state, job, level, &found, &actor).await?;
        let contacts = found
            .iter()
            .map(|e| &*e.subject)
            .collect::<std::collections::HashSet<_>>()
            .len() as i64;
        if level == 1 {
            progress.close_contacts = contacts;
        } else {
            progress.secondary_contacts += contacts;
        }
        progress.other_region += recorded.other_region;
        progress.facts_recorded += recorded.facts as i64;
        progress.rows_read = trace.rows_read as i64;
        store
            .trace_progress(&job.case_id, job.runs, &progress, state.now() + lease)
            .await?;
    }
    progress.rows_read = trace.rows_read as i64;
    store
        .trace_progress(&job.case_id, job.runs, &progress, state.now() + lease)
        .await?;
    Ok(())
}

struct LevelRecord {
    facts: u64,
    other_region: i64,
}

/// Records one level: its exposures, a contact fact for each of our people (their latest
/// exposure, which ends last), and their colours.
async fn record_level(
    state: &AppState,
    job: &TraceJob,
    level: u8,
    found: &[Exposure],
    actor: &Actor,
) -> Result<LevelRecord, StoreError> {
    let store = &state.store;
    let mut latest: BTreeMap<&str, &Exposure> = BTreeMap::new();
    for e in found {
        let held = latest.entry(&*e.subject).or_insert(e);
        if (e.until, e.from) > (held.until, held.from) {
            *held = e;
        }
    }
    let subjects: Vec<String> = latest.keys().map(|s| (*s).to_owned()).collect();
    let people = store.people_by_pseudonym(&subjects).await?;
    let foreign: Vec<String> = subjects
        .iter()
        .filter(|s| !people.contains_key(*s))
        .cloned()
        .collect();
    let regions = store.subject_regions(&foreign).await?;
    let exposures: Vec<TracedExposure> = found
        .iter()
        .map(|e| TracedExposure {
            level: i64::from(e.level),
            subject: e.subject.to_string(),
            region: match people.get(&*e.subject) {
                Some(_) => state.config.region.clone(),
                None => regions.get(&*e.subject).cloned().unwrap_or_default(),
            },
            person_id: people.get(&*e.subject).cloned(),
            venue_id: e.venue.to_string(),
            venue_name: None,
            exposed_from: from_ms(e.from),
            exposed_until: from_ms(e.until),
            source: e.source.to_string(),
        })
        .collect();
    store.record_exposures(&job.case_id, &exposures).await?;

    let venues: Vec<String> = latest.values().map(|e| e.venue.to_string()).collect();
    let names = store.venue_names(&venues).await?;
    let now = state.now();
    let facts: Vec<ContactFact> = latest
        .iter()
        .filter_map(|(subject, e)| {
            let person_id = people.get(*subject)?;
            let body = FactBody::Contact {
                level: if level == 1 {
                    ContactLevel::Close
                } else {
                    ContactLevel::Secondary
                },
                case_id: job.case_id.clone(),
                venue: names
                    .get(&*e.venue)
                    .cloned()
                    .unwrap_or_else(|| e.venue.to_string()),
                exposure_start: from_ms(e.from),
                exposure_end: from_ms(e.until),
            };
            let digest = serde_json::to_string(&body).ok()?;
            Some(ContactFact {
                person_id: person_id.clone(),
                digest,
                fact: Fact {
                    id: crate::usecases::recording::new_fact_id(now),
                    recorded_at: now,
                    legal_basis: format!(
                        "contact tracing of case {} ({})",
                        job.case_id, job.case.legal_basis
                    ),
                    body,
                },
            })
        })
        .collect();
    let recorded = store
        .hold_contact_facts(&job.person_id, &facts, actor, now)
        .await?
        .len() as u64;
    // Contacts whose passes another region issued: that region is told, and tells them.
    let notices = latest
        .iter()
        .filter(|(subject, _)| !people.contains_key(**subject))
        .filter_map(|(subject, e)| {
            let region = regions
                .get(*subject)
                .filter(|r| is_other_region(state, r))?;
            let notice = ContactNotice {
                case_ref: job.case_id.clone(),
                subject: (*subject).to_owned(),
                level,
                venue: names
                    .get(&*e.venue)
                    .cloned()
                    .unwrap_or_else(|| e.venue.to_string()),
                exposure_start: from_ms(e.from),
                exposure_end: from_ms(e.until),
                legal_basis: format!(
                    "contact tracing of case {} ({})",
                    job.case_id, job.case.legal_basis
                ),
            };
            let id = messages::message_id(&[
                &job.case_id,
                subject,
                &level.to_string(),
                &e.from.to_string(),
                &e.until.to_string(),
            ]);
            Some((id, region.clone(), notice))
        })
        .collect();
    let purpose = format!("contact tracing of case {}", job.case_id);
    messages::queue(state, messages::CONTACT, notices, &purpose, now).await?;
    let ids: Vec<String> = facts.iter().map(|f| f.person_id.clone()).collect();
    reassess(state, &ids, now).await?;
    Ok(LevelRecord {
        facts: recorded,
        other_region: foreign.len() as i64,
    })
}
