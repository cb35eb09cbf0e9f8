//! Turns the domain's error into the SPEC's body, in one place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use orgiam_domain::Error;

/// The cause of a failure, carried on the response to the one place that logs it (the
/// request's log line, written by `telemetry::trace`).
#[derive(Clone, Debug)]
pub struct ErrorCause(pub String);

/// The HTTP face of [`Error`].
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// Exactly the four keys of the SPEC, in order.
#[derive(Serialize)]
struct Body<'a> {
    code: u32,
    message: &'a str,
    more_info: &'a str,
    status: u16,
}

/// A JSON response from already-serialized bytes.
pub fn json_bytes(status: StatusCode, bytes: impl Into<axum::body::Body>) -> Response {
    let mut res = (status, bytes.into()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => ApiError(Error::internal(e)).into_response(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = e.public_message();
        let more_info = e.more_info();
        let mut res = json(
            status,
            &Body {
                code: e.code(),
                message: &message,
                more_info: &more_info,
                status: e.status(),
            },
        );
        // The request's one log line (telemetry::trace) reports the cause.
        res.extensions_mut().insert(ErrorCause(e.to_string()));
        let headers = res.headers_mut();
        match &e {
            Error::Unauthenticated { token_sent, .. } => {
                let value = if *token_sent {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                };
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            Error::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        res
    }
}

/// Why path parameters could not be read, naming the parameter where axum says which.
fn path_rejection(e: &axum::extract::rejection::RawPathParamsRejection) -> String {
    use axum::extract::rejection::RawPathParamsRejection as R;
    match e {
        R::InvalidUtf8InPathParam(inner) => {
            let body = inner.body_text();
            format!("the path is not valid percent-encoded UTF-8 ({body})")
        }
        _ => "the path is malformed".to_owned(),
    }
}

/// Path parameters, with our error body when they cannot be decoded.
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for PathParam<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        // The text rule on every segment first, naming the parameter.
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError(Error::bad_request(path_rejection(&e))))?;
        for (name, value) in &raw {
            orgiam_domain::text::check(&format!("the path parameter {name}"), value)?;
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| ApiError(Error::bad_request("the path is malformed")))
    }
}
