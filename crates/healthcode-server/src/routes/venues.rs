//! Venues (场所), their printable venue codes (场所码), and their checkpoints (卡口).

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::Body;
use crate::body::{Path, Query};
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use healthcode_store::{Checkpoint, NewVenue, Venue};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenueRequest {
    pub name: String,
    pub address: String,
    /// GB/T 2260 region code (6 digits).
    pub region: String,
    /// One of the categories of the policy's `venue_dwell_minutes` (metro, mall, hospital, …).
    pub category: String,
}

/// A venue with the dwell time its category has under the published policy: how long a visit
/// stands for presence when no exit is scanned.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VenueView {
    #[serde(flatten)]
    pub venue: Venue,
    pub dwell_minutes: i64,
}

fn dwell_minutes(state: &AppState, category: &str) -> Option<i64> {
    state
        .policy
        .document()
        .parameters
        .get("venue_dwell_minutes")?
        .get(category)?
        .as_i64()
}

fn view(state: &AppState, venue: Venue) -> VenueView {
    let dwell = dwell_minutes(state, &venue.category).unwrap_or(60);
    VenueView {
        venue,
        dwell_minutes: dwell,
    }
}

#[utoipa::path(post, path = "/api/v1/venues", tag = "venues", security(("bearer" = [])), request_body = VenueRequest,
    responses((status = 201, body = VenueView), (status = 422, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<VenueRequest>,
) -> ApiResult<(StatusCode, Json<VenueView>)> {
    caller.require(&[Role::VenueManager, Role::Admin])?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable(
            "bad_name",
            "a venue name has 1 to 100 characters",
            "场所名称应为 1 至 100 个字符",
        ));
    }
    if healthcode_core::region::RegionCode::parse(req.region.trim()).is_err() {
        return Err(ApiError::unprocessable(
            "bad_region",
            "a region code is 6 digits (GB/T 2260)",
            "行政区划代码应为 6 位数字",
        ));
    }
    if dwell_minutes(&state, &req.category).is_none() {
        return Err(ApiError::unprocessable(
            "bad_category",
            format!(
                "{:?} is not a venue category of the published policy",
                req.category
            ),
            format!("{:?} 不是赋码规则中的场所类别", req.category),
        ));
    }
    let new = NewVenue {
        name: name.to_owned(),
        address: req.address.trim().to_owned(),
        region: req.region.trim().to_owned(),
        category: req.category,
    };
    let venue = state
        .store
        .create_venue(&new, &caller.actor("venue registration"), state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, venue))))
}

#[utoipa::path(get, path = "/api/v1/venues", tag = "venues", security(("bearer" = [])),
    responses((status = 200, body = Vec<VenueView>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<VenueView>>> {
    if caller.role() == Role::Resident {
        return Err(ApiError::forbidden());
    }
    let venues = state.store.venues(1000).await?;
    Ok(Json(venues.into_iter().map(|v| view(&state, v)).collect()))
}

async fn found(state: &AppState, id: &str) -> ApiResult<Venue> {
    state
        .store
        .venue(id)
        .await?
        .ok_or_else(|| ApiError::not_found("venue"))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CodeQuery {
    /// `text` (default), `png` or `svg`.
    #[serde(default)]
    format: Option<String>,
}

/// A venue and its freshly signed code's text (`HCV1:…`), for those who print venue codes.
pub async fn venue_code(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(Venue, String)> {
    caller.require(&[Role::VenueManager, Role::HealthOfficial, Role::Admin])?;
    let venue = found(state, id).await?;
    let text = state.passes.venue_code(&venue, state.now()).map_err(|e| {
        tracing::error!(error = %e, "venue code failed");
        ApiError::internal()
    })?;
    Ok((venue, text))
}

/// The venue's signed code (场所码) to print: `HCV1:` text, or a PNG or SVG QR code.
#[utoipa::path(get, path = "/api/v1/venues/{id}/code", tag = "venues", security(("bearer" = [])),
    params(("id" = String, Path, description = "the venue's id"), CodeQuery),
    responses((status = 200, description = "text/plain, image/png or image/svg+xml"),
        (status = 404, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn code(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<CodeQuery>,
) -> ApiResult<Response> {
    let (_, text) = venue_code(&state, &caller, &id).await?;
    let image = |e: healthcode_pass::qr::QrError| {
        tracing::error!(error = %e, "QR rendering failed");
        ApiError::internal()
    };
    Ok(match query.format.as_deref().unwrap_or("text") {
        "text" => ([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        "png" => (
            [(CONTENT_TYPE, "image/png")],
            healthcode_pass::qr::render_png(&text, 10).map_err(image)?,
        )
            .into_response(),
        "svg" => (
            [(CONTENT_TYPE, "image/svg+xml")],
            healthcode_pass::qr::render_svg(&text).map_err(image)?,
        )
            .into_response(),
        other => {
            return Err(ApiError::bad_request(
                "bad_format",
                format!("format {other:?}: use text, png or svg"),
                "格式应为 text、png 或 svg",
            ));
        }
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRequest {
    pub name: String,
}

/// A new checkpoint and the token its scanner uses (shown once, stored only as a hash).
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewCheckpoint {
    pub checkpoint: Checkpoint,
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/venues/{id}/checkpoints", tag = "venues", security(("bearer" = [])),
    params(("id" = String, Path, description = "the venue's id")), request_body = CheckpointRequest,
    responses((status = 201, body = NewCheckpoint), (status = 404, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn add_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<CheckpointRequest>,
) -> ApiResult<(StatusCode, Json<NewCheckpoint>)> {
    caller.require(&[Role::VenueManager, Role::Admin])?;
    let venue = found(&state, &id).await?;
    // A venue manager registers checkpoints only at the venues they manage.
    if let Caller::Staff {
        account,
        role: Role::VenueManager,
    } = &caller
        && account.id != venue.manager_id
    {
        return Err(ApiError::forbidden());
    }
    if req.name.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "bad_name",
            "name the checkpoint (e.g. Gate A)",
            "请填写卡口名称（如 A 口）",
        ));
    }
    let token = crate::auth::new_staff_token();
    let checkpoint = state
        .store
        .create_checkpoint(
            &id,
            req.name.trim(),
            &token,
            &caller.actor("checkpoint registration"),
            state.now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewCheckpoint { checkpoint, token }),
    ))
}
