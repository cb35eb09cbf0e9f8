//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, json};
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Response {
    json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the store answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Whatever the cause, a store that does not answer means "not ready".
    state.store.ping().await.map_err(|e| match e {
        orgiam_domain::Error::Unavailable(m) => orgiam_domain::Error::Unavailable(m),
        other => orgiam_domain::Error::Unavailable(other.to_string()),
    })?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"status": "ready", "store": state.store.engine()}),
    ))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics() -> Response {
    let body = crate::telemetry::render();
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}
