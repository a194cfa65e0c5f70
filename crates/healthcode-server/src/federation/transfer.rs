//! Status transfer with consent (湖北健康码 → 北京健康宝). On the origin, the resident grants a
//! consent naming the destination, a purpose and an expiry, and receives a code to carry. On
//! the destination, the resident (enrolled there too) presents the code: the destination's node
//! asks the origin's in a signed message, the origin checks the consent (for that region, not
//! expired, not used, for a person with the same masked name and document tail) and answers with
//! a signed attestation (colour, rule ids, until), and the destination records it as a fact
//! whose meaning its own policy decides. Only the two nodes see anything about the person, and
//! only what is already on the pass.

use super::messages::{self, STATUS_REQUEST};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::usecases::colours::after_facts;
use crate::usecases::people::{CASEWORKERS, code_shown, may_act_for};
use healthcode_core::region::RegionCode;
use healthcode_core::{Color, Fact, FactBody};
use healthcode_store::{Actor, Consent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// What the destination asks the origin for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// The code the person carries from the origin.
    pub code: String,
    /// The person as the destination enrolled them: the origin checks these match its own.
    pub masked_name: String,
    pub document_tail: Option<String>,
}

/// The origin's signed answer: the person's status there, in its rule ids and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub origin: String,
    pub consent_id: String,
    pub colour: Color,
    pub rules: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub attested_at: OffsetDateTime,
}

fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.trim().to_uppercase().as_bytes()).to_vec()
}

/// A resident grants a consent for a person they act for; gives it and the code to carry,
/// shown once.
pub async fn grant(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    destination: &str,
    purpose: &str,
    valid_hours: Option<i64>,
    now: OffsetDateTime,
) -> ApiResult<(Consent, String)> {
    if !matches!(caller, Caller::Resident { .. }) {
        return Err(ApiError::forbidden());
    }
    may_act_for(caller, person_id, &CASEWORKERS)?;
    if RegionCode::parse(destination).is_err() || state.passes.region().covers(destination) {
        return Err(ApiError::unprocessable(
            "bad_destination",
            "the destination is another region's GB/T 2260 code",
            "目的地应为其他地区的行政区划代码",
        ));
    }
    let purpose = purpose.trim();
    if purpose.is_empty() || purpose.chars().count() > 100 || purpose.chars().any(char::is_control)
    {
        return Err(ApiError::unprocessable(
            "bad_purpose",
            "the purpose has 1 to 100 printable characters",
            "用途应为 1 至 100 个可打印字符",
        ));
    }
    let hours = valid_hours.unwrap_or(24);
    if !(1..=72).contains(&hours) {
        return Err(ApiError::unprocessable(
            "bad_validity",
            "a consent lasts 1 to 72 hours",
            "授权有效期应为 1 至 72 小时",
        ));
    }
    // Twenty hexadecimal characters (80 bits): typed, or read aloud, at the other end.
    let code: String = crate::auth::random_hex(10).to_uppercase();
    let consent = Consent {
        id: format!("c-{}", crate::auth::random_hex(8)),
        person_id: person_id.to_owned(),
        destination: destination.to_owned(),
        purpose: purpose.to_owned(),
        created_at: now,
        expires_at: now + Duration::hours(hours),
        used_at: None,
        used_by: None,
    };
    let actor = caller.actor(format!(
        "consent to hand the status to region {destination}"
    ));
    state
        .store
        .grant_consent(&consent, &code_hash(&code), &actor, now)
        .await?;
    Ok((consent, code))
}

/// On the origin: answers a destination's request under a consent, once.
pub async fn attest(
    state: &AppState,
    from: &str,
    req: &StatusRequest,
    now: OffsetDateTime,
) -> ApiResult<(Attestation, String)> {
    let consent = state
        .store
        .consent_by_code(&code_hash(&req.code))
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable("unknown_consent", "no consent has this code", "授权码无效")
        })?;
    if consent.destination != from {
        return Err(ApiError::unprocessable(
            "consent_not_for_this_region",
            "the consent names another region",
            "该授权不是给予本地区的",
        ));
    }
    if now > consent.expires_at {
        return Err(ApiError::unprocessable(
            "consent_expired",
            "the consent has expired",
            "授权已过期",
        ));
    }
    if consent.used_at.is_some() {
        return Err(ApiError::unprocessable(
            "consent_used",
            "the consent was used already",
            "授权已使用过",
        ));
    }
    let person = state
        .store
        .person(&consent.person_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    let tail_differs = match (&person.document_tail, &req.document_tail) {
        (Some(ours), Some(theirs)) => ours != theirs,
        _ => false,
    };
    if person.name_masked != req.masked_name || tail_differs {
        return Err(ApiError::unprocessable(
            "person_mismatch",
            "the consent is another person's",
            "授权人与申请人不符",
        ));
    }
    if !state.store.use_consent(&consent.id, from, now).await? {
        return Err(ApiError::unprocessable(
            "consent_used",
            "the consent was used already",
            "授权已使用过",
        ));
    }
    let facts = state.store.facts(&person.id).await?;
    let status = state.policy.evaluate(&facts, now);
    let colour = code_shown(&person, &status);
    let behind: Vec<_> = status
        .reasons
        .iter()
        .filter(|r| r.color == colour)
        .collect();
    let until = if behind.iter().any(|r| r.until.is_none()) {
        None
    } else {
        behind.iter().filter_map(|r| r.until).max()
    };
    let attestation = Attestation {
        origin: state.config.region.clone(),
        consent_id: consent.id,
        colour,
        rules: behind.iter().map(|r| r.rule.clone()).collect(),
        until,
        attested_at: now,
    };
    Ok((attestation, person.id))
}

/// What a transfer did on the destination.
#[derive(Debug, Serialize)]
pub struct Transferred {
    pub attestation: Attestation,
    /// The fact recorded here.
    pub fact_id: String,
}

/// On the destination: a person presents the code they carry from `origin`; the origin's
/// signed attestation is recorded as a fact, and the policy here decides the colour.
pub async fn transfer(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    origin: &str,
    code: &str,
    now: OffsetDateTime,
) -> ApiResult<Transferred> {
    may_act_for(caller, person_id, &CASEWORKERS)?;
    if RegionCode::parse(origin).is_err() || state.passes.region().covers(origin) {
        return Err(ApiError::unprocessable(
            "bad_origin",
            "the origin is another region's GB/T 2260 code",
            "来源地应为其他地区的行政区划代码",
        ));
    }
    let person = state
        .store
        .person(person_id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    let request = StatusRequest {
        code: code.trim().to_owned(),
        masked_name: person.name_masked.clone(),
        document_tail: person.document_tail.clone(),
    };
    let id = format!("t-{}", crate::auth::random_hex(12));
    let reply = messages::call(state, origin, STATUS_REQUEST, &id, &request, now).await?;
    let attestation: Attestation = reply
        .attestation
        .and_then(|a| serde_json::from_value(a).ok())
        .filter(|a: &Attestation| a.origin == origin)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "bad_attestation",
                "the origin's answer holds no attestation",
                "来源地未出具状态证明",
            )
        })?;
    let fact = Fact {
        id: crate::usecases::recording::new_fact_id(now),
        recorded_at: now,
        legal_basis: format!(
            "consent {} and signed attestation {id} of region {origin}",
            attestation.consent_id
        ),
        body: FactBody::Attestation {
            origin: origin.to_owned(),
            colour: attestation.colour,
            rules: attestation.rules.clone(),
            until: attestation.until,
            attested_at: attestation.attested_at,
        },
    };
    let actor = Actor::new(
        format!("region:{origin}"),
        "region_node",
        "status transfer with the person's consent",
    );
    state
        .store
        .record_fact(person_id, &fact, &actor, now)
        .await?;
    after_facts(state, [(person_id, &fact)], now).await;
    Ok(Transferred {
        attestation,
        fact_id: fact.id,
    })
}
