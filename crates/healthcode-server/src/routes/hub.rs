//! The hub's HTTP surface (`/hub/v1`, on a node with `federation.role = "hub"`): the signed
//! trust list and root key anyone may fetch, regions' signed proposals, and hub officials'
//! decisions and revocations.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path};
use crate::error::{ApiError, ApiResult};
use crate::federation::hub;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use healthcode_store::{HubProposal, HubRegion, HubRevocation};
use serde::Deserialize;

/// The latest trust list (COSE_Sign1 over JSON, `application/cose`), with its sequence as the
/// entity tag: `If-None-Match` with the sequence held answers 304.
pub async fn trust_list(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let list = hub::current(&state, state.now()).await?;
    let etag = format!("\"{}\"", list.sequence);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let cache = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if cached {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let mut response = (cache, list.signed).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/cose"),
    );
    Ok(response)
}

/// The hub's root public key (PEM), which regions configure as `trust_root_key`: fetch it once
/// and compare its fingerprint out of band, as with any root.
pub async fn root_key(State(state): State<AppState>) -> ApiResult<String> {
    let hub = state
        .hub
        .as_deref()
        .ok_or_else(|| ApiError::not_found("the hub"))?;
    Ok(hub.root.verifying_key().to_pem())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// The region's COSE_Sign1 over its registration, base64.
    pub signed: String,
}

/// A region's proposal, signed with its node key; it waits for a hub official.
pub async fn propose(
    State(state): State<AppState>,
    Body(req): Body<SignedRequest>,
) -> ApiResult<(StatusCode, Json<HubProposal>)> {
    let signed = STANDARD.decode(req.signed.trim()).map_err(|_| {
        ApiError::unprocessable(
            "not_signed",
            "signed is not base64",
            "signed 不是 base64 编码",
        )
    })?;
    let proposal = hub::propose(&state, &signed, state.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(proposal)))
}

/// Proposals, newest first, for hub officials.
pub async fn proposals(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<HubProposal>>> {
    caller.require(&[crate::auth::Role::HubOfficial])?;
    Ok(Json(state.store.hub_proposals(None).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `approve` or `reject`.
    pub decision: String,
    pub reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<Decision>,
) -> ApiResult<Json<HubProposal>> {
    let approve = match req.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(ApiError::unprocessable(
                "bad_decision",
                "decision is approve or reject",
                "decision 应为 approve 或 reject",
            ));
        }
    };
    let now = state.now();
    Ok(Json(
        hub::decide(&state, &caller, &id, approve, &req.reason, now).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    pub reason: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(kid): Path<String>,
    Body(req): Body<Revoke>,
) -> ApiResult<Json<HubRevocation>> {
    let now = state.now();
    Ok(Json(
        hub::revoke(&state, &caller, &kid, &req.reason, now).await?,
    ))
}

/// The directory: every approved region, public as the list is.
pub async fn regions(State(state): State<AppState>) -> ApiResult<Json<Vec<HubRegion>>> {
    if state.hub.is_none() {
        return Err(ApiError::not_found("the hub"));
    }
    Ok(Json(state.store.hub_regions().await?))
}

/// A signed message from another region's node (`application/cose`): answered with a reply
/// signed by this node (docs/FEDERATION.md).
pub async fn message(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let reply = crate::federation::inbox::receive(&state, &body, state.now()).await?;
    let mut response = reply.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/cose"),
    );
    Ok(response)
}
