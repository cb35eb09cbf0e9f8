//! The HTTP edge of the text-input rule (`orgiam_domain::text`): the query string of every
//! request is checked by [`TextGuardLayer`] before routing, path parameters by
//! [`crate::error::PathParam`], JSON bodies by [`json_object`] and the token endpoint's form by
//! `routes::oauth`. Nothing here reaches a store.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use orgiam_domain::text;
use orgiam_domain::{Error, Result};

use crate::error::ApiError;

/// Refuses, with a 400 naming the parameter, any request whose query string is not strictly
/// percent-encoded UTF-8 or holds a NUL or control character, whatever the route.
#[derive(Clone, Copy, Default)]
pub struct TextGuardLayer;

impl<S> tower_layer::Layer<S> for TextGuardLayer {
    type Service = TextGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TextGuard { inner }
    }
}

/// See [`TextGuardLayer`].
#[derive(Clone)]
pub struct TextGuard<S> {
    inner: S,
}

impl<S> tower_service::Service<Request> for TextGuard<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if let Err(e) = text::check_query(req.uri().query().unwrap_or("")) {
            let res = if crate::routes::scim::is_path(req.uri().path()) {
                crate::routes::scim::error_from(e)
            } else {
                ApiError(e).into_response()
            };
            return Box::pin(std::future::ready(Ok(res)));
        }
        Box::pin(self.inner.call(req))
    }
}

/// A request body that must be a JSON object: the `Content-Type` (when sent) must be JSON, the
/// bytes valid JSON (lone surrogates included: they are refused), and every string in it,
/// object keys included, must pass the text rule. `free` names the free-text fields.
pub fn json_object(headers: &HeaderMap, body: &[u8], free: &[&str]) -> Result<Value> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.contains("+json")) {
            return Err(Error::bad_request(
                "The body must be JSON (Content-Type: application/json)",
            ));
        }
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("The body is not valid JSON: {e}")))?;
    if !body.is_object() {
        return Err(Error::bad_request("The body must be a JSON object"));
    }
    text::check_json(&body, free)?;
    Ok(body)
}
