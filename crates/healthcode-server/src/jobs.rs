//! The node's background jobs: each wakes on its signal or its interval and calls a use case,
//! logging what fails; the next round makes up for it.

use crate::AppState;
use crate::federation::{directory, hub, messages};
use crate::usecases::{colours, notices, policy_versions, retention, traces};
use std::sync::Arc;
use std::time::Duration;

/// Whether this node runs the periodic `job` this round. Nodes sharing the store take turns by
/// a lease: its holder renews it every round, and when the holder dies another node takes the
/// job over two rounds later. A lease that cannot be read skips the round.
async fn holds_lease(state: &AppState, node: &str, job: &str, every: Duration) -> bool {
    let now = state.now();
    let until = now + 2 * every;
    match state.store.take_lease(job, node, now, until).await {
        Ok(held) => held,
        Err(e) => {
            tracing::error!(error = %e, job, "taking the job's lease failed");
            false
        }
    }
}

/// Starts every job the configuration turns on.
pub fn spawn(state: &AppState) {
    let node: Arc<str> = healthcode_store::node_name().into();
    retention_job(state.clone(), node.clone());
    trace_workers(state.clone());
    outbox_job(state.clone());
    schedule_job(state.clone(), node);
    federation_job(state.clone());
    region_outbox_job(state.clone());
    policy_job(state.clone());
}

/// Reads the approved policy versions every `policy_versions.refresh_seconds`, and re-derives
/// everyone's colour when one takes effect (one node does, by a claim).
fn policy_job(state: AppState) {
    let every = state.config.policy_versions.refresh_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        loop {
            tick.tick().await;
            if let Err(e) = policy_versions::activate(&state, state.now()).await {
                tracing::error!(error = %e.en, "reading or activating policy versions failed");
            }
        }
    });
}

/// Delivers messages to other regions (contact notices and their withdrawal) when one is
/// queued and every `notifications.poll_seconds`, for a region with a hub.
fn region_outbox_job(state: AppState) {
    if !state.directory.enabled() {
        return;
    }
    let every = Duration::from_secs(state.config.notifications.poll_seconds.max(1));
    tokio::spawn(async move {
        loop {
            match messages::drain(&state, state.now()).await {
                // More may be due: a trace can queue more than one claim holds.
                Ok(delivered) if delivered > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "delivering messages to other regions failed")
                }
            }
            let _ = tokio::time::timeout(every, state.federation.notified()).await;
        }
    });
}

/// On a region with a hub: fetches the trust list at start and every
/// `federation.refresh_seconds`. On the hub: publishes the list again when half its time in
/// force has passed, so regions never hold one near expiry.
fn federation_job(state: AppState) {
    let is_hub = state.hub.is_some();
    if !is_hub && !state.directory.enabled() {
        return;
    }
    let every = Duration::from_secs(state.config.federation.refresh_seconds.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if is_hub {
                if let Err(e) = hub::current(&state, state.now()).await {
                    tracing::error!(error = %e.en, "publishing the trust list failed");
                }
            } else {
                // A refusal is logged and counted where it happens; the list held stays.
                let _ = directory::refresh(&state).await;
            }
        }
    });
}

/// The tracing workers: `state.tracer` wakes them when a case is recorded, and they look for
/// work every `tracing.poll_seconds` anyway (a lease run out, another node's case).
fn trace_workers(state: AppState) {
    for _ in 0..state.config.tracing.workers {
        let state = state.clone();
        tokio::spawn(async move {
            let poll = Duration::from_secs(state.config.tracing.poll_seconds.max(1));
            loop {
                match traces::run_next(&state).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "tracing failed"),
                }
                let _ = tokio::time::timeout(poll, state.tracer.notified()).await;
            }
        });
    }
}

/// Drains the outboxes every `notifications.poll_seconds`, and at once when a login code is
/// queued: a resident is waiting.
fn outbox_job(state: AppState) {
    let every = Duration::from_secs(state.config.notifications.poll_seconds.max(1));
    tokio::spawn(async move {
        loop {
            if let Err(e) = notices::drain(&state, state.now()).await {
                tracing::error!(error = %e, "draining the outbox failed");
            }
            let _ = tokio::time::timeout(every, state.outbox.notified()).await;
        }
    });
}

/// Re-derives the colours whose end by time has come, every
/// `tracing.schedule_interval_seconds`: what announces a colour turning back to green. One
/// node of those sharing the store does it (a lease).
fn schedule_job(state: AppState, node: Arc<str>) {
    let every = state.config.tracing.schedule_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let every = Duration::from_secs(every);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if !holds_lease(&state, &node, "schedule", every).await {
                continue;
            }
            match colours::run_schedule(&state, state.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(changed = n, "colours changed by time"),
                Err(e) => tracing::error!(error = %e, "re-deriving due colours failed"),
            }
        }
    });
}

/// Runs retention every `scans.retention_interval_seconds`; the first run comes one interval
/// after start, not during start-up. One node of those sharing the store runs it (a lease).
fn retention_job(state: AppState, node: Arc<str>) {
    let every = state.config.scans.retention_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let every = Duration::from_secs(every);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            if !holds_lease(&state, &node, "retention", every).await {
                continue;
            }
            if let Err(e) = retention::run(&state, state.now()).await {
                tracing::error!(error = %e, "retention run failed");
            }
        }
    });
}
