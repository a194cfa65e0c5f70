//! The stylesheet and scripts, built into the binary: no CDN, nothing fetched elsewhere.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// Name, content type, bytes. Names carry a version so a changed file is fetched anew while an
/// unchanged one is cached for a day.
const ASSETS: [(&str, &str, &str); 7] = [
    (
        "style-2.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
    ),
    (
        "app-2.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "checkpoint-2.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/checkpoint.js"),
    ),
    (
        "camera-2.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/camera.js"),
    ),
    (
        "qrcam-1.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/qrcam.js"),
    ),
    // jsQR from npm (Apache-2.0), for browsers without BarcodeDetector: assets/vendor/README.md.
    (
        "jsqr-1.4.0.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/jsQR-1.4.0.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../assets/favicon.svg"),
    ),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (CONTENT_TYPE, *kind),
                (CACHE_CONTROL, "public, max-age=86400"),
            ],
            *body,
        )
            .into_response(),
        None => crate::error::ApiError::not_found("asset").into_response(),
    }
}
