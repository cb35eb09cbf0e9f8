//! Custom roles over HTTP: `POST /v2/Organizations/Roles`, `POST|PATCH|DELETE
//! /v2/Organizations/Roles/{RoleSid}`. Updates need `If-Match` (the role's `ETag`); the work
//! is `crate::manage`'s, shared with the command line.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use orgiam_domain::Error;
use orgiam_domain::model::Role;
use orgiam_domain::role_edit;
use orgiam_domain::sid::RoleSid;

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam, json};
use crate::input::json_object;
use crate::limits::Body;
use crate::manage;
use crate::openapi::ErrorBody;
use crate::state::AppState;
use crate::views::roles::{RoleView, role_json};
use utoipa::ToSchema;

/// The free-text fields of a role body.
const FREE: &[&str] = &["external_description"];

/// A role's permission patterns as a request gives them.
#[derive(ToSchema)]
#[schema(as = PolicyInput)]
#[allow(dead_code)]
pub struct PolicyInput {
    /// Patterns `/namespace/product/resource/action` (`*` for one segment, a trailing `*` for
    /// the rest) the holder is granted.
    allow: Vec<String>,
    /// Patterns withheld, winning over any allow.
    deny: Option<Vec<String>>,
    /// `1`, or null.
    format: Option<f64>,
}

/// The product group a custom role shows.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RoleProductGroupInput {
    product_group: Option<String>,
    friendly_name: Option<String>,
}

/// A new custom role (JSON): the Role object's writable fields. Unknown fields are a 400.
#[derive(ToSchema)]
#[schema(as = RoleCreate)]
#[allow(dead_code)]
pub struct CreateBody {
    /// Unique in the organization, built-in roles included.
    friendly_name: String,
    #[schema(required = false)]
    external_description: String,
    #[schema(required = false)]
    product_group: String,
    /// The lowest scope it can be assigned at.
    #[schema(pattern = "^(ORGANIZATION|ACCOUNT|SUB_ACCOUNT)$")]
    lowest_level: String,
    role_product_group: Option<RoleProductGroupInput>,
    policy: PolicyInput,
    resource_types: Option<Vec<String>>,
}

/// A change to a custom role (JSON): only the fields sent change. Unknown fields are a 400.
#[derive(ToSchema)]
#[schema(as = RoleUpdate)]
#[allow(dead_code)]
pub struct UpdateBody {
    #[schema(required = false)]
    friendly_name: String,
    #[schema(required = false)]
    external_description: String,
    #[schema(required = false)]
    product_group: String,
    #[schema(required = false, pattern = "^(ORGANIZATION|ACCOUNT|SUB_ACCOUNT)$")]
    lowest_level: String,
    role_product_group: Option<RoleProductGroupInput>,
    #[schema(required = false)]
    policy: PolicyInput,
    resource_types: Option<Vec<String>>,
}

/// A role response with its `ETag`.
pub fn with_etag(status: StatusCode, role: &Role) -> Response {
    let mut res = json(status, &role_json(role));
    if let Ok(v) = HeaderValue::from_str(&role_edit::etag(role)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

fn role_sid(raw: &str) -> Result<RoleSid, Error> {
    RoleSid::parse(raw).map_err(|e| Error::bad_request(format!("RoleSid {e}")))
}

/// After a change this replica acknowledges: its role pages and expansions follow the new
/// roles revision before the answer leaves (other replicas follow within a poll interval).
async fn caught_up(state: &AppState) -> Result<(), Error> {
    state.refresh().await
}

/// Create a custom role.
///
/// Permission: `twilio/iam/roles/create`.
#[utoipa::path(
    post,
    path = "/v2/Organizations/Roles",
    tag = "Roles",
    operation_id = "CreateRole",
    request_body(content = CreateBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new role", body = RoleView,
            headers(("ETag" = String, description = "The role's version, for If-Match"))),
        (status = 409, description = "The name is taken in this organization (code 20409)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLES_CREATE)?;
    let body = json_object(&headers, &body, FREE)?;
    let role = manage::create_role(
        state.directory(),
        &state.catalog,
        &caller.org,
        &body,
        &caller.actor(),
    )
    .await?;
    caught_up(&state).await?;
    Ok(with_etag(StatusCode::CREATED, &role))
}

/// Update a custom role.
///
/// Permission: `twilio/iam/roles/update`. Built-in roles are read-only (400). Also `PATCH`.
#[utoipa::path(
    post,
    path = "/v2/Organizations/Roles/{sid}",
    tag = "Roles",
    operation_id = "UpdateRole",
    params(
        ("sid" = String, Path, description = "The custom role's SID", pattern = "^IX[0-9a-f]{32}$"),
        ("If-Match" = Option<String>, Header, description = "The role's `ETag` as last read (`*`: any)"),
    ),
    request_body(content = UpdateBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The role", body = RoleView,
            headers(("ETag" = String, description = "The role's new version"))),
        (status = 404, description = "No such role in this organization (code 20404)", body = ErrorBody),
        (status = 409, description = "If-Match is not the role's current ETag, or the name is taken (code 20409)", body = ErrorBody),
        (status = 428, description = "If-Match is missing (code 20001)", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLES_UPDATE)?;
    let sid = role_sid(&sid)?;
    let if_match = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Error::bad_request("If-Match must be an ETag"))?,
        ),
    };
    let body = json_object(&headers, &body, FREE)?;
    let (role, changed) = manage::update_role(
        state.directory(),
        &state.catalog,
        &caller.org,
        &sid,
        &body,
        if_match,
        &caller.actor(),
    )
    .await?;
    if changed {
        caught_up(&state).await?;
    }
    Ok(with_etag(StatusCode::OK, &role))
}

/// Update a custom role: the same as `POST /v2/Organizations/Roles/{sid}`.
///
/// Permission: `twilio/iam/roles/update`.
#[utoipa::path(
    patch,
    path = "/v2/Organizations/Roles/{sid}",
    tag = "Roles",
    operation_id = "PatchRole",
    params(
        ("sid" = String, Path, description = "The custom role's SID", pattern = "^IX[0-9a-f]{32}$"),
        ("If-Match" = Option<String>, Header, description = "The role's `ETag` as last read (`*`: any)"),
    ),
    request_body(content = UpdateBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The role", body = RoleView,
            headers(("ETag" = String, description = "The role's new version"))),
        (status = 404, description = "No such role in this organization (code 20404)", body = ErrorBody),
        (status = 409, description = "If-Match is not the role's current ETag, or the name is taken (code 20409)", body = ErrorBody),
        (status = 428, description = "If-Match is missing (code 20001)", body = ErrorBody),
    )
)]
pub async fn patch(
    state: State<AppState>,
    caller: Caller,
    sid: PathParam<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    update(state, caller, sid, headers, body).await
}

/// Delete a custom role.
///
/// Permission: `twilio/iam/roles/delete`. Built-in roles are read-only (400).
#[utoipa::path(
    delete,
    path = "/v2/Organizations/Roles/{sid}",
    tag = "Roles",
    operation_id = "DeleteRole",
    params(("sid" = String, Path, description = "The custom role's SID", pattern = "^IX[0-9a-f]{32}$")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such role in this organization (code 20404)", body = ErrorBody),
        (status = 409, description = "Assignments still use the role (code 20409)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLES_DELETE)?;
    let sid = role_sid(&sid)?;
    manage::delete_role(state.directory(), &caller.org, &sid, &caller.actor()).await?;
    caught_up(&state).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
