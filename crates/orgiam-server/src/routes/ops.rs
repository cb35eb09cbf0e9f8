//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, json};
use crate::openapi::ErrorBody;
use crate::state::AppState;

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// `{"status": "ready", "store": "sqlite"}`.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    #[schema(value_type = String, example = "ready")]
    status: &'static str,
    /// `sqlite` or `postgres`.
    #[schema(value_type = String, example = "sqlite")]
    store: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Operations",
    operation_id = "FetchHealth",
    responses((status = 200, description = "Up", body = Health))
)]
pub async fn healthz() -> Response {
    json(StatusCode::OK, &Health { status: "ok" })
}

/// Readiness: the store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    operation_id = "FetchReadiness",
    responses(
        (status = 200, description = "The store answers", body = Ready),
        (status = 503, description = "The store does not answer (code 20503)", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Whatever the cause, a store that does not answer means "not ready".
    state.store.ping().await.map_err(|e| match e {
        orgiam_domain::Error::Unavailable(m) => orgiam_domain::Error::Unavailable(m),
        other => orgiam_domain::Error::Unavailable(other.to_string()),
    })?;
    Ok(json(
        StatusCode::OK,
        &Ready {
            status: "ready",
            store: state.store.engine(),
        },
    ))
}

/// Prometheus metrics (served on `metrics_listen` instead when that is set).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Operations",
    operation_id = "FetchMetrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics() -> Response {
    let body = crate::telemetry::render();
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}
