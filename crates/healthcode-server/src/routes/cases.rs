//! Cases and their traces: a health official records a case, the node traces it in the
//! background, and officials follow the trace. Residents read the messages sent to them.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::Body;
use crate::body::{Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::routes::people::recorded;
use crate::usecases::people::{CASEWORKERS, may_act_for};
use crate::usecases::recording::{self, Via};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::facts::CaseKind;
use healthcode_store::{Notification, TraceView, TracedExposure};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Who may follow traces: they show where named people were.
const TRACERS: [Role; 2] = [Role::HealthOfficial, Role::Admin];

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    pub person_id: String,
    pub kind: CaseKind,
    /// Symptom onset (RFC 3339); the infectious window starts two days (a policy parameter)
    /// before it, or before the positive sample when there were no symptoms.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub onset_at: Option<String>,
    #[serde(default)]
    #[schema(format = DateTime)]
    pub sampled_at: Option<String>,
    /// When the case was isolated: the end of the infectious window.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub isolated_at: Option<String>,
    /// The case number or document it is recorded under.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub legal_basis: String,
}

/// Records a case (确诊 / 疑似 / 无症状) and queues its contact trace.
#[utoipa::path(post, path = "/api/v1/cases", tag = "tracing", security(("bearer" = [])), request_body = CaseRequest,
    responses((status = 201, description = "recorded; the trace is queued"), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn record_case(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<CaseRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json!({
        "type": "case",
        "kind": req.kind,
        "onset_at": req.onset_at,
        "sampled_at": req.sampled_at,
        "isolated_at": req.isolated_at,
        "legal_basis": req.legal_basis,
    });
    let now = state.now();
    let bounds = recording::bounds(&state, now);
    let fact = recording::fact_from_request(&caller, Via::Single, body, now, &bounds)?;
    if !matches!(fact.body, healthcode_core::FactBody::Case { .. }) {
        return Err(ApiError::unprocessable(
            "not_a_case",
            "this endpoint records cases",
            "此接口只记录病例",
        ));
    }
    let fact = recording::record(&state, &caller, &req.person_id, fact, now).await?;
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
    caller.require(&TRACERS)?;
    let trace = state
        .store
        .trace(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("trace"))?;
    state
        .store
        .audit(
            &caller.actor("contact tracing"),
            "trace.read",
            Some(&trace.person_id),
            &format!("trace of case {id}"),
            state.now(),
        )
        .await?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let contacts = state
        .store
        .trace_exposures(&id, limit, page.offset.unwrap_or(0).max(0))
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
    caller.require(&[Role::HealthOfficial])?;
    let trace = state
        .store
        .trace(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("trace"))?;
    // A retracted case's run withdraws its contacts; once that is done there is nothing left.
    let retracted = crate::tracer::retraction_of(&state, &trace.person_id, &id).await?;
    if retracted.is_some() && trace.state == "done" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "case_retracted",
            "the case was retracted and its contacts withdrawn: there is nothing to trace",
            "该病例已撤销，密接记录已撤回，无需追踪",
        ));
    }
    state
        .store
        .requeue_trace(&id, &caller.actor("contact tracing"), state.now())
        .await?;
    state.tracer.notify_one();
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
    may_act_for(&caller, &id, &CASEWORKERS)?;
    if let Caller::Staff { .. } = caller {
        state
            .store
            .audit(
                &caller.actor("notification review"),
                "notifications.read",
                Some(&id),
                "",
                state.now(),
            )
            .await?;
    }
    Ok(Json(state.store.notifications_of(&id, 100).await?))
}
