//! Admission control: requests are admitted by class, each class with its own bound on
//! requests in flight, and a request over its class's bound is refused at once with 503 and
//! `Retry-After`, before its body is read or its token looked up. So a flood of scans is shed
//! for the price of a trivial request, while health checks (never limited) and reads (their
//! own bound) go on. Shedding is counted in `/metrics`, not logged per request, and a refusal is
//! held for `admission.shed_delay_ms` before it is sent, so clients that retry at once pace
//! themselves instead of spinning.

use crate::config::AdmissionConfig;
use crate::error::ApiError;
use crate::metrics::{Metrics, SHED};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The classes requests are admitted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `/healthz`, `/readyz`, `/metrics`: never limited.
    Health,
    /// Checkpoint scans and venue check-ins: the flood a city's gates send.
    Scan,
    /// Every other GET or HEAD: status, pass, pages, lists.
    Read,
    /// Every other request.
    Write,
}

impl Class {
    pub fn of(method: &Method, path: &str) -> Class {
        match path {
            "/healthz" | "/readyz" | "/metrics" => Class::Health,
            "/api/v1/scans" | "/api/v1/scans/batch" | "/api/v1/checkins" => Class::Scan,
            _ if method == Method::GET || method == Method::HEAD => Class::Read,
            _ => Class::Write,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Class::Health => "class=\"health\"",
            Class::Scan => "class=\"scan\"",
            Class::Read => "class=\"read\"",
            Class::Write => "class=\"write\"",
        }
    }
}

/// The bounds, one semaphore per limited class (`None`: unlimited).
#[derive(Clone)]
pub struct Admission {
    scan: Option<Arc<Semaphore>>,
    read: Option<Arc<Semaphore>>,
    write: Option<Arc<Semaphore>>,
    /// How long a refusal is held before it is sent (a timer: it costs no CPU).
    shed_delay: std::time::Duration,
    metrics: Metrics,
}

impl Admission {
    pub fn new(config: &AdmissionConfig, metrics: Metrics) -> Admission {
        let bound = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        Admission {
            scan: bound(config.scans_in_flight),
            read: bound(config.reads_in_flight),
            write: bound(config.writes_in_flight),
            shed_delay: std::time::Duration::from_millis(config.shed_delay_ms),
            metrics,
        }
    }
}

/// Middleware: admits the request under its class's bound, or sheds it at once.
pub async fn admit(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    let class = Class::of(request.method(), request.uri().path());
    let bound = match class {
        Class::Health => None,
        Class::Scan => admission.scan.as_ref(),
        Class::Read => admission.read.as_ref(),
        Class::Write => admission.write.as_ref(),
    };
    let Some(bound) = bound else {
        return next.run(request).await;
    };
    match bound.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            admission.metrics.add(SHED, class.label(), 1);
            // A client that retries at once would otherwise turn the refusals themselves into
            // the flood: held a moment, each connection asks at most a few times a second.
            tokio::time::sleep(admission.shed_delay).await;
            ApiError::overloaded(1).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Class;
    use axum::http::Method;

    #[test]
    fn requests_are_classed_by_route_and_method() {
        assert_eq!(Class::of(&Method::GET, "/healthz"), Class::Health);
        assert_eq!(Class::of(&Method::POST, "/api/v1/scans"), Class::Scan);
        assert_eq!(Class::of(&Method::POST, "/api/v1/checkins"), Class::Scan);
        assert_eq!(
            Class::of(&Method::GET, "/api/v1/people/p/status"),
            Class::Read
        );
        assert_eq!(
            Class::of(&Method::POST, "/api/v1/people/p/facts"),
            Class::Write
        );
    }
}
