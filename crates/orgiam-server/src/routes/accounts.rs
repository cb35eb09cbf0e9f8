//! The preview accounts directory: `/Organizations/{OrganizationSid}/Accounts`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use orgiam_domain::Error;
use orgiam_domain::sid::AccountSid;

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam, json};
use crate::list::{LinkBase, Listing, Params};
use crate::openapi::{ErrorBody, Meta, OrgPath, PageParams};
use crate::routes::assignments::check_path_org;
use crate::state::AppState;
pub use crate::views::accounts::account_json;
use crate::views::accounts::{AccountView, render, view};
use utoipa::ToSchema;

/// A page of accounts.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AccountPage {
    content: Vec<AccountView<'static>>,
    meta: Meta,
}

const LISTING: Listing = Listing {
    endpoint: "accounts",
    key: "content",
    default_size: 50,
    max_size: 100,
    echo: &[],
};

/// List the organization's accounts.
///
/// Permission: `twilio/iam/accounts/list`. PageSize: default 50, at most 100.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/Accounts",
    tag = "Accounts",
    operation_id = "ListAccount",
    params(OrgPath, PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of accounts", body = AccountPage),
        (status = 404, description = "Not the caller's organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(org): PathParam<String>,
    LinkBase(base): LinkBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ACCOUNTS_LIST)?;
    check_path_org(&caller, &org)?;
    let params = Params::parse(query.as_deref());
    let bound = LISTING.bind(&state.pages, caller.org.as_str(), &params, "")?;
    let (cursor, limit) = (bound.cursor(), bound.fetch_limit());
    let rows = state
        .store
        .render_accounts(&caller.org, cursor, limit, render)
        .await?;
    let path = format!("/Organizations/{org}/Accounts");
    Ok(bound.respond_rendered(rows, &base, &path)?)
}

/// Fetch an account.
///
/// Permission: `twilio/iam/accounts/list`.
#[utoipa::path(
    get,
    path = "/Organizations/{org}/Accounts/{sid}",
    tag = "Accounts",
    operation_id = "FetchAccount",
    params(
        OrgPath,
        ("sid" = String, Path, description = "The account's SID", pattern = "^AC[0-9a-f]{32}$"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 404, description = "No such account, or not the caller's organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathParam((org, sid)): PathParam<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(perms::ACCOUNTS_LIST)?;
    check_path_org(&caller, &org)?;
    let sid = AccountSid::parse(&sid).map_err(|e| Error::bad_request(format!("AccountSid {e}")))?;
    let account = state
        .store
        .account(&caller.org, &sid)
        .await?
        .ok_or_else(|| Error::not_found(format!("Account {sid} was not found")))?;
    Ok(json(StatusCode::OK, &view(&account)))
}
