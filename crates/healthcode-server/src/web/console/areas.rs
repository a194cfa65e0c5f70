//! Risk areas: a department or an official proposes one, a second official approves its batch,
//! which publishes it and records a stay in it for everyone who was there.

use super::local_field;
use crate::AppState;
use crate::body::Path;
use crate::usecases::batches;
use crate::usecases::risk_areas;
use crate::web::page::{Chrome, PageResult, local_time, official_words, render, see};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use serde::Deserialize;

struct AreaRow {
    name: String,
    region: String,
    level: String,
    from: String,
    until: String,
    state: String,
    proposed: bool,
    affected: i64,
    batch_id: String,
}

/// A batch of facts (not a risk area's) awaiting a second official.
struct BatchRow {
    id: String,
    size: i64,
    legal_basis: String,
    created_by: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console_areas.html")]
struct AreasPage {
    chrome: Chrome,
    areas: Vec<AreaRow>,
    batches: Vec<BatchRow>,
}

pub async fn list(State(state): State<AppState>, web: Web) -> PageResult {
    web.staff(&state).await?;
    let l = web.lang;
    let areas = state.store.risk_areas(true).await?;
    let mut batches = Vec::new();
    for b in state.store.batches_awaiting(200).await? {
        if areas.iter().any(|a| a.batch_id == b.id) {
            continue;
        }
        batches.push(BatchRow {
            created: local_time(b.created_at),
            created_by: official_words(&state, l, &b.created_by).await?,
            id: b.id,
            size: b.size,
            legal_basis: b.legal_basis,
        });
    }
    render(AreasPage {
        batches,
        chrome: Chrome::new(&web, "风险地区与批次审批", "Risk areas and approvals", true),
        areas: areas
            .into_iter()
            .map(|a| AreaRow {
                level: match a.level.as_str() {
                    "high" => l.t("高风险", "high risk"),
                    _ => l.t("中风险", "medium risk"),
                }
                .to_owned(),
                from: local_time(a.starts_at),
                until: a.ends_at.map(local_time).unwrap_or_default(),
                proposed: a.state == "proposed",
                state: match a.state.as_str() {
                    "proposed" => l.t("待第二名官员审批", "awaiting a second official"),
                    _ => l.t("已发布", "published"),
                }
                .to_owned(),
                name: a.name,
                region: crate::web::page::region_words(&a.region),
                affected: a.affected,
                batch_id: a.batch_id,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct AreaForm {
    #[serde(default)]
    region: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    legal_basis: String,
}

pub async fn propose(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<AreaForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let level = crate::web::session::choice(
        &form.level,
        "bad_level",
        "medium or high",
        "请选择中风险或高风险",
    )?;
    let starts_at = local_field(&form.starts_at)?.unwrap_or_default();
    let proposed = risk_areas::Proposed {
        region: form.region.trim().to_owned(),
        venue_id: None,
        name: form.name,
        level,
        starts_at: crate::body::instant("starts_at", &starts_at)?,
        ends_at: None,
        legal_basis: form.legal_basis,
    };
    risk_areas::propose(&state, &caller, proposed, state.now()).await?;
    see("/console/risk-areas")
}

/// The second official's approval of a batch (a risk area's, or any batch of facts).
pub async fn approve(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(_): Posted<std::collections::HashMap<String, String>>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    batches::approve(&state, &caller, &id, state.now()).await?;
    see("/console/risk-areas")
}
