//! Recording facts: who may record which kind of fact, by which way in, with which times; and
//! the one function every route, page and batch records a fact through. Feeds build their facts
//! themselves but are admitted by the same table.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use healthcode_core::facts::{TimeBounds, in_force};
use healthcode_core::{Fact, FactBody};
use healthcode_store::BatchItem;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The ways a fact comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A person's own declaration (health, trip, the daily check-in), by the resident or by
    /// staff for them: `/people/{id}/declarations`, `/people/{id}/trips` and the pages' forms.
    /// The node sets every time it can know itself.
    Declaration,
    /// One fact: `POST /people/{id}/facts`, `POST /cases`, the console's fact form.
    Single,
    /// Many facts at once: `POST /facts/batch`; above the threshold a second official approves.
    Batch,
    /// A department's feed (`lab_results`, `itinerary`, `risk_areas`); a department account
    /// delivers only the feeds it was granted, and a risk area waits for a second official.
    Feed(&'static str),
}

/// What a person declares about themselves.
const DECLARED: &[&str] = &["declaration", "trip", "checkin"];
/// What a health official records, one by one or in batches.
const OFFICIAL: &[&str] = &[
    "case",
    "test",
    "contact",
    "risk_stay",
    "observation",
    "release",
    "retraction",
];
/// What a community worker records: observation orders and their release.
const COMMUNITY: &[&str] = &["observation", "release"];

/// Who may record which kinds of fact, by which way in: the one table. Everything not listed
/// is refused. Contact facts from tracing and retractions from appeals are the node's own,
/// recorded by the tracer and by an official's decision, not through this table.
pub const PERMITS: &[(Role, Via, &[&str])] = &[
    (Role::Resident, Via::Declaration, DECLARED),
    (Role::HealthOfficial, Via::Declaration, DECLARED),
    (Role::CommunityWorker, Via::Declaration, DECLARED),
    (Role::HealthOfficial, Via::Single, OFFICIAL),
    (Role::HealthOfficial, Via::Batch, OFFICIAL),
    (Role::CommunityWorker, Via::Single, COMMUNITY),
    (Role::CommunityWorker, Via::Batch, COMMUNITY),
    (Role::HealthOfficial, Via::Feed("lab_results"), &["test"]),
    (Role::Department, Via::Feed("lab_results"), &["test"]),
    (Role::HealthOfficial, Via::Feed("itinerary"), &["itinerary"]),
    (Role::Department, Via::Feed("itinerary"), &["itinerary"]),
    (
        Role::HealthOfficial,
        Via::Feed("risk_areas"),
        &["risk_stay"],
    ),
    (Role::Department, Via::Feed("risk_areas"), &["risk_stay"]),
];

/// Whether the caller may record a fact of `kind` by `via`: the table, and for a department
/// its grant of the feed.
pub fn may_record(caller: &Caller, kind: &str, via: Via) -> ApiResult<()> {
    let role = caller.role();
    let listed = PERMITS
        .iter()
        .any(|(r, v, kinds)| *r == role && *v == via && kinds.contains(&kind));
    let granted = match (via, caller) {
        (
            Via::Feed(feed),
            Caller::Staff {
                role: Role::Department,
                account,
            },
        ) => account.feeds.iter().any(|f| f == feed),
        _ => true,
    };
    if listed && granted {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// The window a fact's times must fall in now.
pub fn bounds(state: &AppState, now: OffsetDateTime) -> TimeBounds {
    TimeBounds::around(now, time::Duration::days(state.config.facts.max_age_days))
}

/// Refuses a fact whose times lie outside `bounds` or out of order.
pub fn check_times(body: &FactBody, bounds: &TimeBounds) -> ApiResult<()> {
    body.check_times(bounds)
        .map_err(|p| ApiError::unprocessable("bad_time", p.en(bounds), p.zh(bounds)))
}

/// A legal basis: given, and short enough to read.
pub fn legal_basis(basis: &str) -> ApiResult<String> {
    let basis = basis.trim();
    if basis.is_empty() || basis.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "legal_basis_required",
            "every fact needs a legal basis (a document or case number, at most 500 characters)",
            "每条记录都需要法律依据（文件号或案件号，最多 500 个字符）",
        ));
    }
    Ok(basis.to_owned())
}

/// A fact as staff send it (docs/POLICY.md, with `legal_basis`): admitted by the table, with a
/// legal basis and times in bounds. The node sets `recorded_at`, and `id` unless given.
pub fn fact_from_request(
    caller: &Caller,
    via: Via,
    mut body: Value,
    now: OffsetDateTime,
    bounds: &TimeBounds,
) -> ApiResult<Fact> {
    let Value::Object(map) = &mut body else {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "a fact is a JSON object",
            "事实应为 JSON 对象",
        ));
    };
    let kind = map.get("type").and_then(Value::as_str).unwrap_or_default();
    may_record(caller, kind, via)?;
    let basis = legal_basis(
        map.get("legal_basis")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )?;
    map.insert("legal_basis".into(), json!(basis));
    match map.get("id") {
        None => {
            map.insert("id".into(), json!(new_fact_id(now)));
        }
        Some(Value::String(id)) if valid_id(id) => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                "bad_id",
                "a fact id has 1 to 128 letters, digits and . _ : -",
                "记录编号应为 1 至 128 个字母、数字或 . _ : -",
            ));
        }
    }
    map.insert("recorded_at".into(), json!(crate::body::rfc3339(now)));
    let fact: Fact = serde_json::from_value(body).map_err(|e| {
        ApiError::unprocessable(
            "invalid_fact",
            format!("not a valid fact: {e}"),
            format!("不是有效的事实记录：{e}"),
        )
    })?;
    check_times(&fact.body, bounds)?;
    Ok(fact)
}

/// A new fact id.
pub fn new_fact_id(now: OffsetDateTime) -> String {
    format!("f-{}", healthcode_store::ordered_id(now))
}

fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// What a release or a retraction names must be one of the person's facts in force; a
/// community worker releases only observation orders, never a case or a contact.
fn check_target(caller: &Caller, fact: &Fact, facts: &[Fact]) -> ApiResult<()> {
    let named = match &fact.body {
        FactBody::Release { releases, .. } => releases,
        FactBody::Retraction { retracts, .. } => retracts,
        _ => return Ok(()),
    };
    let target = facts
        .iter()
        .find(|f| &f.id == named && in_force(facts, named))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_fact",
                format!("{named} is not a fact in force on this person's record"),
                format!("{named} 不是此人记录中有效的事实"),
            )
        })?;
    let observation = matches!(target.body, FactBody::Observation { .. });
    if caller.role() == Role::CommunityWorker && !observation {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// Checks what the facts name against the records of the people they are about.
pub async fn check_targets(
    state: &AppState,
    caller: &Caller,
    items: &[BatchItem],
) -> ApiResult<()> {
    let named: Vec<String> = items
        .iter()
        .filter(|i| {
            matches!(
                i.fact.body,
                FactBody::Release { .. } | FactBody::Retraction { .. }
            )
        })
        .map(|i| i.person_id.clone())
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let records = state.store.facts_of_people(&named).await?;
    for item in items {
        let facts = records
            .get(&item.person_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        check_target(caller, &item.fact, facts)?;
    }
    Ok(())
}

/// Records one fact about a person, admitted as it came in (`fact_from_request`, or a
/// declaration the node built), and re-derives the person's colour.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    fact: Fact,
    now: OffsetDateTime,
) -> ApiResult<Fact> {
    if state.store.person(person_id).await?.is_none() {
        return Err(ApiError::not_found("person"));
    }
    let item = BatchItem {
        person_id: person_id.to_owned(),
        fact,
    };
    check_targets(state, caller, std::slice::from_ref(&item)).await?;
    let purpose = item.fact.legal_basis.clone();
    state
        .store
        .record_fact(person_id, &item.fact, &caller.actor(purpose), now)
        .await?;
    crate::usecases::colours::after_facts(state, [(person_id, &item.fact)], now).await;
    Ok(item.fact)
}

/// Records one fact as a member of staff sent it (a fact as docs/POLICY.md defines it, with its
/// legal basis): admitted by the table and the clock, then recorded.
pub async fn record_sent(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    sent: serde_json::Value,
    now: OffsetDateTime,
) -> ApiResult<Fact> {
    let bounds = bounds(state, now);
    let fact = fact_from_request(caller, Via::Single, sent, now, &bounds)?;
    record(state, caller, person_id, fact, now).await
}
