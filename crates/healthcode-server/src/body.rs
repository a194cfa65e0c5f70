//! The API's wire format: extractors whose rejections speak our error format (a JSON body, path
//! parameters and a query string; a malformed one is a 4xx with a stable code and both
//! messages, never axum's plain text), and how an instant is written.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => ApiError::unprocessable(
                    "invalid_body",
                    format!("the request body does not match: {}", e.body_text()),
                    format!("请求内容不符合要求：{}", e.body_text()),
                ),
                JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                    "bad_json",
                    format!("the request body is not valid JSON: {}", e.body_text()),
                    "请求内容不是有效的 JSON",
                ),
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "content_type",
                    "send the body as application/json",
                    "请以 application/json 发送请求内容",
                ),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the request body is too large",
                    "请求内容过大",
                ),
                other => ApiError::bad_request("bad_body", other.body_text(), "无法读取请求内容"),
            }),
        }
    }
}

/// Path parameters; an unreadable one (not UTF-8, not the expected shape) is 400 `bad_path`.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(e) => Err(ApiError::bad_request(
                "bad_path",
                format!("the address cannot be read: {}", e.body_text()),
                "请求地址无法识别",
            )),
        }
    }
}

/// A query string; an unreadable one is 400 `bad_query`.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(e) => Err(ApiError::bad_request(
                "bad_query",
                format!("the query string cannot be read: {}", e.body_text()),
                "查询参数无法识别",
            )),
        }
    }
}

/// An instant as every answer writes it: RFC 3339.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An RFC 3339 date-time a client sent, or a clear error naming the field.
pub fn instant(field: &str, value: &str) -> Result<time::OffsetDateTime, ApiError> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).map_err(
        |_| {
            ApiError::unprocessable(
                "bad_time",
                format!("{field} {value:?} is not an RFC 3339 date-time"),
                format!("{field} {value:?} 不是 RFC 3339 时间"),
            )
        },
    )
}
