//! `GET /healthz`, `GET /metrics` (both unauthenticated, for the venue's monitoring and for
//! technicians) and the middleware that counts every request for `/metrics`.
//!
//! Owns: the wire shape of the health report. May not touch: probing (see `crate::health`).

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::health::{Health, Overall};

/// The health and metrics routes, merged into the root router.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics))
}

/// 200 with `{"status": "ok"|"degraded", "refused_writes": "none"|"uploads"|"all",
/// "components": {...}}`; 503 with `"status": "down"` only when the database does not answer.
/// The database is checked afresh unless the last check is younger than a second.
async fn healthz(State(state): State<AppState>) -> Response {
    let mut refused = "none";
    if let Some(db) = state.health.database() {
        db.refresh(Duration::from_secs(1)).await;
        refused = db.refused_writes().label();
    }
    let report = state.health.report();
    let components: Map<String, Value> = report
        .components
        .iter()
        .map(|(name, s)| {
            let mut v = json!({ "state": s.label() });
            if let (Some(reason), Some(obj)) = (s.reason(), v.as_object_mut()) {
                obj.insert("reason".into(), json!(reason));
            }
            ((*name).to_string(), v)
        })
        .collect();
    let code = if report.overall == Overall::Down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = json!({
        "status": report.overall.label(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.health.uptime_s().round(),
        "refused_writes": refused,
        "components": components,
    });
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.health.render_metrics(),
    )
        .into_response()
}

/// Counts every request by method, matched route template and status class, with its
/// latency to the response headers.
pub(super) async fn track(State(health): State<Health>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let response = next.run(req).await;
    health.http().record(
        &method,
        route.as_deref(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
