//! Appeals (纠错/申诉) and batches that need a second official.

use crate::AppState;
use crate::assess::{after_facts, reassess};
use crate::auth::{Caller, Role};
use crate::body::Body;
use crate::body::Path;
use crate::error::{ApiError, ApiResult};
use crate::routes::people::{CASEWORKERS, may_act_for};
use crate::usecases::recording::{self, Via};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::FactBody;
use healthcode_store::{Appeal, AppealOutcome, Batch, BatchItem, Waiver};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealRequest {
    pub fact_id: String,
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub reason: String,
}

fn reason_required(reason: &str) -> ApiResult<()> {
    if reason.trim().is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::unprocessable(
            "reason_required",
            "give a reason (at most 1,000 characters)",
            "请填写理由（最多 1000 个字符）",
        ));
    }
    Ok(())
}

/// GB/T 38963 error correction: a resident contests one of their facts.
#[utoipa::path(post, path = "/api/v1/people/{id}/appeals", tag = "correction", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    request_body = AppealRequest, responses((status = 201, body = Appeal), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<AppealRequest>,
) -> ApiResult<(StatusCode, Json<Appeal>)> {
    may_act_for(&caller, &id, &CASEWORKERS)?;
    reason_required(&req.reason)?;
    let appeal = state
        .store
        .file_appeal(
            &id,
            &req.fact_id,
            req.reason.trim(),
            &caller.actor("appeal"),
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(appeal)))
}

#[utoipa::path(get, path = "/api/v1/people/{id}/appeals", tag = "correction", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<Appeal>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn of_person(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Appeal>>> {
    may_act_for(&caller, &id, &CASEWORKERS)?;
    Ok(Json(state.store.appeals_of(&id).await?))
}

#[utoipa::path(get, path = "/api/v1/appeals", tag = "correction", security(("bearer" = [])),
    responses((status = 200, body = Vec<Appeal>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn open(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Appeal>>> {
    caller.require(&[Role::HealthOfficial])?;
    Ok(Json(state.store.open_appeals(500).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub outcome: AppealOutcome,
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/appeals/{id}/decision", tag = "correction", security(("bearer" = [])), params(("id" = String, Path, description = "the appeal's id")),
    request_body = Decision, responses((status = 200, body = Appeal), (status = 409, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<Decision>,
) -> ApiResult<Json<Appeal>> {
    caller.require(&[Role::HealthOfficial])?;
    reason_required(&req.reason)?;
    let purpose = format!("appeal review {id}");
    let now = state.now();
    let contested = state
        .store
        .appeal(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("appeal"))?;
    let waiver = match req.outcome {
        AppealOutcome::FactRetracted => waiver_of(&state, &contested).await?,
        AppealOutcome::FactUpheld => None,
    };
    let appeal = state
        .store
        .decide_appeal(
            &id,
            req.outcome,
            req.reason.trim(),
            waiver.as_ref(),
            &caller.actor(purpose),
            now,
        )
        .await?;
    if req.outcome == AppealOutcome::FactRetracted {
        // A retracted case's trace was queued again, to withdraw the contacts it caused.
        state.tracer.notify_one();
    }
    if let Err(e) = reassess(&state, std::slice::from_ref(&appeal.person_id), now).await {
        tracing::error!(error = %e, "re-deriving a colour after an appeal failed");
    }
    Ok(Json(appeal))
}

/// What withdrawing a contested fact binds: a contact fact withdrawn on appeal keeps its case's
/// later traces from making the person a contact again for an overlapping exposure.
async fn waiver_of(state: &AppState, appeal: &Appeal) -> ApiResult<Option<Waiver>> {
    let facts = state.store.facts(&appeal.person_id).await?;
    Ok(facts
        .into_iter()
        .find(|f| f.id == appeal.fact_id)
        .and_then(|f| match f.body {
            FactBody::Contact {
                case_id,
                exposure_start,
                exposure_end,
                ..
            } => Some(Waiver {
                appeal_id: appeal.id.clone(),
                person_id: appeal.person_id.clone(),
                case_id,
                exposure_start,
                exposure_end,
            }),
            _ => None,
        }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Why the appeal no longer binds: a new document or case number.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub legal_basis: String,
}

/// Lifts what an appeal decided against a contact fact binds: the case's trace runs again and
/// may make the person a contact once more, under this legal basis (on the record the person
/// reads).
#[utoipa::path(post, path = "/api/v1/appeals/{id}/override", tag = "correction", security(("bearer" = [])), params(("id" = String, Path, description = "the appeal's id")),
    request_body = Override, responses((status = 200, body = Waiver), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn override_appeal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<Override>,
) -> ApiResult<Json<Waiver>> {
    caller.require(&[Role::HealthOfficial])?;
    let basis = recording::legal_basis(&req.legal_basis)?;
    let waiver = state
        .store
        .override_waiver(&id, &caller.actor(basis), state.now())
        .await?;
    state.tracer.notify_one();
    Ok(Json(waiver))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactBatch {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    legal_basis: String,
    items: Vec<FactBatchItem>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactBatchItem {
    person_id: String,
    /// A fact as for `POST /people/{id}/facts`; `legal_basis` defaults to the batch's.
    #[schema(value_type = Object)]
    fact: Value,
}

/// Facts about many people. Up to the configured threshold they land at once (all or none);
/// above it the batch waits for a second official.
#[utoipa::path(post, path = "/api/v1/facts/batch", tag = "facts", security(("bearer" = [])), request_body = FactBatch,
    responses((status = 201, description = "applied at once"), (status = 202, body = Batch, description = "waiting for a second official"), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn submit_batch(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<FactBatch>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.now();
    let basis = recording::legal_basis(&req.legal_basis)?;
    let bounds = recording::bounds(&state, now);
    let mut items = Vec::with_capacity(req.items.len());
    for (index, item) in req.items.into_iter().enumerate() {
        let mut fact = item.fact;
        if let Value::Object(map) = &mut fact {
            map.entry("legal_basis").or_insert_with(|| json!(basis));
        }
        let fact = recording::fact_from_request(&caller, Via::Batch, fact, now, &bounds).map_err(
            |mut e| {
                e.en = format!("item {index}: {}", e.en);
                e.zh = format!("第 {index} 项：{}", e.zh);
                e
            },
        )?;
        items.push(BatchItem {
            person_id: item.person_id,
            fact,
        });
    }
    recording::check_targets(&state, &caller, &items).await?;
    let actor = caller.actor(basis.as_str());
    if items.len() > state.config.batch_approval_threshold as usize {
        let batch = state
            .store
            .propose_batch(&basis, &items, &actor, now)
            .await?;
        return Ok((StatusCode::ACCEPTED, Json(json!(batch))));
    }
    state.store.record_facts(&items, &actor, now).await?;
    after_facts(
        &state,
        items.iter().map(|i| (i.person_id.as_str(), &i.fact)),
        now,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"state": "applied", "size": items.len()})),
    ))
}

#[utoipa::path(get, path = "/api/v1/batches", tag = "facts", security(("bearer" = [])),
    responses((status = 200, body = Vec<Batch>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
/// Batches awaiting a second official's approval, oldest first (at most 500).
pub async fn awaiting(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Batch>>> {
    caller.require(&[Role::HealthOfficial, Role::Department, Role::Auditor])?;
    Ok(Json(state.store.batches_awaiting(500).await?))
}

#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "facts", security(("bearer" = [])), params(("id" = String, Path, description = "the batch's id")),
    responses((status = 200, body = Batch), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Batch>> {
    caller.require(&[Role::HealthOfficial, Role::Department, Role::Auditor])?;
    Ok(Json(
        state
            .store
            .batch(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("batch"))?,
    ))
}

#[utoipa::path(post, path = "/api/v1/batches/{id}/approve", tag = "facts", security(("bearer" = [])), params(("id" = String, Path, description = "the batch's id")),
    responses((status = 200, body = Batch), (status = 409, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Batch>> {
    caller.require(&[Role::HealthOfficial])?;
    let purpose = format!("second approval of batch {id}");
    let now = state.now();
    let (batch, items) = state
        .store
        .approve_batch(&id, &caller.actor(purpose), now)
        .await?;
    after_facts(
        &state,
        items.iter().map(|i| (i.person_id.as_str(), &i.fact)),
        now,
    )
    .await;
    Ok(Json(batch))
}
