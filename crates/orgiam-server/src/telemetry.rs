//! One tracing span per request (request id, method, matched route, status, latency, client),
//! the `Twilio-Request-Id` header, and Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use orgiam_domain::sid::RequestSid;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

/// Wraps every request: no header value (and so no token or secret) is ever logged.
pub async fn trace(mut req: Request, next: Next) -> Response {
    let id = RequestSid::random();
    req.extensions_mut().insert(id.clone());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        status = tracing::field::Empty,
        latency_us = tracing::field::Empty,
        client = tracing::field::Empty,
    );
    let start = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let latency = start.elapsed();
    let status = res.status().as_u16();
    span.record("status", status);
    span.record("latency_us", latency.as_micros() as u64);
    span.in_scope(|| tracing::info!("request finished"));
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert("Twilio-Request-Id", v);
    }
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("orgiam_http_requests_total", &labels).increment(1);
    metrics::histogram!("orgiam_http_request_duration_seconds", &labels)
        .record(latency.as_secs_f64());
    res
}
