//! The queue of trace jobs, written inside the caller's transaction: recording a case queues its
//! trace; retracting it, or overriding a waiver that held its contacts back, queues it again;
//! withdrawing the contact fact a person held queues again the other traces that found them.
//! `traces.rs` claims and runs the jobs.

use crate::db::{Conn, on_conn};
use time::OffsetDateTime;

/// Queues the trace of a case fact inside the transaction that records it, at `now` (a case
/// may be recorded with an earlier time; the trace's latency counts from when it was queued).
pub(crate) async fn queue<'c>(
    conn: impl Into<Conn<'c>>,
    person_id: &str,
    case_id: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_conn!(&mut conn.into(), c => {
        sqlx::query(
            "INSERT INTO traces (case_id, person_id, state, window_from, window_until, close_contacts, \
             secondary_contacts, other_region, facts_recorded, rows_read, runs, created_at) \
             VALUES ($1, $2, 'queued', 0, 0, 0, 0, 0, 0, 0, 0, $3) ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(person_id)
        .bind(crate::ms(now))
        .execute(&mut **c)
        .await?;
    });
    Ok(())
}

/// Queues again, inside the transaction that retracts a case, the case's trace: one that has
/// ended, and one that is running too, since it may have looked for a retraction just before
/// this one (its end then ends nothing, and the next run withdraws what it recorded).
pub(crate) async fn requeue_withdrawn<'c>(
    conn: impl Into<Conn<'c>>,
    case_id: &str,
) -> Result<(), sqlx::Error> {
    on_conn!(&mut conn.into(), c => {
        sqlx::query(
            "UPDATE traces SET state = 'queued', lease_until = NULL WHERE case_id = $1 \
             AND state IN ('done', 'failed', 'running')",
        )
        .bind(case_id)
        .execute(&mut **c)
        .await?;
    });
    Ok(())
}

/// Queues again, inside the transaction that withdraws the contact fact `person_id` held for
/// `except_case`, every other trace that found that person: one contact fact is held per level,
/// so an exposure to another case that the withdrawn one superseded (or outlasted) was not
/// recorded or was retracted, and its trace's next run holds it again. Returns how many.
pub(crate) async fn requeue_reaching<'c>(
    conn: impl Into<Conn<'c>>,
    person_id: &str,
    except_case: &str,
) -> Result<u64, sqlx::Error> {
    let done = on_conn!(&mut conn.into(), c => {
        sqlx::query(
            "UPDATE traces SET state = 'queued', lease_until = NULL \
             WHERE state IN ('done', 'failed', 'running') AND case_id <> $2 \
             AND case_id IN (SELECT case_id FROM trace_exposures WHERE person_id = $1)",
        )
        .bind(person_id)
        .bind(except_case)
        .execute(&mut **c)
        .await?
        .rows_affected()
    });
    Ok(done)
}
