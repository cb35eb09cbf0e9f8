//! Limits with clear answers: body and header sizes, a request timeout, a cap on concurrent
//! connections, and per-client / per-app rate limits (GCRA, `governor`).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use orgiam_domain::Error;

use crate::error::ApiError;

/// A rate: `per_second` sustained with bursts of `burst`; 0 turns it off.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// Per client id, on the token endpoint.
    pub token_rate: Rate,
    /// Per app, on the organization APIs.
    pub api_rate: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_header_bytes: 32 * 1024,
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
            // As generous as the API's: twilio-node fetches a token before every request.
            token_rate: Rate {
                per_second: 2000,
                burst: 4000,
            },
            api_rate: Rate {
                per_second: 2000,
                burst: 4000,
            },
        }
    }
}

/// Keyed limiters; `None` when a rate is 0.
pub struct RateLimiters {
    token: Option<DefaultKeyedRateLimiter<String>>,
    api: Option<DefaultKeyedRateLimiter<String>>,
}

fn limiter(rate: Rate) -> Option<DefaultKeyedRateLimiter<String>> {
    let per_second = NonZeroU32::new(rate.per_second)?;
    let burst = NonZeroU32::new(rate.burst.max(rate.per_second)).unwrap_or(per_second);
    Some(RateLimiter::keyed(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

fn check(
    limiter: Option<&DefaultKeyedRateLimiter<String>>,
    key: &str,
    what: &str,
) -> Result<(), Error> {
    let Some(l) = limiter else { return Ok(()) };
    l.check_key(&key.to_owned()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Error::TooManyRequests {
            message: format!("Too many requests {what}: slow down and retry later"),
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}

impl RateLimiters {
    pub fn new(limits: &Limits) -> Self {
        Self {
            token: limiter(limits.token_rate),
            api: limiter(limits.api_rate),
        }
    }

    pub fn check_token(&self, client_id: &str) -> Result<(), Error> {
        check(
            self.token.as_ref(),
            client_id,
            "for this client on the token endpoint",
        )
    }

    pub fn check_api(&self, app: &str) -> Result<(), Error> {
        check(self.api.as_ref(), app, "for this OAuth app")
    }

    /// Forgets keys whose limits have fully recovered (bounded memory).
    pub fn housekeeping(&self) {
        for l in [&self.token, &self.api].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Header-size, declared body-size and time limits, answered with the SPEC's body.
pub async fn guard<F>(limits: &Limits, req: Request, run: impl FnOnce(Request) -> F) -> Response
where
    F: Future<Output = Response>,
{
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + uri_len(req.uri());
    if header_bytes > limits.max_header_bytes {
        return ApiError(Error::HeadersTooLarge(format!(
            "Request headers are too large: at most {} bytes",
            limits.max_header_bytes
        )))
        .into_response();
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return too_large(limits.max_body_bytes);
    }
    match tokio::time::timeout(limits.request_timeout, run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError(Error::Unavailable("request timed out".into())).into_response(),
    }
}

/// The length of the request target as sent (origin form, or absolute form with an authority),
/// without formatting it.
fn uri_len(uri: &axum::http::Uri) -> usize {
    uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len())
}

fn too_large(max: usize) -> Response {
    ApiError(Error::PayloadTooLarge(format!(
        "The request body is too large: at most {max} bytes"
    )))
    .into_response()
}

/// A request body, refused with the SPEC's 413 beyond the body limit.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|r| {
                if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError(Error::PayloadTooLarge(
                        "The request body is too large".into(),
                    ))
                } else {
                    ApiError(Error::bad_request("The request body could not be read"))
                }
            })
    }
}

/// A listener that holds at most `max` connections open; beyond that it stops accepting
/// (the kernel's backlog queues, then refuses).
pub struct CappedListener {
    inner: tokio::net::TcpListener,
    slots: Arc<Semaphore>,
}

impl CappedListener {
    pub fn new(inner: tokio::net::TcpListener, max: usize) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

/// A connection holding its slot until dropped.
pub struct CappedStream {
    inner: tokio::net::TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        CappedStream {
                            inner: stream,
                            _slot: slot,
                        },
                        addr,
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
