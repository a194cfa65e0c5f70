//! The one web error: an HTTP status, a stable machine-readable code, and a message in English
//! and Chinese. The cause of a server fault is logged, not shown.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use healthcode_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub en: String,
    pub zh: String,
    /// Seconds after which to try again (sent as `Retry-After`), when the node sheds load.
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Every error's body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable and machine-readable, e.g. `legal_basis_required`.
    pub code: String,
    pub message: String,
    pub message_zh: String,
}

/// What recording a fact answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Recorded {
    pub id: String,
    pub recorded_at: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        en: impl Into<String>,
        zh: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            en: en.into(),
            zh: zh.into(),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After`: past capacity the node answers at once instead of queueing.
    pub fn overloaded(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the node is at capacity: try again shortly",
                "系统繁忙，请稍后重试",
            )
        }
    }

    pub fn bad_request(
        code: &'static str,
        en: impl Into<String>,
        zh: impl Into<String>,
    ) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, en, zh)
    }

    pub fn unprocessable(
        code: &'static str,
        en: impl Into<String>,
        zh: impl Into<String>,
    ) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, en, zh)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
            "需要有效的访问令牌",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role may not do this",
            "您的角色无权执行此操作",
        )
    }

    pub fn conflict(code: &'static str, en: impl Into<String>, zh: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, en, zh)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
            format!("未找到：{what}"),
        )
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the node could not complete the request",
            "服务暂时无法完成请求",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code, "message": self.en, "message_zh": self.zh});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(&what),
            StoreError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                what.clone(),
                "与已有记录冲突".to_owned(),
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::recorder::RecordError> for ApiError {
    fn from(e: crate::recorder::RecordError) -> ApiError {
        match e {
            crate::recorder::RecordError::Overloaded => ApiError::overloaded(1),
            crate::recorder::RecordError::TooMany(n) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_scans",
                format!("{n} scans are more than the node queues at once: send smaller batches"),
                "一次提交的扫码记录过多，请分批提交",
            ),
            crate::recorder::RecordError::Store(_) => ApiError::internal(),
        }
    }
}
