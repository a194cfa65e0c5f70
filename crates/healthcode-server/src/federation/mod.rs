//! Federation (互通互认): regions that recognise each other's codes through a hub.
//!
//! The hub (`federation.role = "hub"`) keeps the directory of regions and publishes it as a
//! trust list signed with its root key (`hub.rs`). A region proposes its entry (its code, name,
//! node URL, node key and pass-signing keys) in a request signed with its node key; a hub
//! official approves it, or revokes a key later, and each change publishes a new list with a
//! higher sequence. Regions fetch the list on a schedule and verify other regions' passes
//! offline with the last good one (`directory.rs`). docs/FEDERATION.md has the messages and
//! the trust model.

pub mod directory;
pub mod hub;
pub mod inbox;
pub mod messages;
pub mod region;
pub mod transfer;

use crate::StartError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use healthcode_pass::keys::{Algorithm, SigningKey, VerifyingKey};
use healthcode_pass::trust::TrustListEntry;
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::OffsetDateTime;

/// What a region asks the hub to publish about it: signed with its node key, kept by the hub
/// as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// GB/T 2260 code of the region.
    pub region: String,
    /// The region's name (e.g. 武汉市).
    pub name: String,
    /// Where other nodes reach the region's node.
    pub url: String,
    /// The node key (SPKI DER, base64) that signs this request and the node's calls.
    pub node_key: String,
    /// The keys that sign the region's passes and venue codes.
    pub keys: Vec<TrustListEntry>,
    /// When the region signed the request; the hub refuses one signed long before it arrives.
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
}

/// The node's own key, `data_dir/node.key` (Ed25519, created on first start): it signs the
/// node's requests to the hub and to other nodes, never a pass.
pub fn node_key(data_dir: &Path) -> Result<SigningKey, StartError> {
    own_key(&data_dir.join("node.key"), "node key")
}

/// The hub's root key, `data_dir/hub-root.key`: it signs the trust lists.
pub fn hub_root_key(data_dir: &Path) -> Result<SigningKey, StartError> {
    own_key(&data_dir.join("hub-root.key"), "hub root key")
}

fn own_key(path: &Path, what: &str) -> Result<SigningKey, StartError> {
    let fail = |e: &dyn std::fmt::Display| StartError::Passes(format!("{what}: {e}"));
    if path.exists() {
        return SigningKey::read_pem_file(path).map_err(|e| fail(&e));
    }
    let key = SigningKey::generate(Algorithm::EdDSA).map_err(|e| fail(&e))?;
    key.write_pem_file(path).map_err(|e| fail(&e))?;
    Ok(key)
}

/// A key as the directory carries it: SPKI DER in base64.
pub fn encode_key(key: &VerifyingKey) -> String {
    STANDARD.encode(key.spki_der())
}

/// A key from the directory's base64 SPKI DER.
pub fn decode_key(text: &str) -> Option<VerifyingKey> {
    let der = STANDARD.decode(text).ok()?;
    VerifyingKey::from_spki_der(&der).ok()
}
