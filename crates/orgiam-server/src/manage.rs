//! The management service: custom roles and OAuth apps created, changed and deleted, with
//! the rules every caller obeys (field checks, no escalation, no lock-out, optimistic
//! concurrency). The HTTP routes and the command line both go through here; a `grantor` is
//! the app making the change over HTTP (`None`: the operator on the command line, who may
//! grant anything and so can always recover an organization).

use serde_json::{Map, Value};

use orgiam_domain::catalog::Catalog;
use orgiam_domain::escalation;
use orgiam_domain::import::{MAX_ALLOW_PATTERNS, MAX_DENY_PATTERNS};
use orgiam_domain::model::{Actor, App, AppStatus, MAX_TOKEN_TTL, MIN_TOKEN_TTL, Role};
use orgiam_domain::policy::{Pattern, Policy};
use orgiam_domain::role_edit;
use orgiam_domain::secret::{self, SecretHasher};
use orgiam_domain::sid::{AppSid, OrgSid, RoleSid};
use orgiam_domain::{Error, Result, text, time_fmt};
use orgiam_store::{AppChange, Directory};

use crate::bootstrap;

/// The longest app name, in characters.
pub const MAX_APP_NAME: usize = 255;
/// The longest app description, in characters.
pub const MAX_APP_DESCRIPTION: usize = 2048;
/// The longest overlap of an old secret after a rotation: the longest token lifetime.
pub const MAX_GRACE_PERIOD: i64 = MAX_TOKEN_TTL;

// ---------------------------------------------------------------------------------------------
// Custom roles

/// Creates a custom role of `org` from a create body.
pub async fn create_role(
    store: &dyn Directory,
    catalog: &Catalog,
    org: &OrgSid,
    body: &Value,
    actor: &Actor,
) -> Result<Role> {
    let role = role_edit::create(body, org, &catalog.groups, time_fmt::now())?;
    store.create_role(&role, actor).await?;
    Ok(role)
}

/// A custom role of `org`: 404 when `org` cannot see it, 400 naming it when it is built in.
async fn custom_role(store: &dyn Directory, org: &OrgSid, sid: &RoleSid) -> Result<Role> {
    let role = store
        .role(org, sid)
        .await?
        .ok_or_else(|| Error::not_found(format!("Role {sid} was not found")))?;
    if role.org.is_none() {
        return Err(role_edit::built_in(&role));
    }
    Ok(role)
}

/// Changes a custom role of `org` with the fields of `body`, provided `if_match` names its
/// current ETag (checked inside the write: of two changes sent with the same ETag, one wins
/// and the other is a 409). Returns the role and whether it changed.
pub async fn update_role(
    store: &dyn Directory,
    catalog: &Catalog,
    org: &OrgSid,
    sid: &RoleSid,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<(Role, bool)> {
    let current = custom_role(store, org, sid).await?;
    // Missing If-Match and a malformed body are refused before the write begins.
    if if_match.is_none_or(|h| h.trim().is_empty()) {
        role_edit::check_if_match(None, &current)?;
    }
    role_edit::update(body, &current, &catalog.groups)?;
    let edit = |stored: &Role| {
        role_edit::check_if_match(if_match, stored)?;
        role_edit::update(body, stored, &catalog.groups)
    };
    store.update_role(org, sid, &edit, actor).await
}

/// Deletes a custom role of `org`; a 409 names how many assignments still use it.
pub async fn delete_role(
    store: &dyn Directory,
    org: &OrgSid,
    sid: &RoleSid,
    actor: &Actor,
) -> Result<()> {
    custom_role(store, org, sid).await?;
    store.delete_role(org, sid, actor).await
}

// ---------------------------------------------------------------------------------------------
// OAuth apps

/// The fields of a new app.
#[derive(Clone, Debug)]
pub struct NewApp {
    pub friendly_name: String,
    pub description: String,
    pub policy: Policy,
    pub access_token_ttl: i64,
    /// The audiences the app may ask tokens for besides this server.
    pub audiences: Vec<String>,
}

/// Checks an app's name, description, token lifetime and policy (whichever are given),
/// naming the field.
pub fn check_app_fields(
    name: Option<&str>,
    description: Option<&str>,
    ttl: Option<i64>,
    policy: Option<&Policy>,
) -> Result<()> {
    if let Some(n) = name {
        text::check("friendly_name", n)?;
        if n.trim().is_empty() || n.chars().count() > MAX_APP_NAME {
            return Err(Error::bad_request(format!(
                "friendly_name must be 1 to {MAX_APP_NAME} characters, not blank"
            )));
        }
    }
    if let Some(d) = description {
        text::check_free("description", d)?;
        if d.chars().count() > MAX_APP_DESCRIPTION {
            return Err(Error::bad_request(format!(
                "description must be at most {MAX_APP_DESCRIPTION} characters"
            )));
        }
    }
    if let Some(t) = ttl
        && !(MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&t)
    {
        return Err(Error::bad_request(format!(
            "access_token_ttl must be between {MIN_TOKEN_TTL} and {MAX_TOKEN_TTL} seconds"
        )));
    }
    if let Some(p) = policy {
        check_app_policy(p)?;
    }
    Ok(())
}

/// An app's policy: 1 to [`MAX_ALLOW_PATTERNS`] allow patterns, at most
/// [`MAX_DENY_PATTERNS`] deny patterns.
pub fn check_app_policy(p: &Policy) -> Result<()> {
    if p.allow.is_empty() {
        return Err(Error::bad_request(
            "policy.allow must name at least one permission",
        ));
    }
    if p.allow.len() > MAX_ALLOW_PATTERNS {
        return Err(Error::bad_request(format!(
            "policy.allow must name at most {MAX_ALLOW_PATTERNS} permissions (it names {})",
            p.allow.len()
        )));
    }
    let deny = p.deny.as_ref().map_or(0, Vec::len);
    if deny > MAX_DENY_PATTERNS {
        return Err(Error::bad_request(format!(
            "policy.deny must name at most {MAX_DENY_PATTERNS} permissions (it names {deny})"
        )));
    }
    Ok(())
}

/// 403 naming one permission `requested` grants that the grantor lacks (no escalation).
pub fn check_grant(grantor: Option<&App>, requested: &Policy, catalog: &Catalog) -> Result<()> {
    let Some(g) = grantor else {
        return Ok(());
    };
    let examples = catalog.permissions.iter().map(|p| &p.permission);
    match escalation::excess(requested, &g.policy, examples) {
        None => Ok(()),
        Some(p) => Err(Error::Forbidden(format!(
            "The OAuth app {} cannot grant the permission '{}': it lacks it itself",
            g.sid,
            p.as_str().trim_start_matches('/')
        ))),
    }
}

/// Creates an app of `org`; returns it and its secret (shown this once).
pub async fn create_app(
    store: &dyn Directory,
    hasher: &SecretHasher,
    catalog: &Catalog,
    org: &OrgSid,
    new: NewApp,
    grantor: Option<&App>,
    actor: &Actor,
) -> Result<(App, String)> {
    check_app_fields(
        Some(&new.friendly_name),
        Some(&new.description),
        Some(new.access_token_ttl),
        Some(&new.policy),
    )?;
    check_grant(grantor, &new.policy, catalog)?;
    let (mut app, client_secret) = bootstrap::new_app(
        hasher,
        org,
        new.friendly_name.trim(),
        new.policy,
        new.access_token_ttl,
    );
    app.description = new.description;
    app.audiences = new.audiences;
    store.create_app(&app, actor).await?;
    Ok((app, client_secret))
}

/// An app that is not deleted, of `org` when given (404 otherwise, as for an unknown one).
pub async fn find_app(store: &dyn Directory, org: Option<&OrgSid>, sid: &AppSid) -> Result<App> {
    match store.app(sid).await? {
        Some(a) if a.status != AppStatus::Deleted && org.is_none_or(|o| *o == a.org) => Ok(a),
        _ => Err(Error::not_found(format!("OAuth app {sid} was not found"))),
    }
}

fn refuse_self(grantor: Option<&App>, sid: &AppSid, what: &str) -> Result<()> {
    if grantor.is_some_and(|g| g.sid == *sid) {
        return Err(Error::bad_request(format!(
            "An OAuth app cannot {what} itself ({sid}): use another app, or the command line"
        )));
    }
    Ok(())
}

/// Changes an app of `org` (any organization's on the command line) and, with `status`,
/// disables or enables it. A new policy must grant nothing the grantor lacks; an app cannot
/// disable itself. Writes nothing when nothing changes. Returns the app and whether it changed.
#[allow(clippy::too_many_arguments)]
pub async fn update_app(
    store: &dyn Directory,
    catalog: &Catalog,
    org: Option<&OrgSid>,
    sid: &AppSid,
    change: AppChange,
    status: Option<AppStatus>,
    grantor: Option<&App>,
    actor: &Actor,
) -> Result<(App, bool)> {
    check_app_fields(
        change.friendly_name.as_deref(),
        change.description.as_deref(),
        change.access_token_ttl,
        change.policy.as_ref(),
    )?;
    if status == Some(AppStatus::Deleted) {
        return Err(Error::bad_request(
            "status must be active or disabled (delete an app with DELETE)",
        ));
    }
    let current = find_app(store, org, sid).await?;
    if status == Some(AppStatus::Disabled) {
        refuse_self(grantor, sid, "disable")?;
    }
    if let Some(p) = &change.policy
        && *p != current.policy
    {
        check_grant(grantor, p, catalog)?;
    }
    let change = AppChange {
        friendly_name: change.friendly_name.map(|n| n.trim().to_owned()),
        ..change
    };
    let (mut app, mut changed) = store.update_app(sid, &change, actor).await?;
    if let Some(s) = status
        && s != app.status
    {
        app = store.set_app_status(sid, s, actor).await?;
        changed = true;
    }
    Ok((app, changed))
}

/// Deletes an app of `org` (any organization's on the command line); an app cannot delete
/// itself.
pub async fn delete_app(
    store: &dyn Directory,
    org: Option<&OrgSid>,
    sid: &AppSid,
    grantor: Option<&App>,
    actor: &Actor,
) -> Result<App> {
    refuse_self(grantor, sid, "delete")?;
    find_app(store, org, sid).await?;
    store.set_app_status(sid, AppStatus::Deleted, actor).await
}

/// Gives an app of `org` a new secret; the old one keeps working `grace_period` seconds
/// (0: it stops at once). Over HTTP the grantor must hold everything the app is granted: a
/// new secret is the app's power in hand. Returns the app and the new secret (shown once).
#[allow(clippy::too_many_arguments)]
pub async fn rotate_secret(
    store: &dyn Directory,
    hasher: &SecretHasher,
    catalog: &Catalog,
    org: Option<&OrgSid>,
    sid: &AppSid,
    grace_period: i64,
    grantor: Option<&App>,
    actor: &Actor,
) -> Result<(App, String)> {
    if !(0..=MAX_GRACE_PERIOD).contains(&grace_period) {
        return Err(Error::bad_request(format!(
            "grace_period must be between 0 and {MAX_GRACE_PERIOD} seconds"
        )));
    }
    let current = find_app(store, org, sid).await?;
    if grantor.is_some_and(|g| g.sid != current.sid) {
        check_grant(grantor, &current.policy, catalog)?;
    }
    let client_secret = secret::generate();
    let old_expires_at = (grace_period > 0).then(|| time_fmt::now() + grace_period);
    let app = store
        .rotate_app_secret(sid, &hasher.hash(&client_secret), old_expires_at, actor)
        .await?;
    Ok((app, client_secret))
}

// ---------------------------------------------------------------------------------------------
// Request bodies shared by the routes

/// Parses a `policy` object (`{"allow": [...], "deny": [...] | null}`), naming a wrong field.
pub fn parse_policy(v: &Value) -> Result<Policy> {
    let Value::Object(p) = v else {
        return Err(Error::bad_request("policy must be an object"));
    };
    role_edit::check_policy_shape(p)?;
    let list = |name: &str| -> Result<Option<Vec<Pattern>>> {
        match p.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    Pattern::parse(s.as_str().unwrap_or_default())
                        .map_err(|e| Error::bad_request(format!("policy.{name}[{i}]: {e}")))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(Error::bad_request(format!(
                "policy.{name} must be an array"
            ))),
        }
    };
    Ok(Policy {
        allow: list("allow")?.unwrap_or_default(),
        deny: list("deny")?,
    })
}

/// An integer field, in `range`, named in the message.
pub fn int_field(
    body: &Map<String, Value>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(Error::bad_request(format!(
                "{name} must be an integer between {} and {}",
                range.start(),
                range.end()
            ))),
        },
    }
}
