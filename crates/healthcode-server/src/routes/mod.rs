//! The HTTP surface: `/healthz`, `/readyz`, and the API under `/api/v1`.

pub mod appeals;
pub mod cases;
pub mod claims;
pub mod feeds;
pub mod health;
pub mod hub;
pub mod login;
pub mod pass;
pub mod people;
pub mod policy;
pub mod returns;
pub mod scans;
pub mod transfers;
pub mod venues;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let batch_limit = state.config.scans.batch_body_bytes.max(limit);
    let api = Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/policy", get(policy::published))
        .route(
            "/policy/versions",
            get(policy::history).post(policy::propose),
        )
        .route("/policy/versions/{id}", get(policy::document))
        .route("/policy/versions/{id}/dry-run", get(policy::dry_run))
        .route("/policy/versions/{id}/approve", post(policy::approve))
        .route("/policy/versions/{id}/withdraw", post(policy::withdraw))
        .route("/auth/code", post(login::send_code))
        .route("/auth/login", post(login::login))
        .route("/auth/logout", post(login::logout))
        .route("/me", get(people::me))
        .route("/people", post(people::enroll))
        .route("/people/search", post(people::search))
        .route("/people/{id}/status", get(people::status))
        .route("/people/{id}/confirm", post(people::confirm))
        .route("/people/{id}/declarations", post(people::declare))
        .route("/people/{id}/facts", post(people::record_fact))
        .route("/people/{id}/trips", post(people::declare_trip))
        .route("/people/{id}/pass", get(pass::issue))
        .route("/passes/verify", post(pass::verify))
        .route("/venues", post(venues::register).get(venues::list))
        .route("/venues/{id}/code", get(venues::code))
        .route("/venues/{id}/checkpoints", post(venues::add_checkpoint))
        .route("/venues/{id}/visits", get(scans::venue_visits))
        .route("/scans", post(scans::scan))
        .route(
            "/scans/batch",
            post(scans::batch).layer(axum::extract::DefaultBodyLimit::max(batch_limit)),
        )
        .route("/checkins", post(scans::checkin))
        .route("/people/{id}/visits", get(scans::person_visits))
        .route("/visits/{id}/confirm", post(scans::confirm_visit))
        .route("/people/{id}/audit", get(people::audit))
        .route("/people/{id}/notifications", get(cases::notifications))
        .route("/cases", post(cases::record_case))
        .route(
            "/feeds/lab-results",
            post(feeds::lab_results).layer(axum::extract::DefaultBodyLimit::max(batch_limit)),
        )
        .route(
            "/feeds/itinerary",
            post(feeds::itinerary).layer(axum::extract::DefaultBodyLimit::max(batch_limit)),
        )
        .route(
            "/risk-areas",
            post(feeds::propose_risk_area).get(feeds::published),
        )
        .route("/cases/{id}/trace", get(cases::trace).post(cases::retrace))
        .route(
            "/people/{id}/appeals",
            post(appeals::file).get(appeals::of_person),
        )
        .route("/appeals", get(appeals::open))
        .route("/document-claims", post(claims::file).get(claims::list))
        .route("/document-claims/{id}/decision", post(claims::decide))
        .route("/appeals/{id}/decision", post(appeals::decide))
        .route("/appeals/{id}/override", post(appeals::override_appeal))
        .route("/facts/batch", post(appeals::submit_batch))
        .route("/batches", get(appeals::awaiting))
        .route("/batches/{id}", get(appeals::batch))
        .route("/batches/{id}/approve", post(appeals::approve))
        .route(
            "/people/{id}/consents",
            post(transfers::grant).get(transfers::list),
        )
        .route("/people/{id}/transfers", post(transfers::transfer))
        .route("/returns", post(returns::apply).get(returns::queue))
        .route("/returns/arrivals", post(returns::arrival))
        .route("/returns/handoffs", post(returns::handoff_by_pass))
        .route("/returns/observation", get(returns::observation))
        .route("/returns/figures", get(returns::figures))
        .route("/returns/{id}", get(returns::one))
        .route("/returns/{id}/handoffs", post(returns::handoff))
        .route("/returns/{id}/calls", post(returns::call))
        .route("/returns/{id}/decision", post(returns::decide))
        .route("/people/{id}/returns", get(returns::of_person))
        .route("/people/{id}/bookings", get(returns::bookings_of))
        .route("/carrier/eligibility", post(returns::eligibility))
        .route("/carrier/bookings", post(returns::report_booking));
    let hub_api = Router::new()
        .route("/trust-list", get(hub::trust_list))
        .route("/root-key", get(hub::root_key))
        .route("/regions", get(hub::regions))
        .route("/proposals", post(hub::propose).get(hub::proposals))
        .route("/proposals/{id}/decision", post(hub::decide))
        .route("/keys/{kid}/revoke", post(hub::revoke));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api)
        .nest("/hub/v1", hub_api)
        .route(
            "/federation/v1/messages",
            // A batch of contact notices with long legal bases may pass the default limit.
            post(hub::message).layer(axum::extract::DefaultBodyLimit::max(batch_limit)),
        )
        .merge(crate::web::router(state.clone()))
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        // Bodies are read by our JSON extractor, which answers an oversized one with 413 and the
        // usual error body.
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::replica::track,
        ))
        .layer(axum::middleware::from_fn(crate::panics::catch))
        // Before anything reads the body or looks a token up, so shedding costs little.
        .layer(axum::middleware::from_fn_with_state(
            crate::admission::Admission::new(&state.config.admission, state.metrics.clone()),
            crate::admission::admit,
        ))
        // Server faults are logged where they happen, with their cause; a 503 from shedding is
        // counted, not logged, so an overload does not become a flood of log lines.
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(crate::openapi::document())
}
