//! The preview accounts directory: `/Organizations/{OrganizationSid}/Accounts`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use orgiam_domain::model::Account;
use orgiam_domain::page::Binding;
use orgiam_domain::sid::AccountSid;
use orgiam_domain::{Error, time_fmt};

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam, json};
use crate::list::{LinkBase, Links, Page, PageRequest, Params};
use crate::openapi::{ErrorBody, Meta, OrgPath, PageParams};
use crate::routes::assignments::check_path_org;
use crate::state::AppState;
use utoipa::ToSchema;

/// An account of the organization, keys as Twilio's published schema has them.
#[derive(Serialize, ToSchema)]
#[schema(as = Account)]
struct AccountView<'a> {
    #[schema(pattern = "^AC[0-9a-f]{32}$")]
    account_sid: &'a str,
    friendly_name: &'a str,
    /// `active`, `suspended` or `closed`.
    status: &'a str,
    /// The user who owns the account, if any.
    #[schema(required = true)]
    owner_sid: Option<&'a str>,
    #[schema(format = DateTime)]
    date_created: String,
}

/// A page of accounts.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AccountPage {
    content: Vec<AccountView<'static>>,
    meta: Meta,
}

/// The account as the API shows it.
pub fn account_json(a: &Account) -> serde_json::Value {
    serde_json::to_value(view(a)).unwrap_or(serde_json::Value::Null)
}

fn view(a: &Account) -> AccountView<'_> {
    AccountView {
        account_sid: a.sid.as_str(),
        friendly_name: &a.friendly_name,
        status: &a.status,
        owner_sid: a.owner.as_ref().map(|o| o.as_str()),
        date_created: time_fmt::format(a.date_created),
    }
}

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
    let binding = Binding {
        endpoint: "accounts",
        org: caller.org.as_str(),
        filters: "",
    };
    let req = PageRequest::parse(&params, 50, 100, &state.pages, &binding)?;
    let rows = state
        .store
        .list_accounts(&caller.org, req.cursor.as_ref(), req.fetch_limit())
        .await?;
    let path = format!("/Organizations/{org}/Accounts");
    let links = Links::echoing(&base, &path, &params, &[]);
    let page = Page::build(
        &req,
        rows,
        |a: &Account| vec![a.sid.to_string()],
        "content",
        &links,
        &state.pages,
        &binding,
    )?;
    let views: Vec<AccountView<'_>> = page.rows.iter().map(view).collect();
    Ok(page.respond("content", &views)?)
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
