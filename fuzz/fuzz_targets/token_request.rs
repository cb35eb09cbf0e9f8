//! The token endpoint's request parsing: `oauth::client_credentials` on an arbitrary
//! `Content-Type`, `Authorization` (HTTP Basic) and form body.
//!
//! Input layout (so seeds stay readable): byte 0 says which headers are sent (bit 0:
//! Content-Type, bit 1: Authorization; `'3'` sends both); then the Content-Type value up to the
//! first `\n`, the Authorization value up to the next `\n`, and the rest is the body. Values that
//! `HeaderValue::from_bytes` refuses cannot reach the server and are skipped.
//!
//! Properties: nothing panics; a refusal is a 400 or 401 OAuth error; an accepted request really
//! asked for `client_credentials`.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use orgiam_server::routes::oauth;

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (content_type, rest) = split_line(rest);
    let (authorization, body) = split_line(rest);
    let mut headers = HeaderMap::new();
    for (bit, name, value) in [
        (1, header::CONTENT_TYPE, content_type),
        (2, header::AUTHORIZATION, authorization),
    ] {
        if flags & bit != 0 {
            let Ok(value) = HeaderValue::from_bytes(value) else {
                return;
            };
            headers.insert(name, value);
        }
    }
    match oauth::client_credentials(&headers, body) {
        Ok((sid, _secret)) => {
            assert!(sid.as_str().starts_with("OQ"));
            let asked = url::form_urlencoded::parse(body)
                .find(|(k, _)| k == "grant_type")
                .is_some_and(|(_, v)| v == "client_credentials");
            assert!(asked, "accepted without grant_type=client_credentials");
        }
        Err(e) => {
            let status = e.into_response().status();
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
                "a bad token request must be a 400 or 401, not {status}"
            );
        }
    }
});
