//! Residents' pages: log in by phone, enroll, declare, show the code, see why, appeal, check in,
//! and read visits, messages and who read their data. Each acts through the API's handlers.

use crate::AppState;
use crate::auth::Caller;
use crate::body::Path;
use crate::routes::login;
use crate::usecases::appeals;
use crate::usecases::declarations::{self, checked_in_today};
use crate::usecases::people::{self, code_shown, current_status, may_act_for};
use crate::usecases::{cases, checkins, logins, passes, visits};
use crate::web::page::{
    Chrome, CodeLook, Lang, PageResult, local_ms, local_time, look, render, see,
};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect};
use healthcode_core::identity::DocumentKind;
use healthcode_store::{AuditEntry, Notification, Person};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
}

pub async fn home(web: Web) -> PageResult {
    render(Home {
        chrome: Chrome::new(&web, "健康码", "Health code", web.token.is_some()),
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    phone: String,
    sent: bool,
    error: Option<String>,
}

pub async fn login_page(web: Web) -> PageResult {
    render(LoginPage {
        chrome: Chrome::new(&web, "登录", "Log in", false),
        phone: String::new(),
        sent: false,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
}

/// Sends a one-time code (the demo's SMS gateway prints it in the node's log).
pub async fn send_code(
    State(state): State<AppState>,
    web: Web,
    client: login::Client,
    Posted(form): Posted<PhoneForm>,
) -> PageResult {
    let sent = logins::send_code(&state, &form.phone, &client.0, state.now()).await;
    render(LoginPage {
        chrome: Chrome::new(&web, "登录", "Log in", false),
        phone: form.phone,
        sent: sent.is_ok(),
        error: sent.err().map(|e| web.lang.t(&e.zh, &e.en).to_owned()),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

/// Trades the code for a session, kept in an HttpOnly cookie.
pub async fn login(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<LoginForm>,
) -> PageResult {
    let hours = state.config.login.session_hours;
    match logins::log_in(&state, &form.phone, &form.code, state.now()).await {
        Ok(session) => {
            // A session this browser held before ends: the cookie is about to be replaced.
            web.end_session(&state).await?;
            let cookie = web.session_cookie(&session.token, hours * 3600);
            Ok(([(SET_COOKIE, cookie)], Redirect::to("/me")).into_response())
        }
        Err(e) => render(LoginPage {
            chrome: Chrome::new(&web, "登录", "Log in", false),
            phone: form.phone,
            sent: true,
            error: Some(web.lang.t(&e.zh, &e.en).to_owned()),
        }),
    }
}

/// Ends the session in the store (its token works no more, anywhere) and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    web: Web,
    Posted(_): Posted<HashMap<String, String>>,
) -> PageResult {
    web.end_session(&state).await?;
    Ok(([(SET_COOKIE, web.clear_session())], Redirect::to("/")).into_response())
}

/// One person the resident acts for, as the overview lists them.
struct PersonRow {
    id: String,
    name_masked: String,
    document: String,
    look: CodeLook,
    child: bool,
    /// Whether today's check-in (the daily declaration) is made.
    checked_in: bool,
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    chrome: Chrome,
    people: Vec<PersonRow>,
    /// The resident's own record, whom a child is enrolled under.
    guardian: Option<String>,
    /// The phone logged in with, shown on the forms instead of asked for.
    phone: Option<String>,
    /// The enrollment form as last sent, with what was wrong with it.
    form: EnrollForm,
    error: Option<FieldError>,
    claims: Vec<ClaimRow>,
}

/// A form's error, shown next to the field it is about.
pub(crate) struct FieldError {
    /// Which form: `self` (enrolling oneself), `child` or `claim`.
    pub form: &'static str,
    pub field: &'static str,
    pub message: String,
    /// The document is enrolled by someone else: offer the claim.
    pub claimable: bool,
}

impl FieldError {
    /// What the resident can mend on the form, said next to its field in their language; `None`
    /// for what they cannot (not signed in, a failure of the node), which is a page of its own.
    fn of(
        lang: Lang,
        form: &'static str,
        e: &crate::error::ApiError,
        claimable: bool,
    ) -> Option<FieldError> {
        (e.status.is_client_error() && e.code != "unauthorized").then(|| FieldError {
            form,
            field: field_of(e.code),
            message: lang.t(&e.zh, &e.en).to_owned(),
            claimable,
        })
    }
}

impl MePage {
    /// The message for a field of a form, when the last sending of that form failed there.
    fn error_for(&self, form: &str, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.form == form && e.field == field && !e.claimable)
            .map(|e| e.message.as_str())
    }
}

/// The field of the enrollment form an error code is about.
fn field_of(code: &str) -> &'static str {
    match code {
        "bad_name" | "already_enrolled" => "name",
        "phone_required" | "bad_phone" | "forbidden" => "phone",
        "bad_document_kind" | "guardian_required" => "document_kind",
        "bad_country" => "country",
        "reason_required" => "reason",
        _ => "document_number",
    }
}

struct ClaimRow {
    filed: String,
    state: String,
    decision: Option<String>,
}

fn people_of(caller: &Caller) -> &[Person] {
    match caller {
        Caller::Resident { people, .. } => people,
        Caller::Staff { .. } => &[],
    }
}

fn document_label(lang: Lang, person: &Person) -> String {
    let kind = match lang {
        Lang::Zh => person.document_kind.name_zh().to_owned(),
        Lang::En => serde_json::to_value(person.document_kind)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
    };
    match &person.document_tail {
        Some(tail) => format!("{kind} ****{tail}"),
        None => kind,
    }
}

pub async fn me(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.resident(&state).await?;
    me_page(&state, &web, &caller, EnrollForm::default(), None).await
}

pub async fn overview() -> PageResult {
    see("/me")
}

/// The overview: each person acted for, and the forms to enroll (as last sent, with their error).
async fn me_page(
    state: &AppState,
    web: &Web,
    caller: &Caller,
    form: EnrollForm,
    error: Option<(FieldError, axum::http::StatusCode)>,
) -> PageResult {
    let phone = web.login_phone(state).await?;
    let claims = crate::usecases::claims::list(state, caller)
        .await?
        .into_iter()
        .map(|c| ClaimRow {
            filed: local_time(c.created_at),
            state: match c.state.as_str() {
                "open" => web.lang.t("待工作人员核实", "waiting for staff to check"),
                "upheld" => web.lang.t(
                    "已核实，登记已改到您的手机号下",
                    "upheld: the record is now under your phone",
                ),
                _ => web.lang.t("未予支持", "rejected"),
            }
            .to_owned(),
            decision: c.decision_reason,
        })
        .collect();
    let mut rows = Vec::new();
    for person in people_of(caller) {
        let (person, status) = current_status(state, caller, &person.id, "", state.now()).await?;
        let code = code_shown(&person, &status).as_str();
        rows.push(PersonRow {
            checked_in: checked_in_today(state, &person.id, state.now()).await?,
            document: document_label(web.lang, &person),
            look: look(code),
            child: person.guardian_id.is_some(),
            name_masked: person.name_masked,
            id: person.id,
        });
    }
    let guardian = people_of(caller)
        .iter()
        .find(|p| p.guardian_id.is_none())
        .map(|p| p.id.clone());
    let status = error.as_ref().map(|(_, s)| *s);
    let page = render(MePage {
        chrome: Chrome::new(web, "我的健康码", "My health code", true),
        people: rows,
        guardian,
        phone,
        form,
        error: error.map(|(e, _)| e),
        claims,
    })?;
    Ok(match status {
        Some(s) => (s, page).into_response(),
        None => page,
    })
}

#[derive(Deserialize, Default)]
pub struct EnrollForm {
    #[serde(default)]
    document_kind: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    guardian_id: String,
}

/// A form's document kind, as the API names it.
pub(crate) fn document_kind(name: &str) -> Result<DocumentKind, crate::error::ApiError> {
    crate::web::session::choice(
        name,
        "bad_document_kind",
        format!("{name:?} is not a document kind"),
        "请选择证件类型",
    )
}

pub(crate) fn given(s: String) -> Option<String> {
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Enrolls the resident (under the phone they logged in with) or a child in their care.
pub async fn enroll(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<EnrollForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    let phone = match given(form.phone.clone()) {
        Some(p) => Some(p),
        None => web.login_phone(&state).await?,
    };
    let tried = async {
        let request = people::EnrollRequest {
            document_kind: document_kind(&form.document_kind)?,
            document_number: form.document_number.clone(),
            country: given(form.country.clone()),
            name: form.name.clone(),
            phone,
            guardian_id: given(form.guardian_id.clone()),
        };
        people::enroll(&state, &caller, request, state.now()).await
    };
    let which = if form.guardian_id.trim().is_empty() {
        "self"
    } else {
        "child"
    };
    match tried.await {
        Ok(person) => see(&format!("/me/{}/code", person.id)),
        // What the resident can mend is said next to its field, the form kept as they sent it.
        Err(e) => match FieldError::of(web.lang, which, &e, e.code == "document_enrolled") {
            Some(error) => me_page(&state, &web, &caller, form, Some((error, e.status))).await,
            None => Err(e.into()),
        },
    }
}

#[derive(Deserialize, Default)]
pub struct ClaimForm {
    #[serde(default)]
    document_kind: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    reason: String,
}

/// Claims a document someone else enrolled, from the phone logged in with.
pub async fn claim(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<ClaimForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    let phone = web.login_phone(&state).await?;
    let tried = async {
        let request = crate::usecases::claims::ClaimRequest {
            document_kind: document_kind(&form.document_kind)?,
            document_number: form.document_number.clone(),
            country: given(form.country.clone()),
            reason: form.reason.clone(),
        };
        crate::usecases::claims::file(&state, &caller, phone.as_deref(), request, state.now()).await
    };
    match tried.await {
        Ok(_) => see("/me"),
        Err(e) => match FieldError::of(web.lang, "claim", &e, true) {
            Some(error) => {
                let sent = EnrollForm {
                    document_kind: form.document_kind,
                    document_number: form.document_number,
                    country: form.country,
                    ..EnrollForm::default()
                };
                me_page(&state, &web, &caller, sent, Some((error, e.status))).await
            }
            None => Err(e.into()),
        },
    }
}

/// A reason as the pages show it.
pub struct ReasonRow {
    pub look: CodeLook,
    pub text: String,
    pub until: Option<String>,
    pub notice: Option<String>,
    pub facts: Vec<String>,
}

pub(crate) fn reason_rows(lang: Lang, status: &healthcode_core::Status) -> Vec<ReasonRow> {
    status
        .reasons
        .iter()
        .map(|r| ReasonRow {
            look: look(r.color.as_str()),
            text: lang.text(&r.text),
            until: r.until.map(local_time),
            notice: r.notice.as_ref().map(|n| lang.text(n)),
            facts: r.facts.clone(),
        })
        .collect()
}

/// An SVG document as an element inside HTML: without its XML prolog.
pub(crate) fn inline_svg(svg: String) -> String {
    match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => svg,
    }
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage {
    chrome: Chrome,
    id: String,
    /// Whether today's check-in (the daily declaration) is made.
    checked_in: bool,
    look: CodeLook,
    masked_name: String,
    document: String,
    qr_svg: String,
    issued: String,
    /// Seconds the pass is still valid for.
    remaining: i64,
    /// Seconds after which the page fetches a fresh pass, before this one expires.
    refresh_in: i64,
    reasons: Vec<ReasonRow>,
    /// Where the person stands on a return journey, as a tag beside the colour.
    journey: Option<String>,
    /// The region whose code it is, over the code (杭州市).
    region: String,
    /// The policy's tags beside the colour (居家观察中 …).
    tags: Vec<String>,
}

/// The node's region as people call it: its name in the directory (`federation.name`), else
/// its GB/T 2260 name, else its code.
pub(crate) fn region_name(state: &AppState) -> String {
    let configured = state.config.federation.name.trim();
    if !configured.is_empty() {
        return configured.to_owned();
    }
    healthcode_core::region::name(&state.config.region)
        .unwrap_or(&state.config.region)
        .to_owned()
}

/// 亮码: a fresh pass as a large QR code, the colour as a band with its word and icon, the
/// masked name, a live clock and the seconds left; the page renews itself before expiry, so a
/// screenshot is visibly stale.
pub async fn code(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.resident(&state).await?;
    let passes::Fresh {
        person,
        status,
        pass,
        text,
    } = passes::issue(&state, &caller, &id, state.now()).await?;
    let code = code_shown(&person, &status).as_str();
    let qr_svg = healthcode_pass::qr::render_svg_tinted(&text, look(code).tint).map_err(|e| {
        tracing::error!(error = %e, "QR rendering failed");
        crate::error::ApiError::internal()
    })?;
    let qr_svg = inline_svg(qr_svg);
    let remaining = (pass.expires_at - state.now().unix_timestamp()).max(0);
    let journey = crate::web::returns::journey_tag(&state, web.lang, &id, state.now()).await?;
    render(CodePage {
        journey,
        region: region_name(&state),
        tags: status.tags.iter().map(|t| web.lang.text(&t.text)).collect(),
        checked_in: checked_in_today(&state, &id, state.now()).await?,
        chrome: Chrome::new(&web, "亮码", "My code", true),
        id,
        look: look(code),
        masked_name: person.name_masked.clone(),
        document: document_label(web.lang, &person),
        qr_svg,
        issued: local_time(state.now()),
        remaining,
        refresh_in: (remaining - 20).max(5),
        reasons: reason_rows(web.lang, &status),
    })
}

struct AppealRow {
    /// When it was filed, local time.
    filed: String,
    reason: String,
    state: String,
    decision: Option<String>,
}

#[derive(Template)]
#[template(path = "why.html")]
struct WhyPage {
    chrome: Chrome,
    id: String,
    look: CodeLook,
    reasons: Vec<ReasonRow>,
    appeals: Vec<AppealRow>,
}

fn appeal_state(lang: Lang, state: &str) -> String {
    match state {
        "open" => lang.t("审核中", "under review"),
        "fact_upheld" => lang.t("维持原记录", "record upheld"),
        "fact_retracted" => lang.t("已撤销该记录", "record withdrawn"),
        other => other,
    }
    .to_owned()
}

/// Why this colour: each reason in plain words, until when, and what to do; an appeal per fact.
pub async fn why(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.resident(&state).await?;
    let (person, status) = current_status(&state, &caller, &id, "", state.now()).await?;
    let code = code_shown(&person, &status).as_str();
    let appeals = appeals::of_person(&state, &caller, &id).await?;
    render(WhyPage {
        chrome: Chrome::new(&web, "为什么是这个颜色", "Why this colour", true),
        id,
        look: look(code),
        reasons: reason_rows(web.lang, &status),
        appeals: appeals
            .into_iter()
            .map(|a| AppealRow {
                state: appeal_state(web.lang, &a.state),
                filed: local_time(a.created_at),
                reason: a.reason,
                decision: a.decision_reason,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct AppealForm {
    #[serde(default)]
    fact_id: String,
    #[serde(default)]
    reason: String,
}

pub async fn appeal(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<AppealForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    appeals::file(
        &state,
        &caller,
        &id,
        &form.fact_id,
        &form.reason,
        state.now(),
    )
    .await?;
    see(&format!("/me/{id}/why"))
}

#[derive(Template)]
#[template(path = "declare.html")]
struct DeclarePage {
    chrome: Chrome,
    id: String,
    checked_in: bool,
    /// The node's districts (code, name), to choose where one lives.
    districts: Vec<(&'static str, &'static str)>,
}

pub async fn declare_page(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    may_act_for(&caller, &id, &[])?;
    render(DeclarePage {
        chrome: Chrome::new(&web, "每日打卡", "Daily check-in", true),
        checked_in: checked_in_today(&state, &id, state.now()).await?,
        districts: healthcode_core::region::RegionCode::parse(&state.config.region)
            .map(|r| healthcode_core::region::districts_within(&r))
            .unwrap_or_default(),
        id,
    })
}

#[derive(Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    temperature: String,
    #[serde(default)]
    cough: Option<String>,
    #[serde(default)]
    sore_throat: Option<String>,
    #[serde(default)]
    fatigue: Option<String>,
    #[serde(default)]
    short_breath: Option<String>,
    #[serde(default)]
    address: String,
    #[serde(default)]
    district: String,
}

/// The daily declaration (健康申报), which is the day's check-in (打卡); then back to the code,
/// which shows its effect.
pub async fn declare(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<DeclareForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    let temperature_c = match form.temperature.trim() {
        "" => None,
        t => Some(t.replace(',', ".").parse::<f64>().map_err(|_| {
            crate::error::ApiError::unprocessable(
                "bad_temperature",
                "a body temperature is a number of degrees, e.g. 36.5",
                "体温应为数字，例如 36.5",
            )
        })?),
    };
    let symptoms = [
        (form.cough, "cough"),
        (form.sore_throat, "sore_throat"),
        (form.fatigue, "fatigue"),
        (form.short_breath, "shortness_of_breath"),
    ]
    .into_iter()
    .filter_map(|(ticked, name)| ticked.map(|_| name.to_owned()))
    .collect();
    let request = declarations::DeclarationRequest {
        temperature_c,
        symptoms,
        address: given(form.address),
        district: given(form.district),
    };
    declarations::declare(&state, &caller, &id, request, state.now()).await?;
    see(&format!("/me/{id}/code"))
}

struct VisitRow {
    venue: String,
    at: String,
    /// When presence ended, once it has; empty while the person is still counted there.
    until: String,
    /// The visit to leave, while the person is still counted at a venue they checked in to.
    leave: Option<String>,
    direction: String,
    via: String,
    flag: Option<String>,
}

#[derive(Template)]
#[template(path = "visits.html")]
struct VisitsPage {
    chrome: Chrome,
    id: String,
    visits: Vec<VisitRow>,
}

/// Records the resident's exit from a venue they checked in to, now; back to the visits.
pub async fn leave(
    State(state): State<AppState>,
    web: Web,
    Path((id, visit)): Path<(String, String)>,
    Posted(_): Posted<HashMap<String, String>>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    crate::usecases::checkins::check_out(&state, &caller, &id, &visit, state.now()).await?;
    see(&format!("/me/{id}/visits"))
}

/// Venue names for ids, each looked up once.
pub(crate) async fn venue_names(
    state: &AppState,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, String>, crate::web::page::WebError> {
    let mut names = HashMap::new();
    for id in ids {
        if names.contains_key(&id) {
            continue;
        }
        let name = state
            .store
            .venue(&id)
            .await?
            .map_or_else(|| id.clone(), |v| v.name);
        names.insert(id, name);
    }
    Ok(names)
}

pub async fn visits(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.resident(&state).await?;
    let now = state.now();
    let visits = visits::of_person(&state, &caller, &id, visits::recent(now), now).await?;
    let ids: Vec<String> = visits.iter().map(|v| v.visit.venue_id.clone()).collect();
    let names = venue_names(&state, ids).await?;
    let lang = web.lang;
    let rows = visits
        .into_iter()
        .rev()
        .map(|v| {
            let ended = v.presence_end().filter(|t| *t <= now);
            VisitRow {
                venue: names.get(&v.visit.venue_id).cloned().unwrap_or_default(),
                at: local_time(v.visit.at),
                leave: (ended.is_none()
                    && v.visit.direction == "entry"
                    && v.visit.via == "checkin"
                    && v.visit.confirmed)
                    .then(|| v.visit.id.clone()),
                until: ended.map_or_else(String::new, local_time),
                direction: match v.visit.direction.as_str() {
                    "exit" => lang.t("离开", "exit"),
                    _ => lang.t("进入", "entry"),
                }
                .to_owned(),
                via: match v.visit.via.as_str() {
                    "checkin" => lang.t("场所码登记", "venue code check-in"),
                    _ => lang.t("卡口扫码", "checkpoint scan"),
                }
                .to_owned(),
                flag: v.visit.flag.map(|_| {
                    lang.t(
                        "位置与场所不符，待确认",
                        "far from the venue: awaiting confirmation",
                    )
                    .to_owned()
                }),
            }
        })
        .collect();
    render(VisitsPage {
        chrome: Chrome::new(&web, "我的到访记录", "My visits", true),
        id,
        visits: rows,
    })
}

struct NoticeRow {
    at: String,
    channel: String,
    text: String,
    state: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    id: String,
    notices: Vec<NoticeRow>,
}

pub async fn notifications(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    let list = cases::notifications_of(&state, &caller, &id, state.now()).await?;
    let lang = web.lang;
    let notices = list
        .into_iter()
        .map(|n: Notification| NoticeRow {
            at: local_time(n.created_at),
            channel: match n.channel.as_str() {
                "sms" => lang.t("短信", "SMS"),
                _ => lang.t("应用内", "in app"),
            }
            .to_owned(),
            text: lang.text(&n.text),
            state: match n.state.as_str() {
                "sent" => lang.t("已发送", "sent"),
                "failed" => lang.t("发送失败", "failed"),
                _ => lang.t("待发送", "pending"),
            }
            .to_owned(),
        })
        .collect();
    render(NotificationsPage {
        chrome: Chrome::new(&web, "我的消息", "My notifications", true),
        id,
        notices,
    })
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    /// The purpose in words; as written when a staff member wrote it.
    pub purpose: String,
    pub written: bool,
    pub detail: String,
    pub subject: String,
}

pub fn audit_rows(lang: Lang, entries: Vec<AuditEntry>) -> Vec<AuditRow> {
    entries
        .into_iter()
        .rev()
        .map(|e| AuditRow {
            at: local_ms(e.at),
            actor: e.actor,
            role: role_label(lang, &e.role),
            action: e.action,
            written: crate::usecases::audit_lines::written_basis(&e.purpose),
            purpose: {
                let (zh, en) = crate::usecases::audit_lines::basis(&e.purpose);
                lang.t(&zh, &en).to_owned()
            },
            detail: e.detail,
            subject: e.subject.unwrap_or_default(),
        })
        .collect()
}

pub fn role_label(lang: Lang, role: &str) -> String {
    let (zh, en) = crate::usecases::audit_lines::role_words(role);
    lang.t(zh, en).to_owned()
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    id: String,
    /// Each entry as a sentence, the latest first.
    entries: Vec<Said>,
}

/// Who read my data: the audit entries about the person.
pub async fn audit(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.resident(&state).await?;
    let entries = people::audit_of(&state, &caller, &id, state.now()).await?;
    render(AuditPage {
        chrome: Chrome::new(&web, "谁查看了我的信息", "Who read my data", true),
        id,
        entries: entries
            .iter()
            .rev()
            .map(|e| said_apart(&web.lang.text(&e.said), &e.purpose))
            .collect(),
    })
}

/// An audit sentence in three parts: the words before a basis a staff member wrote, that basis
/// (shown as written, in whatever language it was written), and the words after.
pub(crate) struct Said {
    before: String,
    written: String,
    after: String,
}

fn said_apart(sentence: &str, purpose: &str) -> Said {
    let written = crate::usecases::audit_lines::written_basis(purpose);
    match sentence.split_once(purpose).filter(|_| written) {
        Some((before, after)) => Said {
            before: before.to_owned(),
            written: purpose.to_owned(),
            after: after.to_owned(),
        },
        None => Said {
            before: sentence.to_owned(),
            written: String::new(),
            after: String::new(),
        },
    }
}

struct Choice {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "checkin.html")]
struct CheckinPage {
    chrome: Chrome,
    people: Vec<Choice>,
    result: Option<CheckinResult>,
}

struct CheckinResult {
    venue: String,
    look: CodeLook,
    masked_name: String,
    admit: bool,
    duplicate: bool,
    at: String,
}

fn choices(caller: &Caller) -> Vec<Choice> {
    people_of(caller)
        .iter()
        .map(|p| Choice {
            id: p.id.clone(),
            label: p.name_masked.clone(),
        })
        .collect()
}

/// Venue check-in (场所码登记): scan the code posted at the door, or paste its text.
pub async fn checkin_page(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.resident(&state).await?;
    render(CheckinPage {
        chrome: Chrome::new(&web, "场所码登记", "Venue check-in", true),
        people: choices(&caller),
        result: None,
    })
}

#[derive(Deserialize)]
pub struct CheckinForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    person_id: String,
}

pub async fn checkin(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<CheckinForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    let people = choices(&caller);
    let request = checkins::CheckinRequest {
        text: form.text,
        person_id: given(form.person_id),
        region: None,
        direction: None,
    };
    let answer = checkins::check_in(&state, &caller, request, state.now()).await?;
    render(CheckinPage {
        chrome: Chrome::new(&web, "场所码登记", "Venue check-in", true),
        people,
        result: Some(CheckinResult {
            venue: answer.venue_name,
            look: look(&answer.colour),
            masked_name: answer.masked_name,
            admit: answer.admit,
            duplicate: answer.duplicate,
            at: local_time(answer.visit.at),
        }),
    })
}

#[derive(Template)]
#[template(path = "move.html")]
struct MovePage {
    chrome: Chrome,
    id: String,
    /// A consent just granted: its code (shown this once), destination and expiry.
    granted: Option<(String, String, String)>,
}

/// Moving to another region (返程/返岗): consent to hand the status there, or, having moved
/// here, present the code carried from the origin.
pub async fn move_page(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    may_act_for(&caller, &id, &[])?;
    render(MovePage {
        chrome: Chrome::new(&web, "跨地区转码", "Moving between regions", true),
        id,
        granted: None,
    })
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    destination: String,
    #[serde(default)]
    purpose: String,
}

pub async fn consent(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<ConsentForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    let (consent, code) = crate::federation::transfer::grant(
        &state,
        &caller,
        &id,
        form.destination.trim(),
        &form.purpose,
        None,
        state.now(),
    )
    .await?;
    render(MovePage {
        chrome: Chrome::new(&web, "跨地区转码", "Moving between regions", true),
        id,
        granted: Some((
            code,
            crate::web::page::region_words(&consent.destination),
            local_time(consent.expires_at),
        )),
    })
}

#[derive(Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    origin: String,
    #[serde(default)]
    code: String,
}

pub async fn transfer(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<TransferForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    crate::federation::transfer::transfer(
        &state,
        &caller,
        &id,
        form.origin.trim(),
        &form.code,
        state.now(),
    )
    .await?;
    see(&format!("/me/{id}/why"))
}
