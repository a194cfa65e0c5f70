//! Checkpoint scans (扫码核验): one scan answered once it is on disk, and the batch an offline
//! scanner sends when it is back. Each scan is checked (hostile times included), its pass
//! verified offline at the scan's own time, judged by the venue's rule (`scanning::judge`) and
//! handed to the recorder, which groups scans into one durable commit.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::caches::HighRisk;
use crate::error::{ApiError, ApiResult};
use crate::scanning::{Gate, judge};
use axum::http::StatusCode;
use healthcode_core::visits::Direction;
use healthcode_store::{Checkpoint, NewScan, Venue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// How far ahead of the node's clock a scanner's may run.
const FUTURE_SKEW: Duration = Duration::minutes(5);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The scanner's own id for this scan (1 to 64 characters): sending it again never records
    /// a second visit.
    #[schema(min_length = 1, max_length = 64)]
    pub scan_id: String,
    /// The scanned text (`HCP1:…`).
    pub text: String,
    /// When the scan was made (RFC 3339); now when absent. An offline scan is judged at this
    /// time, if it is no older than the node's `scans.max_offline_hours`.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub scanned_at: Option<String>,
    /// `entry` (default) or `exit`.
    #[serde(default)]
    pub direction: Option<Direction>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBatch {
    /// Up to `scans.batch_max` (10,000) scans, each as for `POST /scans`, in any order.
    #[schema(value_type = Vec<Object>)]
    pub scans: Vec<Value>,
}

/// One scan's result in a batch: its answer, or why it was refused.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScanBatchItem {
    /// The scan's position in the request.
    index: usize,
    scan_id: Option<String>,
    /// 200 when recorded (or recorded before), 422 when refused.
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    answer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<crate::error::ErrorBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScanBatchResult {
    /// Scans recorded now.
    recorded: usize,
    /// Scans recorded before (or twice in this batch): their first answer.
    duplicates: usize,
    /// Scans refused, each with its error.
    rejected: usize,
    results: Vec<ScanBatchItem>,
}

/// One scan: its answer (the stored one, with `duplicate` set, when the scan id was seen).
pub async fn scan(
    state: &AppState,
    caller: &Caller,
    req: ScanRequest,
    now: OffsetDateTime,
) -> ApiResult<Value> {
    let (checkpoint, venue) = checkpoint_of(state, caller).await?;
    let areas = state.caches.high_risk_areas(&state.store).await?;
    let scan = prepare(state, (&checkpoint, &venue), &areas, req, now)?;
    let recorded = state.recorder.record(vec![scan]).await?;
    answer_of(recorded.first().ok_or_else(ApiError::internal)?)
}

/// An offline scanner's batch: each scan judged at its own `scanned_at` with its own result;
/// duplicates get their first answer; bad entries are refused one by one.
pub async fn batch(
    state: &AppState,
    caller: &Caller,
    scans: Vec<Value>,
    now: OffsetDateTime,
) -> ApiResult<ScanBatchResult> {
    let (checkpoint, venue) = checkpoint_of(state, caller).await?;
    let areas = state.caches.high_risk_areas(&state.store).await?;
    let max = state.config.scans.batch_max;
    if scans.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("a batch holds at most {max} scans"),
            format!("每批最多 {max} 条扫码记录"),
        ));
    }
    let mut results = Vec::with_capacity(scans.len());
    let mut ready = Vec::new();
    for (index, raw) in scans.into_iter().enumerate() {
        let scan_id = raw
            .get("scan_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let prepared = serde_json::from_value::<ScanRequest>(raw)
            .map_err(|e| {
                ApiError::unprocessable(
                    "invalid_scan",
                    format!("this scan does not match: {e}"),
                    "扫码记录格式不符合要求",
                )
            })
            .and_then(|req| prepare(state, (&checkpoint, &venue), &areas, req, now));
        match prepared {
            Ok(scan) => {
                ready.push((results.len(), scan));
                results.push(ScanBatchItem {
                    index,
                    scan_id,
                    status: 200,
                    answer: None,
                    error: None,
                });
            }
            Err(e) => results.push(ScanBatchItem {
                index,
                scan_id,
                status: e.status.as_u16(),
                answer: None,
                error: Some(crate::error::ErrorBody {
                    code: e.code.to_owned(),
                    message: e.en,
                    message_zh: e.zh,
                }),
            }),
        }
    }
    let (slots, scans): (Vec<usize>, Vec<NewScan>) = ready.into_iter().unzip();
    let recorded = state.recorder.record(scans).await?;
    let (mut fresh, mut duplicates) = (0, 0);
    for (slot, r) in slots.into_iter().zip(&recorded) {
        if r.duplicate {
            duplicates += 1;
        } else {
            fresh += 1;
        }
        results[slot].answer = Some(answer_of(r)?);
    }
    Ok(ScanBatchResult {
        recorded: fresh,
        duplicates,
        rejected: results.iter().filter(|r| r.status != 200).count(),
        results,
    })
}

/// The checkpoint a caller scans for, and its venue; both fixed once created, so cached.
pub(crate) async fn checkpoint_of(
    state: &AppState,
    caller: &Caller,
) -> ApiResult<(Checkpoint, Venue)> {
    caller.require(&[Role::Checkpoint])?;
    let Caller::Staff { account, .. } = caller else {
        return Err(ApiError::forbidden());
    };
    if let Some(found) = state.caches.checkpoint(&account.id) {
        return Ok(found);
    }
    let checkpoint = state
        .store
        .checkpoint_of_account(&account.id)
        .await?
        .ok_or_else(|| ApiError::not_found("checkpoint of this account"))?;
    let venue = state
        .store
        .venue(&checkpoint.venue_id)
        .await?
        .ok_or_else(|| ApiError::not_found("venue"))?;
    state
        .caches
        .remember_checkpoint(&account.id, (checkpoint.clone(), venue.clone()));
    Ok((checkpoint, venue))
}

/// Checks one scan and judges it, ready to record.
fn prepare(
    state: &AppState,
    (checkpoint, venue): (&Checkpoint, &Venue),
    areas: &[HighRisk],
    req: ScanRequest,
    now: OffsetDateTime,
) -> ApiResult<NewScan> {
    let scan_id = req.scan_id.trim();
    if scan_id.is_empty() || scan_id.chars().count() > 64 || scan_id.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "bad_scan_id",
            "scan_id has 1 to 64 printable characters",
            "scan_id 应为 1 至 64 个可打印字符",
        ));
    }
    if req.text.len() > 4096 {
        return Err(ApiError::unprocessable(
            "bad_text",
            "the scanned text is too long to be a pass",
            "扫描内容过长，不是健康码",
        ));
    }
    let scanned_at = match &req.scanned_at {
        None => now,
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
            ApiError::unprocessable(
                "bad_time",
                format!("scanned_at {s:?} is not an RFC 3339 time"),
                "scanned_at 不是 RFC 3339 时间",
            )
        })?,
    };
    if scanned_at > now + FUTURE_SKEW {
        return Err(ApiError::unprocessable(
            "scan_in_future",
            "scanned_at is ahead of the node's clock: check the scanner's time",
            "扫码时间晚于系统时间，请校准扫码设备时钟",
        ));
    }
    let max_delay = Duration::hours(state.config.scans.max_offline_hours);
    if scanned_at < now - max_delay {
        return Err(ApiError::unprocessable(
            "scan_too_old",
            format!(
                "offline scans are accepted up to {} hours after they were made",
                state.config.scans.max_offline_hours
            ),
            format!(
                "离线扫码记录须在 {} 小时内上传",
                state.config.scans.max_offline_hours
            ),
        ));
    }
    let direction = req.direction.unwrap_or(Direction::Entry);
    let report = state.passes.verify(req.text.trim(), scanned_at);
    let high_risk: Vec<String> = areas
        .iter()
        .filter(|a| a.in_force(scanned_at))
        .map(|a| a.region.clone())
        .collect();
    let policy = state.policy.at(scanned_at);
    let gate = Gate {
        venue,
        policy: policy.document(),
        region: state.passes.region(),
        high_risk: &high_risk,
    };
    let (answer, visit) = judge(&report, &gate, scan_id, direction, scanned_at);
    Ok(NewScan {
        source: checkpoint.id.clone(),
        scan_id: scan_id.to_owned(),
        venue_id: venue.id.clone(),
        scanned_at,
        outcome: match answer.outcome.as_str() {
            "admit" => "admit",
            "deny" => "deny",
            _ => "invalid",
        },
        answer: serde_json::to_string(&answer).map_err(|_| ApiError::internal())?,
        visit,
    })
}

/// The stored answer with `duplicate` set.
fn answer_of(recorded: &healthcode_store::Recorded) -> ApiResult<Value> {
    let mut value: Value =
        serde_json::from_str(&recorded.answer).map_err(|_| ApiError::internal())?;
    value["duplicate"] = Value::Bool(recorded.duplicate);
    Ok(value)
}
