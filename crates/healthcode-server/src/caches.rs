//! A small in-memory cache that keeps the hot path (a checkpoint's scan) free of reads: the
//! checkpoint and venue of a checkpoint account, which never change once created, and the
//! published high-risk areas (for recognising other regions' passes), read again every
//! `RISK_AREAS_FOR` seconds. Tokens are not
//! cached: an API token or session is looked up on every request (one indexed read), so a
//! revoked account or an ended session stops working at once, on every node.

use healthcode_store::{Checkpoint, Store, StoreError, Venue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// How long the published high-risk areas are kept before they are read again: a newly
/// published area reaches the gates within this.
const RISK_AREAS_FOR: Duration = Duration::from_secs(10);

/// A published high-risk area's region and when it is in force.
#[derive(Debug, Clone)]
pub struct HighRisk {
    pub region: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: Option<OffsetDateTime>,
}

impl HighRisk {
    pub fn in_force(&self, at: OffsetDateTime) -> bool {
        self.starts_at <= at && self.ends_at.is_none_or(|end| at < end)
    }
}

/// Entries kept at most; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

type Areas = Arc<Vec<HighRisk>>;

#[derive(Default)]
pub struct Caches {
    checkpoints: Mutex<HashMap<String, (Checkpoint, Venue)>>,
    risk_areas: Mutex<Option<(Instant, Areas)>>,
    /// Derived statuses, served again while their facts, policy and time hold.
    pub statuses: crate::kept::KeptStatuses,
}

impl Caches {
    pub fn checkpoint(&self, account_id: &str) -> Option<(Checkpoint, Venue)> {
        self.checkpoints.lock().ok()?.get(account_id).cloned()
    }

    pub fn remember_checkpoint(&self, account_id: &str, found: (Checkpoint, Venue)) {
        if let Ok(mut checkpoints) = self.checkpoints.lock() {
            if checkpoints.len() >= MAX_ENTRIES {
                checkpoints.clear();
            }
            checkpoints.insert(account_id.to_owned(), found);
        }
    }

    /// Reads the high-risk areas again at the next scan.
    pub fn forget_risk_areas(&self) {
        if let Ok(mut held) = self.risk_areas.lock() {
            *held = None;
        }
    }

    /// The published high-risk areas, at most `RISK_AREAS_FOR` old.
    pub async fn high_risk_areas(&self, store: &Store) -> Result<Areas, StoreError> {
        if let Ok(held) = self.risk_areas.lock()
            && let Some((read_at, areas)) = held.as_ref()
            && read_at.elapsed() < RISK_AREAS_FOR
        {
            return Ok(areas.clone());
        }
        let areas: Areas = Arc::new(
            store
                .risk_areas(false)
                .await?
                .into_iter()
                .filter(|a| a.state == "published" && a.level == "high")
                .map(|a| HighRisk {
                    region: a.region,
                    starts_at: a.starts_at,
                    ends_at: a.ends_at,
                })
                .collect(),
        );
        if let Ok(mut held) = self.risk_areas.lock() {
            *held = Some((Instant::now(), areas.clone()));
        }
        Ok(areas)
    }
}
