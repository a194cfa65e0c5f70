//! What every page shares: the language, the page frame, rendering, and errors as pages.

use crate::error::ApiError;
use askama::Template;
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{Html, IntoResponse, Redirect, Response};
use healthcode_core::text::Text;
use time::{OffsetDateTime, UtcOffset};

/// The page language: Chinese unless the visitor chose English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the toggle.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// Picks the text in this language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn text(self, text: &Text) -> String {
        self.t(&text.zh, &text.en).to_owned()
    }

    /// The toggle's own label, in the language it switches to.
    pub fn switch_label(self) -> &'static str {
        match self {
            Lang::Zh => "English",
            Lang::En => "中文",
        }
    }
}

/// The frame around every page: language, CSRF token, title and who is signed in.
pub struct Chrome {
    pub lang: Lang,
    pub csrf: String,
    pub path: String,
    pub title: String,
    /// Shows the log-out button.
    pub signed_in: bool,
}

impl Chrome {
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        self.lang.t(zh, en)
    }
}

/// What a page handler fails with: an error shown as a page, or "sign in first".
#[derive(Debug)]
pub enum WebError {
    Api(ApiError),
    /// Not signed in (or not as the right kind of user): go to this login page.
    SignIn(&'static str),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> WebError {
        WebError::Api(e)
    }
}

impl From<healthcode_store::StoreError> for WebError {
    fn from(e: healthcode_store::StoreError) -> WebError {
        WebError::Api(e.into())
    }
}

pub type PageResult = Result<Response, WebError>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: Lang,
    status: u16,
    code: &'a str,
    message: &'a str,
}

/// What an error page says, kept on its response: the pages' middleware, which knows the
/// visitor's language, says it again in that language when it is not Chinese.
#[derive(Debug, Clone)]
pub struct ErrorWords {
    status: StatusCode,
    code: &'static str,
    zh: String,
    en: String,
}

impl ErrorWords {
    /// The page in `lang`.
    pub fn page(&self, lang: Lang) -> Html<String> {
        let page = ErrorPage {
            lang,
            status: self.status.as_u16(),
            code: self.code,
            message: lang.t(&self.zh, &self.en),
        };
        Html(
            page.render()
                .unwrap_or_else(|_| lang.t(&self.zh, &self.en).to_owned()),
        )
    }
}

fn error_page(e: ApiError, lang: Lang) -> Response {
    let words = ErrorWords {
        status: e.status,
        code: e.code,
        zh: e.zh,
        en: e.en,
    };
    let mut response = (e.status, [(CACHE_CONTROL, "no-store")], words.page(lang)).into_response();
    if let Some(seconds) = e.retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
    response.extensions_mut().insert(words);
    response
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn(to) => Redirect::to(to).into_response(),
            WebError::Api(e) => error_page(e, Lang::Zh),
        }
    }
}

/// An error as a browser wants it (a page, in the language its cookie chose, when it asks for
/// HTML) or as an API client does (the JSON body): for paths no handler took.
pub fn for_client(headers: &axum::http::HeaderMap, e: ApiError) -> Response {
    let wants_page = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_page {
        let lang = crate::web::cookies::cookie(headers, crate::web::cookies::LANG_COOKIE)
            .and_then(Lang::parse)
            .unwrap_or(Lang::Zh);
        error_page(e, lang)
    } else {
        e.into_response()
    }
}

/// Who proposed, created or decided something, as people read it: the node's configuration, or
/// an official by role and masked name, never an account id.
pub(crate) async fn official_words(
    state: &crate::AppState,
    lang: Lang,
    actor: &str,
) -> Result<String, WebError> {
    if actor.is_empty() {
        return Ok(String::new());
    }
    if actor == "configuration" {
        return Ok(lang.t("节点配置", "the node's configuration").to_owned());
    }
    Ok(match state.store.account(actor).await? {
        Some(a) => {
            let (zh, en) = crate::usecases::audit_lines::role_words(&a.role);
            format!(
                "{} {}",
                lang.t(zh, en),
                healthcode_core::identity::mask_name(&a.name)
            )
        }
        None => lang.t("一名官员", "an official").to_owned(),
    })
}

/// The documents an adult enrolls with, as the forms offer them: (value, Chinese, English).
pub const ADULT_DOCUMENTS: [(&str, &str, &str); 6] = [
    ("resident_id", "居民身份证", "Resident ID card"),
    (
        "hk_macau_permit",
        "港澳居民来往内地通行证",
        "Hong Kong / Macao permit",
    ),
    ("taiwan_permit", "台湾居民来往大陆通行证", "Taiwan permit"),
    (
        "hk_macau_taiwan_residence_permit",
        "港澳台居民居住证",
        "Hong Kong / Macao / Taiwan residence permit",
    ),
    (
        "foreign_permanent_resident_id",
        "外国人永久居留身份证",
        "Foreign permanent resident ID",
    ),
    ("passport", "护照", "Passport"),
];

/// A region code as a person reads it: 西湖区 (330106), or the code alone when it names nothing.
pub(crate) fn region_words(code: &str) -> String {
    match healthcode_core::region::name(code) {
        Some(name) => format!("{name} ({code})"),
        None => code.to_owned(),
    }
}

/// Renders a page; pages hold personal data, so they are never cached.
pub fn render(page: impl Template) -> PageResult {
    let body = page.render().map_err(|e| {
        tracing::error!(error = %e, "rendering a page failed");
        WebError::Api(ApiError::internal())
    })?;
    Ok((StatusCode::OK, [(CACHE_CONTROL, "no-store")], Html(body)).into_response())
}

/// After a form: back to a page (303, so a reload does not post again).
pub fn see(to: &str) -> PageResult {
    Ok(Redirect::to(to).into_response())
}

/// The region's local time (China Standard Time), as pages show it.
pub const LOCAL: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

pub fn local_time(t: OffsetDateTime) -> String {
    // A time at the edge of the representable years has no local form: shown in UTC.
    let t = t.checked_to_offset(LOCAL).unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

pub fn local_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(local_time)
        .unwrap_or_default()
}

/// A code's look: CSS class, icon, and the word in each language. Never colour alone.
pub struct CodeLook {
    pub class: &'static str,
    /// The QR's dark modules: the colour, dark enough to scan; black while under review.
    pub tint: &'static str,
    pub icon: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

pub fn look(code: &str) -> CodeLook {
    match code {
        "green" => CodeLook {
            class: "green",
            tint: healthcode_pass::qr::TINTS[0],
            icon: "✔",
            zh: "绿码",
            en: "Green code",
        },
        "yellow" => CodeLook {
            class: "yellow",
            tint: healthcode_pass::qr::TINTS[1],
            icon: "⚠",
            zh: "黄码",
            en: "Yellow code",
        },
        "red" => CodeLook {
            class: "red",
            tint: healthcode_pass::qr::TINTS[2],
            icon: "✖",
            zh: "红码",
            en: "Red code",
        },
        _ => CodeLook {
            class: "pending",
            tint: "#000000",
            icon: "◷",
            zh: "审核中",
            en: "Under review",
        },
    }
}

impl CodeLook {
    pub fn word(&self, lang: &Lang) -> &'static str {
        lang.t(self.zh, self.en)
    }
}
