//! Tokens for other services: the audience of an access token (RFC 9068, RFC 8707),
//! introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Both endpoints authenticate the caller as the token endpoint does (`client_secret_basic` or
//! `client_secret_post`, the same failure budgets) and answer with RFC error bodies that also
//! carry the Twilio fields. A token is named in no log line and no error.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use orgiam_domain::model::{Actor, App, AppStatus, RevokedToken};
use orgiam_domain::secret;
use orgiam_domain::sid::AppSid;
use orgiam_domain::time_fmt;

use super::oauth::{OAuthError, OAuthErrorBody, basic_credentials};
use crate::error::json;
use crate::keys::{Audience, LEEWAY_SECS, SECRET_TAG_LEN, Verified};
use crate::state::AppState;
use crate::telemetry::RequestContext;

fn invalid_request(d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", d)
}

fn invalid_client(d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
}

/// A form body under the text rule (`orgiam_domain::text`); a declared content type must be
/// `application/x-www-form-urlencoded`.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        if !ct
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
    }
    orgiam_domain::text::decode_pairs(body, orgiam_domain::text::Source::Form)
        .map_err(|e| invalid_request(e.to_string()))
}

/// The one value of a field; sent twice is an `invalid_request` (RFC 6749 §3.1).
fn single<'a>(form: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, OAuthError> {
    let mut values = form.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    let first = values.next();
    if values.next().is_some() {
        return Err(invalid_request(format!("{name} must be sent once")));
    }
    Ok(first.map(String::as_str))
}

/// The calling client, authenticated as on the token endpoint: a wrong secret counts against
/// the failure budgets, and the app must be active.
async fn authenticate(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Arc<App>, OAuthError> {
    let posted = match (single(form, "client_id")?, single(form, "client_secret")?) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        (None, None) => None,
        _ => {
            return Err(invalid_request(
                "client_id and client_secret must be sent together",
            ));
        }
    };
    let (client_id, secret) = match (posted, basic_credentials(headers)?) {
        (Some(p), Some(b)) if p != b => {
            return Err(invalid_request(
                "the form and the Basic header carry different client credentials",
            ));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => {
            return Err(invalid_client(
                "client authentication required: send client_id and client_secret in the form or as HTTP Basic",
            ));
        }
    };
    let sid = AppSid::parse(&client_id).map_err(|_| {
        invalid_client("client_id must be an OAuth app SID (OQ followed by 32 hex digits)")
    })?;
    let now = time_fmt::now();
    let hash = state.hasher.hash(&secret);
    let check =
        |app: Option<Arc<App>>| app.filter(|a| secret::matching(&hash, &a.secrets, now).is_some());
    let mut app = check(state.cached_app(&sid)?);
    if app.is_none() {
        state.rate.check_token_failure(sid.as_str(), peer.ip())?;
        app = check(state.app_for_token(&sid).await?);
    }
    let app = app.ok_or_else(|| invalid_client("invalid client credentials"))?;
    match app.status {
        AppStatus::Active => {}
        AppStatus::Disabled => {
            return Err(invalid_client(format!("the OAuth app {sid} is disabled")));
        }
        AppStatus::Deleted => return Err(invalid_client("invalid client credentials")),
    }
    state.rate.check_api(sid.as_str())?;
    Ok(app)
}

/// The `token` of an introspection or revocation request, after checking `token_type_hint`
/// (RFC 7009 §2.1, RFC 7662 §2.1): orgiam issues access tokens only, so a refresh-token hint
/// is looked past and any other hint is `unsupported_token_type`.
fn token_param(form: &[(String, String)]) -> Result<&str, OAuthError> {
    match single(form, "token_type_hint")? {
        None | Some("" | "access_token" | "refresh_token") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_token_type",
                "token_type_hint must be access_token (orgiam issues no other kind of token)",
            ));
        }
    }
    match single(form, "token")? {
        None | Some("") => Err(invalid_request("token is required")),
        Some(t) => Ok(t),
    }
}

/// Whether `path` is the introspection or revocation endpoint.
pub fn is_endpoint(path: &str) -> bool {
    matches!(
        path,
        "/v2/token/introspect" | "/v1/token/introspect" | "/v2/token/revoke" | "/v1/token/revoke"
    )
}

/// The 413 of these endpoints for a declared body beyond `max` bytes (refused before routing).
pub fn too_large(max: usize) -> Response {
    OAuthError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        format!("The request body is too large: at most {max} bytes"),
    )
    .into_response()
}

/// The request body; one beyond the body limit is a 413 with an RFC error body.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, OAuthError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "The request body is too large",
            )
        } else {
            invalid_request("The request body could not be read")
        }
    })
}

/// A token's verification: `None` when it is not a token of this install that verifies now
/// (malformed, expired, signed elsewhere); server faults are errors.
fn verified(state: &AppState, token: &str) -> Result<Option<Arc<Verified>>, OAuthError> {
    match state.verify_token(token) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == 401 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The token and its app when the token would be accepted by this server's APIs right now,
/// whatever its audience: its app active, issued after the app's tokens were last revoked,
/// for a secret the app still has, not revoked. The same rules as the bearer extractor
/// (`crate::auth`), which also wants its own audience.
async fn active(
    state: &AppState,
    token: &str,
) -> Result<Option<(Arc<Verified>, Arc<App>)>, OAuthError> {
    let Some(v) = verified(state, token)? else {
        return Ok(None);
    };
    if state.is_revoked(&v.jti)? {
        return Ok(None);
    }
    let Some(app) = state.app(&v.app).await? else {
        return Ok(None);
    };
    if app.status != AppStatus::Active || v.iat < app.tokens_valid_after || app.org != v.org {
        return Ok(None);
    }
    if let Some(tag) = &v.secret {
        let now = time_fmt::now();
        let live = app.secrets.iter().any(|s| {
            s.expires_at.is_none_or(|t| t > now) && s.hash.get(..SECRET_TAG_LEN) == Some(tag)
        });
        if !live {
            return Ok(None);
        }
    }
    Ok(Some((v, app)))
}

/// An introspection or revocation request (form-encoded). The client authenticates with
/// `client_id` and `client_secret` here or as HTTP Basic (`client_secret_basic`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenRequestForm {
    /// The access token asked about.
    #[schema(min_length = 1)]
    token: String,
    /// `access_token` (a `refresh_token` hint is looked past; any other is
    /// `unsupported_token_type`).
    #[schema(pattern = "^(access_token|refresh_token)?$")]
    token_type_hint: Option<String>,
    /// The calling OAuth app's SID; with `client_secret`, or neither.
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}`, or, for an active token of
/// the caller's organization, its claims too.
#[derive(utoipa::ToSchema)]
#[schema(as = IntrospectionResponse)]
#[allow(dead_code)]
pub struct IntrospectionDoc {
    active: bool,
    #[schema(required = false)]
    client_id: String,
    /// `Bearer`.
    #[schema(required = false)]
    token_type: String,
    #[schema(required = false)]
    iss: String,
    #[schema(required = false)]
    sub: String,
    /// One audience (a string), or several (an array).
    #[schema(required = false, value_type = Value)]
    aud: serde_json::Value,
    #[schema(required = false)]
    org: String,
    #[schema(required = false)]
    iat: i64,
    #[schema(required = false)]
    nbf: i64,
    #[schema(required = false)]
    exp: i64,
    #[schema(required = false)]
    jti: String,
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}`, or the token's claims.
#[derive(Serialize)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub claims: Option<IntrospectedClaims>,
}

/// The claims of an active token.
#[derive(Serialize)]
pub struct IntrospectedClaims {
    pub client_id: String,
    pub token_type: &'static str,
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub org: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn note_client(ctx: Option<&Extension<Arc<RequestContext>>>, app: &Arc<App>) {
    if let Some(Extension(ctx)) = ctx {
        let _ = ctx.client.set(app.clone());
    }
}

/// Introspect an access token (RFC 7662).
///
/// Also at `/v1/token/introspect`. No permission needed: the client authenticates as on the
/// token endpoint. A caller learns about tokens of its own organization only: any other token
/// is inactive to it.
#[utoipa::path(
    post,
    path = "/v2/token/introspect",
    tag = "OAuth",
    operation_id = "IntrospectToken",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "The token's state (`Cache-Control: no-store`)", body = IntrospectionDoc),
        (status = 400, description = "invalid_request, unsupported_token_type or unauthorized_client", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"orgiam\""))),
        (status = 413, description = "invalid_request: the body is over the body limit", body = OAuthErrorBody),
        (status = 429, description = "slow_down: too many failed attempts for this client id or from this address, or too many requests from this app", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn introspect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ctx: Option<Extension<Arc<RequestContext>>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let raw = body(raw)?;
    let form = form(&headers, &raw)?;
    let caller = authenticate(&state, peer, &headers, &form).await?;
    note_client(ctx.as_ref(), &caller);
    let token = token_param(&form)?;
    let answer = match active(&state, token).await? {
        Some((v, _)) if v.org == caller.org => {
            let aud = if v.aud.is_empty() {
                std::slice::from_ref(&state.audience)
            } else {
                v.aud.as_slice()
            };
            IntrospectionResponse {
                active: true,
                claims: Some(IntrospectedClaims {
                    client_id: v.app.to_string(),
                    token_type: "Bearer",
                    iss: state.keys()?.issuer().to_owned(),
                    sub: v.app.to_string(),
                    aud: Audience::of(aud).unwrap_or(Audience::One(state.audience.clone())),
                    org: v.org.to_string(),
                    iat: v.iat,
                    nbf: v.nbf,
                    exp: v.exp,
                    jti: v.jti.clone(),
                }),
            }
        }
        _ => IntrospectionResponse {
            active: false,
            claims: None,
        },
    };
    Ok(no_store(json(StatusCode::OK, &answer)))
}

/// Revoke an access token (RFC 7009).
///
/// Also at `/v1/token/revoke`. No permission needed: a client revokes its own tokens; a token
/// that does not verify (malformed, expired, of another install) needs no revoking: 200
/// (§2.2). Every replica refuses a revoked token within a poll interval.
#[utoipa::path(
    post,
    path = "/v2/token/revoke",
    tag = "OAuth",
    operation_id = "RevokeToken",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (an empty body, `Cache-Control: no-store`)"),
        (status = 400, description = "invalid_request, unsupported_token_type or unauthorized_client", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"orgiam\""))),
        (status = 413, description = "invalid_request: the body is over the body limit", body = OAuthErrorBody),
        (status = 429, description = "slow_down: too many failed attempts for this client id or from this address, or too many requests from this app", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ctx: Option<Extension<Arc<RequestContext>>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let raw = body(raw)?;
    let form = form(&headers, &raw)?;
    let caller = authenticate(&state, peer, &headers, &form).await?;
    note_client(ctx.as_ref(), &caller);
    let token = token_param(&form)?;
    if let Some(v) = verified(&state, token)? {
        if v.app != caller.sid {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "a client may revoke only the tokens issued to it",
            ));
        }
        let request_id = ctx.as_ref().map(|Extension(c)| c.id().to_owned());
        revoke_verified(&state, &v, request_id).await?;
    }
    Ok(no_store(StatusCode::OK.into_response()))
}

/// Revokes a verified token for its own app (recorded, and refused on this replica at once).
async fn revoke_verified(
    state: &AppState,
    v: &Verified,
    request_id: Option<String>,
) -> orgiam_domain::Result<()> {
    let revoked = RevokedToken {
        jti: v.jti.clone(),
        org: v.org.clone(),
        app: v.app.clone(),
        expires_at: v.exp + LEEWAY_SECS as i64,
    };
    state
        .store
        .revoke_token(&revoked, &Actor::app(&v.app, request_id))
        .await?;
    state.mark_revoked(&revoked.jti, revoked.expires_at)
}

/// Revokes `token` if this server issued it and it is still valid (the console's sign-out).
pub async fn revoke_own(
    state: &AppState,
    token: &str,
    request_id: Option<String>,
) -> orgiam_domain::Result<()> {
    match state.verify_token(token) {
        Ok(v) => revoke_verified(state, &v, request_id).await,
        Err(_) => Ok(()),
    }
}

/// Introspect an access token: the same as `POST /v2/token/introspect`.
#[utoipa::path(
    post,
    path = "/v1/token/introspect",
    tag = "OAuth",
    operation_id = "IntrospectTokenV1",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "The token's state (`Cache-Control: no-store`)", body = IntrospectionDoc),
        (status = 400, description = "invalid_request, unsupported_token_type or unauthorized_client", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"orgiam\""))),
        (status = 413, description = "invalid_request: the body is over the body limit", body = OAuthErrorBody),
        (status = 429, description = "slow_down: too many failed attempts for this client id or from this address, or too many requests from this app", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn introspect_v1(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    ctx: Option<Extension<Arc<RequestContext>>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    introspect(state, peer, ctx, headers, raw).await
}

/// Revoke an access token: the same as `POST /v2/token/revoke`.
#[utoipa::path(
    post,
    path = "/v1/token/revoke",
    tag = "OAuth",
    operation_id = "RevokeTokenV1",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (an empty body, `Cache-Control: no-store`)"),
        (status = 400, description = "invalid_request, unsupported_token_type or unauthorized_client", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"orgiam\""))),
        (status = 413, description = "invalid_request: the body is over the body limit", body = OAuthErrorBody),
        (status = 429, description = "slow_down: too many failed attempts for this client id or from this address, or too many requests from this app", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn revoke_v1(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    ctx: Option<Extension<Arc<RequestContext>>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    revoke(state, peer, ctx, headers, raw).await
}
