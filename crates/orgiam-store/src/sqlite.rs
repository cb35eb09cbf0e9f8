//! The SQLite store: one file, WAL journal, a small pool.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, QueryBuilder, Row, Sqlite, SqlitePool};

use orgiam_domain::model::{
    Account, Actor, App, AppStatus, Assignment, AssignmentFilter, AuditEvent, AuditFilter,
    MAX_BUILTIN_ASSIGNMENTS_PER_USER, MAX_TOKEN_TTL, Org, RevokedToken, Role, RoleFilter,
    SecretRecord, ServerKeys, SigningKey, User, actions, key_slots,
};
use orgiam_domain::page::{Cursor, Direction};
use orgiam_domain::sid::{AccountSid, AppSid, AssignmentSid, KeySid, OrgSid, RoleSid, UserSid};
use orgiam_domain::store::{
    ACCESS_REVISION, APPS_REVISION, KEYS_REVISION, ROLES_REVISION, Resealer, RoleBatches, Store,
};
use orgiam_domain::{Error, Result, time_fmt};

use crate::events::{
    account_created_event, app_created_event, assignment_created_event, key_event,
    org_created_event, roles_imported_event, rotation_event, status_event, user_created_event,
};
use crate::rows::{
    self, ACCOUNT_COLUMNS, APP_COLUMNS, ASSIGNMENT_COLUMNS, RARE_MATCHES, TRIGRAM, corrupt,
    covering_trigrams, json, like_escape, push_sid_range_or, sid_prefix_range,
};
use crate::{OpenMode, check_schema, connect_cause, db_error};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The most time one listing's statements may run (see [`crate::StoreOptions`]).
    statement_timeout: Option<Duration>,
}

/// SQLite VM instructions between two looks at the clock by a listing's progress handler
/// (a few microseconds of work; the clock read costs ~25 ns).
const BUDGET_CHECK_OPS: i32 = 1000;

/// A statement budget installed on one connection: a progress handler that interrupts the
/// running statement once its deadline has passed, and notes that it did.
struct Budget {
    fired: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Budget {
    /// Installs the handler (nothing when there is no timeout).
    async fn start(conn: &mut sqlx::SqliteConnection, timeout: Option<Duration>) -> Result<Self> {
        let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(timeout) = timeout {
            let deadline = std::time::Instant::now() + timeout;
            let flag = fired.clone();
            conn.lock_handle()
                .await
                .map_err(db_error)?
                .set_progress_handler(BUDGET_CHECK_OPS, move || {
                    let within = std::time::Instant::now() < deadline;
                    if !within {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    within
                });
        }
        Ok(Self { fired })
    }

    /// Removes the handler and turns an interrupted statement's error into
    /// [`Error::Overloaded`]. A connection whose handler cannot be removed is closed.
    async fn finish<T>(
        self,
        mut conn: sqlx::pool::PoolConnection<Sqlite>,
        result: Result<T>,
    ) -> Result<T> {
        let removed = match conn.lock_handle().await {
            Ok(mut handle) => {
                handle.remove_progress_handler();
                true
            }
            Err(_) => false,
        };
        if !removed {
            drop(conn.detach());
        }
        match result {
            Err(e) if self.fired.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(Error::Overloaded(e.to_string()))
            }
            other => other,
        }
    }
}

/// The file path of a `sqlite://` URL, if it names one.
pub(crate) fn file_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Creates the database's folder (0700) and file (0600) when missing, whatever the umask,
/// so that SQLite's journal files, which take the database file's mode, are private too; and
/// warns when an existing folder or file is open to other users.
fn private_files(db: &std::path::Path) -> Result<()> {
    let cannot = |p: &std::path::Path, e: std::io::Error| {
        Error::Unavailable(format!("cannot create {}: {e}", p.display()))
    };
    let dir = db.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        if dir.exists() {
            warn_if_open(dir, "data directory", 0o700);
        } else {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(|e| cannot(dir, e))?;
            set_mode(dir, 0o700).map_err(|e| cannot(dir, e))?;
        }
    }
    if db.exists() {
        warn_if_open(db, "database file", 0o600);
        for suffix in ["-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let journal = std::path::PathBuf::from(name);
            if journal.exists() {
                warn_if_open(&journal, "database file", 0o600);
            }
        }
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(db) {
        Ok(_) => set_mode(db, 0o600).map_err(|e| cannot(db, e)),
        // Another process created it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cannot(db, e)),
    }
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &std::path::Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn warn_if_open(path: &std::path::Path, what: &str, want: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = %format!("{mode:04o}"),
                "the {what} is open to other users: run `chmod {want:o} {}`",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_open(_: &std::path::Path, _: &str, _: u32) {}

impl SqliteStore {
    /// Opens (creating the file and its folder if needed) and migrates.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::open(url, OpenMode::Create, &crate::StoreOptions::default()).await
    }

    /// Opens the file as `mode` says: only [`OpenMode::Create`] makes a missing file (and its
    /// folder, both private to the owner); only [`OpenMode::Existing`] leaves the schema as it
    /// is (and checks it).
    pub async fn open(url: &str, mode: OpenMode, store: &crate::StoreOptions) -> Result<Self> {
        if let Some(path) = file_path(url).map(std::path::Path::new) {
            if mode != OpenMode::Create && !path.is_file() {
                return Err(Error::Unavailable(format!(
                    "it does not exist (no file {}): create it with `orgiam init` (or start \
                     `orgiam serve`), or point --database-url (ORGIAM_DATABASE_URL) at an \
                     existing store",
                    path.display()
                )));
            }
            private_files(path)?;
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::bad_request(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(mode == OpenMode::Create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Every statement at `trace`: the revision poll and the catalog sync would
            // otherwise bury the request lines at `debug`. Slow statements still warn.
            .log_statements(log::LevelFilter::Trace);
        // No ping before each checkout: an SQLite connection is a file handle on a worker
        // thread, not a socket that can go stale, and the ping was a thread round trip (~3 % of
        // a listing's time).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open: {}", connect_cause(&e))))?;
        check_schema(applied_migrations(&pool).await?.as_deref(), &MIGRATOR, mode)?;
        if mode == OpenMode::Existing {
            return Ok(Self {
                pool,
                statement_timeout: store.statement_timeout,
            });
        }
        // SQLite has no advisory lock: processes starting together on one file race to apply
        // a migration. Each runs in a transaction, so the loser's fails whole ("table already
        // exists"); trying again finds it applied and goes on.
        let mut attempt = 0u32;
        loop {
            match MIGRATOR.run(&pool).await {
                Ok(()) => break,
                Err(e) if attempt < 20 => {
                    tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 + u64::from(attempt) * 25)).await;
                }
                Err(e) => {
                    return Err(Error::internal(format!("migrating the SQLite store: {e}")));
                }
            }
        }
        Ok(Self {
            pool,
            statement_timeout: store.statement_timeout,
        })
    }
}

crate::directory::directory_impl!(
    SqliteStore,
    crate::directory::same,
    begin_with("BEGIN IMMEDIATE")
);
crate::revocations::revocations_impl!(
    SqliteStore,
    crate::directory::same,
    begin_with("BEGIN IMMEDIATE")
);
crate::access::access_impl!(
    SqliteStore,
    crate::directory::same,
    begin_with("BEGIN IMMEDIATE")
);
crate::manage::management_impl!(
    SqliteStore,
    crate::directory::same,
    "?",
    begin_with("BEGIN IMMEDIATE")
);

/// The migrations the file has applied, or `None` when it has no migrations table.
async fn applied_migrations(pool: &SqlitePool) -> Result<Option<Vec<i64>>> {
    let has_table: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(db_error)?;
    if has_table == 0 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .map(Some)
        .map_err(db_error)
}

/// Bumps a revision counter inside a transaction; its first statement takes the write lock.
async fn bump(tx: &mut sqlx::SqliteConnection, name: &str) -> Result<i64> {
    sqlx::query_scalar("UPDATE revisions SET value = value + 1 WHERE name = ? RETURNING value")
        .bind(name)
        .fetch_one(tx)
        .await
        .map_err(db_error)
}

const ROLE_COLUMNS: &str = "sid, org_sid, friendly_name, external_description, product_group, \
    product_group_name, lowest_level, policy, resource_types, date_created, date_updated";

/// Loads the secrets of the given apps.
async fn attach_secrets(conn: &mut sqlx::SqliteConnection, apps: &mut [App]) -> Result<()> {
    for app in apps.iter_mut() {
        let rows = sqlx::query(
            "SELECT hash, expires_at FROM app_secrets WHERE app_sid = ? ORDER BY created_at",
        )
        .bind(app.sid.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        app.secrets = rows
            .iter()
            .map(|r| {
                Ok(SecretRecord {
                    hash: r.try_get(0).map_err(db_error)?,
                    expires_at: r.try_get(1).map_err(db_error)?,
                })
            })
            .collect::<Result<_>>()?;
    }
    Ok(())
}

async fn insert_app(tx: &mut sqlx::SqliteConnection, app: &App) -> Result<()> {
    let rev = bump(tx, APPS_REVISION).await?;
    sqlx::query(
        "INSERT INTO apps (sid, org_sid, friendly_name, description, status, policy, \
         access_token_ttl, date_created, date_updated, rev, audiences) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(app.sid.as_str())
    .bind(app.org.as_str())
    .bind(&app.friendly_name)
    .bind(&app.description)
    .bind(app.status.as_str())
    .bind(json(&app.policy)?)
    .bind(app.access_token_ttl)
    .bind(app.date_created)
    .bind(app.date_updated)
    .bind(rev)
    .bind(json(&app.audiences)?)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    for s in &app.secrets {
        sqlx::query(
            "INSERT INTO app_secrets (app_sid, hash, expires_at, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(app.sid.as_str())
        .bind(&s.hash)
        .bind(s.expires_at)
        .bind(app.date_created)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// Records an audit event in the caller's transaction.
async fn insert_event(tx: &mut sqlx::SqliteConnection, e: &AuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (sid, org_sid, date_created, actor, action, target, request_id, before, after) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.sid.as_str())
    .bind(e.org.as_ref().map(OrgSid::as_str))
    .bind(e.date_created)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.request_id)
    .bind(e.before.as_ref().map(json).transpose()?)
    .bind(e.after.as_ref().map(json).transpose()?)
    .execute(tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn insert_signing_key(tx: &mut sqlx::SqliteConnection, k: &SigningKey) -> Result<()> {
    sqlx::query("INSERT INTO signing_keys (kid, private_der, public_raw, created_at, retired_at) VALUES (?, ?, ?, ?, ?)")
        .bind(k.kid.as_str())
        .bind(&k.private_der)
        .bind(&k.public_raw)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// `Store::reseal_keys` in one `BEGIN IMMEDIATE` transaction: every other writer (a key
/// rotation included) waits for it.
async fn reseal_in(conn: &mut sqlx::SqliteConnection, f: &Resealer<'_>) -> Result<usize> {
    use sqlx::Connection as _;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    let mut changed = 0;
    for (slot, name) in [
        (key_slots::PAGE_KEY, "page_key"),
        (key_slots::SECRET_KEY, "secret_key"),
    ] {
        let value: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        if let Some(new) = value.map(|v| f(slot, &v)).transpose()?.flatten() {
            sqlx::query("UPDATE meta SET value = ? WHERE key = ?")
                .bind(new)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            changed += 1;
        }
    }
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT kid, private_der FROM signing_keys ORDER BY kid")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
    for (kid, value) in rows {
        if let Some(new) = f(&key_slots::signing_key(&kid), &value)? {
            sqlx::query("UPDATE signing_keys SET private_der = ? WHERE kid = ?")
                .bind(new)
                .bind(&kid)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            changed += 1;
        }
    }
    tx.commit().await.map_err(db_error)?;
    Ok(changed)
}

/// Rows per multi-row INSERT into an import's staging table (12 parameters each, well under
/// SQLite's limit).
const IMPORT_CHUNK: usize = 1000;

async fn insert_roles(
    tx: &mut sqlx::SqliteConnection,
    org: Option<&OrgSid>,
    roles: &[Role],
) -> Result<()> {
    for chunk in roles.chunks(IMPORT_CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO temp.import_staging (sid, org_sid, name_key, friendly_name, \
             external_description, product_group, product_group_name, lowest_level, policy, \
             resource_types, date_created, date_updated) ",
        );
        let mut rows = Vec::with_capacity(chunk.len());
        for r in chunk {
            rows.push((
                r,
                json(&r.policy)?,
                r.resource_types.as_ref().map(json).transpose()?,
            ));
        }
        q.push_values(rows, |mut b, (r, policy, types)| {
            b.push_bind(r.sid.as_str())
                .push_bind(org.map(OrgSid::as_str))
                .push_bind(Role::name_key(&r.friendly_name))
                .push_bind(r.friendly_name.as_str())
                .push_bind(r.external_description.as_str())
                .push_bind(r.product_group.as_str())
                .push_bind(r.product_group_name.as_str())
                .push_bind(r.lowest_level.as_str())
                .push_bind(policy)
                .push_bind(types)
                .push_bind(r.date_created)
                .push_bind(r.date_updated);
        });
        q.build().execute(&mut *tx).await.map_err(db_error)?;
    }
    Ok(())
}

async fn insert_org(conn: &mut sqlx::SqliteConnection, org: &Org) -> Result<()> {
    sqlx::query("INSERT INTO orgs (sid, friendly_name, date_created) VALUES (?, ?, ?)")
        .bind(org.sid.as_str())
        .bind(&org.friendly_name)
        .bind(org.date_created)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The search condition on `roles` by walking names: a LIKE on the name, or the SID range.
fn push_search_scan<'a>(q: &mut QueryBuilder<'a, Sqlite>, search: &str) {
    q.push(" AND (name_key LIKE ")
        .push_bind(format!("%{}%", like_escape(search)))
        .push(" ESCAPE '\\'");
    push_sid_range_or(q, search);
    q.push(")");
}

/// The other filters, the keyset position and the order; whether the order is descending.
fn push_role_rest<'a>(
    q: &mut QueryBuilder<'a, Sqlite>,
    filter: &'a RoleFilter,
    cursor: Option<&'a Cursor>,
    limit: i64,
) -> bool {
    push_role_conditions(q, filter, cursor);
    push_role_order(q, cursor, limit)
}

/// The product-group and resource-type filters and the keyset position.
fn push_role_conditions<'a>(
    q: &mut QueryBuilder<'a, Sqlite>,
    filter: &'a RoleFilter,
    cursor: Option<&'a Cursor>,
) {
    if let Some(group) = &filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    if let Some(types) = &filter.resource_types {
        // A primary-key probe of the resource-type index per type asked for.
        q.push(
            " AND EXISTS (SELECT 1 FROM role_resource_types WHERE rt_org = coalesce(roles.org_sid, '') \
             AND rt_name_key = roles.name_key AND rt_sid = roles.sid AND rt_type IN (",
        );
        let mut sep = q.separated(", ");
        for t in types {
            sep.push_bind(t.as_str());
        }
        q.push("))");
    }
    let desc = cursor.is_some_and(|c| c.direction == Direction::Previous);
    if let Some(c) = cursor {
        q.push(if desc {
            " AND (name_key, sid) < ("
        } else {
            " AND (name_key, sid) > ("
        });
        q.push_bind(c.key.first().map_or("", String::as_str));
        q.push(", ");
        q.push_bind(c.key.get(1).map_or("", String::as_str));
        q.push(")");
    }
}

/// The name order (reversed when paging back) and the limit; whether the order is descending.
fn push_role_order(q: &mut QueryBuilder<'_, Sqlite>, cursor: Option<&Cursor>, limit: i64) -> bool {
    let desc = cursor.is_some_and(|c| c.direction == Direction::Previous);
    q.push(if desc {
        " ORDER BY name_key DESC, sid DESC"
    } else {
        " ORDER BY name_key, sid"
    });
    q.push(" LIMIT ").push_bind(limit);
    desc
}

/// One arm of the name-ordered listing: the rows of one owner (built-in or the organization),
/// unordered: the compound's ORDER BY and LIMIT apply to both arms, which SQLite runs as a merge
/// of two walks of `roles_in_order` that stops at the limit (no temporary B-tree; wrapping each
/// arm in its own ordered, limited subquery sorted each arm again: 345 -> 145 us per query).
fn push_role_arm<'a>(
    q: &mut QueryBuilder<'a, Sqlite>,
    org: Option<&'a str>,
    filter: &'a RoleFilter,
    cursor: Option<&'a Cursor>,
) {
    q.push("SELECT ");
    q.push(ROLE_COLUMNS);
    q.push(", name_key FROM roles WHERE ");
    match org {
        None => q.push("org_sid IS NULL"),
        Some(o) => q.push("org_sid = ").push_bind(o),
    };
    if let Some(search) = &filter.search {
        push_search_scan(q, search);
    }
    push_role_conditions(q, filter, cursor);
}

/// A listing filtered by at most this many resource types walks the resource-type index, one
/// arm per (owner, type); more are checked row by row on the name-ordered walk (with an index
/// probe each).
const TYPED_ARMS_MAX_TYPES: usize = 8;

/// One arm of a listing filtered by resource type: the rows of one owner (`''` for built-in
/// roles) that have resource type `rtype`, walked in name order through the resource-type
/// index, so a type no role has costs one probe, and a page stops at its limit. The arm's
/// `name_key` and `sid` come from the index, so the compound's ORDER BY needs no sort.
fn push_typed_arm<'a>(
    q: &mut QueryBuilder<'a, Sqlite>,
    owner: &'a str,
    rtype: &'a str,
    filter: &'a RoleFilter,
    cursor: Option<&'a Cursor>,
) {
    q.push(
        "SELECT rt_sid AS sid, org_sid, friendly_name, external_description, product_group, \
         product_group_name, lowest_level, policy, resource_types, date_created, date_updated, \
         rt_name_key AS name_key FROM role_resource_types CROSS JOIN roles ON roles.sid = rt_sid \
         WHERE rt_org = ",
    );
    q.push_bind(owner).push(" AND rt_type = ").push_bind(rtype);
    if let Some(search) = &filter.search {
        push_search_scan(q, search);
    }
    if let Some(group) = &filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    if let Some(c) = cursor {
        let desc = c.direction == Direction::Previous;
        q.push(if desc {
            " AND (rt_name_key, rt_sid) < ("
        } else {
            " AND (rt_name_key, rt_sid) > ("
        });
        q.push_bind(c.key.first().map_or("", String::as_str));
        q.push(", ");
        q.push_bind(c.key.get(1).map_or("", String::as_str));
        q.push(")");
    }
}

const FTS_TERMS: usize = 4;

/// An FTS5 query for rows whose names contain every trigram that covers `s` (trigram
/// tokenizer): a superset of the names containing `s`, checked with LIKE by the caller.
///
/// At most [`FTS_TERMS`] of them, spread over the search (the first, the last, and evenly
/// between): FTS5 intersects its terms by stepping each through the rarest one's matches, so
/// each term costs a seek per candidate, while names holding four well-spread trigrams of a
/// search but not the search itself are few (1M roles, a 20-character search: 7 terms 0.43 ms,
/// 4 terms 0.33 ms, 3 terms 0.8 ms as candidates grow).
fn fts_trigrams(s: &str) -> String {
    let all = covering_trigrams(s);
    let picked: Vec<&String> = if all.len() <= FTS_TERMS {
        all.iter().collect()
    } else {
        (0..FTS_TERMS)
            .map(|i| &all[i * (all.len() - 1) / (FTS_TERMS - 1)])
            .collect()
    };
    picked
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Appends the keyset condition on `sid` and the order for a cursor; returns whether the
/// rows come back descending.
fn push_sid_keyset(q: &mut QueryBuilder<'_, Sqlite>, cursor: Option<&Cursor>, limit: u32) -> bool {
    let desc = cursor.is_some_and(|c| c.direction == Direction::Previous);
    if let Some(c) = cursor {
        q.push(if desc { " AND sid < " } else { " AND sid > " });
        q.push_bind(c.key.first().cloned().unwrap_or_default());
    }
    q.push(if desc {
        " ORDER BY sid DESC"
    } else {
        " ORDER BY sid"
    });
    q.push(" LIMIT ").push_bind(i64::from(limit));
    desc
}

#[async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn access(&self) -> &dyn orgiam_domain::access::AccessStore {
        self
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn init_keys(&self, keys: &ServerKeys, signing_key: &SigningKey) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let fresh = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('page_key', ?) ON CONFLICT DO NOTHING",
        )
        .bind(&keys.page_key)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if fresh.rows_affected() == 0 {
            return Ok(());
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ('secret_key', ?)")
            .bind(&keys.secret_key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        bump(&mut tx, KEYS_REVISION).await?;
        insert_signing_key(&mut tx, signing_key).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn bootstrap(&self, org: &Org, app: &App) -> Result<bool> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let first = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('bootstrapped', ?) ON CONFLICT DO NOTHING",
        )
        .bind(org.sid.as_str().as_bytes())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM orgs")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        if first.rows_affected() == 0 || orgs > 0 {
            tx.commit().await.map_err(db_error)?;
            return Ok(false);
        }
        insert_org(&mut tx, org).await?;
        insert_app(&mut tx, app).await?;
        let actor = Actor {
            sid: "bootstrap".into(),
            request_id: None,
        };
        insert_event(&mut tx, &org_created_event(org, &actor)).await?;
        insert_event(&mut tx, &app_created_event(app, &actor)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn server_keys(&self) -> Result<ServerKeys> {
        let get = |key: &'static str| async move {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM meta WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .ok_or_else(|| Error::internal(format!("the store has no {key}: not initialized")))
        };
        Ok(ServerKeys {
            page_key: get("page_key").await?,
            secret_key: get("secret_key").await?,
        })
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query("SELECT kid, private_der, public_raw, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(SigningKey {
                    kid: KeySid::parse(&r.try_get::<String, _>(0).map_err(db_error)?)
                        .map_err(|_| corrupt("key id"))?,
                    private_der: r.try_get(1).map_err(db_error)?,
                    public_raw: r.try_get(2).map_err(db_error)?,
                    created_at: r.try_get(3).map_err(db_error)?,
                    retired_at: r.try_get(4).map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn sync_builtin_roles(&self, roles: &[Role]) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        for r in roles {
            sqlx::query(
                "INSERT INTO roles (sid, org_sid, name_key, friendly_name, external_description, \
                 product_group, product_group_name, lowest_level, policy, resource_types, \
                 date_created, date_updated) VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (sid) DO UPDATE SET name_key = excluded.name_key, \
                 friendly_name = excluded.friendly_name, external_description = excluded.external_description, \
                 product_group = excluded.product_group, product_group_name = excluded.product_group_name, \
                 lowest_level = excluded.lowest_level, policy = excluded.policy, \
                 resource_types = excluded.resource_types, date_created = excluded.date_created, \
                 date_updated = excluded.date_updated",
            )
            .bind(r.sid.as_str())
            .bind(Role::name_key(&r.friendly_name))
            .bind(&r.friendly_name)
            .bind(&r.external_description)
            .bind(&r.product_group)
            .bind(&r.product_group_name)
            .bind(r.lowest_level.as_str())
            .bind(json(&r.policy)?)
            .bind(r.resource_types.as_ref().map(json).transpose()?)
            .bind(r.date_created)
            .bind(r.date_updated)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        // Built-in roles dropped from the catalog disappear.
        let mut q =
            QueryBuilder::<Sqlite>::new("DELETE FROM roles WHERE org_sid IS NULL AND sid NOT IN (");
        let mut sep = q.separated(", ");
        for r in roles {
            sep.push_bind(r.sid.as_str());
        }
        q.push(")");
        q.build().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn create_org(&self, org: &Org, actor: &Actor) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        insert_org(&mut tx, org).await?;
        insert_event(&mut tx, &org_created_event(org, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn org(&self, sid: &OrgSid) -> Result<Option<Org>> {
        let row = sqlx::query("SELECT sid, friendly_name, date_created FROM orgs WHERE sid = ?")
            .bind(sid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| {
            Ok(Org {
                sid: sid.clone(),
                friendly_name: r.try_get(1).map_err(db_error)?,
                date_created: r.try_get(2).map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn create_app(&self, app: &App, actor: &Actor) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        insert_app(&mut tx, app).await?;
        insert_event(&mut tx, &app_created_event(app, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn app(&self, sid: &AppSid) -> Result<Option<App>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE sid = ?"))
            .bind(sid.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let mut apps = [rows::app(&row)?];
        attach_secrets(&mut conn, &mut apps).await?;
        let [app] = apps;
        Ok(Some(app))
    }

    async fn set_app_status(&self, sid: &AppSid, status: AppStatus, actor: &Actor) -> Result<App> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let rev = bump(&mut tx, APPS_REVISION).await?;
        let before: Option<(String, String)> = sqlx::query_as(
            "SELECT status, org_sid FROM apps WHERE sid = ? AND status <> 'deleted'",
        )
        .bind(sid.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((before, org)) = before else {
            return Err(Error::not_found(format!("OAuth app {sid} was not found")));
        };
        if before == status.as_str() {
            // Already so: nothing changes, so no event and no revision bump (the transaction
            // rolls back).
            drop(tx);
            return self
                .app(sid)
                .await?
                .ok_or_else(|| Error::not_found(format!("OAuth app {sid} was not found")));
        }
        let now = time_fmt::now();
        let changed = sqlx::query(
            "UPDATE apps SET status = ?, date_updated = ?, rev = ?, \
             tokens_valid_after = max(tokens_valid_after, ?) WHERE sid = ? AND status <> 'deleted'",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(rev)
        .bind(crate::tokens_valid_after(status, now))
        .bind(sid.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if changed.rows_affected() == 0 {
            return Err(Error::not_found(format!("OAuth app {sid} was not found")));
        }
        if status == AppStatus::Deleted {
            sqlx::query("DELETE FROM app_secrets WHERE app_sid = ?")
                .bind(sid.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let org = OrgSid::parse(&org).map_err(|_| corrupt("app org"))?;
        insert_event(&mut tx, &status_event(&org, sid, &before, status, actor)).await?;
        tx.commit().await.map_err(db_error)?;
        self.app(sid)
            .await?
            .ok_or_else(|| Error::not_found(format!("OAuth app {sid} was not found")))
    }

    async fn rotate_app_secret(
        &self,
        sid: &AppSid,
        new_hash: &[u8],
        old_expires_at: Option<i64>,
        actor: &Actor,
    ) -> Result<App> {
        let now = time_fmt::now();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let rev = bump(&mut tx, APPS_REVISION).await?;
        let changed = sqlx::query(
            "UPDATE apps SET date_updated = ?, rev = ?, tokens_valid_after = max(tokens_valid_after, ?) \
             WHERE sid = ? AND status <> 'deleted'",
        )
        .bind(now)
        .bind(rev)
        .bind(if old_expires_at.is_none() { now + 1 } else { 0 })
        .bind(sid.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if changed.rows_affected() == 0 {
            return Err(Error::not_found(format!("OAuth app {sid} was not found")));
        }
        // Only the current secret survives into the overlap window: at most two stay live.
        sqlx::query(
            "DELETE FROM app_secrets WHERE app_sid = ? AND (expires_at IS NOT NULL OR ? IS NULL)",
        )
        .bind(sid.as_str())
        .bind(old_expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query("UPDATE app_secrets SET expires_at = ? WHERE app_sid = ?")
            .bind(old_expires_at)
            .bind(sid.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("INSERT INTO app_secrets (app_sid, hash, expires_at, created_at) VALUES (?, ?, NULL, ?)")
            .bind(sid.as_str())
            .bind(new_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let org: String = sqlx::query_scalar("SELECT org_sid FROM apps WHERE sid = ?")
            .bind(sid.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let org = OrgSid::parse(&org).map_err(|_| corrupt("app org"))?;
        insert_event(&mut tx, &rotation_event(&org, sid, old_expires_at, actor)).await?;
        tx.commit().await.map_err(db_error)?;
        self.app(sid)
            .await?
            .ok_or_else(|| Error::not_found(format!("OAuth app {sid} was not found")))
    }

    async fn revision(&self, name: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT value FROM revisions WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
            .map(Option::unwrap_or_default)
    }

    async fn audit_events_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, AuditEvent)>> {
        let rows = sqlx::query(&crate::directory::same(rows::EVENTS_AFTER))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(rows::event).collect()
    }

    async fn last_audit_position(&self) -> Result<i64> {
        sqlx::query_scalar(rows::LAST_EVENT)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    fn pool_status(&self) -> orgiam_domain::store::PoolStatus {
        let size = self.pool.size();
        orgiam_domain::store::PoolStatus {
            size,
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(size),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn pool_wait(&self) -> Result<std::time::Duration> {
        let started = std::time::Instant::now();
        let conn = self.pool.acquire().await.map_err(db_error)?;
        let waited = started.elapsed();
        drop(conn);
        Ok(waited)
    }

    async fn revisions(&self) -> Result<std::collections::HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, value FROM revisions")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().collect())
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKey,
        revoke_old: bool,
        actor: &Actor,
    ) -> Result<()> {
        let now = time_fmt::now();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        bump(&mut tx, KEYS_REVISION).await?;
        let old: Vec<String> = sqlx::query_scalar(if revoke_old {
            "SELECT kid FROM signing_keys ORDER BY kid"
        } else {
            "SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY kid"
        })
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        if revoke_old {
            sqlx::query("DELETE FROM signing_keys")
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        } else {
            sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            sqlx::query("DELETE FROM signing_keys WHERE retired_at < ?")
                .bind(now - MAX_TOKEN_TTL - 60)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        insert_signing_key(&mut tx, key).await?;
        insert_event(&mut tx, &key_event(key, &old, revoke_old, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn reseal_keys(&self, f: &Resealer<'_>) -> Result<usize> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        // The replaced bytes are zeroed in the file rather than left in free space.
        let secure_delete: i64 = sqlx::query_scalar("PRAGMA secure_delete")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        sqlx::query("PRAGMA secure_delete = 1")
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let changed = reseal_in(&mut conn, f).await;
        sqlx::query(&format!("PRAGMA secure_delete = {secure_delete}"))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let changed = changed?;
        if changed > 0 {
            // Copy the new pages into the database file and empty the WAL, which held the
            // replaced ones. Best effort: a busy reader only delays it to the next checkpoint.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await
            {
                tracing::warn!(error = %e, "checkpointing after re-sealing the keys failed");
            }
        }
        Ok(changed)
    }

    async fn revoke_token(&self, token: &RevokedToken, actor: &Actor) -> Result<bool> {
        self.revoke_token_in(token, actor).await
    }

    async fn revoked_since(&self, since: i64, now: i64) -> Result<(Vec<RevokedToken>, i64)> {
        self.revoked_since_in(since, now).await
    }

    async fn apps_since(&self, since: i64) -> Result<(Vec<App>, i64)> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let now: i64 = sqlx::query_scalar("SELECT value FROM revisions WHERE name = ?")
            .bind(APPS_REVISION)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE rev > ? AND rev <= ?"
        ))
        .bind(since)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut apps = rows.iter().map(rows::app).collect::<Result<Vec<_>>>()?;
        attach_secrets(&mut tx, &mut apps).await?;
        tx.commit().await.map_err(db_error)?;
        Ok((apps, now))
    }

    async fn list_roles(
        &self,
        org: &OrgSid,
        filter: &RoleFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Role>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let budget = Budget::start(&mut conn, self.statement_timeout).await?;
        let result = list_roles_on(&mut conn, org, filter, cursor, limit).await;
        budget.finish(conn, result).await
    }

    async fn role(&self, org: &OrgSid, sid: &RoleSid) -> Result<Option<Role>> {
        let row = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles WHERE sid = ? AND (org_sid IS NULL OR org_sid = ?)"
        ))
        .bind(sid.as_str())
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::role).transpose()
    }

    async fn create_account(&self, account: &Account, actor: &Actor) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        sqlx::query(&format!(
            "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(account.sid.as_str())
        .bind(account.org.as_str())
        .bind(account.parent.as_ref().map(AccountSid::as_str))
        .bind(&account.friendly_name)
        .bind(&account.status)
        .bind(account.owner.as_ref().map(UserSid::as_str))
        .bind(account.date_created)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_event(&mut tx, &account_created_event(account, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn account(&self, org: &OrgSid, sid: &AccountSid) -> Result<Option<Account>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE org_sid = ? AND sid = ?"
        ))
        .bind(org.as_str())
        .bind(sid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn list_accounts(
        &self,
        org: &OrgSid,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Account>> {
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE org_sid = "
        ));
        q.push_bind(org.as_str());
        let desc = push_sid_keyset(&mut q, cursor, limit);
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_error)?;
        let mut out = rows.iter().map(rows::account).collect::<Result<Vec<_>>>()?;
        if desc {
            out.reverse();
        }
        Ok(out)
    }

    async fn create_user(&self, user: &User, actor: &Actor) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        sqlx::query("INSERT INTO users (sid, org_sid, email, friendly_name, date_created) VALUES (?, ?, ?, ?, ?)")
            .bind(user.sid.as_str())
            .bind(user.org.as_str())
            .bind(&user.email)
            .bind(&user.friendly_name)
            .bind(user.date_created)
            .execute(&mut *tx)
            .await
            .map_err(|e| match db_error(e) {
                Error::Conflict(_) => Error::Conflict(format!("a user with email {} already exists", user.email)),
                other => other,
            })?;
        insert_event(&mut tx, &user_created_event(user, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn user(&self, org: &OrgSid, sid: &UserSid) -> Result<Option<User>> {
        let row = sqlx::query("SELECT sid, email, friendly_name, date_created FROM users WHERE org_sid = ? AND sid = ?")
            .bind(org.as_str())
            .bind(sid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| {
            Ok(User {
                sid: sid.clone(),
                org: org.clone(),
                email: r.try_get(1).map_err(db_error)?,
                friendly_name: r.try_get(2).map_err(db_error)?,
                date_created: r.try_get(3).map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn create_assignment(&self, a: &Assignment, builtin: bool, actor: &Actor) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        sqlx::query(&format!("INSERT INTO role_assignments ({ASSIGNMENT_COLUMNS}, builtin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(a.sid.as_str())
            .bind(a.org.as_str())
            .bind(a.role.as_str())
            .bind(&a.scope)
            .bind(a.identity.as_str())
            .bind(a.resource_type.as_deref().unwrap_or(""))
            .bind(a.resource_id.as_deref().unwrap_or(""))
            .bind(a.date_created)
            .bind(builtin)
            .execute(&mut *tx)
            .await
            .map_err(|e| match db_error(e) {
                Error::Conflict(_) => Error::Conflict("An identical role assignment already exists".into()),
                other => other,
            })?;
        if builtin {
            let counted = sqlx::query(
                "UPDATE users SET builtin_assignments = builtin_assignments + 1 \
                 WHERE org_sid = ? AND sid = ? AND builtin_assignments < ?",
            )
            .bind(a.org.as_str())
            .bind(a.identity.as_str())
            .bind(MAX_BUILTIN_ASSIGNMENTS_PER_USER)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if counted.rows_affected() == 0 {
                return Err(Error::bad_request(format!(
                    "identity {} already holds {MAX_BUILTIN_ASSIGNMENTS_PER_USER} built-in role assignments, the most a user may hold",
                    a.identity
                )));
            }
        }
        insert_event(&mut tx, &assignment_created_event(a, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn delete_assignment(
        &self,
        org: &OrgSid,
        sid: &AssignmentSid,
        actor: &Actor,
    ) -> Result<bool> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        let gone: Option<(String, bool, String, String, String, String)> = sqlx::query_as(
            "DELETE FROM role_assignments WHERE org_sid = ? AND sid = ? \
             RETURNING identity, builtin, role_sid, scope, resource_type, resource_id",
        )
        .bind(org.as_str())
        .bind(sid.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((identity, builtin, role, scope, rtype, rid)) = gone else {
            return Ok(false);
        };
        let identity_text = identity.clone();
        if builtin {
            sqlx::query("UPDATE users SET builtin_assignments = builtin_assignments - 1 WHERE org_sid = ? AND sid = ?")
                .bind(org.as_str())
                .bind(identity)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let before = serde_json::json!({
            "role_sid": role, "scope": scope, "identity": identity_text,
            "resource_type": (!rtype.is_empty()).then_some(rtype),
            "resource_id": (!rid.is_empty()).then_some(rid),
        });
        let event = AuditEvent::new(
            Some(org),
            actor,
            actions::ROLE_ASSIGNMENT_DELETED,
            sid.as_str(),
            Some(before),
            None,
        );
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn list_assignments(
        &self,
        org: &OrgSid,
        filter: &AssignmentFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Assignment>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let budget = Budget::start(&mut conn, self.statement_timeout).await?;
        let result = list_assignments_on(&mut conn, org, filter, cursor, limit).await;
        budget.finish(conn, result).await
    }

    async fn import_roles(
        &self,
        org: &OrgSid,
        batches: &mut RoleBatches<'_>,
        actor: &Actor,
    ) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        // A big import touches many index pages at random: a large page cache for this one
        // transaction keeps them from spilling to the WAL again and again. Put back afterwards;
        // a connection that cannot be put back is not returned to the pool.
        sqlx::query("PRAGMA cache_size = -262144")
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let result = import_roles_on(&mut conn, org, batches, actor).await;
        if result.is_ok() {
            // Merge the search index's segments into one (an import leaves a dozen or more,
            // and every search visits each): under a second for a million roles, and a rare
            // search at that size costs about a third less. It changes no rows, and a failure
            // leaves a correct, merely slower index.
            if let Err(e) =
                sqlx::query("INSERT INTO roles_search (roles_search) VALUES ('optimize')")
                    .execute(&mut *conn)
                    .await
            {
                tracing::warn!(error = %e, "could not merge the role search index");
            }
            // Fold the import's WAL into the database now: otherwise the next process to open
            // the file (a server starting) first reads the whole WAL back.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await;
        }
        let reset = sqlx::query("PRAGMA cache_size = -2000")
            .execute(&mut *conn)
            .await;
        if reset.is_err() {
            conn.detach();
        }
        result
    }

    async fn list_audit_events(
        &self,
        org: &OrgSid,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEvent)>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let budget = Budget::start(&mut conn, self.statement_timeout).await?;
        let result = list_audit_events_on(&mut conn, org, filter, cursor, limit).await;
        budget.finish(conn, result).await
    }
}

/// The body of `Store::list_roles`, on a connection carrying the statement budget.
async fn list_roles_on(
    conn: &mut sqlx::SqliteConnection,
    org: &OrgSid,
    filter: &RoleFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Role>> {
    let limit = i64::from(limit);
    // Names are compared lower-cased (Unicode rules), whatever the caller passed.
    let lowered = RoleFilter {
        search: filter.search.as_deref().map(str::to_lowercase),
        ..filter.clone()
    };
    let filter = &lowered;
    // A rare search: its few matches come from the trigram index and are sorted. Otherwise
    // walk each owner's rows in name order until the page is full.
    // The trigram index is asked once: up to RARE_MATCHES + 1 candidate rows. If that many
    // came back the search is taken as common; else its matches are among these.
    let rare: Option<(&str, Vec<i64>)> = match filter.search.as_deref() {
        Some(s) if s.chars().count() >= TRIGRAM => {
            // Candidates: names containing every covering trigram (an AND of a third of the
            // trigrams skips through the index faster than a phrase of all of them, and
            // needs no positions). LIKE keeps the matches among them (below).
            // Only the built-ins' and the caller's ranges of the index's keys are read
            // (keys are `organization number * 2^40 + rowid`, built-ins number 0; see
            // migration 0005), and a role-SID prefix is looked up in the caller's
            // SID range: no other organization's roles are visited.
            let mut probe = QueryBuilder::<Sqlite>::new(
                "SELECT rid FROM (SELECT rowid - (rowid / 1099511627776) * 1099511627776 AS rid \
                     FROM roles_search WHERE roles_search MATCH ",
            );
            let terms = fts_trigrams(s);
            probe
                    .push_bind(terms.clone())
                    .push(" AND rowid BETWEEN 0 AND 1099511627775")
                    .push(" UNION ALL SELECT rowid - (rowid / 1099511627776) * 1099511627776 \
                          FROM roles_search WHERE roles_search MATCH ")
                    .push_bind(terms)
                    .push(" AND rowid BETWEEN ")
                    .push("(SELECT num * 1099511627776 FROM org_numbers WHERE org_sid = ")
                    .push_bind(org.as_str())
                    .push(") AND (SELECT num * 1099511627776 + 1099511627775 FROM org_numbers WHERE org_sid = ")
                    .push_bind(org.as_str())
                    .push(")");
            if let Some((low, high)) = sid_prefix_range(s) {
                probe
                    .push(" UNION ALL SELECT rowid FROM roles WHERE org_sid IS NULL AND sid >= ")
                    .push_bind(low.clone())
                    .push(" AND sid < ")
                    .push_bind(high.clone())
                    .push(" UNION ALL SELECT rowid FROM roles WHERE org_sid = ")
                    .push_bind(org.as_str())
                    .push(" AND sid >= ")
                    .push_bind(low)
                    .push(" AND sid < ")
                    .push_bind(high);
            }
            probe.push(") LIMIT ").push_bind(RARE_MATCHES + 1);
            let ids: Vec<i64> = probe
                .build_query_scalar()
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
            (ids.len() as i64 <= RARE_MATCHES).then_some((s, ids))
        }
        _ => None,
    };
    let mut q;
    let desc;
    match rare {
        Some((search, ids)) => {
            // CROSS JOIN keeps SQLite driving from the few matches (rowid lookups) rather
            // than walking the organization's rows in name order.
            q = QueryBuilder::<Sqlite>::new("SELECT ");
            q.push(ROLE_COLUMNS);
            q.push(" FROM (SELECT DISTINCT value AS rid FROM json_each(")
                .push_bind(json(&ids)?)
                .push(")");
            q.push(") AS m CROSS JOIN roles ON roles.rowid = m.rid WHERE (org_sid IS NULL OR org_sid = ")
                    .push_bind(org.as_str())
                    .push(")");
            push_search_scan(&mut q, search);
            desc = push_role_rest(&mut q, filter, cursor, limit);
        }
        None => match filter.resource_types.as_deref() {
            Some(types) if !types.is_empty() && types.len() <= TYPED_ARMS_MAX_TYPES => {
                // A role with several of the types comes once per type: up to that many
                // times the rows, duplicates adjacent in the order, dropped below.
                q = QueryBuilder::<Sqlite>::new("");
                let mut first = true;
                for owner in ["", org.as_str()] {
                    for t in types {
                        if !first {
                            q.push(" UNION ALL ");
                        }
                        first = false;
                        push_typed_arm(&mut q, owner, t, filter, cursor);
                    }
                }
                let fetch = limit.saturating_mul(types.len() as i64);
                desc = push_role_order(&mut q, cursor, fetch);
            }
            _ => {
                q = QueryBuilder::<Sqlite>::new("");
                push_role_arm(&mut q, None, filter, cursor);
                q.push(" UNION ALL ");
                push_role_arm(&mut q, Some(org.as_str()), filter, cursor);
                desc = push_role_order(&mut q, cursor, limit);
            }
        },
    }
    let rows = q.build().fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut roles = rows.iter().map(rows::role).collect::<Result<Vec<_>>>()?;
    roles.dedup_by(|a, b| a.sid == b.sid);
    roles.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    if desc {
        roles.reverse();
    }
    Ok(roles)
}

/// The body of `Store::list_assignments`, on a connection carrying the statement budget.
async fn list_assignments_on(
    conn: &mut sqlx::SqliteConnection,
    org: &OrgSid,
    filter: &AssignmentFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<Assignment>> {
    let mut q = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments WHERE org_sid = "
    ));
    q.push_bind(org.as_str());
    for (column, value) in [
        ("identity", &filter.identity),
        ("scope", &filter.scope),
        ("resource_type", &filter.resource_type),
        ("resource_id", &filter.resource_id),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v.as_str());
        }
    }
    let desc = push_sid_keyset(&mut q, cursor, limit);
    let rows = q.build().fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut out = rows
        .iter()
        .map(rows::assignment)
        .collect::<Result<Vec<_>>>()?;
    if desc {
        out.reverse();
    }
    Ok(out)
}

/// The body of `Store::list_audit_events`, on a connection carrying the statement budget.
async fn list_audit_events_on(
    conn: &mut sqlx::SqliteConnection,
    org: &OrgSid,
    filter: &AuditFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<(i64, AuditEvent)>> {
    let mut q = QueryBuilder::<Sqlite>::new("");
    let back = rows::push_audit_query(&mut q, org, filter, cursor, limit);
    let rows = q.build().fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut out = rows.iter().map(rows::event).collect::<Result<Vec<_>>>()?;
    if back {
        out.reverse();
    }
    Ok(out)
}

/// The import's transaction, on the connection given its large page cache.
const STAGED_COLUMNS: &str = "sid, org_sid, name_key, friendly_name, external_description, \
    product_group, product_group_name, lowest_level, policy, resource_types, date_created, \
    date_updated";

async fn import_roles_on(
    conn: &mut sqlx::SqliteConnection,
    org: &OrgSid,
    batches: &mut RoleBatches<'_>,
    actor: &Actor,
) -> Result<u64> {
    use sqlx::Connection;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    // A statement that writes many rows and may fail halfway first copies each page it is
    // about to change into a statement journal, to undo just that statement. Imported rows
    // land on random pages of three indexes, so INSERTs of 1,000 rows each copied nearly every
    // index page again and again (with its allocations, a third of an import). Instead the
    // rows are staged in a temporary table (appends; a temporary file, not memory, holds it)
    // and moved into `roles` by one INSERT … SELECT, which copies each page once; the search
    // index's insert trigger stands aside while a marker row in `meta` exists, which this
    // transaction writes first and deletes before committing (no other writer can start, and
    // readers never see it), and the new rows are indexed by one statement too.
    // 1,000,000 roles: ~31 s → ~19-21 s (52k roles/s).
    let last_rowid: i64 = sqlx::query_scalar("SELECT coalesce(max(rowid), 0) FROM roles")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('import_defers_search_index', x'') \
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    bump(&mut tx, ROLES_REVISION).await?;
    sqlx::query(&format!(
        "CREATE TEMP TABLE import_staging AS SELECT {STAGED_COLUMNS} FROM roles WHERE 0"
    ))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let mut count = 0u64;
    while let Some(batch) = batches()? {
        insert_roles(&mut tx, Some(org), &batch).await?;
        count += batch.len() as u64;
    }
    sqlx::query(&format!(
        "INSERT INTO roles ({STAGED_COLUMNS}) SELECT {STAGED_COLUMNS} FROM temp.import_staging"
    ))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("DROP TABLE temp.import_staging")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO roles_search (rowid, name_key) \
         SELECT (SELECT num FROM org_numbers WHERE org_sid = ?) * 1099511627776 + rowid, name_key \
         FROM roles WHERE rowid > ?",
    )
    .bind(org.as_str())
    .bind(last_rowid)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("DELETE FROM meta WHERE key = 'import_defers_search_index'")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    insert_event(&mut tx, &roles_imported_event(org, count, actor)).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(count)
}
