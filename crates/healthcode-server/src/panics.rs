//! A handler that panics answers 500, as a page or as JSON, and the panic is logged: no
//! request drops its connection, and the node goes on serving everyone else.

use crate::error::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// Middleware: runs the rest of the stack and turns a panic into a 500.
pub async fn catch(request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    let path = request.uri().path().to_owned();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%path, panic = %message, "a handler panicked");
            crate::web::page::for_client(&headers, ApiError::internal())
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    #[allow(clippy::panic)]
    async fn boom() -> &'static str {
        panic!("a date at the end of time")
    }

    #[tokio::test]
    async fn a_panic_answers_500_json_or_a_page() {
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(axum::middleware::from_fn(super::catch));
        let api = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(api.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "internal");
        let page = app
            .oneshot(
                Request::get("/boom")
                    .header("accept", "text/html")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("<html"));
    }
}
