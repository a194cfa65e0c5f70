//! Residents' reads of their own code through the read replica (`replica.url`): which store a
//! read goes to, the position a write hands back so that its author reads it at once on any
//! node (read-your-writes), and the watcher that knows how far behind the replica is.

use crate::AppState;
use crate::web::cookies;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use healthcode_store::Store;
use std::time::Duration;

/// After a write: the primary's WAL position, which a client sends back with its reads
/// (the header, or the cookie the pages carry) so that they see the write.
pub const READ_AFTER_HEADER: &str = "healthcode-read-after";
pub const READ_AFTER_COOKIE: &str = "hc_read_after";

/// A read (GET or HEAD) on a node with a replica, and the position it must see, if it brought
/// one.
#[derive(Debug, Clone, Copy)]
pub struct ReadAfter(pub Option<i64>);

pub const READS: crate::metrics::Counter = (
    "healthcode_replica_reads_total",
    "Residents' reads of their own code, by the store that served them (replica or primary).",
);

fn read_after(headers: &HeaderMap) -> Option<i64> {
    headers
        .get(READ_AFTER_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| cookies::cookie(headers, READ_AFTER_COOKIE))
        .and_then(|v| v.trim().parse().ok())
}

/// Marks each read with the position it must see, and hands each successful write's author
/// the primary's position after it. Only on a node with a replica.
pub async fn track(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if state.replica.is_none() {
        return next.run(req).await;
    }
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    if reads {
        let after = read_after(req.headers());
        req.extensions_mut().insert(ReadAfter(after));
    }
    let mut response = next.run(req).await;
    let status = response.status();
    if !reads && (status.is_success() || status.is_redirection()) {
        match state.store.position().await {
            Ok(Some(position)) => {
                let headers = response.headers_mut();
                headers.insert(READ_AFTER_HEADER, HeaderValue::from(position));
                // As long as the replica may lag; `Secure` is the pages' business, not needed
                // for a position.
                let age = state.config.replica.max_lag_ms / 1000 + 1;
                headers.append(
                    axum::http::header::SET_COOKIE,
                    cookies::set_cookie(
                        READ_AFTER_COOKIE,
                        &position.to_string(),
                        Some(age),
                        "Lax",
                        false,
                    ),
                );
            }
            Ok(None) => {}
            // The write stands; its author's next reads may go to the primary's lag bound.
            Err(e) => tracing::error!(error = %e, "reading the primary's WAL position failed"),
        }
    }
    response
}

/// The replica, for a resident's read of their own data it can serve (a read, fresh within the
/// bound, and past the position the reader brought); None sends the read to the primary.
pub fn store_for(state: &AppState, read: Option<&ReadAfter>) -> Option<Store> {
    let (Some(replica), Some(ReadAfter(after))) = (&state.replica, read) else {
        return None;
    };
    let store = replica.reads(*after, state.now()).cloned();
    let served = if store.is_some() {
        "replica"
    } else {
        "primary"
    };
    state.metrics.add(READS, &format!("store=\"{served}\""), 1);
    store
}

/// Watches the replica every 25 ms: how far it has replayed against the primary's position.
pub fn spawn_watcher(state: &AppState) {
    let Some(replica) = state.replica.clone() else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match replica.watch(&state.store, state.now()).await {
                Ok(()) => failing = false,
                // Reads go to the primary meanwhile; said once per outage.
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!(error = %e, "watching the read replica failed: reads go to the primary");
                }
                Err(_) => {}
            }
        }
    });
}
