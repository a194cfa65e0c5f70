//! The stylesheet and scripts, built into the binary: no CDN, nothing fetched elsewhere.

use crate::body::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// Name, content type, bytes. Names carry a version so a changed file is fetched anew while an
/// unchanged one is cached for a day.
const ASSETS: [(&str, &str, &str); 7] = [
    (
        "style-6.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
    ),
    (
        "app-2.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "checkpoint-3.js",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::ASSETS;

    /// Asset names carry a version by hand: every name a template or script asks for is served.
    #[test]
    fn every_asset_the_pages_ask_for_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut asked = 0;
        for dir in ["templates", "assets"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (_, rest) in text
                    .match_indices("/assets/")
                    .map(|(i, _)| ((), &text[i + 8..]))
                {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                        .collect();
                    asked += 1;
                    assert!(
                        ASSETS.iter().any(|(n, _, _)| *n == name),
                        "{} asks for /assets/{name}, which is not served",
                        path.display()
                    );
                }
            }
        }
        assert!(asked >= 5, "the pages ask for their assets");
    }
}
