//! The web console at `/console`: server-rendered HTML (maud) over the same handlers as the
//! HTTP API. Every page signs in as an OAuth app (client id and secret), keeps that app's
//! access token in an HttpOnly, SameSite=Strict cookie and calls the API's own routes
//! in-process (a tower call on the API router, no socket) with it: permission checks,
//! validation, paging and audit events are the API's, to the letter. Pages that have no API
//! endpoint (users) check the app's policy themselves, the way the API would.
//!
//! Safety: a strict `Content-Security-Policy` (no script at all, styles from one embedded
//! stylesheet), `X-Frame-Options: DENY`, `no-store` on every page; every state-changing form
//! carries a CSRF token (an HMAC of the session's token under the server's secret key) and
//! every POST from another site (`Sec-Fetch-Site`, `Origin`) is refused.

mod pages;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::Value;

use crate::auth::Caller;
use crate::state::AppState;
use crate::telemetry::RequestContext;

/// The cookie that holds the signed-in app's access token.
pub const COOKIE_NAME: &str = "orgiam_console";
/// Where the console lives.
pub const BASE: &str = "/console";
/// The policy every console response carries: nothing but the console's own stylesheet and
/// images, forms only to the console's origin, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("console.css");

/// What the console's handlers share: the server state and the API router they call.
pub struct Console {
    pub(crate) state: AppState,
    api: Router,
}

pub type ConsoleState = Arc<Console>;

/// The console's routes, over `api` (the API's routes with their state).
pub fn router(state: AppState, api: Router) -> Router<AppState> {
    let console = Arc::new(Console { state, api });
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route(
            "/console/sign-in",
            get(pages::sign_in_form).post(pages::sign_in),
        )
        .route("/console/sign-out", post(pages::sign_out))
        .route("/console/roles", get(pages::roles))
        .route("/console/roles/{sid}", get(pages::role))
        .route("/console/users", get(pages::users))
        .route("/console/accounts", get(pages::accounts))
        .route(
            "/console/assignments",
            get(pages::assignments).post(pages::create_assignment),
        )
        .route(
            "/console/assignments/{sid}/delete",
            post(pages::delete_assignment),
        )
        .route("/console/apps", get(pages::apps).post(pages::create_app))
        .route("/console/apps/{sid}/status", post(pages::app_status))
        .route("/console/apps/{sid}/rotate", post(pages::rotate_app))
        .route("/console/audit", get(pages::audit))
        .route("/console/check", get(pages::check))
        .route("/console/effective", get(pages::effective))
        .route("/console/holders", get(pages::holders))
        .route("/console/assets/console.css", get(stylesheet))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// The headers of every console response.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// The session

/// A signed-in console request: the app (verified exactly as the API verifies a bearer
/// token: signature, expiry, revocation, app status) and its token.
pub struct Session {
    pub caller: Caller,
    token: String,
    pub csrf: String,
    ctx: Ctx,
}

/// What inner API calls carry over from the console request: its id (audit events name it)
/// and its Host (links in API answers).
#[derive(Clone, Default)]
pub struct Ctx {
    request: Option<Arc<RequestContext>>,
    host: Option<HeaderValue>,
    /// The browser's address: the token endpoint's limits per source address apply to it.
    peer: Option<ConnectInfo<SocketAddr>>,
}

impl Ctx {
    fn of(parts: &Parts) -> Self {
        Self {
            request: parts.extensions.get::<Arc<RequestContext>>().cloned(),
            host: parts.headers.get(HOST).cloned(),
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

/// The token in the console cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie::Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// Whether the console's cookie should be `Secure`: the server is reached over HTTPS (its
/// public URL says so, or the proxy in front of it does).
fn secure(console: &Console, headers: &HeaderMap) -> bool {
    console
        .state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that holds `token` (or, empty and expired, clears it).
fn session_cookie(token: Option<&str>, max_age: i64, secure: bool) -> HeaderValue {
    let mut c = cookie::Cookie::build((COOKIE_NAME, token.unwrap_or("").to_owned()))
        .path(BASE)
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(if token.is_some() {
            max_age
        } else {
            0
        }));
    if token.is_none() {
        c = c.expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
    }
    HeaderValue::from_str(&c.build().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("orgiam_console=; Path=/console; Max-Age=0"))
}

/// The CSRF token of a session: an HMAC of its access token under the server's secret key,
/// so only a page the server rendered for this session carries it.
fn csrf_of(console: &Console, token: &str) -> String {
    let mac = console
        .state
        .hasher
        .hash(&format!("orgiam-console-csrf\u{1f}{token}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A redirect to `to` (303: the browser follows with a GET).
pub fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// Back to sign-in, with the cookie cleared (no token, or one that no longer works).
pub fn to_sign_in(console: &Console, headers: &HeaderMap, why: Option<&str>) -> Response {
    let to = match why {
        Some(w) => format!("{BASE}/sign-in?why={w}"),
        None => format!("{BASE}/sign-in"),
    };
    let mut res = see_other(&to);
    res.headers_mut().insert(
        SET_COOKIE,
        session_cookie(None, 0, secure(console, headers)),
    );
    res
}

/// Why a console request did not get a session: the browser goes back to sign-in.
pub struct SignedOut(Response);

impl IntoResponse for SignedOut {
    fn into_response(self) -> Response {
        self.0
    }
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = SignedOut;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &ConsoleState,
    ) -> Result<Self, SignedOut> {
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(SignedOut(see_other(&format!("{BASE}/sign-in"))));
        };
        let ctx = Ctx::of(parts);
        // The API's own authentication, on the cookie's token as a bearer token.
        let mut probe = Request::builder()
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .map_err(|_| SignedOut(to_sign_in(console, &parts.headers, Some("expired"))))?
            .into_parts()
            .0;
        if let Some(r) = &ctx.request {
            probe.extensions.insert(r.clone());
        }
        let caller = match Caller::from_request_parts(&mut probe, &console.state).await {
            Ok(c) => c,
            Err(e) if e.0.status() == 429 => {
                return Err(SignedOut(e.into_response()));
            }
            Err(_) => {
                return Err(SignedOut(to_sign_in(
                    console,
                    &parts.headers,
                    Some("expired"),
                )));
            }
        };
        let csrf = csrf_of(console, &token);
        Ok(Self {
            caller,
            token,
            csrf,
            ctx,
        })
    }
}

/// Refuses a form posted from another site: a browser says where a request comes from in
/// `Sec-Fetch-Site` (and `Origin`); a form of another site gets 403, whatever it carries.
pub fn same_site_post(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let refused = || {
        Err(Box::new(view::refused(
            StatusCode::FORBIDDEN,
            "This form was sent from another site; the console accepts forms from its own pages only.",
        )))
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"))
    {
        return refused();
    }
    if let Some(origin) = headers.get("origin") {
        let host = headers.get(HOST).and_then(|v| v.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            });
        match (origin_host, host) {
            (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => {}
            _ => return refused(),
        }
    }
    Ok(())
}

/// A posted form's fields.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &Bytes) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl Session {
    /// Refuses a state-changing form without this session's CSRF token, or from another site.
    pub fn check_form(&self, headers: &HeaderMap, form: &Form) -> Result<(), Box<Response>> {
        same_site_post(headers)?;
        if same_bytes(form.get("csrf").as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(Box::new(view::refused(
                StatusCode::FORBIDDEN,
                "This form is missing its security token or it is stale: reload the page and try again.",
            )))
        }
    }

    /// The app signed in.
    pub fn app_sid(&self) -> &str {
        self.caller.app.sid.as_str()
    }

    pub fn org(&self) -> &str {
        self.caller.org.as_str()
    }

    /// Whether the app's policy grants `permission`.
    pub fn may(&self, permission: &str) -> bool {
        orgiam_domain::policy::Permission::parse(permission)
            .is_ok_and(|p| self.caller.app.policy.allows(&p))
    }
}

// ---------------------------------------------------------------------------------------------
// Calls into the API

/// An API answer: its status and JSON body (`Null` when empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The error's message (the API's error body), for the page.
    pub fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(
                || format!("The request failed ({})", self.status),
                str::to_owned,
            )
    }
}

/// What the console sends the API.
pub enum Payload {
    None,
    Json(Value),
    Form(String),
}

impl Console {
    /// Calls the API route `method path` in-process, as the app of `token` (if any).
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        token: Option<&str>,
        payload: Payload,
        ctx: &Ctx,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path_and_query);
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(h) = &ctx.host {
            req = req.header(HOST, h.clone());
        }
        let body = match payload {
            Payload::None => Body::empty(),
            Payload::Json(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            Payload::Form(f) => {
                req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(f)
            }
        };
        let Ok(mut req) = req.body(body) else {
            return Answer::failed();
        };
        if let Some(r) = &ctx.request {
            req.extensions_mut().insert(r.clone());
        }
        if let Some(p) = ctx.peer {
            req.extensions_mut().insert(p);
        }
        let mut api = self.api.clone();
        let res = match tower_service::Service::call(&mut api, req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
            .await
            .unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// [`Console::call`] as the session's app.
    pub async fn as_app(
        &self,
        session: &Session,
        method: Method,
        path_and_query: &str,
        payload: Payload,
    ) -> Answer {
        self.call(
            method,
            path_and_query,
            Some(&session.token),
            payload,
            &session.ctx,
        )
        .await
    }
}

impl Answer {
    fn failed() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: Value::Null,
        }
    }
}
