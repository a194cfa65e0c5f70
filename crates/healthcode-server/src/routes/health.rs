//! Liveness and readiness.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.store.ping().await?;
    Ok("ready")
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("this path")
}

/// Prometheus exposition.
pub async fn metrics(
    State(state): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
