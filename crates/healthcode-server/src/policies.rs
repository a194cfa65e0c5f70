//! The policy in effect at each instant: the base (the configured file, or the one shipped) and
//! every version approved since, each from its effective time. Every node reads the approved
//! versions from the store and picks by the instant it judges, so all nodes switch at the same
//! instant and none serves two versions for one instant: a version is approved, and an approved
//! one withdrawn, at least `policy_versions.notice_seconds` before its time, so a node that read
//! the store within that notice knows every version of the instant it judges. A node that has
//! not (its store unreachable for that long) says so on `/readyz`, and is taken out of service.

use crate::clock::Clock;
use healthcode_core::{Fact, Policy, Status};
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// Versions from their effective time, oldest first; the base applies before the first.
type Timeline = Arc<Vec<(OffsetDateTime, Arc<Policy>)>>;

/// The approved versions as last read, and when (none before the first reading).
#[derive(Debug, Default, Clone)]
struct Reading {
    timeline: Timeline,
    at: Option<OffsetDateTime>,
}

#[derive(Debug)]
pub struct Policies {
    clock: Clock,
    base: Arc<Policy>,
    approved: RwLock<Reading>,
    /// How long a reading is sure: the versions' notice.
    notice: Duration,
}

impl Policies {
    pub fn new(base: Policy, clock: Clock, notice: Duration) -> Policies {
        Policies {
            clock,
            base: Arc::new(base),
            approved: RwLock::default(),
            notice,
        }
    }

    /// The version in effect at `t`.
    pub fn at(&self, t: OffsetDateTime) -> Arc<Policy> {
        let timeline = self.reading().timeline;
        timeline
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or_else(|| self.base.clone(), |(_, p)| p.clone())
    }

    /// The version in effect now, by the node's clock.
    pub fn current(&self) -> Arc<Policy> {
        self.at(self.clock.now())
    }

    /// The colour the version in effect at `now` derives.
    pub fn evaluate(&self, facts: &[Fact], now: OffsetDateTime) -> Status {
        self.at(now).evaluate(facts, now)
    }

    /// The version the node started with, in effect before any approved one.
    pub fn base(&self) -> Arc<Policy> {
        self.base.clone()
    }

    /// Whether the node knows every version that can apply at `now`: it read them less than the
    /// notice ago.
    pub fn is_current(&self, now: OffsetDateTime) -> bool {
        self.read_at().is_some_and(|read| now < read + self.notice)
    }

    /// When the approved versions were last read.
    pub fn read_at(&self) -> Option<OffsetDateTime> {
        self.reading().at
    }

    /// Replaces the approved versions (all of them, as the store listed them at `read_at`).
    pub fn install(&self, mut versions: Vec<(OffsetDateTime, Policy)>, read_at: OffsetDateTime) {
        versions.sort_by_key(|(from, _)| *from);
        let timeline: Timeline = Arc::new(
            versions
                .into_iter()
                .map(|(from, p)| (from, Arc::new(p)))
                .collect(),
        );
        let reading = Reading {
            timeline,
            at: Some(read_at),
        };
        match self.approved.write() {
            Ok(mut slot) => *slot = reading,
            Err(poisoned) => *poisoned.into_inner() = reading,
        }
    }

    fn reading(&self) -> Reading {
        match self.approved.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn version(v: &str) -> Policy {
        let mut doc = Policy::default_policy().unwrap().document().clone();
        doc.version = v.into();
        Policy::new(doc).unwrap()
    }

    #[test]
    fn each_instant_has_one_version_the_latest_whose_time_has_come() {
        let clock = Clock::system();
        let now = clock.now();
        let policies = Policies::new(version("base"), clock, Duration::minutes(1));
        assert!(!policies.is_current(now), "nothing read yet");
        policies.install(
            vec![
                (now + Duration::hours(2), version("v3")),
                (now + Duration::hours(1), version("v2")),
            ],
            now,
        );
        assert!(policies.is_current(now + Duration::seconds(59)));
        assert!(!policies.is_current(now + Duration::seconds(60)));
        let at = |t| policies.at(t).document().version.clone();
        assert_eq!(at(now), "base");
        assert_eq!(
            at(now + Duration::hours(1) - Duration::nanoseconds(1)),
            "base"
        );
        assert_eq!(at(now + Duration::hours(1)), "v2");
        assert_eq!(at(now + Duration::minutes(150)), "v3");
        assert_eq!(policies.current().document().version, "base");
    }
}
