//! Proposing a risk area (中/高风险地区): who may, what a valid one is, and who it touches:
//! everyone present inside it (presence as tracing computes it, exits included) and, for a
//! region, everyone whose telecom itinerary was there on a day it covers. Each gets a staged
//! risk-stay fact; a second official's approval of the batch publishes the area.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::usecases::recording::{self, Via};
use healthcode_core::facts::{RiskLevel, TimeProblem};
use healthcode_core::region::RegionCode;
use healthcode_core::visits::{VisitPoint, presences};
use healthcode_core::{Fact, FactBody};
use healthcode_store::{Batch, BatchItem, RiskArea, from_ms, ms};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A risk area as proposed, its times read.
pub struct Proposed {
    /// GB/T 2260 code; a province or city covers the codes under it.
    pub region: String,
    /// One venue instead of a whole region.
    pub venue_id: Option<String>,
    pub name: String,
    pub level: RiskLevel,
    pub starts_at: OffsetDateTime,
    pub ends_at: Option<OffsetDateTime>,
    pub legal_basis: String,
}

/// Stages the area and a risk-stay fact for everyone it touches, for a second official.
pub async fn propose(
    state: &AppState,
    caller: &Caller,
    req: Proposed,
    now: OffsetDateTime,
) -> ApiResult<(RiskArea, Batch)> {
    recording::may_record(caller, "risk_stay", Via::Feed("risk_areas"))?;
    let basis = recording::legal_basis(&req.legal_basis)?;
    let region = RegionCode::parse(&req.region).map_err(|_| {
        ApiError::unprocessable(
            "bad_region",
            "a region is a six-digit GB/T 2260 code of a known province",
            "地区应为六位行政区划代码（省级代码须存在）",
        )
    })?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable(
            "bad_name",
            "a risk area needs a name of at most 100 characters",
            "风险地区需要名称（最多 100 个字符）",
        ));
    }
    let (starts_at, ends_at) = (req.starts_at, req.ends_at);
    let bounds = recording::bounds(state, now);
    let problem = if starts_at < bounds.oldest {
        Some(TimeProblem::TooOld("starts_at"))
    } else if starts_at > bounds.latest_past {
        Some(TimeProblem::InFuture("starts_at"))
    } else if ends_at.is_some_and(|e| e > bounds.latest_planned) {
        Some(TimeProblem::TooFar("ends_at"))
    } else {
        None
    };
    if let Some(p) = problem {
        return Err(ApiError::unprocessable(
            "bad_time",
            p.en(&bounds),
            p.zh(&bounds),
        ));
    }
    if ends_at.is_some_and(|e| e <= starts_at) {
        return Err(ApiError::unprocessable(
            "bad_time",
            "a risk area ends after it starts",
            "风险地区的结束时间应晚于开始时间",
        ));
    }
    let venue = match &req.venue_id {
        Some(id) => Some(
            state
                .store
                .venue(id)
                .await?
                .ok_or_else(|| ApiError::not_found("venue"))?,
        ),
        None => None,
    };
    let area = RiskArea {
        id: format!("ra-{}", crate::auth::random_hex(8)),
        region: req.region.clone(),
        venue_id: req.venue_id.clone(),
        name,
        level: match req.level {
            RiskLevel::Medium => "medium".into(),
            RiskLevel::High => "high".into(),
        },
        starts_at,
        ends_at,
        legal_basis: basis.clone(),
        batch_id: String::new(),
        state: "proposed".into(),
        affected: 0,
        proposed_by: String::new(),
        created_at: now,
    };
    let until = ends_at.unwrap_or(now).min(now);
    let mut stays =
        present_inside(state, &region, req.venue_id.as_deref(), starts_at, until).await?;
    if venue.is_none() {
        itinerary_inside(state, &region, starts_at, until, &mut stays).await?;
    }
    let items: Vec<BatchItem> = stays
        .into_iter()
        .map(|(person, (arrived, left))| BatchItem {
            fact: Fact {
                id: format!("risk-{}-{person}", area.id),
                recorded_at: now,
                legal_basis: basis.clone(),
                body: FactBody::RiskStay {
                    level: req.level,
                    region: req.region.clone(),
                    venue: venue.as_ref().map(|v| v.name.clone()),
                    arrived_at: arrived,
                    left_at: Some(left),
                },
            },
            person_id: person,
        })
        .collect();
    Ok(state
        .store
        .propose_risk_area(&area, &items, &caller.actor(basis), now)
        .await?)
}

/// Each person's stay inside the area: from the start of their first presence that began in
/// `[from, until)` to the end of their last, an exit scan closing a presence early.
async fn present_inside(
    state: &AppState,
    region: &RegionCode,
    venue_id: Option<&str>,
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> ApiResult<BTreeMap<String, (OffsetDateTime, OffsetDateTime)>> {
    // Exits up to a day later may close a presence that began inside the window. Each subject's
    // stay is widened as their visits stream past, so memory grows with people, not visits.
    let mut by_subject: BTreeMap<String, (OffsetDateTime, OffsetDateTime)> = BTreeMap::new();
    state
        .store
        .each_visit_group(
            region,
            venue_id,
            from,
            until + time::Duration::DAY,
            |visits| {
                let points: Vec<VisitPoint<&str>> = visits
                    .iter()
                    .map(|v| VisitPoint {
                        subject: v.subject.as_str(),
                        venue: v.venue.as_str(),
                        direction: v.direction,
                        at: v.at,
                        until: v.until,
                    })
                    .collect();
                for p in presences(&points) {
                    if p.from < ms(until) {
                        let subject = &visits[p.entry].subject;
                        widen(&mut by_subject, subject, from_ms(p.from), from_ms(p.until));
                    }
                }
            },
        )
        .await?;
    let subjects: Vec<String> = by_subject.keys().cloned().collect();
    let people = state.store.people_by_pseudonym(&subjects).await?;
    let mut stays = BTreeMap::new();
    for (subject, (from, to)) in by_subject {
        if let Some(person) = people.get(&subject) {
            widen(&mut stays, person, from, to);
        }
    }
    Ok(stays)
}

/// Adds everyone whose telecom itinerary was in the region on a day the window covers, for the
/// part of that day inside it.
async fn itinerary_inside(
    state: &AppState,
    area: &RegionCode,
    from: OffsetDateTime,
    until: OffsetDateTime,
    stays: &mut BTreeMap<String, (OffsetDateTime, OffsetDateTime)>,
) -> ApiResult<()> {
    for (person, fact) in state.store.itinerary_facts().await? {
        if let FactBody::Itinerary { region, date } = &fact.body {
            let day = date.midnight().assume_utc();
            let day_end = day + time::Duration::days(1);
            if area.covers(region) && day_end > from && day < until {
                widen(stays, &person, day.max(from), day_end.min(until));
            }
        }
    }
    Ok(())
}

fn widen(
    stays: &mut BTreeMap<String, (OffsetDateTime, OffsetDateTime)>,
    person: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) {
    let stay = stays.entry(person.to_owned()).or_insert((from, to));
    stay.0 = stay.0.min(from);
    stay.1 = stay.1.max(to);
}
