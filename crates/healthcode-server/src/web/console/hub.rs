//! The hub officials' page: regions' proposals awaiting a decision, with the node key's
//! fingerprint to check with the region by phone, and the directory with each signing key to
//! revoke. The decisions are `federation::hub`'s, as through the API.

use crate::AppState;
use crate::auth::Role;
use crate::body::Path;
use crate::federation::{Registration, hub};
use crate::web::page::{Chrome, PageResult, local_time, render, see};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use serde::Deserialize;
use sha2::{Digest, Sha256};

struct Proposal {
    id: String,
    region: String,
    name: String,
    url: String,
    fingerprint: String,
    keys: usize,
    proposed: String,
}

struct Key {
    region: String,
    name: String,
    kid: String,
    until: String,
}

#[derive(Template)]
#[template(path = "console_hub.html")]
struct HubPage {
    chrome: Chrome,
    proposals: Vec<Proposal>,
    keys: Vec<Key>,
    revoked: Vec<(String, String, String)>,
}

/// The node key's fingerprint as an official reads it aloud: SHA-256 of the key, 16 hex digits
/// in groups of four.
fn fingerprint(node_key: &str) -> String {
    let digest = hex::encode(&Sha256::digest(node_key.as_bytes())[..8]);
    digest
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn show(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    caller.require(&[Role::HubOfficial])?;
    let proposals = state.store.hub_proposals(Some("awaiting_approval")).await?;
    let revoked = state.store.hub_revocations().await?;
    let mut keys = Vec::new();
    for region in state.store.hub_regions().await? {
        let Ok(r) = serde_json::from_str::<Registration>(&region.registration) else {
            continue;
        };
        for k in r.keys {
            if revoked.iter().any(|x| x.kid == k.kid) {
                continue;
            }
            keys.push(Key {
                region: crate::web::page::region_words(&r.region),
                name: r.name.clone(),
                kid: k.kid,
                until: local_time(k.valid_until),
            });
        }
    }
    render(HubPage {
        chrome: Chrome::new(
            &web,
            "互认目录与审批",
            "Federation directory and approvals",
            true,
        ),
        proposals: proposals
            .into_iter()
            .filter_map(|p| {
                let r: Registration = serde_json::from_str(&p.registration).ok()?;
                Some(Proposal {
                    id: p.id,
                    fingerprint: fingerprint(&r.node_key),
                    keys: r.keys.len(),
                    region: r.region,
                    name: r.name,
                    url: r.url,
                    proposed: local_time(p.proposed_at),
                })
            })
            .collect(),
        keys,
        revoked: revoked
            .into_iter()
            .map(|r| (r.region, r.kid, r.reason))
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(form): Posted<DecisionForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let approve = form.decision == "approve";
    hub::decide(&state, &caller, &id, approve, &form.reason, state.now()).await?;
    see("/console/hub")
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    kid: String,
    #[serde(default)]
    reason: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<RevokeForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    hub::revoke(&state, &caller, &form.kid, &form.reason, state.now()).await?;
    see("/console/hub")
}
