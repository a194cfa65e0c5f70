//! GB/T 38963 code request (申领健康码) and code verification (核验健康码): a fresh signed pass
//! for a person, as text, PNG or SVG; and the offline verifier's report for any scanned code.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::Body;
use crate::body::rfc3339;
use crate::body::{Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::usecases::passes::{self, Fresh};
use axum::Json;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PassQuery {
    /// `json` (default: the text and what it says), `text` (the QR code's text alone), `png` or
    /// `svg`.
    #[serde(default)]
    format: Option<String>,
}

/// What the JSON form of a pass carries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedPass {
    /// The QR code's text (`HCP1:…`).
    text: String,
    colour: String,
    masked_name: String,
    #[schema(format = DateTime)]
    issued_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// A fresh pass with the colour the policy gives now, never another.
#[utoipa::path(get, path = "/api/v1/people/{id}/pass", tag = "code", security(("bearer" = [])),
    params(("id" = String, Path, description = "the person's id"), PassQuery),
    responses((status = 200, body = IssuedPass, description = "JSON, text/plain, image/png or image/svg+xml"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PassQuery>,
) -> ApiResult<Response> {
    let now = state.now();
    let Fresh { pass, text, .. } = passes::issue(&state, &caller, &id, state.now()).await?;
    let no_store = [(CACHE_CONTROL, "no-store")];
    let image = |e: healthcode_pass::qr::QrError| {
        tracing::error!(error = %e, "QR rendering failed");
        ApiError::internal()
    };
    Ok(match query.format.as_deref().unwrap_or("json") {
        "text" => (
            no_store,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            text,
        )
            .into_response(),
        "png" => {
            let png = healthcode_pass::qr::render_png(&text, 8).map_err(image)?;
            (no_store, [(CONTENT_TYPE, "image/png")], png).into_response()
        }
        "svg" => {
            let svg = healthcode_pass::qr::render_svg(&text).map_err(image)?;
            (no_store, [(CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        "json" => {
            let at = |s: i64| rfc3339(time::OffsetDateTime::from_unix_timestamp(s).unwrap_or(now));
            let body = IssuedPass {
                text,
                colour: pass.colour.as_str().to_owned(),
                masked_name: pass.masked_name.clone(),
                issued_at: at(pass.issued_at),
                expires_at: at(pass.expires_at),
            };
            (no_store, Json(body)).into_response()
        }
        other => {
            return Err(ApiError::bad_request(
                "bad_format",
                format!("format {other:?}: use json, text, png or svg"),
                "格式应为 json、text、png 或 svg",
            ));
        }
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The scanned text: a pass (`HCP1:`), a venue code (`HCV1:`) or an EU certificate (`HC1:`).
    text: String,
}

/// The offline verifier's report: every stage (prefix, base45, decompress, cose, signature,
/// expiry, key_usage, schema) and the decoded content. Checking a code records no visit.
#[utoipa::path(post, path = "/api/v1/passes/verify", tag = "code", security(("bearer" = [])),
    request_body = VerifyRequest,
    responses((status = 200, description = "the report; `valid` is true only when every stage is ok"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<VerifyRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(&[
        Role::Checkpoint,
        Role::VenueManager,
        Role::HealthOfficial,
        Role::CommunityWorker,
        Role::Admin,
    ])?;
    let report = state.passes.verify(req.text.trim(), state.now());
    Ok(Json(
        serde_json::to_value(&report).unwrap_or_else(|_| json!({"valid": false})),
    ))
}
