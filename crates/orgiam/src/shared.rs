//! What the command modules share: exit statuses and failures, the text rule on arguments,
//! the objects as JSON, and printing a result as JSON or as text.

use std::sync::Arc;

use serde_json::{Value, json};

use orgiam_domain::model::{App, Org, User};
use orgiam_domain::policy::Pattern;
use orgiam_domain::sid::OrgSid;
use orgiam_domain::{Error, time_fmt};
use orgiam_store::{DatabaseUrl, Directory, OpenMode};

/// Exit status of a failure that is none of the below.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status when the object asked for does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit status when the object to create exists already.
pub const EXIT_EXISTS: u8 = 4;

/// A command's failure: the message and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            code: EXIT_FAILURE,
            message,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::NotFound(_) => EXIT_NOT_FOUND,
            Error::Conflict(_) => EXIT_EXISTS,
            _ => EXIT_FAILURE,
        };
        let message = match e {
            Error::Internal(cause) | Error::Unavailable(cause) => cause,
            other => other.to_string(),
        };
        Self { code, message }
    }
}

pub(crate) fn not_found(message: String) -> Failure {
    Failure {
        code: EXIT_NOT_FOUND,
        message,
    }
}

/// The text rule (`orgiam_domain::text`) on a command-line value that reaches the store.
pub(crate) fn text_arg(flag: &str, value: &str) -> Result<(), String> {
    orgiam_domain::text::check(flag, value).map_err(fail)
}

/// The `--audience` values: each under the text rule and the audience rule, no more than
/// `MAX_APP_AUDIENCES`, duplicates dropped.
pub(crate) fn audience_args(values: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        text_arg("--audience", v)?;
        orgiam_domain::model::check_audience(v).map_err(|e| format!("--audience: {e}"))?;
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    if out.len() > orgiam_domain::model::MAX_APP_AUDIENCES {
        return Err(format!(
            "--audience: at most {} audiences per app",
            orgiam_domain::model::MAX_APP_AUDIENCES
        ));
    }
    Ok(out)
}

/// A store error as a command's message (an internal one by its cause alone).
pub(crate) fn fail(e: Error) -> String {
    match e {
        Error::Internal(cause) | Error::Unavailable(cause) => cause,
        other => other.to_string(),
    }
}

pub(crate) fn parse_patterns(flag: &str, values: &[String]) -> Result<Vec<Pattern>, String> {
    let patterns = values
        .iter()
        .map(|v| Pattern::parse(v).map_err(|e| format!("--{flag}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    crate::validate::in_catalog(flag, &patterns)?;
    Ok(patterns)
}

/// Opens an existing store with this binary's schema (nothing is created or migrated).
pub async fn open(url: &DatabaseUrl) -> Result<Arc<dyn Directory>, Failure> {
    Ok(orgiam_store::open(url, OpenMode::Existing).await?)
}

/// Parses `--org` and checks the organization exists in the store.
pub(crate) async fn existing_org(
    store: &dyn Directory,
    url: &DatabaseUrl,
    raw: &str,
) -> Result<OrgSid, Failure> {
    let org = OrgSid::parse(raw).map_err(|e| format!("--org {e}"))?;
    if store.org(&org).await?.is_none() {
        return Err(not_found(format!(
            "organization {org} does not exist in the store {url}"
        )));
    }
    Ok(org)
}

/// A result: its JSON with `--json`, else its text.
pub(crate) fn print(json: bool, value: Value, human: String) {
    if json {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

/// The organization object.
pub fn org_json(o: &Org) -> Value {
    json!({
        "sid": o.sid.as_str(),
        "friendly_name": o.friendly_name,
        "date_created": time_fmt::format(o.date_created),
    })
}

/// The app object: `sid` and, the same value under its OAuth name, `client_id`; never secrets.
pub fn app_json(a: &App) -> Value {
    json!({
        "sid": a.sid.as_str(),
        "client_id": a.sid.as_str(),
        "organization_sid": a.org.as_str(),
        "friendly_name": a.friendly_name,
        "description": a.description,
        "status": a.status.as_str(),
        "policy": a.policy,
        "access_token_ttl": a.access_token_ttl,
        "audiences": a.audiences,
        "date_created": time_fmt::format(a.date_created),
        "date_updated": time_fmt::format(a.date_updated),
    })
}

/// The user object.
pub fn user_json(u: &User) -> Value {
    json!({
        "sid": u.sid.as_str(),
        "organization_sid": u.org.as_str(),
        "email": u.email,
        "friendly_name": u.friendly_name,
        "date_created": time_fmt::format(u.date_created),
    })
}
