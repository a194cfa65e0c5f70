//! Signed messages between region nodes, the receiving side: who sent it and for whom, applied
//! once per (sender, id), and answered with a reply signed with this node's key.

use super::decode_key;
use super::messages::{
    CONTACT, CONTACT_WITHDRAWN, ContactNotice, ContactWithdrawal, Envelope, Reply, STATUS_REQUEST,
    peer,
};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::usecases::colours::reassess;
use healthcode_core::facts::ContactLevel;
use healthcode_core::{Fact, FactBody};
use healthcode_pass::cose::{self, SignatureCheck};
use healthcode_store::{Actor, ContactFact, Received, TracedExposure};
use time::{Duration, OffsetDateTime};

/// How far a message's `sent_at` may be from the receiver's clock (each attempt is signed anew).
const SENT_WITHIN: Duration = Duration::minutes(10);

/// Takes a signed message from another region: checks who sent it and that it is for us,
/// applies it once, and answers with a reply signed with our node key.
pub async fn receive(state: &AppState, signed: &[u8], now: OffsetDateTime) -> ApiResult<Vec<u8>> {
    use axum::http::StatusCode;
    let sign1 = cose::parse(signed).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_signed",
            format!("not a COSE_Sign1 message: {e}"),
            "消息未按要求签名",
        )
    })?;
    let envelope: Envelope = serde_json::from_slice(sign1.payload()).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_message",
            format!("not a message: {e}"),
            "消息格式不符合要求",
        )
    })?;
    if envelope.to != state.config.region {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_recipient",
            format!(
                "the message is for region {}, this node serves {}",
                envelope.to, state.config.region
            ),
            "消息的接收地区不是本节点",
        ));
    }
    let sender = peer(state, &envelope.from).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_peer",
            format!("region {} is not in this node's directory", envelope.from),
            "发送地区不在本节点的互认目录中",
        )
    })?;
    let key = decode_key(&sender.node_key).ok_or_else(ApiError::internal)?;
    if cose::verify_with(&sign1, &key, &[]) != SignatureCheck::Valid {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_node_signature",
            format!(
                "the message is not signed by region {}'s node key",
                envelope.from
            ),
            "消息签名与发送地区的节点密钥不符",
        ));
    }
    if (envelope.sent_at - now).abs() > SENT_WITHIN {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "stale_message",
            "the message was signed more than 10 minutes from this node's time",
            "消息签名时间与本节点时间相差超过 10 分钟",
        ));
    }
    let (outcome, duplicate, attestation) = match state
        .store
        .received_from_region(&envelope.from, &envelope.id)
        .await?
    {
        Some(first) => (first, true, None),
        None => {
            let (outcome, subject, attestation) = apply(state, &envelope, now).await?;
            let actor = Actor::new(
                format!("region:{}", envelope.from),
                "region_node",
                format!("{} message from region {}", envelope.kind, envelope.from),
            );
            let received = Received {
                from_region: &envelope.from,
                id: &envelope.id,
                kind: &envelope.kind,
                outcome,
                subject: subject.as_deref(),
            };
            let first = state
                .store
                .note_received_from_region(&received, &actor, now)
                .await?;
            let duplicate = first != outcome;
            (first, duplicate, attestation)
        }
    };
    let reply = Reply {
        in_reply_to: envelope.id,
        from: state.config.region.clone(),
        outcome,
        duplicate,
        replied_at: now,
        attestation,
    };
    let json = serde_json::to_vec(&reply).map_err(|_| ApiError::internal())?;
    cose::sign(json, &state.node_key).map_err(|_| ApiError::internal())
}

type Applied = (&'static str, Option<String>, Option<serde_json::Value>);

/// Applies a message's body; gives its outcome, the person it concerned and, for a status
/// request, the attestation.
async fn apply(state: &AppState, envelope: &Envelope, now: OffsetDateTime) -> ApiResult<Applied> {
    match envelope.kind.as_str() {
        CONTACT => {
            let notice: ContactNotice =
                serde_json::from_value(envelope.body.clone()).map_err(|e| {
                    ApiError::unprocessable(
                        "bad_message",
                        format!("not a contact notice: {e}"),
                        "密接通知格式不符合要求",
                    )
                })?;
            let (outcome, person) = take_contact(state, &envelope.from, &notice, now).await?;
            Ok((outcome, person, None))
        }
        CONTACT_WITHDRAWN => {
            let withdrawal: ContactWithdrawal = serde_json::from_value(envelope.body.clone())
                .map_err(|e| {
                    ApiError::unprocessable(
                        "bad_message",
                        format!("not a withdrawal: {e}"),
                        "撤销通知格式不符合要求",
                    )
                })?;
            let (outcome, person) =
                take_withdrawal(state, &envelope.from, &withdrawal, now).await?;
            Ok((outcome, person, None))
        }
        STATUS_REQUEST => {
            let request: super::transfer::StatusRequest =
                serde_json::from_value(envelope.body.clone()).map_err(|e| {
                    ApiError::unprocessable(
                        "bad_message",
                        format!("not a status request: {e}"),
                        "状态请求格式不符合要求",
                    )
                })?;
            let (attestation, person) =
                super::transfer::attest(state, &envelope.from, &request, now).await?;
            let value = serde_json::to_value(&attestation).map_err(|_| ApiError::internal())?;
            Ok(("attested", Some(person), Some(value)))
        }
        other => Err(ApiError::unprocessable(
            "unknown_kind",
            format!("messages of kind {other:?} are not taken"),
            "不支持的消息类型",
        )),
    }
}

/// The case of another region, as this node names it.
fn foreign_case(from: &str, case_ref: &str) -> String {
    format!("{from}:{case_ref}")
}

/// Records the contact for our resident behind the pass subject, re-derives their colour and
/// tells them; a subject we never issued is noted and nothing else happens.
async fn take_contact(
    state: &AppState,
    from: &str,
    n: &ContactNotice,
    now: OffsetDateTime,
) -> ApiResult<(&'static str, Option<String>)> {
    let bounded = |s: &str, max: usize| {
        !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
    };
    let level = match n.level {
        1 => ContactLevel::Close,
        2 => ContactLevel::Secondary,
        _ => {
            return Err(ApiError::unprocessable(
                "bad_message",
                "level is 1 (close) or 2 (secondary)",
                "密接等级应为 1 或 2",
            ));
        }
    };
    let max_age = Duration::days(state.config.facts.max_age_days);
    if !bounded(&n.case_ref, 128)
        || !bounded(&n.venue, 200)
        || !bounded(&n.legal_basis, 500)
        || n.subject.len() != 32
        || !n.subject.bytes().all(|b| b.is_ascii_hexdigit())
        || n.exposure_end < n.exposure_start
        || n.exposure_start < now - max_age
        || n.exposure_end > now + Duration::minutes(5)
    {
        return Err(ApiError::unprocessable(
            "bad_message",
            "the contact notice's fields are out of bounds",
            "密接通知内容超出范围",
        ));
    }
    let people = state
        .store
        .people_by_pseudonym(std::slice::from_ref(&n.subject))
        .await?;
    let Some(person_id) = people.get(&n.subject).cloned() else {
        return Ok(("unknown_subject", None));
    };
    let case_id = foreign_case(from, &n.case_ref);
    state
        .store
        .record_exposures(
            &case_id,
            &[TracedExposure {
                level: i64::from(n.level),
                subject: n.subject.clone(),
                region: state.config.region.clone(),
                person_id: Some(person_id.clone()),
                venue_id: format!("{from}:{}", n.venue),
                venue_name: Some(n.venue.clone()),
                exposed_from: n.exposure_start,
                exposed_until: n.exposure_end,
                source: format!("region {from}"),
            }],
        )
        .await?;
    let body = FactBody::Contact {
        level,
        case_id: case_id.clone(),
        venue: n.venue.clone(),
        exposure_start: n.exposure_start,
        exposure_end: n.exposure_end,
    };
    let digest = serde_json::to_string(&body).map_err(|_| ApiError::internal())?;
    let fact = ContactFact {
        person_id: person_id.clone(),
        digest,
        fact: Fact {
            id: format!("f-{}", crate::auth::random_hex(12)),
            recorded_at: now,
            legal_basis: format!("contact notice from region {from}: {}", n.legal_basis),
            body,
        },
    };
    let actor = Actor::new(
        format!("region:{from}"),
        "region_node",
        format!("contact tracing of case {case_id}"),
    );
    let recorded = state
        .store
        .hold_contact_facts(&case_id, &[fact], &actor, now)
        .await?;
    reassess(state, std::slice::from_ref(&person_id), now).await?;
    Ok((
        if recorded > 0 {
            "recorded"
        } else {
            "unchanged"
        },
        Some(person_id),
    ))
}

async fn take_withdrawal(
    state: &AppState,
    from: &str,
    w: &ContactWithdrawal,
    now: OffsetDateTime,
) -> ApiResult<(&'static str, Option<String>)> {
    if w.case_ref.trim().is_empty()
        || w.legal_basis.trim().is_empty()
        || w.legal_basis.chars().count() > 500
    {
        return Err(ApiError::unprocessable(
            "bad_message",
            "a withdrawal names its case and legal basis",
            "撤销通知须注明病例与依据",
        ));
    }
    let case_id = foreign_case(from, &w.case_ref);
    let actor = Actor::new(
        format!("region:{from}"),
        "region_node",
        format!("case {case_id} was retracted"),
    );
    let basis = format!("withdrawal from region {from}: {}", w.legal_basis);
    let people = state
        .store
        .retract_contacts_of(&case_id, &basis, &actor, now)
        .await?;
    reassess(state, &people, now).await?;
    Ok(("withdrawn", None))
}
