//! Prometheus metrics: requests by route, method and status, and their latency as a histogram.
//! Routes are the matched templates (`/api/v1/people/{id}/status`), so label sets stay few.
//! Written by hand: prometheus-client writes OpenMetrics (`# EOF`, counters' HELP and TYPE
//! without `_total`), which would change the text scrapers and docs/OPERATIONS.md rely on.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    /// Cumulative counts per bucket of `BUCKETS`.
    buckets: [u64; BUCKETS.len()],
}

/// Route template, method, status.
type Key = (String, String, u16);

/// A counter: its name and help text.
pub type Counter = (&'static str, &'static str);

/// Events the node counts besides requests: (name, help).
pub const UNDECIDED: Counter = (
    "healthcode_status_undecided_total",
    "Statuses derived while a rule could not be judged: shown as pending (审核中).",
);
pub const SHED: Counter = (
    "healthcode_requests_shed_total",
    "Requests refused with 503 at once because their class was at capacity.",
);

#[derive(Clone, Default)]
pub struct Metrics {
    series: Arc<Mutex<BTreeMap<Key, Series>>>,
    /// Counted events by (name, help) and label text.
    events: Arc<Mutex<BTreeMap<(Counter, String), u64>>>,
}

impl Metrics {
    /// Counts `n` events of `counter`, labelled (e.g. `class="scan"`, or empty).
    pub fn add(&self, counter: Counter, labels: &str, n: u64) {
        if let Ok(mut events) = self.events.lock() {
            *events.entry((counter, labels.to_owned())).or_default() += n;
        }
    }

    fn render_events(&self, out: &mut String) {
        let Ok(events) = self.events.lock() else {
            return;
        };
        let mut last = "";
        for (((name, help), labels), n) in events.iter() {
            if *name != last {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                last = name;
            }
            match labels.as_str() {
                "" => {
                    let _ = writeln!(out, "{name} {n}");
                }
                labels => {
                    let _ = writeln!(out, "{name}{{{labels}}} {n}");
                }
            }
        }
    }

    fn observe(&self, route: String, method: String, status: u16, seconds: f64) {
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        let s = series.entry((route, method, status)).or_default();
        s.count += 1;
        s.sum += seconds;
        for (bucket, bound) in s.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_events(&mut out);
        out.push_str("# HELP healthcode_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE healthcode_http_requests_total counter\n");
        let Ok(series) = self.series.lock() else {
            return out;
        };
        for ((route, method, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "healthcode_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP healthcode_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE healthcode_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), Series> = BTreeMap::new();
        for ((route, method, _), s) in series.iter() {
            let agg = by_route
                .entry((route.as_str(), method.as_str()))
                .or_default();
            agg.count += s.count;
            agg.sum += s.sum;
            for (a, b) in agg.buckets.iter_mut().zip(s.buckets) {
                *a += b;
            }
        }
        for ((route, method), s) in by_route {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            for (bound, count) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "healthcode_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "healthcode_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "healthcode_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "healthcode_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

/// Middleware: times each request and records it under its route template.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
