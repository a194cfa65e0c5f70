//! Signed messages between region nodes, the receiving side: who sent it and for whom, applied
//! once per (sender, id), and answered with a reply signed with this node's key.

use super::decode_key;
use super::messages::{
    BATCH, BatchItem, CONTACT, CONTACT_WITHDRAWN, CONTACTS, ContactNotice, ContactWithdrawal,
    Envelope, ItemReply, Reply, STATUS_REQUEST, peer,
};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::usecases::colours::reassess;
use healthcode_core::facts::ContactLevel;
use healthcode_core::{Fact, FactBody};
use healthcode_pass::cose::{self, SignatureCheck};
use healthcode_store::{Actor, ContactFact, Received, TracedExposure};
use std::collections::{BTreeMap, HashMap, HashSet};
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
    let reply = if envelope.kind == CONTACTS {
        let items = take_contacts(state, &envelope, now).await?;
        Reply {
            in_reply_to: envelope.id,
            from: state.config.region.clone(),
            outcome: "batch".into(),
            duplicate: false,
            replied_at: now,
            attestation: None,
            items,
        }
    } else {
        let (outcome, duplicate, attestation) = take_one(state, &envelope, now).await?;
        Reply {
            in_reply_to: envelope.id,
            from: state.config.region.clone(),
            outcome,
            duplicate,
            replied_at: now,
            attestation,
            items: Vec::new(),
        }
    };
    let json = serde_json::to_vec(&reply).map_err(|_| ApiError::internal())?;
    cose::sign(json, &state.node_key).map_err(|_| ApiError::internal())
}

type Applied = (&'static str, Option<String>, Option<serde_json::Value>);

/// Takes one message once: what it did the first time, whether this is a repeat, and a status
/// request's attestation.
async fn take_one(
    state: &AppState,
    envelope: &Envelope,
    now: OffsetDateTime,
) -> ApiResult<(String, bool, Option<serde_json::Value>)> {
    let taken = state
        .store
        .received_from_region(&envelope.from, std::slice::from_ref(&envelope.id))
        .await?;
    if let Some(first) = taken.get(&envelope.id) {
        return Ok((first.clone(), true, None));
    }
    let (outcome, subject, attestation) = apply(state, envelope, now).await?;
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
        .note_received_from_region(&[received], &actor, now)
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    let duplicate = first != outcome;
    Ok((first, duplicate, attestation))
}

/// Applies a message's body; gives its outcome, the person it concerned and, for a status
/// request, the attestation.
async fn apply(state: &AppState, envelope: &Envelope, now: OffsetDateTime) -> ApiResult<Applied> {
    match envelope.kind.as_str() {
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

/// A notice's level, when its fields are within bounds.
fn checked(state: &AppState, n: &ContactNotice, now: OffsetDateTime) -> Option<ContactLevel> {
    let bounded = |s: &str, max: usize| {
        !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
    };
    let level = match n.level {
        1 => ContactLevel::Close,
        2 => ContactLevel::Secondary,
        _ => return None,
    };
    let max_age = Duration::days(state.config.facts.max_age_days);
    let fits = bounded(&n.case_ref, 128)
        && bounded(&n.venue, 200)
        && bounded(&n.legal_basis, 500)
        && n.subject.len() == 32
        && n.subject.bytes().all(|b| b.is_ascii_hexdigit())
        && n.exposure_end >= n.exposure_start
        && n.exposure_start >= now - max_age
        && n.exposure_end <= now + Duration::minutes(5);
    fits.then_some(level)
}

/// A contact notice of a batch, checked and matched to our resident.
struct Taken<'a> {
    item: &'a BatchItem,
    person_id: String,
    fact: ContactFact,
}

/// Takes a batch of contact notices, each once by its id: records, per case, the exposures and
/// a contact fact for each of our residents behind the pass subjects, re-derives their colours
/// (which tells them), and notes every item as taken in one transaction. A notice out of bounds
/// or for a subject we never issued is noted as such and changes nothing else.
async fn take_contacts(
    state: &AppState,
    envelope: &Envelope,
    now: OffsetDateTime,
) -> ApiResult<Vec<ItemReply>> {
    let from = envelope.from.as_str();
    let items: Vec<BatchItem> = serde_json::from_value(envelope.body.clone())
        .ok()
        .filter(|items: &Vec<BatchItem>| !items.is_empty() && items.len() <= BATCH)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "bad_message",
                format!("not a batch of 1 to {BATCH} contact notices"),
                format!("不是 1 至 {BATCH} 条密接通知的批次"),
            )
        })?;
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let taken = state.store.received_from_region(from, &ids).await?;
    let mut seen = HashSet::new();
    let fresh: Vec<&BatchItem> = items
        .iter()
        .filter(|i| !taken.contains_key(&i.id) && seen.insert(i.id.as_str()))
        .collect();
    let subjects: Vec<String> = fresh.iter().map(|i| i.notice.subject.clone()).collect();
    let people = state.store.people_by_pseudonym(&subjects).await?;
    let mut outcomes: HashMap<&str, (&'static str, Option<String>)> = HashMap::new();
    let mut by_case: BTreeMap<String, Vec<Taken>> = BTreeMap::new();
    for item in &fresh {
        let n = &item.notice;
        let Some(level) = checked(state, n, now) else {
            outcomes.insert(&item.id, ("bad_message", None));
            continue;
        };
        let Some(person_id) = people.get(&n.subject).cloned() else {
            outcomes.insert(&item.id, ("unknown_subject", None));
            continue;
        };
        let case_id = foreign_case(from, &n.case_ref);
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
                id: crate::usecases::recording::new_fact_id(now),
                recorded_at: now,
                legal_basis: format!("contact notice from region {from}: {}", n.legal_basis),
                body,
            },
        };
        by_case.entry(case_id).or_default().push(Taken {
            item,
            person_id,
            fact,
        });
    }
    let mut reached = Vec::new();
    for (case_id, group) in &by_case {
        let exposures: Vec<TracedExposure> = group
            .iter()
            .map(|t| TracedExposure {
                level: i64::from(t.item.notice.level),
                subject: t.item.notice.subject.clone(),
                region: state.config.region.clone(),
                person_id: Some(t.person_id.clone()),
                venue_id: format!("{from}:{}", t.item.notice.venue),
                venue_name: Some(t.item.notice.venue.clone()),
                exposed_from: t.item.notice.exposure_start,
                exposed_until: t.item.notice.exposure_end,
                source: format!("region {from}"),
            })
            .collect();
        state.store.record_exposures(case_id, &exposures).await?;
        let facts: Vec<ContactFact> = group.iter().map(|t| t.fact.clone()).collect();
        let actor = Actor::new(
            format!("region:{from}"),
            "region_node",
            format!("contact tracing of case {case_id}"),
        );
        let recorded: HashSet<String> = state
            .store
            .hold_contact_facts(case_id, &facts, &actor, now)
            .await?
            .into_iter()
            .collect();
        for t in group {
            let outcome = if recorded.contains(&t.fact.fact.id) {
                "recorded"
            } else {
                "unchanged"
            };
            outcomes.insert(&t.item.id, (outcome, Some(t.person_id.clone())));
            reached.push(t.person_id.clone());
        }
    }
    reached.sort();
    reached.dedup();
    reassess(state, &reached, now).await?;

    let received: Vec<Received> = fresh
        .iter()
        .filter_map(|i| {
            let (outcome, person) = outcomes.get(i.id.as_str())?;
            Some(Received {
                from_region: from,
                id: &i.id,
                kind: CONTACT,
                outcome,
                subject: person.as_deref(),
            })
        })
        .collect();
    let actor = Actor::new(
        format!("region:{from}"),
        "region_node",
        format!("contact notices from region {from}"),
    );
    let first = state
        .store
        .note_received_from_region(&received, &actor, now)
        .await?;
    let mut answers: HashMap<&str, (String, bool)> = taken
        .iter()
        .map(|(id, outcome)| (id.as_str(), (outcome.clone(), true)))
        .collect();
    for (r, first) in received.iter().zip(first) {
        let duplicate = first != r.outcome;
        answers.insert(r.id, (first, duplicate));
    }
    Ok(items
        .iter()
        .filter_map(|i| {
            let (outcome, duplicate) = answers.get(i.id.as_str())?.clone();
            Some(ItemReply {
                id: i.id.clone(),
                outcome,
                duplicate,
            })
        })
        .collect())
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
