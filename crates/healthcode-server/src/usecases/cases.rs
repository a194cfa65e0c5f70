//! Cases and their traces: a health official records a case (the node traces it in the
//! background), follows the trace, or runs it again; people read the messages sent to them.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::usecases::people::{CASEWORKERS, may_act_for};
use crate::usecases::recording::{self, Via};
use axum::http::StatusCode;
use healthcode_core::Fact;
use healthcode_core::facts::CaseKind;
use healthcode_store::{Notification, TraceView, TracedExposure};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

/// Who may follow traces: they show where named people were.
const TRACERS: [Role; 2] = [Role::HealthOfficial, Role::Admin];

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    pub person_id: String,
    pub kind: CaseKind,
    /// Symptom onset (RFC 3339); the infectious window starts two days (a policy parameter)
    /// before it, or before the positive sample when there were no symptoms.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub onset_at: Option<String>,
    #[serde(default)]
    #[schema(format = DateTime)]
    pub sampled_at: Option<String>,
    /// When the case was isolated: the end of the infectious window.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub isolated_at: Option<String>,
    /// The case number or document it is recorded under.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub legal_basis: String,
}

/// Records a case (确诊 / 疑似 / 无症状); recording it queues its contact trace.
pub async fn record_case(
    state: &AppState,
    caller: &Caller,
    req: CaseRequest,
    now: OffsetDateTime,
) -> ApiResult<Fact> {
    let body = json!({
        "type": "case",
        "kind": req.kind,
        "onset_at": req.onset_at,
        "sampled_at": req.sampled_at,
        "isolated_at": req.isolated_at,
        "legal_basis": req.legal_basis,
    });
    let bounds = recording::bounds(state, now);
    let fact = recording::fact_from_request(caller, Via::Single, body, now, &bounds)?;
    if !matches!(fact.body, healthcode_core::FactBody::Case { .. }) {
        return Err(ApiError::unprocessable(
            "not_a_case",
            "this endpoint records cases",
            "此接口只记录病例",
        ));
    }
    recording::record(state, caller, &req.person_id, fact, now).await
}

/// A case's trace and a page of the contacts it found (at most 1,000). The read is audited
/// against the case person.
pub async fn trace(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
    (order, limit, offset): (healthcode_store::ExposureOrder, i64, i64),
    now: OffsetDateTime,
) -> ApiResult<(TraceView, Vec<TracedExposure>)> {
    caller.require(&TRACERS)?;
    let trace = state
        .store
        .trace(case_id)
        .await?
        .ok_or_else(|| ApiError::not_found("trace"))?;
    state
        .store
        .audit(
            &caller.actor("contact tracing"),
            "trace.read",
            Some(&trace.person_id),
            &format!("trace of case {case_id}"),
            now,
        )
        .await?;
    let contacts = state
        .store
        .trace_exposures_by(case_id, order, limit.clamp(1, 1000), offset.max(0))
        .await?;
    Ok((trace, contacts))
}

/// How many people (and exposures) a case's trace found at each venue, by level.
pub async fn by_venue(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
) -> ApiResult<Vec<healthcode_store::VenueTally>> {
    caller.require(&TRACERS)?;
    Ok(state.store.trace_by_venue(case_id).await?)
}

/// Runs a finished trace again (visits that arrived late, a corrected case); what it found
/// before is kept, and nothing is recorded twice.
pub async fn retrace(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
    now: OffsetDateTime,
) -> ApiResult<()> {
    caller.require(&[Role::HealthOfficial])?;
    let trace = state
        .store
        .trace(case_id)
        .await?
        .ok_or_else(|| ApiError::not_found("trace"))?;
    // A retracted case's run withdraws its contacts; once that is done there is nothing left.
    let retracted =
        crate::usecases::traces::retraction_of(state, &trace.person_id, case_id).await?;
    if retracted.is_some() && trace.state == "done" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "case_retracted",
            "the case was retracted and its contacts withdrawn: there is nothing to trace",
            "该病例已撤销，密接记录已撤回，无需追踪",
        ));
    }
    state
        .store
        .requeue_trace(case_id, &caller.actor("contact tracing"), now)
        .await?;
    state.tracer.notify_one();
    Ok(())
}

/// The messages sent about a person's colour (SMS and in-app), newest first; a staff read is
/// audited.
pub async fn notifications_of(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    now: OffsetDateTime,
) -> ApiResult<Vec<Notification>> {
    may_act_for(caller, person_id, &CASEWORKERS)?;
    if let Caller::Staff { .. } = caller {
        state
            .store
            .audit(
                &caller.actor("notification review"),
                "notifications.read",
                Some(person_id),
                "",
                now,
            )
            .await?;
    }
    Ok(state.store.notifications_of(person_id, 100).await?)
}
