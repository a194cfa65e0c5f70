//! The checkpoint page (卡口扫码): a keyboard-wedge scanner types the pass and Enter, or the
//! camera reads it; the page posts it to the API's scan endpoint and shows the verdict full
//! screen with a sound. Scans made offline wait in the browser and go up as a batch.

use crate::AppState;
use crate::usecases::scans::checkpoint_of;
use crate::web::page::{Chrome, PageResult, render};
use crate::web::session::Web;
use askama::Template;
use axum::extract::State;

#[derive(Template)]
#[template(path = "checkpoint.html")]
struct CheckpointPage {
    chrome: Chrome,
    venue: String,
    checkpoint: String,
    /// Keys the browser's offline queue, so two checkpoints on one device never mix.
    checkpoint_id: String,
}

pub async fn page(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    let (checkpoint, venue) = checkpoint_of(&state, &caller).await?;
    render(CheckpointPage {
        chrome: Chrome::new(&web, "卡口扫码核验", "Checkpoint scan", true),
        venue: venue.name,
        checkpoint: checkpoint.name,
        checkpoint_id: checkpoint.id,
    })
}
