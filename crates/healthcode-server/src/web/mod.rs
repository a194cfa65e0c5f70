//! The web pages, served by the node: residents (log in, enroll, declare, show the code, see
//! why, check in), checkpoints (scan and judge), and the console for staff. Server-rendered
//! (askama templates under `templates/`), with a little vanilla JavaScript from `assets/`,
//! both built into the binary. Every page acts through the same functions as the JSON API.

mod assets;
mod charts;
mod checkpoint;
mod console;
pub mod cookies;
pub mod page;
mod policy;
mod policy_versions;
mod resident;
mod returns;
pub mod session;

use crate::AppState;
use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(resident::home))
        .route("/assets/{name}", get(assets::serve))
        .route("/login", get(resident::login_page).post(resident::login))
        // Pages answering a form have the form's path; the language toggle asks for it again.
        .route(
            "/login/code",
            get(|| async { Redirect::to("/login") }).post(resident::send_code),
        )
        .route("/logout", post(resident::logout))
        .route("/me", get(resident::me))
        // A form shown again with its errors sits at its own address; read there, it is the
        // overview (the language toggle, a reload).
        .route("/me/enroll", get(resident::overview).post(resident::enroll))
        .route("/me/claims", get(resident::overview).post(resident::claim))
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
        .route("/me/{id}/visits/{visit}/exit", post(resident::leave))
        .route("/me/{id}/notifications", get(resident::notifications))
        .route("/me/{id}/audit", get(resident::audit))
        .route("/me/{id}/move", get(resident::move_page))
        .route("/me/{id}/move/consent", post(resident::consent))
        .route("/me/{id}/move/transfer", post(resident::transfer))
        .route(
            "/staff/login",
            get(console::login_page).post(console::login),
        )
        .route("/me/{id}/returns", get(returns::page).post(returns::apply))
        .route("/checkpoint", get(checkpoint::page))
        .route(
            "/checkpoint/arrivals",
            get(checkpoint::arrivals).post(checkpoint::arrive),
        )
        .route("/policy", get(policy::show))
        .route("/policy/versions", get(policy_versions::history))
        .route("/console/policy", post(policy_versions::propose))
        .route("/console/policy/{id}", get(policy_versions::version))
        .route(
            "/console/policy/{id}/approve",
            post(policy_versions::approve),
        )
        .route(
            "/console/policy/{id}/withdraw",
            post(policy_versions::withdraw),
        )
        .route("/console", get(console::home))
        .route("/console/cases", post(console::cases::record_case))
        .route("/console/cases/{id}", get(console::cases::case))
        .route("/console/cases/{id}/again", post(console::cases::again))
        .route("/console/people", get(console::people::find))
        .route("/console/people/search", post(console::people::search))
        .route("/console/people/{id}", get(console::people::show))
        .route(
            "/console/people/{id}/confirm",
            post(console::people::confirm),
        )
        .route("/console/people/{id}/facts", post(console::people::record))
        .route("/console/appeals", get(console::appeals::list))
        .route("/console/appeals/{id}", post(console::appeals::decide))
        .route("/console/claims/{id}", post(console::appeals::decide_claim))
        .route(
            "/console/risk-areas",
            get(console::areas::list).post(console::areas::propose),
        )
        .route(
            "/console/batches/{id}/approve",
            post(console::areas::approve),
        )
        .route(
            "/console/venues",
            get(console::venues::list).post(console::venues::register),
        )
        .route(
            "/console/venues/{id}/checkpoints",
            get(|| async { Redirect::to("/console/venues") }).post(console::venues::add_checkpoint),
        )
        .route("/console/venues/{id}/print", get(console::venues::print))
        .route("/console/dashboard", get(console::dashboard::show))
        .route("/console/returns", get(console::returns::show))
        .route(
            "/console/returns/handoffs",
            post(console::returns::handoff_by_pass),
        )
        .route("/console/returns/{id}/calls", post(console::returns::call))
        .route(
            "/console/returns/{id}/decision",
            post(console::returns::decide),
        )
        .route(
            "/console/returns/{id}/handoffs",
            post(console::returns::handoff),
        )
        .route("/console/audit", get(console::audit::show))
        .route("/console/hub", get(console::hub::show))
        .route("/console/hub/proposals/{id}", post(console::hub::decide))
        .route("/console/hub/revoke", post(console::hub::revoke))
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::middleware,
        ))
}
