//! A person's record for caseworkers: the colour and why (the read is on the person's audit
//! trail, as through the API), confirming an enrollment, and recording facts and test results.

use super::local_field;
use crate::AppState;
use crate::body::{Path, Query};
use crate::usecases::{people, recording};
use crate::web::page::{Chrome, CodeLook, PageResult, look, render, see};
use crate::web::resident::{ReasonRow, document_kind, given};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use healthcode_store::Enrollment;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Template)]
#[template(path = "console_find.html")]
struct FindPage {
    chrome: Chrome,
    /// What a search found, once one was made.
    found: Option<Vec<Found>>,
}

/// A person a search found, as the list shows them.
struct Found {
    id: String,
    masked_name: String,
    document: String,
    pending: bool,
}

#[derive(Deserialize)]
pub struct Find {
    #[serde(default)]
    id: String,
}

/// Finds a person by id (as a trace, an appeal or the person themselves gives it).
pub async fn find(State(state): State<AppState>, web: Web, Query(q): Query<Find>) -> PageResult {
    web.staff(&state).await?;
    let id = q.id.trim();
    if !id.is_empty() {
        return see(&format!("/console/people/{id}"));
    }
    render(FindPage {
        chrome: Chrome::new(&web, "人员与记录", "People and records", true),
        found: None,
    })
}

#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    document_kind: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    purpose: String,
}

/// Finds people by document or phone through the API's search (audited with the purpose).
pub async fn search(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<SearchForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let phone = given(form.phone);
    let request = people::SearchRequest {
        document_kind: match phone {
            Some(_) => None,
            None => Some(document_kind(&form.document_kind)?),
        },
        document_number: form.document_number,
        country: given(form.country),
        phone,
        purpose: form.purpose,
    };
    let found = people::find(&state, &caller, request, state.now())
        .await?
        .into_iter()
        .map(|p| Found {
            document: match &p.document_tail {
                Some(tail) => format!("{} …{tail}", p.document_kind.name_zh()),
                None => p.document_kind.name_zh().to_owned(),
            },
            pending: p.enrollment == Enrollment::Pending,
            masked_name: p.name_masked,
            id: p.id,
        })
        .collect();
    render(FindPage {
        chrome: Chrome::new(&web, "人员与记录", "People and records", true),
        found: Some(found),
    })
}

#[derive(Template)]
#[template(path = "console_person.html")]
struct PersonPage {
    chrome: Chrome,
    id: String,
    look: CodeLook,
    /// Masked name and document tail.
    person: String,
    pending: bool,
    reasons: Vec<ReasonRow>,
    /// A health official may record a case here.
    may_record_case: bool,
    /// The person's cases and observation orders not yet released, to choose what a release ends.
    releasable: Vec<(String, String)>,
}

/// The cases and observation orders on a person's record that no release or retraction has
/// ended, each by its kind and time: what a release may end.
fn releasable(
    lang: crate::web::page::Lang,
    facts: &[healthcode_core::Fact],
) -> Vec<(String, String)> {
    let ended: std::collections::HashSet<&str> = facts
        .iter()
        .filter_map(|f| match &f.body {
            healthcode_core::FactBody::Release { releases, .. } => Some(releases.as_str()),
            healthcode_core::FactBody::Retraction { retracts, .. } => Some(retracts.as_str()),
            _ => None,
        })
        .collect();
    facts
        .iter()
        .filter(|f| {
            matches!(f.body.list(), "cases" | "observations") && !ended.contains(f.id.as_str())
        })
        .map(|f| {
            let (zh, en) = crate::usecases::audit_lines::record_words(f.body.list());
            (
                f.id.clone(),
                format!(
                    "{} · {}",
                    lang.t(zh, en),
                    crate::web::page::local_time(f.recorded_at)
                ),
            )
        })
        .collect()
}

pub async fn show(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.staff(&state).await?;
    let (person, status) =
        people::current_status(&state, &caller, &id, "status.read", state.now()).await?;
    let facts = state.store.facts(&id).await?;
    render(PersonPage {
        chrome: Chrome::new(&web, "人员记录", "Person's record", true),
        look: look(people::code_shown(&person, &status).as_str()),
        person: crate::web::console::cases::person_label(web.lang, &person),
        pending: person.enrollment == Enrollment::Pending,
        reasons: crate::web::resident::reason_rows(web.lang, &status),
        may_record_case: caller.role() == crate::auth::Role::HealthOfficial,
        releasable: releasable(web.lang, &facts),
        id,
    })
}

pub async fn confirm(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(_): Posted<std::collections::HashMap<String, String>>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    people::confirm(&state, &caller, &id, state.now()).await?;
    see(&format!("/console/people/{id}"))
}

#[derive(Deserialize)]
pub struct FactForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    sample_id: String,
    #[serde(default)]
    sampled_at: String,
    #[serde(default)]
    releases: String,
    #[serde(default)]
    legal_basis: String,
}

/// A fact as the API takes it, from the console's form: a test result, an observation order,
/// or a release; the API's handler checks the role, the legal basis and the fact.
fn fact_body(form: &FactForm, now: &str) -> Result<Value, crate::web::page::WebError> {
    let at = local_field(&form.sampled_at)?.unwrap_or_else(|| now.to_owned());
    let body = match form.kind.as_str() {
        "test_negative" | "test_positive" => json!({
            "type": "test", "sample_id": form.sample_id.trim(),
            "result": if form.kind == "test_negative" { "negative" } else { "positive" },
            "sampled_at": at, "reported_at": now,
        }),
        "observation_home" | "observation_centralized" => json!({
            "type": "observation",
            "kind": form.kind.trim_start_matches("observation_"),
            "start_at": at,
        }),
        "release" => json!({"type": "release", "releases": form.releases.trim(), "at": now}),
        other => {
            return Err(crate::error::ApiError::unprocessable(
                "bad_kind",
                format!("{other:?} is not a kind of record this form makes"),
                "请选择记录类型",
            )
            .into());
        }
    };
    let mut body = body;
    body["legal_basis"] = json!(form.legal_basis);
    Ok(body)
}

pub async fn record(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<FactForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let body = fact_body(&form, &crate::body::rfc3339(state.now()))?;
    recording::record_sent(&state, &caller, &id, body, state.now()).await?;
    see(&format!("/console/people/{id}"))
}
