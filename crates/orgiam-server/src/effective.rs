//! Effective permissions as a service, between the routes (and `orgiam check`) and the store:
//! it reads what a question needs — the users, their assignments, the scopes' chains, the
//! roles — straight from the store, so an answer reflects every change acknowledged before it
//! was asked, on any replica; and lets `orgiam_domain::decision` decide.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use serde::Serialize;

use orgiam_domain::catalog::Catalog;
use orgiam_domain::decision::{
    self, Decision, Denial, Effective, Grant, Holder, NearestGrant, Reason, RolePolicy, Roles,
    Subject, Target,
};
use orgiam_domain::model::Assignment;
use orgiam_domain::policy::Permission;
use orgiam_domain::sid::{OrgSid, RoleSid, UserSid};
use orgiam_domain::store::Store;
use orgiam_domain::{Error, Result};

/// At most this many checks in one request.
pub const MAX_CHECKS: usize = 1000;

/// One question, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub identity: UserSid,
    pub permission: Permission,
    /// An `OR` or `AC` SID (of any organization: a foreign one is answered, not refused).
    pub scope: String,
    pub resource: Option<(String, String)>,
}

/// One answer, as the API shows it: `allowed` and `reason`, and with `explain` the grants,
/// the denials and the nearest grant (or null).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub allowed: bool,
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<Grant>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denials: Option<Vec<Denial>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_grant: Option<Option<NearestGrant>>,
}

/// The built-in roles' compiled policies (the catalog does not change while a process runs).
static BUILTIN: LazyLock<Roles> = LazyLock::new(|| {
    Catalog::builtin()
        .map(|c| {
            c.roles
                .iter()
                .map(|r| (r.sid.clone(), Arc::new(RolePolicy::new(&r.policy))))
                .collect()
        })
        .unwrap_or_default()
});

/// What a set of questions needs, read once for the whole set.
struct Loaded {
    users: HashMap<UserSid, bool>,
    assignments: HashMap<UserSid, Vec<Assignment>>,
    chains: HashMap<String, Option<Vec<String>>>,
    roles: Roles,
}

async fn roles_of(store: &dyn Store, org: &OrgSid, sids: HashSet<&RoleSid>) -> Result<Roles> {
    let mut roles = Roles::new();
    for sid in sids {
        if let Some(r) = BUILTIN.get(sid) {
            roles.insert(sid.clone(), r.clone());
        } else if let Some(role) = store.role(org, sid).await? {
            roles.insert(sid.clone(), Arc::new(RolePolicy::new(&role.policy)));
        }
    }
    Ok(roles)
}

async fn chains_of(
    store: &dyn Store,
    org: &OrgSid,
    scopes: &[String],
    chains: &mut HashMap<String, Option<Vec<String>>>,
) -> Result<()> {
    let mut missing: Vec<String> = scopes
        .iter()
        .filter(|s| !chains.contains_key(*s))
        .cloned()
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let mut found = store.access().scope_chains(org, &missing).await?;
    for scope in missing {
        let chain = found.remove(&scope);
        chains.insert(scope, chain);
    }
    Ok(())
}

async fn load(store: &dyn Store, org: &OrgSid, checks: &[Check]) -> Result<Loaded> {
    let mut ids: Vec<UserSid> = checks.iter().map(|c| c.identity.clone()).collect();
    ids.sort();
    ids.dedup();
    let users = store.access().users_active(org, &ids).await?;
    let known: Vec<UserSid> = ids.into_iter().filter(|u| users.contains_key(u)).collect();
    let mut assignments: HashMap<UserSid, Vec<Assignment>> = HashMap::new();
    for a in store.access().assignments_of(org, &known).await? {
        assignments.entry(a.identity.clone()).or_default().push(a);
    }
    let mut chains = HashMap::new();
    let scopes: Vec<String> = checks.iter().map(|c| c.scope.clone()).collect();
    chains_of(store, org, &scopes, &mut chains).await?;
    let roles = roles_of(
        store,
        org,
        assignments.values().flatten().map(|a| &a.role).collect(),
    )
    .await?;
    Ok(Loaded {
        users,
        assignments,
        chains,
        roles,
    })
}

fn subject<'a>(loaded: &'a Loaded, user: &UserSid) -> Option<Subject<'a>> {
    loaded.users.get(user).map(|active| Subject {
        active: *active,
        assignments: loaded.assignments.get(user).map_or(&[], Vec::as_slice),
    })
}

fn target<'a>(loaded: &'a Loaded, c: &'a Check) -> Target<'a> {
    Target {
        permission: &c.permission,
        chain: loaded.chains.get(&c.scope).and_then(|c| c.as_deref()),
        resource: c.resource.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
    }
}

/// Answers the checks, in order.
pub async fn check(
    store: &dyn Store,
    org: &OrgSid,
    checks: &[Check],
    explain: bool,
) -> Result<Vec<CheckResult>> {
    let mut loaded = load(store, org, checks).await?;
    let decisions: Vec<Decision> = checks
        .iter()
        .map(|c| {
            decision::decide(
                subject(&loaded, &c.identity),
                target(&loaded, c),
                &loaded.roles,
                explain,
            )
        })
        .collect();
    if !explain {
        return Ok(decisions
            .into_iter()
            .map(|d| CheckResult {
                allowed: d.allowed,
                reason: d.reason,
                grants: None,
                denials: None,
                nearest_grant: None,
            })
            .collect());
    }
    // The nearest grant of each denial: the chains of the scopes it could be at.
    let looked_for = |d: &Decision| matches!(d.reason, Reason::NoAssignment | Reason::DeniedByRole);
    let mut scopes: Vec<String> = Vec::new();
    for (c, d) in checks.iter().zip(&decisions) {
        if let (true, Some(s)) = (looked_for(d), subject(&loaded, &c.identity)) {
            for a in decision::other_grants(s, target(&loaded, c), &loaded.roles) {
                scopes.push(a.scope.clone());
            }
        }
    }
    let mut chains = std::mem::take(&mut loaded.chains);
    chains_of(store, org, &scopes, &mut chains).await?;
    loaded.chains = chains;
    let known: HashMap<String, Vec<String>> = loaded
        .chains
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    Ok(checks
        .iter()
        .zip(decisions)
        .map(|(c, d)| {
            let nearest = match (looked_for(&d), subject(&loaded, &c.identity)) {
                (true, Some(s)) => {
                    let t = target(&loaded, c);
                    let candidates = decision::other_grants(s, t, &loaded.roles);
                    decision::nearest_grant(&candidates, t, &known, &loaded.roles)
                }
                _ => None,
            };
            CheckResult {
                allowed: d.allowed,
                reason: d.reason,
                grants: Some(d.grants),
                denials: Some(d.denials),
                nearest_grant: Some(nearest),
            }
        })
        .collect())
}

/// A scope of the organization: its chain, or a 400 naming `field`.
async fn chain_or_400(
    store: &dyn Store,
    org: &OrgSid,
    scope: &str,
    field: &str,
) -> Result<Vec<String>> {
    store
        .access()
        .scope_chain(org, scope)
        .await?
        .ok_or_else(|| {
            Error::bad_request(format!(
                "{field} {scope} is not this organization or one of its accounts"
            ))
        })
}

/// What `user` may do at `scope` (for `resource`), sorted by permission. A user that is not
/// of the organization, or a scope outside it, is a 400 naming `Identity` / `Scope`.
pub async fn effective_permissions(
    store: &dyn Store,
    catalog: &Catalog,
    org: &OrgSid,
    user: &UserSid,
    scope: &str,
    resource: Option<(&str, &str)>,
) -> Result<Vec<Effective>> {
    let users = store
        .access()
        .users_active(org, std::slice::from_ref(user))
        .await?;
    let Some(active) = users.get(user) else {
        return Err(Error::bad_request(format!(
            "Identity {user} is not a user of this organization"
        )));
    };
    let chain = chain_or_400(store, org, scope, "Scope").await?;
    let assignments = store
        .access()
        .assignments_of(org, std::slice::from_ref(user))
        .await?;
    let roles = roles_of(store, org, assignments.iter().map(|a| &a.role).collect()).await?;
    let subject = Subject {
        active: *active,
        assignments: &assignments,
    };
    Ok(decision::effective_permissions(
        subject, &chain, resource, &roles, catalog,
    ))
}

/// Assignments read per store call while gathering holders.
const HOLDER_CHUNK: u32 = 5000;

/// The active users who hold `permission` at `scope` (for `resource`), by identity. A scope
/// outside the organization is a 400 naming `Scope`.
pub async fn permission_holders(
    store: &dyn Store,
    org: &OrgSid,
    permission: &Permission,
    scope: &str,
    resource: Option<(&str, &str)>,
) -> Result<Vec<Holder>> {
    let chain = chain_or_400(store, org, scope, "Scope").await?;
    let mut rows: Vec<(Assignment, bool)> = Vec::new();
    loop {
        let after = rows
            .last()
            .map(|(a, _)| (a.identity.to_string(), a.sid.to_string()));
        let chunk = store
            .access()
            .assignments_at(
                org,
                &chain,
                after.as_ref().map(|(i, s)| (i.as_str(), s.as_str())),
                HOLDER_CHUNK,
            )
            .await?;
        let done = chunk.len() < HOLDER_CHUNK as usize;
        rows.extend(chunk);
        if done {
            break;
        }
    }
    let roles = roles_of(store, org, rows.iter().map(|(a, _)| &a.role).collect()).await?;
    let target = Target {
        permission,
        chain: Some(&chain),
        resource,
    };
    Ok(decision::holders(&rows, target, &roles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_without_explain_are_two_keys() {
        let r = CheckResult {
            allowed: false,
            reason: Reason::NoAssignment,
            grants: None,
            denials: None,
            nearest_grant: None,
        };
        assert_eq!(
            serde_json::to_string(&r).ok().as_deref(),
            Some(r#"{"allowed":false,"reason":"no_assignment"}"#)
        );
        let r = CheckResult {
            nearest_grant: Some(None),
            grants: Some(vec![]),
            denials: Some(vec![]),
            ..r
        };
        assert_eq!(
            serde_json::to_string(&r).ok().as_deref(),
            Some(
                r#"{"allowed":false,"reason":"no_assignment","grants":[],"denials":[],"nearest_grant":null}"#
            )
        );
    }
}
