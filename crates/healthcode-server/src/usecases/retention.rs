//! Data that expires on schedule: visits after the policy's `visit_retention_days` (28 by
//! default), scan receipts a day after no retry of their scan could still be accepted, expired
//! sessions, and login codes a day old.

use crate::AppState;
use healthcode_core::visits::parameter_i64;
use healthcode_store::Expired;
use time::{Duration, OffsetDateTime};

/// The cut-off instants at `now`: visits before the first, receipts received before the second.
pub fn cutoffs(state: &AppState, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let days = parameter_i64(state.policy.at(now).document(), "visit_retention_days", 28);
    let receipts = Duration::hours(state.config.scans.max_offline_hours) + Duration::days(1);
    (now - Duration::days(days), now - receipts)
}

/// One retention run at `now`; also creates the visit log's partitions for the days ahead.
pub async fn run(
    state: &AppState,
    now: OffsetDateTime,
) -> Result<Expired, healthcode_store::StoreError> {
    let today = now.unix_timestamp().div_euclid(86_400);
    state
        .store
        .ensure_partitions((today - 1..=today + 2).collect())
        .await?;
    let (visits, receipts) = cutoffs(state, now);
    let expired = state.store.expire_visits(visits, receipts, 5_000).await?;
    if expired != Expired::default() {
        tracing::info!(
            visits = expired.visits,
            receipts = expired.receipts,
            "expired visit data"
        );
    }
    let purged = state.store.purge_logins(now).await?;
    if purged > 0 {
        tracing::info!(
            rows = purged,
            "removed expired sessions and old login codes"
        );
    }
    Ok(expired)
}
