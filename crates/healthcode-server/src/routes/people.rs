//! People: enrollment, declarations, facts, the derived status, and the audit entries about them.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::routes::login::normalise_phone;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use healthcode_core::identity::{Document, DocumentKind};
use healthcode_core::{Fact, Status};
use healthcode_store::{AuditEntry, Enrollment, NewPerson, Person};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// Enrolls a child in the care of this (already enrolled) person.
    #[serde(default)]
    pub guardian_id: Option<String>,
}

/// Enrollment. A resident enrolls themselves (under the phone they logged in with) or a child in
/// their care; staff may enroll anyone. A resident ID checked by its check character is confirmed
/// at once; other documents and children wait for staff to confirm them (审核中).
#[utoipa::path(post, path = "/api/v1/people", tag = "people", security(("bearer" = [])), request_body = EnrollRequest,
    responses((status = 201, body = Person), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
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
    Ok((person, state.policy.evaluate(&facts, now)))
}

/// The code shown and its word: the policy's colour, or `pending` (审核中) while enrollment is
/// under review.
pub fn code_shown(person: &Person, status: &Status) -> (&'static str, &'static str) {
    match person.enrollment {
        Enrollment::Pending => ("pending", "审核中"),
        Enrollment::Confirmed => (status.color.as_str(), status.color.word_zh()),
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
    pub phone: Option<String>,
    /// Why the person is looked up: on the audit record the person reads.
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
    let (code, code_zh) = code_shown(&person, &status);
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
    pub temperature_c: Option<f64>,
    #[serde(default)]
    pub symptoms: Vec<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// The daily health declaration (健康申报), recorded as a self-declared fact.
/// GB/T 38963 health declaration.
#[utoipa::path(post, path = "/api/v1/people/{id}/declarations", tag = "declaration", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    request_body = DeclarationRequest, responses((status = 201, body = crate::error::Recorded), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn declare(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<DeclarationRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    may_act_for(&caller, &id, &CASEWORKERS)?;
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
    let body = json!({
        "type": "declaration",
        "temperature_decicelsius": temperature,
        "symptoms": req.symptoms,
        "address": req.address,
        "legal_basis": "self-declared",
    });
    record(&state, &caller, &id, body).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TripRequest {
    pub origin: String,
    pub destination: String,
    #[serde(default)]
    pub departed_at: Option<String>,
    pub arrived_at: String,
    #[serde(default)]
    pub abroad: bool,
}

/// A trip declaration, past or planned (行程申报), recorded as a self-declared fact.
/// GB/T 38963 trip declaration.
#[utoipa::path(post, path = "/api/v1/people/{id}/trips", tag = "declaration", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    request_body = TripRequest, responses((status = 201, body = crate::error::Recorded), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn declare_trip(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<TripRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    may_act_for(&caller, &id, &CASEWORKERS)?;
    let body = json!({
        "type": "trip",
        "origin": req.origin,
        "destination": req.destination,
        "departed_at": req.departed_at,
        "arrived_at": req.arrived_at,
        "abroad": req.abroad,
        "legal_basis": "self-declared",
    });
    record(&state, &caller, &id, body).await
}

/// Which roles may record which kind of fact. Declarations, trips and check-ins come from the
/// resident (or staff on their behalf); the rest need an official or a department feed.
fn recorders(kind: &str) -> &'static [Role] {
    match kind {
        "case" | "contact" | "retraction" => &[Role::HealthOfficial],
        "test" | "risk_stay" | "itinerary" => &[Role::HealthOfficial, Role::Department],
        "observation" | "release" => &[Role::HealthOfficial, Role::CommunityWorker],
        "declaration" | "trip" | "checkin" => {
            &[Role::HealthOfficial, Role::CommunityWorker, Role::Resident]
        }
        _ => &[],
    }
}

/// Records a fact: the body is a fact as docs/POLICY.md defines it, with its `legal_basis`; the
/// node sets `recorded_at` and, unless given, `id`.
#[utoipa::path(post, path = "/api/v1/people/{id}/facts", tag = "facts", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    request_body(content = Fact, description = "a fact as docs/POLICY.md defines it, with its legal_basis; `id` and `recorded_at` may be left out"),
    responses((status = 201, body = crate::error::Recorded), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn record_fact(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if caller.role() == Role::Resident {
        may_act_for(&caller, &id, &[])?;
    }
    record(&state, &caller, &id, body).await
}

pub(crate) async fn record(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    body: Value,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.now();
    let fact = fact_from_request(caller, body, now)?;
    if state.store.person(person_id).await?.is_none() {
        return Err(ApiError::not_found("person"));
    }
    let purpose = fact.legal_basis.clone();
    state
        .store
        .record_fact(person_id, &fact, &caller.actor(purpose), now)
        .await?;
    crate::assess::after_facts(state, [(person_id, &fact)], now).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": fact.id, "recorded_at": rfc3339(fact.recorded_at)})),
    ))
}

pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A fact as a client sends it (docs/POLICY.md, with `legal_basis`): checks that the caller's
/// role may record this kind and that a legal basis is given; the node sets `recorded_at` and,
/// unless given, `id`.
pub fn fact_from_request(
    caller: &Caller,
    mut body: Value,
    now: time::OffsetDateTime,
) -> ApiResult<Fact> {
    let Value::Object(map) = &mut body else {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "a fact is a JSON object",
            "事实应为 JSON 对象",
        ));
    };
    let kind = map
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !recorders(&kind).contains(&caller.role()) {
        return Err(ApiError::forbidden());
    }
    let basis = map
        .get("legal_basis")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    if basis.is_empty() {
        return Err(ApiError::unprocessable(
            "legal_basis_required",
            "every fact needs a legal basis: a document or case number",
            "每条记录都需要法律依据（文件号或案件号）",
        ));
    }
    map.entry("id")
        .or_insert_with(|| json!(format!("f-{}", crate::auth::random_hex(12))));
    map.insert("recorded_at".into(), json!(rfc3339(now)));
    serde_json::from_value(body).map_err(|e| {
        ApiError::unprocessable(
            "invalid_fact",
            format!("not a valid fact: {e}"),
            format!("不是有效的事实记录：{e}"),
        )
    })
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
