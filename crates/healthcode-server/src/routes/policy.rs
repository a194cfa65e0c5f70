//! The published policy, readable by anyone.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use healthcode_core::PolicyDocument;

/// The published colour policy, readable by anyone.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy", responses((status = 200, body = PolicyDocument)))]
pub async fn published(State(state): State<AppState>) -> Json<PolicyDocument> {
    Json(state.policy.document().clone())
}
