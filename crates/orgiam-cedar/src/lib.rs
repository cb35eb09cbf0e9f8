//! orgiam's effective permissions set against Cedar.
//!
//! An organization (accounts nested under accounts, users active or not, built-in and custom
//! roles, assignments at the organization, at accounts and on resources) is decided two ways:
//! by `orgiam_domain::decision`, and by Cedar over an equivalent policy set:
//!
//! - each scope is an entity `Scope::"OR…"`/`Scope::"AC…"` whose parent is its parent account
//!   (or the organization); a resource is `Res::"type/id/scope"` with attributes `rtype`, `rid`
//!   and its scope as parent; each user is `User::"US…"` with attribute `active`;
//! - each assignment is one `permit` whose scope is `principal == User::"…"` and
//!   `resource in Scope::"…"`, whose `when` requires `principal.active`, the role's allow
//!   patterns (`context.permission like "/twilio/voice/*"`; a permission has exactly four
//!   segments, so `like`'s `*` matches what a segment wildcard matches) and, for a
//!   resource-level assignment, that resource; and whose `unless` holds the role's denies
//!   (a role's deny removes only that role's grant, as in orgiam).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use rand::Rng;
use rand::seq::SliceRandom;

use orgiam_domain::catalog::Catalog;
use orgiam_domain::decision::{self, RolePolicy, Roles, Subject, Target};
use orgiam_domain::model::Assignment;
use orgiam_domain::policy::{Pattern, Permission, Policy};
use orgiam_domain::sid::{AccountSid, AssignmentSid, OrgSid, RoleSid, UserSid};

/// The shape of a generated organization.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub accounts: usize,
    pub users: usize,
    /// Custom roles, besides a sample of the built-in ones.
    pub custom_roles: usize,
    pub builtin_roles: usize,
    pub assignments: usize,
    /// Distinct resources (`billing_group/bgN`).
    pub resources: usize,
    /// Share of users that are inactive.
    pub inactive: f64,
    /// Share of assignments on a resource.
    pub on_resource: f64,
}

impl Shape {
    /// A small organization, for the differential test.
    pub fn small() -> Self {
        Self {
            accounts: 6,
            users: 4,
            custom_roles: 3,
            builtin_roles: 3,
            assignments: 12,
            resources: 2,
            inactive: 0.15,
            on_resource: 0.2,
        }
    }

    /// The benchmark's: 10,000 users, 50,000 assignments, 200 custom roles.
    pub fn large() -> Self {
        Self {
            accounts: 500,
            users: 10_000,
            custom_roles: 200,
            builtin_roles: 20,
            assignments: 50_000,
            resources: 4,
            inactive: 0.02,
            on_resource: 0.1,
        }
    }
}

/// A generated organization.
#[derive(Debug, Clone)]
pub struct Org {
    pub org: OrgSid,
    /// Account SID and the index of its parent account.
    pub accounts: Vec<(AccountSid, Option<usize>)>,
    pub users: Vec<(UserSid, bool)>,
    pub roles: Vec<(RoleSid, Policy)>,
    pub assignments: Vec<Assignment>,
    pub resources: Vec<(String, String)>,
}

/// One question.
#[derive(Debug, Clone)]
pub struct Ask {
    pub user: UserSid,
    pub permission: Permission,
    pub scope: String,
    pub resource: Option<(String, String)>,
}

fn pattern_from(p: &Permission, shape: u8) -> Pattern {
    let [a, b, c, d] = p.parts();
    let text = match shape % 7 {
        0 | 6 => format!("/{a}/{b}/{c}/{d}"),
        1 => format!("/{a}/{b}/*"),
        2 => format!("/{a}/*/{c}/{d}"),
        3 => format!("/{a}/{b}/*/{d}"),
        4 => format!("/{a}/{b}/{c}/*"),
        _ => format!("/{a}/*"),
    };
    Pattern::parse(&text).unwrap_or_else(|_| unreachable_pattern())
}

#[allow(clippy::panic)]
fn unreachable_pattern() -> Pattern {
    panic!("patterns made of catalog segments are valid")
}

/// The catalog's permissions.
pub fn permissions(catalog: &Catalog) -> Vec<Permission> {
    catalog
        .permissions
        .iter()
        .map(|p| p.permission.clone())
        .collect()
}

/// A random organization of the given shape.
pub fn generate(rng: &mut impl Rng, shape: Shape, catalog: &Catalog) -> Org {
    generate_in(rng, shape, catalog, OrgSid::random())
}

/// [`generate`] for an organization that exists already.
pub fn generate_in(rng: &mut impl Rng, shape: Shape, catalog: &Catalog, org: OrgSid) -> Org {
    let perms = permissions(catalog);
    let accounts: Vec<(AccountSid, Option<usize>)> = (0..shape.accounts)
        .map(|i| {
            let parent = (i > 0 && rng.gen_bool(0.6)).then(|| rng.gen_range(0..i));
            (AccountSid::random(), parent)
        })
        .collect();
    let users: Vec<(UserSid, bool)> = (0..shape.users.max(1))
        .map(|_| (UserSid::random(), !rng.gen_bool(shape.inactive)))
        .collect();
    let mut roles: Vec<(RoleSid, Policy)> = catalog
        .roles
        .choose_multiple(rng, shape.builtin_roles)
        .map(|r| (r.sid.clone(), r.policy.clone()))
        .collect();
    for _ in 0..shape.custom_roles {
        let allow = (0..rng.gen_range(1..6))
            .map(|_| pattern_from(&perms[rng.gen_range(0..perms.len())], rng.r#gen()))
            .collect();
        let deny: Vec<Pattern> = (0..rng.gen_range(0..3))
            .map(|_| pattern_from(&perms[rng.gen_range(0..perms.len())], rng.gen_range(0..5)))
            .collect();
        roles.push((
            RoleSid::random(),
            Policy {
                allow,
                deny: (!deny.is_empty()).then_some(deny),
            },
        ));
    }
    if roles.is_empty() {
        roles.push((
            RoleSid::random(),
            Policy {
                allow: vec![pattern_from(&perms[0], 1)],
                deny: None,
            },
        ));
    }
    let resources: Vec<(String, String)> = (0..shape.resources.max(1))
        .map(|i| ("billing_group".to_owned(), format!("bg{i}")))
        .collect();
    let scopes: Vec<String> = std::iter::once(org.to_string())
        .chain(accounts.iter().map(|a| a.0.to_string()))
        .collect();
    let assignments = (0..shape.assignments)
        .map(|_| {
            let resource = rng
                .gen_bool(shape.on_resource)
                .then(|| resources[rng.gen_range(0..resources.len())].clone());
            Assignment {
                sid: AssignmentSid::random(),
                org: org.clone(),
                role: roles[rng.gen_range(0..roles.len())].0.clone(),
                scope: scopes[rng.gen_range(0..scopes.len())].clone(),
                identity: users[rng.gen_range(0..users.len())].0.clone(),
                resource_type: resource.as_ref().map(|r| r.0.clone()),
                resource_id: resource.map(|r| r.1),
                date_created: 0,
            }
        })
        .collect();
    Org {
        org,
        accounts,
        users,
        roles,
        assignments,
        resources,
    }
}

impl Org {
    pub fn scopes(&self) -> Vec<String> {
        std::iter::once(self.org.to_string())
            .chain(self.accounts.iter().map(|a| a.0.to_string()))
            .collect()
    }

    /// Random questions: mostly the organization's users at its scopes, some with a resource,
    /// some for strangers and foreign scopes; permissions from the catalog, biased towards
    /// those some assignment of the user may grant, so that both answers are common.
    pub fn asks(&self, rng: &mut impl Rng, n: usize, perms: &[Permission]) -> Vec<Ask> {
        let scopes = self.scopes();
        let mut by_user: HashMap<&UserSid, Vec<&Assignment>> = HashMap::new();
        for a in &self.assignments {
            by_user.entry(&a.identity).or_default().push(a);
        }
        (0..n)
            .map(|_| {
                let user = if rng.gen_bool(0.03) {
                    UserSid::random()
                } else {
                    self.users[rng.gen_range(0..self.users.len())].0.clone()
                };
                let mine = by_user.get(&user);
                let scope = if rng.gen_bool(0.03) {
                    AccountSid::random().to_string()
                } else if let (Some(m), true) = (mine, rng.gen_bool(0.5)) {
                    m[rng.gen_range(0..m.len())].scope.clone()
                } else {
                    scopes[rng.gen_range(0..scopes.len())].clone()
                };
                let permission = match mine {
                    Some(m) if rng.gen_bool(0.6) => {
                        let a = m[rng.gen_range(0..m.len())];
                        let policy = self.roles.iter().find(|r| r.0 == a.role).map(|r| &r.1);
                        let granted: Vec<&Permission> = perms
                            .iter()
                            .filter(|p| {
                                policy.is_some_and(|pol| pol.allow.iter().any(|x| x.matches(p)))
                            })
                            .collect();
                        granted
                            .choose(rng)
                            .map(|p| (*p).clone())
                            .unwrap_or_else(|| perms[rng.gen_range(0..perms.len())].clone())
                    }
                    _ => perms[rng.gen_range(0..perms.len())].clone(),
                };
                let resource = rng
                    .gen_bool(0.2)
                    .then(|| self.resources[rng.gen_range(0..self.resources.len())].clone());
                Ask {
                    user,
                    permission,
                    scope,
                    resource,
                }
            })
            .collect()
    }
}

/// orgiam's side: the decision data, as the server gathers it for a check.
pub struct Orgiam {
    users: HashMap<UserSid, (bool, Vec<Assignment>)>,
    chains: HashMap<String, Vec<String>>,
    roles: Roles,
}

impl Orgiam {
    pub fn new(org: &Org) -> Self {
        let mut users: HashMap<UserSid, (bool, Vec<Assignment>)> = org
            .users
            .iter()
            .map(|(u, active)| (u.clone(), (*active, Vec::new())))
            .collect();
        for a in &org.assignments {
            if let Some(u) = users.get_mut(&a.identity) {
                u.1.push(a.clone());
            }
        }
        let mut chains = HashMap::new();
        chains.insert(org.org.to_string(), vec![org.org.to_string()]);
        for (i, (sid, _)) in org.accounts.iter().enumerate() {
            let mut chain = vec![sid.to_string()];
            let mut at = i;
            while let Some(p) = org.accounts[at].1 {
                chain.push(org.accounts[p].0.to_string());
                at = p;
            }
            chain.push(org.org.to_string());
            chains.insert(sid.to_string(), chain);
        }
        let roles = org
            .roles
            .iter()
            .map(|(sid, p)| (sid.clone(), Arc::new(RolePolicy::new(p))))
            .collect();
        Self {
            users,
            chains,
            roles,
        }
    }

    pub fn decide(&self, ask: &Ask) -> bool {
        let subject = self.users.get(&ask.user).map(|(active, a)| Subject {
            active: *active,
            assignments: a,
        });
        let target = Target {
            permission: &ask.permission,
            chain: self.chains.get(&ask.scope).map(Vec::as_slice),
            resource: ask.resource.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
        };
        decision::decide(subject, target, &self.roles, false).allowed
    }
}

fn type_name(name: &str) -> Result<EntityTypeName, String> {
    EntityTypeName::from_str(name).map_err(|e| e.to_string())
}

/// Cedar's side: the policy set and entities of an organization.
pub struct CedarOrg {
    pub policies: PolicySet,
    pub entities: Entities,
    authorizer: Authorizer,
    user_type: EntityTypeName,
    scope_type: EntityTypeName,
    res_type: EntityTypeName,
    action: EntityUid,
}

fn resource_key(t: &str, i: &str, scope: &str) -> String {
    format!("{t}/{i}/{scope}")
}

/// The `like` form of a pattern (its `*` are Cedar's wildcard; nothing else needs escaping).
fn like(p: &Pattern) -> String {
    format!("context.permission like \"{}\"", p.as_str())
}

/// The Cedar policy of one assignment, or `None` when its role allows nothing.
pub fn assignment_policy(a: &Assignment, policy: &Policy) -> Option<String> {
    if policy.allow.is_empty() {
        return None;
    }
    let allows: Vec<String> = policy.allow.iter().map(like).collect();
    let mut when = format!("principal.active && ({})", allows.join(" || "));
    if let (Some(t), Some(i)) = (&a.resource_type, &a.resource_id) {
        when.push_str(&format!(
            " && resource has rtype && resource.rtype == \"{t}\" && resource.rid == \"{i}\""
        ));
    }
    let unless = match &policy.deny {
        Some(d) if !d.is_empty() => {
            let denies: Vec<String> = d.iter().map(like).collect();
            format!(" unless {{ {} }}", denies.join(" || "))
        }
        _ => String::new(),
    };
    Some(format!(
        "@id(\"{}\")\npermit(principal == User::\"{}\", action, resource in Scope::\"{}\") when {{ {when} }}{unless};\n",
        a.sid, a.identity, a.scope
    ))
}

impl CedarOrg {
    /// The policy set of `assignments` (all of the organization's, or a slice of them).
    pub fn policy_text(org: &Org, assignments: &[Assignment]) -> String {
        let roles: HashMap<&RoleSid, &Policy> = org.roles.iter().map(|(s, p)| (s, p)).collect();
        assignments
            .iter()
            .filter_map(|a| roles.get(&a.role).and_then(|p| assignment_policy(a, p)))
            .collect()
    }

    pub fn new(org: &Org) -> Result<Self, String> {
        Self::with_policies(org, &Self::policy_text(org, &org.assignments))
    }

    pub fn with_policies(org: &Org, text: &str) -> Result<Self, String> {
        let policies = PolicySet::from_str(text).map_err(|e| format!("{e:?}"))?;
        let user_type = type_name("User")?;
        let scope_type = type_name("Scope")?;
        let res_type = type_name("Res")?;
        let uid = |t: &EntityTypeName, id: &str| {
            EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
        };
        let mut entities: Vec<Entity> = Vec::new();
        for (u, active) in &org.users {
            let attrs =
                HashMap::from([("active".to_owned(), RestrictedExpression::new_bool(*active))]);
            entities.push(
                Entity::new(uid(&user_type, u.as_str()), attrs, HashSet::new())
                    .map_err(|e| e.to_string())?,
            );
        }
        let org_uid = uid(&scope_type, org.org.as_str());
        let mut scopes = vec![(org.org.to_string(), HashSet::new())];
        for (sid, parent) in &org.accounts {
            let p = match parent {
                Some(i) => uid(&scope_type, org.accounts[*i].0.as_str()),
                None => org_uid.clone(),
            };
            scopes.push((sid.to_string(), HashSet::from([p])));
        }
        for (sid, parents) in &scopes {
            entities.push(Entity::new_no_attrs(uid(&scope_type, sid), parents.clone()));
            for (t, i) in &org.resources {
                let attrs = HashMap::from([
                    (
                        "rtype".to_owned(),
                        RestrictedExpression::new_string(t.clone()),
                    ),
                    (
                        "rid".to_owned(),
                        RestrictedExpression::new_string(i.clone()),
                    ),
                ]);
                entities.push(
                    Entity::new(
                        uid(&res_type, &resource_key(t, i, sid)),
                        attrs,
                        HashSet::from([uid(&scope_type, sid)]),
                    )
                    .map_err(|e| e.to_string())?,
                );
            }
        }
        let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
        let action = uid(&type_name("Action")?, "check");
        Ok(Self {
            policies,
            entities,
            authorizer: Authorizer::new(),
            user_type,
            scope_type,
            res_type,
            action,
        })
    }

    /// The Cedar request of a question (built once, outside any timing).
    pub fn request(&self, ask: &Ask) -> Result<Request, String> {
        let principal = EntityUid::from_type_name_and_id(
            self.user_type.clone(),
            EntityId::new(ask.user.as_str()),
        );
        let resource = match &ask.resource {
            None => {
                EntityUid::from_type_name_and_id(self.scope_type.clone(), EntityId::new(&ask.scope))
            }
            Some((t, i)) => EntityUid::from_type_name_and_id(
                self.res_type.clone(),
                EntityId::new(resource_key(t, i, &ask.scope)),
            ),
        };
        let context = Context::from_pairs([(
            "permission".to_owned(),
            RestrictedExpression::new_string(ask.permission.to_string()),
        )])
        .map_err(|e| e.to_string())?;
        Request::new(principal, self.action.clone(), resource, context, None)
            .map_err(|e| e.to_string())
    }

    /// [`CedarOrg::is_authorized`] against another policy set over the same entities (a
    /// slice of the organization's policies).
    pub fn is_authorized_in(&self, policies: &PolicySet, request: &Request) -> bool {
        self.authorizer
            .is_authorized(request, policies, &self.entities)
            .decision()
            == Decision::Allow
    }

    pub fn is_authorized(&self, request: &Request) -> bool {
        self.authorizer
            .is_authorized(request, &self.policies, &self.entities)
            .decision()
            == Decision::Allow
    }

    pub fn decide(&self, ask: &Ask) -> Result<bool, String> {
        Ok(self.is_authorized(&self.request(ask)?))
    }
}
