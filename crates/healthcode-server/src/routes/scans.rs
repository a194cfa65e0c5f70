//! Checkpoint scans (扫码核验), offline batches, venue check-ins (场所码登记) and the visit log.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::Body;
use crate::body::rfc3339;
use crate::body::{Path, Query};
use crate::error::{ApiError, ApiResult};
use crate::recorder::RecordError;
use crate::scanning::{ScanAnswer, colour_zh, judge, same_city};
use crate::usecases::people::{current_status, may_act_for};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::visits::{Direction, dwell_minutes, parameter_i64};
use healthcode_pass::verify::Content;
use healthcode_store::{Checkpoint, NewScan, NewVisit, Venue, Visit};
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// The venue code's text (`HCV1:…`), scanned with the phone or pasted.
    pub text: String,
    /// Whom the check-in is for: the resident or a child in their care (the resident when
    /// absent).
    #[serde(default)]
    pub person_id: Option<String>,
    /// Where the phone is (GB/T 2260 code, from its location services), if it can tell: a
    /// check-in far from the venue is flagged and counts as presence only once confirmed.
    #[serde(default)]
    pub region: Option<String>,
    /// `entry` (default) or `exit`.
    #[serde(default)]
    pub direction: Option<Direction>,
}

/// What a check-in answers: the visit and the colour to show staff at the door.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckinAnswer {
    pub visit: Visit,
    /// True when the same venue was checked in to within the policy's `checkin_dedup_minutes`:
    /// this is that check-in.
    pub duplicate: bool,
    pub venue_name: String,
    pub colour: String,
    pub colour_zh: String,
    pub masked_name: String,
    /// Whether the venue admits this colour.
    pub admit: bool,
    /// Each reason for the colour, in both languages.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Value>,
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
    let Caller::Resident { people, .. } = &caller else {
        return Err(ApiError::forbidden());
    };
    let person_id = match &req.person_id {
        Some(id) => id.clone(),
        None => people
            .iter()
            .find(|p| p.guardian_id.is_none())
            .or(people.first())
            .map(|p| p.id.clone())
            .ok_or_else(|| ApiError::not_found("an enrolled person for this phone"))?,
    };
    let now = state.now();
    let report = state.passes.verify(req.text.trim(), now);
    let code = match (&report.content, report.valid) {
        (Some(Content::Venue(code)), true) => code.clone(),
        _ => {
            return Err(ApiError::unprocessable(
                "bad_venue_code",
                "not a valid venue code of a region this node trusts: scan the code posted at the venue",
                "不是有效的场所码，请扫描场所张贴的场所码",
            ));
        }
    };
    let venue = state
        .store
        .venue(&code.venue_id)
        .await?
        .ok_or_else(|| ApiError::not_found("venue (check in with the node of its region)"))?;
    let (person, status) =
        current_status(&state, &caller, &person_id, "checkin", state.now()).await?;
    let colour = crate::usecases::people::code_shown(&person, &status).as_str();
    let reasons = status
        .reasons
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let policy = state.policy.document();
    let direction = req.direction.unwrap_or(Direction::Entry);
    let shown = |visit: Visit, duplicate: bool| CheckinAnswer {
        visit,
        duplicate,
        venue_name: venue.name.clone(),
        colour: colour.to_owned(),
        colour_zh: colour_zh(colour).to_owned(),
        masked_name: person.name_masked.clone(),
        admit: healthcode_core::visits::admits(policy, &venue.category, colour),
        reasons,
    };
    if direction == Direction::Entry {
        let window = Duration::minutes(parameter_i64(policy, "checkin_dedup_minutes", 30));
        if let Some(visit) = state
            .store
            .latest_checkin(&person.pseudonym, &venue.id, now - window)
            .await?
        {
            return Ok((StatusCode::OK, Json(shown(visit, true))));
        }
    }
    let flag = match req.region.as_deref().map(str::trim) {
        Some(device) if !same_city(device, &venue.region) => Some(format!(
            "far_from_venue: the phone reported region {device}, the venue is in {}",
            venue.region
        )),
        _ => None,
    };
    let until = match direction {
        Direction::Entry => now + Duration::minutes(dwell_minutes(policy, &venue.category)),
        Direction::Exit => now,
    };
    let scan_id = crate::auth::random_hex(16);
    let scan = NewScan {
        source: format!("resident:{}", person.id),
        scan_id: scan_id.clone(),
        venue_id: venue.id.clone(),
        scanned_at: now,
        outcome: "admit",
        answer: serde_json::json!({"scan_id": scan_id, "checkin": true}).to_string(),
        visit: Some(NewVisit {
            subject: person.pseudonym.clone(),
            region: state.config.region.clone(),
            direction,
            via: "checkin",
            until,
            colour: colour.to_owned(),
            masked_name: person.name_masked.clone(),
            flag,
        }),
    };
    let recorded = state.recorder.record(vec![scan]).await?;
    let visit_id = recorded
        .first()
        .and_then(|r| r.visit_id.clone())
        .ok_or_else(ApiError::internal)?;
    let visit = state
        .store
        .visit(&visit_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(shown(visit, false))))
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
        let from = parse(&self.from, now - Duration::days(14))?;
        let to = parse(&self.to, now + Duration::minutes(1))?;
        Ok((from, to, self.limit.unwrap_or(1000).clamp(1, 10_000)))
    }
}

/// A visit with the presence it stands for: until its exit or its dwell time.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VisitView {
    #[serde(flatten)]
    pub visit: Visit,
    /// The end of presence: the exit scanned at the same venue, or `until`.
    pub presence_until: Option<String>,
}

fn with_presence(visits: Vec<Visit>) -> Vec<VisitView> {
    use healthcode_core::visits::{VisitPoint, presences};
    use healthcode_store::ms;
    let points: Vec<VisitPoint<&str>> = visits
        .iter()
        .map(|v| VisitPoint {
            subject: v.subject.as_str(),
            venue: v.venue_id.as_str(),
            direction: Direction::parse(&v.direction).unwrap_or(Direction::Entry),
            at: ms(v.at),
            until: ms(v.until),
        })
        .collect();
    let mut ends = vec![None; visits.len()];
    for p in presences(&points) {
        ends[p.entry] = OffsetDateTime::from_unix_timestamp_nanos(i128::from(p.until) * 1_000_000)
            .ok()
            .map(rfc3339);
    }
    visits
        .into_iter()
        .zip(ends)
        .map(|(visit, presence_until)| VisitView {
            visit,
            presence_until,
        })
        .collect()
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
    may_act_for(&caller, &id, &[Role::HealthOfficial, Role::Admin])?;
    let now = state.now();
    let (from, to, limit) = window.bounds(now)?;
    let person = match &caller {
        Caller::Resident { people, .. } => people.iter().find(|p| p.id == id).cloned(),
        Caller::Staff { .. } => {
            let actor = caller.actor("visit log query");
            state
                .store
                .audit(&actor, "visits.read", Some(&id), "", now)
                .await?;
            state.store.person(&id).await?
        }
    }
    .ok_or_else(|| ApiError::not_found("person"))?;
    let visits = state
        .store
        .visits_of_subject(&person.pseudonym, from, to, limit)
        .await?;
    Ok(Json(with_presence(visits)))
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
    let venue = managed_venue(&state, &caller, &id).await?;
    let now = state.now();
    let (from, to, limit) = window.bounds(now)?;
    state
        .store
        .audit(
            &caller.actor("venue visit log"),
            "venue.visits.read",
            None,
            &format!("venue {}", venue.id),
            now,
        )
        .await?;
    let visits = state
        .store
        .visits_at_venue(&venue.id, from, to, limit)
        .await?;
    Ok(Json(with_presence(visits)))
}

/// The venue, if the caller is a health official, an admin or the venue's own manager.
async fn managed_venue(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Venue> {
    caller.require(&[Role::HealthOfficial, Role::VenueManager, Role::Admin])?;
    let venue = state
        .store
        .venue(id)
        .await?
        .ok_or_else(|| ApiError::not_found("venue"))?;
    if let Caller::Staff {
        account,
        role: Role::VenueManager,
    } = caller
        && account.id != venue.manager_id
    {
        return Err(ApiError::forbidden());
    }
    Ok(venue)
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
    let visit = state
        .store
        .visit(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("visit"))?;
    managed_venue(&state, &caller, &visit.venue_id).await?;
    let visit = state
        .store
        .confirm_visit(
            &id,
            &caller.actor("confirming a flagged check-in"),
            state.now(),
        )
        .await?;
    Ok(Json(visit))
}
