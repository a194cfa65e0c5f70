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
    /// The person as staff read them: masked name and document tail, or another region's.
    person: String,
    /// One of this region's people, with a record to open.
    link: Option<String>,
    venue: String,
    from: String,
    until: String,
}

/// A venue's row: its name, then (people, exposure records) of close and of secondary contacts.
type VenueRow = (String, (i64, i64), (i64, i64));

/// Contacts per page of the case page.
const PER_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    chrome: Chrome,
    case_id: String,
    person_id: String,
    /// The case person as staff read them.
    person: String,
    state: String,
    running: bool,
    window: String,
    close: i64,
    secondary: i64,
    other_region: i64,
    exposures: i64,
    facts_recorded: i64,
    by_venue: Vec<VenueRow>,
    contacts: Vec<ContactRow>,
    sort: &'static str,
    page: i64,
    pages: i64,
}

#[derive(Deserialize, Default)]
pub struct CaseQuery {
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

/// A case as staff name it in a list: its person's masked name and when it was recorded
/// (张*丰 · 12-04 11:08), never its record id.
pub(crate) async fn case_label(
    state: &AppState,
    person_id: &str,
    recorded: time::OffsetDateTime,
) -> Result<String, crate::web::page::WebError> {
    let name = state
        .store
        .person(person_id)
        .await
        .map_err(crate::error::ApiError::from)?
        .map_or_else(|| "—".to_owned(), |p| p.name_masked);
    let when = local_time(recorded);
    Ok(format!("{name} · {}", when.get(5..).unwrap_or(&when)))
}

/// A person as staff read them in a list: masked name and document tail, never a bare id.
pub(crate) async fn staff_label(
    state: &AppState,
    l: crate::web::page::Lang,
    id: &str,
) -> Result<String, crate::web::page::WebError> {
    let person = state
        .store
        .person(id)
        .await
        .map_err(crate::error::ApiError::from)?;
    Ok(match person {
        Some(p) => person_label(l, &p),
        None => l.t("已删除的人员", "a removed person").to_owned(),
    })
}

/// A person in hand as staff read them: masked name and document tail.
pub(crate) fn person_label(l: crate::web::page::Lang, p: &healthcode_store::Person) -> String {
    match &p.document_tail {
        Some(tail) => format!(
            "{} ({} …{tail})",
            p.name_masked,
            l.t("证件尾号", "document")
        ),
        None => p.name_masked.clone(),
    }
}

/// A case's trace: its figures (people, and the exposures behind them, labelled), the venues,
/// and the contacts a page at a time in the order asked for. Refreshes itself while running.
pub async fn case(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<CaseQuery>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let (order, sort) = match query.sort.as_deref() {
        Some("time") => (healthcode_store::ExposureOrder::Time, "time"),
        Some("venue") => (healthcode_store::ExposureOrder::Venue, "venue"),
        _ => (healthcode_store::ExposureOrder::Level, "level"),
    };
    let tallies = cases::by_venue(&state, &caller, &id).await?;
    let exposures: i64 = tallies.iter().map(|t| t.exposures).sum();
    let pages = ((exposures + PER_PAGE - 1) / PER_PAGE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let (trace, found) = cases::trace(
        &state,
        &caller,
        &id,
        (order, PER_PAGE, (page - 1) * PER_PAGE),
        state.now(),
    )
    .await?;
    let l = web.lang;
    let t = &trace;
    let mut by_venue: Vec<VenueRow> = Vec::new();
    for tally in tallies {
        let at = match by_venue.iter().position(|(v, _, _)| *v == tally.venue) {
            Some(at) => at,
            None => {
                by_venue.push((tally.venue.clone(), (0, 0), (0, 0)));
                by_venue.len() - 1
            }
        };
        let cell = (tally.people, tally.exposures);
        if tally.level == 1 {
            by_venue[at].1 = cell;
        } else {
            by_venue[at].2 = cell;
        }
    }
    let mut contacts = Vec::with_capacity(found.len());
    for c in &found {
        let person = match &c.person_id {
            Some(pid) => staff_label(&state, l, pid).await?,
            None => format!(
                "{} {}",
                l.t("外地区人员", "a person of"),
                crate::web::page::region_words(&c.region)
            ),
        };
        contacts.push(ContactRow {
            level: match c.level {
                1 => l.t("密切接触者", "close contact"),
                _ => l.t("次密切接触者", "secondary contact"),
            }
            .to_owned(),
            person,
            link: c.person_id.clone(),
            venue: c.venue_name.clone().unwrap_or_else(|| c.venue_id.clone()),
            from: local_time(c.exposed_from),
            until: local_time(c.exposed_until),
        });
    }
    render(CasePage {
        chrome: Chrome::new(&web, "病例与流调", "Case and tracing", true),
        person: staff_label(&state, l, &t.person_id).await?,
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
        exposures,
        facts_recorded: t.facts_recorded,
        by_venue,
        contacts,
        sort,
        page,
        pages,
    })
}

/// Runs the trace again (late visits, a corrected case); decided appeals stand.
pub async fn again(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(_): Posted<std::collections::HashMap<String, String>>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    cases::retrace(&state, &caller, &id, state.now()).await?;
    see(&format!("/console/cases/{id}"))
}
