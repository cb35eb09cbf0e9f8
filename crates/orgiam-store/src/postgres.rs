//! The PostgreSQL store: one database shared by many replicas.
//!
//! Observable behaviour is the SQLite store's, statement for statement. What differs is how
//! races are settled: SQLite serializes writers with `BEGIN IMMEDIATE`, PostgreSQL with row
//! locks. Every write that bumps a revision counter does so first, and the counter's row lock,
//! held until commit, makes those transactions commit in revision order, so a reader that sees
//! counter `n` also sees every change numbered `n` or less. Text that is ordered or compared is
//! declared `COLLATE "C"`: byte-wise, like SQLite's BINARY collation, whatever the database's
//! locale.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

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
use crate::{DatabaseUrl, OpenMode, check_schema, connect_cause, db_error};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process; replicas multiply it, so keep it well under `max_connections`.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a pooled connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Advisory lock that serializes catalog syncs of replicas starting together ("orgiamrl").
const SYNC_ROLES_LOCK: i64 = 0x6f72_6769_616d_726c;
/// Advisory lock that orders audit events' commits ("orgiamae").
const AUDIT_LOCK: i64 = 0x6f72_6769_616d_6165;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
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
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
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
        tracing::info!(database = %url.redacted(), "PostgreSQL store ready");
        Ok(Self { pool })
    }
}

crate::directory::directory_impl!(PgStore, crate::directory::numbered, begin());
crate::revocations::revocations_impl!(PgStore, crate::directory::numbered, begin());
crate::manage::management_impl!(PgStore, crate::directory::numbered, "?::jsonb", begin());
crate::access::access_impl!(PgStore, crate::directory::numbered, begin());

/// The migrations the database has applied, or `None` when it has no migrations table.
async fn applied_migrations(conn: &mut PgConnection) -> Result<Option<Vec<i64>>> {
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    if !has_table {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
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

/// Bumps a revision counter; the first write of its transaction. The row stays locked until
/// commit, so transactions that bump the same counter commit in the order of their values.
async fn bump(tx: &mut PgConnection, name: &str) -> Result<i64> {
    sqlx::query_scalar("UPDATE revisions SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_one(tx)
        .await
        .map_err(db_error)
}

/// `resource_types` is JSONB (for `?|`); it is read back as text and parsed, which keeps the
/// array's order.
const ROLE_COLUMNS: &str = "sid, org_sid, friendly_name, external_description, product_group, \
    product_group_name, lowest_level, policy, resource_types::text AS resource_types, \
    date_created, date_updated";

/// Loads the secrets of the given apps in one query, oldest first (on a tie, the current
/// secret, the one without an expiry, last).
async fn attach_secrets(conn: &mut PgConnection, apps: &mut [App]) -> Result<()> {
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

async fn insert_app(tx: &mut PgConnection, app: &App) -> Result<()> {
    let rev = bump(tx, APPS_REVISION).await?;
    sqlx::query(
        "INSERT INTO apps (sid, org_sid, friendly_name, description, status, policy, \
         access_token_ttl, date_created, date_updated, rev, audiences) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
            "INSERT INTO app_secrets (app_sid, hash, expires_at, created_at) VALUES ($1, $2, $3, $4)",
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
async fn insert_event(tx: &mut PgConnection, e: &AuditEvent) -> Result<()> {
    // `seq` comes from a sequence, taken at insert time; the lock (held to commit, and the
    // event is each transaction's last write) makes events commit in `seq` order, so a reader
    // asking for events newer than one it saw never misses one committed late.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO audit_events (sid, org_sid, date_created, actor, action, target, request_id, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

async fn insert_signing_key(tx: &mut PgConnection, k: &SigningKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_der, public_raw, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
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

/// Rows per multi-row INSERT of an import (12 parameters each, under PostgreSQL's 65535).
const IMPORT_CHUNK: usize = 1000;

async fn insert_roles(tx: &mut PgConnection, org: Option<&OrgSid>, roles: &[Role]) -> Result<()> {
    for chunk in roles.chunks(IMPORT_CHUNK) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO roles (sid, org_sid, name_key, friendly_name, external_description, \
             product_group, product_group_name, lowest_level, policy, resource_types, \
             date_created, date_updated) ",
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
                .push_unseparated("::jsonb")
                .push_bind(r.date_created)
                .push_bind(r.date_updated);
        });
        q.build().execute(&mut *tx).await.map_err(db_error)?;
    }
    Ok(())
}

async fn insert_org(conn: &mut PgConnection, org: &Org) -> Result<()> {
    sqlx::query("INSERT INTO orgs (sid, friendly_name, date_created) VALUES ($1, $2, $3)")
        .bind(org.sid.as_str())
        .bind(&org.friendly_name)
        .bind(org.date_created)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The search condition by walking names: a case-insensitive substring of the name (LIKE
/// metacharacters escaped, written `E'\\'` whatever `standard_conforming_strings` says), or
/// the SID range.
///
/// `(name_key || '')` rather than `name_key`: this runs for short and common searches, for
/// which the trigram index is always the wrong plan, yet a generic plan (PostgreSQL switches
/// to one after five executions of a prepared statement) cannot see the pattern and picked it:
/// a two-letter search walked the whole index, 1,000,000 rows (0.5-0.7 s at 1M roles).
fn push_search_scan<'a>(q: &mut QueryBuilder<'a, Postgres>, search: &str) {
    q.push(" AND ((name_key || '') ILIKE ")
        .push_bind(format!("%{}%", like_escape(search)))
        .push(" ESCAPE E'\\\\'");
    push_sid_range_or(q, search);
    q.push(")");
}

/// The product-group and resource-type filters.
fn push_role_filters<'a>(q: &mut QueryBuilder<'a, Postgres>, filter: &'a RoleFilter) {
    if let Some(group) = &filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    if let Some(types) = &filter.resource_types {
        // Any of them; a NULL `resource_types` never matches.
        q.push(" AND resource_types ?| ")
            .push_bind(types.clone())
            .push("::text[]");
    }
}

/// The keyset position and the order; whether the order is descending.
fn push_role_page<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    cursor: Option<&'a Cursor>,
    limit: i64,
) -> bool {
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
    q.push(if desc {
        " ORDER BY name_key DESC, sid DESC"
    } else {
        " ORDER BY name_key, sid"
    });
    q.push(" LIMIT ").push_bind(limit);
    desc
}

/// One arm of the name-ordered listing: the rows of one owner (built-in or the organization).
fn push_role_arm<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    org: Option<&'a str>,
    filter: &'a RoleFilter,
    cursor: Option<&'a Cursor>,
    limit: i64,
) {
    q.push("(SELECT ");
    q.push(ROLE_COLUMNS);
    q.push(", name_key FROM roles WHERE ");
    match org {
        None => q.push("org_sid IS NULL"),
        Some(o) => q.push("org_sid = ").push_bind(o),
    };
    if let Some(search) = &filter.search {
        push_search_scan(q, search);
    }
    push_role_filters(q, filter);
    push_role_page(q, cursor, limit);
    q.push(")");
}

/// A listing filtered by at most this many resource types walks the resource-type index, one
/// arm per (owner, type); more are tested row by row (`?|`) on the name-ordered walk.
const TYPED_ARMS_MAX_TYPES: usize = 8;

/// One arm of a listing filtered by resource type: the rows of one owner (`''` for built-in
/// roles) that have resource type `rtype`, walked in name order through the resource-type
/// index, so a type no role has costs one probe and a page stops at its limit.
fn push_typed_arm<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    owner: &'a str,
    rtype: &'a str,
    filter: &'a RoleFilter,
    cursor: Option<&'a Cursor>,
    limit: i64,
) {
    q.push(
        "(SELECT roles.sid, org_sid, friendly_name, external_description, product_group, \
         product_group_name, lowest_level, policy, resource_types::text AS resource_types, \
         date_created, date_updated, rt_name_key AS name_key \
         FROM role_resource_types JOIN roles ON roles.sid = rt_sid WHERE rt_org = ",
    );
    q.push_bind(owner).push(" AND rt_type = ").push_bind(rtype);
    if let Some(search) = &filter.search {
        q.push(" AND ((roles.name_key || '') ILIKE ")
            .push_bind(format!("%{}%", like_escape(search)))
            .push(" ESCAPE E'\\\\'");
        if let Some((low, high)) = sid_prefix_range(search) {
            q.push(" OR (roles.sid >= ")
                .push_bind(low)
                .push(" AND roles.sid < ")
                .push_bind(high)
                .push(")");
        }
        q.push(")");
    }
    if let Some(group) = &filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    let desc = cursor.is_some_and(|c| c.direction == Direction::Previous);
    if let Some(c) = cursor {
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
    q.push(if desc {
        " ORDER BY rt_name_key DESC, rt_sid DESC"
    } else {
        " ORDER BY rt_name_key, rt_sid"
    });
    q.push(" LIMIT ").push_bind(limit);
    q.push(")");
}

/// Appends the keyset condition on `sid` and the order for a cursor; returns whether the
/// rows come back descending.
fn push_sid_keyset(
    q: &mut QueryBuilder<'_, Postgres>,
    cursor: Option<&Cursor>,
    limit: u32,
) -> bool {
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

impl PgStore {
    /// A read-only transaction on one snapshot, for reads that span statements.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db_error)
    }
}

#[async_trait]
impl Store for PgStore {
    fn engine(&self) -> &'static str {
        "postgres"
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // The gate: a racing caller blocks on the unique index until the winner commits, then
        // inserts nothing and leaves (its transaction rolls back unused).
        let fresh = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('page_key', $1) ON CONFLICT DO NOTHING",
        )
        .bind(&keys.page_key)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if fresh.rows_affected() == 0 {
            return Ok(());
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ('secret_key', $1)")
            .bind(&keys.secret_key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        bump(&mut tx, KEYS_REVISION).await?;
        insert_signing_key(&mut tx, signing_key).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn bootstrap(&self, org: &Org, app: &App) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Racing bootstrappers queue on the marker's unique index; only the first gets past.
        let first = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('bootstrapped', $1) ON CONFLICT DO NOTHING",
        )
        .bind(org.sid.as_str().as_bytes())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if first.rows_affected() == 0 {
            tx.commit().await.map_err(db_error)?;
            return Ok(false);
        }
        // "No organization exists" must also hold against `create_org` running elsewhere:
        // wait for in-flight inserts to finish and keep new ones out until we commit (reads
        // go on). Under READ COMMITTED the count below then sees every committed org.
        sqlx::query("LOCK TABLE orgs IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM orgs")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        if orgs > 0 {
            // Like SQLite: the marker stays, so this store is never bootstrapped later.
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
            sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM meta WHERE key = $1")
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
        let rows = sqlx::query(
            "SELECT kid, private_der, public_raw, created_at, retired_at FROM signing_keys \
             ORDER BY created_at DESC, kid",
        )
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Replicas starting together (perhaps with different catalogs, mid-deploy) take turns
        // rather than deadlock on each other's upserts and deletes.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SYNC_ROLES_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        for r in roles {
            sqlx::query(
                "INSERT INTO roles (sid, org_sid, name_key, friendly_name, external_description, \
                 product_group, product_group_name, lowest_level, policy, resource_types, \
                 date_created, date_updated) \
                 VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11) \
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
        // Built-in roles dropped from the catalog disappear (all of them for an empty list).
        let keep: Vec<String> = roles.iter().map(|r| r.sid.as_str().to_owned()).collect();
        sqlx::query("DELETE FROM roles WHERE org_sid IS NULL AND sid <> ALL($1::text[])")
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn create_org(&self, org: &Org, actor: &Actor) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        insert_org(&mut tx, org).await?;
        insert_event(&mut tx, &org_created_event(org, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn org(&self, sid: &OrgSid) -> Result<Option<Org>> {
        let row = sqlx::query("SELECT sid, friendly_name, date_created FROM orgs WHERE sid = $1")
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        insert_app(&mut tx, app).await?;
        insert_event(&mut tx, &app_created_event(app, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn app(&self, sid: &AppSid) -> Result<Option<App>> {
        let mut tx = self.snapshot().await?;
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE sid = $1"))
            .bind(sid.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let mut apps = [rows::app(&row)?];
        attach_secrets(&mut tx, &mut apps).await?;
        tx.commit().await.map_err(db_error)?;
        let [app] = apps;
        Ok(Some(app))
    }

    async fn set_app_status(&self, sid: &AppSid, status: AppStatus, actor: &Actor) -> Result<App> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let rev = bump(&mut tx, APPS_REVISION).await?;
        let before: Option<(String, String)> = sqlx::query_as(
            "SELECT status, org_sid FROM apps WHERE sid = $1 AND status <> 'deleted' FOR UPDATE",
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
            "UPDATE apps SET status = $1, date_updated = $2, rev = $3, \
             tokens_valid_after = GREATEST(tokens_valid_after, $5) \
             WHERE sid = $4 AND status <> 'deleted'",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(rev)
        .bind(sid.as_str())
        .bind(crate::tokens_valid_after(status, now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if changed.rows_affected() == 0 {
            return Err(Error::not_found(format!("OAuth app {sid} was not found")));
        }
        if status == AppStatus::Deleted {
            sqlx::query("DELETE FROM app_secrets WHERE app_sid = $1")
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let rev = bump(&mut tx, APPS_REVISION).await?;
        let changed = sqlx::query(
            "UPDATE apps SET date_updated = $1, rev = $2, \
             tokens_valid_after = GREATEST(tokens_valid_after, $4) \
             WHERE sid = $3 AND status <> 'deleted'",
        )
        .bind(now)
        .bind(rev)
        .bind(sid.as_str())
        .bind(if old_expires_at.is_none() { now + 1 } else { 0 })
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if changed.rows_affected() == 0 {
            return Err(Error::not_found(format!("OAuth app {sid} was not found")));
        }
        // Only the current secret survives into the overlap window: at most two stay live.
        sqlx::query(
            "DELETE FROM app_secrets WHERE app_sid = $1 \
             AND (expires_at IS NOT NULL OR $2::bigint IS NULL)",
        )
        .bind(sid.as_str())
        .bind(old_expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query("UPDATE app_secrets SET expires_at = $1 WHERE app_sid = $2")
            .bind(old_expires_at)
            .bind(sid.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO app_secrets (app_sid, hash, expires_at, created_at) \
             VALUES ($1, $2, NULL, $3)",
        )
        .bind(sid.as_str())
        .bind(new_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let org: String = sqlx::query_scalar("SELECT org_sid FROM apps WHERE sid = $1")
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
        sqlx::query_scalar("SELECT value FROM revisions WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
            .map(Option::unwrap_or_default)
    }

    async fn audit_events_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, AuditEvent)>> {
        let rows = sqlx::query(&crate::directory::numbered(rows::EVENTS_AFTER))
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
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
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            sqlx::query("DELETE FROM signing_keys WHERE retired_at < $1")
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // A key rotation's first write is bumping the keys counter: holding that row makes
        // rotations wait, so no key is inserted (sealed the old way) while this runs. Racing
        // reseals queue here too, and each sees the values the previous one committed.
        sqlx::query("SELECT value FROM revisions WHERE name = $1 FOR UPDATE")
            .bind(KEYS_REVISION)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let mut changed = 0;
        for (slot, name) in [
            (key_slots::PAGE_KEY, "page_key"),
            (key_slots::SECRET_KEY, "secret_key"),
        ] {
            let value: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = $1 FOR UPDATE")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            if let Some(new) = value.map(|v| f(slot, &v)).transpose()?.flatten() {
                sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
                    .bind(new)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                changed += 1;
            }
        }
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT kid, private_der FROM signing_keys ORDER BY kid FOR UPDATE")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
        for (kid, value) in rows {
            if let Some(new) = f(&key_slots::signing_key(&kid), &value)? {
                sqlx::query("UPDATE signing_keys SET private_der = $1 WHERE kid = $2")
                    .bind(new)
                    .bind(&kid)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                changed += 1;
            }
        }
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

    async fn revoke_token(&self, token: &RevokedToken, actor: &Actor) -> Result<bool> {
        self.revoke_token_in(token, actor).await
    }

    async fn revoked_since(&self, since: i64, now: i64) -> Result<(Vec<RevokedToken>, i64)> {
        self.revoked_since_in(since, now).await
    }

    async fn apps_since(&self, since: i64) -> Result<(Vec<App>, i64)> {
        // One snapshot: every change numbered up to the counter it shows has committed (the
        // counter's row lock ordered the commits), and the secrets match the app rows.
        let mut tx = self.snapshot().await?;
        let now: i64 = sqlx::query_scalar("SELECT value FROM revisions WHERE name = $1")
            .bind(APPS_REVISION)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE rev > $1 AND rev <= $2 ORDER BY rev, sid"
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
        let limit = i64::from(limit);
        // Names are compared lower-cased (Unicode rules), whatever the caller passed.
        let lowered = RoleFilter {
            search: filter.search.as_deref().map(str::to_lowercase),
            ..filter.clone()
        };
        let filter = &lowered;
        // A rare search: its few matches come through the trigram index (the probe itself is a
        // bitmap scan of it) and are sorted. Otherwise walk each owner's rows in name order.
        // The trigram index is asked once: up to RARE_MATCHES + 1 candidate SIDs, names that
        // contain every trigram covering the search (a third of its trigrams: 1M roles, a
        // 20-character search, 11.7 -> 3.4 ms). If that many came back the search is taken as
        // common; else its matches are among these (checked below).
        let rare: Option<(&str, Vec<String>)> = match filter.search.as_deref() {
            Some(s) if s.chars().count() >= TRIGRAM => {
                // Each arm is scoped to one owner: the caller's through the trigram index that
                // leads with the organization, the built-ins' through roles_in_order; and a
                // role-SID prefix is looked up in each owner's SID range. No other
                // organization's roles are visited.
                let trigrams: Vec<String> = covering_trigrams(s)
                    .iter()
                    .map(|t| format!("%{}%", like_escape(t)))
                    .collect();
                let mut probe = QueryBuilder::<Postgres>::new("SELECT sid FROM (");
                for (i, owner) in [None, Some(org.as_str())].into_iter().enumerate() {
                    if i > 0 {
                        probe.push(" UNION ALL ");
                    }
                    probe.push("(SELECT sid FROM roles WHERE ");
                    match owner {
                        None => probe.push("org_sid IS NULL"),
                        Some(o) => probe.push("org_sid = ").push_bind(o),
                    };
                    // The built-ins' arm tests `(name_key || '')`, which no index serves: else
                    // a generic plan may AND the organization-less trigram lookup (every
                    // organization's names) with `org_sid IS NULL`.
                    let column = match owner {
                        None => " AND (name_key || '') ILIKE ",
                        Some(_) => " AND name_key ILIKE ",
                    };
                    for t in &trigrams {
                        probe
                            .push(column)
                            .push_bind(t.clone())
                            .push(" ESCAPE E'\\\\'");
                    }
                    probe.push(")");
                    if let Some((low, high)) = sid_prefix_range(s) {
                        probe.push(" UNION ALL (SELECT sid FROM roles WHERE ");
                        match owner {
                            None => probe.push("org_sid IS NULL"),
                            Some(o) => probe.push("org_sid = ").push_bind(o),
                        };
                        probe
                            .push(" AND sid >= ")
                            .push_bind(low)
                            .push(" AND sid < ")
                            .push_bind(high)
                            .push(")");
                    }
                }
                probe
                    .push(") AS candidates LIMIT ")
                    .push_bind(RARE_MATCHES + 1);
                let sids: Vec<String> = probe
                    .build_query_scalar()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                (sids.len() as i64 <= RARE_MATCHES).then_some((s, sids))
            }
            _ => None,
        };
        let mut q;
        let desc;
        match rare {
            Some((search, sids)) => {
                q = QueryBuilder::<Postgres>::new("SELECT ");
                q.push(ROLE_COLUMNS);
                q.push(", name_key FROM roles WHERE (org_sid IS NULL OR org_sid = ")
                    .push_bind(org.as_str())
                    .push(") AND sid = ANY(")
                    .push_bind(sids)
                    .push(")");
                // The candidates' check. Its SID range is on `(sid || '')`, which no index
                // serves: the plan must start from the candidates, never from every
                // organization's SID range.
                q.push(" AND ((name_key || '') ILIKE ")
                    .push_bind(format!("%{}%", like_escape(search)))
                    .push(" ESCAPE E'\\\\'");
                if let Some((low, high)) = sid_prefix_range(search) {
                    q.push(" OR ((sid || '') COLLATE \"C\" >= ")
                        .push_bind(low)
                        .push(" AND (sid || '') COLLATE \"C\" < ")
                        .push_bind(high)
                        .push(")");
                }
                q.push(")");
                push_role_filters(&mut q, filter);
                desc = push_role_page(&mut q, cursor, limit);
            }
            None => {
                desc = cursor.is_some_and(|c| c.direction == Direction::Previous);
                q = QueryBuilder::<Postgres>::new("SELECT * FROM (");
                match filter.resource_types.as_deref() {
                    Some(types) if !types.is_empty() && types.len() <= TYPED_ARMS_MAX_TYPES => {
                        // A role with several of the types comes once per type: duplicates
                        // are adjacent in the order, dropped below.
                        let mut first = true;
                        for owner in ["", org.as_str()] {
                            for t in types {
                                if !first {
                                    q.push(" UNION ALL ");
                                }
                                first = false;
                                push_typed_arm(&mut q, owner, t, filter, cursor, limit);
                            }
                        }
                    }
                    _ => {
                        push_role_arm(&mut q, None, filter, cursor, limit);
                        q.push(" UNION ALL ");
                        push_role_arm(&mut q, Some(org.as_str()), filter, cursor, limit);
                    }
                }
                let fetch = match filter.resource_types.as_deref() {
                    Some(types) if types.len() <= TYPED_ARMS_MAX_TYPES => {
                        limit.saturating_mul(types.len().max(1) as i64)
                    }
                    _ => limit,
                };
                q.push(if desc {
                    ") AS visible ORDER BY name_key DESC, sid DESC"
                } else {
                    ") AS visible ORDER BY name_key, sid"
                });
                q.push(" LIMIT ").push_bind(fetch);
            }
        }
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_error)?;
        let mut roles = rows.iter().map(rows::role).collect::<Result<Vec<_>>>()?;
        roles.dedup_by(|a, b| a.sid == b.sid);
        roles.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        if desc {
            roles.reverse();
        }
        Ok(roles)
    }

    async fn role(&self, org: &OrgSid, sid: &RoleSid) -> Result<Option<Role>> {
        let row = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles WHERE sid = $1 AND (org_sid IS NULL OR org_sid = $2)"
        ))
        .bind(sid.as_str())
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::role).transpose()
    }

    async fn create_account(&self, account: &Account, actor: &Actor) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        sqlx::query(&format!(
            "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
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
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE org_sid = $1 AND sid = $2"
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
        let mut q = QueryBuilder::<Postgres>::new(format!(
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        sqlx::query(
            "INSERT INTO users (sid, org_sid, email, friendly_name, date_created) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.sid.as_str())
        .bind(user.org.as_str())
        .bind(&user.email)
        .bind(&user.friendly_name)
        .bind(user.date_created)
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_error(e) {
            Error::Conflict(_) => {
                Error::Conflict(format!("a user with email {} already exists", user.email))
            }
            other => other,
        })?;
        insert_event(&mut tx, &user_created_event(user, actor)).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn user(&self, org: &OrgSid, sid: &UserSid) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT sid, email, friendly_name, date_created FROM users \
             WHERE org_sid = $1 AND sid = $2",
        )
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        // An identical insert in flight elsewhere makes this one wait on the unique index,
        // then fail as a conflict if that one commits.
        sqlx::query(&format!(
            "INSERT INTO role_assignments ({ASSIGNMENT_COLUMNS}, builtin) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
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
            Error::Conflict(_) => {
                Error::Conflict("An identical role assignment already exists".into())
            }
            other => other,
        })?;
        if builtin {
            // The user's row lock serializes racing grants; the condition is re-checked on the
            // latest row once the lock is ours.
            let counted = sqlx::query(
                "UPDATE users SET builtin_assignments = builtin_assignments + 1 \
                 WHERE org_sid = $1 AND sid = $2 AND builtin_assignments < $3",
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        bump(&mut tx, ACCESS_REVISION).await?;
        let gone: Option<(String, bool, String, String, String, String)> = sqlx::query_as(
            "DELETE FROM role_assignments WHERE org_sid = $1 AND sid = $2 \
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
            sqlx::query(
                "UPDATE users SET builtin_assignments = builtin_assignments - 1 \
                 WHERE org_sid = $1 AND sid = $2",
            )
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
        let mut q = QueryBuilder::<Postgres>::new(format!(
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
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_error)?;
        let mut out = rows
            .iter()
            .map(rows::assignment)
            .collect::<Result<Vec<_>>>()?;
        if desc {
            out.reverse();
        }
        Ok(out)
    }

    async fn import_roles(
        &self,
        org: &OrgSid,
        batches: &mut RoleBatches<'_>,
        actor: &Actor,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // An import writes as many rows as it is given: not bounded by the statement timeout.
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        bump(&mut tx, ROLES_REVISION).await?;
        let mut count = 0u64;
        while let Some(batch) = batches()? {
            insert_roles(&mut tx, Some(org), &batch).await?;
            count += batch.len() as u64;
        }
        insert_event(&mut tx, &roles_imported_event(org, count, actor)).await?;
        tx.commit().await.map_err(db_error)?;
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

    async fn list_audit_events(
        &self,
        org: &OrgSid,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEvent)>> {
        let mut q = QueryBuilder::<Postgres>::new("");
        let back = rows::push_audit_query(&mut q, org, filter, cursor, limit);
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_error)?;
        let mut out = rows.iter().map(rows::event).collect::<Result<Vec<_>>>()?;
        if back {
            out.reverse();
        }
        Ok(out)
    }
}
