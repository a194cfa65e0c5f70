//! Cases and their traces over HTTP; what each means and who may do it is `usecases::cases`.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path, Query};
use crate::error::ApiResult;
use crate::routes::people::recorded;
use crate::usecases::cases::{self, CaseRequest};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_store::{Notification, TraceView, TracedExposure};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Records a case (确诊 / 疑似 / 无症状) and queues its contact trace.
#[utoipa::path(post, path = "/api/v1/cases", tag = "tracing", security(("bearer" = [])), request_body = CaseRequest,
    responses((status = 201, description = "recorded; the trace is queued"), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn record_case(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<CaseRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let fact = cases::record_case(&state, &caller, req, state.now()).await?;
    let (status, Json(mut recorded)) = recorded(&fact);
    recorded["trace"] = json!(format!("/api/v1/cases/{}/trace", fact.id));
    Ok((status, Json(recorded)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// Contacts per page (at most 1,000; 100 by default).
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TraceAnswer {
    pub trace: TraceView,
    pub contacts: Vec<TracedExposure>,
}

/// A case's trace: its state and progress, counts by level, and the contacts found with their
/// venue and overlap. Officials only; the read is audited against the case person.
#[utoipa::path(get, path = "/api/v1/cases/{id}/trace", tag = "tracing", security(("bearer" = [])), params(("id" = String, Path, description = "the case fact's id"), Page),
    responses((status = 200, body = TraceAnswer), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn trace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<TraceAnswer>> {
    let limit = page.limit.unwrap_or(100);
    let offset = page.offset.unwrap_or(0);
    let (trace, contacts) = cases::trace(
        &state,
        &caller,
        &id,
        (healthcode_store::ExposureOrder::Level, limit, offset),
        state.now(),
    )
    .await?;
    Ok(Json(TraceAnswer { trace, contacts }))
}

/// Runs a finished trace again (visits that arrived late, a corrected case); what it found
/// before is kept, and nothing is recorded twice.
#[utoipa::path(post, path = "/api/v1/cases/{id}/trace", tag = "tracing", security(("bearer" = [])), params(("id" = String, Path, description = "the case fact's id")),
    responses((status = 202, description = "queued"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn retrace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    cases::retrace(&state, &caller, &id, state.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"state": "queued"}))))
}

/// The messages sent about a person's colour (SMS and in-app), newest first.
#[utoipa::path(get, path = "/api/v1/people/{id}/notifications", tag = "people", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<Notification>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn notifications(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Notification>>> {
    Ok(Json(
        cases::notifications_of(&state, &caller, &id, state.now()).await?,
    ))
}
