//! The decision against a brute-force oracle: every assignment of the organization and every
//! catalog permission, with the scope hierarchy walked one parent at a time.

use super::*;
use crate::model::Assignment;
use crate::policy::Policy;
use crate::sid::{AccountSid, AssignmentSid, OrgSid};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashSet};

fn catalog() -> Catalog {
    Catalog::builtin().expect("the shipped catalog parses")
}

/// A random organization: accounts nested under earlier ones, users, custom roles and
/// assignments.
#[derive(Debug, Clone)]
struct World {
    org: String,
    /// Account SID and the index of its parent account.
    accounts: Vec<(String, Option<usize>)>,
    users: Vec<(UserSid, bool)>,
    roles: Vec<(RoleSid, Policy)>,
    assignments: Vec<Assignment>,
}

const RESOURCES: &[(&str, &str)] = &[("billing_group", "bg1"), ("billing_group", "bg2")];

impl World {
    fn scopes(&self) -> Vec<String> {
        let mut s = vec![self.org.clone()];
        s.extend(self.accounts.iter().map(|a| a.0.clone()));
        s
    }

    /// The scope's chain, built by following parents.
    fn chain(&self, scope: &str) -> Option<Vec<String>> {
        if scope == self.org {
            return Some(vec![self.org.clone()]);
        }
        let mut i = self.accounts.iter().position(|a| a.0 == scope)?;
        let mut out = vec![self.accounts[i].0.clone()];
        while let Some(p) = self.accounts[i].1 {
            out.push(self.accounts[p].0.clone());
            i = p;
        }
        out.push(self.org.clone());
        Some(out)
    }

    fn roles(&self) -> Roles {
        self.roles
            .iter()
            .map(|(sid, p)| (sid.clone(), Arc::new(RolePolicy::new(p))))
            .collect()
    }

    fn policy(&self, role: &RoleSid) -> Option<&Policy> {
        self.roles.iter().find(|r| &r.0 == role).map(|r| &r.1)
    }

    /// Whether `ancestor` is `scope` or above it, walking one parent at a time.
    fn covers(&self, ancestor: &str, scope: &str) -> bool {
        if ancestor == self.org || ancestor == scope {
            return scope == self.org || self.accounts.iter().any(|a| a.0 == scope);
        }
        let Some(mut i) = self.accounts.iter().position(|a| a.0 == scope) else {
            return false;
        };
        while let Some(p) = self.accounts[i].1 {
            if self.accounts[p].0 == ancestor {
                return true;
            }
            i = p;
        }
        false
    }

    /// The oracle: every assignment of the organization, scanned.
    fn oracle(
        &self,
        user: &UserSid,
        perm: &Permission,
        scope: &str,
        resource: Option<(&str, &str)>,
    ) -> (Reason, BTreeSet<String>) {
        let Some((_, active)) = self.users.iter().find(|u| &u.0 == user) else {
            return (Reason::UnknownIdentity, BTreeSet::new());
        };
        if scope != self.org && !self.accounts.iter().any(|a| a.0 == scope) {
            return (Reason::ScopeOutsideOrganization, BTreeSet::new());
        }
        if !active {
            return (Reason::InactiveUser, BTreeSet::new());
        }
        let mut grants = BTreeSet::new();
        let mut denied = false;
        for a in &self.assignments {
            if &a.identity != user || !self.covers(&a.scope, scope) {
                continue;
            }
            let res_ok = match (&a.resource_type, &a.resource_id) {
                (Some(t), Some(i)) => resource == Some((t.as_str(), i.as_str())),
                _ => true,
            };
            if !res_ok {
                continue;
            }
            let Some(policy) = self.policy(&a.role) else {
                continue;
            };
            if policy.allows(perm) {
                grants.insert(a.sid.to_string());
            } else if policy.allow.iter().any(|p| p.matches(perm))
                && policy.deny.iter().flatten().any(|p| p.matches(perm))
            {
                denied = true;
            }
        }
        let reason = if !grants.is_empty() {
            Reason::Granted
        } else if denied {
            Reason::DeniedByRole
        } else {
            Reason::NoAssignment
        };
        (reason, grants)
    }
}

/// Patterns drawn from the catalog's own permissions: concrete ones, and ones with `*`.
fn pattern_from(p: &Permission, shape: u8) -> Pattern {
    let [a, b, c, d] = p.parts();
    let text = match shape % 6 {
        0 => format!("/{a}/{b}/{c}/{d}"),
        1 => format!("/{a}/{b}/*"),
        2 => format!("/{a}/*/{c}/{d}"),
        3 => format!("/{a}/{b}/*/{d}"),
        4 => format!("/{a}/{b}/{c}/*"),
        _ => "/*".to_owned(),
    };
    Pattern::parse(&text).expect("a valid pattern")
}

fn world() -> impl Strategy<Value = World> {
    let perms: Vec<Permission> = catalog()
        .permissions
        .into_iter()
        .map(|p| p.permission)
        .collect();
    let builtin: Vec<(RoleSid, Policy)> = catalog()
        .roles
        .into_iter()
        .map(|r| (r.sid, r.policy))
        .collect();
    let n = perms.len();
    let custom = prop::collection::vec(
        (
            prop::collection::vec((0..n, any::<u8>()), 1..5),
            prop::collection::vec((0..n, any::<u8>()), 0..3),
        ),
        0..4,
    );
    let accounts = prop::collection::vec(prop::option::of(0usize..8), 0..6);
    let users = prop::collection::vec(prop::bool::weighted(0.85), 1..4);
    let picks = prop::collection::vec(0usize..builtin.len(), 1..4);
    let assigns = prop::collection::vec(
        (
            any::<usize>(),
            any::<usize>(),
            any::<usize>(),
            prop::option::weighted(0.2, 0..RESOURCES.len()),
        ),
        0..14,
    );
    (custom, accounts, users, picks, assigns).prop_map(
        move |(custom, accounts, users, picks, assigns)| {
            let org = OrgSid::random().to_string();
            let accounts: Vec<(String, Option<usize>)> = accounts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let parent = p.filter(|p| *p < i);
                    (AccountSid::random().to_string(), parent)
                })
                .collect();
            let users: Vec<(UserSid, bool)> =
                users.into_iter().map(|a| (UserSid::random(), a)).collect();
            let mut roles: Vec<(RoleSid, Policy)> =
                picks.iter().map(|i| builtin[*i].clone()).collect();
            for (allow, deny) in custom {
                let allow = allow.iter().map(|(i, s)| pattern_from(&perms[*i], *s));
                let deny: Vec<Pattern> = deny
                    .iter()
                    .map(|(i, s)| pattern_from(&perms[*i], s % 5))
                    .collect();
                roles.push((
                    RoleSid::random(),
                    Policy {
                        allow: allow.collect(),
                        deny: (!deny.is_empty()).then_some(deny),
                    },
                ));
            }
            let scopes: Vec<String> = std::iter::once(org.clone())
                .chain(accounts.iter().map(|a| a.0.clone()))
                .collect();
            let assignments = assigns
                .into_iter()
                .map(|(u, r, s, res)| {
                    let res = res.map(|i| RESOURCES[i]);
                    Assignment {
                        sid: AssignmentSid::random(),
                        org: OrgSid::parse(&org).expect("org sid"),
                        role: roles[r % roles.len()].0.clone(),
                        scope: scopes[s % scopes.len()].clone(),
                        identity: users[u % users.len()].0.clone(),
                        resource_type: res.map(|r| r.0.to_owned()),
                        resource_id: res.map(|r| r.1.to_owned()),
                        date_created: 0,
                    }
                })
                .collect();
            World {
                org,
                accounts,
                users,
                roles,
                assignments,
            }
        },
    )
}

fn subject_of<'a>(w: &'a World, user: &UserSid, mine: &'a [Assignment]) -> Option<Subject<'a>> {
    w.users.iter().find(|u| &u.0 == user).map(|u| Subject {
        active: u.1,
        assignments: mine,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn decisions_agree_with_the_oracle(w in world()) {
        let c = catalog();
        let roles = w.roles();
        let foreign = AccountSid::random().to_string();
        let stranger = UserSid::random();
        let mut scopes = w.scopes();
        scopes.push(foreign.clone());
        let mut users: Vec<UserSid> = w.users.iter().map(|u| u.0.clone()).collect();
        users.push(stranger);
        let resources: Vec<Option<(&str, &str)>> = vec![None, Some(RESOURCES[0])];
        for user in &users {
            let mine: Vec<Assignment> = w.assignments.iter().filter(|a| &a.identity == user).cloned().collect();
            let subject = subject_of(&w, user, &mine);
            for scope in &scopes {
                let chain = w.chain(scope);
                for resource in &resources {
                    for cp in &c.permissions {
                        let target = Target { permission: &cp.permission, chain: chain.as_deref(), resource: *resource };
                        let (want, want_grants) = w.oracle(user, &cp.permission, scope, *resource);
                        let quick = decide(subject, target, &roles, false);
                        prop_assert_eq!(quick.reason, want, "{} {} {:?}", cp.permission, scope, resource);
                        prop_assert_eq!(quick.allowed, want == Reason::Granted);
                        let explained = decide(subject, target, &roles, true);
                        prop_assert_eq!(explained.reason, want);
                        let got: BTreeSet<String> = explained.grants.iter().map(|g| g.assignment_sid.clone()).collect();
                        prop_assert_eq!(&got, &want_grants);
                        if want == Reason::DeniedByRole {
                            prop_assert!(!explained.denials.is_empty());
                        }
                        // Every other assignment that would grant it is a candidate for the
                        // nearest grant; none of them applies here.
                        if let (Some(s), Some(_)) = (subject, chain.as_ref()) {
                            for a in other_grants(s, target, &roles) {
                                prop_assert!(!want_grants.contains(a.sid.as_str()));
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn effective_permissions_and_holders_agree_with_the_oracle(w in world()) {
        let c = catalog();
        let roles = w.roles();
        for scope in w.scopes() {
            let chain = w.chain(&scope).expect("a scope of the organization");
            let mut rows: Vec<(Assignment, bool)> = w.assignments.iter().map(|a| {
                let active = w.users.iter().any(|u| u.0 == a.identity && u.1);
                (a.clone(), active)
            }).collect();
            rows.sort_by(|a, b| (&a.0.identity, &a.0.sid).cmp(&(&b.0.identity, &b.0.sid)));
            for (user, _) in &w.users {
                let mine: Vec<Assignment> = w.assignments.iter().filter(|a| &a.identity == user).cloned().collect();
                let subject = subject_of(&w, user, &mine).expect("a user");
                let eff = effective_permissions(subject, &chain, None, &roles, &c);
                let got: HashSet<&Permission> = eff.iter().map(|e| &e.permission.permission).collect();
                for cp in &c.permissions {
                    let (want, grants) = w.oracle(user, &cp.permission, &scope, None);
                    prop_assert_eq!(got.contains(&cp.permission), want == Reason::Granted, "{}", cp.permission);
                    if let Some(e) = eff.iter().find(|e| e.permission.permission == cp.permission) {
                        let g: BTreeSet<String> = e.grants.iter().map(|g| g.assignment_sid.clone()).collect();
                        prop_assert_eq!(g, grants);
                    }
                }
            }
            for cp in c.permissions.iter().step_by(3) {
                let target = Target { permission: &cp.permission, chain: Some(&chain), resource: None };
                let got: Vec<UserSid> = holders(&rows, target, &roles).into_iter().map(|h| h.identity).collect();
                let mut want: Vec<UserSid> = w.users.iter()
                    .filter(|(u, _)| w.oracle(u, &cp.permission, &scope, None).0 == Reason::Granted)
                    .map(|u| u.0.clone()).collect();
                want.sort();
                prop_assert_eq!(got, want, "{}", cp.permission);
            }
        }
    }
}

fn assignment(role: &RoleSid, scope: &str, user: &UserSid) -> Assignment {
    Assignment {
        sid: AssignmentSid::random(),
        org: OrgSid::random(),
        role: role.clone(),
        scope: scope.to_owned(),
        identity: user.clone(),
        resource_type: None,
        resource_id: None,
        date_created: 0,
    }
}

#[test]
fn a_denial_names_the_nearest_grant() {
    let perm = Permission::parse("/twilio/voice/calls/create").expect("permission");
    let role = RoleSid::random();
    let roles: Roles = [(
        role.clone(),
        Arc::new(RolePolicy::new(&Policy {
            allow: vec![Pattern::parse("/twilio/voice/*").expect("pattern")],
            deny: None,
        })),
    )]
    .into_iter()
    .collect();
    let (org, a1, a2, sub) = ("OR0", "AC1", "AC2", "AC1s");
    let user = UserSid::random();
    let near = assignment(&role, sub, &user);
    let far = assignment(&role, a2, &user);
    let mine = vec![far.clone(), near.clone()];
    let chains: HashMap<String, Vec<String>> = [
        (sub.to_owned(), vec![sub.into(), a1.into(), org.into()]),
        (a2.to_owned(), vec![a2.into(), org.into()]),
    ]
    .into_iter()
    .collect();
    let here = vec![a1.to_owned(), org.to_owned()];
    let target = Target {
        permission: &perm,
        chain: Some(&here),
        resource: None,
    };
    let subject = Subject {
        active: true,
        assignments: &mine,
    };
    let d = decide(Some(subject), target, &roles, true);
    assert_eq!(d.reason, Reason::NoAssignment);
    let candidates = other_grants(subject, target, &roles);
    assert_eq!(candidates.len(), 2);
    let n = nearest_grant(&candidates, target, &chains, &roles).expect("a nearest grant");
    assert_eq!(n.assignment_sid, near.sid.to_string());
    assert_eq!(n.pattern, "/twilio/voice/*");
}

#[test]
fn a_deny_in_one_role_does_not_take_away_another_roles_grant() {
    let perm = Permission::parse("/twilio/voice/calls/create").expect("permission");
    let (allowing, denying) = (RoleSid::random(), RoleSid::random());
    let roles: Roles = [
        (
            allowing.clone(),
            Arc::new(RolePolicy::new(&Policy {
                allow: vec![Pattern::parse("/twilio/*").expect("pattern")],
                deny: None,
            })),
        ),
        (
            denying.clone(),
            Arc::new(RolePolicy::new(&Policy {
                allow: vec![Pattern::parse("/twilio/voice/*").expect("pattern")],
                deny: Some(vec![
                    Pattern::parse("/twilio/voice/calls/*").expect("pattern"),
                ]),
            })),
        ),
    ]
    .into_iter()
    .collect();
    let user = UserSid::random();
    let here = vec!["OR0".to_owned()];
    let target = Target {
        permission: &perm,
        chain: Some(&here),
        resource: None,
    };
    let only_deny = vec![assignment(&denying, "OR0", &user)];
    let d = decide(
        Some(Subject {
            active: true,
            assignments: &only_deny,
        }),
        target,
        &roles,
        true,
    );
    assert_eq!((d.allowed, d.reason), (false, Reason::DeniedByRole));
    assert_eq!(d.denials[0].pattern, "/twilio/voice/calls/*");
    let both = vec![
        assignment(&denying, "OR0", &user),
        assignment(&allowing, "OR0", &user),
    ];
    let d = decide(
        Some(Subject {
            active: true,
            assignments: &both,
        }),
        target,
        &roles,
        true,
    );
    assert_eq!((d.allowed, d.reason), (true, Reason::Granted));
    assert_eq!(d.grants.len(), 1);
    assert_eq!(d.denials.len(), 1);
}
