//! The built-in role catalog and the permission catalog, shipped inside the binary as
//! `catalog/catalog.json`. Role and permission SIDs are derived from stable keys, so they are
//! the same on every install.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

use crate::model::{CatalogPermission, Level, Role};
use crate::policy::{CompiledPolicy, Permission, Policy};
use crate::sid::{PermissionSid, RoleSid};
use crate::time_fmt;

const CATALOG_JSON: &str = include_str!("../catalog/catalog.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    product_groups: Vec<RawGroup>,
    permissions: Vec<RawPermission>,
    roles: Vec<RawRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    product_group: String,
    friendly_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPermission {
    permission: String,
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    key: String,
    friendly_name: String,
    external_description: String,
    product_group: String,
    lowest_level: Level,
    policy: Policy,
    resource_types: Option<Vec<String>>,
    date_created: String,
    date_updated: String,
}

/// The permission SID of a permission string: stable across installs.
pub fn permission_sid(p: &Permission) -> PermissionSid {
    PermissionSid::derived(p.as_str())
}

/// The built-in catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// slug -> friendly name.
    pub groups: BTreeMap<String, String>,
    pub roles: Vec<Role>,
    /// Sorted by permission string.
    pub permissions: Vec<CatalogPermission>,
}

impl Catalog {
    /// Parses and checks the shipped catalog.
    pub fn builtin() -> Result<Self, String> {
        Self::parse(CATALOG_JSON)
    }

    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawCatalog =
            serde_json::from_str(json).map_err(|e| format!("role catalog: {e}"))?;
        let groups: BTreeMap<String, String> = raw
            .product_groups
            .into_iter()
            .map(|g| (g.product_group, g.friendly_name))
            .collect();
        let mut permissions = raw
            .permissions
            .into_iter()
            .map(|p| {
                let permission = Permission::parse(&p.permission)?;
                Ok(CatalogPermission {
                    sid: permission_sid(&permission),
                    permission,
                    description: p.description,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        permissions.sort_by(|a, b| a.permission.cmp(&b.permission));
        let mut keys = HashSet::new();
        let roles = raw
            .roles
            .into_iter()
            .map(|r| {
                if !keys.insert(r.key.clone()) {
                    return Err(format!("role catalog: duplicate role key {}", r.key));
                }
                let group_name = groups.get(&r.product_group).ok_or_else(|| {
                    format!("role {}: unknown product group {}", r.key, r.product_group)
                })?;
                let date = |s: &str| {
                    time_fmt::parse(s).ok_or_else(|| format!("role {}: bad date {s}", r.key))
                };
                Ok(Role {
                    sid: RoleSid::derived(&r.key),
                    org: None,
                    friendly_name: r.friendly_name,
                    external_description: r.external_description,
                    product_group: r.product_group,
                    product_group_name: group_name.clone(),
                    lowest_level: r.lowest_level,
                    policy: r.policy,
                    resource_types: r.resource_types,
                    date_created: date(&r.date_created)?,
                    date_updated: date(&r.date_updated)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            groups,
            roles,
            permissions,
        })
    }

    /// The catalog permissions a policy grants: wildcards resolved, denies removed, plus any
    /// concrete allowed permission missing from the catalog (custom roles may name those).
    ///
    /// Linear in the policy's size: the policy is compiled once (a trie, see
    /// [`CompiledPolicy`]), each catalog permission is checked against it, and each concrete
    /// allowed permission is looked up in the sorted catalog and in a set of those already
    /// added.
    pub fn expand(&self, policy: &Policy) -> Vec<CatalogPermission> {
        let compiled = CompiledPolicy::new(policy);
        let mut out: Vec<CatalogPermission> = self
            .permissions
            .iter()
            .filter(|p| compiled.allows(&p.permission))
            .cloned()
            .collect();
        let mut extra: HashSet<Permission> = HashSet::new();
        for pattern in &policy.allow {
            if pattern.is_wildcard() {
                continue;
            }
            let Ok(p) = Permission::parse(pattern.as_str()) else {
                continue;
            };
            let in_catalog = self
                .permissions
                .binary_search_by(|c| c.permission.cmp(&p))
                .is_ok();
            if !in_catalog && compiled.allows(&p) && extra.insert(p.clone()) {
                out.push(CatalogPermission {
                    sid: permission_sid(&p),
                    permission: p,
                    description: String::new(),
                });
            }
        }
        out.sort_by(|a, b| a.permission.cmp(&b.permission));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn catalog() -> Catalog {
        Catalog::builtin().expect("the shipped catalog parses")
    }

    #[test]
    fn is_large_and_varied() {
        let c = catalog();
        assert!(c.roles.len() >= 40, "{} roles", c.roles.len());
        let groups: HashSet<_> = c.roles.iter().map(|r| &r.product_group).collect();
        assert!(groups.len() >= 10);
        for level in [Level::Organization, Level::Account, Level::SubAccount] {
            assert!(c.roles.iter().any(|r| r.lowest_level == level), "{level:?}");
        }
        assert!(c.roles.iter().any(|r| r.policy.deny.is_some()));
        assert!(
            c.roles
                .iter()
                .any(|r| r.policy.allow.iter().any(|p| p.is_wildcard()))
        );
        let names: HashSet<_> = c.roles.iter().map(|r| r.friendly_name.as_str()).collect();
        for name in [
            "Owner",
            "Administrator",
            "Developer",
            "Billing Manager",
            "Organization Owner",
            "Organization Admin",
            "Billing Group Admin",
            "Billing Group Viewer",
        ] {
            assert!(names.contains(name), "{name}");
        }
        let bga = c
            .roles
            .iter()
            .find(|r| r.friendly_name == "Billing Group Admin");
        assert_eq!(
            bga.and_then(|r| r.resource_types.clone()),
            Some(vec!["billing_group".to_owned()])
        );
    }

    #[test]
    fn sids_are_stable_and_unique() {
        let c = catalog();
        assert_eq!(
            c.roles
                .iter()
                .find(|r| r.friendly_name == "Owner")
                .map(|r| r.sid.clone()),
            Some(RoleSid::derived("owner"))
        );
        let sids: HashSet<_> = c.roles.iter().map(|r| &r.sid).collect();
        assert_eq!(sids.len(), c.roles.len());
        let psids: HashSet<_> = c.permissions.iter().map(|p| &p.sid).collect();
        assert_eq!(psids.len(), c.permissions.len());
    }

    #[test]
    fn permission_catalog_covers_every_grant() {
        let c = catalog();
        let known: HashMap<_, _> = c
            .permissions
            .iter()
            .map(|p| (p.permission.as_str(), p))
            .collect();
        for role in &c.roles {
            let patterns = role
                .policy
                .allow
                .iter()
                .chain(role.policy.deny.iter().flatten());
            for p in patterns {
                if p.is_wildcard() {
                    assert!(
                        c.permissions.iter().any(|cp| p.matches(&cp.permission)),
                        "{}: {p:?} matches nothing",
                        role.friendly_name
                    );
                } else {
                    assert!(
                        known.contains_key(p.as_str()),
                        "{}: {p:?}",
                        role.friendly_name
                    );
                }
            }
            let expanded = c.expand(&role.policy);
            assert!(
                !expanded.is_empty(),
                "{} grants nothing",
                role.friendly_name
            );
            assert!(
                expanded
                    .iter()
                    .all(|e| known.contains_key(e.permission.as_str()))
            );
        }
    }

    /// The definition, one scan per check: what `expand` must agree with.
    fn expand_by_scanning(c: &Catalog, policy: &Policy) -> Vec<CatalogPermission> {
        let mut out: Vec<CatalogPermission> = c
            .permissions
            .iter()
            .filter(|p| policy.allows(&p.permission))
            .cloned()
            .collect();
        for pattern in policy.allow.iter().filter(|p| !p.is_wildcard()) {
            let Ok(p) = Permission::parse(pattern.as_str()) else {
                continue;
            };
            if policy.allows(&p) && !out.iter().any(|c| c.permission == p) {
                out.push(CatalogPermission {
                    sid: permission_sid(&p),
                    permission: p,
                    description: String::new(),
                });
            }
        }
        out.sort_by(|a, b| a.permission.cmp(&b.permission));
        out
    }

    fn pat(s: &str) -> crate::policy::Pattern {
        crate::policy::Pattern::parse(s).expect("valid pattern")
    }

    #[test]
    fn expand_agrees_with_the_scan() {
        let c = catalog();
        let mut policies: Vec<Policy> = c.roles.iter().map(|r| r.policy.clone()).collect();
        // A custom role: concrete permissions in and out of the catalog, repeated, with
        // wildcards and denies that overlap them.
        let some: Vec<&str> = c
            .permissions
            .iter()
            .step_by(7)
            .map(|p| p.permission.as_str())
            .collect();
        let mut allow: Vec<_> = some.iter().map(|p| pat(p)).collect();
        allow.extend(some.iter().map(|p| pat(p)));
        for i in 0..50 {
            allow.push(pat(&format!("/custom/app{}/things/read", i % 20)));
        }
        allow.push(pat("/twilio/iam/*"));
        allow.push(pat("/custom/*/things/write"));
        let deny = vec![
            pat("/custom/app3/*"),
            pat(some[0]),
            pat("/twilio/*/*/delete"),
        ];
        policies.push(Policy {
            allow: allow.clone(),
            deny: Some(deny),
        });
        policies.push(Policy { allow, deny: None });
        for policy in &policies {
            let got: Vec<_> = c.expand(policy).into_iter().map(|p| p.permission).collect();
            let want: Vec<_> = expand_by_scanning(&c, policy)
                .into_iter()
                .map(|p| p.permission)
                .collect();
            assert_eq!(got, want, "{policy:?}");
        }
    }

    #[test]
    fn expand_removes_denies() {
        let c = catalog();
        let admin = c
            .roles
            .iter()
            .find(|r| r.policy.deny.is_some())
            .expect("a role with deny");
        let expanded = c.expand(&admin.policy);
        for d in admin.policy.deny.iter().flatten() {
            assert!(expanded.iter().all(|e| !d.matches(&e.permission)));
        }
    }
}
