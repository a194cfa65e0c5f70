//! Venues and their checkpoints: register them, give a checkpoint its scanner token, and print
//! the venue code (场所码) to post at the door.

use crate::AppState;
use crate::body::Path;
use crate::usecases::venues;
use crate::web::page::{Chrome, PageResult, region_words, render, see};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use healthcode_core::visits::category_words;
use serde::Deserialize;

struct VenueRow {
    id: String,
    name: String,
    address: String,
    region: String,
    category: String,
    dwell: i64,
}

/// A category as the select offers it: its value and its words.
struct Category {
    value: String,
    words: String,
}

#[derive(Template)]
#[template(path = "console_venues.html")]
struct VenuesPage {
    chrome: Chrome,
    venues: Vec<VenueRow>,
    categories: Vec<Category>,
    /// A checkpoint just registered: its name and token, shown this once.
    new_checkpoint: Option<(String, String)>,
}

async fn page(state: AppState, web: Web, new_checkpoint: Option<(String, String)>) -> PageResult {
    let caller = web.staff(&state).await?;
    let categories: Vec<String> = state
        .policy
        .current()
        .document()
        .parameters
        .get("venue_dwell_minutes")
        .and_then(|v| v.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let list = venues::list(&state, &caller).await?;
    let lang = web.lang;
    let categories = categories
        .into_iter()
        .map(|value| {
            let (zh, en) = category_words(&value);
            let words = lang.t(zh, en).to_owned();
            Category { value, words }
        })
        .collect();
    render(VenuesPage {
        chrome: Chrome::new(&web, "场所与卡口", "Venues and checkpoints", true),
        venues: list
            .into_iter()
            .map(|v| VenueRow {
                id: v.venue.id,
                name: v.venue.name,
                address: v.venue.address,
                region: region_words(&v.venue.region),
                category: {
                    let (zh, en) = category_words(&v.venue.category);
                    lang.t(zh, en).to_owned()
                },
                dwell: v.dwell_minutes,
            })
            .collect(),
        categories,
        new_checkpoint,
    })
}

pub async fn list(State(state): State<AppState>, web: Web) -> PageResult {
    page(state, web, None).await
}

#[derive(Deserialize)]
pub struct VenueForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    category: String,
}

pub async fn register(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<VenueForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let request = venues::VenueRequest {
        name: form.name,
        address: form.address,
        region: form.region,
        category: form.category,
    };
    venues::register(&state, &caller, request, state.now()).await?;
    see("/console/venues")
}

#[derive(Deserialize)]
pub struct CheckpointForm {
    #[serde(default)]
    name: String,
}

/// Registers a checkpoint and shows its token once (it is stored only as a hash).
pub async fn add_checkpoint(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<CheckpointForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let request = venues::CheckpointRequest { name: form.name };
    let created = venues::add_checkpoint(&state, &caller, &id, request, state.now()).await?;
    page(state, web, Some((created.checkpoint.name, created.token))).await
}

#[derive(Template)]
#[template(path = "console_venue_print.html")]
struct PrintPage {
    chrome: Chrome,
    name: String,
    address: String,
    qr_svg: String,
}

/// The venue code on a page of its own, to print and post at the door.
pub async fn print(State(state): State<AppState>, web: Web, Path(id): Path<String>) -> PageResult {
    let caller = web.staff(&state).await?;
    let (venue, text) = venues::code(&state, &caller, &id, state.now()).await?;
    let svg = healthcode_pass::qr::render_svg(&text).map_err(|e| {
        tracing::error!(error = %e, "QR rendering failed");
        crate::error::ApiError::internal()
    })?;
    render(PrintPage {
        chrome: Chrome::new(&web, "场所码", "Venue code", true),
        name: venue.name,
        address: venue.address,
        qr_svg: crate::web::resident::inline_svg(svg),
    })
}
