//! Facts about many people at once. Up to the configured threshold they land at once (all or
//! none); above it the batch waits for a second official, so no one official colours a crowd
//! alone.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::usecases::colours::after_facts;
use crate::usecases::recording::{self, Via};
use healthcode_store::{Batch, BatchItem};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// What submitting a batch did.
pub enum Submitted {
    /// Recorded at once: this many facts.
    Applied(usize),
    /// Waiting for a second official.
    Awaiting(Batch),
}

/// Submits facts about many people: `(person, fact as a client sends it)`; a fact's legal basis
/// defaults to the batch's.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    legal_basis: &str,
    requested: Vec<(String, Value)>,
    now: OffsetDateTime,
) -> ApiResult<Submitted> {
    let basis = recording::legal_basis(legal_basis)?;
    let bounds = recording::bounds(state, now);
    let mut items = Vec::with_capacity(requested.len());
    for (index, (person_id, mut fact)) in requested.into_iter().enumerate() {
        if let Value::Object(map) = &mut fact {
            map.entry("legal_basis").or_insert_with(|| json!(basis));
        }
        let fact = recording::fact_from_request(caller, Via::Batch, fact, now, &bounds).map_err(
            |mut e| {
                e.en = format!("item {index}: {}", e.en);
                e.zh = format!("第 {index} 项：{}", e.zh);
                e
            },
        )?;
        items.push(BatchItem { person_id, fact });
    }
    recording::check_targets(state, caller, &items).await?;
    let actor = caller.actor(basis.as_str());
    if items.len() > state.config.batch_approval_threshold as usize {
        let batch = state
            .store
            .propose_batch(&basis, &items, &actor, now)
            .await?;
        return Ok(Submitted::Awaiting(batch));
    }
    state.store.record_facts(&items, &actor, now).await?;
    after_facts(
        state,
        items.iter().map(|i| (i.person_id.as_str(), &i.fact)),
        now,
    )
    .await;
    Ok(Submitted::Applied(items.len()))
}

/// Batches awaiting a second official's approval, oldest first (at most 500).
pub async fn awaiting(state: &AppState, caller: &Caller) -> ApiResult<Vec<Batch>> {
    caller.require(&[Role::HealthOfficial, Role::Department, Role::Auditor])?;
    Ok(state.store.batches_awaiting(500).await?)
}

pub async fn get(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Batch> {
    caller.require(&[Role::HealthOfficial, Role::Department, Role::Auditor])?;
    state
        .store
        .batch(id)
        .await?
        .ok_or_else(|| ApiError::not_found("batch"))
}

/// A second official's approval: the batch's facts land, on record from now.
pub async fn approve(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: OffsetDateTime,
) -> ApiResult<Batch> {
    caller.require(&[Role::HealthOfficial])?;
    let purpose = format!("second approval of batch {id}");
    let (batch, items) = state
        .store
        .approve_batch(id, &caller.actor(purpose), now)
        .await?;
    // A batch may publish a risk area: this node's gates see it at once (other nodes within
    // the cache's few seconds).
    state.caches.forget_risk_areas();
    after_facts(
        state,
        items.iter().map(|i| (i.person_id.as_str(), &i.fact)),
        now,
    )
    .await;
    Ok(batch)
}
