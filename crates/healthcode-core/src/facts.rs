//! Recorded facts about a person, and the document that policy rules read.
//!
//! Facts are append-only. A wrong fact is withdrawn by a `Retraction`, an effect is ended by a
//! `Release`; nothing is edited. The document given to the rules (`FactDocument`) holds what was on
//! record at the instant of evaluation, with retractions applied, each list in time order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// One recorded fact: who it is about is implied by where it is stored; every fact names when it
/// was recorded and the legal basis it was recorded under (a document or case number, or
/// `self-declared` for a resident's own declarations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fact {
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._:-]{1,128}$"))]
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 500, pattern = r"\S")
    )]
    pub legal_basis: String,
    #[serde(flatten)]
    pub body: FactBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Confirmed,
    Suspected,
    Asymptomatic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Negative,
    Positive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContactLevel {
    Close,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObservationKind {
    Home,
    Centralized,
}

/// What a fact says. The `type` tag names the list it appears in within the rule document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FactBody {
    /// A confirmed, suspected or asymptomatic case (确诊 / 疑似 / 无症状感染者).
    Case {
        kind: CaseKind,
        #[serde(default, with = "time::serde::rfc3339::option")]
        onset_at: Option<OffsetDateTime>,
        #[serde(default, with = "time::serde::rfc3339::option")]
        sampled_at: Option<OffsetDateTime>,
        #[serde(default, with = "time::serde::rfc3339::option")]
        isolated_at: Option<OffsetDateTime>,
    },
    /// A nucleic-acid test result (核酸检测).
    Test {
        sample_id: String,
        result: TestOutcome,
        #[serde(with = "time::serde::rfc3339")]
        sampled_at: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        reported_at: OffsetDateTime,
    },
    /// Presence overlapping a case's at a venue (密接 / 次密接).
    Contact {
        level: ContactLevel,
        case_id: String,
        venue: String,
        #[serde(with = "time::serde::rfc3339")]
        exposure_start: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        exposure_end: OffsetDateTime,
    },
    /// A stay in a medium- or high-risk area (中/高风险地区).
    RiskStay {
        level: RiskLevel,
        region: String,
        #[serde(default)]
        venue: Option<String>,
        #[serde(with = "time::serde::rfc3339")]
        arrived_at: OffsetDateTime,
        #[serde(default, with = "time::serde::rfc3339::option")]
        left_at: Option<OffsetDateTime>,
    },
    /// A city on the telecom 14-day itinerary (通信行程卡).
    Itinerary { region: String, date: Date },
    /// A declared trip, past or planned.
    Trip {
        origin: String,
        destination: String,
        #[serde(default, with = "time::serde::rfc3339::option")]
        departed_at: Option<OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339")]
        arrived_at: OffsetDateTime,
        #[serde(default)]
        abroad: bool,
    },
    /// A daily health declaration (健康申报). Temperature in tenths of a degree Celsius, because
    /// rule comparisons are on integers.
    Declaration {
        #[serde(default)]
        temperature_decicelsius: Option<i64>,
        #[serde(default)]
        symptoms: Vec<String>,
        #[serde(default)]
        address: Option<String>,
        /// The county-level division (GB/T 2260) the person lives in (现居住区县), as declared.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        district: Option<String>,
    },
    /// Home observation or centralized quarantine (居家观察 / 集中隔离).
    Observation {
        kind: ObservationKind,
        #[serde(with = "time::serde::rfc3339")]
        start_at: OffsetDateTime,
        #[serde(default, with = "time::serde::rfc3339::option")]
        end_at: Option<OffsetDateTime>,
    },
    /// A daily check-in (每日打卡); `date` is the local calendar day it counts for.
    Checkin {
        date: Date,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        #[serde(default)]
        observation_id: Option<String>,
    },
    /// Ends the effect of the named fact at `at` (discharge, release from observation); the rules
    /// decide what a release means for each kind of fact.
    Release {
        releases: String,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Withdraws the named fact as if it had never been recorded (an upheld appeal, an error).
    Retraction { retracts: String, reason: String },
    /// Another region's signed statement of a person's status, received with their consent
    /// (互通互认: 湖北健康码 → 北京健康宝): the colour there, the rules that gave it, and until
    /// when. Not that region's facts; this region's policy decides what it means here.
    Attestation {
        /// GB/T 2260 code of the region that attested.
        origin: String,
        colour: crate::Color,
        /// The origin's rule ids behind the colour.
        #[serde(default)]
        rules: Vec<String>,
        /// When the colour ends there by time alone, if it does.
        #[serde(default, with = "time::serde::rfc3339::option")]
        until: Option<OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339")]
        attested_at: OffsetDateTime,
    },
}

/// Every kind of fact, by its `type` tag.
pub const KINDS: [&str; 12] = [
    "case",
    "test",
    "contact",
    "risk_stay",
    "itinerary",
    "trip",
    "declaration",
    "observation",
    "checkin",
    "release",
    "retraction",
    "attestation",
];

impl FactBody {
    /// The `type` tag of this kind of fact.
    pub fn kind(&self) -> &'static str {
        match self {
            FactBody::Case { .. } => "case",
            FactBody::Test { .. } => "test",
            FactBody::Contact { .. } => "contact",
            FactBody::RiskStay { .. } => "risk_stay",
            FactBody::Itinerary { .. } => "itinerary",
            FactBody::Trip { .. } => "trip",
            FactBody::Declaration { .. } => "declaration",
            FactBody::Observation { .. } => "observation",
            FactBody::Checkin { .. } => "checkin",
            FactBody::Release { .. } => "release",
            FactBody::Retraction { .. } => "retraction",
            FactBody::Attestation { .. } => "attestation",
        }
    }

    /// The list this kind of fact appears in within the rule document.
    pub fn list(&self) -> &'static str {
        match self {
            FactBody::Case { .. } => "cases",
            FactBody::Test { .. } => "tests",
            FactBody::Contact { .. } => "contacts",
            FactBody::RiskStay { .. } => "risk_stays",
            FactBody::Itinerary { .. } => "itinerary",
            FactBody::Trip { .. } => "trips",
            FactBody::Declaration { .. } => "declarations",
            FactBody::Observation { .. } => "observations",
            FactBody::Checkin { .. } => "checkins",
            FactBody::Release { .. } => "releases",
            FactBody::Retraction { .. } => "retractions",
            FactBody::Attestation { .. } => "attestations",
        }
    }
}

impl Fact {
    /// The instant a list is ordered by: when the thing happened, not when it was recorded.
    fn primary_time(&self) -> OffsetDateTime {
        match &self.body {
            FactBody::Test { sampled_at, .. } => *sampled_at,
            FactBody::Contact { exposure_end, .. } => *exposure_end,
            FactBody::RiskStay { arrived_at, .. } => *arrived_at,
            FactBody::Itinerary { date, .. } => date.midnight().assume_utc(),
            FactBody::Trip { arrived_at, .. } => *arrived_at,
            FactBody::Observation { start_at, .. } => *start_at,
            FactBody::Checkin { at, .. } => *at,
            FactBody::Release { at, .. } => *at,
            FactBody::Attestation { attested_at, .. } => *attested_at,
            FactBody::Case { .. } | FactBody::Declaration { .. } | FactBody::Retraction { .. } => {
                self.recorded_at
            }
        }
    }
}

/// How far ahead of the node's clock a time that already happened may be (a device's clock
/// that runs fast); beyond it the time is refused, or not counted.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// The window a fact's times must fall in, around the node's clock: nothing older than
/// `oldest`, nothing that already happened later than `now + CLOCK_SKEW`, and nothing planned
/// further ahead than `latest_planned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    pub oldest: OffsetDateTime,
    pub latest_past: OffsetDateTime,
    pub latest_planned: OffsetDateTime,
}

impl TimeBounds {
    /// Times from `max_age` before `now` to a year after it for plans.
    pub fn around(now: OffsetDateTime, max_age: time::Duration) -> TimeBounds {
        TimeBounds {
            oldest: now - max_age,
            latest_past: now + CLOCK_SKEW,
            latest_planned: now + time::Duration::days(366),
        }
    }
}

/// A time a fact gives that is out of bounds or out of order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeProblem {
    /// Earlier than the oldest time accepted.
    TooOld(&'static str),
    /// A time that has already happened, given in the future.
    InFuture(&'static str),
    /// A planned time too far ahead.
    TooFar(&'static str),
    /// The first field is later than the second.
    Order(&'static str, &'static str),
}

/// A bound as a message shows it: to the second.
fn shown(t: OffsetDateTime) -> String {
    rfc3339(t.replace_nanosecond(0).unwrap_or(t))
}

impl TimeProblem {
    pub fn en(&self, bounds: &TimeBounds) -> String {
        match self {
            TimeProblem::TooOld(f) => format!("{f} is earlier than {}", shown(bounds.oldest)),
            TimeProblem::InFuture(f) => format!("{f} is in the future"),
            TimeProblem::TooFar(f) => {
                format!("{f} is later than {}", shown(bounds.latest_planned))
            }
            TimeProblem::Order(a, b) => format!("{a} is later than {b}"),
        }
    }

    pub fn zh(&self, bounds: &TimeBounds) -> String {
        match self {
            TimeProblem::TooOld(f) => {
                format!("{f} 早于可接受的最早时间 {}", shown(bounds.oldest))
            }
            TimeProblem::InFuture(f) => format!("{f} 不能是将来的时间"),
            TimeProblem::TooFar(f) => {
                format!("{f} 晚于可接受的最晚时间 {}", shown(bounds.latest_planned))
            }
            TimeProblem::Order(a, b) => format!("{a} 不能晚于 {b}"),
        }
    }
}

impl FactBody {
    /// Checks every time the fact gives against `bounds`: what already happened lies between
    /// `oldest` and `latest_past`; what may be planned (a trip, an observation, a release) no
    /// later than `latest_planned`; and each pair in its order.
    pub fn check_times(&self, bounds: &TimeBounds) -> Result<(), TimeProblem> {
        let past = |field: &'static str, t: OffsetDateTime| {
            if t < bounds.oldest {
                Err(TimeProblem::TooOld(field))
            } else if t > bounds.latest_past {
                Err(TimeProblem::InFuture(field))
            } else {
                Ok(())
            }
        };
        let planned = |field: &'static str, t: OffsetDateTime| {
            if t < bounds.oldest {
                Err(TimeProblem::TooOld(field))
            } else if t > bounds.latest_planned {
                Err(TimeProblem::TooFar(field))
            } else {
                Ok(())
            }
        };
        let order = |a: (&'static str, OffsetDateTime), b: (&'static str, OffsetDateTime)| {
            if a.1 > b.1 {
                Err(TimeProblem::Order(a.0, b.0))
            } else {
                Ok(())
            }
        };
        match self {
            FactBody::Case {
                onset_at,
                sampled_at,
                isolated_at,
                ..
            } => {
                for (field, t) in [
                    ("onset_at", onset_at),
                    ("sampled_at", sampled_at),
                    ("isolated_at", isolated_at),
                ] {
                    if let Some(t) = t {
                        past(field, *t)?;
                    }
                }
            }
            FactBody::Test {
                sampled_at,
                reported_at,
                ..
            } => {
                past("sampled_at", *sampled_at)?;
                past("reported_at", *reported_at)?;
                order(("sampled_at", *sampled_at), ("reported_at", *reported_at))?;
            }
            FactBody::Contact {
                exposure_start,
                exposure_end,
                ..
            } => {
                past("exposure_start", *exposure_start)?;
                past("exposure_end", *exposure_end)?;
                order(
                    ("exposure_start", *exposure_start),
                    ("exposure_end", *exposure_end),
                )?;
            }
            FactBody::RiskStay {
                arrived_at,
                left_at,
                ..
            } => {
                past("arrived_at", *arrived_at)?;
                if let Some(left) = left_at {
                    past("left_at", *left)?;
                    order(("arrived_at", *arrived_at), ("left_at", *left))?;
                }
            }
            FactBody::Itinerary { date, .. } => past("date", date.midnight().assume_utc())?,
            FactBody::Trip {
                departed_at,
                arrived_at,
                ..
            } => {
                planned("arrived_at", *arrived_at)?;
                if let Some(departed) = departed_at {
                    planned("departed_at", *departed)?;
                    order(("departed_at", *departed), ("arrived_at", *arrived_at))?;
                }
            }
            FactBody::Observation {
                start_at, end_at, ..
            } => {
                planned("start_at", *start_at)?;
                if let Some(end) = end_at {
                    planned("end_at", *end)?;
                    order(("start_at", *start_at), ("end_at", *end))?;
                }
            }
            FactBody::Checkin { at, .. } => past("at", *at)?,
            FactBody::Release { at, .. } => planned("at", *at)?,
            FactBody::Attestation {
                attested_at, until, ..
            } => {
                past("attested_at", *attested_at)?;
                if let Some(until) = until {
                    planned("until", *until)?;
                }
            }
            FactBody::Declaration { .. } | FactBody::Retraction { .. } => {}
        }
        Ok(())
    }
}

/// Every list of the rule document, in the order they are documented.
pub const LISTS: [&str; 12] = [
    "cases",
    "tests",
    "contacts",
    "risk_stays",
    "itinerary",
    "trips",
    "declarations",
    "observations",
    "checkins",
    "releases",
    "retractions",
    "attestations",
];

/// The facts on record at one instant, as the rules see them: `{"cases": [...], "tests": [...], ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct FactDocument {
    pub lists: Value,
}

impl FactDocument {
    /// Builds the document as of `now`: facts recorded after `now` are not yet known; retracted
    /// facts are left out (a retraction can itself be retracted); each fact gets `released_at`, the
    /// earliest release naming it, or null.
    pub fn as_of(facts: &[Fact], now: OffsetDateTime) -> FactDocument {
        let known: Vec<&Fact> = facts.iter().filter(|f| f.recorded_at <= now).collect();
        let retracted = retracted_ids(&known);
        let effective: Vec<&Fact> = known
            .into_iter()
            .filter(|f| !retracted.contains(f.id.as_str()))
            .collect();

        let mut released: HashMap<&str, OffsetDateTime> = HashMap::new();
        for fact in &effective {
            if let FactBody::Release { releases, at } = &fact.body {
                let entry = released.entry(releases.as_str()).or_insert(*at);
                *entry = (*entry).min(*at);
            }
        }

        let mut ordered = effective;
        ordered.sort_by_key(|f| f.primary_time());
        // A daily check-in counts once per day, and only for a time no later than it was
        // recorded: fourteen sent at once, or one dated ahead, end nothing early.
        let mut days = HashSet::new();
        ordered.retain(|f| match &f.body {
            FactBody::Checkin { date, at, .. } => {
                *at <= f.recorded_at + CLOCK_SKEW && days.insert(*date)
            }
            _ => true,
        });
        let mut lists: Map<String, Value> = LISTS
            .iter()
            .map(|name| (name.to_string(), Value::Array(Vec::new())))
            .collect();
        for fact in ordered {
            let mut value = serde_json::to_value(fact).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.remove("type");
                let released_at = released.get(fact.id.as_str()).map(|t| json!(rfc3339(*t)));
                map.insert("released_at".into(), released_at.unwrap_or(Value::Null));
            }
            if let Some(Value::Array(list)) = lists.get_mut(fact.body.list()) {
                list.push(value);
            }
        }
        FactDocument {
            lists: Value::Object(lists),
        }
    }
}

/// Whether the fact `id`, among a person's `facts`, is on record and not withdrawn by a
/// retraction in force.
pub fn in_force(facts: &[Fact], id: &str) -> bool {
    let all: Vec<&Fact> = facts.iter().collect();
    facts.iter().any(|f| f.id == id) && !retracted_ids(&all).contains(id)
}

/// The retraction in force that withdraws the fact `id`, among a person's `facts`, if it is
/// withdrawn.
pub fn retraction_of<'a>(facts: &'a [Fact], id: &str) -> Option<&'a Fact> {
    let all: Vec<&Fact> = facts.iter().collect();
    let retracted = retracted_ids(&all);
    if !retracted.contains(id) {
        return None;
    }
    facts.iter().rev().find(|f| {
        !retracted.contains(f.id.as_str())
            && matches!(&f.body, FactBody::Retraction { retracts, .. } if retracts == id)
    })
}

/// Ids withdrawn by retractions that are themselves in force. A retraction may only withdraw a
/// fact recorded no later than itself, so walking from the newest fact to the oldest settles each
/// retraction before the fact it names.
fn retracted_ids<'a>(facts: &[&'a Fact]) -> HashSet<&'a str> {
    let mut by_time: Vec<(usize, &Fact)> = facts.iter().copied().enumerate().collect();
    by_time.sort_by_key(|(index, f)| (f.recorded_at, *index));
    let recorded: HashMap<&str, OffsetDateTime> = facts
        .iter()
        .map(|f| (f.id.as_str(), f.recorded_at))
        .collect();
    let mut retracted = HashSet::new();
    for (_, fact) in by_time.into_iter().rev() {
        if retracted.contains(fact.id.as_str()) {
            continue;
        }
        if let FactBody::Retraction { retracts, .. } = &fact.body
            && recorded
                .get(retracts.as_str())
                .is_some_and(|t| *t <= fact.recorded_at)
        {
            retracted.insert(retracts.as_str());
        }
    }
    retracted
}

/// RFC 3339 in UTC with a `Z`, the form CertLogic's `plusTime` reads.
pub fn rfc3339(t: OffsetDateTime) -> String {
    // Checked: a time at the edge of the representable years has no UTC form in range.
    t.checked_to_offset(time::UtcOffset::UTC)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// One fact of every kind and shape (present and absent optional times, each colour's
/// trigger), recorded around `start`: what a policy is tried on before it is published.
pub fn samples(start: OffsetDateTime) -> Vec<Fact> {
    let at = |hours: i64| start + time::Duration::hours(hours);
    let bodies = [
        FactBody::Case {
            kind: CaseKind::Confirmed,
            onset_at: Some(at(-48)),
            sampled_at: Some(at(-24)),
            isolated_at: Some(at(-12)),
        },
        FactBody::Case {
            kind: CaseKind::Asymptomatic,
            onset_at: None,
            sampled_at: None,
            isolated_at: None,
        },
        FactBody::Test {
            sample_id: "S-1".into(),
            result: TestOutcome::Negative,
            sampled_at: at(-6),
            reported_at: at(-2),
        },
        FactBody::Test {
            sample_id: "S-2".into(),
            result: TestOutcome::Positive,
            sampled_at: at(30),
            reported_at: at(36),
        },
        FactBody::Contact {
            level: ContactLevel::Close,
            case_id: "c-1".into(),
            venue: "venue".into(),
            exposure_start: at(-30),
            exposure_end: at(-29),
        },
        FactBody::Contact {
            level: ContactLevel::Secondary,
            case_id: "c-1".into(),
            venue: "venue".into(),
            exposure_start: at(-20),
            exposure_end: at(-19),
        },
        FactBody::RiskStay {
            level: RiskLevel::High,
            region: "420100".into(),
            venue: None,
            arrived_at: at(-72),
            left_at: Some(at(-24)),
        },
        FactBody::RiskStay {
            level: RiskLevel::Medium,
            region: "420100".into(),
            venue: Some("venue".into()),
            arrived_at: at(-72),
            left_at: None,
        },
        FactBody::Itinerary {
            region: "420100".into(),
            date: at(-24).date(),
        },
        FactBody::Trip {
            origin: "abroad".into(),
            destination: "330100".into(),
            departed_at: Some(at(-20)),
            arrived_at: at(-4),
            abroad: true,
        },
        FactBody::Trip {
            origin: "330100".into(),
            destination: "110000".into(),
            departed_at: None,
            arrived_at: at(48),
            abroad: false,
        },
        FactBody::Declaration {
            temperature_decicelsius: Some(381),
            symptoms: vec!["cough".into()],
            address: Some("address".into()),
            district: Some("330106".into()),
        },
        FactBody::Declaration {
            temperature_decicelsius: None,
            symptoms: Vec::new(),
            address: None,
            district: None,
        },
        FactBody::Observation {
            kind: ObservationKind::Home,
            start_at: at(-24),
            end_at: None,
        },
        FactBody::Observation {
            kind: ObservationKind::Centralized,
            start_at: at(-24),
            end_at: Some(at(24 * 14)),
        },
        FactBody::Checkin {
            date: at(0).date(),
            at: at(0),
            observation_id: None,
        },
        FactBody::Release {
            releases: "sample-0".into(),
            at: at(24),
        },
        FactBody::Attestation {
            origin: "420100".into(),
            colour: crate::Color::Red,
            rules: vec!["close-contact".into()],
            until: Some(at(24 * 10)),
            attested_at: at(-1),
        },
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(n, body)| Fact {
            id: format!("sample-{n}"),
            recorded_at: at(0),
            legal_basis: "sample".into(),
            body,
        })
        .collect()
}
