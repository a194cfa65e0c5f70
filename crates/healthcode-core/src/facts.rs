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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fact {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub legal_basis: String,
    #[serde(flatten)]
    pub body: FactBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Confirmed,
    Suspected,
    Asymptomatic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Negative,
    Positive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactLevel {
    Close,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObservationKind {
    Home,
    Centralized,
}

/// What a fact says. The `type` tag names the list it appears in within the rule document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
}

impl FactBody {
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
            FactBody::Case { .. } | FactBody::Declaration { .. } | FactBody::Retraction { .. } => {
                self.recorded_at
            }
        }
    }
}

/// Every list of the rule document, in the order they are documented.
pub const LISTS: [&str; 11] = [
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
        if let FactBody::Retraction { retracts, .. } = &fact.body {
            if recorded
                .get(retracts.as_str())
                .is_some_and(|t| *t <= fact.recorded_at)
            {
                retracted.insert(retracts.as_str());
            }
        }
    }
    retracted
}

/// RFC 3339 in UTC with a `Z`, the form CertLogic's `plusTime` reads.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}
