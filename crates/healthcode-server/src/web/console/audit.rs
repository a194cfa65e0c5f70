//! The audit log for auditors: filtered, newest first, with the chain check's result. Reading it
//! goes on the chain too.

use crate::AppState;
use crate::auth::Role;
use crate::body::Query;
use crate::web::page::{Chrome, PageResult, render};
use crate::web::resident::{AuditRow, audit_rows};
use crate::web::session::Web;
use askama::Template;
use axum::extract::State;
use healthcode_store::AuditFilter;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    /// A day (YYYY-MM-DD, China time): only entries of that day.
    #[serde(default)]
    day: String,
}

#[derive(Template)]
#[template(path = "console_audit.html")]
struct AuditLogPage {
    chrome: Chrome,
    filters: Filters,
    entries: Vec<AuditRow>,
    chain_entries: i64,
    first_broken: Option<i64>,
}

fn given(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

pub async fn show(
    State(state): State<AppState>,
    web: Web,
    Query(filters): Query<Filters>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    caller.require(&[Role::Auditor, Role::Admin])?;
    let (from, to) = match given(&filters.day) {
        None => (None, None),
        Some(day) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let date = time::Date::parse(&day, &format).map_err(|_| {
                crate::error::ApiError::bad_request(
                    "bad_date",
                    "a day is YYYY-MM-DD",
                    "日期格式应为 YYYY-MM-DD",
                )
            })?;
            let start = date.midnight().assume_offset(crate::web::page::LOCAL);
            (Some(start), Some(start + time::Duration::days(1)))
        }
    };
    let filter = AuditFilter {
        actor: given(&filters.actor),
        role: given(&filters.role),
        action: given(&filters.action),
        subject: given(&filters.subject),
        from,
        to,
    };
    let now = state.now();
    state
        .store
        .audit(
            &caller.actor("audit review"),
            "audit.log.read",
            None,
            "",
            now,
        )
        .await?;
    let entries = state.store.audit_log(&filter, 500).await?;
    let check = state.store.verify_audit_chain().await?;
    let mut rows = audit_rows(web.lang, entries);
    // `audit_rows` turns a person's entries (oldest first) around; the log came newest first.
    rows.reverse();
    render(AuditLogPage {
        chrome: Chrome::new(&web, "审计日志", "Audit log", true),
        filters,
        entries: rows,
        chain_entries: check.entries,
        first_broken: check.first_broken,
    })
}
