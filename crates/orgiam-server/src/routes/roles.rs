//! The Role API: `GET /v2/Organizations/Roles` and `GET /v2/Organizations/Roles/{RoleSid}`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use orgiam_domain::Error;
use orgiam_domain::model::{Role, RoleFilter};
use orgiam_domain::policy::Policy;
use orgiam_domain::role_json;
use orgiam_domain::sid::RoleSid;

use crate::auth::{Caller, perms};
use crate::error::{ApiError, PathParam, json_bytes};
use crate::list::{LinkBase, Listing, Params};
use crate::openapi::{ErrorBody, Meta, PageParams};
use crate::state::AppState;
pub use crate::views::roles::role_json;
use crate::views::roles::{Expansion, RoleView, with_permissions};
use utoipa::{IntoParams, ToSchema};

const PATH: &str = "/v2/Organizations/Roles";
const MAX_SEARCH_LEN: usize = 256;

const LISTING: Listing = Listing {
    endpoint: "roles",
    key: "roles",
    default_size: 50,
    max_size: 1000,
    echo: &["Search", "RoleProductGroup", "ResourceTypes", "Expand"],
};

/// A page of roles.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RolePage {
    roles: Vec<RoleView<'static>>,
    meta: Meta,
}

/// The filters of a role listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RoleListParams {
    /// Case-insensitive text in the role's name or description.
    #[param(rename = "Search", max_length = 256)]
    search: Option<String>,
    /// Only roles of this product group, e.g. `twilio-iam`.
    #[param(rename = "RoleProductGroup")]
    role_product_group: Option<String>,
    /// Comma-separated resource types; only roles with one of them.
    #[param(rename = "ResourceTypes")]
    resource_types: Option<String>,
    /// `true`: each role carries the catalog permissions it grants.
    #[param(rename = "Expand")]
    expand: Option<bool>,
}

/// `Expand` on a role fetch.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExpandParam {
    /// `true`: the role carries the catalog permissions it grants.
    #[param(rename = "Expand")]
    expand: Option<bool>,
}

/// Custom roles with more patterns than this are expanded on the blocking pool, not on an
/// async worker (a few microseconds below it).
const INLINE_EXPANSION_PATTERNS: usize = 32;

/// The permissions a role grants: precomputed for built-in roles; for custom ones computed
/// once per roles revision (linear in the policy, see `Catalog::expand`) and cached, large
/// policies off the async workers. `json` is the role's JSON as stored (its policy is read
/// from it when `policy` is not given); an entry serves only a role with the same JSON.
pub async fn expansion(
    state: &AppState,
    sid: &RoleSid,
    json: &[u8],
    policy: Option<&Policy>,
) -> Result<Arc<Expansion>, Error> {
    // Built-in roles' SIDs are derived from their keys, custom ones random: never the same.
    if let Some(p) = state.builtin_permissions.get(sid) {
        return Ok(p.clone());
    }
    let cached = state
        .custom_permissions
        .get(sid)
        .filter(|(stored, _)| **stored == *json);
    crate::telemetry::cache_lookup(crate::telemetry::Cache::RoleExpansions, cached.is_some());
    if let Some((_, p)) = cached {
        return Ok(p);
    }
    let policy = match policy {
        Some(p) => p.clone(),
        None => role_json::policy_in(json)
            .ok_or_else(|| Error::internal(format!("role {sid}: its stored JSON has no policy")))?,
    };
    let size = policy.allow.len() + policy.deny.as_ref().map_or(0, Vec::len);
    let expanded = if size <= INLINE_EXPANSION_PATTERNS {
        Expansion::new(state.catalog.expand(&policy))
    } else {
        let state = state.clone();
        tokio::task::spawn_blocking(move || Expansion::new(state.catalog.expand(&policy)))
            .await
            .map_err(Error::internal)?
    };
    let expanded = Arc::new(expanded);
    state
        .custom_permissions
        .insert(sid.clone(), (Arc::from(json), expanded.clone()));
    Ok(expanded)
}

/// [`expansion`] of a role read whole.
pub async fn role_permissions(state: &AppState, role: &Role) -> Result<Arc<Expansion>, Error> {
    expansion(
        state,
        &role.sid,
        role.to_json().as_bytes(),
        Some(&role.policy),
    )
    .await
}

/// The parsed filters of a role listing, with their canonical form for page-token binding.
/// Pure parsing; fuzzed.
pub fn filter(params: &Params) -> Result<(RoleFilter, String), Error> {
    let search = params
        .get("Search")
        .and_then(orgiam_domain::model::Search::new);
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH_LEN)
    {
        return Err(Error::bad_request(format!(
            "Search must be at most {MAX_SEARCH_LEN} characters"
        )));
    }
    let product_group = params.non_blank("RoleProductGroup").map(str::to_owned);
    let mut types: Vec<String> = params
        .get("ResourceTypes")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    types.sort();
    types.dedup();
    let resource_types = (!types.is_empty()).then_some(types);
    let canonical = serde_json::json!([search, product_group, resource_types]).to_string();
    Ok((
        RoleFilter {
            search,
            product_group,
            resource_types,
        },
        canonical,
    ))
}

/// The role page cache's key: `revision \n org \n base \n query`, built without the
/// formatting machinery (this runs on every listing).
fn page_cache_key(revision: i64, org: &str, base: &str, query: &str) -> String {
    let revision = revision.to_le_bytes().map(|b| b as char);
    let mut key = String::with_capacity(16 + org.len() + base.len() + query.len() + 3);
    key.extend(revision);
    for part in [org, base, query] {
        key.push('\n');
        key.push_str(part);
    }
    key
}

/// List roles, by name.
///
/// Permission: `twilio/iam/role-assignments/list`. PageSize: default 50, at most 1000.
#[utoipa::path(
    get,
    path = "/v2/Organizations/Roles",
    tag = "Roles",
    operation_id = "ListRole",
    params(PageParams, RoleListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of roles", body = RolePage))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    LinkBase(base): LinkBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_LIST)?;
    let cache_key = page_cache_key(
        state.roles_revision(),
        caller.org.as_str(),
        &base,
        query.as_deref().unwrap_or(""),
    );
    let cached = state.config.role_page_cache;
    if cached {
        let body = state.role_pages.get(&cache_key);
        crate::telemetry::cache_lookup(crate::telemetry::Cache::RolePages, body.is_some());
        if let Some(body) = body {
            return Ok(json_bytes(StatusCode::OK, body));
        }
    }
    let params = Params::parse(query.as_deref());
    let expand = params.flag("Expand")?;
    let (filter, canonical) = filter(&params)?;
    let bound = LISTING.bind(&state.pages, caller.org.as_str(), &params, &canonical)?;
    let (org, cursor, limit) = (&caller.org, bound.cursor(), bound.fetch_limit());
    // Each role as the JSON stored with it, and with `Expand=true` its permissions after it.
    let mut rendered = state
        .store
        .render_roles(org, &filter, cursor, limit)
        .await?;
    let rows = std::mem::take(&mut rendered.rows);
    let page = bound.page(rows, &base, PATH, |r| rendered.key_of(r))?;
    let body = if expand {
        let mut expanded = Vec::with_capacity(page.rows.len());
        for r in &page.rows {
            let sid = rendered
                .role_sid(r)
                .ok_or_else(|| Error::internal("a listed role's SID does not parse"))?;
            expanded.push(expansion(&state, &sid, rendered.json_of(r), None).await?);
        }
        let items = page.rows.iter().zip(&expanded);
        page.body_raw(
            LISTING.key,
            items.map(|(r, e)| with_permissions(rendered.json_of(r), e)),
        )
    } else {
        page.body_raw(LISTING.key, page.rows.iter().map(|r| [rendered.json_of(r)]))
    };
    let body = axum::body::Bytes::from(body);
    if cached {
        state.role_pages.insert(cache_key, body.clone());
    }
    Ok(json_bytes(StatusCode::OK, body))
}

/// Fetch a role.
///
/// Permission: `twilio/iam/role-assignments/list`.
#[utoipa::path(
    get,
    path = "/v2/Organizations/Roles/{sid}",
    tag = "Roles",
    operation_id = "FetchRole",
    params(
        ("sid" = String, Path, description = "The role's SID", pattern = "^IX[0-9a-f]{32}$"),
        ExpandParam,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The role", body = RoleView,
            headers(("ETag" = String, description = "The role's version, for If-Match on an update"))),
        (status = 404, description = "No such role in this organization (code 20404)", body = ErrorBody),
    )
)]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(sid): PathParam<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::ROLE_ASSIGNMENTS_LIST)?;
    let sid = RoleSid::parse(&sid).map_err(|e| Error::bad_request(format!("RoleSid {e}")))?;
    let expand = Params::parse(query.as_deref()).flag("Expand")?;
    let role = state
        .store
        .role(&caller.org, &sid)
        .await?
        .ok_or_else(|| Error::not_found(format!("Role {sid} was not found")))?;
    let json = role.to_json();
    let body = match expand {
        true => {
            let expanded =
                expansion(&state, &role.sid, json.as_bytes(), Some(&role.policy)).await?;
            with_permissions(json.as_bytes(), &expanded).concat()
        }
        false => json.into_bytes(),
    };
    let mut res = json_bytes(StatusCode::OK, body);
    if let Ok(tag) = axum::http::HeaderValue::from_str(&orgiam_domain::role_edit::etag(&role)) {
        res.headers_mut().insert(axum::http::header::ETAG, tag);
    }
    Ok(res)
}
