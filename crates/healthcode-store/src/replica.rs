//! A PostgreSQL streaming replica (a hot standby) for the reads that carry the load: a resident
//! showing their code. A read goes to the replica only when it misses nothing it must see:
//! - nothing the primary had committed more than the lag bound ago. A watcher notes the
//!   primary's WAL position with the time it read it, and the replica's replayed position; once
//!   the replica has replayed past a noted position, everything committed before that time is
//!   on it (`fresh_as_of`). Past the bound (a replica behind or down), reads go to the primary.
//! - the caller's own last write: after a write the node hands the client the primary's
//!   position (`position`), and a read that brings it back goes to the replica only once it has
//!   replayed that far.

use crate::{Store, StoreError, db::Backend, ms};
use std::collections::VecDeque;
use std::sync::Mutex;
use time::OffsetDateTime;

#[derive(Debug)]
pub struct Replica {
    /// The same store, read through the replica's connections.
    store: Store,
    max_lag_ms: i64,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// The replica's last replayed WAL position.
    replayed: i64,
    /// Every commit the primary acknowledged before this instant (ms) is on the replica.
    fresh_as_of: i64,
    /// The primary's positions noted and not yet replayed, with when each was read.
    marks: VecDeque<(i64, i64)>,
}

/// A WAL position as a number (bytes since 0/0), comparable across the primary and replicas.
const POSITION: &str = "(pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint";
const REPLAYED: &str = "COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, -1)";

impl Store {
    /// The same store read through the replica at `url`, trusted no further than `max_lag`
    /// behind. Nothing is migrated there: a standby replays the primary's schema.
    pub async fn replica(&self, url: &str, max_lag: time::Duration) -> Result<Replica, StoreError> {
        if !matches!(self.backend, Backend::Postgres(_)) {
            return Err(StoreError::Config(
                "a read replica needs PostgreSQL as the primary store".into(),
            ));
        }
        Ok(Replica {
            store: Store {
                backend: Backend::connect_replica(url).await?,
                ..self.clone()
            },
            max_lag_ms: max_lag.whole_milliseconds() as i64,
            seen: Mutex::default(),
        })
    }

    /// The primary's WAL position now: every write acknowledged so far lies at or before it.
    /// None on SQLite.
    pub async fn position(&self) -> Result<Option<i64>, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let (p,): (i64,) = sqlx::query_as(&format!("SELECT {POSITION}"))
                    .fetch_one(pool)
                    .await?;
                Ok(Some(p))
            }
            Backend::Sqlite(_) => Ok(None),
        }
    }
}

impl Replica {
    /// One round of watching: notes the primary's position at `now` and reads how far the
    /// replica has replayed.
    pub async fn watch(&self, primary: &Store, now: OffsetDateTime) -> Result<(), StoreError> {
        let position = primary.position().await?.unwrap_or(0);
        let Backend::Postgres(pool) = &self.store.backend else {
            return Ok(());
        };
        let (replayed,): (i64,) = sqlx::query_as(&format!("SELECT {REPLAYED}"))
            .fetch_one(pool)
            .await?;
        if replayed < 0 {
            return Err(StoreError::Config(
                "the replica URL names a server that is not a standby".into(),
            ));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.marks.push_back((ms(now), position));
        seen.replayed = replayed;
        while let Some(&(at, p)) = seen.marks.front()
            && p <= replayed
        {
            seen.fresh_as_of = seen.fresh_as_of.max(at);
            seen.marks.pop_front();
        }
        // A replica far behind: keep the marks bounded (the oldest ones matter most).
        if seen.marks.len() > 10_000 {
            seen.marks.pop_back();
        }
        Ok(())
    }

    /// The replica's store for a read at `now` that must see the caller's own writes up to
    /// `read_after`, or None when the replica cannot serve it (too far behind, or not there yet).
    pub fn reads(&self, read_after: Option<i64>, now: OffsetDateTime) -> Option<&Store> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = ms(now) - seen.fresh_as_of <= self.max_lag_ms;
        let caught_up = read_after.is_none_or(|p| seen.replayed >= p);
        (fresh && caught_up).then_some(&self.store)
    }
}
