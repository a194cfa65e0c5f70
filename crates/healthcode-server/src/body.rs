//! A JSON body extractor whose rejections speak our error format.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
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
