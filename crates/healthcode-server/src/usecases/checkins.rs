//! Venue check-ins (场所码登记): a resident scans the venue code posted at the door, for
//! themselves or a child in their care. Not doubled within the policy's window; flagged when the
//! phone is in another city than the venue, so that it counts as presence only once confirmed.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::scanning::same_city;
use crate::usecases::people::current_status;
use healthcode_core::visits::{Direction, dwell_minutes, parameter_i64};
use healthcode_pass::verify::Content;
use healthcode_store::{NewScan, NewVisit, Visit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// The venue code's text (`HCV1:…`), scanned with the phone or pasted.
    pub text: String,
    /// Whom the check-in is for: the resident or a child in their care (the resident when
    /// absent).
    #[serde(default)]
    pub person_id: Option<String>,
    /// Where the phone is (GB/T 2260 code, from its location services), if it can tell: a
    /// check-in far from the venue is flagged and counts as presence only once confirmed.
    #[serde(default)]
    pub region: Option<String>,
    /// `entry` (default) or `exit`.
    #[serde(default)]
    pub direction: Option<Direction>,
}

/// What a check-in answers: the visit and the colour to show staff at the door.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckinAnswer {
    pub visit: Visit,
    /// True when the same venue was checked in to within the policy's `checkin_dedup_minutes`:
    /// this is that check-in.
    pub duplicate: bool,
    pub venue_name: String,
    pub colour: String,
    pub colour_zh: String,
    pub masked_name: String,
    /// Whether the venue admits this colour.
    pub admit: bool,
    /// Each reason for the colour, in both languages.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Value>,
}

/// Checks a resident in; the answer says whether it was a check-in already made in the window.
pub async fn check_in(
    state: &AppState,
    caller: &Caller,
    req: CheckinRequest,
    now: OffsetDateTime,
) -> ApiResult<CheckinAnswer> {
    let Caller::Resident { people, .. } = caller else {
        return Err(ApiError::forbidden());
    };
    let person_id = match &req.person_id {
        Some(id) => id.clone(),
        None => people
            .iter()
            .find(|p| p.guardian_id.is_none())
            .or(people.first())
            .map(|p| p.id.clone())
            .ok_or_else(|| ApiError::not_found("an enrolled person for this phone"))?,
    };
    let report = state.passes.verify(req.text.trim(), now);
    let code = match (&report.content, report.valid) {
        (Some(Content::Venue(code)), true) => code.clone(),
        _ => {
            return Err(ApiError::unprocessable(
                "bad_venue_code",
                "not a valid venue code of a region this node trusts: scan the code posted at the venue",
                "不是有效的场所码，请扫描场所张贴的场所码",
            ));
        }
    };
    let venue = state
        .store
        .venue(&code.venue_id)
        .await?
        .ok_or_else(|| ApiError::not_found("venue (check in with the node of its region)"))?;
    let (person, status) = current_status(state, caller, &person_id, "checkin", now).await?;
    let shown_colour = crate::usecases::people::code_shown(&person, &status);
    let colour = shown_colour.as_str();
    let reasons = status
        .reasons
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let policy = state.policy.at(now);
    let policy = policy.document();
    let direction = req.direction.unwrap_or(Direction::Entry);
    let shown = |visit: Visit, duplicate: bool| CheckinAnswer {
        visit,
        duplicate,
        venue_name: venue.name.clone(),
        colour: colour.to_owned(),
        colour_zh: shown_colour.word_zh().to_owned(),
        masked_name: person.name_masked.clone(),
        admit: healthcode_core::visits::admits(policy, &venue.category, colour),
        reasons,
    };
    match direction {
        Direction::Entry => {
            let window = Duration::minutes(parameter_i64(policy, "checkin_dedup_minutes", 30));
            if let Some(visit) = state
                .store
                .latest_checkin(&person.pseudonym, &venue.id, now - window)
                .await?
                // A second check-in after leaving is a new stay, not the same one again.
                && open_entry(state, caller, &person.id, &venue.id, now)
                    .await?
                    .is_some_and(|open| open.visit.id == visit.id)
            {
                return Ok(shown(visit, true));
            }
        }
        Direction::Exit => {
            own_checkin(state, caller, &person.id, &venue.id, now).await?;
        }
    }
    let flag = match req.region.as_deref().map(str::trim) {
        Some(device) if !same_city(device, &venue.region) => Some(format!(
            "far_from_venue: the phone reported region {device}, the venue is in {}",
            venue.region
        )),
        _ => None,
    };
    let visit = record(state, &person, &venue, direction, colour, flag, now).await?;
    Ok(shown(visit, false))
}

/// Records the resident's own check-in or exit at a venue, as a scan of their phone, at the
/// node's time.
async fn record(
    state: &AppState,
    person: &healthcode_store::Person,
    venue: &healthcode_store::Venue,
    direction: Direction,
    colour: &str,
    flag: Option<String>,
    now: OffsetDateTime,
) -> ApiResult<Visit> {
    let policy = state.policy.at(now);
    let until = match direction {
        Direction::Entry => {
            now + Duration::minutes(dwell_minutes(policy.document(), &venue.category))
        }
        Direction::Exit => now,
    };
    let scan_id = crate::auth::random_hex(16);
    let scan = NewScan {
        source: format!("resident:{}", person.id),
        scan_id: scan_id.clone(),
        venue_id: venue.id.clone(),
        scanned_at: now,
        outcome: "admit",
        answer: serde_json::json!({"scan_id": scan_id, "checkin": true}).to_string(),
        visit: Some(NewVisit {
            subject: person.pseudonym.clone(),
            region: state.config.region.clone(),
            direction,
            via: "checkin",
            until,
            colour: colour.to_owned(),
            masked_name: person.name_masked.clone(),
            flag,
        }),
    };
    let recorded = state.recorder.record(vec![scan]).await?;
    let visit_id = recorded
        .first()
        .and_then(|r| r.visit_id.clone())
        .ok_or_else(ApiError::internal)?;
    state
        .store
        .visit(&visit_id)
        .await?
        .ok_or_else(ApiError::internal)
}

/// The person's latest entry at a venue while it still counts as presence, if any.
async fn open_entry(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    venue_id: &str,
    now: OffsetDateTime,
) -> ApiResult<Option<crate::usecases::visits::VisitView>> {
    let visits = crate::usecases::visits::of_person(
        state,
        caller,
        person_id,
        crate::usecases::visits::recent(now),
        now,
    )
    .await?;
    let latest = visits
        .into_iter()
        .filter(|v| v.visit.venue_id == venue_id && v.visit.direction == "entry")
        .max_by_key(|v| v.visit.at);
    Ok(latest.filter(|v| v.presence_end().is_some_and(|until| until > now)))
}

/// The open stay a resident's own exit may end: their latest entry at the venue, still open, a
/// confirmed check-in of their own. A stay a checkpoint recorded ends only by the checkpoint's
/// exit scan, so that no one shortens a stay that decides who was exposed.
async fn own_checkin(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    venue_id: &str,
    now: OffsetDateTime,
) -> ApiResult<Visit> {
    let open = open_entry(state, caller, person_id, venue_id, now)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "already_left",
                "there is no stay here to leave: it has ended",
                "这次到访已经结束，无需再登记离开",
            )
        })?;
    if open.visit.via != "checkin" {
        return Err(ApiError::conflict(
            "checkpoint_visit",
            "this stay was recorded by the venue's checkpoint: its exit is scanned there",
            "本次到访由场所卡口登记，离开时请在卡口扫码",
        ));
    }
    if !open.visit.confirmed {
        return Err(ApiError::conflict(
            "unconfirmed_checkin",
            "this check-in, far from the venue, awaits confirmation: it cannot be ended yet",
            "这次场所登记位置与场所不符，正在等待确认，暂不能登记离开",
        ));
    }
    Ok(open.visit)
}

/// The resident leaves a venue they checked in to and are still counted at: an exit now, by
/// the node's clock (never earlier), which ends that stay and no other.
pub async fn check_out(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    visit_id: &str,
    now: OffsetDateTime,
) -> ApiResult<Visit> {
    let Caller::Resident { .. } = caller else {
        return Err(ApiError::forbidden());
    };
    let entry = state
        .store
        .visit(visit_id)
        .await?
        .ok_or_else(|| ApiError::not_found("visit"))?;
    let open = own_checkin(state, caller, person_id, &entry.venue_id, now).await?;
    if open.id != entry.id {
        return Err(ApiError::conflict(
            "already_left",
            "this visit has ended: there is nothing to leave",
            "这次到访已经结束，无需再登记离开",
        ));
    }
    let venue = state
        .store
        .venue(&entry.venue_id)
        .await?
        .ok_or_else(|| ApiError::not_found("venue"))?;
    let (person, status) = current_status(state, caller, person_id, "checkout", now).await?;
    let colour = crate::usecases::people::code_shown(&person, &status);
    record(
        state,
        &person,
        &venue,
        Direction::Exit,
        colour.as_str(),
        None,
        now,
    )
    .await
}
