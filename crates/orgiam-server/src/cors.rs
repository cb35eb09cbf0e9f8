//! Cross-origin requests from browsers: off unless `cors_allowed_origins` names origins.
//!
//! Preflights from those origins are answered (the methods and headers the API takes, cached
//! for `MAX_AGE`); answers carry `Access-Control-Allow-Origin` for them and expose the headers a
//! client reads (`Twilio-Request-Id`, `WWW-Authenticate`, `Retry-After`). Credentials (cookies)
//! are never allowed: the API takes its bearer token in `Authorization`, which a page sends
//! explicitly. Other origins get no CORS headers, so browsers keep their answers from the page.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// Checks one configured origin: `*` (any origin), or `scheme://host[:port]` with no path.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let bad = || {
        format!(
            "cors_allowed_origins: '{origin}' is not an origin like https://console.example.com (scheme, host and optional port, no path)"
        )
    };
    let url = url::Url::parse(origin).map_err(|_| bad())?;
    let canonical = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || canonical != origin {
        return Err(bad());
    }
    Ok(())
}

/// The CORS layer for `origins`, or `None` (CORS off) when there are none.
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::IF_MATCH,
            ])
            .expose_headers([
                HeaderName::from_static("twilio-request-id"),
                header::WWW_AUTHENTICATE,
                header::RETRY_AFTER,
            ])
            .allow_credentials(false)
            .max_age(MAX_AGE),
    )
}
