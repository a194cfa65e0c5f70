//! The web pages, served by the node: residents (log in, enroll, declare, show the code, see
//! why, check in), checkpoints (scan and judge), and the console for staff. Server-rendered
//! (askama templates under `templates/`), with a little vanilla JavaScript from `assets/`,
//! both built into the binary. Every page acts through the same functions as the JSON API.

mod assets;
mod checkpoint;
mod console;
pub mod page;
mod resident;
pub mod session;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(resident::home))
        .route("/assets/{name}", get(assets::serve))
        .route("/login", get(resident::login_page).post(resident::login))
        .route("/login/code", post(resident::send_code))
        .route("/logout", post(resident::logout))
        .route("/me", get(resident::me))
        .route("/me/enroll", post(resident::enroll))
        .route(
            "/me/checkin",
            get(resident::checkin_page).post(resident::checkin),
        )
        .route("/me/{id}/code", get(resident::code))
        .route("/me/{id}/why", get(resident::why))
        .route("/me/{id}/appeal", post(resident::appeal))
        .route(
            "/me/{id}/declare",
            get(resident::declare_page).post(resident::declare),
        )
        .route("/me/{id}/visits", get(resident::visits))
        .route("/me/{id}/notifications", get(resident::notifications))
        .route("/me/{id}/audit", get(resident::audit))
        .route(
            "/staff/login",
            get(console::login_page).post(console::login),
        )
        .route("/checkpoint", get(checkpoint::page))
        .route("/console", get(console::home))
        .route("/console/cases", post(console::record_case))
        .route("/console/cases/{id}", get(console::case))
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::middleware,
        ))
}
