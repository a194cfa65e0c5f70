//! Appeals (纠错/申诉, GB/T 38963 error correction): a resident contests one of their facts; a
//! health official upholds it or withdraws it. Withdrawing records a retraction fact, and a
//! withdrawn contact fact binds later runs of its case's trace (a waiver) until an official
//! overrides it with a new legal basis.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::usecases::colours::reassess;
use crate::usecases::people::{CASEWORKERS, may_act_for};
use crate::usecases::recording;
use healthcode_core::{Fact, FactBody};
use healthcode_store::{Appeal, AppealOutcome, Waiver};
use time::OffsetDateTime;

/// A reason, as a resident or an official must give one (for an appeal or a claim).
pub(crate) fn reason(text: &str) -> ApiResult<&str> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 1000 {
        return Err(ApiError::unprocessable(
            "reason_required",
            "give a reason (at most 1,000 characters)",
            "请填写理由（最多 1000 个字符）",
        ));
    }
    Ok(text)
}

/// Files an appeal against one of the person's facts (the person, their guardian or staff on
/// their behalf).
pub async fn file(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    fact_id: &str,
    why: &str,
    now: OffsetDateTime,
) -> ApiResult<Appeal> {
    may_act_for(caller, person_id, &CASEWORKERS)?;
    let why = reason(why)?;
    Ok(state
        .store
        .file_appeal(person_id, fact_id, why, &caller.actor("appeal"), now)
        .await?)
}

/// A person's appeals, oldest first.
pub async fn of_person(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
) -> ApiResult<Vec<Appeal>> {
    may_act_for(caller, person_id, &CASEWORKERS)?;
    Ok(state.store.appeals_of(person_id).await?)
}

/// The open appeals, oldest first: a health official's queue.
pub async fn open(state: &AppState, caller: &Caller) -> ApiResult<Vec<Appeal>> {
    caller.require(&[Role::HealthOfficial])?;
    Ok(state.store.open_appeals(500).await?)
}

/// Decides an open appeal. Withdrawing the fact records a retraction naming it, in the same
/// transaction as the decision, and the waiver a withdrawn contact fact makes; the person's
/// colour is derived again at once.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    outcome: AppealOutcome,
    why: &str,
    now: OffsetDateTime,
) -> ApiResult<Appeal> {
    caller.require(&[Role::HealthOfficial])?;
    let why = reason(why)?;
    let contested = state
        .store
        .appeal(id)
        .await?
        .ok_or_else(|| ApiError::not_found("appeal"))?;
    let withdrawal = match outcome {
        AppealOutcome::FactRetracted => Some((
            Fact {
                id: format!("retraction-{id}"),
                recorded_at: now,
                legal_basis: format!("appeal {id}: {why}"),
                body: FactBody::Retraction {
                    retracts: contested.fact_id.clone(),
                    reason: why.to_owned(),
                },
            },
            waiver_of(state, &contested).await?,
        )),
        AppealOutcome::FactUpheld => None,
    };
    let appeal = state
        .store
        .decide_appeal(
            id,
            outcome,
            why,
            withdrawal
                .as_ref()
                .map(|(fact, waiver)| (fact, waiver.as_ref())),
            &caller.actor(format!("appeal review {id}")),
            now,
        )
        .await?;
    if withdrawal.is_some() {
        // A retracted case's trace was queued again, to withdraw the contacts it caused.
        state.tracer.notify_one();
    }
    if let Err(e) = reassess(state, std::slice::from_ref(&appeal.person_id), now).await {
        tracing::error!(error = %e, "re-deriving a colour after an appeal failed");
    }
    Ok(appeal)
}

/// What withdrawing a contested fact binds: a contact fact withdrawn on appeal keeps its case's
/// later traces from making the person a contact again for an overlapping exposure.
async fn waiver_of(state: &AppState, appeal: &Appeal) -> ApiResult<Option<Waiver>> {
    let facts = state.store.facts(&appeal.person_id).await?;
    Ok(facts
        .into_iter()
        .find(|f| f.id == appeal.fact_id)
        .and_then(|f| match f.body {
            FactBody::Contact {
                case_id,
                exposure_start,
                exposure_end,
                ..
            } => Some(Waiver {
                appeal_id: appeal.id.clone(),
                person_id: appeal.person_id.clone(),
                case_id,
                exposure_start,
                exposure_end,
            }),
            _ => None,
        }))
}

/// Lifts what an appeal against a contact fact binds, under a new legal basis: the case's trace
/// runs again and may make the person a contact once more.
pub async fn override_waiver(
    state: &AppState,
    caller: &Caller,
    appeal_id: &str,
    legal_basis: &str,
    now: OffsetDateTime,
) -> ApiResult<Waiver> {
    caller.require(&[Role::HealthOfficial])?;
    let basis = recording::legal_basis(legal_basis)?;
    let waiver = state
        .store
        .override_waiver(appeal_id, &caller.actor(basis), now)
        .await?;
    state.tracer.notify_one();
    Ok(waiver)
}
