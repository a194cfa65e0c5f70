//! Venues (场所), their printable venue codes (场所码), and their checkpoints (卡口) over HTTP;
//! what each means and who may do it is `usecases::venues`.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::usecases::venues::{self, CheckpointRequest, NewCheckpoint, VenueRequest, VenueView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[utoipa::path(post, path = "/api/v1/venues", tag = "venues", security(("bearer" = [])), request_body = VenueRequest,
    responses((status = 201, body = VenueView), (status = 422, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<VenueRequest>,
) -> ApiResult<(StatusCode, Json<VenueView>)> {
    let venue = venues::register(&state, &caller, req, state.now()).await?;
    Ok((StatusCode::CREATED, Json(venue)))
}

#[utoipa::path(get, path = "/api/v1/venues", tag = "venues", security(("bearer" = [])),
    responses((status = 200, body = Vec<VenueView>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<VenueView>>> {
    Ok(Json(venues::list(&state, &caller).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CodeQuery {
    /// `text` (default), `png` or `svg`.
    #[serde(default)]
    format: Option<String>,
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
    let (_, text) = venues::code(&state, &caller, &id, state.now()).await?;
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
    let added = venues::add_checkpoint(&state, &caller, &id, req, state.now()).await?;
    Ok((StatusCode::CREATED, Json(added)))
}
