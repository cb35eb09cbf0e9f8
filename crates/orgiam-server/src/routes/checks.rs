//! Effective permissions over HTTP: `POST /v2/Organizations/PermissionChecks`,
//! `GET /v2/Organizations/EffectivePermissions` and `GET /v2/Organizations/PermissionHolders`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use orgiam_domain::decision::{Effective, Grant, Holder};
use orgiam_domain::keyset::{BySid, ByText};
use orgiam_domain::policy::Permission;
use orgiam_domain::sid::{AccountSid, OrgSid, UserSid, is_sid};
use orgiam_domain::{Error, Result};

use crate::auth::{Caller, perms};
use crate::effective::{self, Check, CheckResult, MAX_CHECKS};
use crate::error::{ApiError, json};
use crate::limits::Body;
use crate::list::{LinkBase, Listing, Params, keyset};
use crate::openapi::{ErrorBody, Meta, PageParams};
use crate::state::AppState;
use utoipa::{IntoParams, ToSchema};

pub const CHECKS_PATH: &str = "/v2/Organizations/PermissionChecks";
const EFFECTIVE_PATH: &str = "/v2/Organizations/EffectivePermissions";
const HOLDERS_PATH: &str = "/v2/Organizations/PermissionHolders";
const MAX_RESOURCE_LEN: usize = 256;

const EFFECTIVE: Listing = Listing {
    endpoint: "effective-permissions",
    key: "permissions",
    default_size: 50,
    max_size: 1000,
    echo: &["Identity", "Scope", "ResourceType", "ResourceId"],
};

const HOLDERS: Listing = Listing {
    endpoint: "permission-holders",
    key: "holders",
    default_size: 50,
    max_size: 1000,
    echo: &["Permission", "Scope", "ResourceType", "ResourceId"],
};

/// The body of a batch of checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecksRequest {
    pub checks: Vec<Check>,
    pub explain: bool,
}

/// The answer to a batch: one result per check, in request order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PermissionCheckResults)]
pub struct ChecksResponse {
    #[schema(value_type = Vec<CheckResultDoc>)]
    pub results: Vec<CheckResult>,
}

/// The body of `POST /v2/Organizations/PermissionChecks` (JSON).
#[derive(ToSchema)]
#[schema(as = PermissionChecksCreate)]
#[allow(dead_code)]
struct ChecksBody {
    /// 1 to 1,000 questions, answered in this order.
    #[schema(min_items = 1, max_items = 1000)]
    checks: Vec<CheckBody>,
    /// With `true`, each result also names its grants, its denials and the nearest grant.
    explain: Option<bool>,
}

/// One question: may this user use this permission at this scope (on this resource)?
#[derive(ToSchema)]
#[schema(as = PermissionCheck)]
#[allow(dead_code)]
struct CheckBody {
    /// A user SID (one of another organization, or none, is answered `unknown_identity`).
    #[schema(pattern = "^US[0-9a-f]{32}$")]
    identity: String,
    /// `/namespace/product/resource/action` (the leading slash is optional).
    #[schema(pattern = "^/?[a-z0-9._-]+/[a-z0-9._-]+/[a-z0-9._-]+/[a-z0-9._-]+$")]
    permission: String,
    /// An organization or account SID (one outside the organization is answered
    /// `scope_outside_organization`).
    #[schema(pattern = "^(OR|AC)[0-9a-f]{32}$")]
    scope: String,
    /// With `resource_id`.
    #[schema(max_length = 256)]
    resource_type: Option<String>,
    /// With `resource_type`.
    #[schema(max_length = 256)]
    resource_id: Option<String>,
}

/// Why a check came out as it did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PermissionCheckReason)]
#[allow(dead_code)]
enum ReasonDoc {
    Granted,
    NoAssignment,
    DeniedByRole,
    InactiveUser,
    UnknownIdentity,
    ScopeOutsideOrganization,
}

/// One answer. `grants`, `denials` and `nearest_grant` are there only with `explain`.
#[derive(ToSchema)]
#[schema(as = PermissionCheckResult)]
#[allow(dead_code)]
pub struct CheckResultDoc {
    allowed: bool,
    reason: ReasonDoc,
    /// The assignments that allow it, each with the allow pattern that matched.
    #[schema(required = false)]
    grants: Vec<GrantDoc>,
    /// The assignments whose role would allow it but whose deny pattern removes it.
    #[schema(required = false)]
    denials: Vec<DenialDoc>,
    /// An assignment at another scope or for another resource that would allow it (`null`:
    /// none).
    #[schema(required = false)]
    nearest_grant: Option<NearestGrantDoc>,
}

/// An assignment that allows the permission, and the allow pattern that matched.
#[derive(ToSchema)]
#[schema(as = PermissionGrant)]
#[allow(dead_code)]
pub struct GrantDoc {
    #[schema(pattern = "^IY[0-9a-f]{32}$")]
    assignment_sid: String,
    #[schema(pattern = "^IX[0-9a-f]{32}$")]
    role_sid: String,
    #[schema(pattern = "^(OR|AC)[0-9a-f]{32}$")]
    scope: String,
    pattern: String,
}

/// An assignment whose role would grant the permission but whose deny pattern removes it.
#[derive(ToSchema)]
#[schema(as = PermissionDenial)]
#[allow(dead_code)]
struct DenialDoc {
    #[schema(pattern = "^IY[0-9a-f]{32}$")]
    assignment_sid: String,
    #[schema(pattern = "^IX[0-9a-f]{32}$")]
    role_sid: String,
    /// The deny pattern that removes it.
    pattern: String,
}

/// An assignment of the user elsewhere whose role would grant the permission.
#[derive(ToSchema)]
#[schema(as = PermissionNearestGrant)]
#[allow(dead_code)]
struct NearestGrantDoc {
    #[schema(pattern = "^IY[0-9a-f]{32}$")]
    assignment_sid: String,
    #[schema(pattern = "^IX[0-9a-f]{32}$")]
    role_sid: String,
    #[schema(pattern = "^(OR|AC)[0-9a-f]{32}$")]
    scope: String,
    #[schema(required = true)]
    resource_type: Option<String>,
    #[schema(required = true)]
    resource_id: Option<String>,
    pattern: String,
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

/// The common shape of a batch, borrowed from the body without building a JSON tree: known
/// fields only, strings without escapes. Anything else is left to [`parse_checks`]' full
/// reading, which names what is wrong.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainBatch<'a> {
    #[serde(borrow)]
    checks: Vec<PlainCheck<'a>>,
    explain: Option<bool>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainCheck<'a> {
    identity: &'a str,
    permission: &'a str,
    scope: &'a str,
    resource_type: Option<&'a str>,
    resource_id: Option<&'a str>,
}

/// A batch read the quick way, when it is a plain, valid one: `None` whenever the full
/// reading might answer anything else (then it runs, and gives the same checks or the error).
fn plain_checks(headers: &HeaderMap, body: &[u8]) -> Option<ChecksRequest> {
    if let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE) {
        let ct = ct.to_str().ok()?.to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.contains("+json")) {
            return None;
        }
    }
    let batch: PlainBatch = serde_json::from_slice(body).ok()?;
    if batch.checks.is_empty() || batch.checks.len() > MAX_CHECKS {
        return None;
    }
    let line = |v: &str| orgiam_domain::text::check("", v).is_ok();
    let mut checks = Vec::with_capacity(batch.checks.len());
    for c in batch.checks {
        let rtype = c.resource_type.filter(|v| !v.is_empty());
        let rid = c.resource_id.filter(|v| !v.is_empty());
        let texts = [
            Some(c.identity),
            Some(c.permission),
            Some(c.scope),
            rtype,
            rid,
        ];
        if !texts.into_iter().flatten().all(line) || !scope_is_sid(c.scope) {
            return None;
        }
        let resource = match (rtype, rid) {
            (Some(t), Some(i))
                if t.chars().count() <= MAX_RESOURCE_LEN
                    && i.chars().count() <= MAX_RESOURCE_LEN =>
            {
                Some((t.to_owned(), i.to_owned()))
            }
            (None, None) => None,
            _ => return None,
        };
        checks.push(Check {
            identity: UserSid::parse(c.identity).ok()?,
            permission: Permission::parse(c.permission).ok()?,
            scope: c.scope.to_owned(),
            resource,
        });
    }
    Some(ChecksRequest {
        checks,
        explain: batch.explain.unwrap_or(false),
    })
}

/// Parses a batch: at most 1,000 checks; a malformed identity, permission or scope is a 400
/// naming the check's field (`checks[3].permission`); a well-formed identity or scope that is
/// not of the organization is answered per check. Pure; no store access.
pub fn parse_checks(headers: &HeaderMap, body: &[u8]) -> Result<ChecksRequest> {
    match plain_checks(headers, body) {
        Some(plain) => Ok(plain),
        None => read_checks(headers, body),
    }
}

/// [`parse_checks`]' full reading: a JSON tree, every string checked, every field named.
fn read_checks(headers: &HeaderMap, body: &[u8]) -> Result<ChecksRequest> {
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

/// Check permissions: may these users do these things there?
///
/// Permission: `twilio/iam/permission-checks/create`. One result per check, in request order.
/// The body may be up to 1 MiB (or `max_body_bytes`, if larger).
#[utoipa::path(
    post,
    path = "/v2/Organizations/PermissionChecks",
    tag = "EffectivePermissions",
    operation_id = "CreatePermissionCheck",
    request_body(content = ChecksBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per check, in request order", body = ChecksResponse),
        (status = 413, description = "A body beyond 1 MiB (or `max_body_bytes`, if larger) (code 20001)", body = ErrorBody),
    )
)]
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
        Some(&state.decisions),
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

/// An effective permission as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = EffectivePermission)]
pub struct EffectivePermissionView<'a> {
    /// The catalog permission's SID.
    #[schema(pattern = "^IZ[0-9a-f]{32}$")]
    pub sid: &'a str,
    pub permission: &'a str,
    /// The assignments that grant it.
    #[schema(value_type = Vec<GrantDoc>)]
    pub grants: &'a [Grant],
}

/// A page of effective permissions.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EffectivePermissionPage {
    permissions: Vec<EffectivePermissionView<'static>>,
    meta: Meta,
}

/// The optional resource of a listing: both or neither.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ResourceParams {
    /// With `ResourceId`: only what applies to this resource.
    #[param(rename = "ResourceType", max_length = 256)]
    resource_type: Option<String>,
    /// With `ResourceType`.
    #[param(rename = "ResourceId", max_length = 256)]
    resource_id: Option<String>,
}

/// The question of an effective-permissions listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EffectiveParams {
    /// The user.
    #[param(rename = "Identity", pattern = r"^\s*US[0-9a-f]{32}\s*$")]
    identity: String,
    /// The organization or one of its accounts.
    #[param(rename = "Scope", pattern = r"^\s*(OR|AC)[0-9a-f]{32}\s*$")]
    scope: String,
}

/// The question of a permission-holders listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HoldersParams {
    /// `/namespace/product/resource/action` (the leading slash is optional).
    #[param(
        rename = "Permission",
        pattern = r"^\s*/?[a-z0-9._-]+/[a-z0-9._-]+/[a-z0-9._-]+/[a-z0-9._-]+\s*$"
    )]
    permission: String,
    /// The organization or one of its accounts.
    #[param(rename = "Scope", pattern = r"^\s*(OR|AC)[0-9a-f]{32}\s*$")]
    scope: String,
}

/// List what a user may do at a scope, with the assignments that grant each permission.
///
/// Permission: `twilio/iam/role-assignments/list`. PageSize: default 50, at most 1000. An
/// inactive user, or one not of the organization, has none.
#[utoipa::path(
    get,
    path = "/v2/Organizations/EffectivePermissions",
    tag = "EffectivePermissions",
    operation_id = "ListEffectivePermission",
    params(EffectiveParams, ResourceParams, PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of effective permissions", body = EffectivePermissionPage))
)]
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
    let bound = EFFECTIVE.bind(&state.pages, caller.org.as_str(), &params, &canonical)?;
    let all = effective::effective_permissions(
        state.store.as_ref(),
        Some(&state.decisions),
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
        bound.cursor(),
        bound.fetch_limit() as usize,
    );
    let key_of = |e: &Effective| ByText(e.permission.permission.to_string());
    let page = bound.page(rows, &base, EFFECTIVE_PATH, key_of)?;
    let views: Vec<_> = page
        .rows
        .iter()
        .map(|e| EffectivePermissionView {
            sid: e.permission.sid.as_str(),
            permission: e.permission.permission.as_str(),
            grants: &e.grants,
        })
        .collect();
    Ok(bound.respond(&page, &views)?)
}

/// A holder as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = PermissionHolder)]
pub struct HolderView<'a> {
    /// An active user of the organization.
    #[schema(pattern = "^US[0-9a-f]{32}$")]
    pub identity: &'a str,
    /// The assignments that grant it.
    #[schema(value_type = Vec<GrantDoc>)]
    pub grants: &'a [Grant],
}

/// A page of permission holders.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PermissionHolderPage {
    holders: Vec<HolderView<'static>>,
    meta: Meta,
}

/// List who may use a permission at a scope, with the assignments that grant it.
///
/// Permission: `twilio/iam/role-assignments/list`. PageSize: default 50, at most 1000. Active
/// users only, by SID.
#[utoipa::path(
    get,
    path = "/v2/Organizations/PermissionHolders",
    tag = "EffectivePermissions",
    operation_id = "ListPermissionHolder",
    params(HoldersParams, ResourceParams, PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of permission holders", body = PermissionHolderPage))
)]
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
    let bound = HOLDERS.bind(&state.pages, caller.org.as_str(), &params, &canonical)?;
    let all = effective::permission_holders(
        state.store.as_ref(),
        Some(&state.decisions),
        &caller.org,
        &permission,
        &scope,
        resource.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
    )
    .await?;
    let rows = keyset(
        &all,
        |h: &Holder| h.identity.as_str(),
        bound.cursor(),
        bound.fetch_limit() as usize,
    );
    let key_of = |h: &Holder| BySid(h.identity.to_string());
    let page = bound.page(rows, &base, HOLDERS_PATH, key_of)?;
    let views: Vec<_> = page
        .rows
        .iter()
        .map(|h| HolderView {
            identity: h.identity.as_str(),
            grants: &h.grants,
        })
        .collect();
    Ok(bound.respond(&page, &views)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orgiam_domain::page::{Cursor, Direction};

    fn parse(body: &str) -> Result<ChecksRequest> {
        parse_checks(&HeaderMap::new(), body.as_bytes())
    }

    proptest::proptest! {
            /// The quick reading of a batch accepts only what the full one accepts, as the same
            /// checks: bodies of valid and invalid identities, permissions, scopes and resources,
            /// padded, escaped, with control characters, unknown fields and repeated keys.
            #[test]
            fn the_quick_reading_agrees_with_the_full_one(
                items in proptest::collection::vec(
    (0..10usize, 0..12usize, 0..10usize, 0..7usize, 0..7usize, 0..8usize),
                    0..4,
                ),
                explain in 0..4usize,
            ) {
                let user = "US0123456789abcdef0123456789abcdef";
                let org = "OR0123456789abcdef0123456789abcdef";
                // Half the draws are the valid value, so that many batches are wholly valid.
                let pick = |i: usize, from: &[&str]| from.get(i).unwrap_or(&from[0]).to_string();
                let checks: Vec<String> = items
                    .iter()
                    .map(|&(i, p, sc, rt, ri, extra)| {
                        let mut fields = vec![
                            format!(r#""identity": "{}""#, pick(i, &[user, "US1", "", " US0123456789abcdef0123456789abcdef", "US0123456789abcdef0123456789abcde\\u0066"])),
                            format!(r#""permission": "{}""#, pick(p, &["/twilio/voice/calls/create", "twilio/voice/calls/create", "/a/b", "\\t/twilio/voice/calls/create", " /twilio/voice/calls/create ", "/twilio/voice/calls/cr\\u0000eate"])),
                            format!(r#""scope": "{}""#, pick(sc, &[org, "AC0123456789abcdef0123456789abcdef", "XX", "", "or0123456789abcdef0123456789abcdef"])),
                        ];
                        let long = "x".repeat(257);
                        let rts = ["", "tickets", "tick\\u0007ets", long.as_str(), "t"];
                        match rt {
                            0 => {}
                            6 => fields.push(r#""resource_type": null"#.into()),
                            n => fields.push(format!(r#""resource_type": "{}""#, rts[n - 1])),
                        }
                        match ri {
                            0 => {}
                            6 => fields.push(r#""resource_id": 7"#.into()),
                            n => fields.push(format!(r#""resource_id": "{}""#, rts[n - 1])),
                        }
                        match extra {
                            1 => fields.push(r#""note": "x""#.into()),
                            2 => fields.push(format!(r#""identity": "{user}""#)),
                            3 => fields.push(r#""sco\\u0001pe": "x""#.into()),
                            _ => {}
                        }
                        format!("{{{}}}", fields.join(", "))
                    })
                    .collect();
                let explain = ["", r#", "explain": true"#, r#", "explain": null"#, r#", "explain": "yes""#][explain];
                let body = format!(r#"{{"checks": [{}]{explain}}}"#, checks.join(", "));
                let headers = HeaderMap::new();
                if let Some(quick) = plain_checks(&headers, body.as_bytes()) {
                    proptest::prop_assert_eq!(Ok(quick), read_checks(&headers, body.as_bytes()).map_err(|e| e.public_message()), "{}", body);
                }
            }
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
