//! The harness: a fresh store per case on either engine (made through the shared test kit),
//! and a raw pool on the same database for fixtures the trait cannot write.

use crate::prelude::*;
use orgiam_testkit::{PgDatabase, TempDir};

pub(crate) enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A fresh store, plus a raw pool on the same database for fixtures the trait cannot write.
/// Dropping it removes the SQLite folder or drops the PostgreSQL database.
pub(crate) struct TestDb {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) raw: Raw,
    /// The database's URL (to open it again).
    pub(crate) url: String,
    _keep: TempDir,
}

impl TestDb {
    pub(crate) async fn sqlite() -> Self {
        let dir = TempDir::new();
        let url = format!("sqlite://{}", dir.0.join("store.db").display());
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
            url,
            _keep: dir,
        }
    }

    /// `None` when PostgreSQL was switched off with `ORGIAM_TEST_PG_URL=off`. Test databases
    /// use an ICU `en-US` default collation where the server has one.
    pub(crate) async fn postgres() -> Option<Self> {
        let Some(db) = PgDatabase::scratch(true).await else {
            eprintln!("ORGIAM_TEST_PG_URL=off: skipping the PostgreSQL contract tests");
            return None;
        };
        let url = db.url().to_owned();
        let store = orgiam_store::connect(&DatabaseUrl::new(url.clone()))
            .await
            .expect("open the PostgreSQL store");
        assert_eq!(store.engine(), "postgres");
        let raw = sqlx::PgPool::connect(&url)
            .await
            .expect("open a raw PostgreSQL pool");
        let mut keep = TempDir::new();
        keep.1 = Some(db);
        Some(Self {
            store,
            raw: Raw::Postgres(raw),
            url,
            _keep: keep,
        })
    }

    /// Inserts a custom role (one with an organization): the trait has no method for it.
    pub(crate) async fn insert_custom_role(&self, r: &Role) {
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

    /// How many roles are stored without their rendered JSON.
    pub(crate) async fn unrendered_roles(&self) -> i64 {
        const SQL: &str = "SELECT count(*) FROM roles WHERE rendered IS NULL";
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
        }
        .expect("count unrendered roles")
    }

    /// The definitions of the `roles` table's indexes, sorted (an SQLite import that doubles
    /// the table drops and rebuilds them).
    pub(crate) async fn role_indexes(&self) -> Vec<String> {
        let mut got: Vec<String> = match &self.raw {
            Raw::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT sql FROM sqlite_schema \
                     WHERE type = 'index' AND tbl_name = 'roles' AND sql IS NOT NULL",
                )
                .fetch_all(pool)
                .await
            }
            Raw::Postgres(pool) => {
                sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE tablename = 'roles'")
                    .fetch_all(pool)
                    .await
            }
        }
        .expect("read the roles table's indexes");
        got.sort();
        got
    }

    /// Every audit event in the database, whatever its organization.
    pub(crate) async fn count_events(&self) -> i64 {
        const SQL: &str = "SELECT count(*) FROM audit_events";
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
        }
        .expect("count audit events")
    }

    /// Rewrites every event's time from its position: `T0 + (seq / 2) * 10`, so pairs of
    /// neighbours share a second (ties) and the times climb with `seq`.
    pub(crate) async fn spread_event_times(&self) {
        const SQL: &str = "UPDATE audit_events SET date_created = 1700000000 + (seq / 2) * 10";
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(SQL).execute(pool).await.map(|_| ()),
            Raw::Postgres(pool) => sqlx::query(SQL).execute(pool).await.map(|_| ()),
        }
        .expect("rewrite event times");
    }

    /// Backdates a key's retirement (time passing is not something a test can wait for).
    pub(crate) async fn set_key_retired_at(&self, kid: &KeySid, at: i64) {
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
