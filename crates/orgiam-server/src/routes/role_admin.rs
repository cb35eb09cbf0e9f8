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
use crate::routes::roles::role_json;
use crate::state::AppState;

/// The free-text fields of a role body.
const FREE: &[&str] = &["external_description"];

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

/// `POST /v2/Organizations/Roles`.
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

/// `POST` or `PATCH /v2/Organizations/Roles/{RoleSid}`.
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

/// `DELETE /v2/Organizations/Roles/{RoleSid}`.
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
