//! Leases on the node's periodic jobs. Several nodes share one store; a job such as retention
//! runs on the one node holding its lease, which renews it each round. When that node dies, the
//! lease runs out and the next node to try takes the job over.

use crate::{Store, StoreError, db, ms};
use time::OffsetDateTime;

/// This process as the other nodes and the database see it: host and process id. PostgreSQL
/// connections carry it as their `application_name` (`pg_stat_activity` names the node behind
/// each query) and leases name it as their holder.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("healthcode@{host}:{}", std::process::id())
}

impl Store {
    /// Takes the lease on `job` for `holder` until `until`, or renews it when `holder` holds
    /// it already: true when `holder` holds it now. Nobody else gets it before it runs out.
    pub async fn take_lease(
        &self,
        job: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let taken = db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "INSERT INTO leases (job, holder, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                 WHERE leases.holder = excluded.holder OR leases.until <= $4",
            )
            .bind(job)
            .bind(holder)
            .bind(ms(until))
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(taken == 1)
    }
}
