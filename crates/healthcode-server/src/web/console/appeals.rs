//! Appeals waiting for an official's decision.

use crate::AppState;
use crate::body::Path;
use crate::usecases::appeals;
use crate::web::page::{Chrome, PageResult, local_time, render, see};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use serde::Deserialize;

struct Row {
    id: String,
    person_id: String,
    fact_id: String,
    reason: String,
    filed: String,
}

#[derive(Template)]
#[template(path = "console_appeals.html")]
struct AppealsPage {
    chrome: Chrome,
    appeals: Vec<Row>,
}

pub async fn list(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    let open = appeals::open(&state, &caller).await?;
    render(AppealsPage {
        chrome: Chrome::new(&web, "申诉审核", "Appeals", true),
        appeals: open
            .into_iter()
            .map(|a| Row {
                filed: local_time(a.created_at),
                id: a.id,
                person_id: a.person_id,
                fact_id: a.fact_id,
                reason: a.reason,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    reason: String,
}

/// Upholds or withdraws the fact appealed, with the reason; the colour follows.
pub async fn decide(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<DecisionForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let outcome = crate::web::session::choice(
        &form.outcome,
        "bad_outcome",
        "decide fact_upheld or fact_retracted",
        "请选择维持或撤销",
    )?;
    appeals::decide(&state, &caller, &id, outcome, &form.reason, state.now()).await?;
    see("/console/appeals")
}
