//! The visit log as people read it: a person's own visits (and their children's), a venue's log
//! for its manager and health officials (each staff read on the audit chain), each visit with
//! the presence it stands for; and confirming a flagged check-in.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::usecases::people::may_act_for;
use crate::usecases::venues;
use healthcode_core::visits::Direction;
use healthcode_store::Visit;
use serde::Serialize;
use time::OffsetDateTime;

/// From, to, and at most how many visits.
pub type Window = (OffsetDateTime, OffsetDateTime, i64);

/// The window read when none is asked for: the last fourteen days, up to a thousand visits.
pub fn recent(now: OffsetDateTime) -> Window {
    (
        now - time::Duration::days(14),
        now + time::Duration::minutes(1),
        1000,
    )
}

/// A visit with the presence it stands for: until its exit or its dwell time.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VisitView {
    #[serde(flatten)]
    pub visit: Visit,
    /// The end of presence: the exit scanned at the same venue, or `until`.
    pub presence_until: Option<String>,
}

impl VisitView {
    /// `presence_until` as an instant.
    pub fn presence_end(&self) -> Option<OffsetDateTime> {
        self.presence_until.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
    }
}

fn with_presence(visits: Vec<Visit>) -> Vec<VisitView> {
    use healthcode_core::visits::{VisitPoint, presences};
    use healthcode_store::ms;
    let points: Vec<VisitPoint<&str>> = visits
        .iter()
        .map(|v| VisitPoint {
            subject: v.subject.as_str(),
            venue: v.venue_id.as_str(),
            direction: Direction::parse(&v.direction).unwrap_or(Direction::Entry),
            at: ms(v.at),
            until: ms(v.until),
        })
        .collect();
    let mut ends = vec![None; visits.len()];
    for p in presences(&points) {
        ends[p.entry] = OffsetDateTime::from_unix_timestamp_nanos(i128::from(p.until) * 1_000_000)
            .ok()
            .map(rfc3339);
    }
    visits
        .into_iter()
        .zip(ends)
        .map(|(visit, presence_until)| VisitView {
            visit,
            presence_until,
        })
        .collect()
}

/// A person's visits (到访记录): the resident's own and their children's; staff reads are audited.
pub async fn of_person(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    (from, to, limit): Window,
    now: OffsetDateTime,
) -> ApiResult<Vec<VisitView>> {
    may_act_for(caller, person_id, &[Role::HealthOfficial, Role::Admin])?;
    let person = match caller {
        Caller::Resident { people, .. } => people.iter().find(|p| p.id == person_id).cloned(),
        Caller::Staff { .. } => {
            let actor = caller.actor("visit log query");
            state
                .store
                .audit(&actor, "visits.read", Some(person_id), "", now)
                .await?;
            state.store.person(person_id).await?
        }
    }
    .ok_or_else(|| ApiError::not_found("person"))?;
    let visits = state
        .store
        .visits_of_subject(&person.pseudonym, from, to, limit)
        .await?;
    Ok(with_presence(visits))
}

/// A venue's visit log, for health officials and the venue's manager; on the audit chain.
pub async fn at_venue(
    state: &AppState,
    caller: &Caller,
    venue_id: &str,
    (from, to, limit): Window,
    now: OffsetDateTime,
) -> ApiResult<Vec<VisitView>> {
    let venue = venues::managed(state, caller, venue_id, &[Role::HealthOfficial]).await?;
    state
        .store
        .audit(
            &caller.actor("venue visit log"),
            "venue.visits.read",
            None,
            &format!("venue {}", venue.id),
            now,
        )
        .await?;
    let visits = state
        .store
        .visits_at_venue(&venue.id, from, to, limit)
        .await?;
    Ok(with_presence(visits))
}

/// Confirms a flagged check-in (the person was there after all), so it counts as presence.
pub async fn confirm(
    state: &AppState,
    caller: &Caller,
    visit_id: &str,
    now: OffsetDateTime,
) -> ApiResult<Visit> {
    let visit = state
        .store
        .visit(visit_id)
        .await?
        .ok_or_else(|| ApiError::not_found("visit"))?;
    venues::managed(state, caller, &visit.venue_id, &[Role::HealthOfficial]).await?;
    Ok(state
        .store
        .confirm_visit(
            visit_id,
            &caller.actor("confirming a flagged check-in"),
            now,
        )
        .await?)
}
