//! OAuth apps at Twilio's IAM v1 path, in the caller's organization:
//! `GET|POST /v1/Account/OAuthApps`, `GET|PUT|DELETE /v1/Account/OAuthApps/{sid}`,
//! `POST /v1/Account/OAuthApps/{sid}/Secret`. The work is `crate::manage`'s, shared with the
//! command line. The secret is in the create and rotate answers only.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use orgiam_domain::keyset::BySid;
use orgiam_domain::model::{App, AppStatus, DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, MIN_TOKEN_TTL};
use orgiam_domain::policy::Pattern;
use orgiam_domain::role_edit::check_fields;
use orgiam_domain::sid::AppSid;
use orgiam_domain::{Error, time_fmt};
use orgiam_store::AppChange;

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam, json};
use crate::input::json_object;
use crate::limits::Body;
use crate::list::{LinkBase, Listing, Params};
use crate::manage::{self, NewApp};
use crate::openapi::{ErrorBody, Meta, PageParams};
use crate::state::AppState;
use utoipa::ToSchema;

const PATH: &str = "/v1/Account/OAuthApps";
/// The only grant type an app serves.
pub const APP_TYPE: &str = "client_credentials";
const FREE: &[&str] = &["description"];

/// A create request: Twilio's `IamV1AccountVendorOauthAppCreateRequest` (the SDKs send every
/// field, unset ones as null).
const CREATE_FIELDS: &[(&str, &[&str])] = &[
    ("type", &["string", "null"]),
    ("friendly_name", &["string"]),
    ("owner_sid", &["string", "null"]),
    ("description", &["string", "null"]),
    ("client_sid", &["string", "null"]),
    ("token_endpoint_auth_method", &["string", "null"]),
    ("policy", &["object"]),
    ("access_token_ttl", &["number", "null"]),
];

/// An update request: Twilio's `IamV1AccountVendorOauthAppUpdateRequest` (null keeps a
/// field), plus `status` (`active` or `disabled`).
const UPDATE_FIELDS: &[(&str, &[&str])] = &[
    ("type", &["string", "null"]),
    ("friendly_name", &["string", "null"]),
    ("description", &["string", "null"]),
    ("policy", &["object", "null"]),
    ("access_token_ttl", &["number", "null"]),
    ("status", &["string", "null"]),
];

const ROTATE_FIELDS: &[(&str, &[&str])] = &[("grace_period", &["number", "null"])];

/// The permission patterns an app's tokens carry (see the Role's policy).
#[derive(Serialize, ToSchema)]
#[schema(as = OAuthAppPolicy)]
struct PolicyView<'a> {
    #[schema(value_type = Vec<String>)]
    allow: &'a [Pattern],
    #[schema(value_type = Option<Vec<String>>, required = true)]
    deny: &'a Option<Vec<Pattern>>,
}

/// Twilio's OAuthApp object.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuthApp)]
struct AppView<'a> {
    /// `client_credentials`.
    #[serde(rename = "type")]
    kind: &'static str,
    #[schema(pattern = "^OQ[0-9a-f]{32}$")]
    sid: &'a str,
    friendly_name: &'a str,
    description: &'a str,
    #[schema(format = DateTime)]
    date_created: String,
    /// Always null.
    #[schema(required = true)]
    created_by: Option<&'a str>,
    /// The client secret: in the create and rotate answers only (shown once), else null.
    #[schema(required = true)]
    secret: Option<&'a str>,
    /// `active` or `disabled`.
    status: &'a str,
    /// The organization's SID.
    #[schema(pattern = "^OR[0-9a-f]{32}$")]
    owner_sid: &'a str,
    /// The client id: the app's SID.
    #[schema(pattern = "^OQ[0-9a-f]{32}$")]
    client_sid: &'a str,
    policy: PolicyView<'a>,
    /// Seconds.
    access_token_ttl: i64,
}

/// A page of OAuth apps.
#[derive(ToSchema)]
#[schema(as = OAuthAppPage)]
#[allow(dead_code)]
pub struct AppPage {
    apps: Vec<AppView<'static>>,
    meta: Meta,
}

/// An app's permission patterns as a request gives them.
#[derive(ToSchema)]
#[schema(as = OAuthAppPolicyInput)]
#[allow(dead_code)]
pub struct PolicyInput {
    /// Patterns `/namespace/product/resource/action` (`*` for one segment, a trailing `*` for
    /// the rest) granted; each must be granted to the calling app too.
    allow: Vec<String>,
    /// Patterns withheld, winning over any allow.
    deny: Option<Vec<String>>,
    /// `1`, or null.
    format: Option<f64>,
}

/// A new OAuth app (JSON; Twilio's create request, the SDKs sending unset fields as null;
/// camelCase names are taken too). Unknown fields are a 400.
#[derive(ToSchema)]
#[schema(as = OAuthAppCreate)]
#[allow(dead_code)]
pub struct CreateBody {
    /// `client_credentials`, or null.
    #[schema(pattern = "^client_credentials$")]
    r#type: Option<String>,
    friendly_name: String,
    /// The caller's organization, or null.
    owner_sid: Option<String>,
    description: Option<String>,
    /// Assigned by the server: null.
    client_sid: Option<String>,
    /// `client_secret_basic`, `client_secret_post`, or null.
    #[schema(pattern = "^client_secret_(basic|post)$")]
    token_endpoint_auth_method: Option<String>,
    policy: PolicyInput,
    /// Seconds (default 3600).
    #[schema(minimum = 60, maximum = 2592000)]
    access_token_ttl: Option<i64>,
}

/// A change to an OAuth app (JSON; null or absent keeps a field). Unknown fields are a 400.
#[derive(ToSchema)]
#[schema(as = OAuthAppUpdate)]
#[allow(dead_code)]
pub struct UpdateBody {
    /// `client_credentials`, or null.
    #[schema(pattern = "^client_credentials$")]
    r#type: Option<String>,
    friendly_name: Option<String>,
    description: Option<String>,
    policy: Option<PolicyInput>,
    /// Seconds.
    #[schema(minimum = 60, maximum = 2592000)]
    access_token_ttl: Option<i64>,
    /// `active` or `disabled` (an app cannot disable itself).
    #[schema(pattern = "^(active|disabled)$")]
    status: Option<String>,
}

/// A secret rotation (JSON; no body: a grace period of 0).
#[derive(ToSchema)]
#[schema(as = OAuthAppSecretRotation)]
#[allow(dead_code)]
pub struct RotateBody {
    /// Seconds the old secret keeps working (default 0).
    #[schema(minimum = 0, maximum = 2592000)]
    grace_period: Option<i64>,
}

fn view<'a>(app: &'a App, secret: Option<&'a str>) -> AppView<'a> {
    AppView {
        kind: APP_TYPE,
        sid: app.sid.as_str(),
        friendly_name: &app.friendly_name,
        description: &app.description,
        date_created: time_fmt::format(app.date_created),
        created_by: None,
        secret,
        status: app.status.as_str(),
        owner_sid: app.org.as_str(),
        client_sid: app.sid.as_str(),
        policy: PolicyView {
            allow: &app.policy.allow,
            deny: &app.policy.deny,
        },
        access_token_ttl: app.access_token_ttl,
    }
}

/// The app as the API shows it (with the secret only when one was just issued).
pub fn app_json(app: &App, secret: Option<&str>) -> Value {
    serde_json::to_value(view(app, secret)).unwrap_or(Value::Null)
}

fn app_sid(raw: &str) -> Result<AppSid, Error> {
    AppSid::parse(raw).map_err(|e| Error::bad_request(format!("OAuthAppSid {e}")))
}

/// The request fields' camelCase spellings: the npm SDK sends its request classes'
/// property names (`friendlyName`, `accessTokenTtl`) as they are.
const CAMEL_CASE: &[(&str, &str)] = &[
    ("friendlyName", "friendly_name"),
    ("ownerSid", "owner_sid"),
    ("clientSid", "client_sid"),
    ("tokenEndpointAuthMethod", "token_endpoint_auth_method"),
    ("accessTokenTtl", "access_token_ttl"),
    ("gracePeriod", "grace_period"),
];

/// The body's fields under their snake_case names; a field sent under both names is a 400.
fn object(v: Value) -> Result<Map<String, Value>, Error> {
    let Value::Object(m) = v else {
        return Err(Error::bad_request("The body must be a JSON object"));
    };
    let mut out = Map::with_capacity(m.len());
    for (k, v) in m {
        let name = CAMEL_CASE
            .iter()
            .find(|(camel, _)| *camel == k)
            .map_or(k.as_str(), |(_, snake)| *snake)
            .to_owned();
        if out.contains_key(&name) {
            return Err(Error::bad_request(format!(
                "{name} is given twice (once as {k})"
            )));
        }
        out.insert(name, v);
    }
    Ok(out)
}

fn string(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn check_type(body: &Map<String, Value>) -> Result<(), Error> {
    match body.get("type").and_then(Value::as_str) {
        None | Some(APP_TYPE) => Ok(()),
        Some(other) => Err(Error::bad_request(format!(
            "type must be '{APP_TYPE}', not '{other}'"
        ))),
    }
}

/// The parsed create request. Pure parsing.
pub fn parse_create(body: Value, caller_org: &str) -> Result<NewApp, Error> {
    let body = object(body)?;
    check_fields(
        &body,
        CREATE_FIELDS,
        &["friendly_name", "policy"],
        "an OAuth app",
    )?;
    check_type(&body)?;
    if let Some(o) = body.get("owner_sid").and_then(Value::as_str)
        && o != caller_org
    {
        return Err(Error::bad_request(format!(
            "owner_sid must be the caller's organization ({caller_org}) or null"
        )));
    }
    if body.get("client_sid").is_some_and(|c| !c.is_null()) {
        return Err(Error::bad_request(
            "client_sid is assigned by the server: send null",
        ));
    }
    match body
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("client_secret_basic" | "client_secret_post") => {}
        Some(other) => {
            return Err(Error::bad_request(format!(
                "token_endpoint_auth_method must be client_secret_basic or client_secret_post, not '{other}'"
            )));
        }
    }
    let policy = manage::parse_policy(body.get("policy").unwrap_or(&Value::Null))?;
    let ttl = manage::int_field(&body, "access_token_ttl", MIN_TOKEN_TTL..=MAX_TOKEN_TTL)?;
    Ok(NewApp {
        friendly_name: string(&body, "friendly_name").unwrap_or_default(),
        description: string(&body, "description").unwrap_or_default(),
        policy,
        access_token_ttl: ttl.unwrap_or(DEFAULT_TOKEN_TTL),
        audiences: Vec::new(),
    })
}

/// The parsed update request: the change and the new status. Pure parsing.
pub fn parse_update(body: Value) -> Result<(AppChange, Option<AppStatus>), Error> {
    let body = object(body)?;
    check_fields(&body, UPDATE_FIELDS, &[], "an OAuth app")?;
    check_type(&body)?;
    let policy = match body.get("policy") {
        None | Some(Value::Null) => None,
        Some(p) => Some(manage::parse_policy(p)?),
    };
    let status = match body.get("status").and_then(Value::as_str) {
        None => None,
        Some("active") => Some(AppStatus::Active),
        Some("disabled") => Some(AppStatus::Disabled),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "status must be active or disabled, not '{other}'"
            )));
        }
    };
    let change = AppChange {
        friendly_name: string(&body, "friendly_name"),
        description: string(&body, "description"),
        policy,
        access_token_ttl: manage::int_field(
            &body,
            "access_token_ttl",
            MIN_TOKEN_TTL..=MAX_TOKEN_TTL,
        )?,
        audiences: None,
    };
    Ok((change, status))
}

/// Create an OAuth app.
///
/// Permission: `twilio/iam/oauth-apps/create`; the app's policy must be granted to the
/// calling app too (else 403). The answer carries the secret, shown this once.
#[utoipa::path(
    post,
    path = "/v1/Account/OAuthApps",
    tag = "OAuthApps",
    operation_id = "CreateOAuthApp",
    request_body(content = CreateBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new app with its secret (`Cache-Control: no-store`)", body = AppView),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::OAUTH_APPS_CREATE)?;
    let new = parse_create(json_object(&headers, &body, FREE)?, caller.org.as_str())?;
    let (app, secret) = manage::create_app(
        state.directory(),
        &state.hasher,
        &state.catalog,
        &caller.org,
        new,
        Some(&caller.app),
        &caller.actor(),
    )
    .await?;
    state.refresh().await?;
    let mut res = json(StatusCode::CREATED, &view(&app, Some(&secret)));
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

const LISTING: Listing = Listing {
    endpoint: "oauth-apps",
    key: "apps",
    default_size: 50,
    max_size: 100,
    echo: &[],
};

/// List OAuth apps, by SID.
///
/// Permission: `twilio/iam/oauth-apps/list`. PageSize: default 50, at most 100.
#[utoipa::path(
    get,
    path = "/v1/Account/OAuthApps",
    tag = "OAuthApps",
    operation_id = "ListOAuthApp",
    params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of apps (without secrets)", body = AppPage))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    LinkBase(base): LinkBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::OAUTH_APPS_LIST)?;
    let params = Params::parse(query.as_deref());
    let bound = LISTING.bind(&state.pages, caller.org.as_str(), &params, "")?;
    let rows = state
        .directory()
        .list_org_apps(&caller.org, bound.cursor(), bound.fetch_limit())
        .await?;
    let key_of = |a: &App| BySid(a.sid.to_string());
    let page = bound.page(rows, &base, PATH, key_of)?;
    let views: Vec<_> = page.rows.iter().map(|a| view(a, None)).collect();
    Ok(bound.respond(&page, &views)?)
}

/// Fetch an OAuth app.
///
/// Permission: `twilio/iam/oauth-apps/list`.
#[utoipa::path(
    get,
    path = "/v1/Account/OAuthApps/{sid}",
    tag = "OAuthApps",
    operation_id = "FetchOAuthApp",
    params(("sid" = String, Path, description = "The OAuth app's SID", pattern = "^OQ[0-9a-f]{32}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The app (without its secret)", body = AppView),
        (status = 404, description = "No such app in this organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
) -> Result<Response, ApiError> {
    caller.require(perms::OAUTH_APPS_LIST)?;
    let sid = app_sid(&sid)?;
    let app = manage::find_app(state.directory(), Some(&caller.org), &sid).await?;
    Ok(json(StatusCode::OK, &view(&app, None)))
}

/// Update an OAuth app.
///
/// Permission: `twilio/iam/oauth-apps/update`; a new policy must be granted to the calling
/// app too (else 403). An app cannot disable itself (400).
#[utoipa::path(
    put,
    path = "/v1/Account/OAuthApps/{sid}",
    tag = "OAuthApps",
    operation_id = "UpdateOAuthApp",
    params(("sid" = String, Path, description = "The OAuth app's SID", pattern = "^OQ[0-9a-f]{32}$")),
    request_body(content = UpdateBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The app (without its secret)", body = AppView),
        (status = 404, description = "No such app in this organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::OAUTH_APPS_UPDATE)?;
    let sid = app_sid(&sid)?;
    let (change, status) = parse_update(json_object(&headers, &body, FREE)?)?;
    let (app, changed) = manage::update_app(
        state.directory(),
        &state.catalog,
        Some(&caller.org),
        &sid,
        change,
        status,
        Some(&caller.app),
        &caller.actor(),
    )
    .await?;
    if changed {
        state.refresh().await?;
    }
    Ok(json(StatusCode::OK, &view(&app, None)))
}

/// Delete an OAuth app: its secrets are erased and its tokens stop working.
///
/// Permission: `twilio/iam/oauth-apps/delete`. An app cannot delete itself (400).
#[utoipa::path(
    delete,
    path = "/v1/Account/OAuthApps/{sid}",
    tag = "OAuthApps",
    operation_id = "DeleteOAuthApp",
    params(("sid" = String, Path, description = "The OAuth app's SID", pattern = "^OQ[0-9a-f]{32}$")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such app in this organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
) -> Result<Response, ApiError> {
    caller.require(perms::OAUTH_APPS_DELETE)?;
    let sid = app_sid(&sid)?;
    manage::delete_app(
        state.directory(),
        Some(&caller.org),
        &sid,
        Some(&caller.app),
        &caller.actor(),
    )
    .await?;
    state.refresh().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Rotate an OAuth app's secret.
///
/// Permission: `twilio/iam/oauth-apps/update`. The new secret is shown this once; the old one
/// keeps working for `grace_period` seconds (no body: 0).
#[utoipa::path(
    post,
    path = "/v1/Account/OAuthApps/{sid}/Secret",
    tag = "OAuthApps",
    operation_id = "CreateOAuthAppSecret",
    params(("sid" = String, Path, description = "The OAuth app's SID", pattern = "^OQ[0-9a-f]{32}$")),
    request_body(content = Option<RotateBody>, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The app with its new secret (`Cache-Control: no-store`)", body = AppView),
        (status = 404, description = "No such app in this organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::OAUTH_APPS_UPDATE)?;
    let sid = app_sid(&sid)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        object(json_object(&headers, &body, FREE)?)?
    };
    check_fields(&body, ROTATE_FIELDS, &[], "a secret rotation")?;
    let grace = manage::int_field(&body, "grace_period", 0..=manage::MAX_GRACE_PERIOD)?;
    let (app, secret) = manage::rotate_secret(
        state.directory(),
        &state.hasher,
        &state.catalog,
        Some(&caller.org),
        &sid,
        grace.unwrap_or(0),
        Some(&caller.app),
        &caller.actor(),
    )
    .await?;
    state.refresh().await?;
    let mut res = json(StatusCode::OK, &view(&app, Some(&secret)));
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}
