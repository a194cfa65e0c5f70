//! Resident login: a one-time code sent by SMS (queued in the outbox, which wakes its sender),
//! traded for a session. Codes go only to the number ranges configured, and are limited per
//! phone, per client address and overall.

use crate::AppState;
use crate::config::LoginConfig;
use crate::error::{ApiError, ApiResult};
use crate::usecases::people::normalise_phone;
use axum::http::StatusCode;
use healthcode_core::Text;
use healthcode_store::{CodeLimit, CodeLimits, CodeRejection, Person};
use rand::Rng;
use time::OffsetDateTime;

/// A resident session: its token, when it ends, and the people enrolled under the phone.
pub struct Session {
    pub token: String,
    pub expires_at: OffsetDateTime,
    pub people: Vec<Person>,
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

/// Queues a login code for the phone, from the client address `client` (a blind-indexed key);
/// answers how many seconds it stays valid.
pub async fn send_code(
    state: &AppState,
    phone: &str,
    client: &str,
    now: OffsetDateTime,
) -> ApiResult<i64> {
    let phone = normalise_phone(phone)?;
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
            client,
            &code,
            &message,
            time::Duration::seconds(login.code_ttl_seconds),
            limits,
            now,
        )
        .await?
        .map_err(|refused| too_many(refused.limit, refused.retry_after))?;
    state.outbox.notify_one();
    Ok(login.code_ttl_seconds)
}

/// Trades a code for a session.
pub async fn log_in(
    state: &AppState,
    phone: &str,
    code: &str,
    now: OffsetDateTime,
) -> ApiResult<Session> {
    let phone = normalise_phone(phone)?;
    let login = &state.config.login;
    let token = crate::auth::new_session_token();
    let verdict = state
        .store
        .redeem_login_code(
            &phone,
            code.trim(),
            &token,
            time::Duration::hours(login.session_hours),
            login.max_attempts,
            now,
        )
        .await?;
    match verdict {
        Ok(expires_at) => Ok(Session {
            people: state.store.find_by_phone(&phone).await?,
            token,
            expires_at,
        }),
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
