//! Appeals (纠错/申诉) and batches that need a second official.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path};
use crate::error::ApiResult;
use crate::usecases::appeals;
use crate::usecases::batches::{self, Submitted};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_store::{Appeal, AppealOutcome, Batch, Waiver};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealRequest {
    pub fact_id: String,
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub reason: String,
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
    let appeal =
        appeals::file(&state, &caller, &id, &req.fact_id, &req.reason, state.now()).await?;
    Ok((StatusCode::CREATED, Json(appeal)))
}

#[utoipa::path(get, path = "/api/v1/people/{id}/appeals", tag = "correction", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<Appeal>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn of_person(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Appeal>>> {
    Ok(Json(appeals::of_person(&state, &caller, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/appeals", tag = "correction", security(("bearer" = [])),
    responses((status = 200, body = Vec<Appeal>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn open(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Appeal>>> {
    Ok(Json(appeals::open(&state, &caller).await?))
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
    let appeal =
        appeals::decide(&state, &caller, &id, req.outcome, &req.reason, state.now()).await?;
    Ok(Json(appeal))
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
    let waiver =
        appeals::override_waiver(&state, &caller, &id, &req.legal_basis, state.now()).await?;
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
    let requested = req
        .items
        .into_iter()
        .map(|item| (item.person_id, item.fact))
        .collect();
    match batches::submit(&state, &caller, &req.legal_basis, requested, state.now()).await? {
        Submitted::Awaiting(batch) => Ok((StatusCode::ACCEPTED, Json(json!(batch)))),
        Submitted::Applied(size) => Ok((
            StatusCode::CREATED,
            Json(json!({"state": "applied", "size": size})),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/batches", tag = "facts", security(("bearer" = [])),
    responses((status = 200, body = Vec<Batch>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
/// Batches awaiting a second official's approval, oldest first (at most 500).
pub async fn awaiting(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Batch>>> {
    Ok(Json(batches::awaiting(&state, &caller).await?))
}

#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "facts", security(("bearer" = [])), params(("id" = String, Path, description = "the batch's id")),
    responses((status = 200, body = Batch), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Batch>> {
    Ok(Json(batches::get(&state, &caller, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/batches/{id}/approve", tag = "facts", security(("bearer" = [])), params(("id" = String, Path, description = "the batch's id")),
    responses((status = 200, body = Batch), (status = 409, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Batch>> {
    let batch = batches::approve(&state, &caller, &id, state.now()).await?;
    Ok(Json(batch))
}
