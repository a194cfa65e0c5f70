//! People: enrollment, declarations, facts, the derived status, and the audit entries about them.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::{Body, Path, instant, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::routes::login::normalise_phone;
use crate::usecases::recording::{self, Via};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::identity::{Document, DocumentKind};
use healthcode_core::{Color, Fact, FactBody, Status};
use healthcode_store::{AuditEntry, BatchItem, Enrollment, NewPerson, Person, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Staff who may read and change any person's record.
pub const CASEWORKERS: [Role; 3] = [Role::HealthOfficial, Role::CommunityWorker, Role::Admin];

/// Admits residents acting for this person, and the staff roles given.
pub fn may_act_for(caller: &Caller, person_id: &str, staff: &[Role]) -> ApiResult<()> {
    match caller {
        Caller::Resident { .. } if caller.acts_for(person_id) => Ok(()),
        Caller::Resident { .. } => Err(ApiError::forbidden()),
        Caller::Staff { .. } => caller.require(staff),
    }
}

#[utoipa::path(get, path = "/api/v1/me", tag = "people", security(("bearer" = [])),
    responses((status = 200, description = "the caller: a resident with the people they act for, or a staff account"), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Value> {
    Json(match caller {
        Caller::Resident { people, .. } => json!({"role": "resident", "people": people}),
        Caller::Staff { account, role } => json!({"role": role, "account": account}),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub document_kind: DocumentKind,
    #[serde(default)]
    pub document_number: String,
    #[serde(default)]
    pub country: Option<String>,
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    #[schema(pattern = r"^(1[3-9][0-9]{9}|\+[0-9]{7,15})$")]
    pub phone: Option<String>,
    /// Enrolls a child in the care of this (already enrolled) person.
    #[serde(default)]
    pub guardian_id: Option<String>,
}

/// Enrollment. A resident enrolls themselves (under the phone they logged in with) or a child in
/// their care; staff may enroll anyone. A resident ID checked by its check character is confirmed
/// at once; other documents and children wait for staff to confirm them (审核中).
#[utoipa::path(post, path = "/api/v1/people", tag = "people", security(("bearer" = [])), request_body = EnrollRequest,
    responses((status = 201, body = Person), (status = 404, body = crate::error::ErrorBody, description = "the guardian named is not enrolled"), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn enroll(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<Person>)> {
    let now = state.now();
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::unprocessable(
            "bad_name",
            "a name has 1 to 64 characters",
            "姓名应为 1 至 64 个字符",
        ));
    }
    let document = Document::parse(
        req.document_kind,
        &req.document_number,
        req.country.as_deref(),
        now.date(),
    )
    .map_err(|e| ApiError::unprocessable(e.code, e.en, e.zh))?;
    let phone = req.phone.as_deref().map(normalise_phone).transpose()?;
    if let Some(guardian) = &req.guardian_id {
        match &caller {
            Caller::Resident { .. } if caller.acts_for(guardian) => {}
            Caller::Resident { .. } => return Err(ApiError::forbidden()),
            Caller::Staff { .. } => caller.require(&CASEWORKERS)?,
        }
        if state.store.person(guardian).await?.is_none() {
            return Err(ApiError::not_found("guardian"));
        }
    } else if req.document_kind == DocumentKind::None {
        return Err(ApiError::unprocessable(
            "guardian_required",
            "a person without a document is enrolled by a guardian",
            "无证件人员须由监护人代办",
        ));
    }
    let enrollment = match &caller {
        Caller::Resident { phone_index, .. } => {
            let phone = phone.as_deref().ok_or_else(|| {
                ApiError::unprocessable(
                    "phone_required",
                    "give the phone number you logged in with",
                    "请填写登录所用的手机号",
                )
            })?;
            if state.store.phone_index_of(phone) != *phone_index {
                return Err(ApiError::forbidden());
            }
            if req.document_kind == DocumentKind::ResidentId && req.guardian_id.is_none() {
                Enrollment::Confirmed
            } else {
                Enrollment::Pending
            }
        }
        Caller::Staff { .. } => {
            caller.require(&CASEWORKERS)?;
            Enrollment::Confirmed
        }
    };
    let new = NewPerson {
        document,
        name,
        phone,
        guardian_id: req.guardian_id,
        enrollment,
    };
    let person = state
        .store
        .enroll(&new, &caller.actor("enrollment"), now)
        .await?;
    Ok((StatusCode::CREATED, Json(person)))
}

#[utoipa::path(post, path = "/api/v1/people/{id}/confirm", tag = "people", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 204, description = "identity confirmed"), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(&CASEWORKERS)?;
    state
        .store
        .confirm_enrollment(&id, &caller.actor("identity check"), state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The person and the colour the policy gives them now, for a caller who may act for them. A
/// staff caller's read goes on the record the person can see (as `action`); a resident reading
/// their own (or their child's) data is not someone else looking at it.
pub async fn current_status(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> ApiResult<(Person, Status)> {
    may_act_for(caller, id, &CASEWORKERS)?;
    let now = state.now();
    let person = match caller {
        // A resident's session already holds the people they act for.
        Caller::Resident { people, .. } => people.iter().find(|p| p.id == id).cloned(),
        Caller::Staff { .. } => state.store.person(id).await?,
    }
    .ok_or_else(|| ApiError::not_found("person"))?;
    if let Caller::Staff { .. } = caller {
        let actor = caller.actor("status query");
        state.store.audit(&actor, action, Some(id), "", now).await?;
    }
    let facts = state.store.facts(id).await?;
    let status = state.policy.evaluate(&facts, now);
    crate::assess::note_undecided(state, id, &status);
    Ok((person, status))
}

/// The code shown: the policy's colour (itself pending when a rule could not be judged), and
/// at least pending (审核中) while enrollment is under review; a red that applies stays red.
pub fn code_shown(person: &Person, status: &Status) -> Color {
    match person.enrollment {
        Enrollment::Pending => status.color.max(Color::Pending),
        Enrollment::Confirmed => status.color,
    }
}

/// The code shown: the policy's colour, or `pending` (审核中) while enrollment is under review.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusView {
    pub person: Person,
    pub code: &'static str,
    pub code_zh: &'static str,
    pub status: Status,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A document to look for (with `document_number`, and `country` for a passport) …
    #[serde(default)]
    pub document_kind: Option<DocumentKind>,
    #[serde(default)]
    pub document_number: String,
    #[serde(default)]
    pub country: Option<String>,
    /// … or a phone: the adult who uses it and the children in their care.
    #[serde(default)]
    #[schema(pattern = r"^(1[3-9][0-9]{9}|\+[0-9]{7,15})$")]
    pub phone: Option<String>,
    /// Why the person is looked up: on the audit record the person reads.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub purpose: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchAnswer {
    pub people: Vec<Person>,
}

/// Finds people by document or by phone, compared through their blind indexes (the data stays
/// sealed). In the body, not the address, so the numbers stay out of access logs. Each person
/// found gets an audit entry with the purpose given; a search that finds no one is audited too.
#[utoipa::path(post, path = "/api/v1/people/search", tag = "query", security(("bearer" = [])),
    request_body = SearchRequest, responses((status = 200, body = SearchAnswer), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<SearchRequest>,
) -> ApiResult<Json<SearchAnswer>> {
    caller.require(&CASEWORKERS)?;
    let purpose = req.purpose.trim();
    if purpose.is_empty() || purpose.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "purpose_required",
            "say why the person is looked up (1 to 200 characters): the person will read it",
            "请说明查询事由（1 至 200 个字符），本人可查看",
        ));
    }
    let now = state.now();
    let (people, by) = match (req.document_kind, &req.phone) {
        (Some(kind), None) if kind != DocumentKind::None => {
            let document = Document::parse(
                kind,
                &req.document_number,
                req.country.as_deref(),
                now.date(),
            )
            .map_err(|e| ApiError::unprocessable(e.code, e.en, e.zh))?;
            let found = state.store.find_by_document(&document).await?;
            (found.into_iter().collect::<Vec<_>>(), "document")
        }
        (None, Some(phone)) => {
            let phone = normalise_phone(phone)?;
            (state.store.find_by_phone(&phone).await?, "phone")
        }
        _ => {
            return Err(ApiError::unprocessable(
                "search_key_required",
                "give a document (document_kind and document_number) or a phone, one of the two",
                "请提供证件（类型与号码）或手机号，二者选一",
            ));
        }
    };
    let actor = caller.actor(purpose);
    let detail = format!("found by {by}");
    for person in &people {
        state
            .store
            .audit(&actor, "people.search", Some(&person.id), &detail, now)
            .await?;
    }
    if people.is_empty() {
        let detail = format!("no one found by {by}");
        state
            .store
            .audit(&actor, "people.search", None, &detail, now)
            .await?;
    }
    Ok(Json(SearchAnswer { people }))
}

/// GB/T 38963 health-information query: the colour (or `pending`), every reason, until-times.
#[utoipa::path(get, path = "/api/v1/people/{id}/status", tag = "query", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = StatusView), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<StatusView>> {
    let (person, status) = current_status(&state, &caller, &id, "status.read").await?;
    let shown = code_shown(&person, &status);
    let (code, code_zh) = (shown.as_str(), shown.word_zh());
    Ok(Json(StatusView {
        person,
        code,
        code_zh,
        status,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclarationRequest {
    /// Degrees Celsius, e.g. 36.6.
    #[serde(default)]
    #[schema(minimum = 30.0, maximum = 45.0)]
    pub temperature_c: Option<f64>,
    /// At most 20, each at most 64 characters, e.g. `cough`.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub symptoms: Vec<String>,
    /// At most 200 characters.
    #[serde(default)]
    pub address: Option<String>,
}

/// What a declaration answers: the declaration, and the day it counts for as the daily
/// check-in (打卡).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Declared {
    pub id: String,
    #[schema(format = DateTime)]
    pub recorded_at: String,
    pub checkin: DailyCheckin,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DailyCheckin {
    /// The local day (the policy's offset) the check-in counts for: today, by the node's clock.
    pub date: String,
    /// False when the person had already checked in today: a day counts once.
    pub first_today: bool,
}

fn too_long(code: &'static str, en: &str, zh: &str) -> ApiError {
    ApiError::unprocessable(code, en, zh)
}

/// The daily health declaration (健康申报), which is also the day's check-in (每日打卡), as
/// 京心相助 made it: a self-declared fact, and a check-in fact for today by the node's clock,
/// once per local day. GB/T 38963 health declaration.
#[utoipa::path(post, path = "/api/v1/people/{id}/declarations", tag = "declaration", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    request_body = DeclarationRequest, responses((status = 201, body = Declared), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn declare(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<DeclarationRequest>,
) -> ApiResult<(StatusCode, Json<Declared>)> {
    may_act_for(&caller, &id, &CASEWORKERS)?;
    recording::may_record(&caller, "declaration", Via::Declaration)?;
    let temperature = req
        .temperature_c
        .map(|t| {
            if (30.0..=45.0).contains(&t) {
                Ok((t * 10.0).round() as i64)
            } else {
                Err(ApiError::unprocessable(
                    "bad_temperature",
                    "a body temperature is between 30 and 45 °C",
                    "体温应在 30 至 45 °C 之间",
                ))
            }
        })
        .transpose()?;
    let symptoms: Vec<String> = req.symptoms.iter().map(|s| s.trim().to_owned()).collect();
    if symptoms.len() > 20
        || symptoms
            .iter()
            .any(|s| s.is_empty() || s.chars().count() > 64)
    {
        return Err(too_long(
            "bad_symptoms",
            "at most 20 symptoms, each of 1 to 64 characters",
            "症状最多 20 项，每项 1 至 64 个字符",
        ));
    }
    let address = req
        .address
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    if address.as_ref().is_some_and(|a| a.chars().count() > 200) {
        return Err(too_long(
            "bad_address",
            "an address has at most 200 characters",
            "地址最多 200 个字符",
        ));
    }
    if state.store.person(&id).await?.is_none() {
        return Err(ApiError::not_found("person"));
    }
    let now = state.now();
    let declaration = Fact {
        id: recording::new_fact_id(),
        recorded_at: now,
        legal_basis: SELF_DECLARED.to_owned(),
        body: FactBody::Declaration {
            temperature_decicelsius: temperature,
            symptoms,
            address,
        },
    };
    let (checkin_id, date) = daily_checkin(&state, &id, now);
    let checkin = Fact {
        id: checkin_id,
        recorded_at: now,
        legal_basis: SELF_DECLARED.to_owned(),
        body: FactBody::Checkin {
            date,
            at: now,
            observation_id: None,
        },
    };
    let item = |fact: &Fact| BatchItem {
        person_id: id.clone(),
        fact: fact.clone(),
    };
    let actor = caller.actor(SELF_DECLARED);
    let checked_in = |facts: Vec<Fact>| facts.iter().any(|f| f.id == checkin.id);
    let mut first_today = !checked_in(state.store.facts(&id).await?);
    if first_today {
        let both = [item(&declaration), item(&checkin)];
        match state.store.record_facts(&both, &actor, now).await {
            // Another declaration checked in for today in between: this one only declares.
            Err(StoreError::Conflict(_)) => first_today = false,
            other => other?,
        }
    }
    if !first_today {
        state
            .store
            .record_fact(&id, &declaration, &actor, now)
            .await?;
    }
    let recorded = [(id.as_str(), &declaration), (id.as_str(), &checkin)];
    crate::assess::after_facts(&state, recorded, now).await;
    Ok((
        StatusCode::CREATED,
        Json(Declared {
            id: declaration.id,
            recorded_at: rfc3339(now),
            checkin: DailyCheckin {
                date: date.to_string(),
                first_today,
            },
        }),
    ))
}

/// Today's check-in of a person: its id (one a local day, so a second one cannot land) and the
/// local day, by the node's clock in the policy's offset.
pub fn daily_checkin(
    state: &AppState,
    person_id: &str,
    now: OffsetDateTime,
) -> (String, time::Date) {
    let date = now
        .checked_to_offset(state.policy.display_offset())
        .unwrap_or(now)
        .date();
    (format!("checkin-{person_id}-{date}"), date)
}

/// Whether the person has checked in today (made today's declaration).
pub async fn checked_in_today(state: &AppState, person_id: &str) -> ApiResult<bool> {
    let (id, _) = daily_checkin(state, person_id, state.now());
    Ok(state
        .store
        .facts(person_id)
        .await?
        .iter()
        .any(|f| f.id == id))
}

/// The legal basis of what a person declares about themselves.
pub const SELF_DECLARED: &str = "self-declared";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TripRequest {
    /// Where from and to: a GB/T 2260 code or a place name (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub origin: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub destination: String,
    #[serde(default)]
    #[schema(format = DateTime)]
    pub departed_at: Option<String>,
    /// RFC 3339; a planned trip lies ahead (at most a year).
    #[schema(format = DateTime)]
    pub arrived_at: String,
    #[serde(default)]
    pub abroad: bool,
}

/// A trip declaration, past or planned (行程申报), recorded as a self-declared fact.
/// GB/T 38963 trip declaration.
#[utoipa::path(post, path = "/api/v1/people/{id}/trips", tag = "declaration", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    request_body = TripRequest, responses((status = 201, body = crate::error::Recorded), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn declare_trip(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<TripRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    may_act_for(&caller, &id, &CASEWORKERS)?;
    recording::may_record(&caller, "trip", Via::Declaration)?;
    let place = |p: &str| {
        let p = p.trim();
        if p.is_empty() || p.chars().count() > 100 {
            Err(ApiError::unprocessable(
                "bad_place",
                "a trip's origin and destination have 1 to 100 characters",
                "行程的出发地和目的地应为 1 至 100 个字符",
            ))
        } else {
            Ok(p.to_owned())
        }
    };
    let now = state.now();
    let body = FactBody::Trip {
        origin: place(&req.origin)?,
        destination: place(&req.destination)?,
        departed_at: req
            .departed_at
            .as_deref()
            .map(|t| instant("departed_at", t))
            .transpose()?,
        arrived_at: instant("arrived_at", &req.arrived_at)?,
        abroad: req.abroad,
    };
    recording::check_times(&body, &recording::bounds(&state, now))?;
    let fact = Fact {
        id: recording::new_fact_id(),
        recorded_at: now,
        legal_basis: SELF_DECLARED.to_owned(),
        body,
    };
    let fact = recording::record(&state, &caller, &id, fact, now).await?;
    Ok(recorded(&fact))
}

/// What recording a fact answers: its id and when it was recorded.
pub fn recorded(fact: &Fact) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({"id": fact.id, "recorded_at": rfc3339(fact.recorded_at)})),
    )
}

/// Records a fact: the body is a fact as docs/POLICY.md defines it, with its `legal_basis`; the
/// node sets `recorded_at` and, unless given, `id`. Who may record which kind is the table in
/// docs/SECURITY.md; residents declare through `/declarations` and `/trips` instead.
#[utoipa::path(post, path = "/api/v1/people/{id}/facts", tag = "facts", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    request_body(content = Fact, description = "a fact as docs/POLICY.md defines it, with its legal_basis; `id` and `recorded_at` may be left out"),
    responses((status = 201, body = crate::error::Recorded), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn record_fact(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.now();
    let bounds = recording::bounds(&state, now);
    let fact = recording::fact_from_request(&caller, Via::Single, body, now, &bounds)?;
    let fact = recording::record(&state, &caller, &id, fact, now).await?;
    Ok(recorded(&fact))
}

/// The audit entries about a person: what they see under "who read my data". Staff reads of it
/// are themselves audited.
#[utoipa::path(get, path = "/api/v1/people/{id}/audit", tag = "audit", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    may_act_for(&caller, &id, &[Role::Auditor, Role::Admin])?;
    if let Caller::Staff { .. } = caller {
        state
            .store
            .audit(
                &caller.actor("audit review"),
                "audit.read",
                Some(&id),
                "",
                state.now(),
            )
            .await?;
    }
    Ok(Json(state.store.audit_about(&id).await?))
}
