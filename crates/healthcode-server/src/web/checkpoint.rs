//! The checkpoint page (卡口扫码): a keyboard-wedge scanner types the pass and Enter, or the
//! camera reads it; the page posts it to the API's scan endpoint and shows the verdict full
//! screen with a sound. Scans made offline wait in the browser and go up as a batch. At an
//! arrival station the same checkpoint also scans returning people with their temperature.

use crate::AppState;
use crate::usecases::arrivals::{self, ArrivalRequest};
use crate::usecases::scans::checkpoint_of;
use crate::web::page::{Chrome, PageResult, render};
use crate::web::session::{Posted, Web};
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

/// What an arrival scan showed: who, and where they go.
struct ArrivalShown {
    masked_name: String,
    fever: bool,
    temperature: String,
}

#[derive(Template)]
#[template(path = "arrivals.html")]
struct ArrivalsPage {
    chrome: Chrome,
    station: String,
    shown: Option<ArrivalShown>,
}

/// The arrival station's checkpoint (返程到站): scan a returning person's pass and take their
/// temperature; the verdict says home (已进入) or the fever clinic.
pub async fn arrivals(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    let (_, venue) = checkpoint_of(&state, &caller).await?;
    render(ArrivalsPage {
        chrome: Chrome::new(&web, "返程到站核验", "Arrivals at the station", true),
        station: venue.name,
        shown: None,
    })
}

#[derive(serde::Deserialize)]
pub struct ArrivalForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    temperature: String,
}

pub async fn arrive(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<ArrivalForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let (_, venue) = checkpoint_of(&state, &caller).await?;
    let temperature_c: f64 = form.temperature.trim().parse().map_err(|_| {
        crate::error::ApiError::unprocessable(
            "bad_temperature",
            "the temperature is in degrees Celsius, e.g. 36.5",
            "体温请填写摄氏度，例如 36.5",
        )
    })?;
    let request = ArrivalRequest {
        text: form.text,
        temperature_c,
        station: venue.name.clone(),
    };
    let arrival = arrivals::arrival(&state, &caller, request, state.now()).await?;
    render(ArrivalsPage {
        chrome: Chrome::new(&web, "返程到站核验", "Arrivals at the station", true),
        station: venue.name,
        shown: Some(ArrivalShown {
            masked_name: arrival.masked_name,
            fever: arrival.fever,
            temperature: format!("{temperature_c:.1} °C"),
        }),
    })
}
