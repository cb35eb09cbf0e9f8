//! Effective permissions as a service, between the routes (and `orgiam check`) and the store:
//! it reads what a question needs — the users, their assignments, the scopes' chains, the
//! roles — straight from the store, so an answer reflects every change acknowledged before it
//! was asked, on any replica; and lets `orgiam_domain::decision` decide.

/// The maps of the check path hash SIDs with foldhash (per-process random seed): SipHash was a
/// quarter of a batch's server time.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
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
use orgiam_domain::store::{ACCESS_REVISION, ROLES_REVISION, Store};
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
    users: std::collections::HashMap<UserSid, bool>,
    assignments: HashMap<UserSid, Vec<Assignment>>,
    chains: HashMap<String, Option<Vec<String>>>,
    roles: Roles,
}

/// Custom roles' compiled policies, as of one value of the store's roles revision (which every
/// change of a custom role bumps, in its transaction). A request reads the revision first (one
/// small statement instead of one read per custom role); entries read at another revision are
/// never served: the first request that sees a newer revision empties the cache. An entry
/// stored under revision `r` was read after `r` was, so it is what the store held at `r` or
/// later — what a request that began at `r` may see.
#[derive(Default)]
pub struct RoleCache {
    held: std::sync::Mutex<(i64, CompiledRoles)>,
}

/// Custom roles' compiled policies by organization and SID (`None`: no such custom role).
type CompiledRoles = HashMap<(OrgSid, RoleSid), Option<Arc<RolePolicy>>>;

impl RoleCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, rev: i64, org: &OrgSid, sid: &RoleSid) -> Option<Option<Arc<RolePolicy>>> {
        let held = self.held.lock().ok()?;
        if held.0 != rev {
            return None;
        }
        held.1.get(&(org.clone(), sid.clone())).cloned()
    }

    fn put(&self, rev: i64, org: &OrgSid, sid: &RoleSid, policy: Option<Arc<RolePolicy>>) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        if held.0 < rev {
            *held = (rev, HashMap::default());
        }
        if held.0 == rev {
            held.1.insert((org.clone(), sid.clone()), policy);
        }
    }
}

/// The roles `sids` name: built-ins from memory; custom ones through `cache` (when given, at
/// the store's current roles revision) or from the store.
async fn roles_of(
    store: &dyn Store,
    cache: Option<&RoleCache>,
    org: &OrgSid,
    sids: HashSet<&RoleSid>,
) -> Result<Roles> {
    roles_at(store, cache, None, org, sids).await
}

/// [`roles_of`], with the roles revision when the caller has read it already.
async fn roles_at(
    store: &dyn Store,
    cache: Option<&RoleCache>,
    mut rev: Option<i64>,
    org: &OrgSid,
    sids: HashSet<&RoleSid>,
) -> Result<Roles> {
    let mut roles = Roles::default();
    for sid in sids {
        if let Some(r) = BUILTIN.get(sid) {
            roles.insert(sid.clone(), r.clone());
            continue;
        }
        let Some(cache) = cache else {
            if let Some(role) = store.role(org, sid).await? {
                roles.insert(sid.clone(), Arc::new(RolePolicy::new(&role.policy)));
            }
            continue;
        };
        let rev = match rev {
            Some(r) => r,
            None => *rev.insert(store.revision(ROLES_REVISION).await?),
        };
        let policy = match cache.get(rev, org, sid) {
            Some(p) => p,
            None => {
                let p = store
                    .role(org, sid)
                    .await?
                    .map(|role| Arc::new(RolePolicy::new(&role.policy)));
                cache.put(rev, org, sid, p.clone());
                p
            }
        };
        if let Some(p) = policy {
            roles.insert(sid.clone(), p);
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

async fn load(
    store: &dyn Store,
    cache: Option<&RoleCache>,
    org: &OrgSid,
    checks: &[Check],
) -> Result<Loaded> {
    let mut ids: Vec<UserSid> = checks.iter().map(|c| c.identity.clone()).collect();
    ids.sort();
    ids.dedup();
    let users = store.access().users_active(org, &ids).await?;
    let known: Vec<UserSid> = ids.into_iter().filter(|u| users.contains_key(u)).collect();
    let mut assignments: HashMap<UserSid, Vec<Assignment>> = HashMap::default();
    for a in store.access().assignments_of(org, &known).await? {
        assignments.entry(a.identity.clone()).or_default().push(a);
    }
    let mut chains = HashMap::default();
    let scopes: Vec<String> = checks.iter().map(|c| c.scope.clone()).collect();
    chains_of(store, org, &scopes, &mut chains).await?;
    let roles = roles_of(
        store,
        cache,
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
    index: Option<&DecisionIndex>,
    org: &OrgSid,
    checks: &[Check],
    explain: bool,
) -> Result<Vec<CheckResult>> {
    if let Some(index) = index.filter(|i| i.enabled && !explain) {
        return index.check(store, org, checks).await;
    }
    let cache = index.map(|i| &i.roles);
    let mut loaded = load(store, cache, org, checks).await?;
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
    let known: std::collections::HashMap<String, Vec<String>> = loaded
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

/// A user as a check needs it: the `active` flag and every assignment.
struct Held {
    active: bool,
    assignments: Vec<Assignment>,
}

/// One organization's decision data in memory: users loaded when first asked about (those
/// of the organization only), and scope chains (accounts never move, so a chain, once read,
/// stays true). Identities and scopes asked about and not found in the organization are
/// remembered too, until the next change of the `access` revision (creating a user or an
/// account moves it): a batch that keeps asking about a stranger reads the store once.
#[derive(Default)]
struct OrgData {
    users: HashMap<UserSid, Arc<Held>>,
    chains: HashMap<String, Arc<[String]>>,
    absent_users: HashSet<UserSid>,
    absent_scopes: HashSet<String>,
}

/// Strangers remembered per organization before the memory of them is emptied.
const MAX_ABSENT: usize = 100_000;

struct IndexState {
    /// The `access` revision every change up to which has been applied (-1: not anchored).
    rev: i64,
    /// The audit position up to which events have been applied.
    cursor: i64,
    orgs: HashMap<OrgSid, OrgData>,
}

/// Users held in memory per organization before it is emptied (a bound on memory: ~1 KB
/// each with a handful of assignments).
const MAX_HELD_USERS: usize = 1_000_000;

/// Audit events behind which catching up empties the index instead of reading them.
const MAX_TAIL: i64 = 20_000;

/// Events read per statement while catching up.
const TAIL_BATCH: u32 = 1000;

/// Permission checks' decision data in memory, per organization, kept up to date with the
/// store incrementally. A check knows which changes it must see from the store's revision
/// counters; when the `access` counter moved, the audit events since the last catch-up are
/// read and only the users they name are dropped (reloaded when next asked about): a change
/// costs the same whatever the organization's size.
///
/// The counters are read from the store only when they may have moved: when this process
/// committed a change checks read since the last read ([`orgiam_store::access_commits`],
/// counted after each commit, so a check that follows an acknowledged change on this replica
/// sees it), or when the revision poll (every `poll_interval`, 250 ms by default) saw them
/// ahead of the last read (so changes of other replicas and of the command line are seen
/// within about one poll). Otherwise a check touches no database at all.
pub struct DecisionIndex {
    /// Off (`decision_index = false`): every check reads the store, as with `explain`.
    pub enabled: bool,
    pub roles: RoleCache,
    state: std::sync::RwLock<IndexState>,
    catching_up: tokio::sync::Mutex<()>,
    /// The `access` and `roles` counters as the revision poll last read them.
    polled: std::sync::Mutex<(i64, i64)>,
    /// The last read of the counters by a check: this process's access commits counted
    /// before it, then `access` and `roles`.
    read: std::sync::Mutex<Option<(u64, i64, i64)>>,
}

fn poisoned() -> Error {
    Error::internal("the decision index's lock was poisoned")
}

/// The user an access-changing event is about, if it names one.
fn event_user(e: &orgiam_domain::model::AuditEvent) -> Option<UserSid> {
    use orgiam_domain::model::actions;
    let text = match e.action.as_str() {
        actions::ROLE_ASSIGNMENT_CREATED => e.after.as_ref()?.get("identity")?.as_str()?,
        actions::ROLE_ASSIGNMENT_DELETED => e.before.as_ref()?.get("identity")?.as_str()?,
        actions::USER_ACTIVATED
        | actions::USER_DEACTIVATED
        | actions::USER_CREATED
        | actions::USER_UPDATED
        | actions::USER_DELETED => e.target.as_str(),
        _ => return None,
    };
    UserSid::parse(text).ok()
}

/// Whether an event changes what checks read about users (then it must name the user).
fn is_user_change(action: &str) -> bool {
    use orgiam_domain::model::actions;
    matches!(
        action,
        actions::ROLE_ASSIGNMENT_CREATED
            | actions::ROLE_ASSIGNMENT_DELETED
            | actions::USER_ACTIVATED
            | actions::USER_DEACTIVATED
            | actions::USER_CREATED
            | actions::USER_UPDATED
            | actions::USER_DELETED
    )
}

impl DecisionIndex {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            roles: RoleCache::new(),
            state: std::sync::RwLock::new(IndexState {
                rev: -1,
                cursor: 0,
                orgs: HashMap::default(),
            }),
            catching_up: tokio::sync::Mutex::new(()),
            polled: std::sync::Mutex::new((0, 0)),
            read: std::sync::Mutex::new(None),
        }
    }

    /// What the revision poll read of the store's counters.
    pub fn polled(&self, revisions: &std::collections::HashMap<String, i64>) {
        let rev = |name: &str| revisions.get(name).copied().unwrap_or(0);
        if let Ok(mut p) = self.polled.lock() {
            *p = (rev(ACCESS_REVISION), rev(ROLES_REVISION));
        }
    }

    /// The `access` and `roles` counters a check must see: those of the last read, unless
    /// this process committed a change since or the poll saw them move; then the store's.
    async fn counters(&self, store: &dyn Store) -> Result<(i64, i64)> {
        let commits = orgiam_store::access_commits();
        let last = *self.read.lock().map_err(|_| poisoned())?;
        if let Some((seen, access, roles)) = last {
            let (p_access, p_roles) = *self.polled.lock().map_err(|_| poisoned())?;
            if seen == commits && p_access <= access && p_roles <= roles {
                return Ok((access, roles));
            }
        }
        let revisions = store.revisions().await?;
        let access = revisions.get(ACCESS_REVISION).copied().unwrap_or(0);
        let roles = revisions.get(ROLES_REVISION).copied().unwrap_or(0);
        *self.read.lock().map_err(|_| poisoned())? = Some((commits, access, roles));
        Ok((access, roles))
    }

    /// Users and assignments held now (for the benchmark and the tests).
    pub fn held(&self) -> (usize, usize) {
        self.state.read().map_or((0, 0), |s| {
            let users = s.orgs.values().map(|o| o.users.len()).sum();
            let assignments = s
                .orgs
                .values()
                .flat_map(|o| o.users.values())
                .map(|h| h.assignments.len())
                .sum();
            (users, assignments)
        })
    }

    /// Brings the index up to at least the `access` revision `wanted`; returns the revision
    /// it is at.
    async fn follow(&self, store: &dyn Store, wanted: i64) -> Result<i64> {
        let at = self.state.read().map_err(|_| poisoned())?.rev;
        if at >= wanted {
            return Ok(at);
        }
        let _one = self.catching_up.lock().await;
        let (at, cursor) = {
            let s = self.state.read().map_err(|_| poisoned())?;
            (s.rev, s.cursor)
        };
        if at >= wanted {
            return Ok(at);
        }
        // Every change counted up to `rev` has its event at or before `upto`.
        let (rev, upto) = store.access().access_position().await?;
        let mut dropped: Vec<(OrgSid, UserSid)> = Vec::new();
        let mut clear: HashSet<OrgSid> = HashSet::default();
        let mut clear_all = at < 0 || upto - cursor > MAX_TAIL;
        let mut after = cursor;
        while !clear_all && after < upto {
            let events = store.audit_events_after(after, TAIL_BATCH).await?;
            let full = events.len() == TAIL_BATCH as usize;
            for (seq, e) in events {
                if seq > upto {
                    break;
                }
                after = seq;
                let Some(org) = &e.org else { continue };
                if !is_user_change(&e.action) {
                    continue;
                }
                match event_user(&e) {
                    Some(u) => dropped.push((org.clone(), u)),
                    None => {
                        clear.insert(org.clone());
                    }
                }
            }
            if !full {
                break;
            }
            if dropped.len() > MAX_TAIL as usize {
                clear_all = true;
            }
        }
        let mut s = self.state.write().map_err(|_| poisoned())?;
        if clear_all {
            s.orgs.clear();
        } else {
            for org in &clear {
                s.orgs.remove(org);
            }
            for (org, user) in &dropped {
                if let Some(o) = s.orgs.get_mut(org) {
                    o.users.remove(user);
                }
            }
        }
        if rev != s.rev {
            for o in s.orgs.values_mut() {
                o.absent_users.clear();
                o.absent_scopes.clear();
            }
        }
        s.rev = rev;
        s.cursor = upto;
        Ok(rev)
    }

    async fn check(
        &self,
        store: &dyn Store,
        org: &OrgSid,
        checks: &[Check],
    ) -> Result<Vec<CheckResult>> {
        let (access, roles_rev) = self.counters(store).await?;
        let seen = self.follow(store, access).await?;

        let mut users: HashMap<&UserSid, Arc<Held>> = HashMap::default();
        let mut chains: HashMap<&str, Arc<[String]>> = HashMap::default();
        let mut missing_users: Vec<UserSid> = Vec::new();
        let mut missing_scopes: Vec<String> = Vec::new();
        {
            let s = self.state.read().map_err(|_| poisoned())?;
            let data = s.orgs.get(org);
            for c in checks {
                if !users.contains_key(&c.identity) {
                    match data.and_then(|d| d.users.get(&c.identity)) {
                        Some(h) => {
                            users.insert(&c.identity, h.clone());
                        }
                        None if data.is_some_and(|d| d.absent_users.contains(&c.identity)) => {}
                        None => missing_users.push(c.identity.clone()),
                    }
                }
                if !chains.contains_key(c.scope.as_str()) {
                    match data.and_then(|d| d.chains.get(&c.scope)) {
                        Some(ch) => {
                            chains.insert(c.scope.as_str(), ch.clone());
                        }
                        None if data.is_some_and(|d| d.absent_scopes.contains(&c.scope)) => {}
                        None => missing_scopes.push(c.scope.clone()),
                    }
                }
            }
        }
        missing_users.sort();
        missing_users.dedup();
        missing_scopes.sort();
        missing_scopes.dedup();
        let mut loaded: Vec<(UserSid, Arc<Held>)> = Vec::new();
        let mut strangers: Vec<UserSid> = Vec::new();
        if !missing_users.is_empty() {
            let flags = store.access().users_active(org, &missing_users).await?;
            let (known, unknown): (Vec<UserSid>, Vec<UserSid>) = missing_users
                .into_iter()
                .partition(|u| flags.contains_key(u));
            strangers = unknown;
            let mut by_user: HashMap<UserSid, Vec<Assignment>> = HashMap::default();
            if !known.is_empty() {
                for a in store.access().assignments_of(org, &known).await? {
                    by_user.entry(a.identity.clone()).or_default().push(a);
                }
            }
            for u in known {
                let held = Held {
                    active: flags.get(&u).copied().unwrap_or(false),
                    assignments: by_user.remove(&u).unwrap_or_default(),
                };
                loaded.push((u, Arc::new(held)));
            }
        }
        let mut found_chains: Vec<(String, Arc<[String]>)> = Vec::new();
        let mut foreign: Vec<String> = Vec::new();
        if !missing_scopes.is_empty() {
            let mut found = store.access().scope_chains(org, &missing_scopes).await?;
            for scope in missing_scopes {
                match found.remove(&scope) {
                    Some(chain) => found_chains.push((scope, chain.into())),
                    None => foreign.push(scope),
                }
            }
        }
        let read_any = !loaded.is_empty() || !found_chains.is_empty();
        if read_any || !strangers.is_empty() || !foreign.is_empty() {
            let mut s = self.state.write().map_err(|_| poisoned())?;
            // Users read while no change was applied since `seen` may be kept: a change that
            // came meanwhile is applied after this (and drops them) or was applied before
            // (then the revision moved on, and what was read is used for this request only).
            let keep_users = s.rev == seen;
            let data = s.orgs.entry(org.clone()).or_default();
            if keep_users {
                if data.users.len() + loaded.len() > MAX_HELD_USERS {
                    data.users.clear();
                }
                for (u, h) in &loaded {
                    data.users.insert(u.clone(), h.clone());
                }
            }
            for (scope, chain) in &found_chains {
                data.chains.insert(scope.clone(), chain.clone());
            }
            // Not found as of `seen`: remembered only while that is still the revision (a
            // user or account created since moved it, and emptied these).
            if keep_users {
                if data.absent_users.len() + strangers.len() > MAX_ABSENT {
                    data.absent_users.clear();
                }
                data.absent_users.extend(strangers);
                if data.absent_scopes.len() + foreign.len() > MAX_ABSENT {
                    data.absent_scopes.clear();
                }
                data.absent_scopes.extend(foreign);
            }
        }
        let loaded: HashMap<UserSid, Arc<Held>> = loaded.into_iter().collect();
        let found_chains: HashMap<String, Arc<[String]>> = found_chains.into_iter().collect();
        let held = |u: &UserSid| users.get(u).or_else(|| loaded.get(u));
        let chain_of = |scope: &str| chains.get(scope).or_else(|| found_chains.get(scope));

        let mut role_sids: HashSet<&RoleSid> = HashSet::default();
        for h in users.values().chain(loaded.values()) {
            role_sids.extend(h.assignments.iter().map(|a| &a.role));
        }
        let roles = roles_at(store, Some(&self.roles), Some(roles_rev), org, role_sids).await?;
        Ok(checks
            .iter()
            .map(|c| {
                let subject = held(&c.identity).map(|h| Subject {
                    active: h.active,
                    assignments: &h.assignments,
                });
                let target = Target {
                    permission: &c.permission,
                    chain: chain_of(&c.scope).map(|ch| &ch[..]),
                    resource: c.resource.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
                };
                let d = decision::decide(subject, target, &roles, false);
                CheckResult {
                    allowed: d.allowed,
                    reason: d.reason,
                    grants: None,
                    denials: None,
                    nearest_grant: None,
                }
            })
            .collect())
    }
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
    index: Option<&DecisionIndex>,
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
    let cache = index.map(|i| &i.roles);
    let chain = chain_or_400(store, org, scope, "Scope").await?;
    let assignments = store
        .access()
        .assignments_of(org, std::slice::from_ref(user))
        .await?;
    let roles = roles_of(
        store,
        cache,
        org,
        assignments.iter().map(|a| &a.role).collect(),
    )
    .await?;
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
    index: Option<&DecisionIndex>,
    org: &OrgSid,
    permission: &Permission,
    scope: &str,
    resource: Option<(&str, &str)>,
) -> Result<Vec<Holder>> {
    let cache = index.map(|i| &i.roles);
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
    let roles = roles_of(
        store,
        cache,
        org,
        rows.iter().map(|(a, _)| &a.role).collect(),
    )
    .await?;
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
