//! Appeals waiting for an official's decision, and claims on documents enrolled by someone else
//! waiting for a caseworker's.

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

/// A claim on a document, as a caseworker decides it.
struct ClaimRow {
    id: String,
    person_id: String,
    /// The record the document is enrolled as, by masked name and document tail.
    person: String,
    /// The claimant's phone, masked.
    phone: String,
    reason: String,
    filed: String,
}

#[derive(Template)]
#[template(path = "console_appeals.html")]
struct AppealsPage {
    chrome: Chrome,
    appeals: Vec<Row>,
    claims: Vec<ClaimRow>,
}

pub async fn list(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    let l = web.lang;
    // Health officials decide appeals; caseworkers decide document claims.
    caller.require(&crate::usecases::people::CASEWORKERS)?;
    let open = if caller.role() == crate::auth::Role::HealthOfficial {
        appeals::open(&state, &caller).await?
    } else {
        Vec::new()
    };
    let mut claims = Vec::new();
    for c in crate::usecases::claims::list(&state, &caller).await? {
        claims.push(ClaimRow {
            person: super::cases::staff_label(&state, l, &c.person_id).await?,
            filed: local_time(c.created_at),
            id: c.id,
            person_id: c.person_id,
            phone: c.phone_masked,
            reason: c.reason,
        });
    }
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
                    "{} · {} · {}{}{}",
                    l.t(zh, en),
                    local_time(f.recorded_at),
                    l.t("依据「", "under “"),
                    f.legal_basis,
                    l.t("」", "”")
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
        claims,
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

/// Upholds a claim (the record moves to the claimant's phone) or rejects it, with the reason.
pub async fn decide_claim(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<DecisionForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let upheld = match form.outcome.as_str() {
        "upheld" => true,
        "rejected" => false,
        _ => {
            return Err(crate::error::ApiError::unprocessable(
                "bad_outcome",
                "decide upheld or rejected",
                "请选择支持或不支持",
            )
            .into());
        }
    };
    crate::usecases::claims::decide(&state, &caller, &id, upheld, &form.reason, state.now())
        .await?;
    see("/console/appeals")
}
