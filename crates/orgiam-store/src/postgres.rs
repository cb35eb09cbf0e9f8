//! The PostgreSQL store: one database shared by many replicas.
//!
//! Observable behaviour is the SQLite store's, statement for statement. What differs is how
//! races are settled: SQLite serializes writers with `BEGIN IMMEDIATE`, PostgreSQL with row
//! locks. Every write that bumps a revision counter does so first, and the counter's row lock,
//! held until commit, makes those transactions commit in revision order, so a reader that sees
//! counter `n` also sees every change numbered `n` or less. Text that is ordered or compared is
//! declared `COLLATE "C"`: byte-wise, like SQLite's BINARY collation, whatever the database's
//! locale.
//!
//! The statements are shared with SQLite (see [`crate::store`]); this module holds what is
//! PostgreSQL's own: connecting and migrating, the dialect, the locks, re-sealing keys and
//! the import; the role search is [`search`].

mod listing;
mod probe;
mod search;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use sqlx::{PgPool, Postgres, Row};

use orgiam_domain::model::{Actor, App, Role, SecretRecord};
use orgiam_domain::sid::OrgSid;
use orgiam_domain::store::{KEYS_REVISION, ROLES_REVISION, Resealer, RoleBatches};
use orgiam_domain::{Error, Result};

use crate::events::roles_imported_event;
use crate::{DatabaseUrl, OpenMode, check_schema, connect_cause, db_error};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process; replicas multiply it, so keep it well under `max_connections`.
const MAX_CONNECTIONS: u32 = 16;
/// Of those, connections for listings (see [`listing`]); the rest are sqlx's pool.
const LISTING_CONNECTIONS: usize = 8;
/// How long a request waits for a pooled connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Advisory lock that serializes catalog syncs of replicas starting together ("orgiamrl").
const SYNC_ROLES_LOCK: i64 = 0x6f72_6769_616d_726c;
/// Advisory lock that orders audit events' commits ("orgiamae").
const AUDIT_LOCK: i64 = 0x6f72_6769_616d_6165;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections for listings (see [`listing`]).
    listings: std::sync::Arc<listing::Listings>,
    /// The roles' statistics, for the search (see [`probe::SearchStats`]).
    stats: std::sync::Arc<probe::SearchStats>,
}

/// Never prints connection options (they hold the password).
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("size", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl PgStore {
    /// Connects and migrates. Replicas may start together: the migrator holds an advisory
    /// lock while it works, so exactly one applies each migration.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self> {
        Self::open(url, OpenMode::Create, &crate::StoreOptions::default()).await
    }

    /// Connects; migrates unless `mode` is [`OpenMode::Existing`], which checks the schema
    /// instead. The database itself must exist in every mode. Every pooled connection starts
    /// with the statement timeout as its `statement_timeout`; imports and migrations lift it
    /// for themselves.
    pub async fn open(
        url: &DatabaseUrl,
        mode: OpenMode,
        store: &crate::StoreOptions,
    ) -> Result<Self> {
        let timeout_ms = store
            .statement_timeout
            .map_or(0, |t| t.as_millis().clamp(1, i32::MAX as u128));
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|e| {
                Error::bad_request(format!("invalid PostgreSQL URL {}: {e}", url.redacted()))
            })?
            .application_name("orgiam")
            // Every statement at `trace`: the revision poll and the catalog sync would
            // otherwise bury the request lines at `debug`. Slow statements still warn.
            .log_statements(log::LevelFilter::Trace)
            .options([("statement_timeout", timeout_ms.to_string())]);
        // One direct connection first: a pool that cannot connect reports only "pool timed
        // out", while this names the cause (refused, DNS, authentication, timeout).
        let probe = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options));
        match probe.await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => {
                let where_ = format!("{}:{}", options.get_host(), options.get_port());
                tracing::error!(database = %url.redacted(), error = %e, "cannot connect to PostgreSQL");
                return Err(Error::Unavailable(format!(
                    "cannot connect to {where_}: {}",
                    connect_cause(&e)
                )));
            }
            Err(_) => {
                return Err(Error::Unavailable(format!(
                    "cannot connect to {}:{}: timed out (no answer within {} s)",
                    options.get_host(),
                    options.get_port(),
                    ACQUIRE_TIMEOUT.as_secs()
                )));
            }
        }
        let listings =
            listing::Listings::new(options.clone(), LISTING_CONNECTIONS, ACQUIRE_TIMEOUT);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS - LISTING_CONNECTIONS as u32)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| {
                tracing::error!(database = %url.redacted(), error = %e, "cannot connect to PostgreSQL");
                db_error(e)
            })?;
        // The schema check and the migrations (an index over a million roles) are not bounded:
        // they run on a connection of their own, closed afterwards.
        let mut conn = pool.acquire().await.map_err(db_error)?.detach();
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        check_schema(
            applied_migrations(&mut conn).await?.as_deref(),
            &MIGRATOR,
            mode,
        )?;
        if mode != OpenMode::Existing {
            MIGRATOR.run(&mut conn).await.map_err(migrate_error)?;
        }
        let _ = sqlx::Connection::close(conn).await;
        let store = Self {
            pool,
            listings: std::sync::Arc::new(listings),
            stats: Default::default(),
        };
        if mode != OpenMode::Existing {
            store.render_roles().await?;
        }
        tracing::info!(database = %url.redacted(), "PostgreSQL store ready");
        Ok(store)
    }
}

crate::store::store_impl!(PgStore, sql, "?::jsonb", begin());
crate::scim::scim_impl!(PgStore, sql, " FOR UPDATE", begin());

/// The migrations the database has applied, or `None` when it has no migrations table.
async fn applied_migrations(conn: &mut PgConnection) -> Result<Option<Vec<i64>>> {
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    if !has_table {
        return Ok(None);
    }
    sqlx::query_scalar(crate::APPLIED_MIGRATIONS)
        .fetch_all(conn)
        .await
        .map(Some)
        .map_err(db_error)
}

/// An outage while migrating is a 503 like any other; anything else is a broken schema.
fn migrate_error(e: MigrateError) -> Error {
    match e {
        MigrateError::Execute(e) => match db_error(e) {
            Error::Unavailable(m) => Error::Unavailable(m),
            other => Error::internal(format!("migrating the PostgreSQL store: {other}")),
        },
        other => Error::internal(format!("migrating the PostgreSQL store: {other}")),
    }
}

// The dialect (see `crate::store`).

type Db = Postgres;
type Conn = PgConnection;
/// How listings' statements are built: run through sqlx.
type ListSql<'a> = sqlx::QueryBuilder<'a, Postgres>;
use crate::directory::numbered as sql;

const ENGINE: &str = "postgres";
/// `resource_types` is JSONB (for `?|`); it is read back as text and parsed, which keeps the
/// array's order.
const ROLE_COLUMNS: &str = "sid, org_sid, friendly_name, external_description, product_group, \
    product_group_name, lowest_level, policy, resource_types::text AS resource_types, \
    date_created, date_updated";
/// JSON text bound for a JSONB column.
const JSONB: &str = "::jsonb";
/// A parameter only compared with `NULL` needs a type.
const BIGINT: &str = "::bigint";
const GREATEST: &str = "GREATEST";
/// A read inside a write locks the rows it reads until commit.
const FOR_UPDATE: &str = " FOR UPDATE";

/// A read of several statements runs on one snapshot.
type Reader = sqlx::Transaction<'static, Postgres>;

/// Statements are bounded by each connection's `statement_timeout`: nothing to install.
struct Budget;

impl Budget {
    async fn finish<T>(
        self,
        conn: sqlx::pool::PoolConnection<Postgres>,
        result: Result<T>,
    ) -> Result<T> {
        drop(conn);
        result
    }
}

impl PgStore {
    /// A write transaction (READ COMMITTED); races are settled by row locks (see above).
    async fn write(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_error)
    }

    /// A read-only transaction on one snapshot, for reads that span statements.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db_error)
    }

    async fn read(&self) -> Result<Reader> {
        self.snapshot().await
    }

    async fn bounded(&self) -> Result<(sqlx::pool::PoolConnection<Postgres>, Budget)> {
        let conn = self.pool.acquire().await.map_err(db_error)?;
        Ok((conn, Budget))
    }

    async fn reseal_keys_in(&self, f: &Resealer<'_>) -> Result<usize> {
        let mut tx = self.write().await?;
        // A key rotation's first write is bumping the keys counter: holding that row makes
        // rotations wait, so no key is inserted (sealed the old way) while this runs. Racing
        // reseals queue here too, and each sees the values the previous one committed.
        sqlx::query("SELECT value FROM revisions WHERE name = $1 FOR UPDATE")
            .bind(KEYS_REVISION)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let changed = Self::reseal_rows(&mut tx, f).await?;
        tx.commit().await.map_err(db_error)?;
        if changed > 0 {
            // The replaced values stay in dead row versions until the tables are rewritten
            // (both are a few rows). Best effort: it needs the tables' owner.
            if let Err(e) = sqlx::query("VACUUM FULL meta, signing_keys")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "rewriting the key tables after re-sealing failed");
            }
        }
        Ok(changed)
    }

    async fn import_roles_in(
        &self,
        org: &OrgSid,
        batches: &mut RoleBatches<'_>,
        actor: &Actor,
    ) -> Result<u64> {
        let mut tx = self.write().await?;
        // An import writes as many rows as it is given: not bounded by the statement timeout.
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        bump(&mut tx, ROLES_REVISION).await?;
        let mut count = 0u64;
        while let Some(batch) = batches()? {
            Self::insert_role_rows(&mut tx, "roles", Some(org), &batch).await?;
            count += batch.len() as u64;
        }
        insert_event(&mut tx, &roles_imported_event(org, count, actor)).await?;
        tx.commit()
            .await
            .map_err(db_error)
            .inspect(crate::revisions::access_committed)?;
        // After a bulk load: fold what is left in the trigram index's pending list into the
        // index (until autovacuum gets to it, every search scans that list: 1M roles, a rare
        // search 3.4 -> 0.9 ms), and refresh the planner's statistics. Both only speed things
        // up (an engine without them, or a user who may not run them, imports all the same).
        for maintenance in [
            "SELECT gin_clean_pending_list('roles_by_org_trigram'::regclass)",
            "SELECT gin_clean_pending_list('roles_by_org_resource_types'::regclass)",
            "ANALYZE roles",
        ] {
            let done = async {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SET LOCAL statement_timeout = 0")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(maintenance).execute(&mut *tx).await?;
                tx.commit().await
            };
            if let Err(e) = done.await {
                tracing::warn!(error = %e, maintenance, "after the import");
            }
        }
        Ok(count)
    }
}

async fn end_read(tx: Reader) -> Result<()> {
    tx.commit().await.map_err(db_error)
}

/// Takes the lock that orders audit events' commits (see `insert_event`).
async fn audit_lock(tx: &mut Conn) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Waits for in-flight inserts of organizations to finish and keeps new ones out until
/// commit (reads go on): under READ COMMITTED a count then sees every committed one.
async fn lock_orgs(tx: &mut Conn) -> Result<()> {
    sqlx::query("LOCK TABLE orgs IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Replicas starting together (perhaps with different catalogs, mid-deploy) take turns at
/// syncing the catalog rather than deadlock on each other's upserts and deletes.
async fn lock_catalog(tx: &mut Conn) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SYNC_ROLES_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Loads the secrets of the given apps in one query, oldest first (on a tie, the current
/// secret, the one without an expiry, last).
async fn attach_secrets(conn: &mut Conn, apps: &mut [App]) -> Result<()> {
    if apps.is_empty() {
        return Ok(());
    }
    let sids: Vec<String> = apps.iter().map(|a| a.sid.as_str().to_owned()).collect();
    let rows = sqlx::query(
        "SELECT app_sid, hash, expires_at FROM app_secrets WHERE app_sid = ANY($1) \
         ORDER BY app_sid, created_at, expires_at IS NULL, hash",
    )
    .bind(sids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for app in apps.iter_mut() {
        app.secrets.clear();
    }
    for r in &rows {
        let sid: String = r.try_get(0).map_err(db_error)?;
        let record = SecretRecord {
            hash: r.try_get(1).map_err(db_error)?,
            expires_at: r.try_get(2).map_err(db_error)?,
        };
        if let Some(app) = apps.iter_mut().find(|a| a.sid.as_str() == sid) {
            app.secrets.push(record);
        }
    }
    Ok(())
}

/// Deletes the built-in roles not in `roles`.
async fn delete_other_builtins(tx: &mut Conn, roles: &[Role]) -> Result<()> {
    let keep: Vec<String> = roles.iter().map(|r| r.sid.as_str().to_owned()).collect();
    sqlx::query("DELETE FROM roles WHERE org_sid IS NULL AND sid <> ALL($1::text[])")
        .bind(keep)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}
