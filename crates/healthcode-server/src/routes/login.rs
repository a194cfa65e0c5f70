//! Resident login: a one-time code sent by SMS (queued in the outbox, which wakes its
//! sender), then a session token; and logout, which ends a session. Codes go only to the number
//! ranges configured, and are limited per phone, per client address and overall.

use crate::AppState;
use crate::body::Body;
use crate::config::LoginConfig;
use crate::error::{ApiError, ApiResult};
use crate::usecases::people::normalise_phone;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use healthcode_core::Text;
use healthcode_store::{CodeLimit, CodeLimits, CodeRejection};
use rand::Rng;
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

/// Refuses a number outside the ranges codes are sent to (`login.code_phone_prefixes`).
pub fn accepted_for_codes(phone: &str, login: &LoginConfig) -> ApiResult<()> {
    let accepted = login
        .code_phone_prefixes
        .iter()
        .map(|p| p.trim())
        .any(|p| !p.is_empty() && phone.starts_with(p));
    if accepted {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "phone_not_accepted",
            "login codes are not sent to this number range",
            "不支持向该号段发送验证码",
        ))
    }
}

fn too_many(limit: CodeLimit, retry_after: time::Duration) -> ApiError {
    let (code, en, zh) = match limit {
        CodeLimit::Phone => (
            "too_many_codes",
            "too many codes were requested for this phone in the last hour",
            "该手机号一小时内请求验证码次数过多",
        ),
        CodeLimit::Client => (
            "too_many_codes_from_address",
            "too many codes were requested from this network address in the last hour; try again later",
            "该网络地址一小时内请求验证码次数过多，请稍后再试",
        ),
        CodeLimit::Overall => (
            "too_many_codes_overall",
            "too many login codes are being requested right now; try again later",
            "当前请求验证码的人数过多，请稍后再试",
        ),
    };
    let seconds = (retry_after.whole_milliseconds() + 999) / 1000;
    ApiError {
        retry_after: Some(u64::try_from(seconds).unwrap_or(1).max(1)),
        ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, en, zh)
    }
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
    let phone = normalise_phone(&req.phone)?;
    let login = &state.config.login;
    accepted_for_codes(&phone, login)?;
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000));
    let minutes = login.code_ttl_seconds / 60;
    let message = Text {
        zh: format!("【健康码】您的登录验证码为 {code}，{minutes} 分钟内有效。"),
        en: format!("Your healthcode login code is {code}, valid for {minutes} minutes."),
    };
    let limits = CodeLimits {
        per_phone: login.codes_per_hour,
        per_client: login.codes_per_address_per_hour,
        overall: login.codes_per_hour_overall,
    };
    state
        .store
        .issue_login_code(
            &phone,
            &client.0,
            &code,
            &message,
            time::Duration::seconds(login.code_ttl_seconds),
            limits,
            state.now(),
        )
        .await?
        .map_err(|refused| too_many(refused.limit, refused.retry_after))?;
    state.outbox.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"sent": true, "expires_in_seconds": login.code_ttl_seconds})),
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "login", request_body = LoginRequest,
    responses((status = 200, description = "`{token, expires_at, people}`: a resident session"), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Body(req): Body<LoginRequest>,
) -> ApiResult<Json<Value>> {
    let phone = normalise_phone(&req.phone)?;
    let login = &state.config.login;
    let token = crate::auth::new_session_token();
    let verdict = state
        .store
        .redeem_login_code(
            &phone,
            req.code.trim(),
            &token,
            time::Duration::hours(login.session_hours),
            login.max_attempts,
            state.now(),
        )
        .await?;
    match verdict {
        Ok(expires) => {
            let people = state.store.find_by_phone(&phone).await?;
            Ok(Json(json!({
                "token": token,
                "expires_at": expires.format(&Rfc3339).unwrap_or_default(),
                "people": people,
            })))
        }
        Err(CodeRejection::Wrong) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong_code",
            "the code is wrong",
            "验证码错误",
        )),
        Err(CodeRejection::NoCode) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no_code",
            "no valid code was sent to this phone; request a new one",
            "该手机号没有有效的验证码，请重新获取",
        )),
        Err(CodeRejection::Exhausted) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many wrong codes; request a new one",
            "验证码错误次数过多，请重新获取",
        )),
    }
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
