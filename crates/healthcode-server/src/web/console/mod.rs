//! The console for officials, community workers and auditors: staff sign in with their
//! account's token; each page admits the roles its API endpoint admits.

pub mod appeals;
pub mod areas;
pub mod audit;
pub mod cases;
pub mod dashboard;
pub mod hub;
pub mod people;
pub mod returns;
pub mod venues;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::web::page::{Chrome, Lang, PageResult, WebError, render};
use crate::web::resident::role_label;
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "staff_login.html")]
struct StaffLogin {
    chrome: Chrome,
    error: Option<String>,
}

pub async fn login_page(web: Web) -> PageResult {
    render(StaffLogin {
        chrome: Chrome::new(&web, "工作人员登录", "Staff sign-in", false),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// Staff sign in with their account's API token (`healthcode accounts create` prints it) and
/// get a page session of their own (`hw_…`, `login.staff_session_hours`), bound to the account:
/// the cookie carries the session, never the API token. Logging out ends it; revoking the
/// account ends it at once. A checkpoint's account goes to the scanning page.
pub async fn login(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<TokenForm>,
) -> PageResult {
    let token = form.token.trim();
    let account = if token.is_empty() || crate::auth::is_session(token) {
        None
    } else {
        state.store.account_by_token(token).await?
    };
    let now = state.now();
    let hours = state.config.login.staff_session_hours;
    let session = crate::auth::new_staff_session_token();
    let opened = match &account {
        Some(account) if Role::parse(&account.role).is_some() => state
            .store
            .open_staff_session(&account.id, &session, time::Duration::hours(hours), now)
            .await?
            .is_some(),
        _ => false,
    };
    let Some(account) = account.filter(|_| opened) else {
        return render(StaffLogin {
            chrome: Chrome::new(&web, "工作人员登录", "Staff sign-in", false),
            error: Some(
                web.lang
                    .t("令牌无效或已吊销", "the token is not valid or was revoked")
                    .to_owned(),
            ),
        });
    };
    // A session this browser held before ends: the cookie is about to be replaced.
    web.end_session(&state).await?;
    let to = if Role::parse(&account.role) == Some(Role::Checkpoint) {
        "/checkpoint"
    } else {
        "/console"
    };
    let cookie = web.session_cookie(&session, hours * 3600);
    Ok(([(SET_COOKIE, cookie)], Redirect::to(to)).into_response())
}

/// A console page's link, shown to the roles whose API endpoints it uses.
pub struct Link {
    pub href: &'static str,
    pub label: &'static str,
}

/// The console's pages for a role, in the order of a day's work.
pub fn links(role: Role, lang: Lang) -> Vec<Link> {
    use Role::*;
    let all: [(&[Role], &'static str, &'static str, &'static str); 13] = [
        (
            &[Checkpoint],
            "/checkpoint",
            "卡口扫码核验",
            "Checkpoint scan",
        ),
        (
            &[Checkpoint],
            "/checkpoint/arrivals",
            "返程到站核验",
            "Arrivals at the station",
        ),
        (
            &[CommunityWorker, HealthOfficial, Admin],
            "/console/returns",
            "返程管理",
            "The return journey",
        ),
        (
            &[HealthOfficial, CommunityWorker, Admin],
            "/console/people",
            "人员与记录",
            "People and records",
        ),
        (
            &[HealthOfficial, CommunityWorker, Admin],
            "/console/appeals",
            "申诉审核",
            "Appeals",
        ),
        (
            &[HealthOfficial],
            "/policy/versions",
            "规则版本与审批",
            "Policy versions and approvals",
        ),
        (
            &[HealthOfficial, Department],
            "/console/risk-areas",
            "风险地区与批次审批",
            "Risk areas and approvals",
        ),
        (
            &[VenueManager, HealthOfficial, Admin],
            "/console/venues",
            "场所与卡口",
            "Venues and checkpoints",
        ),
        (
            &[HealthOfficial, Auditor, Admin],
            "/console/dashboard",
            "数据看板",
            "Dashboard",
        ),
        (&[Auditor, Admin], "/console/audit", "审计日志", "Audit log"),
        (
            &[HubOfficial],
            "/console/hub",
            "互认目录与审批",
            "Federation directory and approvals",
        ),
        (
            &[
                HealthOfficial,
                CommunityWorker,
                Department,
                Auditor,
                Admin,
                VenueManager,
            ],
            "/policy",
            "赋码规则",
            "The colour policy",
        ),
        (
            &[HealthOfficial],
            "/console#case",
            "登记病例",
            "Record a case",
        ),
    ];
    all.into_iter()
        .filter(|(roles, ..)| roles.contains(&role))
        .map(|(_, href, zh, en)| Link {
            href,
            label: lang.t(zh, en),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console.html")]
struct ConsoleHome {
    chrome: Chrome,
    who: String,
    role: String,
    links: Vec<Link>,
    may_record_case: bool,
    /// The latest cases and their traces, for those who follow them.
    cases: Vec<CaseRow>,
    /// People whose code shows pending because a rule could not be judged.
    undecided: Vec<UndecidedRow>,
}

struct UndecidedRow {
    id: String,
    /// The person by masked name and document tail.
    person: String,
    since: String,
}

struct CaseRow {
    id: String,
    /// The case by its person's masked name and time.
    label: String,
    state: String,
    close: i64,
    secondary: i64,
    recorded: String,
}

pub async fn home(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    let Caller::Staff { account, role } = &caller else {
        return Err(WebError::SignIn("/staff/login"));
    };
    let officials = matches!(role, Role::HealthOfficial | Role::Admin);
    let cases = if officials {
        state.store.trace_figures(10).await?
    } else {
        Vec::new()
    };
    let undecided = if officials {
        state.store.undecided_colours(50).await?
    } else {
        Vec::new()
    };
    let mut undecided_rows = Vec::with_capacity(undecided.len());
    for (id, at) in undecided {
        undecided_rows.push(UndecidedRow {
            person: cases::staff_label(&state, web.lang, &id).await?,
            since: crate::web::page::local_time(at),
            id,
        });
    }
    let mut case_rows = Vec::with_capacity(cases.len());
    for t in cases {
        case_rows.push(CaseRow {
            label: cases::case_label(&state, &t.person_id, t.created_at).await?,
            state: cases::state_label(web.lang, &t.state).to_owned(),
            recorded: crate::web::page::local_time(t.created_at),
            close: t.close_contacts,
            secondary: t.secondary_contacts,
            id: t.case_id,
        });
    }
    render(ConsoleHome {
        chrome: Chrome::new(&web, "工作台", "Console", true),
        who: account.name.clone(),
        role: role_label(web.lang, role.as_str()),
        links: links(*role, web.lang),
        may_record_case: *role == Role::HealthOfficial,
        cases: case_rows,
        undecided: undecided_rows,
    })
}

/// A `datetime-local` field (China Standard Time) as RFC 3339; empty is absent.
pub(crate) fn local_field(value: &str) -> Result<Option<String>, WebError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let with_seconds = if v.len() == 16 {
        format!("{v}:00")
    } else {
        v.to_owned()
    };
    let text = format!("{with_seconds}+08:00");
    time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map(|_| Some(text))
        .map_err(|_| {
            WebError::Api(crate::error::ApiError::unprocessable(
                "bad_time",
                format!("{v:?} is not a date and time"),
                "日期时间格式不正确",
            ))
        })
}
