//! The return journey's pages for the resident: apply for themselves and the children in their
//! care, and follow every step of the application. The labels here are shared with the
//! console's pages, so an applicant and a worker read a step in the same words.

use crate::AppState;
use crate::body::Path;
use crate::usecases::people::may_act_for;
use crate::usecases::returns::{self, ApplyRequest};
use crate::web::page::{Chrome, Lang, PageResult, local_time, render, see};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use healthcode_core::returns::{ReturnState, Transport};
use healthcode_store::ReturnApplication;
use serde::Deserialize;

pub fn state_label(lang: Lang, state: ReturnState) -> &'static str {
    match state {
        ReturnState::Submitted => lang.t("待社区核实", "waiting for the community"),
        ReturnState::Approved => lang.t("已通过，可购票返程", "approved: you may travel"),
        ReturnState::Rejected => lang.t("未通过", "not approved"),
        ReturnState::Arrived => lang.t(
            "已抵达，待区接站组接收",
            "arrived: the district receives next",
        ),
        ReturnState::FeverClinic => lang.t("发热门诊", "at the fever clinic"),
        ReturnState::WithDistrict => lang.t(
            "区接站组已接收，待街道接收",
            "with the district: the street office next",
        ),
        ReturnState::WithStreet => lang.t(
            "街道已接收，待社区接收",
            "with the street office: the community next",
        ),
        ReturnState::Observing => lang.t("已到家，居家观察", "at home, in home observation"),
    }
}

/// A step in words: what happened, as the applicant and the worker both read it.
pub fn step_label(lang: Lang, kind: &str, outcome: &str) -> String {
    let words = match (kind, outcome) {
        ("applied", _) => lang.t("提交申请", "applied"),
        ("call", "reached") => lang.t("社区来电：已接通", "the community called: reached"),
        ("call", "not_reached") => lang.t("社区来电：未接通", "the community called: not reached"),
        ("call", "address_confirmed") => lang.t(
            "社区来电：地址已核实",
            "the community called: address confirmed",
        ),
        ("call", "refused") => lang.t("社区来电：拒绝核实", "the community called: refused"),
        ("approved", _) => lang.t("社区审核通过", "approved by the community"),
        ("rejected", _) => lang.t("社区审核未通过", "rejected by the community"),
        ("arrival", "normal") => lang.t(
            "抵达车站，体温正常（已进入）",
            "arrived at the station, temperature normal",
        ),
        ("arrival", "fever") => lang.t(
            "抵达车站，体温异常，转发热门诊",
            "arrived at the station with a fever: to the fever clinic",
        ),
        ("handoff", "district") => lang.t("区接站组接收", "received by the district"),
        ("handoff", "street") => lang.t("街道接收", "received by the street office"),
        ("handoff", "community") => lang.t("社区接收，到家", "received by the community, at home"),
        _ => return format!("{kind} · {outcome}"),
    };
    words.to_owned()
}

fn transport_label(lang: Lang, transport: &str) -> &'static str {
    match transport {
        "train" => lang.t("火车", "train"),
        "flight" => lang.t("飞机", "flight"),
        _ => lang.t("自驾", "car"),
    }
}

pub struct StepRow {
    pub at: String,
    pub what: String,
    pub note: String,
}

/// An application as a card on a page.
pub struct Card {
    pub id: String,
    pub state: &'static str,
    pub state_key: &'static str,
    pub people: usize,
    pub community: String,
    pub address: String,
    pub planned: String,
    pub transport: &'static str,
    pub origin: String,
    pub origin_colour: String,
    pub declared: bool,
    pub steps: Vec<StepRow>,
}

pub fn card(lang: Lang, a: ReturnApplication) -> Card {
    Card {
        state: state_label(lang, a.state),
        state_key: a.state.as_str(),
        people: a.members.len(),
        planned: a.planned_date.to_string(),
        transport: transport_label(lang, &a.transport),
        declared: a.origin_basis == "declared",
        steps: a
            .steps
            .into_iter()
            .map(|s| StepRow {
                at: local_time(s.at),
                what: step_label(lang, &s.kind, &s.outcome),
                note: s.note,
            })
            .collect(),
        id: a.id,
        community: a.community,
        address: a.address,
        origin: crate::web::page::region_words(&a.origin),
        origin_colour: crate::web::page::look(&a.origin_colour)
            .word(&lang)
            .to_owned(),
    }
}

#[derive(Template)]
#[template(path = "returns.html")]
struct ReturnsPage {
    chrome: Chrome,
    id: String,
    applications: Vec<Card>,
    /// May apply: no application under way.
    may_apply: bool,
    children: usize,
    today: String,
}

pub async fn page(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.resident(&state).await?;
    let applications = returns::of_person(&state, &caller, &id).await?;
    let children = match &caller {
        crate::auth::Caller::Resident { people, .. } => people
            .iter()
            .filter(|p| p.guardian_id.as_deref() == Some(id.as_str()))
            .count(),
        _ => 0,
    };
    let may_apply = applications
        .iter()
        .all(|a| a.state == ReturnState::Rejected);
    render(ReturnsPage {
        chrome: Chrome::new(&web, "返程申请", "Coming back", true),
        today: state.now().date().to_string(),
        applications: applications
            .into_iter()
            .map(|a| card(web.lang, a))
            .collect(),
        may_apply,
        children,
        id,
    })
}

#[derive(Deserialize)]
pub struct ApplyForm {
    #[serde(default)]
    origin: String,
    #[serde(default)]
    community: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    planned_date: String,
    #[serde(default)]
    transport: String,
    /// Present when the children in the applicant's care come too.
    #[serde(default)]
    with_children: Option<String>,
}

pub async fn apply(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<ApplyForm>,
) -> PageResult {
    let caller = web.resident(&state).await?;
    may_act_for(&caller, &id, &[])?;
    let mut members = vec![id.clone()];
    if form.with_children.is_some()
        && let crate::auth::Caller::Resident { people, .. } = &caller
    {
        members.extend(
            people
                .iter()
                .filter(|p| p.guardian_id.as_deref() == Some(id.as_str()))
                .map(|p| p.id.clone()),
        );
    }
    let bad = |code: &'static str, en: &str, zh: &str| {
        crate::error::ApiError::unprocessable(code, en.to_owned(), zh.to_owned())
    };
    let planned_date = time::Date::parse(
        form.planned_date.trim(),
        &time::format_description::well_known::Iso8601::DATE,
    )
    .map_err(|_| {
        bad(
            "bad_date",
            "the planned date is a date",
            "请填写计划返程日期",
        )
    })?;
    let transport: Transport = crate::web::session::choice(
        &form.transport,
        "bad_transport",
        "choose train, flight or car",
        "请选择火车、飞机或自驾",
    )?;
    let request = ApplyRequest {
        members,
        origin: form.origin,
        community: form.community.trim().to_owned(),
        address: form.address,
        reason: form.reason,
        planned_date,
        transport,
    };
    returns::apply(&state, &caller, request, state.now()).await?;
    see(&format!("/me/{id}/returns"))
}

/// The tag the code page shows beside the colour for a person on a return journey: arrived
/// (已进入) on the way home, at the fever clinic, or the day of home observation; nothing once
/// the observation days are over.
pub async fn journey_tag(
    state: &AppState,
    lang: Lang,
    person_id: &str,
    now: time::OffsetDateTime,
) -> Result<Option<String>, crate::web::page::WebError> {
    let Some(app) = state
        .store
        .returns_of_person(person_id)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let days = crate::usecases::arrivals::observation_days(state, now).whole_days();
    let arrived = app.steps.iter().find(|s| s.kind == "arrival").map(|s| s.at);
    Ok(match (app.state, arrived) {
        (ReturnState::Approved, _) => Some(lang.t("返程已获批", "return approved").to_owned()),
        (ReturnState::FeverClinic, _) => Some(
            lang.t("已进入 · 发热门诊", "arrived · fever clinic")
                .to_owned(),
        ),
        (s, _) if healthcode_core::returns::in_transit(s) => Some(
            lang.t("已进入 · 转运回家中", "arrived · on the way home")
                .to_owned(),
        ),
        (ReturnState::Observing, Some(at)) if now < at + time::Duration::days(days) => {
            let day = (now - at).whole_days() + 1;
            Some(match lang {
                Lang::Zh => format!("已进入 · 居家观察第 {day} / {days} 天"),
                Lang::En => format!("arrived · home observation day {day} of {days}"),
            })
        }
        _ => None,
    })
}
