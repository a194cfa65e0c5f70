//! Cases and their traces: an official records a case; its trace fills in as it runs.

use super::local_field;
use crate::AppState;
use crate::body::Path;
use crate::usecases::cases;
use crate::web::page::{Chrome, PageResult, local_time, render, see};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CaseForm {
    #[serde(default)]
    person_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    onset_at: String,
    #[serde(default)]
    legal_basis: String,
}

/// Records a case through the API's handler; then its trace, which fills in as it runs.
pub async fn record_case(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<CaseForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let kind = crate::web::session::choice(
        &form.kind,
        "bad_kind",
        "a case is confirmed, suspected or asymptomatic",
        "病例类型应为确诊、疑似或无症状",
    )?;
    let request = cases::CaseRequest {
        person_id: form.person_id.trim().to_owned(),
        kind,
        onset_at: local_field(&form.onset_at)?,
        sampled_at: None,
        isolated_at: None,
        legal_basis: form.legal_basis,
    };
    let case = cases::record_case(&state, &caller, request, state.now()).await?;
    see(&format!("/console/cases/{}", case.id))
}

/// A trace's state in words.
pub fn state_label(l: crate::web::page::Lang, state: &str) -> &str {
    match state {
        "queued" => l.t("排队中", "queued"),
        "running" => l.t("进行中", "running"),
        "done" => l.t("已完成", "done"),
        "failed" => l.t("失败", "failed"),
        other => other,
    }
}

struct ContactRow {
    level: String,
    person: String,
    /// One of this region's people, with a record to open.
    local: bool,
    venue: String,
    from: String,
    until: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    chrome: Chrome,
    case_id: String,
    person_id: String,
    state: String,
    running: bool,
    window: String,
    close: i64,
    secondary: i64,
    other_region: i64,
    facts_recorded: i64,
    by_venue: Vec<(String, i64, i64)>,
    contacts: Vec<ContactRow>,
}

/// A case's trace: progress, contacts by level and by venue. Refreshes itself while running.
pub async fn case(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.staff(&state).await?;
    let (trace, found) = cases::trace(&state, &caller, &id, 1000, 0, state.now()).await?;
    let l = web.lang;
    let t = &trace;
    let mut by_venue: Vec<(String, i64, i64)> = Vec::new();
    for c in &found {
        let venue = c.venue_name.clone().unwrap_or_else(|| c.venue_id.clone());
        let at = match by_venue.iter().position(|(v, _, _)| *v == venue) {
            Some(at) => at,
            None => {
                by_venue.push((venue, 0, 0));
                by_venue.len() - 1
            }
        };
        if c.level == 1 {
            by_venue[at].1 += 1;
        } else {
            by_venue[at].2 += 1;
        }
    }
    let contacts = found
        .iter()
        .map(|c| ContactRow {
            level: match c.level {
                1 => l.t("密切接触者", "close contact"),
                _ => l.t("次密切接触者", "secondary contact"),
            }
            .to_owned(),
            local: c.person_id.is_some(),
            person: c
                .person_id
                .clone()
                .unwrap_or_else(|| format!("{} ({})", c.subject, c.region)),
            venue: c.venue_name.clone().unwrap_or_else(|| c.venue_id.clone()),
            from: local_time(c.exposed_from),
            until: local_time(c.exposed_until),
        })
        .collect();
    render(CasePage {
        chrome: Chrome::new(&web, "病例与流调", "Case and tracing", true),
        case_id: id,
        person_id: t.person_id.clone(),
        state: state_label(l, &t.state).to_owned(),
        running: matches!(t.state.as_str(), "queued" | "running"),
        window: format!(
            "{} – {}",
            local_time(t.window_from),
            local_time(t.window_until)
        ),
        close: t.close_contacts,
        secondary: t.secondary_contacts,
        other_region: t.other_region,
        facts_recorded: t.facts_recorded,
        by_venue,
        contacts,
    })
}
