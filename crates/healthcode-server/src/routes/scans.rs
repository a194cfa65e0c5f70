//! Checkpoint scans (扫码核验), offline batches, venue check-ins (场所码登记) and the visit log.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::scanning::ScanAnswer;
use crate::usecases::checkins::{self, CheckinAnswer, CheckinRequest};
use crate::usecases::scans::{self, ScanBatch, ScanBatchResult, ScanRequest};
use crate::usecases::visits::{self, VisitView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_store::Visit;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A checkpoint's scan: verifies the pass offline (signature through the trust list, expiry at
/// the scan's time), judges it by the venue's rule, records the visit, and answers only once it
/// is on disk. The same `scan_id` again gets the same answer and no second visit.
#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", security(("bearer" = [])), request_body = ScanRequest,
    responses((status = 200, body = ScanAnswer), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody, description = "at capacity: retry after `Retry-After` seconds"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn scan(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ScanRequest>,
) -> ApiResult<Json<Value>> {
    Ok(Json(scans::scan(&state, &caller, req, state.now()).await?))
}

/// A scanner that was offline syncs its scans: each is judged at its own `scanned_at` and gets
/// its own result; duplicates get their first answer; bad entries are refused one by one.
#[utoipa::path(post, path = "/api/v1/scans/batch", tag = "scans", security(("bearer" = [])), request_body = ScanBatch,
    responses((status = 200, body = ScanBatchResult), (status = 413, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody, description = "at capacity: retry after `Retry-After` seconds"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ScanBatch>,
) -> ApiResult<Json<ScanBatchResult>> {
    let results = scans::batch(&state, &caller, req.scans, state.now()).await?;
    Ok(Json(results))
}

/// A resident checks in by scanning a venue code (场所码). Not doubled within a short window;
/// flagged when the phone is in another city than the venue.
#[utoipa::path(post, path = "/api/v1/checkins", tag = "scans", security(("bearer" = [])), request_body = CheckinRequest,
    responses((status = 201, body = CheckinAnswer), (status = 200, body = CheckinAnswer, description = "a check-in already made within the window"),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn checkin(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<CheckinRequest>,
) -> ApiResult<(StatusCode, Json<CheckinAnswer>)> {
    let answer = checkins::check_in(&state, &caller, req, state.now()).await?;
    let status = if answer.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(answer)))
}

#[derive(Default, Deserialize, utoipa::IntoParams)]
pub struct Window {
    /// From (RFC 3339); 14 days ago when absent.
    #[serde(default)]
    from: Option<String>,
    /// To (RFC 3339); now when absent.
    #[serde(default)]
    to: Option<String>,
    /// At most this many visits (default 1,000, at most 10,000).
    #[serde(default)]
    limit: Option<i64>,
}

impl Window {
    fn bounds(&self, now: OffsetDateTime) -> ApiResult<(OffsetDateTime, OffsetDateTime, i64)> {
        let parse = |s: &Option<String>, default: OffsetDateTime| match s {
            None => Ok(default),
            Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                ApiError::bad_request(
                    "bad_time",
                    format!("{s:?} is not an RFC 3339 time"),
                    "时间格式应为 RFC 3339",
                )
            }),
        };
        let (from, to, limit) = visits::recent(now);
        let from = parse(&self.from, from)?;
        let to = parse(&self.to, to)?;
        Ok((from, to, self.limit.unwrap_or(limit).clamp(1, 10_000)))
    }
}

/// A person's visits (到访记录): the resident's own and their children's; health officials'
/// reads go on the audit chain.
#[utoipa::path(get, path = "/api/v1/people/{id}/visits", tag = "scans", security(("bearer" = [])),
    params(("id" = String, Path, description = "the person's id"), Window),
    responses((status = 200, body = Vec<VisitView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn person_visits(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(window): Query<Window>,
) -> ApiResult<Json<Vec<VisitView>>> {
    let now = state.now();
    let (from, to, limit) = window.bounds(now)?;
    let visits = visits::of_person(&state, &caller, &id, (from, to, limit), now).await?;
    Ok(Json(visits))
}

/// A venue's visit log, for health officials and the venue's manager; on the audit chain.
#[utoipa::path(get, path = "/api/v1/venues/{id}/visits", tag = "scans", security(("bearer" = [])),
    params(("id" = String, Path, description = "the venue's id"), Window),
    responses((status = 200, body = Vec<VisitView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn venue_visits(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(window): Query<Window>,
) -> ApiResult<Json<Vec<VisitView>>> {
    let now = state.now();
    let (from, to, limit) = window.bounds(now)?;
    let visits = visits::at_venue(&state, &caller, &id, (from, to, limit), now).await?;
    Ok(Json(visits))
}

/// Confirms a flagged check-in (the person was there after all), so it counts as presence.
#[utoipa::path(post, path = "/api/v1/visits/{id}/confirm", tag = "scans", security(("bearer" = [])),
    params(("id" = String, Path, description = "the visit's id")),
    responses((status = 200, body = Visit), (status = 404, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn confirm_visit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Visit>> {
    Ok(Json(
        visits::confirm(&state, &caller, &id, state.now()).await?,
    ))
}
