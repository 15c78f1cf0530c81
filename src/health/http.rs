//! HTTP request counters, latency histograms and upload counts, fed by the API's middleware
//! (`api::health::track`) and rendered on `/metrics`.
//!
//! Owns: the numbers. May not touch: axum types (the middleware turns requests into plain
//! method/route/status values before calling [`HttpMetrics::record`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
pub(crate) const LATENCY_BUCKETS_S: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Requests seen on one (method, route).
#[derive(Debug, Default, Clone)]
struct RouteStats {
    /// Responses by status class 1xx..5xx.
    by_class: [u64; 5],
    /// Cumulative-free per-bucket counts (made cumulative when rendered); the last slot is +Inf.
    buckets: [u64; LATENCY_BUCKETS_S.len() + 1],
    sum_s: f64,
    count: u64,
}

/// The request counters of the whole HTTP server.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    routes: Mutex<BTreeMap<(&'static str, String), RouteStats>>,
    uploads_stored: AtomicU64,
    uploads_refused: AtomicU64,
}

/// The routes that receive recordings: (method, route template without trailing slash).
const UPLOAD_ROUTES: [(&str, &str); 2] = [
    ("PATCH", "/api/2/envelopes/{id}"),
    ("POST", "/api/2/assets"),
];

impl HttpMetrics {
    /// Counts one answered request. `route` is the matched route template (never the raw
    /// path, so the label set stays bounded); `None` for requests no route matched.
    pub fn record(&self, method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
        let method = known_method(method);
        let route = route.map_or("unmatched", |r| {
            let r = r.trim_end_matches('/');
            if r.is_empty() { "/" } else { r }
        });
        if UPLOAD_ROUTES.contains(&(method, route)) {
            let counter = if (200..300).contains(&status) {
                &self.uploads_stored
            } else {
                &self.uploads_refused
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        let class = usize::from(status.clamp(100, 599) / 100 - 1);
        let bucket = LATENCY_BUCKETS_S
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS_S.len());
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = routes.entry((method, route.to_string())).or_default();
        stats.by_class[class] += 1;
        stats.buckets[bucket] += 1;
        stats.sum_s += secs;
        stats.count += 1;
    }

    /// Uploads answered with a 2xx.
    pub fn uploads_stored(&self) -> u64 {
        self.uploads_stored.load(Ordering::Relaxed)
    }

    /// Appends the request, latency and upload metrics.
    pub fn write_metrics(&self, out: &mut String) {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        out.push_str(
            "# HELP roundwared_http_requests_total HTTP requests answered, by method, route template and status class.\n\
             # TYPE roundwared_http_requests_total counter\n",
        );
        for ((method, route), s) in &routes {
            for (i, n) in s.by_class.iter().enumerate().filter(|(_, n)| **n > 0) {
                let _ = writeln!(
                    out,
                    "roundwared_http_requests_total{{method=\"{method}\",route=\"{route}\",code=\"{}xx\"}} {n}",
                    i + 1
                );
            }
        }
        out.push_str(
            "# HELP roundwared_http_request_duration_seconds Time from request to response headers.\n\
             # TYPE roundwared_http_request_duration_seconds histogram\n",
        );
        for ((method, route), s) in &routes {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (i, le) in LATENCY_BUCKETS_S.iter().enumerate() {
                cumulative += s.buckets[i];
                let _ = writeln!(
                    out,
                    "roundwared_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "roundwared_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 roundwared_http_request_duration_seconds_sum{{{labels}}} {:.6}\n\
                 roundwared_http_request_duration_seconds_count{{{labels}}} {}",
                s.count, s.sum_s, s.count
            );
        }
        let _ = write!(
            out,
            "# HELP roundwared_uploads_total Recording uploads (envelope PATCH, asset POST), stored or refused.\n\
             # TYPE roundwared_uploads_total counter\n\
             roundwared_uploads_total{{result=\"stored\"}} {}\n\
             roundwared_uploads_total{{result=\"refused\"}} {}\n",
            self.uploads_stored.load(Ordering::Relaxed),
            self.uploads_refused.load(Ordering::Relaxed)
        );
    }
}

/// The method as a static label; anything unusual is `OTHER` (bounded label values).
fn known_method(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_cumulative_buckets_and_uploads_are_counted_by_outcome() {
        let m = HttpMetrics::default();
        m.record("GET", Some("/api/2/tags/"), 200, Duration::from_millis(3));
        m.record("GET", Some("/api/2/tags"), 404, Duration::from_millis(30));
        m.record(
            "PATCH",
            Some("/api/2/envelopes/{id}/"),
            200,
            Duration::from_millis(150),
        );
        m.record(
            "POST",
            Some("/api/2/assets/"),
            400,
            Duration::from_millis(1),
        );
        m.record("BREW", None, 405, Duration::from_secs(20));
        let mut out = String::new();
        m.write_metrics(&mut out);
        for line in [
            "roundwared_http_requests_total{method=\"GET\",route=\"/api/2/tags\",code=\"2xx\"} 1",
            "roundwared_http_requests_total{method=\"GET\",route=\"/api/2/tags\",code=\"4xx\"} 1",
            "roundwared_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/2/tags\",le=\"0.005\"} 1",
            "roundwared_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/2/tags\",le=\"0.05\"} 2",
            "roundwared_http_request_duration_seconds_bucket{method=\"OTHER\",route=\"unmatched\",le=\"10\"} 0",
            "roundwared_http_request_duration_seconds_bucket{method=\"OTHER\",route=\"unmatched\",le=\"+Inf\"} 1",
            "roundwared_uploads_total{result=\"stored\"} 1",
            "roundwared_uploads_total{result=\"refused\"} 1",
        ] {
            assert!(out.contains(line), "missing {line} in\n{out}");
        }
    }
}
