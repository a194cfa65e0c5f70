//! The region's side of registration: what it asks the hub to publish about it, signed with
//! its node key.

use super::{Registration, encode_key};
use crate::AppState;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use healthcode_pass::cose;
use time::{Duration, OffsetDateTime};

/// How long past now an active signing key is proposed for: the hub lists it until then, and
/// the region proposes again when it rotates.
const ACTIVE_KEY_HORIZON: Duration = Duration::days(365);

/// The region's registration as it stands: its code, name, URL, node key and signing keys.
pub fn registration(state: &AppState, now: OffsetDateTime) -> Result<Registration, String> {
    let config = &state.config;
    let url = config
        .federation
        .public_url
        .clone()
        .ok_or("federation.public_url is not set: other nodes need it to reach this one")?;
    if config.federation.name.trim().is_empty() {
        return Err("federation.name is not set: the directory shows the region by it".into());
    }
    Ok(Registration {
        region: config.region.clone(),
        name: config.federation.name.trim().to_owned(),
        url,
        node_key: encode_key(state.node_key.verifying_key()),
        keys: state.passes.own_entries(now, ACTIVE_KEY_HORIZON),
        signed_at: now,
    })
}

/// Signs the registration with the node key and sends it to the hub; gives the hub's answer
/// (the proposal, awaiting a hub official).
pub async fn register(state: &AppState, now: OffsetDateTime) -> Result<serde_json::Value, String> {
    let hub = state
        .config
        .federation
        .hub_url
        .as_deref()
        .ok_or("federation.hub_url is not set")?
        .trim_end_matches('/');
    let registration = registration(state, now)?;
    let json = serde_json::to_vec(&registration).map_err(|e| e.to_string())?;
    let signed = cose::sign(json, &state.node_key).map_err(|e| e.to_string())?;
    let response = reqwest::Client::new()
        .post(format!("{hub}/hub/v1/proposals"))
        .json(&serde_json::json!({ "signed": STANDARD.encode(signed) }))
        .send()
        .await
        .map_err(|e| format!("the hub could not be reached: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("the hub refused the proposal ({status}): {body}"));
    }
    Ok(body)
}
