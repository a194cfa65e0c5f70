//! The pages' cookies: the session, the CSRF token every form and page script must send back,
//! and the language. The session cookie holds a session the store keeps and logging out ends: a
//! resident's (`hs_…`, from the phone login) or a staff member's page session (`hw_…`, from the
//! staff login), never an API token. For a signed-in visitor the CSRF token is bound to the
//! session (a keyed hash of it); before signing in it is the random `hc_csrf` cookie, sent back
//! in the form (double submit).

use crate::AppState;
use crate::auth::{Caller, random_hex, session_cookie};
use crate::error::ApiError;
use crate::web::cookies::{CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, cookie, same, set_cookie};
use crate::web::page::{Chrome, ErrorWords, Lang, WebError};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{CONTENT_LENGTH, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// What every page request knows about its visitor, set by [`middleware`].
#[derive(Debug, Clone)]
pub struct Web {
    pub lang: Lang,
    /// The visitor's CSRF token, echoed in every form and in the page's `csrf-token` meta: bound
    /// to the session when there is one, else the value of the `hc_csrf` cookie.
    pub csrf: String,
    /// Whether `csrf` is bound to the session (else it must match the `hc_csrf` cookie).
    pub csrf_bound: bool,
    /// The session token from the cookie, if any (not yet checked).
    pub token: Option<String>,
    /// Whether cookies set now get `Secure`.
    pub secure: bool,
    /// The page's path, for the language toggle.
    pub path: String,
    /// On a node with a replica, a page read and the position it must see.
    pub read: Option<crate::replica::ReadAfter>,
}

fn lang_query(query: Option<&str>) -> Option<Lang> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
}

/// Reads the cookies (and `?lang=`), gives the handlers a [`Web`], and sets the cookies a
/// first visit needs; also the headers every page gets.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let secure = state.config.login.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let existing = cookie(headers, CSRF_COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let fresh_csrf = existing.is_none();
    let anonymous_csrf = existing.unwrap_or_else(|| random_hex(32));
    let asked = lang_query(req.uri().query());
    let lang = asked
        .or_else(|| cookie(headers, LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or(Lang::Zh);
    let token = session_cookie(headers).map(str::to_owned);
    let csrf = match &token {
        Some(session) => state.store.session_csrf(session),
        None => anonymous_csrf.clone(),
    };
    let path = req.uri().path().to_owned();
    let read = req.extensions().get().copied();
    req.extensions_mut().insert(Web {
        lang,
        csrf_bound: token.is_some(),
        csrf,
        token,
        secure,
        path,
        read,
    });
    let mut response = next.run(req).await;
    if lang != Lang::Zh
        && let Some(words) = response.extensions().get::<ErrorWords>().cloned()
    {
        // An error page is rendered before the visitor's language is known to it.
        response.headers_mut().remove(CONTENT_LENGTH);
        *response.body_mut() = words.page(lang).into_response().into_body();
    }
    let h = response.headers_mut();
    if fresh_csrf {
        h.append(
            SET_COOKIE,
            set_cookie(CSRF_COOKIE, &anonymous_csrf, None, "Strict", secure),
        );
    }
    if let Some(lang) = asked {
        h.append(
            SET_COOKIE,
            set_cookie(LANG_COOKIE, lang.code(), Some(365 * 86400), "Lax", secure),
        );
    }
    // Scripts and styles only from the node itself; no framing; nothing leaks in referrers.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

impl FromRequestParts<AppState> for Web {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Web, WebError> {
        parts
            .extensions
            .get::<Web>()
            .cloned()
            .ok_or_else(|| WebError::Api(ApiError::internal()))
    }
}

impl Chrome {
    pub fn new(web: &Web, title_zh: &str, title_en: &str, signed_in: bool) -> Chrome {
        Chrome {
            lang: web.lang,
            csrf: web.csrf.clone(),
            path: web.path.clone(),
            title: web.lang.t(title_zh, title_en).to_owned(),
            signed_in,
        }
    }
}

impl Web {
    /// The signed-in caller, or `None` when there is no (valid) session.
    pub async fn caller(&self, state: &AppState) -> Result<Option<Caller>, WebError> {
        let Some(token) = &self.token else {
            return Ok(None);
        };
        match Caller::from_token(state, token, self.read.as_ref()).await {
            Ok(caller) => Ok(Some(caller)),
            Err(e) if e.status == StatusCode::UNAUTHORIZED || e.status == StatusCode::FORBIDDEN => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The phone the resident logged in with, kept sealed with their session (none for a
    /// session opened before it was kept, or none at all).
    pub async fn login_phone(&self, state: &AppState) -> Result<Option<String>, WebError> {
        match &self.token {
            Some(token) => Ok(state.store.session_phone(token, state.now()).await?),
            None => Ok(None),
        }
    }

    /// The signed-in resident; anyone else is sent to the resident login.
    pub async fn resident(&self, state: &AppState) -> Result<Caller, WebError> {
        match self.caller(state).await? {
            Some(c @ Caller::Resident { .. }) => Ok(c),
            _ => Err(WebError::SignIn("/login")),
        }
    }

    /// The signed-in staff member; anyone else is sent to the staff login.
    pub async fn staff(&self, state: &AppState) -> Result<Caller, WebError> {
        match self.caller(state).await? {
            Some(c @ Caller::Staff { .. }) => Ok(c),
            _ => Err(WebError::SignIn("/staff/login")),
        }
    }

    /// The session cookie for a token, living as long as `seconds`.
    pub fn session_cookie(&self, token: &str, seconds: i64) -> HeaderValue {
        set_cookie(SESSION_COOKIE, token, Some(seconds), "Lax", self.secure)
    }

    pub fn clear_session(&self) -> HeaderValue {
        set_cookie(SESSION_COOKIE, "", Some(0), "Lax", self.secure)
    }

    /// Ends the session in the cookie, if any, in the store (at logout, or when the browser signs
    /// in anew over it). One already ended or unknown is no error here.
    pub async fn end_session(&self, state: &AppState) -> Result<(), WebError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        match crate::auth::end_session(state, token).await {
            Ok(()) => Ok(()),
            Err(e) if e.status.is_client_error() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A posted form whose CSRF token (`csrf` field) matched the visitor's: the one bound to their
/// session, or before signing in their `hc_csrf` cookie. Every page form is read through this, so
/// none can be forged by another site.
pub struct Posted<T>(pub T);

/// A form field naming one of the API's enum values (`approve`, `train`, …); anything else is
/// refused with `code` and its words.
pub(crate) fn choice<T: DeserializeOwned>(
    value: &str,
    code: &'static str,
    en: impl Into<String>,
    zh: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| ApiError::unprocessable(code, en, zh))
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

fn bad_form(e: impl std::fmt::Display) -> WebError {
    WebError::Api(ApiError::unprocessable(
        "bad_form",
        format!("the form could not be read: {e}"),
        "无法读取表单内容",
    ))
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Posted<T>, WebError> {
        let (expected, bound) = req
            .extensions()
            .get::<Web>()
            .map(|w| (w.csrf.clone(), w.csrf_bound))
            .unwrap_or_default();
        // Bound to the session, the token stands alone; before signing in it must match the
        // visitor's own cookie (double submit).
        let had_cookie = bound || cookie(req.headers(), CSRF_COOKIE).is_some();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| {
                WebError::Api(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the form is too large",
                    "表单内容过大",
                ))
            })?;
        let sent: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(bad_form)?;
        if !had_cookie || !same(&sent.csrf, &expected) {
            return Err(WebError::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "the form had expired or did not come from this site: reload the page and try again",
                "表单已过期或并非来自本站，请刷新页面后重试",
            )));
        }
        let value = serde_urlencoded::from_bytes(&bytes).map_err(bad_form)?;
        Ok(Posted(value))
    }
}
