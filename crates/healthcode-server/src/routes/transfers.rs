//! Status transfer with consent, over HTTP: the origin's consent (`/people/{id}/consents`) and
//! the destination's transfer (`/people/{id}/transfers`); `federation::transfer` decides.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path};
use crate::error::ApiResult;
use crate::federation::transfer::{self, Transferred};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_store::Consent;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The region the status may go to (GB/T 2260), e.g. 110000.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub destination: String,
    /// Why, in the person's words (e.g. 返京复工).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub purpose: String,
    /// How long the code may be used: 1 to 72 whole hours (24 when absent).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 72)]
    pub valid_hours: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Granted {
    pub consent: Consent,
    /// The code to carry to the destination, shown once: the node keeps only its hash.
    pub code: String,
}

/// A resident consents to hand a person's status (their own or a child's) to another region.
#[utoipa::path(post, path = "/api/v1/people/{id}/consents", tag = "federation", security(("bearer" = [])),
    params(("id" = String, Path, description = "the person's id")), request_body = ConsentRequest,
    responses((status = 201, body = Granted), (status = 422, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<ConsentRequest>,
) -> ApiResult<(StatusCode, Json<Granted>)> {
    let now = state.now();
    // JSON has one kind of number: 24 and 24.0 are the same whole hours.
    let hours = req.valid_hours.map(|h| {
        if h.fract() == 0.0 && (1.0..=72.0).contains(&h) {
            h as i64
        } else {
            0
        }
    });
    let (consent, code) = transfer::grant(
        &state,
        &caller,
        &id,
        &req.destination,
        &req.purpose,
        hours,
        now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Granted { consent, code })))
}

/// A person's consents, newest first, with when and by which region each was used.
#[utoipa::path(get, path = "/api/v1/people/{id}/consents", tag = "federation", security(("bearer" = [])),
    params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<Consent>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Consent>>> {
    crate::usecases::people::may_act_for(&caller, &id, &crate::usecases::people::CASEWORKERS)?;
    Ok(Json(state.store.consents_of(&id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The region the person comes from (GB/T 2260), e.g. 420100.
    #[schema(pattern = r"^[0-9]{6}$")]
    pub origin: String,
    /// The code the person carries from the origin's consent.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
}

/// On the destination: the person presents the code; the origin's signed attestation is
/// recorded as a fact and this region's policy gives the colour.
#[utoipa::path(post, path = "/api/v1/people/{id}/transfers", tag = "federation", security(("bearer" = [])),
    params(("id" = String, Path, description = "the person's id")), request_body = TransferRequest,
    responses((status = 201, description = "the attestation recorded"), (status = 422, body = crate::error::ErrorBody),
        (status = 502, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<TransferRequest>,
) -> ApiResult<(StatusCode, Json<Transferred>)> {
    let now = state.now();
    let done = transfer::transfer(&state, &caller, &id, &req.origin, &req.code, now).await?;
    Ok((StatusCode::CREATED, Json(done)))
}
