//! Who was exposed (DESIGN.md §6): presences that overlap an infectious person's presence at the
//! same venue, with a margin, for at least a minimum time. The case's own presences count inside
//! its infectious window; a close contact's from their first exposure on, which finds secondary
//! contacts, and so on to the policy's depth. Pure: this is the reference the store's indexed
//! tracing is checked against.

use crate::visits::{Presence, VisitPoint, presences};

/// The policy's tracing parameters, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParams {
    /// Widens each infectious presence on both sides (people linger at a door).
    pub margin_ms: i64,
    /// Overlaps shorter than this are no exposure.
    pub min_overlap_ms: i64,
    /// 1: close contacts only; 2: and secondary contacts; …
    pub depth: u8,
}

/// One exposure: `subject` shared `venue` with `source` from `from` to `until`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Exposure {
    /// 1 for a close contact, 2 for a secondary contact, …
    pub level: u8,
    pub subject: String,
    pub venue: String,
    pub from: i64,
    pub until: i64,
    /// Whose presence it overlapped: the case, or the close contact for a secondary one.
    pub source: String,
}

/// The overlap of an infectious span (widened by the margin) with another presence, if it is
/// long enough to count.
pub fn overlap(
    infectious: (i64, i64),
    other: (i64, i64),
    params: &TraceParams,
) -> Option<(i64, i64)> {
    let from = (infectious.0 - params.margin_ms).max(other.0);
    let until = (infectious.1 + params.margin_ms).min(other.1);
    (until - from >= params.min_overlap_ms.max(1)).then_some((from, until))
}

/// Everyone exposed to `case` over all pairs of presences: the case's presences inside
/// `window`, then each level's presences from their first exposure until `until`.
pub fn trace_all_pairs(
    visits: &[VisitPoint<'_>],
    case: &str,
    window: (i64, i64),
    until: i64,
    params: &TraceParams,
) -> Vec<Exposure> {
    let spans: Vec<Presence> = presences(visits);
    let subject_of = |p: &Presence| visits[p.entry].subject;
    let venue_of = |p: &Presence| visits[p.entry].venue;
    // Infectious spans of the current level: (source subject, venue, from, until).
    let mut sources: Vec<(&str, &str, i64, i64)> = spans
        .iter()
        .filter(|p| subject_of(p) == case)
        .filter_map(|p| {
            let (from, to) = (p.from.max(window.0), p.until.min(window.1));
            (to > from).then(|| (case, venue_of(p), from, to))
        })
        .collect();
    let mut known: std::collections::HashSet<&str> = [case].into();
    let mut out = Vec::new();
    for level in 1..=params.depth {
        // (subject, venue, from, until, source) of this level's exposures.
        let mut found: Vec<(&str, &str, i64, i64, &str)> = Vec::new();
        for &(source, venue, from, to) in &sources {
            for p in &spans {
                let subject = subject_of(p);
                if venue_of(p) != venue || known.contains(subject) {
                    continue;
                }
                if let Some((a, b)) = overlap((from, to), (p.from, p.until), params) {
                    found.push((subject, venue, a, b, source));
                }
            }
        }
        // The next level's sources: each new contact's presences from their first exposure on.
        let mut first: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        for &(subject, _, from, _, _) in &found {
            let at = first.entry(subject).or_insert(from);
            *at = (*at).min(from);
        }
        sources = spans
            .iter()
            .filter_map(|p| {
                let start = *first.get(subject_of(p))?;
                let (from, to) = (p.from.max(start), p.until.min(until));
                (to > from).then(|| (subject_of(p), venue_of(p), from, to))
            })
            .collect();
        known.extend(first.keys().copied());
        out.extend(
            found
                .into_iter()
                .map(|(subject, venue, from, until, source)| Exposure {
                    level,
                    subject: subject.to_owned(),
                    venue: venue.to_owned(),
                    from,
                    until,
                    source: source.to_owned(),
                }),
        );
        if sources.is_empty() {
            break;
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visits::Direction;

    const MIN: i64 = 60_000;

    fn entry<'a>(subject: &'a str, venue: &'a str, at_min: i64, dwell_min: i64) -> VisitPoint<'a> {
        VisitPoint {
            subject,
            venue,
            direction: Direction::Entry,
            at: at_min * MIN,
            until: (at_min + dwell_min) * MIN,
        }
    }

    fn params(depth: u8) -> TraceParams {
        TraceParams {
            margin_ms: 5 * MIN,
            min_overlap_ms: 10 * MIN,
            depth,
        }
    }

    fn who(exposures: &[Exposure]) -> Vec<(u8, &str, &str)> {
        exposures
            .iter()
            .map(|e| (e.level, e.subject.as_str(), e.venue.as_str()))
            .collect()
    }

    #[test]
    fn a_shared_stay_is_a_close_contact_and_a_brief_one_is_not() {
        let visits = [
            entry("case", "metro", 0, 30),
            entry("long", "metro", 10, 60), // 10..30, +5 margin: 20 minutes
            entry("brief", "metro", 32, 60), // 32..35 with the margin: 3 minutes
            entry("elsewhere", "mall", 0, 60),
        ];
        let found = trace_all_pairs(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(1));
        assert_eq!(who(&found), vec![(1, "long", "metro")]);
        assert_eq!((found[0].from, found[0].until), (10 * MIN, 35 * MIN));
        assert_eq!(found[0].source, "case");
    }

    #[test]
    fn only_the_infectious_window_counts() {
        let visits = [
            entry("case", "metro", 0, 30),
            entry("case", "mall", 100, 30),
            entry("a", "metro", 0, 30),
            entry("b", "mall", 100, 30),
        ];
        let found = trace_all_pairs(
            &visits,
            "case",
            (60 * MIN, 200 * MIN),
            200 * MIN,
            &params(1),
        );
        assert_eq!(who(&found), vec![(1, "b", "mall")]);
    }

    #[test]
    fn secondary_contacts_come_from_after_the_first_exposure() {
        let visits = [
            entry("case", "metro", 100, 30),
            entry("close", "metro", 100, 30),
            entry("close", "office", 0, 60), // before exposure: no one is exposed here
            entry("early", "office", 0, 60),
            entry("close", "office", 200, 60), // after exposure
            entry("second", "office", 210, 60),
        ];
        let found = trace_all_pairs(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(2));
        assert_eq!(
            who(&found),
            vec![(1, "close", "metro"), (2, "second", "office")]
        );
        assert_eq!(found[1].source, "close");
        // Depth 1 stops at close contacts.
        let close_only = trace_all_pairs(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(1));
        assert_eq!(who(&close_only), vec![(1, "close", "metro")]);
    }

    #[test]
    fn an_exit_shortens_the_overlap() {
        let mut visits = vec![entry("case", "mall", 0, 120), entry("a", "mall", 0, 120)];
        visits.push(VisitPoint {
            direction: Direction::Exit,
            ..entry("a", "mall", 4, 0)
        });
        let found = trace_all_pairs(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(1));
        assert!(
            found.is_empty(),
            "4 minutes is below the minimum: {found:?}"
        );
    }
}
