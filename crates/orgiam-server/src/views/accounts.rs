//! The account as the API shows it.

use serde::Serialize;
use utoipa::ToSchema;

use orgiam_domain::model::Account;
use orgiam_domain::rendered::AccountColumns;
use orgiam_domain::time_fmt;
use orgiam_domain::{Error, Result};

/// An account of the organization, keys as Twilio's published schema has them.
#[derive(Serialize, ToSchema)]
#[schema(as = Account)]
pub(crate) struct AccountView<'a> {
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

/// The account as the API shows it.
pub fn account_json(a: &Account) -> serde_json::Value {
    serde_json::to_value(view(a)).unwrap_or(serde_json::Value::Null)
}

/// Writes the account's JSON from its columns (a listing renders its rows so).
pub(crate) fn render(a: &AccountColumns<'_>, out: &mut Vec<u8>) -> Result<()> {
    let view = AccountView {
        account_sid: a.sid,
        friendly_name: a.friendly_name,
        status: a.status,
        owner_sid: a.owner,
        date_created: time_fmt::format(a.date_created),
    };
    serde_json::to_writer(out, &view).map_err(Error::internal)
}

pub(crate) fn view(a: &Account) -> AccountView<'_> {
    AccountView {
        account_sid: a.sid.as_str(),
        friendly_name: &a.friendly_name,
        status: &a.status,
        owner_sid: a.owner.as_ref().map(|o| o.as_str()),
        date_created: time_fmt::format(a.date_created),
    }
}
