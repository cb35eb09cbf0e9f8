//! `GET /v1/Roles/{RoleSid}/Permissions`: the catalog permissions a role grants.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;

use orgiam_domain::Error;
use orgiam_domain::keyset::ByText;
use orgiam_domain::model::CatalogPermission;
use orgiam_domain::sid::RoleSid;

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam};
use crate::list::{LinkBase, Listing, Params, keyset};
use crate::openapi::{ErrorBody, Meta, PageParams};
use crate::routes::roles::role_permissions;
use crate::state::AppState;
use utoipa::ToSchema;

/// A catalog permission (Twilio's v1 shape: camelCase keys).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Permission)]
struct PermissionView<'a> {
    #[schema(pattern = "^IZ[0-9a-f]{32}$")]
    sid: &'a str,
    namespace: &'a str,
    product: &'a str,
    resource: &'a str,
    action: &'a str,
    external_description: &'a str,
}

fn view(p: &CatalogPermission) -> PermissionView<'_> {
    let [namespace, product, resource, action] = p.permission.parts();
    PermissionView {
        sid: p.sid.as_str(),
        namespace,
        product,
        resource,
        action,
        external_description: &p.description,
    }
}

/// A page of a role's permissions.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PermissionPage {
    permissions: Vec<PermissionView<'static>>,
    meta: Meta,
}

const LISTING: Listing = Listing {
    endpoint: "role-permissions",
    key: "permissions",
    default_size: 50,
    max_size: 100,
    echo: &[],
};

/// List the catalog permissions a role grants, by permission string.
///
/// Permission: `twilio/iam/role-assignments/list`. PageSize: default 50, at most 100.
#[utoipa::path(
    get,
    path = "/v1/Roles/{sid}/Permissions",
    tag = "Roles",
    operation_id = "ListRolePermission",
    params(
        ("sid" = String, Path, description = "The role's SID", pattern = "^IX[0-9a-f]{32}$"),
        PageParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of permissions", body = PermissionPage),
        (status = 404, description = "No such role in this organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
    LinkBase(base): LinkBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_LIST)?;
    let sid = RoleSid::parse(&sid).map_err(|e| Error::bad_request(format!("RoleSid {e}")))?;
    let role = state
        .store
        .role(&caller.org, &sid)
        .await?
        .ok_or_else(|| Error::not_found(format!("Role {sid} was not found")))?;
    let params = Params::parse(query.as_deref());
    let bound = LISTING.bind(&state.pages, caller.org.as_str(), &params, sid.as_str())?;
    // The expansion is sorted by permission string: a keyset over it is a binary search.
    let all = role_permissions(&state, &role).await?;
    let rows = keyset(
        &all.permissions,
        |p: &CatalogPermission| p.permission.as_str(),
        bound.cursor(),
        bound.fetch_limit() as usize,
    );
    let path = format!("/v1/Roles/{sid}/Permissions");
    let key_of = |p: &CatalogPermission| ByText(p.permission.to_string());
    let page = bound.page(rows, &base, &path, key_of)?;
    let views: Vec<_> = page.rows.iter().map(view).collect();
    Ok(bound.respond(&page, &views)?)
}
