//! Liveness and readiness.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process answers")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers and the node knows the policy version in effect; shows the trust list held from the hub (its sequence, age
/// and expiry), or null when the node has no hub.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "the store answers and the policy versions were read within their notice"), (status = 500, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<axum::Json<serde_json::Value>> {
    state.store.ping().await?;
    let now = state.now();
    if !state.policy.is_current(now) {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "policy_stale",
            "the node has not read the policy versions within policy_versions.notice_seconds: it cannot be sure which version applies",
            "本节点未能及时读取规则版本，无法确定当前适用的版本",
        ));
    }
    Ok(axum::Json(serde_json::json!({
        "status": "ready",
        "store": state.store.backend_name(),
        "trust_list": state.directory.state(state.now()),
    })))
}

pub async fn not_found(headers: HeaderMap) -> Response {
    crate::web::page::for_client(&headers, ApiError::not_found("this path"))
}

pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    let e = ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take this method",
        "该路径不支持此请求方法",
    );
    crate::web::page::for_client(&headers, e)
}

/// Whether the request may read the metrics: open when `metrics.public`, else the scraper's
/// token (`metrics.token`) or an admin account's.
async fn may_scrape(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let config = &state.config.metrics;
    if config.public {
        return Ok(());
    }
    let token = crate::auth::bearer(headers).ok_or_else(ApiError::unauthorized)?;
    if let Some(secret) = &config.token
        && crate::web::cookies::same(token, &secret.0)
    {
        return Ok(());
    }
    crate::auth::Caller::from_token(state, token, None)
        .await?
        .require(&[crate::auth::Role::Admin])
}

/// Prometheus exposition: for the scraper's token or an admin's, unless `metrics.public`.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus exposition"), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<([(axum::http::HeaderName, &'static str); 1], String)> {
    may_scrape(&state, &headers).await?;
    // The store's gauges are left out when it does not answer; the scrape itself still works.
    let traces = state
        .store
        .traces_in("queued", 10_000)
        .await
        .map(|t| t.len());
    let pending = state.store.pending_notifications().await;
    let mut text = format!(
        "{}# HELP healthcode_scan_queue_rows Scans waiting to be written (group commit).\n\
         # TYPE healthcode_scan_queue_rows gauge\nhealthcode_scan_queue_rows {}\n",
        state.metrics.render(),
        state.recorder.queued()
    );
    if let Ok(n) = traces {
        text.push_str(&format!(
            "# HELP healthcode_traces_queued Contact traces waiting for a tracer (at most 10000 counted).\n\
             # TYPE healthcode_traces_queued gauge\nhealthcode_traces_queued {n}\n"
        ));
    }
    if let Some(list) = state.directory.state(state.now()) {
        let expires_in = (list.valid_until - state.now()).whole_seconds();
        text.push_str(&format!(
            "# HELP healthcode_trust_list_sequence Sequence of the hub's trust list held.\n\
             # TYPE healthcode_trust_list_sequence gauge\nhealthcode_trust_list_sequence {}\n\
             # HELP healthcode_trust_list_age_seconds Seconds since the hub issued the list held.\n\
             # TYPE healthcode_trust_list_age_seconds gauge\nhealthcode_trust_list_age_seconds {}\n\
             # HELP healthcode_trust_list_expires_in_seconds Seconds until the list held expires (negative: expired).\n\
             # TYPE healthcode_trust_list_expires_in_seconds gauge\nhealthcode_trust_list_expires_in_seconds {expires_in}\n",
            list.sequence, list.age_seconds
        ));
    }
    if let Ok(undelivered) = state.store.undelivered_for_regions().await
        && !undelivered.is_empty()
    {
        text.push_str(
            "# HELP healthcode_region_messages_undelivered Messages to other regions not yet confirmed, by state.\n\
             # TYPE healthcode_region_messages_undelivered gauge\n",
        );
        for (state, n) in undelivered {
            text.push_str(&format!(
                "healthcode_region_messages_undelivered{{state=\"{state}\"}} {n}\n"
            ));
        }
    }
    if let Some(read) = state.policy.read_at() {
        text.push_str(&format!(
            "# HELP healthcode_policy_read_age_seconds Seconds since the node read the approved policy versions.\n\
             # TYPE healthcode_policy_read_age_seconds gauge\nhealthcode_policy_read_age_seconds {}\n",
            (state.now() - read).whole_seconds()
        ));
    }
    if let Ok(n) = pending {
        text.push_str(&format!(
            "# HELP healthcode_notifications_pending Messages in the outbox not yet sent.\n\
             # TYPE healthcode_notifications_pending gauge\nhealthcode_notifications_pending {n}\n"
        ));
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    ))
}
