//! The `Store` contract. Every case runs twice, as `sqlite::<case>` on a fresh SQLite file and
//! as `postgres::<case>` on a fresh PostgreSQL database; `engines_agree` runs one fixture
//! through both and compares their answers.
//!
//! PostgreSQL: `ORGIAM_TEST_PG_URL` names a server and a database to connect to for creating
//! the per-test databases (default `postgres://postgres@127.0.0.1:5432/postgres`); each test
//! creates `orgiam_t_<random>` and drops it at the end, even when it fails. Set
//! `ORGIAM_TEST_PG_URL=off` to skip the PostgreSQL half explicitly.
//!
//! Test databases use an ICU `en-US` default collation where the server has one, so ordering
//! that forgot `COLLATE "C"` would show up here.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use orgiam_domain::Error;
use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::{
    Account, Actor, App, AppStatus, Assignment, AssignmentFilter, AuditEvent, AuditFilter, Level,
    MAX_TOKEN_TTL, Org, RevokedToken, Role, RoleFilter, SecretRecord, ServerKeys, SigningKey, User,
    actions, key_slots,
};
use orgiam_domain::page::{Cursor, Direction};
use orgiam_domain::policy::{Pattern, Policy};
use orgiam_domain::sid::{
    AccountSid, AppSid, AssignmentSid, KeySid, OrgSid, RoleSid, UserSid, random_body,
};
use orgiam_domain::store::{
    APPS_REVISION, KEYS_REVISION, REVOCATIONS_REVISION, ROLES_REVISION, Store,
};
use orgiam_store::DatabaseUrl;
use serde_json::{Value, json};
use sqlx::Connection;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

enum Cleanup {
    Dir(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

/// A fresh store, plus a raw pool on the same database for fixtures the trait cannot write.
struct TestDb {
    store: Arc<dyn Store>,
    raw: Raw,
    cleanup: Cleanup,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("orgiam_t_{}", random_body()));
        let url = format!("sqlite://{}", dir.join("store.db").display());
        let store = orgiam_store::connect(&DatabaseUrl::new(url.clone()))
            .await
            .expect("open the SQLite store");
        assert_eq!(store.engine(), "sqlite");
        let raw = sqlx::SqlitePool::connect(&url)
            .await
            .expect("open a raw SQLite pool");
        Self {
            store,
            raw: Raw::Sqlite(raw),
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// `None` when PostgreSQL was switched off with `ORGIAM_TEST_PG_URL=off`.
    async fn postgres() -> Option<Self> {
        let admin_url =
            std::env::var("ORGIAM_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        if admin_url == "off" {
            eprintln!("ORGIAM_TEST_PG_URL=off: skipping the PostgreSQL contract tests");
            return None;
        }
        let name = format!("orgiam_t_{}", random_body());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at {} ({e}); start one, point ORGIAM_TEST_PG_URL at it, \
                 or set ORGIAM_TEST_PG_URL=off to skip these tests",
                DatabaseUrl::new(admin_url.clone()).redacted()
            )
        });
        let icu = format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        );
        if sqlx::query(&icu).execute(&mut admin).await.is_err() {
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut admin)
                .await
                .expect("create the test database");
        }
        let _ = admin.close().await;
        let cleanup = Cleanup::PgDatabase {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };
        let mut url = url::Url::parse(&admin_url).expect("ORGIAM_TEST_PG_URL is a URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let store = orgiam_store::connect(&DatabaseUrl::new(url.clone()))
            .await
            .expect("open the PostgreSQL store");
        assert_eq!(store.engine(), "postgres");
        let raw = sqlx::PgPool::connect(&url)
            .await
            .expect("open a raw PostgreSQL pool");
        Some(Self {
            store,
            raw: Raw::Postgres(raw),
            cleanup,
        })
    }

    /// Inserts a custom role (one with an organization): the trait has no method for it.
    async fn insert_custom_role(&self, r: &Role) {
        let org = r.org.as_ref().expect("a custom role has an organization");
        let policy = serde_json::to_string(&r.policy).unwrap();
        let types = r
            .resource_types
            .as_ref()
            .map(|t| serde_json::to_string(t).unwrap());
        const COLUMNS: &str = "sid, org_sid, name_key, friendly_name, external_description, \
            product_group, product_group_name, lowest_level, policy, resource_types, \
            date_created, date_updated";
        match &self.raw {
            Raw::Sqlite(pool) => {
                sqlx::query(&format!(
                    "INSERT INTO roles ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .bind(r.sid.as_str())
                .bind(org.as_str())
                .bind(Role::name_key(&r.friendly_name))
                .bind(&r.friendly_name)
                .bind(&r.external_description)
                .bind(&r.product_group)
                .bind(&r.product_group_name)
                .bind(r.lowest_level.as_str())
                .bind(policy)
                .bind(types)
                .bind(r.date_created)
                .bind(r.date_updated)
                .execute(pool)
                .await
                .expect("insert a custom role (SQLite)");
            }
            Raw::Postgres(pool) => {
                sqlx::query(&format!(
                    "INSERT INTO roles ({COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)"
                ))
                .bind(r.sid.as_str())
                .bind(org.as_str())
                .bind(Role::name_key(&r.friendly_name))
                .bind(&r.friendly_name)
                .bind(&r.external_description)
                .bind(&r.product_group)
                .bind(&r.product_group_name)
                .bind(r.lowest_level.as_str())
                .bind(policy)
                .bind(types)
                .bind(r.date_created)
                .bind(r.date_updated)
                .execute(pool)
                .await
                .expect("insert a custom role (PostgreSQL)");
            }
        }
    }

    /// Every audit event in the database, whatever its organization.
    async fn count_events(&self) -> i64 {
        const SQL: &str = "SELECT count(*) FROM audit_events";
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
        }
        .expect("count audit events")
    }

    /// Rewrites every event's time from its position: `T0 + (seq / 2) * 10`, so pairs of
    /// neighbours share a second (ties) and the times climb with `seq`.
    async fn spread_event_times(&self) {
        const SQL: &str = "UPDATE audit_events SET date_created = 1700000000 + (seq / 2) * 10";
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(SQL).execute(pool).await.map(|_| ()),
            Raw::Postgres(pool) => sqlx::query(SQL).execute(pool).await.map(|_| ()),
        }
        .expect("rewrite event times");
    }

    /// Backdates a key's retirement (time passing is not something a test can wait for).
    async fn set_key_retired_at(&self, kid: &KeySid, at: i64) {
        let done = match &self.raw {
            Raw::Sqlite(pool) => {
                sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE kid = ?")
                    .bind(at)
                    .bind(kid.as_str())
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            Raw::Postgres(pool) => {
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2")
                    .bind(at)
                    .bind(kid.as_str())
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
        .expect("backdate a key");
        assert_eq!(done, 1, "key {kid} exists");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                // Best effort, also when the test failed; FORCE ends the pools' sessions.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let dropper = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .execute(&mut admin)
                            .await;
                            let _ = admin.close().await;
                        }
                    });
                });
                let _ = dropper.join();
            }
        }
    }
}

/// Declares each case once per engine: `sqlite::<case>` and `postgres::<case>`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = super::TestDb::sqlite().await;
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

contract!(
    ping_and_uninitialized_keys,
    keys_and_bootstrap_happen_exactly_once,
    bootstrap_needs_a_store_without_orgs,
    apps_status_and_revisions,
    rotating_secrets_keeps_at_most_two,
    builtin_role_sync_is_idempotent,
    role_order_filters_and_search,
    role_keyset_paging,
    custom_roles_are_private,
    accounts_parents_owners_and_paging,
    user_email_is_unique_per_org,
    identical_assignments_conflict,
    builtin_assignment_limit,
    assignment_listing_and_deletion,
    audit_events_record_each_change,
    failed_changes_write_no_event,
    audit_listing_order_paging_and_filters,
    signing_key_rotation_retires_or_revokes,
    import_roles_is_private_and_atomic,
    revisions_agree_with_revision,
    reseal_rewrites_every_secret_value_at_once,
    revoked_tokens_are_kept_until_they_expire,
    the_change_feed_follows_every_organization_in_order,
    access_reads_chains_assignments_and_active_flags,
);

// ---------------------------------------------------------------------------------------------
// Fixtures and reference semantics
// ---------------------------------------------------------------------------------------------

const T0: i64 = 1_700_000_000;

fn org(name: &str) -> Org {
    Org {
        sid: OrgSid::random(),
        friendly_name: name.to_owned(),
        date_created: T0,
    }
}

fn policy(allow: &[&str]) -> Policy {
    Policy {
        allow: allow.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
        deny: None,
    }
}

fn app(org: &OrgSid, hash: &[u8]) -> App {
    App {
        sid: AppSid::random(),
        org: org.clone(),
        friendly_name: "ci".into(),
        description: "the CI pipeline".into(),
        status: AppStatus::Active,
        policy: Policy {
            allow: vec![Pattern::parse("/twilio/iam/*").unwrap()],
            deny: Some(vec![
                Pattern::parse("/twilio/iam/role-assignments/delete").unwrap(),
            ]),
        },
        access_token_ttl: 3600,
        date_created: T0,
        date_updated: T0,
        tokens_valid_after: 0,
        secrets: vec![SecretRecord {
            hash: hash.to_vec(),
            expires_at: None,
        }],
        audiences: Vec::new(),
    }
}

fn keys(i: u8) -> (ServerKeys, SigningKey) {
    (
        ServerKeys {
            page_key: vec![i; 32],
            secret_key: vec![i.wrapping_add(100); 32],
        },
        SigningKey {
            kid: KeySid::random(),
            private_der: vec![i; 48],
            public_raw: vec![i; 32],
            created_at: T0 + i64::from(i),
            retired_at: None,
        },
    )
}

async fn new_org(db: &TestDb, name: &str) -> OrgSid {
    let o = org(name);
    db.store
        .create_org(&o, &Actor::cli())
        .await
        .expect("create org");
    o.sid
}

fn user(org: &OrgSid, email: &str) -> User {
    User {
        sid: UserSid::random(),
        org: org.clone(),
        email: email.to_owned(),
        friendly_name: email.to_owned(),
        date_created: T0,
    }
}

async fn new_user(db: &TestDb, org: &OrgSid, email: &str) -> UserSid {
    let u = user(org, email);
    db.store
        .create_user(&u, &Actor::cli())
        .await
        .expect("create user");
    u.sid
}

fn account(org: &OrgSid, parent: Option<&AccountSid>, owner: Option<&UserSid>) -> Account {
    Account {
        sid: AccountSid::random(),
        org: org.clone(),
        parent: parent.cloned(),
        friendly_name: "acct".into(),
        status: "active".into(),
        owner: owner.cloned(),
        date_created: T0,
    }
}

fn assignment(org: &OrgSid, role: &RoleSid, scope: &str, identity: &UserSid) -> Assignment {
    Assignment {
        sid: AssignmentSid::random(),
        org: org.clone(),
        role: role.clone(),
        scope: scope.to_owned(),
        identity: identity.clone(),
        resource_type: None,
        resource_id: None,
        date_created: T0,
    }
}

fn builtin_roles() -> Vec<Role> {
    Catalog::builtin().expect("the built-in catalog").roles
}

fn custom_role(org: &OrgSid, name: &str, group: &str, types: Option<&[&str]>) -> Role {
    Role {
        sid: RoleSid::derived(&format!("{org}/{name}")),
        org: Some(org.clone()),
        friendly_name: name.to_owned(),
        external_description: format!("{name}, made by the organization"),
        product_group: group.to_owned(),
        product_group_name: group.to_uppercase(),
        lowest_level: Level::SubAccount,
        policy: policy(&["/twilio/iam/role-assignments/list", "/twilio/voice/*"]),
        resource_types: types.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        date_created: T0,
        date_updated: T0 + 60,
    }
}

/// Custom roles whose names exercise byte-wise order, case, ties and LIKE metacharacters.
fn tricky_roles(org: &OrgSid) -> Vec<Role> {
    let account: &[&str] = &["account"];
    let both: &[&str] = &["subaccount", "account"];
    let domain: &[&str] = &["domain"];
    let none: &[&str] = &[];
    [
        ("Alpha", "custom-a", Some(account)),
        ("alpha", "custom-a", None),
        ("ALPHA helper", "custom-b", Some(both)),
        ("Zeta", "custom-a", Some(domain)),
        ("Émile Admin", "custom-b", Some(account)),
        ("émile viewer", "custom-b", None),
        ("Ångström", "custom-a", Some(none)),
        ("100% Admin", "custom-a", None),
        ("100 percent", "custom-a", Some(domain)),
        ("under_score", "custom-b", None),
        ("underXscore", "custom-b", Some(account)),
        ("back\\slash", "custom-a", None),
        ("backslash", "custom-a", Some(both)),
        ("a-b", "custom-b", None),
        ("ab", "custom-b", None),
        ("a b", "custom-b", None),
        ("AB", "custom-b", Some(domain)),
        ("ß sharp", "custom-a", None),
        ("_leading", "custom-a", None),
        ("zz top", "custom-a", None),
    ]
    .into_iter()
    .map(|(name, group, types)| custom_role(org, name, group, types))
    .collect()
}

fn key_of(r: &Role) -> (String, String) {
    (Role::name_key(&r.friendly_name), r.sid.as_str().to_owned())
}

fn sorted(mut roles: Vec<Role>) -> Vec<Role> {
    roles.sort_by_key(key_of);
    roles
}

/// The listing's semantics, restated: a lower-cased search is a substring of the lower-cased
/// name or a prefix of the lower-cased SID; the group is exact; resource types are "any of".
fn role_matches(r: &Role, f: &RoleFilter) -> bool {
    let search = f.search.as_ref().is_none_or(|s| {
        Role::name_key(&r.friendly_name).contains(s.as_str())
            || r.sid.as_str().to_lowercase().starts_with(s.as_str())
    });
    let group = f
        .product_group
        .as_ref()
        .is_none_or(|g| &r.product_group == g);
    let types = f.resource_types.as_ref().is_none_or(|want| {
        r.resource_types
            .as_ref()
            .is_some_and(|have| have.iter().any(|t| want.contains(t)))
    });
    search && group && types
}

fn expected_roles(all: &[Role], f: &RoleFilter) -> Vec<Role> {
    sorted(all.iter().filter(|r| role_matches(r, f)).cloned().collect())
}

fn role_cursor(direction: Direction, r: &Role) -> Cursor {
    let (name_key, sid) = key_of(r);
    Cursor {
        direction,
        key: vec![name_key, sid],
    }
}

fn sid_cursor(direction: Direction, sid: &str) -> Cursor {
    Cursor {
        direction,
        key: vec![sid.to_owned()],
    }
}

fn search(s: &str) -> RoleFilter {
    RoleFilter {
        search: Some(s.to_owned()),
        ..RoleFilter::default()
    }
}

fn group(g: &str) -> RoleFilter {
    RoleFilter {
        product_group: Some(g.to_owned()),
        ..RoleFilter::default()
    }
}

fn types(t: &[&str]) -> RoleFilter {
    RoleFilter {
        resource_types: Some(t.iter().map(|s| (*s).to_owned()).collect()),
        ..RoleFilter::default()
    }
}

/// Filters worth asking about the tricky fixture (all lower-cased, as the trait expects).
fn role_filters(sample: &Role) -> Vec<RoleFilter> {
    let sid = sample.sid.as_str().to_lowercase();
    vec![
        RoleFilter::default(),
        search(""),
        search("alpha"),
        search("a"),
        search("admin"),
        search("%"),
        search("100%"),
        search("0% a"),
        search("_"),
        search("r_s"),
        search("\\"),
        search("k\\s"),
        search("é"),
        search("émile"),
        search("ß"),
        search("ix"),
        search(&sid[..6]),
        search(&sid),
        search(&format!("{sid}0")),
        search("no such role"),
        // Every trigram covering it is in "under_score", but it is not a substring of it.
        search("undscore"),
        group("custom-a"),
        group("custom-b"),
        group("billing"),
        group("nope"),
        types(&["account"]),
        types(&["domain", "subaccount"]),
        types(&["billing_group"]),
        types(&["nope"]),
        types(&[]),
        RoleFilter {
            search: Some("a".into()),
            product_group: Some("custom-b".into()),
            resource_types: Some(vec!["account".into(), "domain".into()]),
        },
        RoleFilter {
            search: Some("admin".into()),
            product_group: Some("billing".into()),
            resource_types: None,
        },
    ]
}

/// Seeds the catalog and the tricky custom roles of `org`; returns every role `org` sees.
async fn role_fixture(db: &TestDb, org: &OrgSid) -> Vec<Role> {
    let builtin = builtin_roles();
    db.store.sync_builtin_roles(&builtin).await.expect("sync");
    let custom = tricky_roles(org);
    for r in &custom {
        db.insert_custom_role(r).await;
    }
    builtin.into_iter().chain(custom).collect()
}

/// Walks forward from the start, page by page.
async fn walk_roles_forward(
    store: &dyn Store,
    org: &OrgSid,
    f: &RoleFilter,
    size: u32,
) -> Vec<Role> {
    let mut out: Vec<Role> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .list_roles(org, f, cursor.as_ref(), size)
            .await
            .expect("list roles");
        assert!(page.len() <= size as usize);
        assert_eq!(page, sorted(page.clone()), "a page is ascending");
        let Some(last) = page.last() else { break };
        cursor = Some(role_cursor(Direction::Next, last));
        let short = page.len() < size as usize;
        out.extend(page);
        if short {
            break;
        }
        assert!(out.len() < 10_000, "paging does not end");
    }
    out
}

/// Walks backward from after the last row (the end found with one call), page by page.
async fn walk_roles_backward(
    store: &dyn Store,
    org: &OrgSid,
    f: &RoleFilter,
    size: u32,
) -> Vec<Role> {
    let all = store
        .list_roles(org, f, None, 100_000)
        .await
        .expect("list roles");
    let Some(last) = all.last().cloned() else {
        return Vec::new();
    };
    let mut pages: Vec<Vec<Role>> = vec![vec![last.clone()]];
    let mut cursor = role_cursor(Direction::Previous, &last);
    loop {
        let page = store
            .list_roles(org, f, Some(&cursor), size)
            .await
            .expect("list roles");
        assert!(page.len() <= size as usize);
        assert_eq!(
            page,
            sorted(page.clone()),
            "a previous page is ascending too"
        );
        let Some(first) = page.first() else { break };
        cursor = role_cursor(Direction::Previous, first);
        let short = page.len() < size as usize;
        pages.push(page);
        if short {
            break;
        }
        assert!(pages.len() < 10_000, "paging does not end");
    }
    pages.into_iter().rev().flatten().collect()
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Conflict(_)))
}

fn is_bad_request<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::BadRequest(_)))
}

fn secret_set(app: &App) -> BTreeSet<(Vec<u8>, Option<i64>)> {
    app.secrets
        .iter()
        .map(|s| (s.hash.clone(), s.expires_at))
        .collect()
}

fn by_sid(mut apps: Vec<App>) -> Vec<App> {
    apps.sort_by(|a, b| a.sid.cmp(&b.sid));
    apps
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

async fn ping_and_uninitialized_keys(db: &TestDb) {
    db.store.ping().await.expect("ping");
    assert!(matches!(
        db.store.server_keys().await,
        Err(Error::Internal(_))
    ));
    assert!(db.store.signing_keys().await.expect("keys").is_empty());
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 0);
    assert_eq!(db.store.revision(KEYS_REVISION).await.expect("rev"), 0);
    assert_eq!(db.store.revision(ROLES_REVISION).await.expect("rev"), 0);
    assert_eq!(db.store.revision("no-such-counter").await.expect("rev"), 0);
    assert_revisions(db, 0, 0, 0).await;
    assert!(all_events(db, &OrgSid::random()).await.is_empty());
    let (apps, rev) = db.store.apps_since(0).await.expect("apps since");
    assert!(apps.is_empty());
    assert_eq!(rev, 0);
}

async fn keys_and_bootstrap_happen_exactly_once(db: &TestDb) {
    let mut set = tokio::task::JoinSet::new();
    let candidates: Vec<_> = (0..8u8).map(keys).collect();
    for (k, s) in candidates.clone() {
        let store = Arc::clone(&db.store);
        set.spawn(async move { store.init_keys(&k, &s).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("init_keys");
    }
    let got = db.store.server_keys().await.expect("server keys");
    let signing = db.store.signing_keys().await.expect("signing keys");
    assert_eq!(signing.len(), 1, "one signing key");
    let winner = candidates
        .iter()
        .position(|(k, _)| k.page_key == got.page_key)
        .expect("the keys are one caller's");
    assert_eq!(got.secret_key, candidates[winner].0.secret_key);
    assert_eq!(signing[0].kid, candidates[winner].1.kid);
    assert_eq!(signing[0].private_der, candidates[winner].1.private_der);
    assert_eq!(signing[0].public_raw, candidates[winner].1.public_raw);
    assert_eq!(signing[0].created_at, candidates[winner].1.created_at);
    assert_eq!(signing[0].retired_at, None);
    assert_eq!(db.store.revision(KEYS_REVISION).await.expect("rev"), 1);
    // Later calls change nothing.
    let (k, s) = keys(99);
    db.store.init_keys(&k, &s).await.expect("init_keys again");
    assert_eq!(
        db.store.server_keys().await.expect("keys").page_key,
        got.page_key
    );
    assert_eq!(db.store.signing_keys().await.expect("keys").len(), 1);
    assert_eq!(db.store.revision(KEYS_REVISION).await.expect("rev"), 1);

    let attempts: Vec<(Org, App)> = (0..8)
        .map(|i| {
            let o = org(&format!("first {i}"));
            let a = app(&o.sid, &[i; 32]);
            (o, a)
        })
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for (i, (o, a)) in attempts.clone().into_iter().enumerate() {
        let store = Arc::clone(&db.store);
        set.spawn(async move { (i, store.bootstrap(&o, &a).await) });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, created) = r.expect("join");
        if created.expect("bootstrap") {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one bootstrap: {winners:?}");
    let w = winners[0];
    for (i, (o, a)) in attempts.iter().enumerate() {
        let org = db.store.org(&o.sid).await.expect("org");
        let app = db.store.app(&a.sid).await.expect("app");
        if i == w {
            assert_eq!(org.as_ref(), Some(o));
            assert_eq!(app.as_ref(), Some(a));
        } else {
            assert_eq!(org, None);
            assert_eq!(app, None);
        }
    }
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 1);
    // The first app's creation is on the record, by `bootstrap`; the losers left none.
    let created = AuditFilter {
        action: Some(actions::APP_CREATED.into()),
        ..AuditFilter::default()
    };
    for (i, (o, a)) in attempts.iter().enumerate() {
        let got = db
            .store
            .list_audit_events(&o.sid, &created, None, 100)
            .await
            .expect("audit");
        if i == w {
            assert_eq!(got.len(), 1);
            let bootstrap = Actor {
                sid: "bootstrap".into(),
                request_id: None,
            };
            assert_event(
                &got[0].1,
                Some(&o.sid),
                &bootstrap,
                actions::APP_CREATED,
                a.sid.as_str(),
                None,
                Some(json!({
                    "friendly_name": a.friendly_name,
                    "status": "active",
                    "policy": serde_json::to_value(&a.policy).unwrap(),
                    "access_token_ttl": a.access_token_ttl,
                })),
            );
            assert_secret_free(&got[0].1, &[a.secrets[0].hash.clone()]);
        } else {
            assert!(got.is_empty());
        }
    }
    let (apps, rev) = db.store.apps_since(0).await.expect("apps since");
    assert_eq!(apps, vec![attempts[w].1.clone()]);
    assert_eq!(rev, 1);
    let (o, a) = (org("late"), app(&OrgSid::random(), b"late"));
    assert!(!db.store.bootstrap(&o, &a).await.expect("bootstrap"));
}

async fn bootstrap_needs_a_store_without_orgs(db: &TestDb) {
    new_org(db, "made by hand").await;
    let o = org("bootstrap");
    let a = app(&o.sid, b"secret");
    assert!(!db.store.bootstrap(&o, &a).await.expect("bootstrap"));
    assert_eq!(db.store.org(&o.sid).await.expect("org"), None);
    assert_eq!(db.store.app(&a.sid).await.expect("app"), None);
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 0);
    assert!(!db.store.bootstrap(&o, &a).await.expect("bootstrap"));
    assert_eq!(
        db.count_events().await,
        1,
        "a refused bootstrap records nothing (the one event is the hand-made org's)"
    );
}

async fn apps_status_and_revisions(db: &TestDb) {
    let stray = app(&OrgSid::random(), b"stray");
    assert!(is_bad_request(
        &db.store.create_app(&stray, &Actor::cli()).await
    ));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 0);

    let o = new_org(db, "acme").await;
    let a = app(&o, b"secret a");
    let b = app(&o, b"secret b");
    db.store
        .create_app(&a, &Actor::cli())
        .await
        .expect("create a");
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 1);
    db.store
        .create_app(&b, &Actor::cli())
        .await
        .expect("create b");
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 2);
    assert_eq!(db.store.app(&a.sid).await.expect("app"), Some(a.clone()));
    assert!(is_conflict(&db.store.create_app(&a, &Actor::cli()).await));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 2);

    let (apps, rev) = db.store.apps_since(0).await.expect("since 0");
    assert_eq!((by_sid(apps), rev), (by_sid(vec![a.clone(), b.clone()]), 2));
    let (apps, rev) = db.store.apps_since(1).await.expect("since 1");
    assert_eq!((apps, rev), (vec![b.clone()], 2));
    let (apps, rev) = db.store.apps_since(2).await.expect("since 2");
    assert_eq!((apps, rev), (vec![], 2));

    let before = orgiam_domain::time_fmt::now();
    let disabled = db
        .store
        .set_app_status(&a.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    assert_eq!(disabled.status, AppStatus::Disabled);
    assert_eq!(disabled.secrets, a.secrets);
    assert!(disabled.date_updated >= before);
    assert_eq!(disabled.date_created, a.date_created);
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 3);
    let (apps, rev) = db.store.apps_since(2).await.expect("since 2");
    assert_eq!((apps, rev), (vec![disabled.clone()], 3));

    let active = db
        .store
        .set_app_status(&a.sid, AppStatus::Active, &Actor::cli())
        .await
        .expect("enable");
    assert_eq!(active.status, AppStatus::Active);
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 4);

    let deleted = db
        .store
        .set_app_status(&a.sid, AppStatus::Deleted, &Actor::cli())
        .await
        .expect("delete");
    assert_eq!(deleted.status, AppStatus::Deleted);
    assert!(
        deleted.secrets.is_empty(),
        "a deleted app loses its secrets"
    );
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 5);
    let (apps, rev) = db.store.apps_since(4).await.expect("since 4");
    assert_eq!((apps, rev), (vec![deleted.clone()], 5));

    // A deleted app cannot come back, nor get a secret; failed writes leave no revision.
    for status in [AppStatus::Active, AppStatus::Disabled, AppStatus::Deleted] {
        assert!(matches!(
            db.store.set_app_status(&a.sid, status, &Actor::cli()).await,
            Err(Error::NotFound(_))
        ));
    }
    assert!(matches!(
        db.store
            .rotate_app_secret(&a.sid, b"new", None, &Actor::cli())
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 5);
    assert_eq!(db.store.app(&a.sid).await.expect("app"), Some(deleted));

    let unknown = AppSid::random();
    assert_eq!(db.store.app(&unknown).await.expect("app"), None);
    assert!(matches!(
        db.store
            .set_app_status(&unknown, AppStatus::Disabled, &Actor::cli())
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 5);
}

async fn rotating_secrets_keeps_at_most_two(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let a = app(&o, b"h1");
    db.store
        .create_app(&a, &Actor::cli())
        .await
        .expect("create");
    let rev0 = db.store.revision(APPS_REVISION).await.expect("rev");

    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h2", Some(T0 + 100), &Actor::cli())
        .await
        .expect("rotate");
    assert_eq!(
        secret_set(&r),
        BTreeSet::from([(b"h1".to_vec(), Some(T0 + 100)), (b"h2".to_vec(), None)])
    );
    assert_eq!(
        db.store.revision(APPS_REVISION).await.expect("rev"),
        rev0 + 1
    );
    let (apps, _) = db.store.apps_since(rev0).await.expect("since");
    assert_eq!(apps.len(), 1);
    assert_eq!(secret_set(&apps[0]), secret_set(&r));

    // The secret in its grace period goes; only the current one overlaps with the new one.
    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h3", Some(T0 + 200), &Actor::cli())
        .await
        .expect("rotate");
    assert_eq!(
        secret_set(&r),
        BTreeSet::from([(b"h2".to_vec(), Some(T0 + 200)), (b"h3".to_vec(), None)])
    );

    // No grace: only the new secret stays.
    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h4", None, &Actor::cli())
        .await
        .expect("rotate");
    assert_eq!(secret_set(&r), BTreeSet::from([(b"h4".to_vec(), None)]));
    assert!(r.date_updated >= a.date_updated);
    assert_eq!(
        db.store.revision(APPS_REVISION).await.expect("rev"),
        rev0 + 3
    );

    // Reusing the current hash is a conflict and changes nothing.
    assert!(is_conflict(
        &db.store
            .rotate_app_secret(&a.sid, b"h4", Some(T0 + 300), &Actor::cli())
            .await
    ));
    let now = db.store.app(&a.sid).await.expect("app").expect("exists");
    assert_eq!(secret_set(&now), BTreeSet::from([(b"h4".to_vec(), None)]));
    assert_eq!(
        db.store.revision(APPS_REVISION).await.expect("rev"),
        rev0 + 3
    );

    // A disabled app still rotates.
    db.store
        .set_app_status(&a.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h5", Some(T0 + 400), &Actor::cli())
        .await
        .expect("rotate a disabled app");
    assert_eq!(r.status, AppStatus::Disabled);
    assert_eq!(r.secrets.len(), 2);
}

async fn builtin_role_sync_is_idempotent(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let catalog = builtin_roles();
    db.store.sync_builtin_roles(&catalog).await.expect("sync");
    db.store
        .sync_builtin_roles(&catalog)
        .await
        .expect("sync again");
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(listed, sorted(catalog.clone()));
    for r in &catalog {
        assert_eq!(
            db.store.role(&o, &r.sid).await.expect("role").as_ref(),
            Some(r)
        );
    }

    // A custom role survives every sync.
    let custom = custom_role(&o, "Custom", "custom-a", None);
    db.insert_custom_role(&custom).await;

    // Renamed roles are updated, dropped ones disappear.
    let mut next = catalog.clone();
    let dropped = next.remove(0);
    next[0].friendly_name = "Renamed Role".into();
    next[0].resource_types = Some(vec!["b".into(), "a".into()]);
    next[0].date_updated += 1;
    db.store
        .sync_builtin_roles(&next)
        .await
        .expect("sync changed");
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    let mut want = next.clone();
    want.push(custom.clone());
    assert_eq!(listed, sorted(want));
    assert_eq!(db.store.role(&o, &dropped.sid).await.expect("role"), None);
    assert_eq!(
        db.store
            .role(&o, &next[0].sid)
            .await
            .expect("role")
            .as_ref(),
        Some(&next[0])
    );

    // An empty catalog removes every built-in role.
    db.store.sync_builtin_roles(&[]).await.expect("sync empty");
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(listed, vec![custom]);
}

async fn role_order_filters_and_search(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let all = role_fixture(db, &o).await;
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(
        listed,
        sorted(all.clone()),
        "ordered by (name_key, sid), byte-wise"
    );
    // Ties on the case-insensitive name fall back to the SID.
    let alphas: Vec<&Role> = listed
        .iter()
        .filter(|r| Role::name_key(&r.friendly_name) == "alpha")
        .collect();
    assert_eq!(alphas.len(), 2);
    assert!(alphas[0].sid < alphas[1].sid);
    // Byte-wise: 'é' (0xC3...) sorts after every ASCII letter.
    let pos = |name: &str| {
        listed
            .iter()
            .position(|r| r.friendly_name == name)
            .expect(name)
    };
    assert!(pos("zz top") < pos("Émile Admin"));
    assert!(pos("_leading") < pos("a b"));
    assert!(pos("a b") < pos("a-b"));
    assert!(pos("a-b") < pos("ab"));

    let sample = all
        .iter()
        .find(|r| r.friendly_name == "Zeta")
        .expect("Zeta");
    for f in role_filters(sample) {
        let got = db.store.list_roles(&o, &f, None, 1000).await.expect("list");
        assert_eq!(got, expected_roles(&all, &f), "filter {f:?}");
    }

    // Metacharacters are literal.
    let names =
        |roles: Vec<Role>| -> Vec<String> { roles.into_iter().map(|r| r.friendly_name).collect() };
    let list = |f: RoleFilter| {
        let store = Arc::clone(&db.store);
        let o = o.clone();
        async move { store.list_roles(&o, &f, None, 1000).await.expect("list") }
    };
    assert_eq!(names(list(search("%")).await), vec!["100% Admin"]);
    assert_eq!(
        names(list(search("_")).await),
        vec!["_leading", "under_score"]
    );
    assert_eq!(names(list(search("r_s")).await), vec!["under_score"]);
    // Trigram-index candidates are checked against the whole search.
    assert_eq!(names(list(search("undscore")).await), Vec::<String>::new());
    assert_eq!(names(list(search("der_sco")).await), vec!["under_score"]);
    assert_eq!(names(list(search("\\")).await), vec!["back\\slash"]);
    // A prefix of the SID, not a substring.
    let tail = sample.sid.as_str()[10..20].to_lowercase();
    assert!(
        list(search(&tail))
            .await
            .iter()
            .all(|r| Role::name_key(&r.friendly_name).contains(&tail))
    );
    assert_eq!(
        list(search(&sample.sid.as_str().to_lowercase())).await,
        vec![sample.clone()]
    );
    // Limits cut the ordered list.
    for limit in [0, 1, 5, 60] {
        let got = db
            .store
            .list_roles(&o, &RoleFilter::default(), None, limit)
            .await
            .expect("list");
        assert_eq!(got, listed[..limit as usize].to_vec());
    }
}

async fn role_keyset_paging(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let all = role_fixture(db, &o).await;
    let filters = [
        RoleFilter::default(),
        search("a"),
        group("custom-b"),
        types(&["account", "domain"]),
    ];
    for f in &filters {
        let want = expected_roles(&all, f);
        for size in [1, 2, 3, 7, 50] {
            let fwd = walk_roles_forward(db.store.as_ref(), &o, f, size).await;
            assert_eq!(fwd, want, "forward, size {size}, {f:?}");
            let back = walk_roles_backward(db.store.as_ref(), &o, f, size).await;
            assert_eq!(back, want, "backward, size {size}, {f:?}");
        }
    }
    // Positions between and beyond rows.
    let want = sorted(all.clone());
    for key in [
        ("", ""),
        ("b", ""),
        ("alpha", ""),
        ("alpha", "IX~"),
        ("émile", ""),
        ("\u{10FFFF}", ""),
    ] {
        let k = (key.0.to_owned(), key.1.to_owned());
        let after: Vec<Role> = want.iter().filter(|r| key_of(r) > k).cloned().collect();
        let before: Vec<Role> = want.iter().filter(|r| key_of(r) < k).cloned().collect();
        let next = Cursor {
            direction: Direction::Next,
            key: vec![k.0.clone(), k.1.clone()],
        };
        let prev = Cursor {
            direction: Direction::Previous,
            ..next.clone()
        };
        let got = db
            .store
            .list_roles(&o, &RoleFilter::default(), Some(&next), 5)
            .await
            .expect("list");
        assert_eq!(
            got,
            after.iter().take(5).cloned().collect::<Vec<_>>(),
            "after {k:?}"
        );
        let got = db
            .store
            .list_roles(&o, &RoleFilter::default(), Some(&prev), 5)
            .await
            .expect("list");
        let tail = before[before.len().saturating_sub(5)..].to_vec();
        assert_eq!(got, tail, "before {k:?}");
    }
    // The ends.
    let first = want.first().expect("rows");
    let last = want.last().expect("rows");
    let none = db
        .store
        .list_roles(
            &o,
            &RoleFilter::default(),
            Some(&role_cursor(Direction::Previous, first)),
            5,
        )
        .await
        .expect("list");
    assert!(none.is_empty());
    let none = db
        .store
        .list_roles(
            &o,
            &RoleFilter::default(),
            Some(&role_cursor(Direction::Next, last)),
            5,
        )
        .await
        .expect("list");
    assert!(none.is_empty());
}

async fn custom_roles_are_private(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    let ra = custom_role(&a, "Shared Name", "custom", Some(&["account"]));
    let rb = custom_role(&b, "Shared Name", "custom", Some(&["account"]));
    db.insert_custom_role(&ra).await;
    db.insert_custom_role(&rb).await;

    for (me, mine, theirs) in [(&a, &ra, &rb), (&b, &rb, &ra)] {
        assert_eq!(
            db.store.role(me, &mine.sid).await.expect("role").as_ref(),
            Some(mine)
        );
        assert_eq!(db.store.role(me, &theirs.sid).await.expect("role"), None);
        for f in [
            RoleFilter::default(),
            search("shared"),
            search(&theirs.sid.as_str().to_lowercase()),
            group("custom"),
            types(&["account"]),
        ] {
            let got = db.store.list_roles(me, &f, None, 1000).await.expect("list");
            assert!(!got.contains(theirs), "{f:?}");
        }
        let got = db
            .store
            .list_roles(me, &group("custom"), None, 1000)
            .await
            .expect("list");
        assert_eq!(got, vec![mine.clone()]);
    }
    // An organization without custom roles sees the catalog only.
    let c = new_org(db, "c").await;
    let got = db
        .store
        .list_roles(&c, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(got, sorted(builtin_roles()));
}

async fn accounts_parents_owners_and_paging(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let ua = new_user(db, &a, "owner@a.example").await;
    let ub = new_user(db, &b, "owner@b.example").await;

    let top = account(&a, None, Some(&ua));
    db.store
        .create_account(&top, &Actor::cli())
        .await
        .expect("account");
    let sub = account(&a, Some(&top.sid), None);
    db.store
        .create_account(&sub, &Actor::cli())
        .await
        .expect("subaccount");
    let subsub = account(&a, Some(&sub.sid), Some(&ua));
    db.store
        .create_account(&subsub, &Actor::cli())
        .await
        .expect("sub-subaccount");
    let other = account(&b, None, Some(&ub));
    db.store
        .create_account(&other, &Actor::cli())
        .await
        .expect("account of b");

    // The parent and owner belong to the same organization.
    for bad in [
        account(&a, Some(&other.sid), None),
        account(&a, Some(&AccountSid::random()), None),
        account(&a, None, Some(&ub)),
        account(&a, None, Some(&UserSid::random())),
        account(&OrgSid::random(), None, None),
    ] {
        assert!(
            is_bad_request(&db.store.create_account(&bad, &Actor::cli()).await),
            "{bad:?}"
        );
        assert_eq!(
            db.store.account(&bad.org, &bad.sid).await.expect("get"),
            None
        );
    }
    assert!(is_conflict(
        &db.store.create_account(&top, &Actor::cli()).await
    ));
    let mut same_sid_elsewhere = top.clone();
    same_sid_elsewhere.org = b.clone();
    same_sid_elsewhere.owner = None;
    assert!(is_conflict(
        &db.store
            .create_account(&same_sid_elsewhere, &Actor::cli())
            .await
    ));

    assert_eq!(
        db.store.account(&a, &sub.sid).await.expect("get"),
        Some(sub.clone())
    );
    assert_eq!(db.store.account(&b, &sub.sid).await.expect("get"), None);

    let mut mine = vec![top.clone(), sub.clone(), subsub.clone()];
    for _ in 0..6 {
        let acct = account(&a, Some(&top.sid), None);
        db.store
            .create_account(&acct, &Actor::cli())
            .await
            .expect("account");
        mine.push(acct);
    }
    mine.sort_by(|x, y| x.sid.cmp(&y.sid));
    let listed = db.store.list_accounts(&a, None, 100).await.expect("list");
    assert_eq!(listed, mine);
    assert_eq!(
        db.store.list_accounts(&b, None, 100).await.expect("list"),
        vec![other.clone()]
    );
    for size in [1u32, 2, 4] {
        let mut fwd = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = db
                .store
                .list_accounts(&a, cursor.as_ref(), size)
                .await
                .expect("list");
            let Some(last) = page.last() else { break };
            cursor = Some(sid_cursor(Direction::Next, last.sid.as_str()));
            let short = page.len() < size as usize;
            fwd.extend(page);
            if short {
                break;
            }
        }
        assert_eq!(fwd, mine, "forward, size {size}");
        let last = mine.last().expect("rows");
        let mut pages = vec![vec![last.clone()]];
        let mut cursor = sid_cursor(Direction::Previous, last.sid.as_str());
        loop {
            let page = db
                .store
                .list_accounts(&a, Some(&cursor), size)
                .await
                .expect("list");
            let Some(first) = page.first() else { break };
            cursor = sid_cursor(Direction::Previous, first.sid.as_str());
            let short = page.len() < size as usize;
            pages.push(page);
            if short {
                break;
            }
        }
        let back: Vec<Account> = pages.into_iter().rev().flatten().collect();
        assert_eq!(back, mine, "backward, size {size}");
    }
}

async fn user_email_is_unique_per_org(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let first = user(&a, "ann@example.com");
    db.store
        .create_user(&first, &Actor::cli())
        .await
        .expect("user");
    let dup = user(&a, "ann@example.com");
    match db.store.create_user(&dup, &Actor::cli()).await {
        Err(Error::Conflict(m)) => assert!(m.contains("ann@example.com"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.store.user(&a, &dup.sid).await.expect("get"), None);
    // Another organization may hold the same email.
    let elsewhere = user(&b, "ann@example.com");
    db.store
        .create_user(&elsewhere, &Actor::cli())
        .await
        .expect("user in b");
    assert!(is_conflict(
        &db.store.create_user(&first, &Actor::cli()).await
    ));
    assert!(is_bad_request(
        &db.store
            .create_user(&user(&OrgSid::random(), "x@y.z"), &Actor::cli())
            .await
    ));

    assert_eq!(
        db.store.user(&a, &first.sid).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(db.store.user(&b, &first.sid).await.expect("get"), None);
    assert_eq!(
        db.store.user(&b, &elsewhere.sid).await.expect("get"),
        Some(elsewhere)
    );
}

async fn identical_assignments_conflict(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let u = new_user(db, &o, "u@example.com").await;
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let role = &roles[0].sid;

    let first = assignment(&o, role, o.as_str(), &u);
    db.store
        .create_assignment(&first, true, &Actor::cli())
        .await
        .expect("create");
    let mut same = first.clone();
    same.sid = AssignmentSid::random();
    match db.store.create_assignment(&same, true, &Actor::cli()).await {
        Err(Error::Conflict(m)) => assert!(m.contains("identical"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(is_conflict(
        &db.store
            .create_assignment(&first, false, &Actor::cli())
            .await
    ));

    // A resource makes it a different assignment; the same resource again conflicts.
    let mut scoped = same.clone();
    scoped.resource_type = Some("billing_group".into());
    scoped.resource_id = Some("BG1".into());
    db.store
        .create_assignment(&scoped, true, &Actor::cli())
        .await
        .expect("create");
    let mut scoped_again = scoped.clone();
    scoped_again.sid = AssignmentSid::random();
    assert!(is_conflict(
        &db.store
            .create_assignment(&scoped_again, true, &Actor::cli())
            .await
    ));
    let mut other_id = scoped_again.clone();
    other_id.resource_id = Some("BG2".into());
    db.store
        .create_assignment(&other_id, true, &Actor::cli())
        .await
        .expect("create");

    // Referenced rows must exist.
    let mut no_user = assignment(&o, role, o.as_str(), &UserSid::random());
    assert!(is_bad_request(
        &db.store
            .create_assignment(&no_user, true, &Actor::cli())
            .await
    ));
    no_user.identity = u.clone();
    no_user.role = RoleSid::random();
    assert!(is_bad_request(
        &db.store
            .create_assignment(&no_user, false, &Actor::cli())
            .await
    ));

    // Racing identical creates: exactly one wins, for built-in and other roles alike.
    for builtin in [true, false] {
        let scope = AccountSid::random();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let store = Arc::clone(&db.store);
            let a = assignment(&o, role, scope.as_str(), &u);
            set.spawn(async move { store.create_assignment(&a, builtin, &Actor::cli()).await });
        }
        let (mut ok, mut conflicts) = (0, 0);
        while let Some(r) = set.join_next().await {
            match r.expect("join") {
                Ok(()) => ok += 1,
                Err(Error::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!((ok, conflicts), (1, 7), "builtin: {builtin}");
        let listed = db
            .store
            .list_assignments(
                &o,
                &AssignmentFilter {
                    scope: Some(scope.as_str().to_owned()),
                    ..AssignmentFilter::default()
                },
                None,
                100,
            )
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
    }
    // Built-ins counted: first, scoped, other_id and one racer = 4; 21 more fit, not 22.
    for i in 0..21 {
        let a = assignment(&o, role, &format!("scope-{i}"), &u);
        db.store
            .create_assignment(&a, true, &Actor::cli())
            .await
            .expect("within the limit");
    }
    let over = assignment(&o, role, "scope-over", &u);
    assert!(is_bad_request(
        &db.store.create_assignment(&over, true, &Actor::cli()).await
    ));
}

async fn builtin_assignment_limit(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let u = new_user(db, &o, "u@example.com").await;
    let other = new_user(db, &o, "other@example.com").await;
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let role = &roles[0].sid;

    let mut held = Vec::new();
    for i in 0..25 {
        let a = assignment(&o, &roles[i % roles.len()].sid, &format!("AC{i:032x}"), &u);
        db.store
            .create_assignment(&a, true, &Actor::cli())
            .await
            .expect("within the limit");
        held.push(a);
    }
    let over = assignment(&o, role, "AC-over", &u);
    match db.store.create_assignment(&over, true, &Actor::cli()).await {
        Err(Error::BadRequest(m)) => {
            assert!(m.contains(u.as_str()), "{m}");
            assert!(m.contains("25"), "{m}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    let count = |filter: AssignmentFilter| {
        let store = Arc::clone(&db.store);
        let o = o.clone();
        async move {
            store
                .list_assignments(&o, &filter, None, 100)
                .await
                .expect("list")
                .len()
        }
    };
    let of_u = AssignmentFilter {
        identity: Some(u.as_str().to_owned()),
        ..AssignmentFilter::default()
    };
    assert_eq!(
        count(of_u.clone()).await,
        25,
        "the refused one left nothing behind"
    );
    // An identical one is still a conflict, not a 400.
    let mut dup = held[0].clone();
    dup.sid = AssignmentSid::random();
    assert!(is_conflict(
        &db.store.create_assignment(&dup, true, &Actor::cli()).await
    ));

    // Other roles do not count; other users have their own limit.
    let custom_kind = assignment(&o, role, "AC-custom", &u);
    db.store
        .create_assignment(&custom_kind, false, &Actor::cli())
        .await
        .expect("not a built-in");
    db.store
        .create_assignment(&assignment(&o, role, "AC-x", &other), true, &Actor::cli())
        .await
        .expect("another user");

    // Deleting frees a slot; deleting a non-built-in does not.
    assert!(
        db.store
            .delete_assignment(&o, &held[0].sid, &Actor::cli())
            .await
            .expect("delete")
    );
    db.store
        .create_assignment(&over, true, &Actor::cli())
        .await
        .expect("fits after a delete");
    assert!(
        db.store
            .delete_assignment(&o, &custom_kind.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    let again = assignment(&o, role, "AC-again", &u);
    assert!(is_bad_request(
        &db.store
            .create_assignment(&again, true, &Actor::cli())
            .await
    ));

    // At the edge, racing grants take exactly the free slots.
    for a in &held[1..4] {
        assert!(
            db.store
                .delete_assignment(&o, &a.sid, &Actor::cli())
                .await
                .expect("delete")
        );
    }
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&db.store);
        let a = assignment(&o, role, &format!("AC-race-{i}"), &u);
        set.spawn(async move { store.create_assignment(&a, true, &Actor::cli()).await });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.expect("join") {
            Ok(()) => ok += 1,
            Err(Error::BadRequest(_)) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, refused), (3, 5));
    assert_eq!(count(of_u).await, 25);
}

async fn assignment_listing_and_deletion(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let u1 = new_user(db, &a, "one@example.com").await;
    let u2 = new_user(db, &a, "two@example.com").await;
    let ub = new_user(db, &b, "b@example.com").await;
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let acct = AccountSid::random();

    let mut mine = Vec::new();
    for (i, (identity, scope, resource)) in [
        (&u1, a.as_str(), None),
        (&u1, acct.as_str(), None),
        (&u1, acct.as_str(), Some(("billing_group", "BG1"))),
        (&u2, acct.as_str(), Some(("billing_group", "BG1"))),
        (&u2, acct.as_str(), Some(("billing_group", "BG2"))),
        (&u2, a.as_str(), Some(("messaging_service", "MG1"))),
        (&u2, a.as_str(), None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut x = assignment(&a, &roles[i].sid, scope, identity);
        if let Some((t, id)) = resource {
            x.resource_type = Some(t.to_owned());
            x.resource_id = Some(id.to_owned());
        }
        db.store
            .create_assignment(&x, i % 2 == 0, &Actor::cli())
            .await
            .expect("create");
        mine.push(x);
    }
    let theirs = assignment(&b, &roles[0].sid, b.as_str(), &ub);
    db.store
        .create_assignment(&theirs, true, &Actor::cli())
        .await
        .expect("create");
    mine.sort_by(|x, y| x.sid.cmp(&y.sid));

    let filters = [
        AssignmentFilter::default(),
        AssignmentFilter {
            identity: Some(u1.as_str().into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            scope: Some(acct.as_str().into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            resource_type: Some("billing_group".into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            resource_id: Some("BG1".into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            identity: Some(u2.as_str().into()),
            scope: Some(acct.as_str().into()),
            resource_type: Some("billing_group".into()),
            resource_id: Some("BG2".into()),
        },
        AssignmentFilter {
            identity: Some(ub.as_str().into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            resource_type: Some(String::new()),
            ..AssignmentFilter::default()
        },
    ];
    for f in &filters {
        let want: Vec<Assignment> = mine
            .iter()
            .filter(|x| {
                f.identity
                    .as_deref()
                    .is_none_or(|v| x.identity.as_str() == v)
                    && f.scope.as_deref().is_none_or(|v| x.scope == v)
                    && f.resource_type
                        .as_deref()
                        .is_none_or(|v| x.resource_type.as_deref().unwrap_or("") == v)
                    && f.resource_id
                        .as_deref()
                        .is_none_or(|v| x.resource_id.as_deref().unwrap_or("") == v)
            })
            .cloned()
            .collect();
        let got = db
            .store
            .list_assignments(&a, f, None, 100)
            .await
            .expect("list");
        assert_eq!(got, want, "{f:?}");
        for size in [1u32, 2, 3] {
            let mut fwd = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let page = db
                    .store
                    .list_assignments(&a, f, cursor.as_ref(), size)
                    .await
                    .expect("list");
                let Some(last) = page.last() else { break };
                cursor = Some(sid_cursor(Direction::Next, last.sid.as_str()));
                let short = page.len() < size as usize;
                fwd.extend(page);
                if short {
                    break;
                }
            }
            assert_eq!(fwd, want, "forward, size {size}, {f:?}");
            let Some(last) = want.last() else { continue };
            let mut pages = vec![vec![last.clone()]];
            let mut cursor = sid_cursor(Direction::Previous, last.sid.as_str());
            loop {
                let page = db
                    .store
                    .list_assignments(&a, f, Some(&cursor), size)
                    .await
                    .expect("list");
                let Some(first) = page.first() else { break };
                cursor = sid_cursor(Direction::Previous, first.sid.as_str());
                let short = page.len() < size as usize;
                pages.push(page);
                if short {
                    break;
                }
            }
            let back: Vec<Assignment> = pages.into_iter().rev().flatten().collect();
            assert_eq!(back, want, "backward, size {size}, {f:?}");
        }
    }
    assert_eq!(
        db.store
            .list_assignments(&b, &AssignmentFilter::default(), None, 100)
            .await
            .expect("list"),
        vec![theirs.clone()]
    );

    // Deleting across organizations finds nothing and deletes nothing.
    let target = mine[0].clone();
    assert!(
        !db.store
            .delete_assignment(&b, &target.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&a, &theirs.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert_eq!(
        db.store
            .list_assignments(&a, &AssignmentFilter::default(), None, 100)
            .await
            .expect("list"),
        mine
    );
    assert!(
        db.store
            .delete_assignment(&a, &target.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&a, &target.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&a, &AssignmentSid::random(), &Actor::cli())
            .await
            .expect("delete")
    );
    let rest = db
        .store
        .list_assignments(&a, &AssignmentFilter::default(), None, 100)
        .await
        .expect("list");
    assert_eq!(rest, mine[1..].to_vec());
}

// ---------------------------------------------------------------------------------------------
// Audit trail, signing-key rotation, role imports and revisions
// ---------------------------------------------------------------------------------------------

/// Random bytes standing for a secret hash or key material (the store never inspects them).
fn secret() -> Vec<u8> {
    format!("secret-{}", random_body()).into_bytes()
}

/// A signing key with random material; the store does not validate it.
fn signing_key(created_at: i64) -> SigningKey {
    SigningKey {
        kid: KeySid::random(),
        private_der: secret(),
        public_raw: random_body().into_bytes(),
        created_at,
        retired_at: None,
    }
}

/// An app acting with a request id, as the HTTP layer records it.
fn app_actor() -> Actor {
    Actor::app(&AppSid::random(), Some(format!("RQ{}", random_body())))
}

/// Feeds `import_roles` from a list; an `Err` entry is what the closure returns at that call.
fn batches(
    list: Vec<Result<Vec<Role>, Error>>,
) -> impl FnMut() -> Result<Option<Vec<Role>>, Error> + Send {
    let mut queue = VecDeque::from(list);
    move || queue.pop_front().transpose()
}

fn seq_cursor(direction: Direction, seq: i64) -> Cursor {
    Cursor {
        direction,
        key: vec![seq.to_string()],
    }
}

fn assert_newest_first(page: &[(i64, AuditEvent)]) {
    assert!(
        page.windows(2).all(|w| w[0].0 > w[1].0),
        "newest first: {:?}",
        page.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
}

/// Every event `org` sees, newest first.
/// The operator's view of `org`'s trail: its events and the install-wide ones.
async fn all_events(db: &TestDb, org: &OrgSid) -> Vec<(i64, AuditEvent)> {
    let got = db
        .store
        .list_audit_events(
            org,
            &AuditFilter {
                install_wide: true,
                ..AuditFilter::default()
            },
            None,
            100_000,
        )
        .await
        .expect("list audit events");
    assert_newest_first(&got);
    got
}

/// Where the trail stood before a change.
struct Mark {
    seq: i64,
    total: i64,
    at: i64,
}

async fn mark(db: &TestDb, org: &OrgSid) -> Mark {
    Mark {
        seq: all_events(db, org).await.first().map_or(0, |(s, _)| *s),
        total: db.count_events().await,
        at: orgiam_domain::time_fmt::now(),
    }
}

/// The one event the change since `m` wrote (visible to `org`), stamped during the change.
async fn one_new_event(db: &TestDb, org: &OrgSid, m: &Mark) -> AuditEvent {
    assert_eq!(
        db.count_events().await,
        m.total + 1,
        "one change, one event"
    );
    let mut new: Vec<(i64, AuditEvent)> = all_events(db, org)
        .await
        .into_iter()
        .filter(|(s, _)| *s > m.seq)
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let (_, e) = new.pop().expect("one event");
    let now = orgiam_domain::time_fmt::now();
    assert!(
        m.at <= e.date_created && e.date_created <= now,
        "stamped during the change: {} not in [{}, {now}]",
        e.date_created,
        m.at
    );
    e
}

async fn assert_no_new_event(db: &TestDb, m: &Mark, what: &str) {
    assert_eq!(db.count_events().await, m.total, "{what} wrote an event");
}

fn assert_event(
    e: &AuditEvent,
    org: Option<&OrgSid>,
    actor: &Actor,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    assert!(
        e.sid.as_str().starts_with("AE") && e.sid.as_str().len() == 34,
        "{e:?}"
    );
    assert_eq!(e.org.as_ref(), org, "org of {e:?}");
    assert_eq!(e.actor, actor.sid, "actor of {e:?}");
    assert_eq!(e.request_id, actor.request_id, "request id of {e:?}");
    assert_eq!(e.action, action, "action of {e:?}");
    assert_eq!(e.target, target, "target of {e:?}");
    assert_eq!(e.before, before, "before of {e:?}");
    assert_eq!(e.after, after, "after of {e:?}");
}

fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// Neither a secret hash nor key material shows up in an event, in any usual encoding, and no
/// field is named like one.
fn assert_secret_free(e: &AuditEvent, secrets: &[Vec<u8>]) {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    fn keys_of(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.clone());
                    keys_of(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| keys_of(v, out)),
            _ => {}
        }
    }
    let mut text = format!("{e:?}");
    let mut names = Vec::new();
    for v in [&e.before, &e.after].into_iter().flatten() {
        text.push_str(&v.to_string());
        keys_of(v, &mut names);
    }
    for name in &names {
        assert!(
            ![
                "hash",
                "secret",
                "secrets",
                "private_der",
                "private_key",
                "client_secret"
            ]
            .contains(&name.as_str()),
            "field {name} in {e:?}"
        );
    }
    for s in secrets {
        let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
        let forms = [
            String::from_utf8_lossy(s).into_owned(),
            hex.clone(),
            hex.to_uppercase(),
            base64(s, STD, true),
            base64(s, STD, false),
            base64(s, URL, false),
            serde_json::to_string(s).unwrap(),
            format!("{s:?}"),
        ];
        for f in forms {
            assert!(!text.contains(&f), "{f} in {text}");
        }
    }
}

/// `revisions()` holds the named counters with these values and agrees with `revision`.
async fn assert_revisions(db: &TestDb, apps: i64, keys: i64, roles: i64) {
    let all = db.store.revisions().await.expect("revisions");
    for (name, want) in [
        (APPS_REVISION, apps),
        (KEYS_REVISION, keys),
        (ROLES_REVISION, roles),
    ] {
        assert_eq!(all.get(name), Some(&want), "{name} in {all:?}");
    }
    for (name, value) in &all {
        assert_eq!(
            db.store.revision(name).await.expect("revision"),
            *value,
            "{name}"
        );
    }
}

async fn audit_events_record_each_change(db: &TestDb) {
    let cli = Actor::cli();
    let mut seen: Vec<AuditEvent> = Vec::new();
    // Organizations and users: created with their event.
    let mut orgs = Vec::new();
    for name in ["a", "b"] {
        let o = org(name);
        let m = mark(db, &o.sid).await;
        db.store.create_org(&o, &cli).await.expect("create org");
        let e = one_new_event(db, &o.sid, &m).await;
        assert_event(
            &e,
            Some(&o.sid),
            &cli,
            actions::ORG_CREATED,
            o.sid.as_str(),
            None,
            Some(json!({"friendly_name": name})),
        );
        seen.push(e);
        orgs.push(o.sid);
    }
    let (a, b) = (orgs[0].clone(), orgs[1].clone());
    let (server, first_key) = keys(1);
    db.store
        .init_keys(&server, &first_key)
        .await
        .expect("init keys");
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let m = mark(db, &a).await;
    let u = new_user(db, &a, "u@example.com").await;
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &cli,
        actions::USER_CREATED,
        u.as_str(),
        None,
        Some(json!({"email": "u@example.com", "friendly_name": "u@example.com"})),
    );
    seen.push(e);
    let caller = app_actor();
    let (h1, h2, h3) = (secret(), secret(), secret());

    // Apps: created, disabled, enabled, rotated (with and without a grace period), deleted.
    let x = app(&a, &h1);
    let m = mark(db, &a).await;
    db.store.create_app(&x, &caller).await.expect("create");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &caller,
        actions::APP_CREATED,
        x.sid.as_str(),
        None,
        Some(json!({
            "friendly_name": "ci",
            "status": "active",
            "policy": serde_json::to_value(&x.policy).unwrap(),
            "access_token_ttl": 3600,
        })),
    );
    seen.push(e);

    let steps: [(AppStatus, &Actor, &str, &str, &str); 2] = [
        (
            AppStatus::Disabled,
            &cli,
            actions::APP_DISABLED,
            "active",
            "disabled",
        ),
        (
            AppStatus::Active,
            &caller,
            actions::APP_ENABLED,
            "disabled",
            "active",
        ),
    ];
    for (status, actor, action, from, to) in steps {
        let m = mark(db, &a).await;
        db.store
            .set_app_status(&x.sid, status, actor)
            .await
            .expect("status");
        let e = one_new_event(db, &a, &m).await;
        assert_event(
            &e,
            Some(&a),
            actor,
            action,
            x.sid.as_str(),
            Some(json!({"status": from})),
            Some(json!({"status": to})),
        );
        seen.push(e);
    }

    let m = mark(db, &a).await;
    db.store
        .rotate_app_secret(&x.sid, &h2, Some(T0 + 100), &caller)
        .await
        .expect("rotate");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &caller,
        actions::APP_SECRET_ROTATED,
        x.sid.as_str(),
        None,
        Some(json!({
            "previous_secret_expires_at": orgiam_domain::time_fmt::format(T0 + 100)
        })),
    );
    seen.push(e);
    let m = mark(db, &a).await;
    db.store
        .rotate_app_secret(&x.sid, &h3, None, &cli)
        .await
        .expect("rotate");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &cli,
        actions::APP_SECRET_ROTATED,
        x.sid.as_str(),
        None,
        Some(json!({"previous_secret_expires_at": null})),
    );
    seen.push(e);

    for (status, action, from, to) in [
        (
            AppStatus::Disabled,
            actions::APP_DISABLED,
            "active",
            "disabled",
        ),
        (
            AppStatus::Deleted,
            actions::APP_DELETED,
            "disabled",
            "deleted",
        ),
    ] {
        let m = mark(db, &a).await;
        db.store
            .set_app_status(&x.sid, status, &caller)
            .await
            .expect("status");
        let e = one_new_event(db, &a, &m).await;
        assert_event(
            &e,
            Some(&a),
            &caller,
            action,
            x.sid.as_str(),
            Some(json!({"status": from})),
            Some(json!({"status": to})),
        );
        seen.push(e);
    }

    // Assignments: created (with and without a resource) and deleted.
    let mut scoped = assignment(&a, &roles[0].sid, a.as_str(), &u);
    scoped.resource_type = Some("billing_group".into());
    scoped.resource_id = Some("BG1".into());
    let plain = assignment(&a, &roles[1].sid, "ACscope", &u);
    let mut created_after = Vec::new();
    for (asg, builtin) in [(&scoped, true), (&plain, false)] {
        let m = mark(db, &a).await;
        db.store
            .create_assignment(asg, builtin, &caller)
            .await
            .expect("assign");
        let e = one_new_event(db, &a, &m).await;
        let after = json!({
            "role_sid": asg.role.as_str(),
            "scope": asg.scope,
            "identity": u.as_str(),
            "resource_type": asg.resource_type,
            "resource_id": asg.resource_id,
        });
        assert_event(
            &e,
            Some(&a),
            &caller,
            actions::ROLE_ASSIGNMENT_CREATED,
            asg.sid.as_str(),
            None,
            Some(after.clone()),
        );
        created_after.push(after);
        seen.push(e);
    }
    for (asg, after) in [&scoped, &plain].into_iter().zip(created_after) {
        let m = mark(db, &a).await;
        assert!(
            db.store
                .delete_assignment(&a, &asg.sid, &cli)
                .await
                .expect("delete")
        );
        let e = one_new_event(db, &a, &m).await;
        assert_event(
            &e,
            Some(&a),
            &cli,
            actions::ROLE_ASSIGNMENT_DELETED,
            asg.sid.as_str(),
            Some(after),
            None,
        );
        seen.push(e);
    }

    // An import: one event for all of it.
    let m = mark(db, &a).await;
    let imported = vec![
        custom_role(&a, "One", "imported", None),
        custom_role(&a, "Two", "imported", None),
    ];
    let n = db
        .store
        .import_roles(&a, &mut batches(vec![Ok(imported)]), &caller)
        .await
        .expect("import");
    assert_eq!(n, 2);
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &caller,
        actions::ROLES_IMPORTED,
        a.as_str(),
        None,
        Some(json!({"roles": 2})),
    );
    seen.push(e);

    // Signing keys: install-wide, with key ids only.
    let (k2, k3) = (signing_key(T0 + 10), signing_key(T0 + 20));
    let m = mark(db, &a).await;
    db.store
        .rotate_signing_key(&k2, false, &cli)
        .await
        .expect("rotate key");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        None,
        &cli,
        actions::KEY_ROTATED,
        k2.kid.as_str(),
        Some(json!({"signing_kids": [first_key.kid.as_str()]})),
        Some(json!({"signing_kid": k2.kid.as_str(), "previous_keys": "retired"})),
    );
    seen.push(e);
    let m = mark(db, &b).await;
    let mut all_kids: Vec<String> = db
        .store
        .signing_keys()
        .await
        .expect("keys")
        .iter()
        .map(|k| k.kid.to_string())
        .collect();
    all_kids.sort();
    db.store
        .rotate_signing_key(&k3, true, &caller)
        .await
        .expect("rotate key");
    let e = one_new_event(db, &b, &m).await;
    assert_event(
        &e,
        None,
        &caller,
        actions::KEY_ROTATED,
        k3.kid.as_str(),
        Some(json!({"signing_kids": all_kids})),
        Some(json!({"signing_kid": k3.kid.as_str(), "previous_keys": "revoked"})),
    );
    seen.push(e);

    // Another organization's change, seen by it alone.
    let y = app(&b, &secret());
    let m = mark(db, &b).await;
    db.store
        .create_app(&y, &Actor::cli())
        .await
        .expect("create");
    let e = one_new_event(db, &b, &m).await;
    assert_eq!(e.org.as_ref(), Some(&b));
    seen.push(e);

    let secrets = vec![
        h1,
        h2,
        h3,
        y.secrets[0].hash.clone(),
        k2.private_der.clone(),
        k3.private_der.clone(),
    ];
    for e in &seen {
        assert_secret_free(e, &secrets);
    }
    let sids: BTreeSet<&str> = seen.iter().map(|e| e.sid.as_str()).collect();
    assert_eq!(sids.len(), seen.len(), "every event has its own SID");

    // Visibility: an organization's own events and the install-wide ones, nobody else's.
    let of = |org: Option<&OrgSid>| -> Vec<AuditEvent> {
        let mut v: Vec<AuditEvent> = seen
            .iter()
            .filter(|e| e.org.is_none() || e.org.as_ref() == org)
            .cloned()
            .collect();
        v.reverse();
        v
    };
    let events = |org: OrgSid| async move {
        all_events(db, &org)
            .await
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>()
    };
    assert_eq!(events(a.clone()).await, of(Some(&a)));
    assert_eq!(events(b.clone()).await, of(Some(&b)));
    let c = org("c");
    let m = mark(db, &c.sid).await;
    db.store.create_org(&c, &cli).await.expect("create org");
    let created = one_new_event(db, &c.sid, &m).await;
    assert_eq!(created.action, actions::ORG_CREATED);
    let mut want = vec![created];
    want.extend(of(None));
    assert_eq!(events(c.sid.clone()).await, want);
    assert_eq!(events(OrgSid::random()).await, of(None));
    assert_eq!(db.count_events().await, seen.len() as i64 + 1);
}

async fn failed_changes_write_no_event(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let other = new_org(db, "other").await;
    let (server, first_key) = keys(1);
    db.store
        .init_keys(&server, &first_key)
        .await
        .expect("init keys");
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let u = new_user(db, &o, "u@example.com").await;
    let actor = app_actor();
    let live = app(&o, &secret());
    db.store.create_app(&live, &actor).await.expect("create");
    let gone = app(&o, &secret());
    db.store.create_app(&gone, &actor).await.expect("create");
    db.store
        .set_app_status(&gone.sid, AppStatus::Deleted, &actor)
        .await
        .expect("delete");
    let held = assignment(&o, &roles[0].sid, o.as_str(), &u);
    db.store
        .create_assignment(&held, true, &actor)
        .await
        .expect("assign");
    let imported = custom_role(&o, "Imported", "imported", None);
    db.store
        .import_roles(&o, &mut batches(vec![Ok(vec![imported.clone()])]), &actor)
        .await
        .expect("import");

    let m = mark(db, &o).await;
    let revs = db.store.revisions().await.expect("revisions");
    let key_list = |keys: Vec<SigningKey>| -> Vec<(KeySid, Option<i64>)> {
        keys.into_iter().map(|k| (k.kid, k.retired_at)).collect()
    };
    let signing = key_list(db.store.signing_keys().await.expect("keys"));

    // Apps.
    let stray = app(&OrgSid::random(), &secret());
    assert!(is_bad_request(&db.store.create_app(&stray, &actor).await));
    assert_no_new_event(db, &m, "an app of an unknown organization").await;
    assert!(is_conflict(&db.store.create_app(&live, &actor).await));
    assert_no_new_event(db, &m, "a duplicate app").await;
    for sid in [&AppSid::random(), &gone.sid] {
        for status in [AppStatus::Active, AppStatus::Disabled, AppStatus::Deleted] {
            assert!(matches!(
                db.store.set_app_status(sid, status, &actor).await,
                Err(Error::NotFound(_))
            ));
            assert_no_new_event(db, &m, "a status change of a missing app").await;
        }
        assert!(matches!(
            db.store
                .rotate_app_secret(sid, &secret(), None, &actor)
                .await,
            Err(Error::NotFound(_))
        ));
        assert_no_new_event(db, &m, "rotating a missing app").await;
    }
    let current = live.secrets[0].hash.clone();
    assert!(is_conflict(
        &db.store
            .rotate_app_secret(&live.sid, &current, Some(T0), &actor)
            .await
    ));
    assert_no_new_event(db, &m, "reusing the current secret").await;

    // Assignments.
    let mut dup = held.clone();
    dup.sid = AssignmentSid::random();
    assert!(is_conflict(
        &db.store.create_assignment(&dup, true, &actor).await
    ));
    assert!(is_conflict(
        &db.store.create_assignment(&held, false, &actor).await
    ));
    assert_no_new_event(db, &m, "a duplicate assignment").await;
    let nobody = assignment(&o, &roles[0].sid, o.as_str(), &UserSid::random());
    assert!(is_bad_request(
        &db.store.create_assignment(&nobody, true, &actor).await
    ));
    let no_role = assignment(&o, &RoleSid::random(), o.as_str(), &u);
    assert!(is_bad_request(
        &db.store.create_assignment(&no_role, false, &actor).await
    ));
    assert_no_new_event(db, &m, "an assignment of a missing user or role").await;
    assert!(
        !db.store
            .delete_assignment(&o, &AssignmentSid::random(), &actor)
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&other, &held.sid, &actor)
            .await
            .expect("delete")
    );
    assert_no_new_event(db, &m, "deleting a missing assignment").await;

    // Imports: a failing batch, a duplicate within the import, an existing SID, no org.
    let fresh = |name: &str| custom_role(&o, name, "failed", None);
    for (list, what) in [
        (
            vec![Err(Error::bad_request("the first batch is malformed"))],
            "an import failing at once",
        ),
        (
            vec![Ok(vec![fresh("A")]), Ok(vec![fresh("A")])],
            "an import with a duplicate",
        ),
        (
            vec![Ok(vec![fresh("B"), imported.clone()])],
            "an import of an existing role",
        ),
        (
            vec![Ok(vec![fresh("C"), roles[0].clone()])],
            "an import over a built-in role",
        ),
    ] {
        assert!(
            db.store
                .import_roles(&o, &mut batches(list), &actor)
                .await
                .is_err(),
            "{what}"
        );
        assert_no_new_event(db, &m, what).await;
    }
    let nowhere = OrgSid::random();
    let lost = custom_role(&nowhere, "Lost", "failed", None);
    assert!(
        db.store
            .import_roles(&nowhere, &mut batches(vec![Ok(vec![lost])]), &actor)
            .await
            .is_err()
    );
    assert_no_new_event(db, &m, "an import into a missing organization").await;
    assert!(
        db.store
            .list_roles(&o, &group("failed"), None, 100)
            .await
            .expect("list")
            .is_empty()
    );

    // Signing keys: a key id already in use.
    let reused = SigningKey {
        kid: first_key.kid.clone(),
        ..signing_key(T0 + 50)
    };
    assert!(is_conflict(
        &db.store.rotate_signing_key(&reused, false, &actor).await
    ));
    assert_no_new_event(db, &m, "a signing key with a used id").await;
    assert_eq!(
        key_list(db.store.signing_keys().await.expect("keys")),
        signing
    );

    assert_eq!(
        db.store.revisions().await.expect("revisions"),
        revs,
        "failed changes bump no revision"
    );
    assert_eq!(
        all_events(db, &o).await.first().map(|(s, _)| *s),
        Some(m.seq)
    );
}

/// Builds a trail for `a` interleaved with `b`'s events and install-wide ones; returns `a`,
/// `b`, and the actors.
async fn audit_fixture(db: &TestDb) -> (OrgSid, OrgSid, [Actor; 3]) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let (server, first_key) = keys(1);
    db.store
        .init_keys(&server, &first_key)
        .await
        .expect("init keys");
    let alice = Actor::app(&AppSid::random(), Some("RQ-alice".into()));
    let bob = Actor::app(&AppSid::random(), None);
    let cli = Actor::cli();
    let actors = [alice, bob, cli];
    let apps: Vec<App> = (0..3).map(|_| app(&a, &secret())).collect();
    for (x, actor) in apps.iter().zip(&actors) {
        db.store.create_app(x, actor).await.expect("create");
    }
    for i in 0..3 {
        let (x, y) = (&apps[i], &apps[(i + 1) % 3]);
        db.store
            .set_app_status(&x.sid, AppStatus::Disabled, &actors[i])
            .await
            .expect("disable");
        db.store
            .create_app(&app(&b, &secret()), &actors[0])
            .await
            .expect("create in b");
        db.store
            .rotate_app_secret(&y.sid, &secret(), Some(T0), &actors[(i + 1) % 3])
            .await
            .expect("rotate");
        if i < 2 {
            db.store
                .rotate_signing_key(&signing_key(T0 + i as i64), false, &actors[2])
                .await
                .expect("rotate key");
        }
        db.store
            .set_app_status(&x.sid, AppStatus::Active, &actors[2])
            .await
            .expect("enable");
    }
    db.spread_event_times().await;
    (a, b, actors)
}

fn audit_matches(e: &AuditEvent, f: &AuditFilter) -> bool {
    f.action.as_ref().is_none_or(|v| &e.action == v)
        && f.actor.as_ref().is_none_or(|v| &e.actor == v)
        && f.target.as_ref().is_none_or(|v| &e.target == v)
        && f.since.is_none_or(|t| e.date_created >= t)
        && f.until.is_none_or(|t| e.date_created < t)
}

async fn walk_audit_forward(
    db: &TestDb,
    org: &OrgSid,
    f: &AuditFilter,
    size: u32,
) -> Vec<(i64, AuditEvent)> {
    let mut out: Vec<(i64, AuditEvent)> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = db
            .store
            .list_audit_events(org, f, cursor.as_ref(), size)
            .await
            .expect("list");
        assert!(page.len() <= size as usize);
        assert_newest_first(&page);
        let Some((last, _)) = page.last() else { break };
        cursor = Some(seq_cursor(Direction::Next, *last));
        let short = page.len() < size as usize;
        out.extend(page);
        if short {
            break;
        }
        assert!(out.len() < 10_000, "paging does not end");
    }
    out
}

/// Walks toward newer events from the oldest one (found with one call), page by page.
async fn walk_audit_backward(
    db: &TestDb,
    org: &OrgSid,
    f: &AuditFilter,
    size: u32,
) -> Vec<(i64, AuditEvent)> {
    let all = db
        .store
        .list_audit_events(org, f, None, 100_000)
        .await
        .expect("list");
    let Some(oldest) = all.last().cloned() else {
        return Vec::new();
    };
    let mut cursor = seq_cursor(Direction::Previous, oldest.0);
    let mut pages = vec![vec![oldest]];
    loop {
        let page = db
            .store
            .list_audit_events(org, f, Some(&cursor), size)
            .await
            .expect("list");
        assert!(page.len() <= size as usize);
        assert_newest_first(&page);
        let Some((newest, _)) = page.first() else {
            break;
        };
        cursor = seq_cursor(Direction::Previous, *newest);
        let short = page.len() < size as usize;
        pages.push(page);
        if short {
            break;
        }
        assert!(pages.len() < 10_000, "paging does not end");
    }
    pages.into_iter().rev().flatten().collect()
}

async fn audit_listing_order_paging_and_filters(db: &TestDb) {
    let (a, b, [alice, bob, _cli]) = audit_fixture(db).await;
    // The operator's view: the organization's events and the install-wide ones.
    let operator = || AuditFilter {
        install_wide: true,
        ..AuditFilter::default()
    };
    let all = db
        .store
        .list_audit_events(&a, &operator(), None, 100_000)
        .await
        .expect("list");
    // Its creation, 3 app creates and 3 rounds of disable, rotate and enable in `a`, and 2 key
    // rotations.
    assert_eq!(all.len(), 15);
    // A tenant's view: its own events only.
    let own = db
        .store
        .list_audit_events(&a, &AuditFilter::default(), None, 100_000)
        .await
        .expect("list");
    assert_eq!(own.len(), 13);
    assert!(own.iter().all(|(_, e)| e.org.as_ref() == Some(&a)));
    assert!(
        all.iter()
            .all(|(_, e)| e.org.is_none() || e.org.as_ref() == Some(&a))
    );
    let theirs = db
        .store
        .list_audit_events(&b, &operator(), None, 100_000)
        .await
        .expect("list");
    assert_eq!(theirs.len(), 6);
    let hidden: Vec<i64> = theirs
        .iter()
        .filter(|(_, e)| e.org.is_some())
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(hidden.len(), 4);
    assert_eq!(db.count_events().await, 19);
    // The times climb with seq, two events a second.
    assert!(
        all.windows(2)
            .all(|w| w[0].1.date_created >= w[1].1.date_created)
    );
    let times: Vec<i64> = all.iter().map(|(_, e)| e.date_created).collect();
    let (t_new, t_old) = (times[1], times[13]);
    let tie = times
        .windows(2)
        .find(|w| w[0] == w[1] && w[0] < t_new && w[0] > t_old)
        .map(|w| w[0])
        .expect("two events share a second, mid-trail");
    let t_mid = tie;
    assert!(t_new > t_mid && t_mid > t_old);

    let target = all
        .iter()
        .find(|(_, e)| e.action == actions::APP_SECRET_ROTATED)
        .map(|(_, e)| e.target.clone())
        .expect("a rotation");
    let f = |action: Option<&str>, actor: Option<&str>, target: Option<&str>| AuditFilter {
        action: action.map(str::to_owned),
        actor: actor.map(str::to_owned),
        target: target.map(str::to_owned),
        ..operator()
    };
    let window = |since: Option<i64>, until: Option<i64>| AuditFilter {
        since,
        until,
        ..operator()
    };
    let filters = vec![
        (operator(), true),
        (f(Some(actions::APP_CREATED), None, None), true),
        (f(Some(actions::APP_DISABLED), None, None), true),
        (f(Some(actions::KEY_ROTATED), None, None), true),
        (f(Some("APP.CREATED"), None, None), false),
        (f(Some("app."), None, None), false),
        (f(Some(""), None, None), false),
        (f(None, Some(&alice.sid), None), true),
        (f(None, Some(&bob.sid), None), true),
        (f(None, Some("cli"), None), true),
        (f(None, Some("bootstrap"), None), false),
        (f(None, Some(&alice.sid[..10]), None), false),
        (f(None, None, Some(&target)), true),
        (f(None, None, Some(&target.to_lowercase())), false),
        (f(None, None, Some(a.as_str())), true),
        (
            f(Some(actions::APP_ENABLED), Some("cli"), Some(&target)),
            true,
        ),
        (f(Some(actions::APP_ENABLED), Some(&bob.sid), None), false),
        (window(Some(t_mid), None), true),
        (window(None, Some(t_mid)), true),
        (window(Some(t_old), Some(t_new)), true),
        (window(Some(t_mid), Some(t_mid)), false),
        (window(Some(t_mid), Some(t_mid + 1)), true),
        (window(Some(t_new), Some(t_old)), false),
        (window(Some(times[0] + 1), None), false),
        (window(None, Some(times[14])), false),
        (
            AuditFilter {
                action: Some(actions::APP_SECRET_ROTATED.into()),
                since: Some(t_old),
                until: Some(t_new),
                ..operator()
            },
            true,
        ),
    ];
    for (filter, some) in &filters {
        let want: Vec<(i64, AuditEvent)> = all
            .iter()
            .filter(|(_, e)| audit_matches(e, filter))
            .cloned()
            .collect();
        assert_eq!(!want.is_empty(), *some, "fixture for {filter:?}");
        let got = db
            .store
            .list_audit_events(&a, filter, None, 1000)
            .await
            .expect("list");
        assert_eq!(got, want, "{filter:?}");
        for size in [1, 2, 3, 5, 20] {
            assert_eq!(
                walk_audit_forward(db, &a, filter, size).await,
                want,
                "forward, size {size}, {filter:?}"
            );
            assert_eq!(
                walk_audit_backward(db, &a, filter, size).await,
                want,
                "backward, size {size}, {filter:?}"
            );
        }
    }
    // Ties on the time: `since` takes every event of that second, `until` none of them.
    let at_tie = |f: &AuditFilter| {
        let store = Arc::clone(&db.store);
        let (a, f) = (a.clone(), f.clone());
        async move {
            store
                .list_audit_events(&a, &f, None, 1000)
                .await
                .expect("list")
                .iter()
                .filter(|(_, e)| e.date_created == tie)
                .count()
        }
    };
    assert_eq!(at_tie(&window(Some(tie), None)).await, 2);
    assert_eq!(at_tie(&window(None, Some(tie))).await, 0);

    // Positions between rows (another organization's events) and beyond both ends.
    let newest = all[0].0;
    let oldest = all[14].0;
    let mut positions = hidden.clone();
    positions.extend([0, 1, oldest, newest, newest + 1, newest + 1000, i64::MAX]);
    for pos in positions {
        let older: Vec<(i64, AuditEvent)> = all.iter().filter(|(s, _)| *s < pos).cloned().collect();
        let newer: Vec<(i64, AuditEvent)> = all.iter().filter(|(s, _)| *s > pos).cloned().collect();
        for limit in [1u32, 4, 100] {
            let got = db
                .store
                .list_audit_events(
                    &a,
                    &operator(),
                    Some(&seq_cursor(Direction::Next, pos)),
                    limit,
                )
                .await
                .expect("list");
            let want: Vec<_> = older.iter().take(limit as usize).cloned().collect();
            assert_eq!(got, want, "older than {pos}, limit {limit}");
            let got = db
                .store
                .list_audit_events(
                    &a,
                    &operator(),
                    Some(&seq_cursor(Direction::Previous, pos)),
                    limit,
                )
                .await
                .expect("list");
            let want = newer[newer.len().saturating_sub(limit as usize)..].to_vec();
            assert_eq!(got, want, "newer than {pos}, limit {limit}");
        }
    }
    // Limits cut the newest-first list.
    for limit in [0u32, 1, 5, 15, 16] {
        let got = db
            .store
            .list_audit_events(&a, &operator(), None, limit)
            .await
            .expect("list");
        assert_eq!(got, all[..(limit as usize).min(all.len())].to_vec());
    }
}

async fn signing_key_rotation_retires_or_revokes(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let now = orgiam_domain::time_fmt::now();
    let k0 = signing_key(now - 40);
    db.store
        .init_keys(&keys(1).0, &k0)
        .await
        .expect("init keys");
    assert_revisions(db, 0, 1, 0).await;
    let cli = Actor::cli();
    let material = |k: &SigningKey| (k.kid.clone(), k.private_der.clone(), k.public_raw.clone());
    let listed = || {
        let store = Arc::clone(&db.store);
        async move { store.signing_keys().await.expect("keys") }
    };

    // Keep: the active key retires now and keeps verifying; the new one signs.
    let k1 = signing_key(now - 30);
    let m = mark(db, &o).await;
    db.store
        .rotate_signing_key(&k1, false, &cli)
        .await
        .expect("rotate");
    let after = orgiam_domain::time_fmt::now();
    let got = listed().await;
    assert_eq!(got.len(), 2);
    assert_eq!(material(&got[0]), material(&k1));
    assert_eq!(got[0].created_at, k1.created_at);
    assert_eq!(got[0].retired_at, None);
    assert_eq!(material(&got[1]), material(&k0));
    let k0_retired = got[1].retired_at.expect("k0 retired");
    assert!(m.at <= k0_retired && k0_retired <= after);
    assert_revisions(db, 0, 2, 0).await;
    let e = one_new_event(db, &o, &m).await;
    assert_event(
        &e,
        None,
        &cli,
        actions::KEY_ROTATED,
        k1.kid.as_str(),
        Some(json!({"signing_kids": [k0.kid.as_str()]})),
        Some(json!({"signing_kid": k1.kid.as_str(), "previous_keys": "retired"})),
    );
    assert_secret_free(&e, &[k0.private_der.clone(), k1.private_der.clone()]);

    // Again: an already retired key keeps its retirement time.
    let k2 = signing_key(now - 20);
    db.store
        .rotate_signing_key(&k2, false, &cli)
        .await
        .expect("rotate");
    let got = listed().await;
    let kids: Vec<&KeySid> = got.iter().map(|k| &k.kid).collect();
    assert_eq!(kids, vec![&k2.kid, &k1.kid, &k0.kid]);
    assert_eq!(got[0].retired_at, None);
    assert!(got[1].retired_at.is_some());
    assert_eq!(got[2].retired_at, Some(k0_retired));
    assert_revisions(db, 0, 3, 0).await;

    // Keys retired longer ago than the longest token lives are pruned; younger ones stay.
    db.set_key_retired_at(&k0.kid, now - MAX_TOKEN_TTL - 3600)
        .await;
    db.set_key_retired_at(&k1.kid, now - MAX_TOKEN_TTL + 3600)
        .await;
    let k3 = signing_key(now - 10);
    db.store
        .rotate_signing_key(&k3, false, &cli)
        .await
        .expect("rotate");
    let got = listed().await;
    let kids: Vec<&KeySid> = got.iter().map(|k| &k.kid).collect();
    assert_eq!(kids, vec![&k3.kid, &k2.kid, &k1.kid], "k0 pruned");
    assert_eq!(got[2].retired_at, Some(now - MAX_TOKEN_TTL + 3600));
    assert!(got[1].retired_at.is_some());
    assert_revisions(db, 0, 4, 0).await;

    // Revoke: every other key goes at once, retired or not.
    let k4 = signing_key(now);
    let actor = app_actor();
    let m = mark(db, &o).await;
    let mut all_kids: Vec<String> = listed().await.iter().map(|k| k.kid.to_string()).collect();
    all_kids.sort();
    db.store
        .rotate_signing_key(&k4, true, &actor)
        .await
        .expect("revoke");
    let got = listed().await;
    assert_eq!(got.len(), 1);
    assert_eq!(material(&got[0]), material(&k4));
    assert_eq!(got[0].retired_at, None);
    assert_revisions(db, 0, 5, 0).await;
    let e = one_new_event(db, &o, &m).await;
    assert_event(
        &e,
        None,
        &actor,
        actions::KEY_ROTATED,
        k4.kid.as_str(),
        Some(json!({"signing_kids": all_kids})),
        Some(json!({"signing_kid": k4.kid.as_str(), "previous_keys": "revoked"})),
    );

    // Racing rotations take turns: one key signs afterwards, and each event names the key
    // the one before it installed.
    let m = mark(db, &o).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&db.store);
        let k = signing_key(now + 1 + i);
        set.spawn(async move { store.rotate_signing_key(&k, false, &Actor::cli()).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("rotate");
    }
    let got = listed().await;
    assert_eq!(got.len(), 9);
    let active: Vec<&SigningKey> = got.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(active.len(), 1, "one signing key: {got:?}");
    assert_revisions(db, 0, 13, 0).await;
    let mut chain: Vec<AuditEvent> = all_events(db, &o)
        .await
        .into_iter()
        .filter(|(s, _)| *s > m.seq)
        .map(|(_, e)| e)
        .collect();
    chain.reverse();
    assert_eq!(chain.len(), 8);
    let mut previous = k4.kid.as_str().to_owned();
    for e in &chain {
        assert_eq!(e.before, Some(json!({"signing_kids": [previous]})), "{e:?}");
        previous = e.target.clone();
    }
    assert_eq!(previous, active[0].kid.as_str());
}

async fn import_roles_is_private_and_atomic(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let builtin = builtin_roles();
    db.store.sync_builtin_roles(&builtin).await.expect("sync");
    let actor = app_actor();
    let make = |org: &OrgSid, prefix: &str, n: usize| -> Vec<Role> {
        (0..n)
            .map(|i| {
                custom_role(
                    org,
                    &format!("{prefix} {i:04}"),
                    "imported",
                    Some(&["account"]),
                )
            })
            .collect()
    };
    let (first, second) = (make(&a, "First", 3), make(&a, "Second", 2));
    let imported: Vec<Role> = first.iter().chain(&second).cloned().collect();
    assert_revisions(db, 0, 0, 0).await;

    let m = mark(db, &a).await;
    let mb = mark(db, &b).await;
    let n = db
        .store
        .import_roles(
            &a,
            &mut batches(vec![Ok(first), Ok(Vec::new()), Ok(second)]),
            &actor,
        )
        .await
        .expect("import");
    assert_eq!(n, 5);
    assert_revisions(db, 0, 0, 1).await;
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &actor,
        actions::ROLES_IMPORTED,
        a.as_str(),
        None,
        Some(json!({"roles": 5})),
    );
    assert_eq!(
        all_events(db, &b).await.first().map_or(0, |(s, _)| *s),
        mb.seq,
        "nothing new for b"
    );

    // Visible to `a` only, like any custom role.
    let list = |org: &OrgSid, f: RoleFilter| {
        let store = Arc::clone(&db.store);
        let org = org.clone();
        async move {
            store
                .list_roles(&org, &f, None, 10_000)
                .await
                .expect("list")
        }
    };
    assert_eq!(
        list(&a, RoleFilter::default()).await,
        sorted(builtin.iter().chain(&imported).cloned().collect())
    );
    assert_eq!(list(&a, group("imported")).await, sorted(imported.clone()));
    assert_eq!(
        walk_roles_forward(db.store.as_ref(), &a, &group("imported"), 2).await,
        sorted(imported.clone())
    );
    assert_eq!(
        list(&b, RoleFilter::default()).await,
        sorted(builtin.clone())
    );
    assert!(list(&b, search("first")).await.is_empty());
    for r in &imported {
        assert_eq!(
            db.store.role(&a, &r.sid).await.expect("role").as_ref(),
            Some(r)
        );
        assert_eq!(db.store.role(&b, &r.sid).await.expect("role"), None);
    }

    // The second batch fails: nothing of the first stays, no event, no revision.
    let doomed = make(&a, "Doomed", 4);
    let m = mark(db, &a).await;
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let mut feed = batches(vec![
        Ok(doomed.clone()),
        Err(Error::bad_request("row 5 is malformed")),
        Ok(make(&a, "Never", 1)),
    ]);
    let mut counted = || {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        feed()
    };
    match db.store.import_roles(&a, &mut counted, &actor).await {
        Err(Error::BadRequest(msg)) => assert!(msg.contains("row 5"), "{msg}"),
        other => panic!("expected the batch's error, got {other:?}"),
    }
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "stops at the error"
    );
    assert_no_new_event(db, &m, "a failed import").await;
    assert_revisions(db, 0, 0, 1).await;
    for r in &doomed {
        assert_eq!(db.store.role(&a, &r.sid).await.expect("role"), None);
    }
    assert!(list(&a, search("doomed")).await.is_empty());
    assert!(list(&a, search("never")).await.is_empty());

    // Big batches (beyond one multi-row INSERT) in another organization.
    let bulk = make(&b, "Bulk", 1205);
    let (head, tail) = bulk.split_at(1100);
    let n = db
        .store
        .import_roles(
            &b,
            &mut batches(vec![Ok(head.to_vec()), Ok(tail.to_vec())]),
            &Actor::cli(),
        )
        .await
        .expect("bulk import");
    assert_eq!(n, 1205);
    assert_revisions(db, 0, 0, 2).await;
    assert_eq!(list(&b, group("imported")).await, sorted(bulk));
    assert_eq!(list(&a, group("imported")).await, sorted(imported.clone()));
    let newest = all_events(db, &b).await;
    assert_eq!(newest[0].1.after, Some(json!({"roles": 1205})));
    assert_eq!(newest[0].1.actor, "cli");
    assert_eq!(newest[0].1.request_id, None);

    // Imported names are in the search index, and the index still follows later writes (an
    // SQLite import takes the index's insert trigger off and puts it back, also when it fails).
    assert_eq!(
        list(&a, search("first 0002")).await,
        vec![imported[2].clone()]
    );
    assert_eq!(list(&b, search("bulk 1204")).await.len(), 1);
    let later = custom_role(&a, "Later Addition", "imported", None);
    db.insert_custom_role(&later).await;
    assert_eq!(list(&a, search("later addi")).await, vec![later]);
}

async fn revisions_agree_with_revision(db: &TestDb) {
    assert_revisions(db, 0, 0, 0).await;
    db.store
        .init_keys(&keys(1).0, &signing_key(T0))
        .await
        .expect("init keys");
    assert_revisions(db, 0, 1, 0).await;
    let o = new_org(db, "acme").await;
    let x = app(&o, &secret());
    db.store
        .create_app(&x, &Actor::cli())
        .await
        .expect("create");
    assert_revisions(db, 1, 1, 0).await;
    db.store
        .set_app_status(&x.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    db.store
        .rotate_app_secret(&x.sid, &secret(), None, &Actor::cli())
        .await
        .expect("rotate");
    assert_revisions(db, 3, 1, 0).await;
    db.store
        .rotate_signing_key(&signing_key(T0 + 1), false, &Actor::cli())
        .await
        .expect("rotate key");
    assert_revisions(db, 3, 2, 0).await;
    db.store
        .import_roles(
            &o,
            &mut batches(vec![Ok(vec![custom_role(&o, "R", "g", None)])]),
            &Actor::cli(),
        )
        .await
        .expect("import");
    assert_revisions(db, 3, 2, 1).await;

    // Changes racing on every counter at once, each counted once.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let store = Arc::clone(&db.store);
        let o = o.clone();
        set.spawn(async move {
            let actor = Actor::cli();
            match i % 3 {
                0 => store.create_app(&app(&o, &secret()), &actor).await,
                1 => {
                    store
                        .rotate_signing_key(&signing_key(T0 + 10 + i), false, &actor)
                        .await
                }
                _ => {
                    let r = custom_role(&o, &format!("Raced {i}"), "g", None);
                    store
                        .import_roles(&o, &mut batches(vec![Ok(vec![r])]), &actor)
                        .await
                        .map(|_| ())
                }
            }
        });
    }
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = Arc::clone(&db.store);
        readers.spawn(async move {
            let mut last: Option<std::collections::HashMap<String, i64>> = None;
            for _ in 0..20 {
                let now = store.revisions().await.expect("revisions");
                if let Some(last) = &last {
                    for (name, value) in last {
                        assert!(now[name] >= *value, "{name} went back");
                    }
                }
                last = Some(now);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("change");
    }
    while let Some(r) = readers.join_next().await {
        r.expect("readers");
    }
    assert_revisions(db, 7, 6, 5).await;
}

// ---------------------------------------------------------------------------------------------
// Both engines, one fixture
// ---------------------------------------------------------------------------------------------

/// Builds the same rows (same SIDs) in a store.
async fn shared_fixture(db: &TestDb) -> (OrgSid, Vec<Role>) {
    let o = Org {
        sid: OrgSid::derived("engines-agree"),
        friendly_name: "both".into(),
        date_created: T0,
    };
    db.store.create_org(&o, &Actor::cli()).await.expect("org");
    let roles = role_fixture(db, &o.sid).await;
    let u = User {
        sid: UserSid::derived("user"),
        ..user(&o.sid, "user@example.com")
    };
    db.store.create_user(&u, &Actor::cli()).await.expect("user");
    for (i, role) in roles.iter().take(12).enumerate() {
        let acct = Account {
            sid: AccountSid::derived(&format!("acct-{i}")),
            ..account(&o.sid, None, Some(&u.sid))
        };
        db.store
            .create_account(&acct, &Actor::cli())
            .await
            .expect("account");
        let x = Assignment {
            sid: AssignmentSid::derived(&format!("asg-{i}")),
            resource_type: (i % 3 == 0).then(|| "billing_group".to_owned()),
            resource_id: (i % 3 == 0).then(|| format!("BG{i}")),
            ..assignment(&o.sid, &role.sid, acct.sid.as_str(), &u.sid)
        };
        db.store
            .create_assignment(&x, true, &Actor::cli())
            .await
            .expect("assignment");
    }
    (o.sid, roles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engines_agree() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let lite = TestDb::sqlite().await;
    let (org, roles) = shared_fixture(&lite).await;
    assert_eq!(shared_fixture(&pg).await, (org.clone(), roles.clone()));

    let sample = roles.last().expect("roles");
    let mut filters = role_filters(sample);
    // Outside the trait's promise (not lower-cased), the engines still agree: ASCII folds,
    // other letters do not.
    filters.extend([search("ALPHA"), search("É"), search("Ix"), search("ÉMILE")]);
    let mut cursors: Vec<Option<Cursor>> = vec![None];
    let ordered = sorted(roles.clone());
    for r in ordered.iter().step_by(5) {
        cursors.push(Some(role_cursor(Direction::Next, r)));
        cursors.push(Some(role_cursor(Direction::Previous, r)));
    }
    for key in [["b", ""], ["émile", "IX"], ["", ""], ["zz", "~"]] {
        for direction in [Direction::Next, Direction::Previous] {
            cursors.push(Some(Cursor {
                direction,
                key: key.iter().map(|s| (*s).to_owned()).collect(),
            }));
        }
    }
    let mut compared = 0;
    for f in &filters {
        for c in &cursors {
            for limit in [1, 4, 1000] {
                let l = lite
                    .store
                    .list_roles(&org, f, c.as_ref(), limit)
                    .await
                    .expect("sqlite");
                let p = pg
                    .store
                    .list_roles(&org, f, c.as_ref(), limit)
                    .await
                    .expect("postgres");
                assert_eq!(l, p, "filter {f:?}, cursor {c:?}, limit {limit}");
                compared += 1;
            }
        }
        for size in [2, 9] {
            let l = walk_roles_backward(lite.store.as_ref(), &org, f, size).await;
            let p = walk_roles_backward(pg.store.as_ref(), &org, f, size).await;
            assert_eq!(l, p);
            let l = walk_roles_forward(lite.store.as_ref(), &org, f, size).await;
            let p = walk_roles_forward(pg.store.as_ref(), &org, f, size).await;
            assert_eq!(l, p);
        }
    }
    assert!(compared > 500);

    let sids = ["", "AC", "AC8", "ACf", "AD"];
    for sid in sids {
        for direction in [Direction::Next, Direction::Previous] {
            let c = sid_cursor(direction, sid);
            assert_eq!(
                lite.store
                    .list_accounts(&org, Some(&c), 5)
                    .await
                    .expect("sqlite"),
                pg.store
                    .list_accounts(&org, Some(&c), 5)
                    .await
                    .expect("postgres"),
            );
            for f in [
                AssignmentFilter::default(),
                AssignmentFilter {
                    resource_type: Some("billing_group".into()),
                    ..AssignmentFilter::default()
                },
            ] {
                let c = Cursor {
                    key: vec![sid.replace("AC", "IY")],
                    ..c.clone()
                };
                assert_eq!(
                    lite.store
                        .list_assignments(&org, &f, Some(&c), 5)
                        .await
                        .expect("sqlite"),
                    pg.store
                        .list_assignments(&org, &f, Some(&c), 5)
                        .await
                        .expect("postgres"),
                );
            }
        }
    }

    // Email uniqueness compares bytes in both (so case matters in both).
    let upper = User {
        sid: UserSid::derived("upper"),
        ..user(&org, "USER@example.com")
    };
    let l = lite.store.create_user(&upper, &Actor::cli()).await;
    let p = pg.store.create_user(&upper, &Actor::cli()).await;
    assert_eq!(l.is_ok(), p.is_ok(), "{l:?} vs {p:?}");
}

/// An unreachable server is an outage (503), and the error never shows the password.
#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let url = DatabaseUrl::new("postgresql://orgiam:s3cret@127.0.0.1:1/orgiam");
    let started = std::time::Instant::now();
    match orgiam_store::connect(&url).await {
        Err(Error::Unavailable(m)) => assert!(!m.contains("s3cret"), "{m}"),
        Err(e) => panic!("expected unavailable, got {e:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

// ---------------------------------------------------------------------------------------------
// What one request may cost: org-scoped search plans, the resource-type index, the statement
// budget. Cases run as `cost::sqlite::<case>` and `cost::postgres::<case>`.
// ---------------------------------------------------------------------------------------------

macro_rules! cost_contract {
    ($($case:ident),* $(,)?) => {
        mod cost {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let db = super::super::TestDb::sqlite().await;
                        super::super::$case(&db).await;
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let Some(db) = super::super::TestDb::postgres().await else { return };
                        super::super::$case(&db).await;
                    }
                )*
            }
        }
    };
}

cost_contract!(
    searches_cost_the_same_whatever_other_organizations_hold,
    resource_type_filters_go_through_an_index,
    the_statement_budget_stops_unbounded_scans,
);

/// A second store on the test's database, with other options.
async fn store_with(db: &TestDb, options: &orgiam_store::StoreOptions) -> Arc<dyn Store> {
    let url = match &db.raw {
        Raw::Sqlite(pool) => format!(
            "sqlite://{}",
            pool.connect_options().get_filename().display()
        ),
        Raw::Postgres(pool) => {
            let o = pool.connect_options();
            format!(
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("postgres")
            )
        }
    };
    orgiam_store::connect_with(&DatabaseUrl::new(url), options)
        .await
        .expect("a second store on the test database")
}

/// Imports `n` custom roles into `org` named `name(i)`, each with `types`.
async fn import_many(
    db: &TestDb,
    org: &OrgSid,
    n: usize,
    name: impl Fn(usize) -> String,
    types: Option<&[&str]>,
) {
    let roles: Vec<Role> = (0..n)
        .map(|i| {
            let mut r = custom_role(org, &name(i), "bulk", types);
            r.sid = RoleSid::random();
            r
        })
        .collect();
    let chunks: Vec<Result<Vec<Role>, Error>> =
        roles.chunks(5000).map(|c| Ok(c.to_vec())).collect();
    db.store
        .import_roles(org, &mut batches(chunks), &app_actor())
        .await
        .expect("import");
}

/// The median time of `list_roles` over `n` calls, and its answer.
async fn timed_list(
    store: &dyn Store,
    org: &OrgSid,
    f: &RoleFilter,
    n: usize,
) -> (std::time::Duration, Vec<Role>) {
    let mut times = Vec::with_capacity(n);
    let mut last = Vec::new();
    for _ in 0..n {
        let started = std::time::Instant::now();
        last = store.list_roles(org, f, None, 51).await.expect("list");
        times.push(started.elapsed());
    }
    times.sort();
    (times[n / 2], last)
}

/// Medians of `a` and `b` over alternating rounds; returns `a / b`.
async fn cost_ratio(store: &dyn Store, org: &OrgSid, a: &RoleFilter, b: &RoleFilter) -> f64 {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        ta.push(timed_list(store, org, a, 15).await.0);
        tb.push(timed_list(store, org, b, 15).await.0);
    }
    ta.sort();
    tb.sort();
    ta[2].as_secs_f64() / tb[2].as_secs_f64()
}

/// A foreign organization whose names hold a search's trigrams, and whose SIDs fill every SID
/// prefix, changes neither the caller's answers nor its costs: `le 01` (in 1,900 of the
/// foreign names, so it is "rare" install-wide) costs what `le 02` (in none) costs, and the
/// SID prefix `ix0` (1/16 of the foreign roles) what `zq0` does. Before the candidate lookup
/// and the SID range were scoped to the organization, the first of each pair cost 10-20x.
async fn searches_cost_the_same_whatever_other_organizations_hold(db: &TestDb) {
    let me = new_org(db, "caller").await;
    let them = new_org(db, "foreign").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    let mine = custom_role(&me, "Console 01 Mine", "custom", None);
    db.insert_custom_role(&mine).await;
    db.insert_custom_role(&custom_role(&me, "Reader", "custom", None))
        .await;
    import_many(db, &them, 1900, |i| format!("Console 01 {i:05}"), None).await;
    import_many(db, &them, 18_000, |i| format!("Widget {i:05}"), None).await;

    // Answers: the caller's own, never the foreign organization's.
    let got = db
        .store
        .list_roles(&me, &search("le 01"), None, 1000)
        .await
        .expect("list");
    assert_eq!(got, vec![mine.clone()]);
    for f in [search("le 02"), search("zq0")] {
        let got = db
            .store
            .list_roles(&me, &f, None, 1000)
            .await
            .expect("list");
        assert_eq!(got, Vec::<Role>::new(), "{f:?}");
    }
    let prefix = mine.sid.as_str()[..3].to_lowercase();
    let got = db
        .store
        .list_roles(&me, &search(&prefix), None, 1000)
        .await
        .expect("list");
    assert!(got.contains(&mine), "{prefix}");
    assert!(
        got.iter().all(|r| r.org.as_ref() != Some(&them)),
        "{prefix}"
    );

    // Costs: within noise of each other (a generous bound; the unscoped plans cost 10-20x).
    for (a, b) in [("le 01", "le 02"), ("ix0", "zq0")] {
        let ratio = cost_ratio(db.store.as_ref(), &me, &search(a), &search(b)).await;
        eprintln!(
            "{}: Search={a} vs Search={b}: {ratio:.2}x",
            db.store.engine()
        );
        assert!(ratio < 3.0, "Search={a} costs {ratio:.1}x Search={b}");
    }
}

/// `ResourceTypes` asks an index: a type no role has costs about what the first page costs,
/// in an organization of 30,000 roles (a look at every row's types cost ~100x), and the
/// answers are the filter's (each role once, also when it has several of the types).
async fn resource_type_filters_go_through_an_index(db: &TestDb) {
    let me = new_org(db, "caller").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    import_many(
        db,
        &me,
        30_000,
        |i| format!("Bulk {i:05}"),
        Some(&["campaign", "domain"]),
    )
    .await;
    let ratio = cost_ratio(
        db.store.as_ref(),
        &me,
        &types(&["nope"]),
        &RoleFilter::default(),
    )
    .await;
    eprintln!(
        "{}: ResourceTypes=nope vs the first page: {ratio:.2}x",
        db.store.engine()
    );
    assert!(
        ratio < 3.0,
        "ResourceTypes=nope costs {ratio:.1}x a plain page"
    );
    let got = db
        .store
        .list_roles(&me, &types(&["nope"]), None, 51)
        .await
        .expect("list");
    assert_eq!(got, Vec::<Role>::new());
    // Both types: every role once, in order, pages joining up.
    let both = types(&["domain", "campaign"]);
    let page = db
        .store
        .list_roles(&me, &both, None, 51)
        .await
        .expect("list");
    assert_eq!(page.len(), 51);
    let names: Vec<String> = page.iter().map(|r| r.friendly_name.clone()).collect();
    let want: Vec<String> = (0..51).map(|i| format!("Bulk {i:05}")).collect();
    assert_eq!(names, want);
    let next = db
        .store
        .list_roles(
            &me,
            &both,
            Some(&role_cursor(Direction::Next, &page[50])),
            2,
        )
        .await
        .expect("list");
    let names: Vec<&str> = next.iter().map(|r| r.friendly_name.as_str()).collect();
    assert_eq!(names, ["Bulk 00051", "Bulk 00052"]);
    let back = db
        .store
        .list_roles(
            &me,
            &both,
            Some(&role_cursor(Direction::Previous, &page[50])),
            2,
        )
        .await
        .expect("list");
    let names: Vec<&str> = back.iter().map(|r| r.friendly_name.as_str()).collect();
    assert_eq!(names, ["Bulk 00048", "Bulk 00049"]);
    // Built-in roles with a type are found through the index too.
    let builtin_typed = builtin_roles()
        .into_iter()
        .filter(|r| r.resource_types.is_some())
        .collect::<Vec<_>>();
    let t = builtin_typed[0].resource_types.as_ref().unwrap()[0].clone();
    let got = db
        .store
        .list_roles(&me, &types(&[&t]), None, 1000)
        .await
        .expect("list");
    assert_eq!(
        got,
        expected_roles(&builtin_roles(), &types(&[&t])),
        "built-in roles of type {t}"
    );
}

/// A listing that would scan an organization's every row is stopped at the statement budget
/// and reported as `Overloaded` (503, code 20503); the store stays usable, and the same
/// listing with a larger budget answers.
async fn the_statement_budget_stops_unbounded_scans(db: &TestDb) {
    let me = new_org(db, "caller").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    // Every name holds each trigram of "role role" (so the search walks the names in order),
    // and none holds the phrase: the walk reads all 60,000.
    import_many(db, &me, 60_000, |i| format!("Rolex Care Role {i:05}"), None).await;
    let tight = store_with(
        db,
        &orgiam_store::StoreOptions {
            statement_timeout: Some(std::time::Duration::from_millis(2)),
        },
    )
    .await;
    let stopped = tight.list_roles(&me, &search("role role"), None, 51).await;
    assert!(
        matches!(stopped, Err(Error::Overloaded(_))),
        "{:?}",
        stopped.map(|r| r.len())
    );
    // The store (and the connection that was stopped) serves a quick listing normally (a few
    // tries: 2 ms is tight for anything on a busy machine).
    let mut served = false;
    for _ in 0..20 {
        match tight.list_roles(&me, &RoleFilter::default(), None, 5).await {
            Ok(found) => {
                assert_eq!(found.len(), 5);
                served = true;
                break;
            }
            Err(Error::Overloaded(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(served, "a quick listing within 2 ms in one of 20 tries");
    let unbounded = store_with(
        db,
        &orgiam_store::StoreOptions {
            statement_timeout: None,
        },
    )
    .await;
    let all = unbounded
        .list_roles(&me, &search("role role"), None, 51)
        .await
        .expect("no budget: the walk finishes");
    assert_eq!(all, Vec::<Role>::new());
}

async fn reseal_rewrites_every_secret_value_at_once(db: &TestDb) {
    // Nothing to see on a store without keys.
    let seen = std::sync::Mutex::new(Vec::new());
    let n = db
        .store
        .reseal_keys(&|slot: &str, _: &[u8]| {
            seen.lock().unwrap().push(slot.to_owned());
            Ok(None)
        })
        .await
        .expect("reseal an empty store");
    assert_eq!(n, 0);
    assert!(seen.lock().unwrap().is_empty());

    let (k, first) = keys(1);
    db.store.init_keys(&k, &first).await.expect("init");
    let (_, second) = keys(2);
    db.store
        .rotate_signing_key(&second, false, &Actor::cli())
        .await
        .expect("rotate");
    let revs = db.store.revisions().await.expect("revisions");

    // Every value is offered once, under its slot; what `f` returns is stored.
    let n = db
        .store
        .reseal_keys(&|slot: &str, value: &[u8]| {
            seen.lock().unwrap().push(slot.to_owned());
            Ok(Some(
                [
                    b"sealed:".as_slice(),
                    slot.as_bytes(),
                    b":".as_slice(),
                    value,
                ]
                .concat(),
            ))
        })
        .await
        .expect("reseal");
    assert_eq!(n, 4);
    let mut slots = seen.lock().unwrap().clone();
    slots.sort();
    let mut expected = vec![
        key_slots::PAGE_KEY.to_owned(),
        key_slots::SECRET_KEY.to_owned(),
        key_slots::signing_key(first.kid.as_str()),
        key_slots::signing_key(second.kid.as_str()),
    ];
    expected.sort();
    assert_eq!(slots, expected);
    let wrapped = |slot: &str, v: &[u8]| {
        [b"sealed:".as_slice(), slot.as_bytes(), b":".as_slice(), v].concat()
    };
    let got = db.store.server_keys().await.expect("keys");
    assert_eq!(got.page_key, wrapped(key_slots::PAGE_KEY, &k.page_key));
    assert_eq!(
        got.secret_key,
        wrapped(key_slots::SECRET_KEY, &k.secret_key)
    );
    for key in db.store.signing_keys().await.expect("signing") {
        let original = if key.kid == first.kid {
            &first
        } else {
            &second
        };
        assert_eq!(
            key.private_der,
            wrapped(
                &key_slots::signing_key(key.kid.as_str()),
                &original.private_der
            )
        );
        assert_eq!(
            key.public_raw, original.public_raw,
            "public keys are left alone"
        );
    }
    assert_eq!(
        db.store.revisions().await.expect("revisions"),
        revs,
        "no revision moves: the keys are the same keys"
    );

    // `None` leaves a value; an error anywhere leaves every value as it was.
    let key_list = |keys: Vec<SigningKey>| -> Vec<(KeySid, Vec<u8>)> {
        keys.into_iter().map(|k| (k.kid, k.private_der)).collect()
    };
    let before = (
        db.store.server_keys().await.expect("keys").page_key,
        key_list(db.store.signing_keys().await.expect("keys")),
    );
    let n = db
        .store
        .reseal_keys(&|_: &str, _: &[u8]| Ok(None))
        .await
        .expect("reseal nothing");
    assert_eq!(n, 0);
    let failed = db
        .store
        .reseal_keys(&|slot: &str, value: &[u8]| {
            if slot.starts_with("signing_keys/") {
                Err(Error::internal("no"))
            } else {
                Ok(Some(value.iter().copied().rev().collect()))
            }
        })
        .await;
    assert!(failed.is_err());
    let after = (
        db.store.server_keys().await.expect("keys").page_key,
        key_list(db.store.signing_keys().await.expect("keys")),
    );
    assert_eq!(before, after, "a failed reseal changes nothing");
}

/// Revoked tokens: one event and one counter bump per new revocation, none for a repeat;
/// listed after a revision until they expire, then pruned by the next revocation.
async fn revoked_tokens_are_kept_until_they_expire(db: &TestDb) {
    let o = new_org(db, "revoker").await;
    let a = app(&o, &secret());
    db.store.create_app(&a, &Actor::cli()).await.unwrap();
    let now = orgiam_domain::time_fmt::now();
    assert_eq!(db.store.revision(REVOCATIONS_REVISION).await.unwrap(), 0);
    assert_eq!(db.store.revoked_since(0, now).await.unwrap(), (vec![], 0));
    let actor = app_actor();
    let t = RevokedToken {
        jti: random_body(),
        org: o.clone(),
        app: a.sid.clone(),
        expires_at: now + 600,
    };
    let m = mark(db, &o).await;
    assert!(db.store.revoke_token(&t, &actor).await.unwrap());
    let e = one_new_event(db, &o, &m).await;
    assert_event(
        &e,
        Some(&o),
        &actor,
        actions::TOKEN_REVOKED,
        a.sid.as_str(),
        None,
        Some(json!({"jti": t.jti, "expires_at": t.expires_at})),
    );
    let m = mark(db, &o).await;
    assert!(!db.store.revoke_token(&t, &actor).await.unwrap());
    assert_no_new_event(db, &m, "a second revocation of one token").await;
    assert_eq!(db.store.revision(REVOCATIONS_REVISION).await.unwrap(), 1);
    assert_eq!(
        db.store.revoked_since(0, now).await.unwrap(),
        (vec![t.clone()], 1)
    );
    assert_eq!(db.store.revoked_since(1, now).await.unwrap(), (vec![], 1));

    // An entry already past its expiry is not listed, and the next revocation prunes it.
    let old = RevokedToken {
        jti: random_body(),
        expires_at: now - 10,
        ..t.clone()
    };
    assert!(db.store.revoke_token(&old, &actor).await.unwrap());
    assert_eq!(
        db.store.revoked_since(0, now).await.unwrap(),
        (vec![t.clone()], 2)
    );
    let (listed, _) = db.store.revoked_since(0, now - 100).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let t3 = RevokedToken {
        jti: random_body(),
        ..t.clone()
    };
    assert!(db.store.revoke_token(&t3, &actor).await.unwrap());
    let (listed, rev) = db.store.revoked_since(0, now - 100).await.unwrap();
    assert_eq!(rev, 3);
    let jtis: BTreeSet<&str> = listed.iter().map(|r| r.jti.as_str()).collect();
    assert_eq!(jtis, BTreeSet::from([t.jti.as_str(), t3.jti.as_str()]));
}

/// The feed servers follow to log changes: every organization's events and the install-wide
/// ones, oldest first, after a position, in pages; and the newest position.
async fn the_change_feed_follows_every_organization_in_order(db: &TestDb) {
    assert_eq!(db.store.last_audit_position().await.expect("last"), 0);
    assert!(
        db.store
            .audit_events_after(0, 10)
            .await
            .expect("feed")
            .is_empty()
    );
    db.store
        .init_keys(&keys(1).0, &signing_key(T0))
        .await
        .expect("init keys");
    let a = new_org(db, "a").await;
    let start = db.store.last_audit_position().await.expect("last");
    let b = new_org(db, "b").await;
    let x = app(&a, &secret());
    db.store.create_app(&x, &Actor::cli()).await.expect("app");
    db.store
        .set_app_status(&x.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    db.store
        .rotate_signing_key(&signing_key(T0 + 1), false, &Actor::cli())
        .await
        .expect("rotate key");
    let feed = db.store.audit_events_after(start, 100).await.expect("feed");
    let actions: Vec<&str> = feed.iter().map(|(_, e)| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["org.created", "app.created", "app.disabled", "key.rotated"]
    );
    assert_eq!(feed[0].1.org.as_ref(), Some(&b));
    assert_eq!(feed[1].1.org.as_ref(), Some(&a));
    assert_eq!(feed[3].1.org, None);
    let positions: Vec<i64> = feed.iter().map(|(p, _)| *p).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(
        db.store.last_audit_position().await.expect("last"),
        *positions.last().expect("some")
    );
    // In pages: two, then the rest after the second's position.
    let first = db.store.audit_events_after(start, 2).await.expect("page");
    assert_eq!(first.len(), 2);
    let rest = db
        .store
        .audit_events_after(first[1].0, 100)
        .await
        .expect("rest");
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].1.sid, feed[2].1.sid);
    let pool = db.store.pool_status();
    assert!(
        pool.max >= 1 && pool.idle <= pool.size && pool.size <= pool.max,
        "{pool:?}"
    );
    db.store.pool_wait().await.expect("a connection");
}

// ---------------------------------------------------------------------------------------------
// What effective permissions read
// ---------------------------------------------------------------------------------------------

async fn access_reads_chains_assignments_and_active_flags(db: &TestDb) {
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    let role = builtin_roles()
        .into_iter()
        .find(|r| r.lowest_level == Level::SubAccount)
        .expect("a sub-account role");
    let org = new_org(db, "a").await;
    let other = new_org(db, "b").await;
    let u1 = new_user(db, &org, "one@example.com").await;
    let u2 = new_user(db, &org, "two@example.com").await;
    let foreign = new_user(db, &other, "x@example.com").await;
    let top = account(&org, None, Some(&u1));
    let mid = account(&org, Some(&top.sid), Some(&u1));
    let leaf = account(&org, Some(&mid.sid), Some(&u1));
    let far = account(&other, None, Some(&foreign));
    for a in [&top, &mid, &leaf, &far] {
        db.store
            .create_account(a, &Actor::cli())
            .await
            .expect("account");
    }
    let access = db.store.access();
    let chain = access
        .scope_chain(&org, leaf.sid.as_str())
        .await
        .expect("chain");
    let want = vec![
        leaf.sid.to_string(),
        mid.sid.to_string(),
        top.sid.to_string(),
        org.to_string(),
    ];
    assert_eq!(chain.as_ref(), Some(&want));
    assert_eq!(
        access.scope_chain(&org, org.as_str()).await.expect("chain"),
        Some(vec![org.to_string()])
    );
    for outside in [
        far.sid.to_string(),
        other.to_string(),
        "nonsense".to_owned(),
    ] {
        assert_eq!(
            access.scope_chain(&org, &outside).await.expect("chain"),
            None
        );
    }
    let many = access
        .scope_chains(
            &org,
            &[
                leaf.sid.to_string(),
                org.to_string(),
                far.sid.to_string(),
                top.sid.to_string(),
            ],
        )
        .await
        .expect("chains");
    assert_eq!(many.len(), 3);
    assert_eq!(many.get(leaf.sid.as_str()), Some(&want));
    assert_eq!(
        many.get(top.sid.as_str()),
        Some(&vec![top.sid.to_string(), org.to_string()])
    );

    // Users: active by default; a change writes one event, a no-op none.
    let active = access
        .users_active(&org, &[u1.clone(), u2.clone(), foreign.clone()])
        .await
        .expect("active");
    assert_eq!(active.len(), 2);
    assert!(active.values().all(|a| *a));
    assert_eq!(
        access
            .set_user_active(&org, &u2, false, &Actor::cli())
            .await
            .expect("set"),
        Some(true)
    );
    assert_eq!(
        access
            .set_user_active(&org, &u2, false, &Actor::cli())
            .await
            .expect("set"),
        Some(false)
    );
    assert_eq!(
        access
            .set_user_active(&org, &foreign, false, &Actor::cli())
            .await
            .expect("set"),
        None
    );
    let active = access
        .users_active(&org, std::slice::from_ref(&u2))
        .await
        .expect("active");
    assert_eq!(active.get(&u2), Some(&false));
    let events = db
        .store
        .list_audit_events(
            &org,
            &AuditFilter {
                action: Some(actions::USER_DEACTIVATED.into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.target, u2.as_str());

    // Assignments of users, and at scopes with the user's flag, in (identity, sid) order.
    let a1 = assignment(&org, &role.sid, top.sid.as_str(), &u1);
    let a2 = assignment(&org, &role.sid, org.as_str(), &u2);
    let a3 = assignment(&org, &role.sid, leaf.sid.as_str(), &u1);
    for a in [&a1, &a2, &a3] {
        db.store
            .create_assignment(a, true, &Actor::cli())
            .await
            .expect("assign");
    }
    let mine = access
        .assignments_of(&org, std::slice::from_ref(&u1))
        .await
        .expect("of");
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|a| a.identity == u1));
    assert!(
        access
            .assignments_of(&other, std::slice::from_ref(&u1))
            .await
            .expect("of")
            .is_empty()
    );
    let at = access
        .assignments_at(&org, &[org.to_string(), top.sid.to_string()], None, 10)
        .await
        .expect("at");
    let mut want: Vec<(String, bool)> =
        vec![(a1.sid.to_string(), true), (a2.sid.to_string(), false)];
    want.sort_by_key(|(sid, _)| {
        if *sid == a1.sid.to_string() {
            u1.to_string()
        } else {
            u2.to_string()
        }
    });
    let got: Vec<(String, bool)> = at
        .iter()
        .map(|(a, act)| (a.sid.to_string(), *act))
        .collect();
    assert_eq!(got, want);
    let (first, _) = &at[0];
    let rest = access
        .assignments_at(
            &org,
            &[org.to_string(), top.sid.to_string()],
            Some((first.identity.as_str(), first.sid.as_str())),
            10,
        )
        .await
        .expect("at");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].0.sid, at[1].0.sid);
}
