//! The filter-to-SQL translation, run on an in-memory SQLite database with the table layout of
//! `scim::sql`: for generated filters and users, the SQL selects exactly the users the
//! in-memory evaluator selects, never a user of another organization, and `sortBy` orders them
//! as promised; and the identity providers' lookups are index searches.

mod scim_common;

use orgiam_domain::scim::filter::{self, Attr, Filter, fold};
use orgiam_domain::scim::list::{DEFAULT_COUNT, ListQuery, SortOrder};
use orgiam_domain::scim::sql::{Param, sort_column, translate};
use orgiam_domain::scim::user::ScimUser;
use proptest::prelude::*;
use scim_common::{filter as gen_filter, string_filter, user, users};
use sqlx::{Connection, Row, SqliteConnection};

const ORG: &str = "OR00000000000000000000000000000001";
const OTHER_ORG: &str = "OR00000000000000000000000000000002";

const SCHEMA: &str = "
CREATE TABLE users (
    sid TEXT PRIMARY KEY, org_sid TEXT NOT NULL,
    user_name TEXT NOT NULL, user_name_key TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT, display_name_key TEXT,
    given_name TEXT, given_name_key TEXT,
    family_name TEXT, family_name_key TEXT,
    formatted TEXT, formatted_key TEXT,
    locale TEXT, locale_key TEXT,
    timezone TEXT, timezone_key TEXT,
    active BOOLEAN NOT NULL,
    date_created INTEGER NOT NULL, date_updated INTEGER NOT NULL, version INTEGER NOT NULL,
    UNIQUE (org_sid, sid));
CREATE INDEX users_user_name_key ON users (org_sid, user_name_key);
CREATE INDEX users_external_id ON users (org_sid, external_id);
CREATE TABLE user_emails (
    org_sid TEXT NOT NULL, user_sid TEXT NOT NULL REFERENCES users (sid) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    value TEXT NOT NULL, value_key TEXT NOT NULL,
    type TEXT, type_key TEXT, is_primary BOOLEAN NOT NULL,
    PRIMARY KEY (user_sid, position));
CREATE INDEX user_emails_value_key ON user_emails (org_sid, value_key);
";

async fn open() -> SqliteConnection {
    let mut db = SqliteConnection::connect("sqlite::memory:")
        .await
        .unwrap_or_else(|e| unreachable!("sqlite: {e}"));
    sqlx::raw_sql(SCHEMA)
        .execute(&mut db)
        .await
        .unwrap_or_else(|e| unreachable!("schema: {e}"));
    db
}

async fn insert(db: &mut SqliteConnection, org: &str, u: &ScimUser) {
    let a = &u.attrs;
    let key = |s: &Option<String>| s.as_deref().map(fold);
    sqlx::query(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&u.id)
    .bind(org)
    .bind(&a.user_name)
    .bind(fold(&a.user_name))
    .bind(&a.external_id)
    .bind(&a.display_name)
    .bind(key(&a.display_name))
    .bind(&a.name.given_name)
    .bind(key(&a.name.given_name))
    .bind(&a.name.family_name)
    .bind(key(&a.name.family_name))
    .bind(&a.name.formatted)
    .bind(key(&a.name.formatted))
    .bind(&a.locale)
    .bind(key(&a.locale))
    .bind(&a.timezone)
    .bind(key(&a.timezone))
    .bind(a.active)
    .bind(u.created)
    .bind(u.last_modified)
    .bind(u.version)
    .execute(&mut *db)
    .await
    .unwrap_or_else(|e| unreachable!("insert user: {e}"));
    for (i, e) in a.emails.iter().enumerate() {
        sqlx::query("INSERT INTO user_emails VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(org)
            .bind(&u.id)
            .bind(i64::try_from(i).unwrap_or(0))
            .bind(&e.value)
            .bind(fold(&e.value))
            .bind(&e.kind)
            .bind(key(&e.kind))
            .bind(e.primary)
            .execute(&mut *db)
            .await
            .unwrap_or_else(|e| unreachable!("insert email: {e}"));
    }
}

/// The SIDs `f` selects, sorted here (an `ORDER BY u.sid` would lead SQLite's planner to walk
/// the organization in `(org_sid, sid)` order instead of using the filter's index).
async fn select(db: &mut SqliteConnection, f: &Filter) -> Vec<String> {
    let w = translate(f, ORG);
    let sql = format!(
        "SELECT u.sid FROM users u WHERE u.org_sid = ? AND ({})",
        w.sql
    );
    let mut q = sqlx::query(&sql).bind(ORG);
    for p in &w.params {
        q = match p {
            Param::Text(s) => q.bind(s.clone()),
            Param::Int(i) => q.bind(*i),
            Param::Bool(b) => q.bind(*b),
        };
    }
    let mut sids: Vec<String> = q
        .fetch_all(&mut *db)
        .await
        .unwrap_or_else(|e| unreachable!("{sql}: {e}"))
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    sids.sort();
    sids
}

/// A sortable attribute and an order.
fn sort() -> impl Strategy<Value = (Attr, SortOrder)> {
    let sortable: Vec<Attr> = Attr::ALL
        .into_iter()
        .filter(|a| sort_column(*a).is_some())
        .collect();
    (
        prop::sample::select(sortable),
        prop::sample::select(vec![SortOrder::Ascending, SortOrder::Descending]),
    )
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    S(String),
    B(bool),
    I(i64),
}

/// The order `ListQuery::order_by` promises, computed in memory.
fn expected_order(users: &[ScimUser], attr: Attr, order: SortOrder) -> Vec<String> {
    let key = |u: &ScimUser| -> Option<Key> {
        match attr {
            Attr::Active => Some(Key::B(u.attrs.active)),
            Attr::Created => Some(Key::I(u.created)),
            Attr::LastModified => Some(Key::I(u.last_modified)),
            Attr::Id | Attr::ExternalId => u.text(attr).map(|s| Key::S(s.to_owned())),
            _ => u.text(attr).map(|s| Key::S(fold(s))),
        }
    };
    let mut v: Vec<&ScimUser> = users.iter().collect();
    v.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        let by_value = match (&ka, &kb) {
            (Some(x), Some(y)) if order == SortOrder::Ascending => x.cmp(y),
            (Some(x), Some(y)) => y.cmp(x),
            _ => ka.is_none().cmp(&kb.is_none()),
        };
        by_value.then_with(|| a.id.cmp(&b.id))
    });
    v.into_iter().map(|u| u.id.clone()).collect()
}

fn order_sql(attr: Attr, order: SortOrder) -> String {
    let q = ListQuery {
        filter: None,
        start_index: 1,
        count: DEFAULT_COUNT,
        sort: sort_column(attr).map(|c| (attr, c, order)),
    };
    format!(
        "SELECT u.sid FROM users u WHERE u.org_sid = ? ORDER BY {}",
        q.order_by()
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| unreachable!("runtime: {e}"))
}

fn others() -> impl Strategy<Value = Vec<ScimUser>> {
    (0usize..3).prop_flat_map(|n| (0..n).map(|i| user(100 + i)).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sql_selects_what_memory_selects(
        fs in prop::collection::vec(prop_oneof![gen_filter(), string_filter()], 1..8),
        mine in users(),
        theirs in others(),
        sorts in prop::collection::vec(sort(), 1..4),
    ) {
        runtime().block_on(async {
            let mut db = open().await;
            for u in &mine {
                insert(&mut db, ORG, u).await;
            }
            for u in &theirs {
                insert(&mut db, OTHER_ORG, u).await;
            }
            for f in &fs {
                let want: Vec<String> = mine
                    .iter()
                    .filter(|u| f.matches(u))
                    .map(|u| u.id.clone())
                    .collect();
                let got = select(&mut db, f).await;
                prop_assert_eq!(got, want, "{}", filter::render(f));
            }
            for (attr, order) in &sorts {
                let got: Vec<String> = sqlx::query(&order_sql(*attr, *order))
                    .bind(ORG)
                    .fetch_all(&mut db)
                    .await
                    .unwrap_or_else(|e| unreachable!("sort: {e}"))
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                prop_assert_eq!(got, expected_order(&mine, *attr, *order), "{:?} {:?}", attr, order);
            }
            Ok(())
        })?;
    }
}

async fn plan(db: &mut SqliteConnection, filter_text: &str) -> String {
    let f = filter::parse(filter_text).unwrap_or_else(|e| unreachable!("{e}"));
    let w = translate(&f, ORG);
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT u.sid FROM users u WHERE u.org_sid = ? AND ({})",
        w.sql
    );
    let mut q = sqlx::query(&sql).bind(ORG);
    for p in &w.params {
        q = match p {
            Param::Text(s) => q.bind(s.clone()),
            Param::Int(i) => q.bind(*i),
            Param::Bool(b) => q.bind(*b),
        };
    }
    q.fetch_all(&mut *db)
        .await
        .unwrap_or_else(|e| unreachable!("{sql}: {e}"))
        .iter()
        .map(|r| r.get::<String, _>(3))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn identity_provider_lookups_use_indexes() {
    runtime().block_on(async {
        let mut db = open().await;
        let p = plan(&mut db, r#"userName eq "BJensen@example.com""#).await;
        assert!(
            p.contains("users_user_name_key (org_sid=? AND user_name_key=?)"),
            "{p}"
        );
        let p = plan(&mut db, r#"externalId eq "00ujl29u0le5T6Aj10h7""#).await;
        assert!(
            p.contains("users_external_id (org_sid=? AND external_id=?)"),
            "{p}"
        );
        let p = plan(&mut db, r#"emails.value eq "bjensen@example.com""#).await;
        assert!(
            p.contains("user_emails_value_key (org_sid=? AND value_key=?)"),
            "{p}"
        );
        // The users are then found by SID, not by walking the organization: without
        // statistics the planner needs the (org_sid, sid) index for that.
        assert!(p.contains("(org_sid=? AND sid=?)"), "{p}");
        assert!(!p.contains("SCAN u"), "{p}");
    });
}

#[test]
fn case_exact_attributes_stay_case_exact_under_like() {
    runtime().block_on(async {
        let mut db = open().await;
        let mut u = ScimUser {
            id: format!("US{:032x}", 1),
            attrs: orgiam_domain::scim::UserAttrs::new("someone"),
            created: 1,
            last_modified: 1,
            version: 1,
        };
        u.attrs.external_id = Some("AbC_x%".into());
        insert(&mut db, ORG, &u).await;
        for (text, hit) in [
            (r#"externalId co "bC_""#, true),
            (r#"externalId co "bc_""#, false),
            (r#"externalId sw "AbC""#, true),
            (r#"externalId sw "abc""#, false),
            (r#"externalId ew "_x%""#, true),
            (r#"externalId ew "_X%""#, false),
            (r#"externalId co "C%""#, false),
            (r#"externalId eq "abc_x%""#, false),
            (r#"userName co "SOME""#, true),
            (r#"id sw "us""#, false),
        ] {
            let f = filter::parse(text).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(f.matches(&u), hit, "memory: {text}");
            let got = select(&mut db, &f).await;
            assert_eq!(got.len(), usize::from(hit), "sql: {text}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The same fragments on PostgreSQL. `ORGIAM_TEST_PG_URL` names the server (default
// `postgres://postgres@127.0.0.1:5432/postgres`; `off` skips this half); a fresh database with
// an ICU `en-US` default collation (where the server has ICU) is created and dropped, so a
// text column that forgot `COLLATE "C"` would order differently from memory and fail.
// ---------------------------------------------------------------------------------------------

const PG_SCHEMA: &str = r#"
CREATE TABLE users (
    sid TEXT COLLATE "C" PRIMARY KEY, org_sid TEXT COLLATE "C" NOT NULL,
    user_name TEXT NOT NULL, user_name_key TEXT COLLATE "C" NOT NULL,
    external_id TEXT COLLATE "C",
    display_name TEXT, display_name_key TEXT COLLATE "C",
    given_name TEXT, given_name_key TEXT COLLATE "C",
    family_name TEXT, family_name_key TEXT COLLATE "C",
    formatted TEXT, formatted_key TEXT COLLATE "C",
    locale TEXT, locale_key TEXT COLLATE "C",
    timezone TEXT, timezone_key TEXT COLLATE "C",
    active BOOLEAN NOT NULL,
    date_created BIGINT NOT NULL, date_updated BIGINT NOT NULL, version BIGINT NOT NULL,
    UNIQUE (org_sid, sid));
CREATE INDEX users_user_name_key ON users (org_sid, user_name_key);
CREATE INDEX users_external_id ON users (org_sid, external_id);
CREATE TABLE user_emails (
    org_sid TEXT COLLATE "C" NOT NULL,
    user_sid TEXT COLLATE "C" NOT NULL REFERENCES users (sid) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    value TEXT NOT NULL, value_key TEXT COLLATE "C" NOT NULL,
    type TEXT, type_key TEXT COLLATE "C", is_primary BOOLEAN NOT NULL,
    PRIMARY KEY (user_sid, position));
CREATE INDEX user_emails_value_key ON user_emails (org_sid, value_key);
"#;

/// `?` → `$1, $2, ...` (the fragments hold no `?` inside literals).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

struct PgDb {
    conn: sqlx::PgConnection,
    admin: String,
    name: String,
}

async fn pg_open() -> Option<PgDb> {
    let admin = std::env::var("ORGIAM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if admin == "off" {
        return None;
    }
    let mut a = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            unreachable!("PostgreSQL at {admin}: {e} (ORGIAM_TEST_PG_URL=off skips)")
        });
    let name = format!("orgiam_t_scim_{}", orgiam_domain::sid::random_body());
    let icu = format!(
        "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
    );
    if sqlx::raw_sql(&icu).execute(&mut a).await.is_err() {
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut a)
            .await
            .unwrap_or_else(|e| unreachable!("create database: {e}"));
    }
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => unreachable!("no database in {admin}"),
    };
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| unreachable!("connect {url}: {e}"));
    sqlx::raw_sql(PG_SCHEMA)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| unreachable!("schema: {e}"));
    Some(PgDb { conn, admin, name })
}

async fn pg_drop(db: PgDb) {
    drop(db.conn.close().await);
    if let Ok(mut a) = sqlx::PgConnection::connect(&db.admin).await {
        drop(
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name))
                .execute(&mut a)
                .await,
        );
    }
}

async fn pg_insert(db: &mut sqlx::PgConnection, org: &str, u: &ScimUser) {
    let a = &u.attrs;
    let key = |s: &Option<String>| s.as_deref().map(fold);
    sqlx::query(&numbered(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ))
    .bind(&u.id)
    .bind(org)
    .bind(&a.user_name)
    .bind(fold(&a.user_name))
    .bind(&a.external_id)
    .bind(&a.display_name)
    .bind(key(&a.display_name))
    .bind(&a.name.given_name)
    .bind(key(&a.name.given_name))
    .bind(&a.name.family_name)
    .bind(key(&a.name.family_name))
    .bind(&a.name.formatted)
    .bind(key(&a.name.formatted))
    .bind(&a.locale)
    .bind(key(&a.locale))
    .bind(&a.timezone)
    .bind(key(&a.timezone))
    .bind(a.active)
    .bind(u.created)
    .bind(u.last_modified)
    .bind(u.version)
    .execute(&mut *db)
    .await
    .unwrap_or_else(|e| unreachable!("insert user: {e}"));
    for (i, e) in a.emails.iter().enumerate() {
        sqlx::query(&numbered(
            "INSERT INTO user_emails VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(org)
        .bind(&u.id)
        .bind(i64::try_from(i).unwrap_or(0))
        .bind(&e.value)
        .bind(fold(&e.value))
        .bind(&e.kind)
        .bind(key(&e.kind))
        .bind(e.primary)
        .execute(&mut *db)
        .await
        .unwrap_or_else(|e| unreachable!("insert email: {e}"));
    }
}

async fn pg_select(db: &mut sqlx::PgConnection, f: &Filter) -> Vec<String> {
    let w = translate(f, ORG);
    let sql = numbered(&format!(
        "SELECT u.sid FROM users u WHERE u.org_sid = ? AND ({}) ORDER BY u.sid",
        w.sql
    ));
    let mut q = sqlx::query(&sql).bind(ORG);
    for p in &w.params {
        q = match p {
            Param::Text(s) => q.bind(s.clone()),
            Param::Int(i) => q.bind(*i),
            Param::Bool(b) => q.bind(*b),
        };
    }
    q.fetch_all(&mut *db)
        .await
        .unwrap_or_else(|e| unreachable!("{sql}: {e}"))
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

#[test]
fn postgres_selects_what_memory_selects() {
    use proptest::test_runner::{Config, TestRunner};
    let rt = runtime();
    let Some(db) = rt.block_on(pg_open()) else {
        return;
    };
    // The runner's closure is `Fn`: the connection sits behind an async mutex.
    let db = tokio::sync::Mutex::new(db);
    let mut runner = TestRunner::new(Config::with_cases(128));
    let strategy = (
        prop::collection::vec(prop_oneof![gen_filter(), string_filter()], 1..8),
        users(),
        others(),
        prop::collection::vec(sort(), 1..4),
    );
    let outcome = runner.run(&strategy, |(fs, mine, theirs, sorts)| {
        rt.block_on(async {
            let mut guard = db.lock().await;
            let conn = &mut guard.conn;
            sqlx::raw_sql("DELETE FROM user_emails; DELETE FROM users;")
                .execute(&mut *conn)
                .await
                .unwrap_or_else(|e| unreachable!("reset: {e}"));
            for u in &mine {
                pg_insert(conn, ORG, u).await;
            }
            for u in &theirs {
                pg_insert(conn, OTHER_ORG, u).await;
            }
            for f in &fs {
                let want: Vec<String> = mine
                    .iter()
                    .filter(|u| f.matches(u))
                    .map(|u| u.id.clone())
                    .collect();
                let got = pg_select(conn, f).await;
                prop_assert_eq!(got, want, "{}", filter::render(f));
            }
            for (attr, order) in &sorts {
                let got: Vec<String> = sqlx::query(&numbered(&order_sql(*attr, *order)))
                    .bind(ORG)
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap_or_else(|e| unreachable!("sort: {e}"))
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                prop_assert_eq!(
                    got,
                    expected_order(&mine, *attr, *order),
                    "{:?} {:?}",
                    attr,
                    order
                );
            }
            Ok(())
        })
    });
    rt.block_on(pg_drop(db.into_inner()));
    if let Err(e) = outcome {
        unreachable!("{e}");
    }
}

/// Measures the identity providers' three lookups at 1,000 and at 100,000 users (SQLite, in
/// memory): index lookups, whose cost does not follow the table's size. Run with
/// `cargo test --release -p orgiam-domain --test scim_sql lookup_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; takes a while"]
fn lookup_cost_does_not_grow_with_the_table() {
    use std::time::Instant;
    async fn fill(n: usize) -> SqliteConnection {
        let mut db = open().await;
        let mut tx = db.begin().await.unwrap_or_else(|e| unreachable!("{e}"));
        for i in 0..n {
            let mut a = orgiam_domain::scim::UserAttrs::new(format!("User{i}@Example.com"));
            a.external_id = Some(format!("ext-{i}"));
            a.emails.push(orgiam_domain::scim::Email {
                value: format!("User{i}@Example.com"),
                kind: Some("work".into()),
                primary: true,
            });
            let u = ScimUser {
                id: format!("US{i:032x}"),
                attrs: a,
                created: 1,
                last_modified: 1,
                version: 1,
            };
            insert(&mut tx, ORG, &u).await;
        }
        tx.commit().await.unwrap_or_else(|e| unreachable!("{e}"));
        db
    }
    runtime().block_on(async {
        let mut per_size = Vec::new();
        for n in [1_000usize, 100_000] {
            let mut db = fill(n).await;
            let mut row = Vec::new();
            for kind in ["userName", "externalId", "emails.value"] {
                // The best of five batches: the machine is shared, and a busy moment should
                // not pass for a cost of the table's size.
                let rounds = 400u32;
                let mut us = f64::MAX;
                for batch in 0..5u32 {
                    let start = Instant::now();
                    for r in 0..rounds {
                        let i = ((batch * rounds + r) as usize * 7919) % n;
                        let text = match kind {
                            "externalId" => format!(r#"externalId eq "ext-{i}""#),
                            other => format!(r#"{other} eq "user{i}@example.com""#),
                        };
                        let f = filter::parse(&text).unwrap_or_else(|e| unreachable!("{e}"));
                        let got = select(&mut db, &f).await;
                        assert_eq!(got.len(), 1, "{text}");
                    }
                    us = us.min(start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds));
                }
                println!(
                    "{n:>7} users  {kind:<13} {us:8.1} µs per lookup (parse + translate + query)"
                );
                row.push(us);
            }
            per_size.push(row);
        }
        for (k, kind) in ["userName", "externalId", "emails.value"]
            .iter()
            .enumerate()
        {
            let ratio = per_size[1][k] / per_size[0][k];
            println!("{kind:<13} 100,000 / 1,000 = {ratio:.2}");
            // An index lookup grows with the B-tree's depth and with cache misses over a
            // 100-times larger database (measured about 3x here, tens of microseconds); a scan
            // grows with the table (measured about 60x to 300x before the indexes were right).
            assert!(ratio < 10.0, "{kind}: {ratio:.2}");
        }
    });
}
