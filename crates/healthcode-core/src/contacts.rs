//! Who was exposed (DESIGN.md §6): presences that overlap an infectious person's presence at the
//! same venue, with a margin, for at least a minimum time. The case's own presences count inside
//! its infectious window; a close contact's from their first exposure on, which finds secondary
//! contacts, and so on to the policy's depth.
//!
//! Two implementations of the same definition: `Trace` asks an indexed visit log (the store's
//! `(venue, at)` and `(subject, at)` indexes) only for the rows that can matter, level by level;
//! `trace_all_pairs` compares every pair of presences and is the reference it is tested against.

use crate::policy::PolicyDocument;
use crate::visits::{Direction, Presence, VisitPoint, dwell_minutes, parameter_i64, presences};
use hashbrown::{HashMap, HashSet};
use std::collections::BTreeMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The policy's tracing parameters, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParams {
    /// Widens each infectious presence on both sides (people linger at a door).
    pub margin_ms: i64,
    /// Overlaps shorter than this are no exposure.
    pub min_overlap_ms: i64,
    /// 1: close contacts only; 2: and secondary contacts; …
    pub depth: u8,
    /// The longest a visit stands for presence (the longest dwell time): how far back from an
    /// infectious span an indexed query must look for entries still present.
    pub longest_dwell_ms: i64,
}

impl TraceParams {
    /// From the policy's `contact_margin_minutes`, `contact_min_overlap_minutes`,
    /// `contact_depth` and `venue_dwell_minutes`.
    pub fn from_policy(policy: &PolicyDocument) -> TraceParams {
        let longest = policy
            .parameters
            .get("venue_dwell_minutes")
            .and_then(|t| t.as_object())
            .map(|t| {
                t.keys()
                    .map(|c| dwell_minutes(policy, c))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
            .max(dwell_minutes(policy, "other"));
        TraceParams {
            margin_ms: parameter_i64(policy, "contact_margin_minutes", 10).max(0) * MINUTE_MS,
            min_overlap_ms: parameter_i64(policy, "contact_min_overlap_minutes", 15).max(0)
                * MINUTE_MS,
            depth: parameter_i64(policy, "contact_depth", 2).clamp(0, 8) as u8,
            longest_dwell_ms: longest * MINUTE_MS,
        }
    }
}

/// The infectious window of a case (ms): from `infectious_days_before` (policy, default 2) days
/// before onset — or the positive sample when there are no symptoms, or the day it was recorded
/// when neither is known — to isolation, or `now` while the case is not isolated.
pub fn infectious_window(
    policy: &PolicyDocument,
    onset: Option<i64>,
    sampled: Option<i64>,
    recorded: i64,
    isolated: Option<i64>,
    now: i64,
) -> (i64, i64) {
    let days = parameter_i64(policy, "infectious_days_before", 2).max(0);
    let start = onset.or(sampled).unwrap_or(recorded) - days * DAY_MS;
    (start, isolated.unwrap_or(now).max(start))
}

/// One exposure: `subject` shared `venue` with `source` from `from` to `until`. The names are
/// shared: a resident of a busy compound is exposed there on several days, and the case is
/// the source of 100,000 exposures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Exposure {
    /// 1 for a close contact, 2 for a secondary contact, …
    pub level: u8,
    pub subject: Arc<str>,
    pub venue: Arc<str>,
    pub from: i64,
    pub until: i64,
    /// Whose presence it overlapped: the case, or the close contact for a secondary one.
    pub source: Arc<str>,
}

/// The subjects and venues a trace has met, numbered in the order met. Tracing compares,
/// sorts and hashes the numbers. The names are kept end to end in one text, with a hash table
/// of their numbers, so a name costs no allocation of its own: a busy venue brings 100,000.
#[derive(Debug, Default)]
pub struct Names {
    text: String,
    /// Where each name ends in `text`; it starts where the one before ends.
    ends: Vec<usize>,
    table: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Names {
    /// The number of `name`, given it now if it is new.
    pub fn number(&mut self, name: &str) -> u32 {
        let Names {
            text,
            ends,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(name);
        if let Some(&n) = table.find(hash, |&n| name_in(text, ends, n) == name) {
            return n;
        }
        let n = ends.len() as u32;
        text.push_str(name);
        ends.push(text.len());
        table.insert_unique(hash, n, |&m| hasher.hash_one(name_in(text, ends, m)));
        n
    }

    pub fn name(&self, number: u32) -> &str {
        name_in(&self.text, &self.ends, number)
    }

    /// How many names there are (the next number).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

fn name_in<'a>(text: &'a str, ends: &[usize], n: u32) -> &'a str {
    let n = n as usize;
    let start = if n == 0 { 0 } else { ends[n - 1] };
    &text[start..ends[n]]
}

/// A visit as the log gives it to tracing (only visits that count as presence: a flagged
/// check-in that no one confirmed is left out by the log), its subject and venue numbered by
/// the trace's `Names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedVisit {
    pub subject: u32,
    pub venue: u32,
    pub direction: Direction,
    pub at: i64,
    pub until: i64,
}

/// Where tracing reads visits from: two range queries on the visit log's indexes. Each numbers
/// the subjects and venues it returns in `names`.
pub trait VisitLog {
    type Error;
    /// Visits at `venue` made in `range` (`[from, to)`), except entries whose presence ended by
    /// `ended_by` (`until <= ended_by`): they can overlap nothing after it. Exits are all kept,
    /// since an exit closes an entry that may still matter.
    fn at_venue(
        &self,
        venue: &str,
        range: (i64, i64),
        ended_by: i64,
        names: &mut Names,
    ) -> impl Future<Output = Result<Vec<LoggedVisit>, Self::Error>> + Send;
    /// Visits of `subject` made in `range` (`[from, to)`).
    fn of_subject(
        &self,
        subject: &str,
        range: (i64, i64),
        names: &mut Names,
    ) -> impl Future<Output = Result<Vec<LoggedVisit>, Self::Error>> + Send;
}

/// An infectious span of one level: `source` was at `venue` from `from` to `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    source: u32,
    venue: u32,
    from: i64,
    until: i64,
}

/// An exposure by numbers: (subject, venue, from, until, source).
type Found = (u32, u32, i64, i64, u32);

/// A trace in progress, one level at a time, so a job can record each level as it is found.
#[derive(Debug)]
pub struct Trace {
    params: TraceParams,
    until: i64,
    level: u8,
    names: Names,
    known: HashSet<u32>,
    sources: Vec<Span>,
    /// Exposures this trace must not find, by subject: `[from, until]` spans an appeal waived.
    waived: HashMap<String, Vec<(i64, i64)>>,
    /// Visits fetched (a measure of the work done).
    pub rows_read: u64,
}

impl Trace {
    /// Starts from the case's presences inside `window`; contacts' presences count up to `until`.
    pub async fn start<L: VisitLog>(
        log: &L,
        case: &str,
        window: (i64, i64),
        until: i64,
        params: TraceParams,
    ) -> Result<Trace, L::Error> {
        let mut names = Names::default();
        let case_number = names.number(case);
        let rows = log
            .of_subject(
                case,
                (window.0 - params.longest_dwell_ms, window.1),
                &mut names,
            )
            .await?;
        let sources = spans_of(&rows, window.0, window.1);
        Ok(Trace {
            params,
            until,
            level: 0,
            names,
            known: [case_number].into(),
            sources,
            waived: HashMap::new(),
            rows_read: rows.len() as u64,
        })
    }

    /// Leaves out, at every level, `subject`'s exposures that overlap `[from, until]`: an
    /// appeal found the person was no contact then. Their presence there seeds no one else.
    pub fn waive(&mut self, subject: &str, from: i64, until: i64) {
        self.waived
            .entry(subject.to_owned())
            .or_default()
            .push((from, until));
    }

    /// The level the next call finds (1 for close contacts).
    pub fn next_level_number(&self) -> u8 {
        self.level + 1
    }

    /// Finds the next level's exposures, or `None` when the depth is reached or no one is left.
    pub async fn next_level<L: VisitLog>(
        &mut self,
        log: &L,
    ) -> Result<Option<Vec<Exposure>>, L::Error> {
        if self.level >= self.params.depth || self.sources.is_empty() {
            return Ok(None);
        }
        self.level += 1;
        let p = self.params;
        let reach = p.margin_ms + p.longest_dwell_ms;
        let mut by_venue: BTreeMap<u32, Vec<Span>> = BTreeMap::new();
        for span in &self.sources {
            by_venue.entry(span.venue).or_default().push(*span);
        }
        let mut found: Vec<Found> = Vec::new();
        for (venue, mut spans) in by_venue {
            spans.sort_by_key(|s| s.from);
            // One query per run of spans whose look-back ranges overlap. Entries that began
            // within the longest dwell before a span but ended before it (less the margin)
            // are left in the index.
            let mut runs: Vec<(i64, i64, Vec<Span>)> = Vec::new();
            for span in spans {
                let (lo, hi) = (span.from - reach, span.until + p.margin_ms);
                match runs.last_mut() {
                    Some(run) if lo <= run.1 => {
                        run.1 = run.1.max(hi);
                        run.2.push(span);
                    }
                    _ => runs.push((lo, hi, vec![span])),
                }
            }
            let venue_name = self.names.name(venue).to_owned();
            for (lo, hi, run) in runs {
                let ended_by = lo + p.longest_dwell_ms;
                let rows = log
                    .at_venue(&venue_name, (lo, hi), ended_by, &mut self.names)
                    .await?;
                self.rows_read += rows.len() as u64;
                let points = points_of(&rows);
                let mut present: Vec<Presence> = presences(&points)
                    .into_iter()
                    .filter(|pr| !self.known.contains(&points[pr.entry].subject))
                    .collect();
                present.sort_by_key(|pr| pr.from);
                for span in run {
                    // Presences that can overlap began within `reach` before the span.
                    let first = present.partition_point(|pr| pr.from < span.from - reach);
                    let last = present.partition_point(|pr| pr.from < span.until + p.margin_ms);
                    for pr in &present[first..last] {
                        if let Some((from, until)) =
                            overlap((span.from, span.until), (pr.from, pr.until), &p)
                        {
                            found.push((points[pr.entry].subject, venue, from, until, span.source));
                        }
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        if !self.waived.is_empty() {
            let names = &self.names;
            let waived = &self.waived;
            found.retain(|&(subject, _, from, until, _)| {
                waived
                    .get(names.name(subject))
                    .is_none_or(|spans| !spans.iter().any(|&(lo, hi)| from <= hi && until >= lo))
            });
        }
        // The next level's sources: each new contact's presences from their first exposure on.
        let mut first: HashMap<u32, i64> = HashMap::new();
        for &(subject, _, from, _, _) in &found {
            let at = first.entry(subject).or_insert(from);
            *at = (*at).min(from);
        }
        let mut sources = Vec::new();
        if self.level < p.depth {
            for (&subject, &start) in &first {
                let name = self.names.name(subject).to_owned();
                let rows = log
                    .of_subject(
                        &name,
                        (start - p.longest_dwell_ms, self.until),
                        &mut self.names,
                    )
                    .await?;
                self.rows_read += rows.len() as u64;
                sources.extend(spans_of(&rows, start, self.until));
            }
        }
        self.known.extend(first.keys());
        self.sources = sources;
        // In the order of the numbers (the order met), which is as repeatable as the log.
        let names = &self.names;
        let mut shared: Vec<Option<Arc<str>>> = vec![None; names.len()];
        let mut name = |n: u32| {
            shared[n as usize]
                .get_or_insert_with(|| names.name(n).into())
                .clone()
        };
        let exposures = found
            .into_iter()
            .map(|(subject, venue, from, until, source)| Exposure {
                level: self.level,
                subject: name(subject),
                venue: name(venue),
                from,
                until,
                source: name(source),
            })
            .collect();
        Ok(Some(exposures))
    }
}

/// Every level's exposures, in order.
pub async fn trace<L: VisitLog>(
    log: &L,
    case: &str,
    window: (i64, i64),
    until: i64,
    params: TraceParams,
) -> Result<Vec<Exposure>, L::Error> {
    let mut trace = Trace::start(log, case, window, until, params).await?;
    let mut out = Vec::new();
    while let Some(level) = trace.next_level(log).await? {
        out.extend(level);
    }
    out.sort();
    Ok(out)
}

fn points_of(rows: &[LoggedVisit]) -> Vec<VisitPoint<u32>> {
    rows.iter()
        .map(|v| VisitPoint {
            subject: v.subject,
            venue: v.venue,
            direction: v.direction,
            at: v.at,
            until: v.until,
        })
        .collect()
}

/// The presences among `rows`, clipped to `[from, until]`, as infectious spans.
fn spans_of(rows: &[LoggedVisit], from: i64, until: i64) -> Vec<Span> {
    let points = points_of(rows);
    presences(&points)
        .into_iter()
        .filter_map(|p| {
            let (a, b) = (p.from.max(from), p.until.min(until));
            (b > a).then(|| Span {
                source: points[p.entry].subject,
                venue: points[p.entry].venue,
                from: a,
                until: b,
            })
        })
        .collect()
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
    visits: &[VisitPoint<&str>],
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
                    subject: subject.into(),
                    venue: venue.into(),
                    from,
                    until,
                    source: source.into(),
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

/// The contact fact a person holds for one level, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldContact {
    /// The infected person whose case made it (their pseudonymous id).
    pub case_person: String,
    pub fact_id: String,
    /// The fact's body as recorded, to tell an unchanged re-run from a change.
    pub digest: String,
    /// Milliseconds since the epoch.
    pub exposure_end: i64,
}

/// What a newly traced contact fact does to the one a person holds for the same level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactUpdate {
    /// Nothing: the held fact is the same, or another case's exposure that ends later.
    Keep,
    /// Record the new fact; none was held.
    Record,
    /// Record the new fact and retract the held one (`fact_id`): a person is never a close
    /// contact twice over.
    Replace(String),
}

/// One contact fact per person and level. A re-run that finds the same exposure changes
/// nothing; a change from the same infected person (a later case of theirs, a re-run that
/// finds more) replaces what is held; a fact from another case replaces it when its exposure
/// ends no earlier, since the later exposure is the one the observation period counts from.
pub fn contact_update(
    held: Option<&HeldContact>,
    case_person: &str,
    digest: &str,
    exposure_end: i64,
) -> ContactUpdate {
    match held {
        None => ContactUpdate::Record,
        Some(h) if h.digest == digest => ContactUpdate::Keep,
        Some(h) if h.case_person != case_person && h.exposure_end > exposure_end => {
            ContactUpdate::Keep
        }
        Some(h) => ContactUpdate::Replace(h.fact_id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visits::Direction;

    const MIN: i64 = 60_000;

    fn entry<'a>(
        subject: &'a str,
        venue: &'a str,
        at_min: i64,
        dwell_min: i64,
    ) -> VisitPoint<&'a str> {
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
            longest_dwell_ms: 120 * MIN,
        }
    }

    /// The visit log in memory, answering the two range queries by scanning.
    struct Memory(Vec<(String, String, Direction, i64, i64)>);

    impl VisitLog for Memory {
        type Error = std::convert::Infallible;
        fn at_venue(
            &self,
            venue: &str,
            range: (i64, i64),
            ended_by: i64,
            names: &mut Names,
        ) -> impl Future<Output = Result<Vec<LoggedVisit>, Self::Error>> + Send {
            let keep = |v: &(String, String, Direction, i64, i64)| {
                v.1 == venue && (v.2 == Direction::Exit || v.4 > ended_by)
            };
            std::future::ready(Ok(self.select(keep, range, names)))
        }
        fn of_subject(
            &self,
            subject: &str,
            range: (i64, i64),
            names: &mut Names,
        ) -> impl Future<Output = Result<Vec<LoggedVisit>, Self::Error>> + Send {
            std::future::ready(Ok(self.select(|v| v.0 == subject, range, names)))
        }
    }

    impl Memory {
        fn of(visits: &[VisitPoint<&str>]) -> Memory {
            Memory(
                visits
                    .iter()
                    .map(|v| {
                        let (s, p) = (v.subject.to_owned(), v.venue.to_owned());
                        (s, p, v.direction, v.at, v.until)
                    })
                    .collect(),
            )
        }

        fn select(
            &self,
            keep: impl Fn(&(String, String, Direction, i64, i64)) -> bool,
            (from, to): (i64, i64),
            names: &mut Names,
        ) -> Vec<LoggedVisit> {
            self.0
                .iter()
                .filter(|v| keep(v) && v.3 >= from && v.3 < to)
                .map(|(subject, venue, direction, at, until)| LoggedVisit {
                    subject: names.number(subject),
                    venue: names.number(venue),
                    direction: *direction,
                    at: *at,
                    until: *until,
                })
                .collect()
        }
    }

    /// Runs a future that never waits (the in-memory log answers at once).
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// Both implementations, which must agree.
    fn both(
        visits: &[VisitPoint<&str>],
        case: &str,
        window: (i64, i64),
        until: i64,
        params: &TraceParams,
    ) -> Vec<Exposure> {
        let reference = trace_all_pairs(visits, case, window, until, params);
        let indexed = ready(trace(&Memory::of(visits), case, window, until, *params));
        match indexed {
            Ok(found) => {
                assert_eq!(found, reference, "indexed tracing disagrees with all pairs");
                found
            }
            Err(never) => match never {},
        }
    }

    fn who(exposures: &[Exposure]) -> Vec<(u8, &str, &str)> {
        exposures
            .iter()
            .map(|e| (e.level, &*e.subject, &*e.venue))
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
        let found = both(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(1));
        assert_eq!(who(&found), vec![(1, "long", "metro")]);
        assert_eq!((found[0].from, found[0].until), (10 * MIN, 35 * MIN));
        assert_eq!(&*found[0].source, "case");
    }

    #[test]
    fn only_the_infectious_window_counts() {
        let visits = [
            entry("case", "metro", 0, 30),
            entry("case", "mall", 100, 30),
            entry("a", "metro", 0, 30),
            entry("b", "mall", 100, 30),
        ];
        let found = both(
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
        let found = both(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(2));
        assert_eq!(
            who(&found),
            vec![(1, "close", "metro"), (2, "second", "office")]
        );
        assert_eq!(&*found[1].source, "close");
        // Depth 1 stops at close contacts.
        let close_only = both(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(1));
        assert_eq!(who(&close_only), vec![(1, "close", "metro")]);
    }

    #[test]
    fn an_exit_shortens_the_overlap() {
        let mut visits = vec![entry("case", "mall", 0, 120), entry("a", "mall", 0, 120)];
        visits.push(VisitPoint {
            direction: Direction::Exit,
            ..entry("a", "mall", 4, 0)
        });
        let found = both(&visits, "case", (0, 1000 * MIN), 1000 * MIN, &params(1));
        assert!(
            found.is_empty(),
            "4 minutes is below the minimum: {found:?}"
        );
    }

    mod random_cities {
        use super::*;
        use proptest::prelude::*;

        /// (subject, venue, minute, dwell minutes, is an exit)
        fn visit() -> impl Strategy<Value = (usize, usize, i64, i64, bool)> {
            (
                0usize..10,
                0usize..4,
                0i64..3000,
                1i64..=120,
                prop::bool::weighted(0.15),
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn indexed_tracing_agrees_with_all_pairs(
                raw in prop::collection::vec(visit(), 0..60),
                window_from in 0i64..360,
                window_len in 0i64..720,
                margin in 0i64..20,
                min_overlap in 0i64..40,
                depth in 1u8..4,
            ) {
                let subjects: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
                let venues: Vec<String> = (0..4).map(|i| format!("v{i}")).collect();
                let visits: Vec<VisitPoint<&str>> = raw
                    .iter()
                    .map(|&(s, v, at, dwell, exit)| VisitPoint {
                        subject: subjects[s].as_str(),
                        venue: venues[v].as_str(),
                        direction: if exit { Direction::Exit } else { Direction::Entry },
                        at: at * MIN,
                        until: (at + if exit { 0 } else { dwell }) * MIN,
                    })
                    .collect();
                let params = TraceParams {
                    margin_ms: margin * MIN,
                    min_overlap_ms: min_overlap * MIN,
                    depth,
                    longest_dwell_ms: 120 * MIN,
                };
                let window = (window_from * MIN, (window_from + window_len) * MIN);
                // `both` asserts that the two agree.
                let found = both(&visits, "s0", window, 1000 * MIN, &params);
                prop_assert!(found.iter().all(|e| &*e.subject != "s0" && e.until - e.from >= params.min_overlap_ms.max(1)));
            }
        }
    }

    #[test]
    fn a_later_exposure_supersedes_and_an_earlier_one_of_another_case_does_not() {
        let held = HeldContact {
            case_person: "a".into(),
            fact_id: "f1".into(),
            digest: "d1".into(),
            exposure_end: 100,
        };
        assert_eq!(contact_update(None, "a", "d1", 100), ContactUpdate::Record);
        assert_eq!(
            contact_update(Some(&held), "a", "d1", 100),
            ContactUpdate::Keep
        );
        // The same infected person, a different finding: replaced whatever its end.
        assert_eq!(
            contact_update(Some(&held), "a", "d2", 50),
            ContactUpdate::Replace("f1".into())
        );
        // Another case: only an exposure ending no earlier replaces it.
        assert_eq!(
            contact_update(Some(&held), "b", "d3", 99),
            ContactUpdate::Keep
        );
        assert_eq!(
            contact_update(Some(&held), "b", "d3", 100),
            ContactUpdate::Replace("f1".into())
        );
    }
}
