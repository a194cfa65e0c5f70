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
    /// The person by masked name and document tail.
    person: String,
    fact_id: String,
    /// The disputed record in words: its kind, when, and on what basis.
    record: String,
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
    let l = web.lang;
    let mut rows = Vec::with_capacity(open.len());
    for a in open {
        let facts = state
            .store
            .facts(&a.person_id)
            .await
            .map_err(crate::error::ApiError::from)?;
        let record = match facts.iter().find(|f| f.id == a.fact_id) {
            Some(f) => {
                let (zh, en) = crate::usecases::audit_lines::record_words(f.body.list());
                format!(
                    "{} · {} · {}「{}」",
                    l.t(zh, en),
                    local_time(f.recorded_at),
                    l.t("依据", "under"),
                    f.legal_basis
                )
            }
            None => l
                .t("该记录已不在档案中", "the record is no longer on file")
                .to_owned(),
        };
        rows.push(Row {
            person: super::cases::staff_label(&state, l, &a.person_id).await?,
            filed: local_time(a.created_at),
            id: a.id,
            person_id: a.person_id,
            fact_id: a.fact_id,
            record,
            reason: a.reason,
        });
    }
    render(AppealsPage {
        chrome: Chrome::new(&web, "申诉审核", "Appeals", true),
        appeals: rows,
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
