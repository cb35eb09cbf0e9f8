//! Limits with clear answers: body and header sizes, a request timeout, a cap on concurrent
//! connections, and per-client / per-app rate limits (GCRA, `governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

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
    /// Open connections per source address (IPv6: per /64); 0 = no cap.
    pub max_connections_per_source: usize,
    /// Time from a request head's first byte (a new connection's start, for its first
    /// request) to its end.
    pub header_read_timeout: Duration,
    /// Time a connection may wait for its next request, or make no progress writing an
    /// answer, before it is closed.
    pub idle_timeout: Duration,
    /// Per client id, on the token endpoint: requests whose credentials are right.
    pub token_rate: Rate,
    /// Token requests whose credentials are wrong, per client id and (separately) per source
    /// address. Beyond it, a wrong secret gets a 429 without touching the store; a right one
    /// is still answered.
    pub token_failure_rate: Rate,
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
            max_connections_per_source: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            // As generous as the API's: twilio-node fetches a token before every request.
            token_rate: Rate {
                per_second: 2000,
                burst: 4000,
            },
            api_rate: Rate {
                per_second: 2000,
                burst: 4000,
            },
            token_failure_rate: Rate {
                per_second: 10,
                burst: 50,
            },
        }
    }
}

/// Keyed limiters; `None` when a rate is 0.
pub struct RateLimiters {
    token: Option<DefaultKeyedRateLimiter<String>>,
    api: Option<DefaultKeyedRateLimiter<String>>,
    failures_by_client: Option<DefaultKeyedRateLimiter<String>>,
    failures_by_source: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn limiter<K: Clone + Eq + std::hash::Hash>(rate: Rate) -> Option<DefaultKeyedRateLimiter<K>> {
    let per_second = NonZeroU32::new(rate.per_second)?;
    let burst = NonZeroU32::new(rate.burst.max(rate.per_second)).unwrap_or(per_second);
    Some(RateLimiter::keyed(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

fn check<K: Clone + Eq + std::hash::Hash>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    what: &str,
) -> Result<(), Error> {
    let Some(l) = limiter else { return Ok(()) };
    l.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Error::TooManyRequests {
            message: format!("Too many requests {what}: slow down and retry later"),
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}

impl Limits {
    /// The part the connection loop needs.
    pub fn connections(&self) -> crate::conn::ConnLimits {
        crate::conn::ConnLimits {
            max_connections: self.max_connections,
            max_connections_per_source: self.max_connections_per_source,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

impl RateLimiters {
    pub fn new(limits: &Limits) -> Self {
        Self {
            token: limiter(limits.token_rate),
            api: limiter(limits.api_rate),
            failures_by_client: limiter(limits.token_failure_rate),
            failures_by_source: limiter(limits.token_failure_rate),
        }
    }

    /// A token request whose credentials were right.
    pub fn check_token(&self, client_id: &str) -> Result<(), Error> {
        check(
            self.token.as_ref(),
            &client_id.to_owned(),
            "for this client on the token endpoint",
        )
    }

    /// A token request whose credentials were wrong (so far): counted against the client id
    /// and against the source (see [`crate::conn::source_key`]), each with its own budget.
    pub fn check_token_failure(&self, client_id: &str, source: IpAddr) -> Result<(), Error> {
        let by_client = check(
            self.failures_by_client.as_ref(),
            &client_id.to_owned(),
            "with wrong credentials",
        );
        let by_source = check(
            self.failures_by_source.as_ref(),
            &crate::conn::source_key(source),
            "with wrong credentials",
        );
        by_client.and(by_source)
    }

    pub fn check_api(&self, app: &str) -> Result<(), Error> {
        check(self.api.as_ref(), &app.to_owned(), "for this OAuth app")
    }

    /// Forgets keys whose limits have fully recovered (bounded memory).
    pub fn housekeeping(&self) {
        for l in [&self.token, &self.api, &self.failures_by_client]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.failures_by_source {
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
    let max_body = body_limit(limits, req.uri().path());
    if declared.is_some_and(|n| n > max_body) {
        // Introspection and revocation answer with RFC error bodies (which carry the same
        // Twilio fields).
        if crate::routes::tokens::is_endpoint(req.uri().path()) {
            return crate::routes::tokens::too_large(max_body);
        }
        if crate::routes::scim::is_path(req.uri().path()) {
            return crate::routes::scim::error_from(Error::PayloadTooLarge(format!(
                "The request body is too large: at most {max_body} bytes"
            )));
        }
        return too_large(max_body);
    }
    match tokio::time::timeout(limits.request_timeout, run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError(Error::Unavailable("request timed out".into())).into_response(),
    }
}

/// The batch of permission checks (up to 1,000 checks) may be larger than other bodies.
pub const BATCH_BODY_BYTES: usize = 1024 * 1024;

/// The body limit of a path: the configured one, or for the batch of permission checks at
/// least [`BATCH_BODY_BYTES`].
pub fn body_limit(limits: &Limits, path: &str) -> usize {
    if path == crate::routes::checks::CHECKS_PATH {
        limits.max_body_bytes.max(BATCH_BODY_BYTES)
    } else {
        limits.max_body_bytes
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
