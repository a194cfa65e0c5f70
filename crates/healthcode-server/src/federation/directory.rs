//! The region's side of the trust list: fetched from the hub on a schedule (a conditional GET,
//! so an unchanged list costs one small answer), checked, kept on disk as the last good one,
//! and handed to the verifier. A list is refused, and the one held kept, when its signature is
//! not the configured hub root's, when it is older than the one held (a rollback), or when it
//! has expired. While the hub is down the held list keeps working until it expires; after that
//! other regions' passes are refused as `trust_list_expired`, never admitted unchecked.

use crate::AppState;
use crate::metrics::Counter;
use healthcode_pass::keys::VerifyingKey;
use healthcode_pass::trust::{TrustList, TrustListError, TrustStore};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// How far the hub's clock may run ahead of ours: a list issued a moment "in the future" by it
/// is taken.
const HUB_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

pub const REFUSED: Counter = (
    "healthcode_trust_list_refused_total",
    "Trust lists fetched from the hub and refused, by reason; the list held stays in force.",
);

/// Why a fetched list was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the hub could not be reached: {0}")]
    Unreachable(String),
    #[error("the hub answered {0}")]
    Status(u16),
    #[error("not signed by the configured hub root: {0}")]
    Signature(TrustListError),
    #[error("the list is not in force: {0}")]
    Time(TrustListError),
    #[error("sequence {got} is older than the {held} held: a rollback")]
    Rollback { held: u64, got: u64 },
    #[error("sequence {0} is held with other contents")]
    Conflicting(u64),
    #[error("keeping the list on disk failed: {0}")]
    Disk(String),
}

impl Refusal {
    /// The stable code metrics and logs use.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unreachable(_) => "hub_unreachable",
            Refusal::Status(_) => "hub_error",
            Refusal::Signature(_) => "bad_list_signature",
            Refusal::Time(_) => "list_expired",
            Refusal::Rollback { .. } => "rollback",
            Refusal::Conflicting(_) => "conflicting_list",
            Refusal::Disk(_) => "disk",
        }
    }
}

/// The list held and when it was last fetched or confirmed unchanged.
#[derive(Debug, Clone)]
struct Held {
    list: TrustList,
    signed: Vec<u8>,
    checked_at: OffsetDateTime,
}

/// What `/readyz` and `/metrics` show of the list held.
#[derive(Debug, Clone, Serialize)]
pub struct ListState {
    pub sequence: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    /// Seconds since the hub issued it.
    pub age_seconds: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    pub expired: bool,
    pub regions: usize,
}

/// The trust list a region holds from its hub.
pub struct Directory {
    hub_url: Option<String>,
    root: Option<VerifyingKey>,
    file: PathBuf,
    held: Mutex<Option<Held>>,
    http: reqwest::Client,
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// A newer list is now in force.
    Installed(u64),
    /// The hub's list is the one held.
    Unchanged(u64),
}

impl Directory {
    /// The directory of a node configured with a hub (`federation.hub_url` and
    /// `trust_root_key`), or an empty one.
    pub fn new(data_dir: &Path, hub_url: Option<String>, root: Option<VerifyingKey>) -> Directory {
        Directory {
            hub_url: hub_url.map(|u| u.trim_end_matches('/').to_owned()),
            root,
            file: data_dir.join("trust-list.cose"),
            held: Mutex::new(None),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.hub_url.is_some() && self.root.is_some()
    }

    /// The last good list kept on disk, checked against the root again (the file is not
    /// trusted more than the network); an expired one is held too, and withholds its keys.
    pub fn load(&self, now: OffsetDateTime) -> Result<Option<(TrustList, TrustStore)>, String> {
        let Some(root) = &self.root else {
            return Ok(None);
        };
        let signed = match std::fs::read(&self.file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", self.file.display())),
        };
        let (list, store) = TrustList::verify_signature(&signed, root)
            .map_err(|e| format!("{}: {e}", self.file.display()))?;
        self.hold(list.clone(), signed, now);
        Ok(Some((list, store)))
    }

    fn hold(&self, list: TrustList, signed: Vec<u8>, now: OffsetDateTime) {
        if let Ok(mut held) = self.held.lock() {
            *held = Some(Held {
                list,
                signed,
                checked_at: now,
            });
        }
    }

    fn held(&self) -> Option<Held> {
        self.held.lock().ok().and_then(|h| h.clone())
    }

    /// The list held, as `/readyz` shows it.
    pub fn state(&self, now: OffsetDateTime) -> Option<ListState> {
        let held = self.held()?;
        Some(ListState {
            sequence: held.list.sequence,
            issued_at: held.list.issued_at,
            valid_until: held.list.valid_until,
            age_seconds: (now - held.list.issued_at).whole_seconds(),
            checked_at: held.checked_at,
            expired: now > held.list.valid_until,
            regions: held.list.regions.len(),
        })
    }

    /// The regions' nodes in the list held.
    pub fn regions(&self) -> Vec<healthcode_pass::trust::RegionNode> {
        self.held().map(|h| h.list.regions).unwrap_or_default()
    }

    /// Fetches the hub's list once and holds it if it passes every check, giving its keys for
    /// the verifier when it is new (`refresh` below puts them in force).
    pub async fn fetch(
        &self,
        now: OffsetDateTime,
    ) -> Result<(Refreshed, Option<(TrustList, TrustStore)>), Refusal> {
        let (Some(hub), Some(root)) = (&self.hub_url, &self.root) else {
            return Err(Refusal::Unreachable("no hub configured".into()));
        };
        let held = self.held();
        let mut request = self.http.get(format!("{hub}/hub/v1/trust-list"));
        if let Some(h) = &held {
            request = request.header("If-None-Match", format!("\"{}\"", h.list.sequence));
        }
        let response = request
            .send()
            .await
            .map_err(|e| Refusal::Unreachable(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED
            && let Some(h) = held
        {
            let sequence = h.list.sequence;
            self.hold(h.list, h.signed, now);
            return Ok((Refreshed::Unchanged(sequence), None));
        }
        if !response.status().is_success() {
            return Err(Refusal::Status(response.status().as_u16()));
        }
        let signed = response
            .bytes()
            .await
            .map_err(|e| Refusal::Unreachable(e.to_string()))?
            .to_vec();
        let (list, store) = judge(&signed, root, held.as_ref(), now)?;
        if held.as_ref().is_some_and(|h| h.signed == signed) {
            self.hold(list.clone(), signed, now);
            return Ok((Refreshed::Unchanged(list.sequence), None));
        }
        keep(&self.file, &signed).map_err(|e| Refusal::Disk(e.to_string()))?;
        let sequence = list.sequence;
        self.hold(list.clone(), signed, now);
        Ok((Refreshed::Installed(sequence), Some((list, store))))
    }
}

/// Every check a fetched list must pass against the one held.
fn judge(
    signed: &[u8],
    root: &VerifyingKey,
    held: Option<&Held>,
    now: OffsetDateTime,
) -> Result<(TrustList, TrustStore), Refusal> {
    let (list, store) = TrustList::verify_signature(signed, root).map_err(Refusal::Signature)?;
    list.check_time(now, HUB_CLOCK_SKEW)
        .map_err(Refusal::Time)?;
    if let Some(h) = held {
        if list.sequence < h.list.sequence {
            return Err(Refusal::Rollback {
                held: h.list.sequence,
                got: list.sequence,
            });
        }
        if list.sequence == h.list.sequence && h.signed != signed {
            return Err(Refusal::Conflicting(list.sequence));
        }
    }
    Ok((list, store))
}

/// Writes the list beside the database, whole or not at all (a temporary file, fsync'd, then
/// renamed over the old one).
fn keep(file: &Path, signed: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = file.with_extension("cose.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(signed)?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)
}

/// One refresh, as the job runs it: a new list's keys go to the verifier; a refusal is logged
/// and counted, and the list held stays in force.
pub async fn refresh(state: &AppState) -> Result<Refreshed, Refusal> {
    match state.directory.fetch(state.now()).await {
        Ok((refreshed, fetched)) => {
            if let Some((list, store)) = fetched {
                state.passes.install_others(store, list.valid_until);
                tracing::info!(
                    sequence = list.sequence,
                    regions = list.regions.len(),
                    "trust list installed"
                );
            }
            Ok(refreshed)
        }
        Err(refusal) => {
            state
                .metrics
                .add(REFUSED, &format!("reason=\"{}\"", refusal.code()), 1);
            tracing::warn!(reason = refusal.code(), error = %refusal, "trust list refused; the list held stays in force");
            Err(refusal)
        }
    }
}
