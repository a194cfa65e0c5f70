//! The hub's use cases: a region's signed proposal, a hub official's decision, revoking a key,
//! and publishing the directory as a trust list signed with the hub's root key.

use super::{Registration, decode_key};
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use healthcode_core::region::RegionCode;
use healthcode_pass::cose::{self, SignatureCheck};
use healthcode_pass::keys::SigningKey;
use healthcode_pass::trust::{RegionNode, RevokedKey, TrustList, TrustListEntry};
use healthcode_store::{Actor, HubList, HubProposal, HubRegion, HubRevocation, StoreError};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// How far a proposal's `signed_at` may be from the hub's clock: a request replayed later is
/// refused even before its id is found already received.
const SIGNED_WITHIN: Duration = Duration::minutes(10);

/// The hub: its root key and how long a list it publishes is in force.
pub struct Hub {
    pub root: SigningKey,
    pub validity: Duration,
}

fn hub(state: &AppState) -> ApiResult<&Hub> {
    state
        .hub
        .as_deref()
        .ok_or_else(|| ApiError::not_found("the hub (this node is a region)"))
}

/// Reads and checks a region's signed proposal and keeps it awaiting a hub official. A region
/// already in the directory must sign with the node key the directory holds; a new one signs
/// with the key it proposes, which the approving official checks out of band (its
/// fingerprint, as a certificate authority would).
pub async fn propose(
    state: &AppState,
    signed: &[u8],
    now: OffsetDateTime,
) -> ApiResult<HubProposal> {
    hub(state)?;
    let sign1 = cose::parse(signed).map_err(|e| {
        ApiError::unprocessable(
            "not_signed",
            format!("not a COSE_Sign1 request: {e}"),
            "请求未按要求签名",
        )
    })?;
    let registration: Registration = serde_json::from_slice(sign1.payload()).map_err(|e| {
        ApiError::unprocessable(
            "bad_registration",
            format!("not a registration: {e}"),
            "登记内容格式不符合要求",
        )
    })?;
    check(&registration, now)?;
    let registered = state
        .store
        .hub_regions()
        .await?
        .into_iter()
        .find(|r| r.region == registration.region);
    let signer_text = registered
        .as_ref()
        .map_or(registration.node_key.as_str(), |r| r.node_key.as_str());
    let signer = decode_key(signer_text).ok_or_else(|| {
        ApiError::unprocessable(
            "bad_node_key",
            "the node key is not a public key",
            "节点公钥无效",
        )
    })?;
    if cose::verify_with(&sign1, &signer, &[]) != SignatureCheck::Valid {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "bad_node_signature",
            "the request is not signed by the region's node key",
            "请求签名与该地区节点密钥不符",
        ));
    }
    let proposal = HubProposal {
        id: hex::encode(&Sha256::digest(signed)[..12]),
        region: registration.region.clone(),
        registration: String::from_utf8_lossy(sign1.payload()).into_owned(),
        signed: signed.to_vec(),
        state: "awaiting_approval".into(),
        proposed_at: now,
        decided_by: None,
        decided_at: None,
        decision_reason: None,
    };
    let actor = Actor::new(
        format!("region:{}", registration.region),
        "region_node",
        "federation: a region's proposal",
    );
    state
        .store
        .propose_region(&proposal, &actor, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(
                "replayed_request",
                "this signed request was received before",
                "该签名请求已提交过",
            ),
            e => e.into(),
        })?;
    Ok(proposal)
}

/// What a registration must be to be considered at all.
fn check(r: &Registration, now: OffsetDateTime) -> ApiResult<()> {
    if RegionCode::parse(&r.region).is_err() {
        return Err(ApiError::unprocessable(
            "bad_region",
            format!("{:?} is not a GB/T 2260 code", r.region),
            "地区代码无效",
        ));
    }
    let name = r.name.trim();
    if name.is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "bad_name",
            "a region's name has 1 to 50 printable characters",
            "地区名称应为 1 至 50 个可打印字符",
        ));
    }
    let url_ok = (r.url.starts_with("http://") || r.url.starts_with("https://"))
        && r.url.len() <= 200
        && !r.url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !url_ok {
        return Err(ApiError::unprocessable(
            "bad_url",
            "the node URL must be http:// or https://",
            "节点地址应以 http:// 或 https:// 开头",
        ));
    }
    if decode_key(&r.node_key).is_none() {
        return Err(ApiError::unprocessable(
            "bad_node_key",
            "the node key is not a public key",
            "节点公钥无效",
        ));
    }
    if r.keys.is_empty() || r.keys.len() > 20 {
        return Err(ApiError::unprocessable(
            "bad_keys",
            "a region lists 1 to 20 signing keys",
            "签名密钥应为 1 至 20 个",
        ));
    }
    for key in &r.keys {
        if key.region != r.region {
            return Err(ApiError::unprocessable(
                "bad_keys",
                format!("key {} names region {}", key.kid, key.region),
                "签名密钥所属地区与登记地区不符",
            ));
        }
        if key.certificate.is_some() || key.public_key.is_none() {
            return Err(ApiError::unprocessable(
                "bad_keys",
                format!("key {} is not a bare public key", key.kid),
                "签名密钥格式无效",
            ));
        }
    }
    if (r.signed_at - now).abs() > SIGNED_WITHIN {
        return Err(ApiError::unprocessable(
            "stale_request",
            "the request was signed more than 10 minutes from the hub's time",
            "请求签名时间与枢纽时间相差超过 10 分钟",
        ));
    }
    Ok(())
}

/// The reason an official gives for `what` (English, Chinese), trimmed: 1 to 500 characters.
fn stated<'a>(reason: &'a str, (en, zh): (&str, &str)) -> ApiResult<&'a str> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "bad_reason",
            format!("{en} gives its reason (1 to 500 characters)"),
            format!("请填写{zh}理由（1 至 500 字）"),
        ));
    }
    Ok(reason)
}

/// A hub official approves (publishing a new list) or rejects a proposal.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    approve: bool,
    reason: &str,
    now: OffsetDateTime,
) -> ApiResult<HubProposal> {
    caller.require(&[Role::HubOfficial])?;
    hub(state)?;
    let reason = stated(reason, ("a decision", "决定"))?;
    let proposal = state
        .store
        .hub_proposal(id)
        .await?
        .ok_or_else(|| ApiError::not_found("proposal"))?;
    let actor = caller.actor("federation: deciding a region's proposal");
    let region = approve
        .then(|| -> ApiResult<HubRegion> {
            let r: Registration =
                serde_json::from_str(&proposal.registration).map_err(|_| ApiError::internal())?;
            Ok(HubRegion {
                region: r.region,
                registration: proposal.registration.clone(),
                node_key: r.node_key,
                proposal_id: proposal.id.clone(),
                approved_by: actor.id.clone(),
                approved_at: now,
            })
        })
        .transpose()?;
    state
        .store
        .decide_region_proposal(id, region.as_ref(), reason, &actor, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::conflict("already_decided", m, "该申请已处理"),
            e => e.into(),
        })?;
    if approve {
        publish(state, now).await?;
    }
    state
        .store
        .hub_proposal(id)
        .await?
        .ok_or_else(ApiError::internal)
}

/// A hub official revokes a region's signing key: the next list names it revoked, and every
/// region refuses what it signed within one refresh.
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    kid: &str,
    reason: &str,
    now: OffsetDateTime,
) -> ApiResult<HubRevocation> {
    caller.require(&[Role::HubOfficial])?;
    hub(state)?;
    let reason = stated(reason, ("a revocation", "吊销"))?;
    let region = registrations(state)
        .await?
        .into_iter()
        .find(|r| r.keys.iter().any(|k| k.kid == kid))
        .map(|r| r.region)
        .ok_or_else(|| ApiError::not_found("a key with this kid in the directory"))?;
    let actor = caller.actor("federation: revoking a signing key");
    let revocation = HubRevocation {
        kid: kid.to_owned(),
        region,
        revoked_by: actor.id.clone(),
        revoked_at: now,
        reason: reason.to_owned(),
    };
    state
        .store
        .revoke_hub_key(&revocation, &actor, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::conflict("already_revoked", m, "该密钥已被吊销"),
            e => e.into(),
        })?;
    publish(state, now).await?;
    Ok(revocation)
}

async fn registrations(state: &AppState) -> ApiResult<Vec<Registration>> {
    state
        .store
        .hub_regions()
        .await?
        .into_iter()
        .map(|r| serde_json::from_str(&r.registration).map_err(|_| ApiError::internal()))
        .collect()
}

/// Publishes the directory as it stands: every approved region's node and keys, less the
/// revoked keys, which are listed as such. The sequence is one more than the last published.
pub async fn publish(state: &AppState, now: OffsetDateTime) -> ApiResult<HubList> {
    let hub = hub(state)?;
    let revocations = state.store.hub_revocations().await?;
    let revoked: std::collections::HashSet<&str> =
        revocations.iter().map(|r| r.kid.as_str()).collect();
    let mut entries: Vec<TrustListEntry> = Vec::new();
    let mut regions = Vec::new();
    for r in registrations(state).await? {
        entries.extend(
            r.keys
                .iter()
                .filter(|k| !revoked.contains(k.kid.as_str()))
                .cloned(),
        );
        regions.push(RegionNode {
            region: r.region,
            name: r.name,
            url: r.url,
            node_key: r.node_key,
        });
    }
    let sequence = state
        .store
        .latest_hub_list()
        .await?
        .map_or(1, |l| l.sequence + 1);
    let list = TrustList {
        version: 1,
        issuer: format!("hub:{}", state.config.region),
        sequence: sequence as u64,
        issued_at: now,
        valid_until: now + hub.validity,
        entries,
        revoked: revocations
            .iter()
            .map(|r| RevokedKey {
                region: r.region.clone(),
                kid: r.kid.clone(),
                revoked_at: r.revoked_at,
            })
            .collect(),
        regions,
    };
    let signed = list.sign(&hub.root).map_err(|e| {
        tracing::error!(error = %e, "signing the trust list failed");
        ApiError::internal()
    })?;
    let published = HubList {
        sequence,
        issued_at: now,
        valid_until: list.valid_until,
        signed,
    };
    let actor = Actor::new("hub", "system", "federation: publishing the directory");
    state
        .store
        .publish_hub_list(&published, &actor, now)
        .await?;
    Ok(published)
}

/// The list to serve: the latest, published again once half its time in force has passed
/// (regions then always hold one far from expiry), or the first when none was.
pub async fn current(state: &AppState, now: OffsetDateTime) -> ApiResult<HubList> {
    let hub = hub(state)?;
    match state.store.latest_hub_list().await? {
        Some(list) if now < list.valid_until - hub.validity / 2 => Ok(list),
        _ => match publish(state, now).await {
            // Another hub node published the same sequence a moment before: serve that.
            Err(e) if e.code == "conflict" => state
                .store
                .latest_hub_list()
                .await?
                .ok_or_else(ApiError::internal),
            other => other,
        },
    }
}
