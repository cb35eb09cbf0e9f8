//! One tracing span per request (request id, method, matched route, status, latency, client),
//! the `Twilio-Request-Id` header, and Prometheus metrics.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use orgiam_domain::sid::RequestSid;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

/// What a request's log line needs from inside it: its id, and the app that made it.
#[derive(Debug)]
pub struct RequestContext {
    pub id: RequestSid,
    pub client: OnceLock<String>,
}

/// The cause of a failure, carried on the response to the one place that logs it.
#[derive(Clone, Debug)]
pub struct ErrorCause(pub String);

/// Wraps every request. One log line per request, written here and only here: failures (5xx)
/// at `error`, everything else at `debug` (so at the default `info` level a healthy server
/// writes nothing per request). No header value, and so no token or secret, is ever logged.
pub async fn trace(mut req: Request, next: Next) -> Response {
    let ctx = Arc::new(RequestContext {
        id: RequestSid::random(),
        client: OnceLock::new(),
    });
    req.extensions_mut().insert(ctx.clone());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let start = Instant::now();
    let mut res = next.run(req).await;
    let latency = start.elapsed();
    let status = res.status().as_u16();
    let cause = res.extensions_mut().remove::<ErrorCause>();
    let client = ctx.client.get().map(String::as_str).unwrap_or("-");
    let latency_us = latency.as_micros() as u64;
    if status >= 500 {
        tracing::error!(
            request_id = %ctx.id, method = %method, route = %route, status, latency_us, client,
            cause = cause.as_ref().map_or("", |c| c.0.as_str()),
            "request failed"
        );
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            request_id = %ctx.id, method = %method, route = %route, status, latency_us, client,
            refused = cause.as_ref().map_or("", |c| c.0.as_str()),
            "request finished"
        );
    }
    if let Ok(v) = HeaderValue::from_str(ctx.id.as_str()) {
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
