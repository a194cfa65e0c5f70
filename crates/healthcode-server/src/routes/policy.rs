//! The published policy and its history, readable by anyone; proposing, approving and
//! withdrawing versions, and the dry run, for health officials.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path};
use crate::error::{ApiResult, ErrorBody};
use crate::usecases::policy_versions::{self, DryRun, ProposeRequest, Published};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::PolicyDocument;
use healthcode_store::PolicyVersion;

/// The published colour policy, readable by anyone.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy", responses((status = 200, body = PolicyDocument)))]
pub async fn published(State(state): State<AppState>) -> Json<PolicyDocument> {
    Json(state.policy.current().document().clone())
}

/// Every version of the policy, the base first: when it applies, its legal basis, who proposed
/// and who approved it, and what changed from the one before. Readable by anyone.
#[utoipa::path(get, path = "/api/v1/policy/versions", tag = "policy", responses((status = 200, body = Vec<Published>)))]
pub async fn history(State(state): State<AppState>) -> ApiResult<Json<Vec<Published>>> {
    Ok(Json(policy_versions::history(&state).await?))
}

/// One version's document (`base` for the one the node started with). Readable by anyone.
#[utoipa::path(get, path = "/api/v1/policy/versions/{id}", tag = "policy", params(("id" = String, Path, description = "the version's id, or base")),
    responses((status = 200, body = PolicyDocument), (status = 404, body = ErrorBody)))]
pub async fn document(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PolicyDocument>> {
    Ok(Json(policy_versions::document(&state, &id).await?))
}

/// A health official proposes a version; one that does not check is refused with every problem.
#[utoipa::path(post, path = "/api/v1/policy/versions", tag = "policy", security(("bearer" = [])), request_body = ProposeRequest,
    responses((status = 201, body = PolicyVersion), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn propose(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ProposeRequest>,
) -> ApiResult<(StatusCode, Json<PolicyVersion>)> {
    let v = policy_versions::propose(&state, &caller, req, state.now()).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Who the version would turn from which colour to which at its effective time; writes nothing.
#[utoipa::path(get, path = "/api/v1/policy/versions/{id}/dry-run", tag = "policy", security(("bearer" = [])), params(("id" = String, Path, description = "the version's id")),
    responses((status = 200, body = DryRun), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DryRun>> {
    Ok(Json(
        policy_versions::dry_run(&state, &caller, &id, state.now()).await?,
    ))
}

/// A second official approves: from its effective time every node judges by it.
#[utoipa::path(post, path = "/api/v1/policy/versions/{id}/approve", tag = "policy", security(("bearer" = [])), params(("id" = String, Path, description = "the version's id")),
    responses((status = 200, body = PolicyVersion), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PolicyVersion>> {
    Ok(Json(
        policy_versions::approve(&state, &caller, &id, state.now()).await?,
    ))
}

/// Withdraws a version before it takes effect.
#[utoipa::path(post, path = "/api/v1/policy/versions/{id}/withdraw", tag = "policy", security(("bearer" = [])), params(("id" = String, Path, description = "the version's id")),
    responses((status = 200, body = PolicyVersion), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PolicyVersion>> {
    Ok(Json(
        policy_versions::withdraw(&state, &caller, &id, state.now()).await?,
    ))
}
