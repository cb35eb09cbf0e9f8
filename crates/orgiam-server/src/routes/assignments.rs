//! Role assignments: `/v2/Organizations/RoleAssignments` and the preview twin
//! `/Organizations/{OrganizationSid}/RoleAssignments`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use orgiam_domain::assignment::MAX_FREE_TEXT;
use orgiam_domain::model::AssignmentFilter;
use orgiam_domain::sid::{AccountSid, AssignmentSid, OrgSid, RoleSid, UserSid, is_sid};
use orgiam_domain::{Error, Result};

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam, json};
use crate::limits::Body;
use crate::list::{LinkBase, Listing, Params};
use crate::openapi::{ErrorBody, Meta, OrgPath, PageParams};
use crate::state::AppState;

pub use crate::assign::{CreateRequest, create_assignment};
pub use crate::views::assignments::assignment_json;
use crate::views::assignments::{AssignmentView, render, view};
use utoipa::{IntoParams, ToSchema};

const V2_PATH: &str = "/v2/Organizations/RoleAssignments";

const LISTING: Listing = Listing {
    endpoint: "role-assignments",
    key: "content",
    default_size: 50,
    max_size: 100,
    echo: &["Identity", "Scope", "ResourceType", "ResourceId"],
};

/// A page of role assignments.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AssignmentPage {
    content: Vec<AssignmentView<'static>>,
    meta: Meta,
}

/// A new role assignment (JSON; twilio-node's camelCase `roleSid`, `resourceType` and
/// `resourceId` are taken too).
#[derive(ToSchema)]
#[schema(as = RoleAssignmentCreate)]
#[allow(dead_code)]
pub struct CreateBody {
    /// A role of this organization (built-in or custom).
    #[schema(pattern = "^IX[0-9a-f]{32}$")]
    role_sid: String,
    /// The organization's SID or one of its accounts' (as the role's `lowest_level` allows).
    #[schema(pattern = "^(OR|AC)[0-9a-f]{32}$")]
    scope: String,
    /// A user of this organization.
    #[schema(pattern = "^US[0-9a-f]{32}$")]
    identity: String,
    /// One of the role's `resource_types`; with `resource_id`.
    #[schema(max_length = 256)]
    resource_type: Option<String>,
    /// With `resource_type`.
    #[schema(max_length = 256)]
    resource_id: Option<String>,
}

/// The filters of an assignment listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// Only this user's assignments (blank: no filter).
    #[param(rename = "Identity", pattern = r"^\s*(US[0-9a-f]{32}\s*)?$")]
    identity: Option<String>,
    /// Only assignments at this scope (blank: no filter).
    #[param(rename = "Scope", pattern = r"^\s*((OR|AC)[0-9a-f]{32}\s*)?$")]
    scope: Option<String>,
    #[param(rename = "ResourceType", max_length = 256)]
    resource_type: Option<String>,
    #[param(rename = "ResourceId", max_length = 256)]
    resource_id: Option<String>,
}

/// Checks a preview path's organization: malformed is 400, another organization's is 404.
pub fn check_path_org(caller: &Caller, raw: &str) -> Result<()> {
    let org = OrgSid::parse(raw).map_err(|e| Error::bad_request(format!("OrganizationSid {e}")))?;
    if org != caller.org {
        return Err(Error::not_found(format!(
            "Organization {org} was not found"
        )));
    }
    Ok(())
}

fn scope_is_valid_sid(s: &str) -> bool {
    is_sid(OrgSid::PREFIX, s) || is_sid(AccountSid::PREFIX, s)
}

fn free_text(params: &Params, name: &str) -> Result<Option<String>> {
    match params.non_blank(name) {
        Some(v) if v.chars().count() > MAX_FREE_TEXT => Err(Error::bad_request(format!(
            "{name} must be at most {MAX_FREE_TEXT} characters"
        ))),
        v => Ok(v.map(str::to_owned)),
    }
}

/// The filters of a listing. Pure parsing; fuzzed.
pub fn list_filter(params: &Params) -> Result<AssignmentFilter> {
    let identity = params.non_blank("Identity").map(str::to_owned);
    if let Some(i) = &identity {
        UserSid::parse(i).map_err(|e| Error::bad_request(format!("Identity {e}")))?;
    }
    let scope = params.non_blank("Scope").map(str::to_owned);
    if scope.as_deref().is_some_and(|s| !scope_is_valid_sid(s)) {
        return Err(Error::bad_request(
            "Scope must be an organization (OR) or account (AC) SID",
        ));
    }
    Ok(AssignmentFilter {
        identity,
        scope,
        resource_type: free_text(params, "ResourceType")?,
        resource_id: free_text(params, "ResourceId")?,
    })
}

async fn list(
    state: AppState,
    caller: Caller,
    base: String,
    query: Option<String>,
    path: &str,
) -> Result<Response> {
    let params = Params::parse(query.as_deref());
    let filter = list_filter(&params)?;
    let canonical = serde_json::json!([
        filter.identity,
        filter.scope,
        filter.resource_type,
        filter.resource_id
    ])
    .to_string();
    let bound = LISTING.bind(&state.pages, caller.org.as_str(), &params, &canonical)?;
    let (cursor, limit) = (bound.cursor(), bound.fetch_limit());
    let rows = state
        .store
        .render_assignments(&caller.org, &filter, cursor, limit, render)
        .await?;
    bound.respond_rendered(rows, &base, path)
}

/// The camelCase spelling of a snake_case field: twilio-node's typed create sends
/// `roleSid`, `resourceType` and `resourceId` (see docs/SDK.md).
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON body's string field (snake_case, or its camelCase alias): absent or null is `None`;
/// anything but a string is a 400.
fn field<'a>(body: &'a Value, name: &str) -> Result<Option<&'a str>> {
    let value = body
        .get(name)
        .filter(|v| !v.is_null())
        .or_else(|| body.get(camel(name)));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Error::bad_request(format!("{name} must be a string"))),
    }
}

fn required<'a>(body: &'a Value, name: &str) -> Result<&'a str> {
    field(body, name)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::bad_request(format!("{name} is required")))
}

/// Parses a create request's JSON body (snake_case, or twilio-node's camelCase). Pure; fuzzed.
pub fn parse_create(headers: &HeaderMap, body: &[u8]) -> Result<CreateRequest> {
    let body = crate::input::json_object(headers, body, &[])?;
    let role_sid = required(&body, "role_sid")?;
    let role_sid =
        RoleSid::parse(role_sid).map_err(|e| Error::bad_request(format!("role_sid {e}")))?;
    let scope = required(&body, "scope")?;
    let identity = required(&body, "identity")?;
    let resource_type = field(&body, "resource_type")?.filter(|s| !s.is_empty());
    let resource_id = field(&body, "resource_id")?.filter(|s| !s.is_empty());
    Ok(CreateRequest {
        role_sid,
        scope: scope.to_owned(),
        identity: identity.to_owned(),
        resource_type: resource_type.map(str::to_owned),
        resource_id: resource_id.map(str::to_owned),
    })
}

async fn create(
    state: AppState,
    caller: Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    let request = parse_create(headers, body)?;
    let assignment =
        create_assignment(state.store.as_ref(), &caller.org, request, &caller.actor()).await?;
    tracing::info!(assignment = %assignment.sid, role = %assignment.role, identity = %assignment.identity, request_id = %caller.request_id().unwrap_or("-"), "role assignment created");
    Ok(json(StatusCode::CREATED, &view(&assignment)))
}

async fn delete(state: AppState, caller: Caller, raw: &str) -> Result<Response> {
    let sid = AssignmentSid::parse(raw)
        .map_err(|e| Error::bad_request(format!("RoleAssignmentSid {e}")))?;
    if !state
        .store
        .delete_assignment(&caller.org, &sid, &caller.actor())
        .await?
    {
        return Err(Error::not_found(format!(
            "Role assignment {sid} was not found"
        )));
    }
    tracing::info!(assignment = %sid, request_id = %caller.request_id().unwrap_or("-"), "role assignment deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List role assignments, oldest first.
///
/// Permission: `twilio/iam/role-assignments/list`. PageSize: default 50, at most 100.
#[utoipa::path(
    get,
    path = "/v2/Organizations/RoleAssignments",
    tag = "RoleAssignments",
    operation_id = "ListRoleAssignment",
    params(PageParams, ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of role assignments", body = AssignmentPage))
)]
pub async fn v2_list(
    State(s): State<AppState>,
    caller: Caller,
    LinkBase(base): LinkBase,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_LIST)?;
    Ok(list(s, caller, base, q, V2_PATH).await?)
}

/// Assign a role to a user.
///
/// Permission: `twilio/iam/role-assignments/create`.
#[utoipa::path(
    post,
    path = "/v2/Organizations/RoleAssignments",
    tag = "RoleAssignments",
    operation_id = "CreateRoleAssignment",
    request_body(content = CreateBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new assignment", body = AssignmentView),
        (status = 409, description = "The user already holds this role there (code 20409)", body = ErrorBody),
    )
)]
pub async fn v2_create(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_CREATE)?;
    Ok(create(s, caller, &headers, &body).await?)
}

/// Remove a role assignment.
///
/// Permission: `twilio/iam/role-assignments/delete`.
#[utoipa::path(
    delete,
    path = "/v2/Organizations/RoleAssignments/{sid}",
    tag = "RoleAssignments",
    operation_id = "DeleteRoleAssignment",
    params(("sid" = String, Path, description = "The assignment's SID", pattern = "^IY[0-9a-f]{32}$")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such assignment in this organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn v2_delete(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_DELETE)?;
    Ok(delete(s, caller, &sid).await?)
}

/// List role assignments (the preview path; the same as the v2 one).
///
/// Permission: `twilio/iam/role-assignments/list`. PageSize: default 50, at most 100.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/RoleAssignments",
    tag = "RoleAssignments",
    operation_id = "ListPreviewRoleAssignment",
    params(OrgPath, PageParams, ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of role assignments", body = AssignmentPage),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn preview_list(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(org): PathParam<String>,
    LinkBase(base): LinkBase,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_LIST)?;
    check_path_org(&caller, &org)?;
    let path = format!("/Organizations/{org}/RoleAssignments");
    Ok(list(s, caller, base, q, &path).await?)
}

/// Assign a role to a user (the preview path).
///
/// Permission: `twilio/iam/role-assignments/create`.
#[utoipa::path(
    post,
    path = "/Organizations/{org}/RoleAssignments",
    tag = "RoleAssignments",
    operation_id = "CreatePreviewRoleAssignment",
    params(OrgPath),
    request_body(content = CreateBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new assignment", body = AssignmentView),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ErrorBody),
        (status = 409, description = "The user already holds this role there (code 20409)", body = ErrorBody),
    )
)]
pub async fn preview_create(
    State(s): State<AppState>,
    caller: Caller,
    PathParam(org): PathParam<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_CREATE)?;
    check_path_org(&caller, &org)?;
    Ok(create(s, caller, &headers, &body).await?)
}

/// Remove a role assignment (the preview path).
///
/// Permission: `twilio/iam/role-assignments/delete`.
#[utoipa::path(
    delete,
    path = "/Organizations/{org}/RoleAssignments/{sid}",
    tag = "RoleAssignments",
    operation_id = "DeletePreviewRoleAssignment",
    params(OrgPath, ("sid" = String, Path, description = "The assignment's SID", pattern = "^IY[0-9a-f]{32}$")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such assignment, or not the caller's organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn preview_delete(
    State(s): State<AppState>,
    caller: Caller,
    PathParam((org, sid)): PathParam<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_DELETE)?;
    check_path_org(&caller, &org)?;
    Ok(delete(s, caller, &sid).await?)
}
