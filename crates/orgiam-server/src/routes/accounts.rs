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
use crate::routes::assignments::check_path_org;
use crate::state::AppState;

/// The account object, keys as Twilio's published schema has them.
#[derive(Serialize)]
struct AccountView<'a> {
    account_sid: &'a str,
    friendly_name: &'a str,
    status: &'a str,
    owner_sid: Option<&'a str>,
    date_created: String,
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

/// `GET /Organizations/{OrganizationSid}/Accounts`.
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

/// `GET /Organizations/{OrganizationSid}/Accounts/{AccountSid}`.
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
