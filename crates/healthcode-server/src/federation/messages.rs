//! Signed messages between region nodes, the sending side: a contact a trace found for another
//! region's resident, its withdrawal when the case is retracted, and a status request. Each
//! message is a COSE_Sign1 over an envelope (id, from, to, kind, time, body), signed with the
//! sender's node key as the hub's directory publishes it, sent through a durable outbox with
//! back-off (or at once, for a request a person waits on), and answered with a reply signed by
//! the receiver. `inbox.rs` is the receiving side.

use super::decode_key;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use healthcode_pass::cose::{self, SignatureCheck};
use healthcode_pass::trust::RegionNode;
use healthcode_store::{Actor, RegionMessage, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration as StdDuration;
use time::{Duration, OffsetDateTime};

/// How long a claimed message is held by the node sending it.
const LEASE: Duration = Duration::minutes(1);

/// A contact notice, as queued; on the wire, notices travel in batches (`CONTACTS`).
pub const CONTACT: &str = "contact";
/// A batch of contact notices for one region: one signed message, each notice applied once by
/// its own id.
pub const CONTACTS: &str = "contacts";
/// At most this many notices in one batch.
pub const BATCH: usize = 500;
pub const CONTACT_WITHDRAWN: &str = "contact_withdrawn";
pub const STATUS_REQUEST: &str = "status_request";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The sender's idempotency key: the same for every attempt.
    pub id: String,
    pub from: String,
    pub to: String,
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub in_reply_to: String,
    pub from: String,
    /// What the message did: `recorded`, `unchanged`, `unknown_subject`, `withdrawn`.
    pub outcome: String,
    /// True when the message had been taken before: the outcome is the first one.
    pub duplicate: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub replied_at: OffsetDateTime,
    /// A status request's answer: the origin's attestation, signed with this reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<serde_json::Value>,
    /// A batch's answer: what each of its items did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemReply>,
}

/// One item of a batch, as sent: the notice's own idempotency key and the notice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    pub id: String,
    pub notice: ContactNotice,
}

/// What one item of a batch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemReply {
    pub id: String,
    /// `recorded`, `unchanged`, `unknown_subject`, `bad_message`.
    pub outcome: String,
    pub duplicate: bool,
}

/// A contact this region's trace found for a pass of the receiving region: the pass subject
/// (the pseudonym the receiver issued), never a name or document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactNotice {
    /// The case in the sender's region.
    pub case_ref: String,
    pub subject: String,
    /// 1 close, 2 secondary.
    pub level: u8,
    /// The venue's name, for the person's reason.
    pub venue: String,
    #[serde(with = "time::serde::rfc3339")]
    pub exposure_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub exposure_end: OffsetDateTime,
    pub legal_basis: String,
}

/// The case was retracted: every contact it caused is withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactWithdrawal {
    pub case_ref: String,
    pub legal_basis: String,
}

/// A stable id for a message: the same content makes the same id.
pub fn message_id(parts: &[&str]) -> String {
    hex::encode(&Sha256::digest(parts.join("|").as_bytes())[..16])
}

/// Queues messages of one kind for other regions; each crossing goes on the audit chain.
pub async fn queue<T: Serialize>(
    state: &AppState,
    kind: &str,
    messages: Vec<(String, String, T)>,
    purpose: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let outgoing: Vec<RegionMessage> = messages
        .into_iter()
        .filter_map(|(id, to_region, body)| {
            Some(RegionMessage {
                id,
                to_region,
                kind: kind.to_owned(),
                body: serde_json::to_vec(&body).ok()?,
                attempts: 0,
                created_at: now,
            })
        })
        .collect();
    let actor = Actor::new("federation", "system", purpose);
    let queued = state
        .store
        .queue_for_regions(&outgoing, &actor, now)
        .await?;
    if queued > 0 {
        state.federation.notify_one();
    }
    Ok(queued)
}

/// Why a message was not delivered.
#[derive(Debug)]
enum Undelivered {
    /// Not in the directory held (yet): tried again later.
    UnknownPeer,
    /// The peer could not be reached or answered in a way that may pass: tried again later.
    Later(String),
    /// The peer refused it for good (the message itself is wrong): given up.
    Refused(String),
}

pub(super) fn peer(state: &AppState, region: &str) -> Option<RegionNode> {
    state
        .directory
        .regions()
        .into_iter()
        .find(|r| r.region == region)
}

/// Sends what is due, once; gives how many were delivered. Contact notices for one region go
/// as batches of up to `BATCH`; other messages one by one.
pub async fn drain(state: &AppState, now: OffsetDateTime) -> Result<u64, StoreError> {
    let claimed = state
        .store
        .claim_for_regions(now, LEASE, 4 * BATCH as i64)
        .await?;
    let (contacts, others): (Vec<RegionMessage>, Vec<RegionMessage>) =
        claimed.into_iter().partition(|m| m.kind == CONTACT);
    let mut by_region: std::collections::BTreeMap<&str, Vec<&RegionMessage>> = Default::default();
    for m in &contacts {
        by_region.entry(&m.to_region).or_default().push(m);
    }
    let mut delivered = 0;
    for (region, messages) in by_region {
        for batch in messages.chunks(BATCH) {
            let outcome = deliver_batch(state, region, batch, now).await;
            delivered += settle(state, batch, outcome, now).await?;
        }
    }
    for m in &others {
        let outcome = deliver(state, m, now).await;
        delivered += settle(state, &[m], outcome, now).await?;
    }
    Ok(delivered)
}

/// Marks messages sent, or failed: tried again with back-off, or given up when refused.
async fn settle(
    state: &AppState,
    messages: &[&RegionMessage],
    outcome: Result<(), Undelivered>,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let why = match outcome {
        Ok(()) => {
            let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
            state.store.mark_region_sent(&ids, state.now()).await?;
            return Ok(ids.len() as u64);
        }
        Err(Undelivered::Refused(why)) => {
            for m in messages {
                tracing::error!(id = %m.id, to = %m.to_region, error = %why, "message refused by its region; given up");
                state.store.mark_region_failed(&m.id, &why, None).await?;
            }
            return Ok(0);
        }
        Err(Undelivered::UnknownPeer) => match messages.first() {
            Some(m) => format!("region {} is not in the directory held", m.to_region),
            None => return Ok(0),
        },
        Err(Undelivered::Later(why)) => why,
    };
    for m in messages {
        // 10 s, doubled per attempt, at most 10 minutes: a region that is down gets its
        // messages soon after it is back, once.
        let delay = 10i64.saturating_mul(1 << m.attempts.clamp(0, 6)).min(600);
        tracing::warn!(id = %m.id, to = %m.to_region, attempts = m.attempts + 1, error = %why, "message not delivered yet");
        state
            .store
            .mark_region_failed(&m.id, &why, Some(now + Duration::seconds(delay)))
            .await?;
    }
    Ok(0)
}

/// Sends contact notices for one region as one signed batch; delivered when the reply answers
/// every item.
async fn deliver_batch(
    state: &AppState,
    region: &str,
    messages: &[&RegionMessage],
    now: OffsetDateTime,
) -> Result<(), Undelivered> {
    let items = messages
        .iter()
        .map(|m| {
            let notice =
                serde_json::from_slice(&m.body).map_err(|e| Undelivered::Refused(e.to_string()))?;
            Ok(BatchItem {
                id: m.id.clone(),
                notice,
            })
        })
        .collect::<Result<Vec<_>, Undelivered>>()?;
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let body = serde_json::to_value(&items).map_err(|e| Undelivered::Refused(e.to_string()))?;
    let reply = send(state, region, CONTACTS, &message_id(&ids), body, now).await?;
    let answered: std::collections::HashSet<&str> =
        reply.items.iter().map(|i| i.id.as_str()).collect();
    if ids.iter().all(|id| answered.contains(id)) {
        Ok(())
    } else {
        Err(Undelivered::Later(
            "the reply does not answer every notice of the batch".into(),
        ))
    }
}

/// Sends one message from the outbox.
async fn deliver(
    state: &AppState,
    m: &RegionMessage,
    now: OffsetDateTime,
) -> Result<(), Undelivered> {
    let body = serde_json::from_slice(&m.body).map_err(|e| Undelivered::Refused(e.to_string()))?;
    send(state, &m.to_region, &m.kind, &m.id, body, now)
        .await
        .map(drop)
}

/// A message sent now, its reply awaited: for a request a person waits on (a status transfer),
/// which does not go through the outbox. A refusal keeps the receiver's own code.
pub async fn call<T: Serialize>(
    state: &AppState,
    to_region: &str,
    kind: &str,
    id: &str,
    body: &T,
    now: OffsetDateTime,
) -> ApiResult<Reply> {
    use axum::http::StatusCode;
    let body = serde_json::to_value(body).map_err(|_| ApiError::internal())?;
    send(state, to_region, kind, id, body, now)
        .await
        .map_err(|e| match e {
            Undelivered::UnknownPeer => ApiError::unprocessable(
                "unknown_region",
                format!("region {to_region} is not in this node's directory"),
                "该地区不在本节点的互认目录中",
            ),
            Undelivered::Later(why) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "region_unreachable",
                format!("region {to_region} could not be asked: {why}"),
                "暂时无法联系该地区，请稍后再试",
            ),
            Undelivered::Refused(why) => {
                const KNOWN: [&str; 5] = [
                    "unknown_consent",
                    "consent_expired",
                    "consent_used",
                    "consent_not_for_this_region",
                    "person_mismatch",
                ];
                let code = KNOWN
                    .into_iter()
                    .find(|c| why.contains(&format!("\"{c}\"")))
                    .unwrap_or("region_refused");
                ApiError::unprocessable(
                    code,
                    format!("region {to_region} refused: {why}"),
                    "对方地区拒绝了请求",
                )
            }
        })
}

/// Signs an envelope for `to_region`, posts it to the node the directory names, and checks the
/// signed reply answers it.
async fn send(
    state: &AppState,
    to_region: &str,
    kind: &str,
    id: &str,
    body: serde_json::Value,
    now: OffsetDateTime,
) -> Result<Reply, Undelivered> {
    let peer = peer(state, to_region).ok_or(Undelivered::UnknownPeer)?;
    let key = decode_key(&peer.node_key).ok_or(Undelivered::UnknownPeer)?;
    let envelope = Envelope {
        id: id.to_owned(),
        from: state.config.region.clone(),
        to: to_region.to_owned(),
        kind: kind.to_owned(),
        sent_at: now,
        body,
    };
    let json = serde_json::to_vec(&envelope).map_err(|e| Undelivered::Refused(e.to_string()))?;
    let signed =
        cose::sign(json, &state.node_key).map_err(|e| Undelivered::Refused(e.to_string()))?;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/federation/v1/messages",
            peer.url.trim_end_matches('/')
        ))
        .header("content-type", "application/cose")
        .timeout(StdDuration::from_secs(10))
        .body(signed)
        .send()
        .await
        .map_err(|e| Undelivered::Later(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Undelivered::Later(e.to_string()))?;
    if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
        // The receiver does not know us yet (its directory is older than ours), or our clock
        // is off: both pass. A message it cannot read will not.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        return Err(match status.as_u16() {
            401 | 403 => Undelivered::Later(format!("{status}: {text}")),
            _ if text.contains("stale_message") => Undelivered::Later(format!("{status}: {text}")),
            _ => Undelivered::Refused(format!("{status}: {text}")),
        });
    }
    if !status.is_success() {
        return Err(Undelivered::Later(format!("the region answered {status}")));
    }
    let reply =
        cose::parse(&bytes).map_err(|e| Undelivered::Later(format!("unsigned reply: {e}")))?;
    if cose::verify_with(&reply, &key, &[]) != SignatureCheck::Valid {
        return Err(Undelivered::Later(
            "the reply is not signed by the region's node key".into(),
        ));
    }
    let reply: Reply = serde_json::from_slice(reply.payload())
        .map_err(|e| Undelivered::Later(format!("not a reply: {e}")))?;
    if reply.in_reply_to != id || reply.from != to_region {
        return Err(Undelivered::Later(
            "the reply answers another message".into(),
        ));
    }
    Ok(reply)
}
