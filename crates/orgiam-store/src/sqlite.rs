//! The SQLite store: one file, WAL journal, a small pool. The statements are shared with
//! PostgreSQL (see [`crate::store`]); this module holds what is SQLite's own: opening the
//! file, the statement budget, the dialect, the role search ([`search`]) and the staged
//! import ([`import`]).

mod files;
mod import;
pub(crate) mod reader;
mod search;
mod small_orgs;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row, Sqlite, SqlitePool};

use orgiam_domain::model::{App, Role, SecretRecord};
use orgiam_domain::store::Resealer;
use orgiam_domain::{Error, Result};

use crate::{OpenMode, check_schema, connect_cause, db_error};

pub(crate) use files::file_path;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The most time one listing's statements may run (see [`crate::StoreOptions`]).
    statement_timeout: Option<Duration>,
    /// Role listings' connections (read-only, run on the calling thread).
    readers: std::sync::Arc<reader::Readers>,
    /// Which organizations' searches walk their names (see [`small_orgs::SmallOrgs`]).
    small_orgs: std::sync::Arc<small_orgs::SmallOrgs>,
}

/// SQLite VM instructions between two looks at the clock by a listing's progress handler
/// (a few microseconds of work; the clock read costs ~25 ns).
const BUDGET_CHECK_OPS: i32 = 1000;

/// A statement budget installed on one connection: a progress handler that interrupts the
/// running statement once its deadline has passed, and notes that it did. The handler stays
/// on the connection until the next budget replaces it, but acts only while its budget lives:
/// dropped (the listing done, or cancelled on its way), it lets every statement run. Nothing
/// needs removing, so a cancelled listing cannot leave a connection that interrupts the next
/// statements, and finishing costs no round trip to the connection's thread.
struct Budget {
    fired: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Budget {
    /// Installs the handler (nothing when there is no timeout).
    async fn start(conn: &mut sqlx::SqliteConnection, timeout: Option<Duration>) -> Result<Self> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let fired = std::sync::Arc::new(AtomicBool::new(false));
        let live = std::sync::Arc::new(AtomicBool::new(true));
        if let Some(timeout) = timeout {
            let deadline = std::time::Instant::now() + timeout;
            let (fired, live) = (fired.clone(), live.clone());
            conn.lock_handle()
                .await
                .map_err(db_error)?
                .set_progress_handler(BUDGET_CHECK_OPS, move || {
                    if !live.load(Ordering::Relaxed) || std::time::Instant::now() < deadline {
                        return true;
                    }
                    fired.store(true, Ordering::Relaxed);
                    false
                });
        }
        Ok(Self { fired, live })
    }

    /// Turns an interrupted statement's error into [`Error::Overloaded`].
    async fn finish<T>(
        self,
        conn: sqlx::pool::PoolConnection<Sqlite>,
        result: Result<T>,
    ) -> Result<T> {
        drop(conn);
        match result {
            Err(e) if self.fired.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(Error::Overloaded(e.to_string()))
            }
            other => other,
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.live.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

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
            files::private_files(path)?;
        }
        if file_path(url).is_none() {
            return Err(Error::bad_request(
                "a SQLite store is a file: give its path (sqlite://PATH), not an in-memory database",
            ));
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
        let readers = std::sync::Arc::new(reader::Readers::new(
            options_path(&pool),
            store.statement_timeout,
        ));
        if mode == OpenMode::Existing {
            return Ok(Self {
                pool,
                statement_timeout: store.statement_timeout,
                readers,
                small_orgs: std::sync::Arc::new(small_orgs::SmallOrgs::new(
                    store.walked_search_roles,
                )),
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
        let store = Self {
            pool,
            statement_timeout: store.statement_timeout,
            readers,
            small_orgs: std::sync::Arc::new(small_orgs::SmallOrgs::new(store.walked_search_roles)),
        };
        store.render_roles().await?;
        Ok(store)
    }
}

crate::store::store_impl!(SqliteStore, sql, "?", begin_with("BEGIN IMMEDIATE"));
crate::scim::scim_impl!(SqliteStore, sql, "", begin_with("BEGIN IMMEDIATE"));

/// The migrations the file has applied, or `None` when it has no migrations table.
async fn applied_migrations(pool: &SqlitePool) -> Result<Option<Vec<i64>>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    if tables.is_empty() {
        Ok(None)
    } else {
        let versions = sqlx::query_scalar(crate::APPLIED_MIGRATIONS)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
        Ok(Some(versions))
    }
}

// The dialect (see `crate::store`).

type Db = Sqlite;
type Conn = sqlx::SqliteConnection;
/// How listings' statements are built: run on the calling thread (see [`reader`]).
type ListSql<'a> = crate::sql::Stmt<'a>;
use crate::directory::same as sql;

const ENGINE: &str = "sqlite";
const ROLE_COLUMNS: &str = "sid, org_sid, friendly_name, external_description, product_group, \
    product_group_name, lowest_level, policy, resource_types, date_created, date_updated";
/// JSON is stored as text: no cast.
const JSONB: &str = "";
/// SQLite types parameters by their values: no cast.
const BIGINT: &str = "";
/// SQLite's two-argument `max` is PostgreSQL's `GREATEST`.
const GREATEST: &str = "max";
/// A write transaction (`BEGIN IMMEDIATE`) holds the database's one write lock already.
const FOR_UPDATE: &str = "";

/// A connection for a read of several statements (a look-up and its secrets).
type Reader = sqlx::pool::PoolConnection<Sqlite>;

impl SqliteStore {
    /// A write transaction: `BEGIN IMMEDIATE` takes the write lock first, so writers queue
    /// rather than fail to upgrade a read lock.
    async fn write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }

    /// A deferred transaction: its reads share one snapshot of the WAL.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.pool.begin().await.map_err(db_error)
    }

    async fn read(&self) -> Result<Reader> {
        self.pool.acquire().await.map_err(db_error)
    }

    /// A connection carrying the statement budget, which [`Budget::finish`] removes.
    async fn bounded(&self) -> Result<(sqlx::pool::PoolConnection<Sqlite>, Budget)> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let budget = Budget::start(&mut conn, self.statement_timeout).await?;
        Ok((conn, budget))
    }

    async fn reseal_keys_in(&self, f: &Resealer<'_>) -> Result<usize> {
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
        // One `BEGIN IMMEDIATE` transaction: every other writer (a key rotation included)
        // waits for it.
        let changed = async {
            use sqlx::Connection as _;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
            let changed = Self::reseal_rows(&mut tx, f).await?;
            tx.commit().await.map_err(db_error)?;
            Ok::<_, Error>(changed)
        }
        .await;
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
}

async fn end_read(_: Reader) -> Result<()> {
    Ok(())
}

/// One writer at a time: SQLite's write lock orders the audit events, and keeps `create_org`
/// out of a bootstrap, and catalog syncs apart.
async fn audit_lock(_: &mut Conn) -> Result<()> {
    Ok(())
}

async fn lock_orgs(_: &mut Conn) -> Result<()> {
    Ok(())
}

async fn lock_catalog(_: &mut Conn) -> Result<()> {
    Ok(())
}

/// Loads the secrets of the given apps, oldest first (a statement per app costs no round
/// trip on SQLite).
async fn attach_secrets(conn: &mut Conn, apps: &mut [App]) -> Result<()> {
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

/// Deletes the built-in roles not in `roles` (an empty `NOT IN ()` is true on SQLite).
async fn delete_other_builtins(tx: &mut Conn, roles: &[Role]) -> Result<()> {
    let mut q = sqlx::QueryBuilder::<Sqlite>::new(
        "DELETE FROM roles WHERE org_sid IS NULL AND sid NOT IN (",
    );
    let mut sep = q.separated(", ");
    for r in roles {
        sep.push_bind(r.sid.as_str());
    }
    q.push(")");
    q.build().execute(&mut *tx).await.map_err(db_error)?;
    Ok(())
}

/// The database file the pool opened (as sqlx parsed it from the URL), for the readers.
fn options_path(pool: &SqlitePool) -> std::path::PathBuf {
    pool.connect_options().get_filename().to_path_buf()
}
