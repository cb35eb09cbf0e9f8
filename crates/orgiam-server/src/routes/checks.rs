//! Effective permissions over HTTP: `POST /v2/Organizations/PermissionChecks`,
//! `GET /v2/Organizations/EffectivePermissions` and `GET /v2/Organizations/PermissionHolders`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use orgiam_domain::decision::{Effective, Grant, Holder};
use orgiam_domain::page::{Binding, Cursor, Direction};
use orgiam_domain::policy::Permission;
use orgiam_domain::sid::{AccountSid, OrgSid, UserSid, is_sid};
use orgiam_domain::{Error, Result};

use crate::auth::{Caller, perms};
use crate::effective::{self, Check, CheckResult, MAX_CHECKS};
use crate::error::{ApiError, json};
use crate::limits::Body;
use crate::list::{LinkBase, Links, Page, PageRequest, Params};
use crate::state::AppState;

pub const CHECKS_PATH: &str = "/v2/Organizations/PermissionChecks";
const EFFECTIVE_PATH: &str = "/v2/Organizations/EffectivePermissions";
const HOLDERS_PATH: &str = "/v2/Organizations/PermissionHolders";
const MAX_RESOURCE_LEN: usize = 256;

/// The body of a batch of checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecksRequest {
    pub checks: Vec<Check>,
    pub explain: bool,
}

/// The answer to a batch: one result per check, in request order.
#[derive(Debug, Serialize)]
pub struct ChecksResponse {
    pub results: Vec<CheckResult>,
}

fn scope_is_sid(s: &str) -> bool {
    is_sid(OrgSid::PREFIX, s) || is_sid(AccountSid::PREFIX, s)
}

fn string_field<'a>(check: &'a Value, name: &str, at: &str) -> Result<Option<&'a str>> {
    match check.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
        Some(_) => Err(Error::bad_request(format!("{at}.{name} must be a string"))),
    }
}

/// `resource_type` and `resource_id` come together, each at most 256 characters.
fn resource(
    rtype: Option<&str>,
    rid: Option<&str>,
    names: (&str, &str),
) -> Result<Option<(String, String)>> {
    for (name, v) in [(names.0, rtype), (names.1, rid)] {
        if v.is_some_and(|v| v.chars().count() > MAX_RESOURCE_LEN) {
            return Err(Error::bad_request(format!(
                "{name} must be at most {MAX_RESOURCE_LEN} characters"
            )));
        }
    }
    match (rtype, rid) {
        (Some(t), Some(i)) => Ok(Some((t.to_owned(), i.to_owned()))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::bad_request(format!(
            "{} is required with {}",
            names.1, names.0
        ))),
        (None, Some(_)) => Err(Error::bad_request(format!(
            "{} is required with {}",
            names.0, names.1
        ))),
    }
}

/// Parses a batch: at most 1,000 checks; a malformed identity, permission or scope is a 400
/// naming the check's field (`checks[3].permission`); a well-formed identity or scope that is
/// not of the organization is answered per check. Pure; no store access.
pub fn parse_checks(headers: &HeaderMap, body: &[u8]) -> Result<ChecksRequest> {
    let body = crate::input::json_object(headers, body, &[])?;
    let explain = match body.get("explain") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::bad_request("explain must be true or false")),
    };
    let Some(items) = body.get("checks").and_then(Value::as_array) else {
        return Err(Error::bad_request(
            "checks is required: an array of {identity, permission, scope}",
        ));
    };
    if items.is_empty() || items.len() > MAX_CHECKS {
        return Err(Error::bad_request(format!(
            "checks must hold 1 to {MAX_CHECKS} checks (it holds {})",
            items.len()
        )));
    }
    let mut checks = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("checks[{i}]");
        if !item.is_object() {
            return Err(Error::bad_request(format!("{at} must be an object")));
        }
        let required = |name: &str| {
            string_field(item, name, &at)?
                .ok_or_else(|| Error::bad_request(format!("{at}.{name} is required")))
        };
        let identity = UserSid::parse(required("identity")?)
            .map_err(|e| Error::bad_request(format!("{at}.identity {e}")))?;
        let permission = Permission::parse(required("permission")?)
            .map_err(|e| Error::bad_request(format!("{at}.permission: {e}")))?;
        let scope = required("scope")?;
        if !scope_is_sid(scope) {
            return Err(Error::bad_request(format!(
                "{at}.scope must be an organization (OR) or account (AC) SID"
            )));
        }
        let (rt, ri) = (format!("{at}.resource_type"), format!("{at}.resource_id"));
        let resource = resource(
            string_field(item, "resource_type", &at)?,
            string_field(item, "resource_id", &at)?,
            (&rt, &ri),
        )?;
        checks.push(Check {
            identity,
            permission,
            scope: scope.to_owned(),
            resource,
        });
    }
    Ok(ChecksRequest { checks, explain })
}

/// `POST /v2/Organizations/PermissionChecks`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    caller.require(perms::PERMISSION_CHECKS_CREATE)?;
    let request = parse_checks(&headers, &body)?;
    let results = effective::check(
        state.store.as_ref(),
        &caller.org,
        &request.checks,
        request.explain,
    )
    .await?;
    Ok(json(StatusCode::OK, &ChecksResponse { results }))
}

/// The query of a listing: a required SID-shaped parameter, and the optional resource.
fn required_param<'a>(params: &'a Params, name: &str) -> Result<&'a str> {
    params
        .non_blank(name)
        .ok_or_else(|| Error::bad_request(format!("{name} is required")))
}

fn scope_param(params: &Params) -> Result<String> {
    let scope = required_param(params, "Scope")?;
    if !scope_is_sid(scope) {
        return Err(Error::bad_request(
            "Scope must be an organization (OR) or account (AC) SID",
        ));
    }
    Ok(scope.to_owned())
}

fn resource_params(params: &Params) -> Result<Option<(String, String)>> {
    resource(
        params.non_blank("ResourceType"),
        params.non_blank("ResourceId"),
        ("ResourceType", "ResourceId"),
    )
}

/// The rows of a page of `all` (sorted by `key`, unique keys) after or before the cursor.
fn keyset<T: Clone>(
    all: &[T],
    key: impl Fn(&T) -> &str,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Vec<T> {
    match cursor {
        None => all.iter().take(limit).cloned().collect(),
        Some(c) => {
            let at = c.key.first().map(String::as_str).unwrap_or("");
            match c.direction {
                Direction::Next => {
                    let start = all.partition_point(|x| key(x) <= at);
                    all[start..].iter().take(limit).cloned().collect()
                }
                Direction::Previous => {
                    let end = all.partition_point(|x| key(x) < at);
                    all[end.saturating_sub(limit)..end].to_vec()
                }
            }
        }
    }
}

/// An effective permission as the API shows it.
#[derive(Serialize)]
pub struct EffectivePermissionView<'a> {
    pub sid: &'a str,
    pub permission: &'a str,
    pub grants: &'a [Grant],
}

/// `GET /v2/Organizations/EffectivePermissions?Identity=US...&Scope=AC...`.
pub async fn effective_permissions(
    State(state): State<AppState>,
    caller: Caller,
    LinkBase(base): LinkBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_LIST)?;
    let params = Params::parse(query.as_deref());
    let identity = UserSid::parse(required_param(&params, "Identity")?)
        .map_err(|e| Error::bad_request(format!("Identity {e}")))?;
    let scope = scope_param(&params)?;
    let resource = resource_params(&params)?;
    let canonical = serde_json::json!([identity.as_str(), scope, resource]).to_string();
    let binding = Binding {
        endpoint: "effective-permissions",
        org: caller.org.as_str(),
        filters: &canonical,
    };
    let req = PageRequest::parse(&params, 50, 1000, &state.pages, &binding)?;
    let all = effective::effective_permissions(
        state.store.as_ref(),
        &state.catalog,
        &caller.org,
        &identity,
        &scope,
        resource.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
    )
    .await?;
    let rows = keyset(
        &all,
        |e: &Effective| e.permission.permission.as_str(),
        req.cursor.as_ref(),
        req.fetch_limit() as usize,
    );
    let links = Links::echoing(
        &base,
        EFFECTIVE_PATH,
        &params,
        &["Identity", "Scope", "ResourceType", "ResourceId"],
    );
    let page = Page::build(
        &req,
        rows,
        |e: &Effective| vec![e.permission.permission.to_string()],
        "permissions",
        &links,
        &state.pages,
        &binding,
    )?;
    let views: Vec<EffectivePermissionView<'_>> = page
        .rows
        .iter()
        .map(|e| EffectivePermissionView {
            sid: e.permission.sid.as_str(),
            permission: e.permission.permission.as_str(),
            grants: &e.grants,
        })
        .collect();
    Ok(page.respond("permissions", &views)?)
}

/// A holder as the API shows it.
#[derive(Serialize)]
pub struct HolderView<'a> {
    pub identity: &'a str,
    pub grants: &'a [Grant],
}

/// `GET /v2/Organizations/PermissionHolders?Permission=/twilio/...&Scope=AC...`.
pub async fn permission_holders(
    State(state): State<AppState>,
    caller: Caller,
    LinkBase(base): LinkBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_LIST)?;
    let params = Params::parse(query.as_deref());
    let permission = Permission::parse(required_param(&params, "Permission")?)
        .map_err(|e| Error::bad_request(format!("Permission: {e}")))?;
    let scope = scope_param(&params)?;
    let resource = resource_params(&params)?;
    let canonical = serde_json::json!([permission.as_str(), scope, resource]).to_string();
    let binding = Binding {
        endpoint: "permission-holders",
        org: caller.org.as_str(),
        filters: &canonical,
    };
    let req = PageRequest::parse(&params, 50, 1000, &state.pages, &binding)?;
    let all = effective::permission_holders(
        state.store.as_ref(),
        &caller.org,
        &permission,
        &scope,
        resource.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
    )
    .await?;
    let rows = keyset(
        &all,
        |h: &Holder| h.identity.as_str(),
        req.cursor.as_ref(),
        req.fetch_limit() as usize,
    );
    let links = Links::echoing(
        &base,
        HOLDERS_PATH,
        &params,
        &["Permission", "Scope", "ResourceType", "ResourceId"],
    );
    let page = Page::build(
        &req,
        rows,
        |h: &Holder| vec![h.identity.to_string()],
        "holders",
        &links,
        &state.pages,
        &binding,
    )?;
    let views: Vec<HolderView<'_>> = page
        .rows
        .iter()
        .map(|h| HolderView {
            identity: h.identity.as_str(),
            grants: &h.grants,
        })
        .collect();
    Ok(page.respond("holders", &views)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<ChecksRequest> {
        parse_checks(&HeaderMap::new(), body.as_bytes())
    }

    fn message(r: Result<ChecksRequest>) -> String {
        match r {
            Err(e) => e.public_message(),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn bad_batches_name_the_field() {
        let user = UserSid::random();
        let scope = OrgSid::random();
        let one = |f: &str| {
            format!(
                r#"{{"checks": [{{"identity": "{user}", "permission": "/twilio/voice/calls/create", "scope": "{scope}"}}, {f}]}}"#
            )
        };
        assert!(
            message(parse(&one(&format!(
                r#"{{"identity": "US1", "permission": "/a/b/c/d", "scope": "{scope}"}}"#
            ))))
            .contains("checks[1].identity")
        );
        assert!(
            message(parse(&one(&format!(
                r#"{{"identity": "{user}", "permission": "/a/b", "scope": "{scope}"}}"#
            ))))
            .contains("checks[1].permission")
        );
        assert!(
            message(parse(&one(&format!(
                r#"{{"identity": "{user}", "permission": "/a/b/c/d", "scope": "XX"}}"#
            ))))
            .contains("checks[1].scope")
        );
        assert!(message(parse(&one(&format!(r#"{{"identity": "{user}", "permission": "/a/b/c/d", "scope": "{scope}", "resource_type": "x"}}"#)))).contains("checks[1].resource_id"));
        assert!(message(parse(&one("7"))).contains("checks[1]"));
        assert!(message(parse(r#"{"checks": []}"#)).contains("checks"));
        assert!(message(parse(r#"{"checks": [], "explain": "yes"}"#)).contains("explain"));
        assert!(message(parse("{}")).contains("checks"));
        let many: Vec<String> = (0..=MAX_CHECKS)
            .map(|_| {
                format!(r#"{{"identity": "{user}", "permission": "/a/b/c/d", "scope": "{scope}"}}"#)
            })
            .collect();
        assert!(
            message(parse(&format!(r#"{{"checks": [{}]}}"#, many.join(",")))).contains("1 to 1000")
        );
        let ok = parse(&one(&format!(
            r#"{{"identity": "{user}", "permission": "a/b/c/d", "scope": "{scope}"}}"#
        )));
        assert!(matches!(ok, Ok(r) if r.checks.len() == 2 && !r.explain));
    }

    #[test]
    fn keyset_pages_both_ways() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let cur = |d, k: &str| Cursor {
            direction: d,
            key: vec![k.to_owned()],
        };
        assert_eq!(keyset(&all, |s| s.as_str(), None, 2), ["a", "b"]);
        assert_eq!(
            keyset(&all, |s| s.as_str(), Some(&cur(Direction::Next, "b")), 3),
            ["c", "d"]
        );
        assert_eq!(
            keyset(
                &all,
                |s| s.as_str(),
                Some(&cur(Direction::Previous, "c")),
                1
            ),
            ["b"]
        );
    }
}
