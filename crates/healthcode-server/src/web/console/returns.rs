//! The return journey on the console: the funnel and who is where, expected arrivals by day,
//! station and district, what waits on whom; for a community worker also their queue (call,
//! decide, receive a hand-off by number or by scanning the pass) and today's home observation.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::Path;
use crate::error::ApiError;
use crate::usecases::arrivals::{self, HandoffRequest, HandoffScan};
use crate::usecases::returns::{self, CallRequest, DecisionRequest};
use crate::web::charts::bars;
use crate::web::page::{Chrome, Lang, PageResult, local_time, render, see};
use crate::web::returns::{Card, card, state_label};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use healthcode_core::returns::{ReturnState, Stage, receive};
use serde::Deserialize;

struct Count {
    label: &'static str,
    people: i64,
}

struct Expected {
    date: String,
    place: String,
    people: i64,
}

struct WaitRow {
    id: String,
    state: &'static str,
    waits_on: &'static str,
    community: String,
    people: usize,
    since: String,
    escalated: bool,
}

struct QueueCard {
    card: Card,
    escalated: bool,
    /// Waiting for the community's call and decision.
    to_decide: bool,
    /// The hand-off this worker may receive now.
    receive: Option<&'static str>,
}

struct BoardRow {
    name: String,
    application_id: String,
    day: i64,
    days: i64,
    checked_in: bool,
    temperature: String,
    missed: bool,
    fever: bool,
    released: bool,
    checked: bool,
    colour: &'static str,
}

#[derive(Template)]
#[template(path = "console_returns.html")]
struct ReturnsConsole {
    chrome: Chrome,
    scope: String,
    funnel_svg: String,
    counts: Vec<Count>,
    by_station: Vec<Expected>,
    by_district: Vec<Expected>,
    waiting: Vec<WaitRow>,
    /// A community worker: their queue, the hand-off scanner and the observation board.
    worker: bool,
    stage: Option<&'static str>,
    queue: Vec<QueueCard>,
    board: Vec<BoardRow>,
}

/// The level of hand-off an account of this scope receives.
fn stage_of(scope: &str) -> Option<Stage> {
    [Stage::District, Stage::Street, Stage::Community]
        .into_iter()
        .find(|s| s.scope_parts() == scope.split('-').count())
}

fn expected(rows: Vec<healthcode_store::ExpectedArrivals>) -> Vec<Expected> {
    rows.into_iter()
        .map(|e| Expected {
            date: e.date.to_string(),
            place: e.place,
            people: e.people,
        })
        .collect()
}

pub async fn show(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    let now = state.now();
    let lang = web.lang;
    let figures = arrivals::figures(&state, &caller, now).await?;
    let funnel: Vec<(String, i64)> = figures
        .funnel
        .iter()
        .map(|f| (lang.t(f.zh, f.en).to_owned(), f.people))
        .collect();
    let funnel_svg = bars(
        lang.t("返程漏斗（人）", "The return funnel (people)"),
        &funnel,
        "#1f5fa8",
        lang.t("人", "people"),
    );
    let worker = matches!(
        caller,
        Caller::Staff {
            role: Role::CommunityWorker,
            ..
        }
    );
    let (mut queue, mut board) = (Vec::new(), Vec::new());
    let stage = stage_of(&figures.scope);
    if worker {
        let q = returns::queue(&state, &caller, now).await?;
        for a in q.applications {
            let to_decide = a.state == ReturnState::Submitted;
            let receive = stage
                .filter(|s| receive(a.state, *s).is_ok())
                .map(|s| s.as_str());
            if !(to_decide || receive.is_some() || a.state == ReturnState::Approved) {
                continue;
            }
            queue.push(QueueCard {
                escalated: q.escalated.contains(&a.id),
                card: card(lang, a),
                to_decide,
                receive,
            });
        }
        board = arrivals::observation(&state, &caller, now)
            .await?
            .people
            .into_iter()
            .map(|p| BoardRow {
                name: p.masked_name,
                application_id: p.application_id,
                day: p.day.min(p.days),
                days: p.days,
                checked_in: p.checked_in_today,
                temperature: p
                    .temperature_c
                    .map(|t| format!("{t:.1} °C"))
                    .unwrap_or_default(),
                missed: p.missed,
                fever: p.fever,
                released: p.released,
                checked: p.checked_at_station,
                colour: crate::web::page::look(&p.colour).word(&lang),
            })
            .collect();
    }
    let counts = vec![
        Count {
            label: lang.t("转运中", "in transit"),
            people: figures.in_transit,
        },
        Count {
            label: lang.t("居家观察", "under observation"),
            people: figures.under_observation,
        },
        Count {
            label: lang.t("已解除", "released"),
            people: figures.released,
        },
        Count {
            label: lang.t("发热门诊", "fever clinic"),
            people: figures.fever_clinic,
        },
        Count {
            label: lang.t("未通过", "rejected"),
            people: figures.rejected,
        },
    ];
    render(ReturnsConsole {
        chrome: Chrome::new(&web, "返程管理", "The return journey", true),
        scope: figures.scope,
        funnel_svg,
        counts,
        by_station: expected(figures.by_station),
        by_district: expected(figures.by_district),
        waiting: figures
            .waiting
            .into_iter()
            .map(|w| WaitRow {
                state: state_label(lang, w.state),
                waits_on: lang.t(w.waits_on_zh, w.waits_on_en),
                since: local_time(w.since),
                id: w.application_id,
                community: w.community,
                people: w.people,
                escalated: w.escalated,
            })
            .collect(),
        worker,
        stage: stage.map(|s| stage_label(lang, s)),
        queue,
        board,
    })
}

fn stage_label(lang: Lang, stage: Stage) -> &'static str {
    match stage {
        Stage::District => lang.t("区接站组", "district reception"),
        Stage::Street => lang.t("街道", "street office"),
        Stage::Community => lang.t("社区", "community"),
    }
}

/// One of the API's enum values, from a form field.
fn choice<T: serde::de::DeserializeOwned>(value: &str, zh: &str) -> Result<T, ApiError> {
    crate::web::session::choice(value, "bad_form", "choose one of the options", zh)
}

#[derive(Deserialize)]
pub struct CallForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

pub async fn call(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<CallForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let request = CallRequest {
        outcome: choice(&form.outcome, "请选择通话结果")?,
        note: form.note,
    };
    returns::call(&state, &caller, &id, request, state.now()).await?;
    see("/console/returns")
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<DecisionForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let request = DecisionRequest {
        decision: form.decision,
        reason: form.reason,
    };
    returns::decide(&state, &caller, &id, request, state.now()).await?;
    see("/console/returns")
}

#[derive(Deserialize)]
pub struct HandoffForm {
    #[serde(default)]
    stage: String,
    #[serde(default)]
    note: String,
    /// The pass's text, when the hand-off is confirmed by scanning it.
    #[serde(default)]
    text: String,
}

pub async fn handoff(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<HandoffForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let request = HandoffRequest {
        stage: choice(&form.stage, "请选择交接环节")?,
        note: form.note,
    };
    arrivals::handoff(&state, &caller, &id, request, state.now()).await?;
    see("/console/returns")
}

pub async fn handoff_by_pass(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<HandoffForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let request = HandoffScan {
        text: form.text,
        stage: choice(&form.stage, "请选择交接环节")?,
        note: form.note,
    };
    arrivals::handoff_by_pass(&state, &caller, request, state.now()).await?;
    see("/console/returns")
}
