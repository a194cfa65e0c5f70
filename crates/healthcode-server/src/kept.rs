//! Statuses kept between reads. 亮码 and 扫码 read a person's colour far more often than facts
//! about them land, so a derived status is kept in the node and served again while nothing it
//! rests on changed: the person's facts (the store's stamp, read on every request, so a fact
//! recorded through any node is seen at once), the policy in effect, and time. A status is kept
//! only until its next change by time, and no further than a short horizon at which the policy,
//! given the same facts, still gives the same status: a rule that starts to apply by time alone
//! (a missed check-in) is seen within the horizon, never later.

use healthcode_core::{Fact, Policy, Status};
use healthcode_store::FactStamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// How far ahead a kept status is checked, and so how long it may be kept at most.
pub const HORIZON: Duration = Duration::seconds(60);

/// People kept at most; past it the keeping starts afresh (a node's working set is the people
/// showing or scanning their code in the last minute).
const CAPACITY: usize = 200_000;

struct Kept {
    stamp: FactStamp,
    policy: Arc<Policy>,
    status: Status,
    until: OffsetDateTime,
}

#[derive(Default)]
pub struct KeptStatuses {
    kept: Mutex<HashMap<String, Kept>>,
}

impl KeptStatuses {
    /// The kept status of a person, if their facts are still `stamp`, `policy` is still the one
    /// in effect and `now` is before the status may change.
    pub fn get(
        &self,
        person: &str,
        stamp: FactStamp,
        policy: &Arc<Policy>,
        now: OffsetDateTime,
    ) -> Option<Status> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let k = kept.get(person)?;
        (k.stamp == stamp && Arc::ptr_eq(&k.policy, policy) && now < k.until)
            .then(|| k.status.clone())
    }

    /// Keeps a status derived at `now` from `facts` (whose stamp is `stamp`) under `policy`, if
    /// the policy gives the same status at the horizon; until its next change or the horizon.
    pub fn keep(
        &self,
        person: &str,
        stamp: FactStamp,
        policy: &Arc<Policy>,
        facts: &[Fact],
        status: &Status,
        now: OffsetDateTime,
    ) {
        let horizon = now + HORIZON;
        let until = status.next_change.map_or(horizon, |t| t.min(horizon));
        if until <= now || !status.errors.is_empty() {
            return;
        }
        let later = policy.evaluate(facts, until - Duration::milliseconds(1));
        if later.color != status.color
            || later.reasons != status.reasons
            || later.tags != status.tags
        {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= CAPACITY {
            kept.clear();
        }
        kept.insert(
            person.to_owned(),
            Kept {
                stamp,
                policy: policy.clone(),
                status: status.clone(),
                until,
            },
        );
    }
}
