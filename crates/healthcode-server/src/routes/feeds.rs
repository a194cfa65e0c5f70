//! Department feeds (数据共享): lab results, the telecom itinerary, and risk areas, translated
//! from HTTP to the use cases `usecases::feeds` and `usecases::risk_areas`.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, instant};
use crate::error::ApiResult;
use crate::usecases::feeds::{self, FeedReport};
use crate::usecases::risk_areas;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::facts::RiskLevel;
use healthcode_store::{Batch, RiskArea};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabResults {
    /// Rows as `LabResult`s; each is checked on its own.
    /// Each row a `LabResult`, checked on its own: a bad row is listed in the report's
    /// `rejected`, and the good ones land.
    #[schema(value_type = Vec<Value>)]
    results: Vec<Value>,
    /// The lab's report or batch number.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    legal_basis: String,
}

/// Lab results, idempotent by sample id (`lab_results` feed).
#[utoipa::path(post, path = "/api/v1/feeds/lab-results", tag = "feeds", security(("bearer" = [])), request_body = LabResults,
    responses((status = 200, body = FeedReport), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn lab_results(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<LabResults>,
) -> ApiResult<Json<FeedReport>> {
    let report = feeds::lab_results(&state, &caller, req.results, &req.legal_basis, state.now());
    Ok(Json(report.await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Itineraries {
    /// Each record an `Itinerary`, checked on its own: a bad one is listed in the report's
    /// `rejected`, and the good ones land.
    #[schema(value_type = Vec<Value>)]
    records: Vec<Value>,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    legal_basis: String,
}

/// Telecom itineraries: per phone number, the cities of the last 14 days (`itinerary` feed).
/// Each (person, city, day) lands once; the people are those enrolled under the phone number
/// as its holder (not the children in their care).
#[utoipa::path(post, path = "/api/v1/feeds/itinerary", tag = "feeds", security(("bearer" = [])), request_body = Itineraries,
    responses((status = 200, body = FeedReport), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn itinerary(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<Itineraries>,
) -> ApiResult<Json<FeedReport>> {
    let report = feeds::itineraries(&state, &caller, req.records, &req.legal_basis, state.now());
    Ok(Json(report.await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskAreaRequest {
    /// GB/T 2260 code: a province or city covers the codes under it.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub region: String,
    /// One venue instead of a whole region.
    #[serde(default)]
    pub venue_id: Option<String>,
    /// The name published, e.g. 某某小区.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    pub level: RiskLevel,
    #[schema(format = DateTime)]
    pub starts_at: String,
    /// Absent while the area lasts.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub ends_at: Option<String>,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub legal_basis: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RiskAreaProposal {
    pub risk_area: RiskArea,
    /// Approving it (`POST /batches/{id}/approve`, a second official) publishes the area and
    /// records a stay in it for everyone affected.
    pub batch: Batch,
}

/// Proposes a risk area (`risk_areas` feed, or a health official): finds everyone whose visits
/// or itinerary fall inside it and stages a risk-stay fact for each, to land when a second
/// official approves.
#[utoipa::path(post, path = "/api/v1/risk-areas", tag = "feeds", security(("bearer" = [])), request_body = RiskAreaRequest,
    responses((status = 202, body = RiskAreaProposal), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn propose_risk_area(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<RiskAreaRequest>,
) -> ApiResult<(StatusCode, Json<RiskAreaProposal>)> {
    let proposed = risk_areas::Proposed {
        starts_at: instant("starts_at", &req.starts_at)?,
        ends_at: req
            .ends_at
            .as_deref()
            .map(|t| instant("ends_at", t))
            .transpose()?,
        region: req.region,
        venue_id: req.venue_id,
        name: req.name,
        level: req.level,
        legal_basis: req.legal_basis,
    };
    let (risk_area, batch) = risk_areas::propose(&state, &caller, proposed, state.now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RiskAreaProposal { risk_area, batch }),
    ))
}

/// The published risk areas, newest first: public, as they were in 2020.
#[utoipa::path(get, path = "/api/v1/risk-areas", tag = "feeds",
    responses((status = 200, body = Vec<RiskArea>)))]
pub async fn published(State(state): State<AppState>) -> ApiResult<Json<Vec<RiskArea>>> {
    Ok(Json(state.store.risk_areas(false).await?))
}
