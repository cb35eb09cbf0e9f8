//! OAuth 2.0 client credentials (RFC 6749 §4.4), JWKS and server metadata (RFC 8414).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;

use orgiam_domain::error::more_info;
use orgiam_domain::model::{App, AppStatus};
use orgiam_domain::secret;
use orgiam_domain::sid::AppSid;
use orgiam_domain::time_fmt;

use crate::error::{ApiError, json};
use crate::limits::Body;
use crate::list::LinkBase;
use crate::state::AppState;

/// An OAuth failure: the RFC 6749 fields and the Twilio fields in one body.
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
    /// For the log: the internal cause of a server error.
    cause: Option<String>,
}

fn invalid_request(d: impl Into<String>) -> OAuthError {
    OAuthError {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        description: d.into(),
        retry_after: None,
        cause: None,
    }
}

fn invalid_client(d: impl Into<String>) -> OAuthError {
    OAuthError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: d.into(),
        retry_after: None,
        cause: None,
    }
}

/// How clients authenticate to the token, introspection and revocation endpoints.
pub const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

fn invalid_target(d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_target", d)
}

/// The audiences a token request asks for (every `audience` and RFC 8707 `resource` value,
/// blank ones ignored), each one this server or one of the app's; none asked for: this
/// server. Anything else is `invalid_target`.
pub(crate) fn audiences(
    state: &AppState,
    app: &App,
    body: &[u8],
) -> Result<Vec<String>, OAuthError> {
    // The token endpoint decoded this body under the same rule already.
    let form = orgiam_domain::text::decode_pairs(body, orgiam_domain::text::Source::Form)
        .map_err(|e| invalid_request(e.to_string()))?;
    let mut out: Vec<String> = Vec::new();
    for (name, value) in &form {
        if !matches!(name.as_str(), "audience" | "resource") || value.is_empty() {
            continue;
        }
        if name == "resource" {
            // RFC 8707 §2: an absolute URI without a fragment.
            let absolute = url::Url::parse(value).is_ok_and(|u| u.fragment().is_none());
            if !absolute {
                return Err(invalid_target(
                    "resource must be an absolute URI without a fragment",
                ));
            }
        }
        if *value != state.audience && !app.audiences.contains(value) {
            let shown: String = value.chars().take(200).collect();
            return Err(invalid_target(format!(
                "the OAuth app {} may not request tokens for the {name} '{shown}'",
                app.sid
            )));
        }
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    if out.is_empty() {
        out.push(state.audience.clone());
    }
    Ok(out)
}

impl OAuthError {
    /// An RFC 6749 §5.2 (or RFC 7009, RFC 8707) error with this status and description.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
            cause: None,
        }
    }
}

/// An OAuth failure's body: the RFC 6749 fields, then the Twilio error fields.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody<'a> {
    /// `invalid_request`, `unsupported_grant_type`, `invalid_client`, `slow_down` or
    /// `server_error`.
    error: &'a str,
    error_description: &'a str,
    code: u32,
    message: &'a str,
    more_info: String,
    status: u16,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let code = match self.status {
            StatusCode::UNAUTHORIZED => 20003,
            StatusCode::TOO_MANY_REQUESTS => 20429,
            s if s.is_server_error() => 20500,
            _ => 20001,
        };
        crate::telemetry::token_failure("token_request", self.error);
        let mut res = json(
            self.status,
            &OAuthErrorBody {
                error: self.error,
                error_description: &self.description,
                code,
                message: &self.description,
                more_info: more_info(code),
                status: self.status.as_u16(),
            },
        );
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"orgiam\""),
            );
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res.extensions_mut().insert(crate::error::ErrorCause(
            self.cause.unwrap_or(self.description),
        ));
        res
    }
}

impl From<orgiam_domain::Error> for OAuthError {
    fn from(e: orgiam_domain::Error) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (error, retry_after) = match &e {
            orgiam_domain::Error::TooManyRequests { retry_after, .. } => {
                ("slow_down", Some(*retry_after))
            }
            _ if status.is_server_error() => ("server_error", None),
            _ => ("invalid_request", None),
        };
        OAuthError {
            status,
            error,
            description: e.public_message(),
            retry_after,
            cause: Some(e.to_string()),
        }
    }
}

/// A token: a signed JWT (EdDSA; `kid` in its header names the key in the JWKS).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `null`.
    #[schema(required = true, value_type = Option<String>)]
    id_token: Option<String>,
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the token expires (the app's `access_token_ttl`).
    expires_in: i64,
    /// Always `null`.
    #[schema(required = true, value_type = Option<String>)]
    refresh_token: Option<String>,
}

/// The token request's form (`application/x-www-form-urlencoded`). The client credentials
/// come in the form or as HTTP Basic (`client_secret_basic`); other fields are ignored.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    #[schema(value_type = String, pattern = "^client_credentials$")]
    grant_type: String,
    /// The OAuth app's SID (`OQ` and 32 hex digits); with `client_secret`, or neither.
    client_id: Option<String>,
    client_secret: Option<String>,
    /// The audience the token is for (repeatable): this server (the default) or one the app
    /// may request; anything else is `invalid_target`.
    audience: Option<String>,
    /// RFC 8707: an absolute URI naming the audience, like `audience`.
    resource: Option<String>,
    /// Ignored.
    scope: Option<String>,
}

/// One public signing key (RFC 7517, Ed25519).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    #[schema(example = "OKP")]
    kty: String,
    #[schema(example = "Ed25519")]
    crv: String,
    #[schema(example = "EdDSA")]
    alg: String,
    #[schema(rename = "use", example = "sig")]
    use_: String,
    kid: String,
    /// The public key, base64url without padding.
    x: String,
}

/// The token-signing keys in use (RFC 7517).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

/// The authorization server's metadata (RFC 8414).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServerMetadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    grant_types_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    introspection_endpoint: String,
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    revocation_endpoint: String,
    revocation_endpoint_auth_methods_supported: [&'static str; 2],
    /// Empty: there is no authorization endpoint, so no response type is served.
    response_types_supported: [&'static str; 0],
}

/// Client credentials from an HTTP Basic header (`client_secret_basic`), if it names an app.
/// Any other Basic pair (an Account SID and Auth Token) is not an OAuth client: `Ok(None)`.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_request("the Authorization header is malformed"))?;
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| invalid_request("the Basic credentials are not valid base64"))?;
    let Some((user, pass)) = decoded.split_once(':') else {
        return Err(invalid_request(
            "the Basic credentials must be client_id:client_secret",
        ));
    };
    // RFC 6749 §2.3.1: both parts are form-urlencoded.
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let user = decode(user);
    if !user.starts_with(AppSid::PREFIX) {
        return Ok(None);
    }
    Ok(Some((user, decode(pass))))
}

/// The client credentials of a token request (RFC 6749 §4.4, §2.3.1): the form's, or an `OQ`
/// HTTP Basic pair's. Pure parsing, no I/O; fuzzed.
pub fn client_credentials(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(AppSid, String), OAuthError> {
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
    // Strictly decoded, every field under the text rule (orgiam_domain::text).
    let form = orgiam_domain::text::decode_pairs(body, orgiam_domain::text::Source::Form)
        .map_err(|e| invalid_request(e.to_string()))?;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        None | Some("") => return Err(invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: format!(
                    "grant_type '{other}' is not supported: use client_credentials"
                ),
                retry_after: None,
                cause: None,
            });
        }
    }
    let posted = match (field("client_id"), field("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        (None, None) => None,
        _ => {
            return Err(invalid_request(
                "client_id and client_secret must be sent together",
            ));
        }
    };
    let basic = basic_credentials(headers)?;
    let (client_id, secret) = match (posted, basic) {
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
    Ok((sid, secret))
}

// A known app's right secret is answered from memory, whatever wrong secrets others sent for
// it. Anything else is a failure so far: it counts against the failure budgets (per client id
// and per source address; beyond them, 429 without touching the store), then the app is read
// from the store (created or rotated moments ago by another process?) and checked again. A
// known client id with a wrong secret and an unknown one take the same steps: one keyed hash,
// the same number of constant-time comparisons, and one store read per client id a second.
/// An access token for an OAuth app (client credentials).
///
/// Also at `/v1/token`. No permission needed: the app's client id and secret authenticate it.
#[utoipa::path(
    post,
    path = "/v2/token",
    tag = "OAuth",
    operation_id = "CreateToken",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "The token (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"orgiam\""))),
        (status = 429, description = "slow_down: too many requests for this client id or from this address", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OAuthError> {
    let (sid, secret) = client_credentials(&headers, &body)?;
    let now = time_fmt::now();
    let hash = state.hasher.hash(&secret);
    let check = |app: Option<Arc<App>>| {
        let secrets = app.as_ref().map_or(&[][..], |a| a.secrets.as_slice());
        let matched = secret::matching(&hash, secrets, now);
        app.zip(matched)
    };
    let mut granted = check(state.cached_app(&sid)?);
    if granted.is_none() {
        state
            .rate
            .check_token_failure(sid.as_str(), peer.ip())
            .map_err(OAuthError::from)?;
        granted = check(state.app_for_token(&sid).await?);
    }
    if granted.is_none() {
        return Err(invalid_client("invalid client credentials"));
    }
    // Confirmed against the store's apps revision: a secret rotated with no grace a moment
    // ago, on any replica, is refused at once.
    let Some((app, matched)) = check(state.current_app(&sid).await?) else {
        return Err(invalid_client("invalid client credentials"));
    };
    state.rate.check_token(sid.as_str())?;
    match app.status {
        AppStatus::Active => {}
        AppStatus::Disabled => {
            return Err(invalid_client(format!("the OAuth app {sid} is disabled")));
        }
        AppStatus::Deleted => return Err(invalid_client("invalid client credentials")),
    }
    // Tokens issued before `tokens_valid_after` are refused; one asked for in the second it
    // was moved to (an app disabled and enabled again, a secret rotated with no grace) is
    // issued when that second begins.
    let wait = Duration::from_secs(u64::try_from(app.tokens_valid_after).unwrap_or(0))
        .saturating_sub(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        );
    if !wait.is_zero() {
        tokio::time::sleep(wait.min(Duration::from_secs(2))).await;
    }
    // RFC 9068 / RFC 8707: the audience asked for, among those the app may ask for.
    let audiences = audiences(&state, &app, &body)?;
    let access_token = state.keys()?.mint_for(
        &app.sid,
        &app.org,
        app.access_token_ttl,
        app.secrets.get(matched).map(|s| s.hash.as_slice()),
        &audiences,
    )?;
    let mut res = json(
        StatusCode::OK,
        &TokenResponse {
            access_token,
            id_token: None,
            token_type: "Bearer",
            expires_in: app.access_token_ttl,
            refresh_token: None,
        },
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// An access token for an OAuth app: the same as `POST /v2/token`.
#[utoipa::path(
    post,
    path = "/v1/token",
    tag = "OAuth",
    operation_id = "CreateTokenV1",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "The token (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic realm=\"orgiam\""))),
        (status = 429, description = "slow_down: too many requests for this client id or from this address", body = OAuthErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn token_v1(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    token(state, peer, headers, body).await
}

/// The public keys that verify access tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "OAuth",
    operation_id = "FetchJwks",
    responses((status = 200, description = "The JSON Web Key Set", body = Jwks))
)]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, state.keys()?.jwks()))
}

/// The authorization server's metadata (RFC 8414).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "OAuth",
    operation_id = "FetchServerMetadata",
    responses((status = 200, description = "What this server serves", body = ServerMetadata))
)]
pub async fn metadata(
    State(state): State<AppState>,
    LinkBase(base): LinkBase,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        &ServerMetadata {
            issuer: state.keys()?.issuer().to_owned(),
            token_endpoint: format!("{base}/v2/token"),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            grant_types_supported: ["client_credentials"],
            token_endpoint_auth_methods_supported: AUTH_METHODS,
            introspection_endpoint: format!("{base}/v2/token/introspect"),
            introspection_endpoint_auth_methods_supported: AUTH_METHODS,
            revocation_endpoint: format!("{base}/v2/token/revoke"),
            revocation_endpoint_auth_methods_supported: AUTH_METHODS,
            response_types_supported: [],
        },
    ))
}
