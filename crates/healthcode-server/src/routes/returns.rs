//! The return journey (返程): applications, community verification, carriers.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{Body, Path};
use crate::error::{ApiResult, ErrorBody};
use crate::usecases::arrivals::{
    self, Arrival, ArrivalRequest, Figures, HandoffRequest, HandoffScan, ObservationBoard,
};
use crate::usecases::returns::{
    self, ApplyRequest, BookingReport, CallRequest, DecisionRequest, Eligibility, Passenger, Queue,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use healthcode_store::{Booking, ReturnApplication};

#[utoipa::path(post, path = "/api/v1/returns", tag = "returns", security(("bearer" = [])), request_body = ApplyRequest,
    responses((status = 201, body = ReturnApplication), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ApplyRequest>,
) -> ApiResult<(StatusCode, Json<ReturnApplication>)> {
    let app = returns::apply(&state, &caller, req, state.now()).await?;
    Ok((StatusCode::CREATED, Json(app)))
}

/// A community worker's queue: applications within the account's scope, and the escalated ones.
#[utoipa::path(get, path = "/api/v1/returns", tag = "returns", security(("bearer" = [])),
    responses((status = 200, body = Queue), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn queue(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Queue>> {
    Ok(Json(returns::queue(&state, &caller, state.now()).await?))
}

#[utoipa::path(get, path = "/api/v1/returns/{id}", tag = "returns", security(("bearer" = [])), params(("id" = String, Path, description = "the application's id")),
    responses((status = 200, body = ReturnApplication), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnApplication>> {
    Ok(Json(returns::one(&state, &caller, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/returns/{id}/calls", tag = "returns", security(("bearer" = [])), params(("id" = String, Path, description = "the application's id")),
    request_body = CallRequest, responses((status = 200, body = ReturnApplication), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn call(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<CallRequest>,
) -> ApiResult<Json<ReturnApplication>> {
    Ok(Json(
        returns::call(&state, &caller, &id, req, state.now()).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/returns/{id}/decision", tag = "returns", security(("bearer" = [])), params(("id" = String, Path, description = "the application's id")),
    request_body = DecisionRequest, responses((status = 200, body = ReturnApplication), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<DecisionRequest>,
) -> ApiResult<Json<ReturnApplication>> {
    Ok(Json(
        returns::decide(&state, &caller, &id, req, state.now()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/people/{id}/returns", tag = "returns", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<ReturnApplication>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn of_person(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ReturnApplication>>> {
    Ok(Json(returns::of_person(&state, &caller, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/people/{id}/bookings", tag = "returns", security(("bearer" = [])), params(("id" = String, Path, description = "the person's id")),
    responses((status = 200, body = Vec<Booking>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn bookings_of(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Booking>>> {
    Ok(Json(
        returns::bookings_of(&state, &caller, &id, state.now()).await?,
    ))
}

/// A carrier asks whether a passenger may be sold a ticket: yes or no and the days, nothing else.
#[utoipa::path(post, path = "/api/v1/carrier/eligibility", tag = "returns", security(("bearer" = [])), request_body = Passenger,
    responses((status = 200, body = Eligibility), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn eligibility(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<Passenger>,
) -> ApiResult<Json<Eligibility>> {
    Ok(Json(
        returns::eligibility(&state, &caller, &req, state.now()).await?,
    ))
}

/// A carrier reports a booking, or its next state; the same report again changes nothing.
#[utoipa::path(post, path = "/api/v1/carrier/bookings", tag = "returns", security(("bearer" = [])), request_body = BookingReport,
    responses((status = 201, body = Booking), (status = 200, body = Booking, description = "a booking reported before, now in this state"),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn report_booking(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<BookingReport>,
) -> ApiResult<(StatusCode, Json<Booking>)> {
    let (booking, created) = returns::report_booking(&state, &caller, req, state.now()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(booking)))
}

/// A station checkpoint's arrival scan: the pass and the temperature of one returning person.
#[utoipa::path(post, path = "/api/v1/returns/arrivals", tag = "returns", security(("bearer" = [])), request_body = ArrivalRequest,
    responses((status = 200, body = Arrival), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn arrival(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<ArrivalRequest>,
) -> ApiResult<Json<Arrival>> {
    Ok(Json(
        arrivals::arrival(&state, &caller, req, state.now()).await?,
    ))
}

/// The receiving side confirms a hand-off: district, then street, then community.
#[utoipa::path(post, path = "/api/v1/returns/{id}/handoffs", tag = "returns", security(("bearer" = [])), params(("id" = String, Path, description = "the application's id")),
    request_body = HandoffRequest, responses((status = 200, body = ReturnApplication), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn handoff(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<HandoffRequest>,
) -> ApiResult<Json<ReturnApplication>> {
    Ok(Json(
        arrivals::handoff(&state, &caller, &id, req, state.now()).await?,
    ))
}

/// The receiving side confirms a hand-off by scanning the person's pass.
#[utoipa::path(post, path = "/api/v1/returns/handoffs", tag = "returns", security(("bearer" = [])), request_body = HandoffScan,
    responses((status = 200, body = ReturnApplication), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn handoff_by_pass(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<HandoffScan>,
) -> ApiResult<Json<ReturnApplication>> {
    Ok(Json(
        arrivals::handoff_by_pass(&state, &caller, req, state.now()).await?,
    ))
}

/// A community worker's board of home observation: today's check-ins, who missed one.
#[utoipa::path(get, path = "/api/v1/returns/observation", tag = "returns", security(("bearer" = [])),
    responses((status = 200, body = ObservationBoard), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn observation(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ObservationBoard>> {
    Ok(Json(
        arrivals::observation(&state, &caller, state.now()).await?,
    ))
}

/// The journey's figures: the funnel, who is where, who is expected, what waits on whom.
#[utoipa::path(get, path = "/api/v1/returns/figures", tag = "returns", security(("bearer" = [])),
    responses((status = 200, body = Figures), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn figures(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Figures>> {
    Ok(Json(arrivals::figures(&state, &caller, state.now()).await?))
}
