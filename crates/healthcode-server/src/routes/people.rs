//! People over HTTP: enrollment, declarations, facts, the derived status, and the audit entries
//! about them. What each means and who may do it is in `usecases::{people, declarations}`.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path, rfc3339};
use crate::error::ApiResult;
use crate::usecases::declarations::{self, DeclarationRequest, Declared, TripRequest};
use crate::usecases::people::{self, EnrollRequest, SearchRequest, code_shown, current_status};
use crate::usecases::recording;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_core::{Fact, Status};
use healthcode_store::Person;
use serde::Serialize;
use serde_json::{Value, json};

#[utoipa::path(get, path = "/api/v1/me", tag = "people", security(("bearer" = [])),
    responses((status = 200, description = "the caller: a resident with the people they act for, or a staff account"), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Value> {
    Json(match caller {
        Caller::Resident { people, .. } => json!({"role": "resident", "people": people}),
        Caller::Staff { account, role } => json!({"role": role, "account": account}),
    })
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
    let person = people::enroll(&state, &caller, req, state.now()).await?;
    Ok((StatusCode::CREATED, Json(person)))
}

#[utoipa::path(post, path = "/api/v1/people/{id}/confirm", tag = "people", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 204, description = "identity confirmed"), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    people::confirm(&state, &caller, &id, state.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The code shown: the policy's colour, or `pending` (审核中) while enrollment is under review.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusView {
    pub person: Person,
    pub code: &'static str,
    pub code_zh: &'static str,
    pub status: Status,
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
    let people = people::find(&state, &caller, req, state.now()).await?;
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
    let (person, status) = current_status(&state, &caller, &id, "status.read", state.now()).await?;
    let shown = code_shown(&person, &status);
    let (code, code_zh) = (shown.as_str(), shown.word_zh());
    Ok(Json(StatusView {
        person,
        code,
        code_zh,
        status,
    }))
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
    let declared = declarations::declare(&state, &caller, &id, req, state.now()).await?;
    Ok((StatusCode::CREATED, Json(declared)))
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
    let fact = declarations::declare_trip(&state, &caller, &id, req, state.now()).await?;
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
    let fact = recording::record_sent(&state, &caller, &id, body, state.now()).await?;
    Ok(recorded(&fact))
}

/// The audit entries about a person: what they see under "who read my data". Staff reads of it
/// are themselves audited.
#[utoipa::path(get, path = "/api/v1/people/{id}/audit", tag = "audit", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<crate::usecases::audit_lines::AuditLine>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<crate::usecases::audit_lines::AuditLine>>> {
    Ok(Json(
        people::audit_of(&state, &caller, &id, state.now()).await?,
    ))
}
