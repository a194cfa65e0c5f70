//! The HTTP surface: `/healthz`, `/readyz`, and the API under `/api/v1`.

mod health;
mod login;
mod people;
mod policy;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let api = Router::new()
        .route("/policy", get(policy::published))
        .route("/auth/code", post(login::send_code))
        .route("/auth/login", post(login::login))
        .route("/me", get(people::me))
        .route("/people", post(people::enroll))
        .route("/people/{id}/status", get(people::status))
        .route("/people/{id}/confirm", post(people::confirm))
        .route("/people/{id}/declarations", post(people::declare))
        .route("/people/{id}/facts", post(people::record_fact))
        .route("/people/{id}/audit", get(people::audit));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api)
        .fallback(health::not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limit))
        .with_state(state)
}
