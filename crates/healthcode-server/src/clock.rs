//! The clock: the one place the time is read (clippy.toml forbids reading it anywhere else).
//! Everything else is given a clock or the instant it read, so a test can move time forward: a
//! fourteen-day observation runs in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

/// The system's time, moved forward by however much `advance` has added (never, outside tests
/// and rehearsals). Cloning shares the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    ahead_ns: Arc<AtomicI64>,
}

impl Clock {
    /// The system's time.
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now(&self) -> OffsetDateTime {
        #[allow(clippy::disallowed_methods)] // the one reading
        let system = OffsetDateTime::now_utc();
        system + Duration::nanoseconds(self.ahead_ns.load(Ordering::Relaxed))
    }

    /// Moves this clock (and its clones) forward; time never goes back.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.whole_nanoseconds().max(0)).unwrap_or(i64::MAX);
        self.ahead_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |ahead| {
                Some(ahead.saturating_add(by))
            })
            .ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_for_every_clone_and_never_goes_back() {
        let clock = Clock::system();
        let shared = clock.clone();
        let before = clock.now();
        shared.advance(Duration::days(14));
        assert!(clock.now() - before >= Duration::days(14));
        let moved = clock.now();
        clock.advance(-Duration::days(30));
        assert!(clock.now() >= moved);
    }
}
