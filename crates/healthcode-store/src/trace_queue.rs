//! The queue of trace jobs, written inside the caller's transaction: recording a case queues its
//! trace; retracting it, or overriding a waiver that held its contacts back, queues it again.
//! `traces.rs` claims and runs the jobs.

/// Queues the trace of a case fact inside the transaction that records it, at `now` (a case
/// may be recorded with an earlier time; the trace's latency counts from when it was queued).
macro_rules! queue_trace {
    ($tx:expr, $person_id:expr, $fact:expr, $now:expr) => {{
        sqlx::query(
            "INSERT INTO traces (case_id, person_id, state, window_from, window_until, close_contacts, \
             secondary_contacts, other_region, facts_recorded, rows_read, runs, created_at) \
             VALUES ($1, $2, 'queued', 0, 0, 0, 0, 0, 0, 0, 0, $3) ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(&$fact.id)
        .bind($person_id)
        .bind($crate::ms($now))
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use queue_trace;

/// Queues again, inside the transaction that retracts a case, the case's trace: one that has
/// ended, and one that is running too, since it may have looked for a retraction just before
/// this one (its end then ends nothing, and the next run withdraws what it recorded).
macro_rules! requeue_withdrawn {
    ($tx:expr, $case_id:expr) => {{
        sqlx::query(
            "UPDATE traces SET state = 'queued', lease_until = NULL WHERE case_id = $1 \
             AND state IN ('done', 'failed', 'running')",
        )
        .bind($case_id)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use requeue_withdrawn;
