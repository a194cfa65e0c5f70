//! Resident login: a one-time code sent by SMS (queued in the outbox, which wakes its
//! sender), then a session token; and logout, which ends a session. Codes go only to the number
//! ranges configured, and are limited per phone, per client address and overall.

use crate::AppState;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::usecases::logins;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use time::format_description::well_known::Rfc3339;

/// Where a request comes from, as the code limits count it: the connection's address, or the
/// address a trusted proxy names in `login.client_address_header`. An IPv6 client counts by its
/// /64, which one subscriber usually holds whole. The store keeps it only as a blind index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client(pub String);

/// The key an address is counted under.
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The last address in the named header (a proxy appends the address it saw last).
fn header_address(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    let last = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let entry = last.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

impl Client {
    pub fn of(state: &AppState, parts: &Parts) -> Client {
        let proxied = state
            .config
            .login
            .client_address_header
            .as_deref()
            .filter(|name| !name.trim().is_empty())
            .and_then(|name| header_address(&parts.headers, name.trim()));
        let ip = proxied.or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        });
        Client(ip.map_or_else(|| "unknown".to_owned(), client_key))
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Client, std::convert::Infallible> {
        Ok(Client::of(state, parts))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[schema(pattern = r"^(1[3-9][0-9]{9}|\+[0-9]{7,15})$")]
    pub phone: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(pattern = r"^(1[3-9][0-9]{9}|\+[0-9]{7,15})$")]
    pub phone: String,
    pub code: String,
}

#[utoipa::path(post, path = "/api/v1/auth/code", tag = "login", request_body = CodeRequest,
    responses((status = 202, description = "a code was queued for SMS"),
        (status = 422, body = crate::error::ErrorBody, description = "`bad_phone`, or `phone_not_accepted`: a number outside the ranges codes are sent to"),
        (status = 429, body = crate::error::ErrorBody, description = "`too_many_codes` (this phone), `too_many_codes_from_address` (this client address) or `too_many_codes_overall` (the whole node), each over the last hour; with `Retry-After` in seconds")))]
pub async fn send_code(
    State(state): State<AppState>,
    client: Client,
    Body(req): Body<CodeRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ttl = logins::send_code(&state, &req.phone, &client.0, state.now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"sent": true, "expires_in_seconds": ttl})),
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "login", request_body = LoginRequest,
    responses((status = 200, description = "`{token, expires_at, people}`: a resident session"), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Body(req): Body<LoginRequest>,
) -> ApiResult<Json<Value>> {
    let session = logins::log_in(&state, &req.phone, &req.code, state.now()).await?;
    Ok(Json(json!({
        "token": session.token,
        "expires_at": session.expires_at.format(&Rfc3339).unwrap_or_default(),
        "people": session.people,
    })))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "login", security(("bearer" = [])),
    responses((status = 204, description = "the session is ended: its token works no more, as bearer or as the pages' cookie"),
        (status = 401, body = crate::error::ErrorBody, description = "no session, or one already ended"),
        (status = 422, body = crate::error::ErrorBody, description = "`not_a_session`: an API token, which an admin revokes instead")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<StatusCode> {
    let token =
        crate::auth::presented_token(&state, &headers).ok_or_else(ApiError::unauthorized)?;
    crate::auth::end_session(&state, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}
