//! Document claims (证件冒用申诉): a document enrolled by someone else, claimed by its holder.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path};
use crate::error::ApiResult;
use crate::usecases::claims::{self, ClaimRequest};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::identity::DocumentKind;
use healthcode_store::DocumentClaim;
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    pub document_kind: DocumentKind,
    #[schema(max_length = 64)]
    pub document_number: String,
    /// ISO 3166-1 alpha-3, for a passport.
    pub country: Option<String>,
    /// The phone the resident logged in with.
    pub phone: String,
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub reason: String,
}

/// A resident claims a document someone else enrolled; staff check the holder in person.
#[utoipa::path(post, path = "/api/v1/document-claims", tag = "correction", security(("bearer" = [])),
    request_body = ClaimBody, responses((status = 201, body = DocumentClaim), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ClaimBody>,
) -> ApiResult<(StatusCode, Json<DocumentClaim>)> {
    let request = ClaimRequest {
        document_kind: req.document_kind,
        document_number: req.document_number,
        country: req.country,
        reason: req.reason,
    };
    let claim = claims::file(&state, &caller, Some(&req.phone), request, state.now()).await?;
    Ok((StatusCode::CREATED, Json(claim)))
}

/// A resident's own claims; for caseworkers, the open claims.
#[utoipa::path(get, path = "/api/v1/document-claims", tag = "correction", security(("bearer" = [])),
    responses((status = 200, body = Vec<DocumentClaim>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<DocumentClaim>>> {
    Ok(Json(claims::list(&state, &caller).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDecision {
    /// Whether the claimant holds the document (the record moves to their phone).
    pub upheld: bool,
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/document-claims/{id}/decision", tag = "correction", security(("bearer" = [])), params(("id" = String, Path, description = "the claim's id")),
    request_body = ClaimDecision, responses((status = 200, body = DocumentClaim), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<ClaimDecision>,
) -> ApiResult<Json<DocumentClaim>> {
    let claim = claims::decide(&state, &caller, &id, req.upheld, &req.reason, state.now()).await?;
    Ok(Json(claim))
}
