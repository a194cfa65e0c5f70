//! The return journey (返程), its first half (the second is `arrivals`): a resident applies to come back for themselves and
//! the children in their care; a worker of the destination community verifies by phone and
//! decides; a carrier may sell a ticket only for an approved person within the travel window,
//! and reports the booking (held → paid, or lapsed when not paid in time). An application no
//! worker has touched in `returns.escalate_after_hours` is escalated to the street office: it
//! shows in the queue of every account whose scope covers the community.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::usecases::people::{document, may_act_for};
use healthcode_core::identity::DocumentKind;
use healthcode_core::returns::{
    self, BookingState, CallOutcome, Decision, Refusal, ReturnState, Transport, travel_window,
};
use healthcode_core::{FactBody, Text};
use healthcode_store::{Booking, NewReturn, NewStep, ReturnApplication};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// What a resident applies with.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Who returns: the applicant and children in their care (person ids); the first is the
    /// applicant.
    pub members: Vec<String>,
    /// GB/T 2260 code of the region returned from.
    pub origin: String,
    /// district-street-community code of the destination, e.g. `110105-003-002`.
    pub community: String,
    /// The address within the community.
    #[schema(min_length = 1, max_length = 200)]
    pub address: String,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    pub planned_date: Date,
    pub transport: Transport,
}

/// A worker's call to the applicant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    pub outcome: CallOutcome,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: String,
}

/// A worker's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `approve` or `reject`.
    pub decision: String,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// A community's queue: its applications, and which of them are escalated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queue {
    pub applications: Vec<ReturnApplication>,
    /// Ids of applications waiting too long: submitted and untouched for
    /// `returns.escalate_after_hours`, or arrived or handed on and not received by the next side
    /// within `returns.handoff_minutes`.
    pub escalated: Vec<String>,
}

/// A passenger as a carrier names them: by document.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Passenger {
    pub document_kind: DocumentKind,
    pub document_number: String,
    /// For a passport: the issuing country (ISO 3166 alpha-3).
    #[serde(default)]
    pub country: Option<String>,
}

/// Whether a passenger may be sold a ticket, and for which days: nothing else about them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Eligibility {
    pub eligible: bool,
    pub from: Option<Date>,
    pub until: Option<Date>,
}

/// A booking as a carrier reports it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingReport {
    pub document_kind: DocumentKind,
    pub document_number: String,
    /// For a passport: the issuing country (ISO 3166 alpha-3).
    #[serde(default)]
    pub country: Option<String>,
    /// The carrier's booking reference.
    #[schema(min_length = 1, max_length = 64)]
    pub reference: String,
    /// Train or flight number.
    #[schema(min_length = 1, max_length = 16)]
    pub service: String,
    pub travel_date: Date,
    /// The arrival station.
    #[schema(min_length = 1, max_length = 64)]
    pub station: String,
    #[schema(max_length = 16)]
    pub seat: String,
    pub state: BookingState,
}

pub(crate) fn text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> ApiResult<String> {
    let value = value.trim();
    if (required && value.is_empty())
        || value.chars().count() > max
        || value.chars().any(char::is_control)
    {
        return Err(ApiError::unprocessable(
            "bad_field",
            format!(
                "{field}: {} at most {max} characters, no control characters",
                if required { "1 to" } else { "" }
            ),
            format!(
                "{field}：最多 {max} 个字符，不含控制字符{}",
                if required { "，且不能为空" } else { "" }
            ),
        ));
    }
    Ok(value.to_owned())
}

pub(crate) fn step_message(zh: String, en: String) -> Text {
    Text { zh, en }
}

/// Files an application for the caller and children in their care.
pub async fn apply(
    state: &AppState,
    caller: &Caller,
    req: ApplyRequest,
    now: OffsetDateTime,
) -> ApiResult<ReturnApplication> {
    let Caller::Resident { .. } = caller else {
        return Err(ApiError::forbidden());
    };
    // Each person once, the applicant first, however often the request names them.
    let mut seen = std::collections::HashSet::new();
    let members: Vec<String> = req
        .members
        .iter()
        .filter(|m| seen.insert(m.as_str()))
        .cloned()
        .collect();
    if members.is_empty() || members.len() > 10 {
        return Err(ApiError::unprocessable(
            "bad_members",
            "name 1 to 10 people returning: yourself and children in your care",
            "请填写 1 至 10 名返程人员：本人及其监护的儿童",
        ));
    }
    for m in &members {
        may_act_for(caller, m, &[])?;
    }
    let origin = req.origin.trim();
    if origin.len() != 6
        || !origin.bytes().all(|b| b.is_ascii_digit())
        || origin == state.config.region
    {
        return Err(ApiError::unprocessable(
            "bad_origin",
            "the origin is another region's 6-digit GB/T 2260 code",
            "出发地应为其他地区的 6 位行政区划代码",
        ));
    }
    if !returns::valid_community(&req.community) {
        return Err(ApiError::unprocessable(
            "bad_community",
            "the community is district-street-community, e.g. 110105-003-002",
            "社区编码格式为 区县-街道-社区，例如 110105-003-002",
        ));
    }
    let today = now.date();
    if req.planned_date < today || req.planned_date > today + Duration::days(90) {
        return Err(ApiError::unprocessable(
            "bad_date",
            "the planned date is from today to 90 days ahead",
            "计划返程日期应为今天起 90 天内",
        ));
    }
    let applicant = members[0].clone();
    let facts = state.store.facts(&applicant).await?;
    // The origin's signed statement, when the person had it carried over with consent;
    // otherwise the colour derived here from what they declared.
    let attested = facts.iter().rev().find_map(|f| match &f.body {
        FactBody::Attestation {
            origin: o, colour, ..
        } if o == origin => Some(*colour),
        _ => None,
    });
    let (origin_colour, origin_basis) = match attested {
        Some(colour) => (colour, "attested"),
        None => (state.policy.evaluate(&facts, now).color, "declared"),
    };
    let new = NewReturn {
        applicant_id: applicant,
        members,
        origin: origin.to_owned(),
        community: req.community.clone(),
        address: text("address", &req.address, 200, true)?,
        reason: text("reason", &req.reason, 500, true)?,
        planned_date: req.planned_date,
        transport: req.transport.as_str().to_owned(),
        origin_colour: origin_colour.as_str().to_owned(),
        origin_basis: origin_basis.to_owned(),
    };
    let message = step_message(
        format!(
            "您的返程申请已提交，社区将电话核实（计划 {} 返回）。",
            req.planned_date
        ),
        format!(
            "Your return application was filed; your community will call to verify it (planned for {}).",
            req.planned_date
        ),
    );
    Ok(state
        .store
        .create_return(&new, &message, &caller.actor("return application"), now)
        .await?)
}

/// The applications a person is on (the person, their guardian, or a caseworker).
pub async fn of_person(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
) -> ApiResult<Vec<ReturnApplication>> {
    may_act_for(caller, person_id, &[Role::HealthOfficial, Role::Admin])?;
    Ok(state.store.returns_of_person(person_id).await?)
}

/// The scope of a community worker: the district, street or community they work for.
pub(crate) async fn scope_of(state: &AppState, caller: &Caller) -> ApiResult<String> {
    caller.require(&[Role::CommunityWorker])?;
    let Caller::Staff { account, .. } = caller else {
        return Err(ApiError::forbidden());
    };
    state
        .store
        .account_scope(&account.id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "no_scope",
                "this account works for no community yet: an administrator sets its scope",
                "该账号尚未指定所属街道或社区，请联系管理员设置",
            )
        })
}

/// An application the caller may see: on it, or a worker whose scope covers its community.
/// Another community's application is answered as not found, so its existence does not leak.
pub async fn one(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ReturnApplication> {
    let app = state
        .store
        .return_application(id)
        .await?
        .ok_or_else(|| ApiError::not_found("return application"))?;
    let allowed = match caller {
        Caller::Resident { .. } => app.members.iter().any(|m| caller.acts_for(m)),
        Caller::Staff {
            role: Role::CommunityWorker,
            ..
        } => returns::covers(&scope_of(state, caller).await?, &app.community),
        Caller::Staff { .. } => false,
    };
    if allowed {
        Ok(app)
    } else {
        Err(ApiError::not_found("return application"))
    }
}

/// A worker's queue: the applications within their scope, and the escalated ones.
pub async fn queue(state: &AppState, caller: &Caller, now: OffsetDateTime) -> ApiResult<Queue> {
    queue_in(state, &scope_of(state, caller).await?, now).await
}

/// The queue of a scope (empty: the whole region).
pub(crate) async fn queue_in(
    state: &AppState,
    scope: &str,
    now: OffsetDateTime,
) -> ApiResult<Queue> {
    let applications = state.store.returns_in_scope(scope, 1_000).await?;
    let after = Duration::hours(state.config.returns.escalate_after_hours.max(1));
    let handoff = Duration::minutes(state.config.returns.handoff_minutes.max(1));
    let escalated = applications
        .iter()
        .filter(|a| {
            let untouched = a.state == ReturnState::Submitted
                && a.touched_at.unwrap_or(a.created_at) + after <= now;
            // Arrived or handed on, and not received by the next side in time.
            let waiting = returns::in_transit(a.state)
                && a.steps.last().map_or(a.created_at, |s| s.at) + handoff <= now;
            untouched || waiting
        })
        .map(|a| a.id.clone())
        .collect();
    Ok(Queue {
        applications,
        escalated,
    })
}

/// Records a call to the applicant.
pub async fn call(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: CallRequest,
    now: OffsetDateTime,
) -> ApiResult<ReturnApplication> {
    let app = one(state, caller, id).await?;
    if app.state != ReturnState::Submitted {
        return Err(decided());
    }
    let note = text("note", &req.note, 500, false)?;
    let step = NewStep {
        kind: "call",
        outcome: req.outcome.as_str(),
        note: &note,
        from: app.state,
        to: app.state,
        touches: true,
        message: step_message(
            "社区工作人员已就您的返程申请与您联系（或尝试联系）。".into(),
            "A community worker called (or tried to call) you about your return application."
                .into(),
        ),
    };
    Ok(state
        .store
        .add_return_step(id, &step, &caller.actor("return verification"), now)
        .await?)
}

fn decided() -> ApiError {
    ApiError::conflict(
        "already_decided",
        "this application was decided already",
        "该申请已有审核结果",
    )
}

/// Approves or rejects: approving needs a call that confirmed the address.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: DecisionRequest,
    now: OffsetDateTime,
) -> ApiResult<ReturnApplication> {
    let app = one(state, caller, id).await?;
    let decision = match req.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => {
            return Err(ApiError::unprocessable(
                "bad_decision",
                "the decision is approve or reject",
                "审核结果应为 approve（通过）或 reject（不通过）",
            ));
        }
    };
    let reason = text("reason", &req.reason, 500, true)?;
    let confirmed = app
        .steps
        .iter()
        .any(|s| s.kind == "call" && s.outcome == CallOutcome::AddressConfirmed.as_str());
    let to = returns::decide(app.state, decision, confirmed).map_err(|r| match r {
        Refusal::Decided => decided(),
        Refusal::Unverified => ApiError::conflict(
            "not_verified",
            "record a call that confirmed the address before approving",
            "请先电话核实并确认地址，再审核通过",
        ),
        Refusal::OutOfOrder => decided(),
    })?;
    let (window_from, window_until) =
        travel_window(app.planned_date, state.config.returns.window_days);
    let message = match to {
        ReturnState::Approved => step_message(
            format!("您的返程申请已通过，可在 {window_from} 至 {window_until} 购票返程。"),
            format!(
                "Your return application is approved: you may buy a ticket for {window_from} to {window_until}."
            ),
        ),
        _ => step_message(
            format!("您的返程申请未通过：{reason}"),
            format!("Your return application was not approved: {reason}"),
        ),
    };
    let step = NewStep {
        kind: to.as_str(),
        outcome: to.as_str(),
        note: &reason,
        from: app.state,
        to,
        touches: true,
        message,
    };
    Ok(state
        .store
        .add_return_step(id, &step, &caller.actor("return decision"), now)
        .await?)
}

/// The approved application a passenger travels on and its window, if any.
async fn approved_for(
    state: &AppState,
    passenger: &Passenger,
    now: OffsetDateTime,
) -> ApiResult<Option<(String, ReturnApplication, (Date, Date))>> {
    let doc = document(
        passenger.document_kind,
        passenger.document_number.trim(),
        passenger.country.as_deref(),
        now,
    )?;
    let Some(person) = state.store.find_by_document(&doc).await? else {
        return Ok(None);
    };
    let window_days = state.config.returns.window_days;
    let found = state
        .store
        .returns_of_person(&person.id)
        .await?
        .into_iter()
        .filter(|a| a.state == ReturnState::Approved)
        .map(|a| {
            let window = travel_window(a.planned_date, window_days);
            (a, window)
        })
        .find(|(_, (_, until))| *until >= now.date());
    Ok(found.map(|(a, w)| (person.id, a, w)))
}

/// Whether a carrier may sell this passenger a ticket, and for which days.
pub async fn eligibility(
    state: &AppState,
    caller: &Caller,
    passenger: &Passenger,
    now: OffsetDateTime,
) -> ApiResult<Eligibility> {
    caller.require(&[Role::Carrier])?;
    let found = approved_for(state, passenger, now).await?;
    let actor = caller.actor("ticket eligibility");
    let subject = found.as_ref().map(|(p, ..)| p.as_str());
    state
        .store
        .audit(&actor, "return.eligibility", subject, "", now)
        .await?;
    Ok(match found {
        Some((_, _, (from, until))) => Eligibility {
            eligible: true,
            from: Some(from.max(now.date())),
            until: Some(until),
        },
        None => Eligibility {
            eligible: false,
            from: None,
            until: None,
        },
    })
}

/// Records a carrier's booking: only for an approved passenger, for a day in the window. A
/// held booking lapses after `returns.hold_minutes`.
pub async fn report_booking(
    state: &AppState,
    caller: &Caller,
    req: BookingReport,
    now: OffsetDateTime,
) -> ApiResult<(Booking, bool)> {
    caller.require(&[Role::Carrier])?;
    let Caller::Staff { account, .. } = caller else {
        return Err(ApiError::forbidden());
    };
    let passenger = Passenger {
        document_kind: req.document_kind,
        document_number: req.document_number.clone(),
        country: req.country.clone(),
    };
    let Some((person_id, app, (from, until))) = approved_for(state, &passenger, now).await? else {
        return Err(ApiError::conflict(
            "not_approved",
            "this passenger has no approved return application: the ticket may not be sold",
            "该旅客没有已通过的返程申请，不能售票",
        ));
    };
    if req.travel_date < from || req.travel_date > until {
        return Err(ApiError::conflict(
            "outside_window",
            format!("this passenger may travel from {from} to {until}"),
            format!("该旅客可乘车日期为 {from} 至 {until}"),
        ));
    }
    let booking = Booking {
        carrier: account.id.clone(),
        reference: text("reference", &req.reference, 64, true)?,
        person_id,
        application_id: app.id,
        service: text("service", &req.service, 16, true)?,
        travel_date: req.travel_date,
        station: text("station", &req.station, 64, true)?,
        seat: text("seat", &req.seat, 16, false)?,
        state: req.state,
        held_until: now + Duration::minutes(state.config.returns.hold_minutes.max(1)),
        updated_at: now,
    };
    state
        .store
        .report_booking(&booking, &caller.actor("ticket booking"), now)
        .await
        .map_err(|e| match e {
            healthcode_store::StoreError::Conflict(what) => ApiError::conflict(
                "booking_state",
                what.clone(),
                format!("订单状态不能这样变更：{what}"),
            ),
            other => other.into(),
        })
}

/// A person's bookings (the person, their guardian, or a caseworker).
pub async fn bookings_of(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    now: OffsetDateTime,
) -> ApiResult<Vec<Booking>> {
    may_act_for(caller, person_id, &[Role::HealthOfficial, Role::Admin])?;
    Ok(state.store.bookings_of(person_id, now).await?)
}
