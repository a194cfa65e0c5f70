//! The published policy, readable by anyone.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use healthcode_core::PolicyDocument;

pub async fn published(State(state): State<AppState>) -> Json<PolicyDocument> {
    Json(state.policy.document().clone())
}
