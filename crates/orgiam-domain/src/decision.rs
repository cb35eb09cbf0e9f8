//! Effective permissions: may this user perform this permission here, and why (not)?
//!
//! Pure and total: the caller gathers the user (active or not, and every assignment), the
//! scope's chain of ancestors and the roles' policies; the functions here decide.
//!
//! - An assignment applies at a scope when its own scope is that scope or one of its
//!   ancestors (organization → account → subaccount, accounts nested to any depth). One with
//!   a resource (`resource_type`/`resource_id`) applies only to that resource.
//! - A role grants what its allows match minus what its denies match (segment wildcards, see
//!   [`crate::policy`]); across assignments the grants add up.
//! - Reasons are tried in this order: `unknown_identity`, `scope_outside_organization`,
//!   `inactive_user`, then `granted`, `denied_by_role` (a role that applies would grant it but
//!   its deny removes it) and `no_assignment`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::model::{Assignment, CatalogPermission};
use crate::policy::{CompiledPolicy, Pattern, Permission, Policy};
use crate::sid::{RoleSid, UserSid};

/// Why a check came out as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Granted,
    NoAssignment,
    DeniedByRole,
    InactiveUser,
    UnknownIdentity,
    ScopeOutsideOrganization,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::NoAssignment => "no_assignment",
            Self::DeniedByRole => "denied_by_role",
            Self::InactiveUser => "inactive_user",
            Self::UnknownIdentity => "unknown_identity",
            Self::ScopeOutsideOrganization => "scope_outside_organization",
        }
    }

    /// A sentence for a person.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Granted => "a role assigned to the user grants it here",
            Self::NoAssignment => "no role assigned to the user grants it here",
            Self::DeniedByRole => "a role assigned here would grant it, but its deny removes it",
            Self::InactiveUser => "the user is inactive: an inactive user may do nothing",
            Self::UnknownIdentity => "the identity is not a user of this organization",
            Self::ScopeOutsideOrganization => {
                "the scope is not this organization or one of its accounts"
            }
        }
    }
}

/// A role's policy, compiled for checks; the patterns are kept to explain.
#[derive(Debug, Clone)]
pub struct RolePolicy {
    policy: Policy,
    compiled: CompiledPolicy,
}

impl RolePolicy {
    pub fn new(policy: &Policy) -> Self {
        Self {
            policy: policy.clone(),
            compiled: CompiledPolicy::new(policy),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the role grants `p` (allowed, not denied).
    pub fn grants(&self, p: &Permission) -> bool {
        self.compiled.allows(p)
    }

    /// The first allow pattern matching `p`.
    pub fn allow_pattern(&self, p: &Permission) -> Option<&Pattern> {
        self.policy.allow.iter().find(|a| a.matches(p))
    }

    /// The first deny pattern matching `p`.
    pub fn deny_pattern(&self, p: &Permission) -> Option<&Pattern> {
        self.policy.deny.iter().flatten().find(|d| d.matches(p))
    }
}

/// The roles a decision may meet, by SID. A missing role grants nothing.
/// Hashed with foldhash: a check looks a role up for each of the user's assignments.
pub type Roles = HashMap<RoleSid, Arc<RolePolicy>, foldhash::fast::RandomState>;

/// The user asking: whether active, and every assignment the user holds in the organization
/// (at any scope). `None` for an identity that is not a user of the organization.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub active: bool,
    pub assignments: &'a [Assignment],
}

/// What is asked about.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub permission: &'a Permission,
    /// The scope and its ancestors, nearest first, ending with the organization's SID; `None`
    /// when the scope is not the organization or one of its accounts.
    pub chain: Option<&'a [String]>,
    /// `(resource_type, resource_id)`.
    pub resource: Option<(&'a str, &'a str)>,
}

/// An assignment that allows the permission, and the allow pattern that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub assignment_sid: String,
    pub role_sid: String,
    pub scope: String,
    pub pattern: String,
}

/// An assignment whose role would grant the permission but whose deny pattern removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub assignment_sid: String,
    pub role_sid: String,
    pub pattern: String,
}

/// An assignment of the user, at another scope (or for another resource), whose role would
/// grant the permission: what a denial is nearest to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NearestGrant {
    pub assignment_sid: String,
    pub role_sid: String,
    pub scope: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// With `explain`: every applicable assignment that allows it.
    pub grants: Vec<Grant>,
    /// With `explain`: every applicable assignment whose deny removes it.
    pub denials: Vec<Denial>,
}

impl Decision {
    fn of(reason: Reason) -> Self {
        Self {
            allowed: reason == Reason::Granted,
            reason,
            grants: Vec::new(),
            denials: Vec::new(),
        }
    }
}

/// Whether `a` applies at the scope whose chain is `chain`, for `resource`.
pub fn applies(a: &Assignment, chain: &[String], resource: Option<(&str, &str)>) -> bool {
    let on_resource = match (a.resource_type.as_deref(), a.resource_id.as_deref()) {
        (None, None) => true,
        (Some(t), Some(i)) => resource == Some((t, i)),
        _ => false,
    };
    on_resource && chain.contains(&a.scope)
}

/// The decision. Without `explain` it stops at the first grant.
pub fn decide(
    subject: Option<Subject<'_>>,
    target: Target<'_>,
    roles: &Roles,
    explain: bool,
) -> Decision {
    let Some(subject) = subject else {
        return Decision::of(Reason::UnknownIdentity);
    };
    let Some(chain) = target.chain else {
        return Decision::of(Reason::ScopeOutsideOrganization);
    };
    if !subject.active {
        return Decision::of(Reason::InactiveUser);
    }
    let p = target.permission;
    let mut out = Decision::of(Reason::NoAssignment);
    for a in subject
        .assignments
        .iter()
        .filter(|a| applies(a, chain, target.resource))
    {
        let Some(role) = roles.get(&a.role) else {
            continue;
        };
        if !explain {
            if role.grants(p) {
                return Decision::of(Reason::Granted);
            }
            if out.reason == Reason::NoAssignment
                && role.allow_pattern(p).is_some()
                && role.deny_pattern(p).is_some()
            {
                out.reason = Reason::DeniedByRole;
            }
            continue;
        }
        let Some(allow) = role.allow_pattern(p) else {
            continue;
        };
        match role.deny_pattern(p) {
            Some(deny) => out.denials.push(Denial {
                assignment_sid: a.sid.to_string(),
                role_sid: a.role.to_string(),
                pattern: deny.as_str().to_owned(),
            }),
            None => out.grants.push(Grant {
                assignment_sid: a.sid.to_string(),
                role_sid: a.role.to_string(),
                scope: a.scope.clone(),
                pattern: allow.as_str().to_owned(),
            }),
        }
    }
    if explain {
        out.reason = if !out.grants.is_empty() {
            Reason::Granted
        } else if !out.denials.is_empty() {
            Reason::DeniedByRole
        } else {
            Reason::NoAssignment
        };
    }
    out.allowed = out.reason == Reason::Granted;
    out
}

/// The user's assignments that do not apply to the target but whose role would grant the
/// permission: the candidates for [`nearest_grant`] (whose scopes' chains it needs).
pub fn other_grants<'a>(
    subject: Subject<'a>,
    target: Target<'_>,
    roles: &Roles,
) -> Vec<&'a Assignment> {
    let chain = target.chain.unwrap_or(&[]);
    subject
        .assignments
        .iter()
        .filter(|a| !applies(a, chain, target.resource))
        .filter(|a| {
            roles
                .get(&a.role)
                .is_some_and(|r| r.grants(target.permission))
        })
        .collect()
}

/// Steps between two scopes through their nearest common ancestor (chains nearest first).
fn distance(a: &[String], b: &[String]) -> usize {
    for (i, s) in a.iter().enumerate() {
        if let Some(j) = b.iter().position(|t| t == s) {
            return i + j;
        }
    }
    usize::MAX / 2
}

/// Of the candidates ([`other_grants`]), the nearest to the target's scope: fewest steps
/// between the two scopes through their nearest common ancestor, then an assignment without
/// a resource before one with, then by SID. `chains` holds each candidate scope's chain.
pub fn nearest_grant(
    candidates: &[&Assignment],
    target: Target<'_>,
    chains: &HashMap<String, Vec<String>>,
    roles: &Roles,
) -> Option<NearestGrant> {
    let here = target.chain?;
    let best = candidates.iter().min_by_key(|a| {
        let d = chains
            .get(&a.scope)
            .map_or(usize::MAX / 2, |c| distance(here, c));
        (d, a.resource_type.is_some(), a.sid.as_str())
    })?;
    let pattern = roles
        .get(&best.role)
        .and_then(|r| r.allow_pattern(target.permission))
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    Some(NearestGrant {
        assignment_sid: best.sid.to_string(),
        role_sid: best.role.to_string(),
        scope: best.scope.clone(),
        resource_type: best.resource_type.clone(),
        resource_id: best.resource_id.clone(),
        pattern,
    })
}

/// An effective permission: the permission and every applicable assignment that grants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub permission: CatalogPermission,
    pub grants: Vec<Grant>,
}

/// Everything the user may do at the target's scope (the target's permission is ignored):
/// the catalog permissions (and the concrete permissions custom roles name) that an
/// applicable assignment grants, sorted by permission. Empty for an inactive user.
pub fn effective_permissions(
    subject: Subject<'_>,
    chain: &[String],
    resource: Option<(&str, &str)>,
    roles: &Roles,
    catalog: &Catalog,
) -> Vec<Effective> {
    let mut by_perm: std::collections::BTreeMap<Permission, Effective> = Default::default();
    if !subject.active {
        return Vec::new();
    }
    for a in subject
        .assignments
        .iter()
        .filter(|a| applies(a, chain, resource))
    {
        let Some(role) = roles.get(&a.role) else {
            continue;
        };
        for cp in catalog.expand(role.policy()) {
            let pattern = role
                .allow_pattern(&cp.permission)
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let grant = Grant {
                assignment_sid: a.sid.to_string(),
                role_sid: a.role.to_string(),
                scope: a.scope.clone(),
                pattern,
            };
            by_perm
                .entry(cp.permission.clone())
                .or_insert_with(|| Effective {
                    permission: cp,
                    grants: Vec::new(),
                })
                .grants
                .push(grant);
        }
    }
    by_perm.into_values().collect()
}

/// A user who holds a permission at a scope, with the assignments that grant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub identity: UserSid,
    pub grants: Vec<Grant>,
}

/// The holders of the target's permission among `rows` (assignments with their user's
/// `active` flag, in identity order): active users with an applicable assignment whose role
/// grants it, in the rows' order, each once.
pub fn holders(rows: &[(Assignment, bool)], target: Target<'_>, roles: &Roles) -> Vec<Holder> {
    let mut out: Vec<Holder> = Vec::new();
    let Some(chain) = target.chain else {
        return out;
    };
    for (a, active) in rows {
        if !*active || !applies(a, chain, target.resource) {
            continue;
        }
        let Some(role) = roles.get(&a.role) else {
            continue;
        };
        if !role.grants(target.permission) {
            continue;
        }
        let grant = Grant {
            assignment_sid: a.sid.to_string(),
            role_sid: a.role.to_string(),
            scope: a.scope.clone(),
            pattern: role
                .allow_pattern(target.permission)
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
        };
        match out.last_mut() {
            Some(h) if h.identity == a.identity => h.grants.push(grant),
            _ => out.push(Holder {
                identity: a.identity.clone(),
                grants: vec![grant],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests;
