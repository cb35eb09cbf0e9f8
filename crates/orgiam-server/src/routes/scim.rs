//! SCIM 2.0 users (RFC 7643/7644), Twilio's preview twin: `/Organizations/{org}/scim/Users`
//! (list, create, `.search`), `/Organizations/{org}/scim/Users/{sid}` (fetch, replace, patch,
//! delete) and the discovery documents (`ServiceProviderConfig`, `ResourceTypes`, `Schemas`).
//! The users are the organization's users (the `US` SIDs role assignments name).
//!
//! Every answer here, errors included, is `application/scim+json`; errors are the SCIM error
//! body with Twilio's `code` and `moreInfo` (`orgiam_domain::scim::error`), whatever failed:
//! authentication, the path, the body or the store. The model, parsing, filters and PATCH are
//! the domain's (`orgiam_domain::scim`); the statements are the store's (`orgiam_store::scim`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use orgiam_domain::Error;
use orgiam_domain::scim::filter::USER_SCHEMA;
use orgiam_domain::scim::list::{self, ListQuery, RawParams};
use orgiam_domain::scim::user::{etag_matches, parse_user};
use orgiam_domain::scim::{ScimError, ScimType, ScimUser, UserAttrs, patch};
use orgiam_domain::sid::{OrgSid, UserSid};
use orgiam_store::ScimFail;

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam};
use crate::limits::Body;
use crate::list::LinkBase;
use crate::state::AppState;

/// The media type of every SCIM answer (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// Whether a path is one of the SCIM endpoints (whose errors, even those of the middleware
/// and the fallbacks, are SCIM error bodies).
pub fn is_path(path: &str) -> bool {
    path.starts_with("/Organizations/") && path.contains("/scim/")
        || path.starts_with("/Organizations/") && path.ends_with("/scim")
}

/// A SCIM answer's failure: the SCIM error, and the internal cause to log (never sent).
#[derive(Debug)]
pub struct ScimApiError {
    error: ScimError,
    cause: Option<String>,
    www_authenticate: Option<&'static str>,
    retry_after: Option<u64>,
}

impl From<ScimError> for ScimApiError {
    fn from(error: ScimError) -> Self {
        Self {
            error,
            cause: None,
            www_authenticate: None,
            retry_after: None,
        }
    }
}

impl From<Error> for ScimApiError {
    fn from(e: Error) -> Self {
        let status = e.status();
        let scim_type = match &e {
            Error::BadRequest(_) => Some(ScimType::InvalidValue),
            Error::Conflict(_) => Some(ScimType::Uniqueness),
            _ => None,
        };
        let (www_authenticate, retry_after) = match &e {
            Error::Unauthenticated { token_sent, .. } => (
                Some(if *token_sent {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                }),
                None,
            ),
            Error::TooManyRequests { retry_after, .. } => (None, Some(*retry_after)),
            _ => (None, None),
        };
        Self {
            error: ScimError::new(status, scim_type, e.public_message()),
            cause: Some(e.to_string()),
            www_authenticate,
            retry_after,
        }
    }
}

impl From<ApiError> for ScimApiError {
    fn from(e: ApiError) -> Self {
        e.0.into()
    }
}

impl From<ScimFail> for ScimApiError {
    fn from(e: ScimFail) -> Self {
        match e {
            ScimFail::Scim(s) => s.into(),
            ScimFail::Store(e) => e.into(),
        }
    }
}

/// A SCIM error response from its parts (what [`ScimApiError`] answers).
pub fn error_response(error: &ScimError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(&error.body()) {
        Ok(bytes) => scim_bytes(status, bytes),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The SCIM face of an error of the middleware or the fallbacks, on a SCIM path.
pub fn error_from(e: Error) -> Response {
    ScimApiError::from(e).into_response()
}

impl IntoResponse for ScimApiError {
    fn into_response(self) -> Response {
        let mut res = error_response(&self.error);
        let cause = self.cause.unwrap_or_else(|| self.error.detail.clone());
        res.extensions_mut()
            .insert(crate::telemetry::ErrorCause(cause));
        if let Some(v) = self.www_authenticate {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

type ScimResult = Result<Response, ScimApiError>;

fn scim_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut res = (status, bytes).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

fn scim_json(status: StatusCode, value: &Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => scim_bytes(status, bytes),
        Err(e) => ScimApiError::from(Error::internal(e)).into_response(),
    }
}

/// The organization's SCIM base: `{base}/Organizations/{org}/scim`.
fn scim_base(base: &str, org: &OrgSid) -> String {
    format!("{base}/Organizations/{org}/scim")
}

fn location(base: &str, org: &OrgSid, user: &str) -> String {
    format!("{}/Users/{user}", scim_base(base, org))
}

/// A single user's answer: its body, `ETag`, and for a creation its `Location`.
fn user_response(status: StatusCode, base: &str, org: &OrgSid, user: &ScimUser) -> Response {
    let loc = location(base, org, &user.id);
    let mut res = scim_json(status, &user.to_json(&loc));
    if let Ok(v) = HeaderValue::from_str(&user.etag()) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&loc)
    {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// The caller, authenticated, holding `permission`, in the organization of the path (a
/// malformed SID is a 400, another organization a 404).
fn authorize(caller: Caller, raw_org: &str, permission: &str) -> Result<Caller, ScimApiError> {
    let org = OrgSid::parse(raw_org)
        .map_err(|e| ScimError::invalid_value(format!("OrganizationSid {e}")))?;
    caller.require(permission)?;
    if org != caller.org {
        return Err(ScimError::not_found(format!("Organization {org} was not found")).into());
    }
    Ok(caller)
}

/// A user id that is no `US` SID names no user: 404, as identity providers expect of an
/// unknown id (Okta's conformance tests probe with one), with why it cannot be one.
fn user_sid(raw: &str) -> Result<UserSid, ScimApiError> {
    UserSid::parse(raw)
        .map_err(|e| ScimError::not_found(format!("No user has this id (UserSid {e})")).into())
}

fn user_not_found(sid: &UserSid) -> ScimApiError {
    ScimError::not_found(format!("User {sid} was not found")).into()
}

/// A request body as JSON: `application/scim+json` or `application/json` (or none said),
/// valid JSON, every string (keys too) within the text rule.
fn body_json(headers: &HeaderMap, body: Result<Body, ApiError>) -> Result<Value, ScimApiError> {
    let Body(bytes) = body?;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.contains("+json")) {
            return Err(ScimError::invalid_syntax(
                "the body must be JSON (Content-Type: application/scim+json or application/json)",
            )
            .into());
        }
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))?;
    orgiam_domain::text::check_json(&value, &[])
        .map_err(|e| ScimError::invalid_value(e.public_message()))?;
    Ok(value)
}

/// A header's value as text (a header that is not is a 400 naming it).
fn header_text(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<&str>, ScimApiError> {
    match headers.get(&name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("{name} must be an entity tag")).into()),
    }
}

/// 412 unless `if_match` (when sent) names `user`'s version.
fn check_if_match(if_match: Option<&str>, user: &ScimUser) -> Result<(), ScimError> {
    match if_match {
        Some(tag) if !etag_matches(tag, user.version) => {
            Err(ScimError::precondition_failed(format!(
                "If-Match {tag} is not the user's current version {}: read the user again",
                user.etag()
            )))
        }
        _ => Ok(()),
    }
}

/// A SCIM User (RFC 7643 §4.1), as Twilio's `ScimUser`.
#[derive(Serialize, ToSchema)]
#[schema(as = ScimUser, example = json!({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "US6a1e3e34e2e1c4e3a7e1b02d3c3f4a5b",
    "externalId": "00u1a2b3c4d5e6f7g8h9",
    "userName": "ada@example.com",
    "displayName": "Ada Lovelace",
    "name": {"familyName": "Lovelace", "givenName": "Ada"},
    "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
    "active": true,
    "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z",
             "lastModified": "2026-01-01T00:00:00Z",
             "location": "https://iam.example.com/Organizations/OR.../scim/Users/US...",
             "version": "W/\"1\""}
}))]
#[allow(dead_code)]
pub struct ScimUserDoc {
    /// Must include `urn:ietf:params:scim:schemas:core:2.0:User`.
    schemas: Vec<String>,
    /// The `US` SID (read-only; ignored in a body).
    id: Option<String>,
    /// The identity provider's id of the user (case-exact, at most 255 characters).
    #[serde(rename = "externalId")]
    external_id: Option<String>,
    /// Unique in the organization, compared case-insensitively; at most 255 characters.
    #[serde(rename = "userName")]
    #[schema(min_length = 1, max_length = 255)]
    user_name: String,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    name: Option<ScimNameDoc>,
    /// At most 32; at most one primary.
    emails: Option<Vec<ScimEmailDoc>>,
    /// `false` deactivates: the user keeps its role assignments and holds no permissions.
    /// The strings `"True"`/`"False"` are accepted.
    active: Option<bool>,
    locale: Option<String>,
    timezone: Option<String>,
    /// Read-only; ignored in a body.
    meta: Option<ScimMetaDoc>,
}

/// `name`.
#[derive(Serialize, ToSchema)]
#[schema(as = ScimName)]
#[allow(dead_code)]
pub struct ScimNameDoc {
    #[serde(rename = "givenName")]
    given_name: Option<String>,
    #[serde(rename = "familyName")]
    family_name: Option<String>,
    formatted: Option<String>,
}

/// One of `emails`.
#[derive(Serialize, ToSchema)]
#[schema(as = ScimEmailAddress)]
#[allow(dead_code)]
pub struct ScimEmailDoc {
    value: String,
    /// `work`, `home`, ...
    #[serde(rename = "type")]
    kind: Option<String>,
    primary: Option<bool>,
}

/// `meta`.
#[derive(Serialize, ToSchema)]
#[schema(as = ScimMeta)]
#[allow(dead_code)]
pub struct ScimMetaDoc {
    #[serde(rename = "resourceType")]
    resource_type: String,
    created: String,
    #[serde(rename = "lastModified")]
    last_modified: String,
    location: String,
    /// A weak entity tag, `W/"<n>"`, the same as the `ETag` header.
    version: String,
}

/// A page of users (RFC 7644 §3.4.2 `ListResponse`).
#[derive(Serialize, ToSchema)]
#[schema(as = ScimUserPage)]
#[allow(dead_code)]
pub struct ScimUserPageDoc {
    schemas: Vec<String>,
    #[serde(rename = "totalResults")]
    total_results: u64,
    #[serde(rename = "startIndex")]
    start_index: u64,
    #[serde(rename = "itemsPerPage")]
    items_per_page: u64,
    #[serde(rename = "Resources")]
    resources: Vec<ScimUserDoc>,
}

/// One PATCH operation.
#[derive(Serialize, ToSchema)]
#[schema(as = ScimPatchOperation)]
#[allow(dead_code)]
pub struct ScimPatchOperationDoc {
    /// `add`, `replace` or `remove`, in any case.
    op: String,
    /// `attr`, `attr.sub`, `emails[filter]` or `emails[filter].sub`; without it, `value` is an
    /// object of attributes.
    path: Option<String>,
    #[schema(value_type = Object)]
    value: Option<Value>,
}

/// A PATCH body (RFC 7644 §3.5.2).
#[derive(Serialize, ToSchema)]
#[schema(as = ScimPatchRequest, example = json!({
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "value": {"active": false}}]
}))]
#[allow(dead_code)]
pub struct ScimPatchRequestDoc {
    schemas: Vec<String>,
    /// 1 to 100 operations, applied in order, all or none.
    #[serde(rename = "Operations")]
    operations: Vec<ScimPatchOperationDoc>,
}

/// A `.search` body (RFC 7644 §3.4.3).
#[derive(Serialize, ToSchema)]
#[schema(as = ScimSearchRequest, example = json!({
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
    "filter": "userName eq \"ada@example.com\"",
    "startIndex": 1,
    "count": 10
}))]
#[allow(dead_code)]
pub struct ScimSearchRequestDoc {
    schemas: Vec<String>,
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<i64>,
    count: Option<i64>,
    #[serde(rename = "sortBy")]
    sort_by: Option<String>,
    #[serde(rename = "sortOrder")]
    sort_order: Option<String>,
}

/// The SCIM error body with Twilio's fields (content type `application/scim+json`).
#[derive(Serialize, ToSchema)]
#[schema(as = ScimError, example = json!({
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
    "status": "409",
    "scimType": "uniqueness",
    "detail": "userName 'ada@example.com' is already taken in this organization",
    "code": 20409,
    "moreInfo": "https://www.twilio.com/docs/errors/20409"
}))]
#[allow(dead_code)]
pub struct ScimErrorDoc {
    schemas: Vec<String>,
    /// The HTTP status, as a string.
    status: String,
    /// `invalidFilter`, `invalidSyntax`, `invalidValue`, `invalidPath`, `noTarget`,
    /// `mutability`, `uniqueness`, ...
    #[serde(rename = "scimType")]
    scim_type: Option<String>,
    /// What went wrong, naming the attribute, parameter or filter position.
    detail: String,
    /// Twilio's error code: 20001, 20003, 20404, 20409, 20429, 20500, 20503.
    code: u32,
    /// `https://www.twilio.com/docs/errors/<code>`.
    #[serde(rename = "moreInfo")]
    more_info: String,
}

/// The list parameters (RFC 7644 §3.4.2). `attributes`/`excludedAttributes` are accepted and
/// not applied; other parameters are ignored.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// An RFC 7644 filter, e.g. `userName eq "ada@example.com"`; at most 2048 bytes, 10
    /// levels and 32 comparisons.
    filter: Option<String>,
    /// 1-based (below 1 reads as 1).
    #[param(rename = "startIndex")]
    start_index: Option<i64>,
    /// Users per page (default 50, at most 1000; above is clamped, negative reads as 0).
    count: Option<i64>,
    /// A single-valued attribute, e.g. `userName` or `meta.created`.
    #[param(rename = "sortBy")]
    sort_by: Option<String>,
    /// `ascending` (default) or `descending`.
    #[param(rename = "sortOrder")]
    sort_order: Option<String>,
}

/// The organization and user of a user's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct UserPath {
    /// The organization's SID: the caller's own.
    #[param(pattern = "^OR[0-9a-f]{32}$")]
    org: String,
    /// The user's SID.
    #[param(pattern = "^US[0-9a-f]{32}$")]
    sid: String,
}

/// The organization of a SCIM path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ScimOrgPath {
    /// The organization's SID: the caller's own.
    #[param(pattern = "^OR[0-9a-f]{32}$")]
    org: String,
}

/// The query string's list parameters (the first of each; others ignored).
fn list_query(raw: Option<&str>) -> Result<ListQuery, ScimError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    list::parse_query(RawParams {
        filter: get("filter"),
        start_index: get("startIndex"),
        count: get("count"),
        sort_by: get("sortBy"),
        sort_order: get("sortOrder"),
    })
}

async fn list_answer(state: &AppState, base: &str, org: &OrgSid, query: &ListQuery) -> ScimResult {
    let (total, users) = state.directory().scim_list(org, query).await?;
    let resources = users
        .iter()
        .map(|u| u.to_json(&location(base, org, &u.id)))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &list::list_response(total, query.start_index, resources),
    ))
}

/// List users.
///
/// Permission: `twilio/iam/users/list`. `filter` is RFC 7644's grammar over the User's
/// attributes; `userName eq`, `externalId eq` and `emails.value eq` are index lookups.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/scim/Users",
    tag = "ScimUsers",
    operation_id = "ListOrganizationUsers",
    params(ScimOrgPath, ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = ScimUserPageDoc, content_type = "application/scim+json"),
        (status = 400, description = "A bad filter (`invalidFilter`) or parameter (`invalidValue`) (code 20001)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<String>, ApiError>,
    LinkBase(base): LinkBase,
    RawQuery(raw): RawQuery,
) -> ScimResult {
    let caller = caller?;
    let PathParam(org) = path?;
    let caller = authorize(caller, &org, perms::USERS_LIST)?;
    let query = list_query(raw.as_deref())?;
    list_answer(&state, &base, &caller.org, &query).await
}

/// Search users (`POST .../Users/.search`, RFC 7644 §3.4.3).
///
/// Permission: `twilio/iam/users/list`. The body's `schemas` must name
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest`.
#[utoipa::path(
    post,
    path = "/Organizations/{org}/scim/Users/.search",
    tag = "ScimUsers",
    operation_id = "SearchOrganizationUsers",
    params(ScimOrgPath),
    request_body(content = ScimSearchRequestDoc, content_type = "application/scim+json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = ScimUserPageDoc, content_type = "application/scim+json"),
        (status = 400, description = "A bad body, filter or parameter (code 20001)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<String>, ApiError>,
    LinkBase(base): LinkBase,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> ScimResult {
    let caller = caller?;
    let PathParam(org) = path?;
    let caller = authorize(caller, &org, perms::USERS_LIST)?;
    let body = body_json(&headers, body)?;
    let query = list::parse_search(&body)?;
    list_answer(&state, &base, &caller.org, &query).await
}

/// Create a user.
///
/// Permission: `twilio/iam/users/create`. Unknown attributes and extension schemas are ignored.
#[utoipa::path(
    post,
    path = "/Organizations/{org}/scim/Users",
    tag = "ScimUsers",
    operation_id = "CreateOrganizationUser",
    params(ScimOrgPath),
    request_body(content = ScimUserDoc, content_type = "application/scim+json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new user", body = ScimUserDoc, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The user's version (weak)"),
                    ("Location" = String, description = "The user's URL"))),
        (status = 400, description = "A bad body (`invalidSyntax`, `invalidValue`) (code 20001)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 409, description = "The userName is taken (`uniqueness`, code 20409)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<String>, ApiError>,
    LinkBase(base): LinkBase,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> ScimResult {
    let caller = caller?;
    let PathParam(org) = path?;
    let caller = authorize(caller, &org, perms::USERS_CREATE)?;
    let body = body_json(&headers, body)?;
    let attrs = parse_user(&body)?;
    let sid = UserSid::random();
    let user = state
        .directory()
        .scim_create(
            &caller.org,
            &sid,
            &attrs,
            orgiam_domain::time_fmt::now(),
            &caller.actor(),
        )
        .await?;
    Ok(user_response(
        StatusCode::CREATED,
        &base,
        &caller.org,
        &user,
    ))
}

/// Fetch a user.
///
/// Permission: `twilio/iam/users/list`. `If-None-Match` with the current version: 304.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/scim/Users/{sid}",
    tag = "ScimUsers",
    operation_id = "FetchOrganizationUser",
    params(UserPath,
        ("If-None-Match" = Option<String>, Header, description = "An ETag: 304 when it is the user's current version")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = ScimUserDoc, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The user's version (weak)"))),
        (status = 304, description = "Not modified since the version named"),
        (status = 404, description = "No such user in this organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<(String, String)>, ApiError>,
    LinkBase(base): LinkBase,
    headers: HeaderMap,
) -> ScimResult {
    let caller = caller?;
    let PathParam((org, sid)) = path?;
    let caller = authorize(caller, &org, perms::USERS_LIST)?;
    let sid = user_sid(&sid)?;
    let user = state
        .directory()
        .scim_user(&caller.org, &sid)
        .await?
        .ok_or_else(|| user_not_found(&sid))?;
    if let Some(tag) = header_text(&headers, header::IF_NONE_MATCH)?
        && etag_matches(tag, user.version)
    {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&user.etag()) {
            res.headers_mut().insert(header::ETAG, v);
        }
        return Ok(res);
    }
    Ok(user_response(StatusCode::OK, &base, &caller.org, &user))
}

/// Replace a user.
///
/// Permission: `twilio/iam/users/update`. The body is the whole user (absent attributes are
/// cleared; `active` absent means `true`). `If-Match` with a stale version: 412.
#[utoipa::path(
    put,
    path = "/Organizations/{org}/scim/Users/{sid}",
    tag = "ScimUsers",
    operation_id = "UpdateOrganizationUser",
    params(UserPath,
        ("If-Match" = Option<String>, Header, description = "The user's ETag as last read (`*`: any)")),
    request_body(content = ScimUserDoc, content_type = "application/scim+json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = ScimUserDoc, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The user's new version (weak)"))),
        (status = 404, description = "No such user in this organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 409, description = "The userName is taken (`uniqueness`, code 20409)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 412, description = "If-Match is not the user's current version (code 20409)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<(String, String)>, ApiError>,
    LinkBase(base): LinkBase,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> ScimResult {
    let caller = caller?;
    let PathParam((org, sid)) = path?;
    let caller = authorize(caller, &org, perms::USERS_UPDATE)?;
    let sid = user_sid(&sid)?;
    let if_match = header_text(&headers, header::IF_MATCH)?;
    let body = body_json(&headers, body)?;
    let attrs = parse_user(&body)?;
    let edit = |u: &ScimUser| -> Result<UserAttrs, ScimError> {
        check_if_match(if_match, u)?;
        Ok(attrs.clone())
    };
    let (user, _) = state
        .directory()
        .scim_update(&caller.org, &sid, &edit, &caller.actor())
        .await?
        .ok_or_else(|| user_not_found(&sid))?;
    Ok(user_response(StatusCode::OK, &base, &caller.org, &user))
}

/// Patch a user (RFC 7644 §3.5.2).
///
/// Permission: `twilio/iam/users/update`. Operations `add`, `replace`, `remove` in any case,
/// with or without `path` (value-path filters and sub-attributes included); all apply or none.
/// `If-Match` with a stale version: 412.
#[utoipa::path(
    patch,
    path = "/Organizations/{org}/scim/Users/{sid}",
    tag = "ScimUsers",
    operation_id = "PatchOrganizationUser",
    params(UserPath,
        ("If-Match" = Option<String>, Header, description = "The user's ETag as last read (`*`: any)")),
    request_body(content = ScimPatchRequestDoc, content_type = "application/scim+json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = ScimUserDoc, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The user's new version (weak)"))),
        (status = 400, description = "A bad body, path or value (`invalidSyntax`, `invalidPath`, `invalidValue`, `noTarget`, `mutability`) (code 20001)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 404, description = "No such user in this organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 409, description = "The userName is taken (`uniqueness`, code 20409)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 412, description = "If-Match is not the user's current version (code 20409)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<(String, String)>, ApiError>,
    LinkBase(base): LinkBase,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> ScimResult {
    let caller = caller?;
    let PathParam((org, sid)) = path?;
    let caller = authorize(caller, &org, perms::USERS_UPDATE)?;
    let sid = user_sid(&sid)?;
    let if_match = header_text(&headers, header::IF_MATCH)?;
    let body = body_json(&headers, body)?;
    let ops = patch::parse_request(&body)?;
    let edit = |u: &ScimUser| -> Result<UserAttrs, ScimError> {
        check_if_match(if_match, u)?;
        patch::apply(&u.attrs, &ops)
    };
    let (user, _) = state
        .directory()
        .scim_update(&caller.org, &sid, &edit, &caller.actor())
        .await?
        .ok_or_else(|| user_not_found(&sid))?;
    Ok(user_response(StatusCode::OK, &base, &caller.org, &user))
}

/// Delete a user, and in the same transaction its role assignments.
///
/// Permission: `twilio/iam/users/delete`. `If-Match` with a stale version: 412.
#[utoipa::path(
    delete,
    path = "/Organizations/{org}/scim/Users/{sid}",
    tag = "ScimUsers",
    operation_id = "DeleteOrganizationUser",
    params(UserPath,
        ("If-Match" = Option<String>, Header, description = "The user's ETag as last read (`*`: any)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user in this organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
        (status = 412, description = "If-Match is not the user's current version (code 20409)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<(String, String)>, ApiError>,
    headers: HeaderMap,
) -> ScimResult {
    let caller = caller?;
    let PathParam((org, sid)) = path?;
    let caller = authorize(caller, &org, perms::USERS_DELETE)?;
    let sid = user_sid(&sid)?;
    let if_match = header_text(&headers, header::IF_MATCH)?;
    let guard = |u: &ScimUser| check_if_match(if_match, u);
    state
        .directory()
        .scim_delete(&caller.org, &sid, &guard, &caller.actor())
        .await?
        .ok_or_else(|| user_not_found(&sid))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// RFC 7644 §5 (`ServiceProviderConfig`), truthful about what is served.
fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": list::MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An access token from POST /v2/token (client credentials)",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}

fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "The organization's users",
        "schema": USER_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
    })
}

/// One attribute of the User schema (RFC 7643 §7).
fn attribute(name: &str, kind: &str, description: &str) -> Value {
    let case_exact = matches!(name, "id" | "externalId");
    let mut a = json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": name == "userName",
        "mutability": if name == "id" { "readOnly" } else { "readWrite" },
        "returned": if name == "id" { "always" } else { "default" },
        "uniqueness": match name { "id" => "global", "userName" => "server", _ => "none" },
    });
    if kind == "string" {
        a["caseExact"] = json!(case_exact);
    }
    a
}

fn user_schema(base: &str) -> Value {
    let mut name = attribute("name", "complex", "The components of the user's name");
    name["subAttributes"] = json!([
        attribute("formatted", "string", "The full name"),
        attribute("familyName", "string", "The family name"),
        attribute("givenName", "string", "The given name"),
    ]);
    let mut emails = attribute("emails", "complex", "Email addresses (at most 32)");
    emails["multiValued"] = json!(true);
    emails["subAttributes"] = json!([
        attribute("value", "string", "The address"),
        attribute("type", "string", "work, home, other"),
        attribute("primary", "boolean", "The primary address (at most one)"),
    ]);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": [
            attribute("id", "string", "The US SID"),
            attribute("externalId", "string", "The identity provider's id of the user"),
            attribute("userName", "string", "Unique in the organization, case-insensitive"),
            name,
            attribute("displayName", "string", "The name shown"),
            emails,
            attribute("active", "boolean", "false: the user holds no permissions"),
            attribute("locale", "string", "The user's locale"),
            attribute("timezone", "string", "The user's time zone"),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")}
    })
}

/// The discovery documents are the same for every caller of the organization; they need a
/// valid token of it and no permission.
fn discovery_caller(caller: Caller, raw_org: &str) -> Result<Caller, ScimApiError> {
    let org = OrgSid::parse(raw_org)
        .map_err(|e| ScimError::invalid_value(format!("OrganizationSid {e}")))?;
    if org != caller.org {
        return Err(ScimError::not_found(format!("Organization {org} was not found")).into());
    }
    Ok(caller)
}

/// What the server supports (RFC 7644 §4).
///
/// Any valid token of the organization.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/scim/ServiceProviderConfig",
    tag = "ScimUsers",
    operation_id = "FetchScimServiceProviderConfig",
    params(ScimOrgPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "patch, filter (maxResults 1000), sort and etag supported; bulk and changePassword not", body = Object, content_type = "application/scim+json"),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn service_provider(
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<String>, ApiError>,
    LinkBase(base): LinkBase,
) -> ScimResult {
    let caller = caller?;
    let PathParam(org) = path?;
    let caller = discovery_caller(caller, &org)?;
    let base = scim_base(&base, &caller.org);
    Ok(scim_json(StatusCode::OK, &service_provider_config(&base)))
}

/// The resource types served (RFC 7644 §4): `User`.
///
/// Any valid token of the organization.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/scim/ResourceTypes",
    tag = "ScimUsers",
    operation_id = "ListScimResourceTypes",
    params(ScimOrgPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A ListResponse of the one resource type, User", body = Object, content_type = "application/scim+json"),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn resource_types(
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<String>, ApiError>,
    LinkBase(base): LinkBase,
) -> ScimResult {
    let caller = caller?;
    let PathParam(org) = path?;
    let caller = discovery_caller(caller, &org)?;
    let base = scim_base(&base, &caller.org);
    Ok(scim_json(
        StatusCode::OK,
        &list::list_response(1, 1, vec![user_resource_type(&base)]),
    ))
}

/// The schemas served (RFC 7644 §4): the core User schema, as far as it is supported.
///
/// Any valid token of the organization.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/scim/Schemas",
    tag = "ScimUsers",
    operation_id = "ListScimSchemas",
    params(ScimOrgPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A ListResponse of the User schema", body = Object, content_type = "application/scim+json"),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ScimErrorDoc, content_type = "application/scim+json"),
    )
)]
pub async fn schemas(
    caller: Result<Caller, ApiError>,
    path: Result<PathParam<String>, ApiError>,
    LinkBase(base): LinkBase,
) -> ScimResult {
    let caller = caller?;
    let PathParam(org) = path?;
    let caller = discovery_caller(caller, &org)?;
    let base = scim_base(&base, &caller.org);
    Ok(scim_json(
        StatusCode::OK,
        &list::list_response(1, 1, vec![user_schema(&base)]),
    ))
}
