//! Resident login: a one-time code sent by SMS (queued in the outbox, which wakes its
//! sender), then a session token.

use crate::AppState;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::Text;
use healthcode_store::CodeRejection;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub phone: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub phone: String,
    pub code: String,
}

/// A mainland mobile number (11 digits starting 13–19) or an international one (+ and 7–15
/// digits), normalised without spaces or dashes.
pub fn normalise_phone(raw: &str) -> ApiResult<String> {
    let phone: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let mainland = phone.len() == 11
        && phone.starts_with('1')
        && matches!(phone.as_bytes()[1], b'3'..=b'9')
        && phone.bytes().all(|b| b.is_ascii_digit());
    let international = phone
        .strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if mainland || international {
        Ok(phone)
    } else {
        Err(ApiError::unprocessable(
            "bad_phone",
            "a phone number is 11 digits starting with 13–19, or + and 7 to 15 digits",
            "手机号应为 13–19 开头的 11 位数字，或 + 加 7 至 15 位数字",
        ))
    }
}

#[utoipa::path(post, path = "/api/v1/auth/code", tag = "login", request_body = CodeRequest,
    responses((status = 202, description = "a code was queued for SMS"), (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn send_code(
    State(state): State<AppState>,
    Body(req): Body<CodeRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let phone = normalise_phone(&req.phone)?;
    let login = &state.config.login;
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000));
    let minutes = login.code_ttl_seconds / 60;
    let message = Text {
        zh: format!("【健康码】您的登录验证码为 {code}，{minutes} 分钟内有效。"),
        en: format!("Your healthcode login code is {code}, valid for {minutes} minutes."),
    };
    let sent = state
        .store
        .issue_login_code(
            &phone,
            &code,
            &message,
            time::Duration::seconds(login.code_ttl_seconds),
            login.codes_per_hour,
            state.now(),
        )
        .await?;
    if !sent {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_codes",
            "too many codes were requested for this phone in the last hour",
            "该手机号一小时内请求验证码次数过多",
        ));
    }
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
    let token = format!(
        "{}{}",
        crate::auth::SESSION_PREFIX,
        crate::auth::random_hex(32)
    );
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
