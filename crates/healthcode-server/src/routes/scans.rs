//! Checkpoint scans (扫码核验), offline batches, venue check-ins (场所码登记) and the visit log.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::Body;
use crate::body::{Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::recorder::RecordError;
use crate::scanning::{ScanAnswer, judge};
use crate::usecases::checkins::{self, CheckinAnswer, CheckinRequest};
use crate::usecases::visits::{self, VisitView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::visits::Direction;
use healthcode_store::{Checkpoint, NewScan, Venue, Visit};
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

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> ApiError {
        match e {
            RecordError::Overloaded => ApiError::overloaded(1),
            RecordError::TooMany(n) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_scans",
                format!("{n} scans are more than the node queues at once: send smaller batches"),
                "一次提交的扫码记录过多，请分批提交",
            ),
            RecordError::Store(_) => ApiError::internal(),
        }
    }
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
    checkpoint: &Checkpoint,
    venue: &Venue,
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
    let (answer, visit) = judge(
        &report,
        venue,
        state.policy.document(),
        scan_id,
        direction,
        scanned_at,
    );
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

/// A checkpoint's scan: verifies the pass offline (signature through the trust list, expiry at
/// the scan's time), judges it by the venue's rule, records the visit, and answers only once it
/// is on disk. The same `scan_id` again gets the same answer and no second visit.
#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", security(("bearer" = [])), request_body = ScanRequest,
    responses((status = 200, body = ScanAnswer), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody, description = "at capacity: retry after `Retry-After` seconds"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn scan(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ScanRequest>,
) -> ApiResult<Json<Value>> {
    let (checkpoint, venue) = checkpoint_of(&state, &caller).await?;
    let scan = prepare(&state, &checkpoint, &venue, req, state.now())?;
    let recorded = state.recorder.record(vec![scan]).await?;
    let first = recorded.first().ok_or_else(ApiError::internal)?;
    Ok(Json(answer_of(first)?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBatch {
    /// Up to `scans.batch_max` (10,000) scans, each as for `POST /scans`, in any order.
    #[schema(value_type = Vec<Object>)]
    scans: Vec<Value>,
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

/// A scanner that was offline syncs its scans: each is judged at its own `scanned_at` and gets
/// its own result; duplicates get their first answer; bad entries are refused one by one.
#[utoipa::path(post, path = "/api/v1/scans/batch", tag = "scans", security(("bearer" = [])), request_body = ScanBatch,
    responses((status = 200, body = ScanBatchResult), (status = 413, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody, description = "at capacity: retry after `Retry-After` seconds"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ScanBatch>,
) -> ApiResult<Json<ScanBatchResult>> {
    let (checkpoint, venue) = checkpoint_of(&state, &caller).await?;
    let max = state.config.scans.batch_max;
    if req.scans.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("a batch holds at most {max} scans"),
            format!("每批最多 {max} 条扫码记录"),
        ));
    }
    let now = state.now();
    let mut results = Vec::with_capacity(req.scans.len());
    let mut ready = Vec::new();
    for (index, raw) in req.scans.into_iter().enumerate() {
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
            .and_then(|req| prepare(&state, &checkpoint, &venue, req, now));
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
    Ok(Json(ScanBatchResult {
        recorded: fresh,
        duplicates,
        rejected: results.iter().filter(|r| r.status != 200).count(),
        results,
    }))
}

/// A resident checks in by scanning a venue code (场所码). Not doubled within a short window;
/// flagged when the phone is in another city than the venue.
#[utoipa::path(post, path = "/api/v1/checkins", tag = "scans", security(("bearer" = [])), request_body = CheckinRequest,
    responses((status = 201, body = CheckinAnswer), (status = 200, body = CheckinAnswer, description = "a check-in already made within the window"),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn checkin(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<CheckinRequest>,
) -> ApiResult<(StatusCode, Json<CheckinAnswer>)> {
    let answer = checkins::check_in(&state, &caller, req, state.now()).await?;
    let status = if answer.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(answer)))
}

#[derive(Default, Deserialize, utoipa::IntoParams)]
pub struct Window {
    /// From (RFC 3339); 14 days ago when absent.
    #[serde(default)]
    from: Option<String>,
    /// To (RFC 3339); now when absent.
    #[serde(default)]
    to: Option<String>,
    /// At most this many visits (default 1,000, at most 10,000).
    #[serde(default)]
    limit: Option<i64>,
}

impl Window {
    fn bounds(&self, now: OffsetDateTime) -> ApiResult<(OffsetDateTime, OffsetDateTime, i64)> {
        let parse = |s: &Option<String>, default: OffsetDateTime| match s {
            None => Ok(default),
            Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                ApiError::bad_request(
                    "bad_time",
                    format!("{s:?} is not an RFC 3339 time"),
                    "时间格式应为 RFC 3339",
                )
            }),
        };
        let (from, to, limit) = visits::recent(now);
        let from = parse(&self.from, from)?;
        let to = parse(&self.to, to)?;
        Ok((from, to, self.limit.unwrap_or(limit).clamp(1, 10_000)))
    }
}

/// A person's visits (到访记录): the resident's own and their children's; health officials'
/// reads go on the audit chain.
#[utoipa::path(get, path = "/api/v1/people/{id}/visits", tag = "scans", security(("bearer" = [])),
    params(("id" = String, Path, description = "the person's id"), Window),
    responses((status = 200, body = Vec<VisitView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn person_visits(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(window): Query<Window>,
) -> ApiResult<Json<Vec<VisitView>>> {
    let now = state.now();
    let (from, to, limit) = window.bounds(now)?;
    let visits = visits::of_person(&state, &caller, &id, (from, to, limit), now).await?;
    Ok(Json(visits))
}

/// A venue's visit log, for health officials and the venue's manager; on the audit chain.
#[utoipa::path(get, path = "/api/v1/venues/{id}/visits", tag = "scans", security(("bearer" = [])),
    params(("id" = String, Path, description = "the venue's id"), Window),
    responses((status = 200, body = Vec<VisitView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn venue_visits(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(window): Query<Window>,
) -> ApiResult<Json<Vec<VisitView>>> {
    let now = state.now();
    let (from, to, limit) = window.bounds(now)?;
    let visits = visits::at_venue(&state, &caller, &id, (from, to, limit), now).await?;
    Ok(Json(visits))
}

/// Confirms a flagged check-in (the person was there after all), so it counts as presence.
#[utoipa::path(post, path = "/api/v1/visits/{id}/confirm", tag = "scans", security(("bearer" = [])),
    params(("id" = String, Path, description = "the visit's id")),
    responses((status = 200, body = Visit), (status = 404, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn confirm_visit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Visit>> {
    Ok(Json(
        visits::confirm(&state, &caller, &id, state.now()).await?,
    ))
}
