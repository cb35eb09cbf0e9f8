//! A fresh database per test, on either engine, made through the driver (sqlx).

use std::future::Future;
use std::path::PathBuf;

use orgiam_domain::sid::random_body;
use sqlx::Connection;

/// Where PostgreSQL test databases are made when `ORGIAM_TEST_PG_URL` is unset.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server and database the per-test PostgreSQL databases are created from:
/// `ORGIAM_TEST_PG_URL`, or [`DEFAULT_PG_URL`]. The contract suite reads the value `off` as
/// "skip PostgreSQL".
pub fn pg_admin_url() -> String {
    std::env::var("ORGIAM_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// The engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine under test: PostgreSQL with `ORGIAM_TEST_ENGINE=postgres`, else SQLite.
    pub fn under_test() -> Self {
        if on_postgres() {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// Whether the suite runs on PostgreSQL (`ORGIAM_TEST_ENGINE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("ORGIAM_TEST_ENGINE").as_deref() == Ok("postgres")
}

/// Runs `work` to completion on a runtime of its own, on a thread of its own: usable from
/// synchronous code, from `Drop`, and from inside another runtime alike.
fn on_own_runtime<T, F>(work: F) -> Option<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        Some(rt.block_on(work))
    })
    .join()
    .ok()
    .flatten()
}

/// Runs statements, one after the other, on a connection to the admin database.
async fn admin_execute(admin_url: &str, statements: &[String]) -> Result<(), String> {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| format!("cannot reach PostgreSQL ({e})"))?;
    let mut result = Ok(());
    for sql in statements {
        if let Err(e) = sqlx::query(sql).execute(&mut admin).await {
            result = Err(format!("{sql}: {e}"));
            break;
        }
    }
    let _ = admin.close().await;
    result
}

/// A PostgreSQL database made for one test, dropped (`WITH (FORCE)`, ending the sessions still
/// open on it) when this is dropped, also when the test failed.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    /// A new empty database on the test server ([`pg_admin_url`]), or `None` when PostgreSQL
    /// tests are switched off (`ORGIAM_TEST_PG_URL=off`). Panics, saying what to do, when the
    /// server cannot make one. `icu` as for [`PgDatabase::create`].
    pub async fn scratch(icu: bool) -> Option<Self> {
        let admin = pg_admin_url();
        if admin == "off" {
            return None;
        }
        match Self::create(&admin, icu).await {
            Ok(db) => Some(db),
            Err(e) => {
                let shown = url::Url::parse(&admin).map_or_else(
                    |_| "ORGIAM_TEST_PG_URL".to_owned(),
                    |mut u| {
                        let _ = u.set_password(None);
                        u.to_string()
                    },
                );
                panic!(
                    "cannot make a PostgreSQL database at {shown} ({e}); start one, point \
                     ORGIAM_TEST_PG_URL at it, or set ORGIAM_TEST_PG_URL=off to skip these tests"
                )
            }
        }
    }

    /// A new empty database `orgiam_t_<random>` on the server of `admin_url`. With `icu`, it
    /// uses an ICU `en-US` default collation where the server has one (so an ordering that
    /// forgot `COLLATE "C"` shows up), else the server's default.
    pub async fn create(admin_url: &str, icu: bool) -> Result<Self, String> {
        let name = format!("orgiam_t_{}", random_body());
        let plain = format!("CREATE DATABASE \"{name}\"");
        let created = if icu {
            let with_icu = format!(
                "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            );
            match admin_execute(admin_url, &[with_icu]).await {
                Ok(()) => Ok(()),
                Err(_) => admin_execute(admin_url, &[plain]).await,
            }
        } else {
            admin_execute(admin_url, &[plain]).await
        };
        created?;
        Ok(Self::named(admin_url, name))
    }

    /// A new database made from `source` as a template (a copy of a database no process is
    /// writing); the sessions still open on `source` are ended first.
    pub async fn copy_of(admin_url: &str, source: &str) -> Result<Self, String> {
        let name = format!("orgiam_t_{}", random_body());
        admin_execute(
            admin_url,
            &[
                // A pool dropped by the test may not have closed its sessions yet.
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{source}' AND pid <> pg_backend_pid()"
                ),
                format!("CREATE DATABASE \"{name}\" TEMPLATE \"{source}\""),
            ],
        )
        .await?;
        Ok(Self::named(admin_url, name))
    }

    fn named(admin_url: &str, name: String) -> Self {
        let url = match url::Url::parse(admin_url) {
            Ok(mut u) => {
                u.set_path(&format!("/{name}"));
                u.to_string()
            }
            Err(_) => {
                let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
                format!("{base}/{name}")
            }
        };
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now (under a server still using it, say); `Err` with the reason.
    pub fn drop_now(&self) -> Result<(), String> {
        let (admin, sql) = (self.admin_url.clone(), self.drop_statement());
        on_own_runtime(async move { admin_execute(&admin, &[sql]).await })
            .unwrap_or_else(|| Err("no runtime to drop the database".into()))
    }

    fn drop_statement(&self) -> String {
        format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Best effort: a database left behind is no failure of the test.
        let _ = self.drop_now();
    }
}

/// A folder removed when dropped; and, for PostgreSQL runs, the test database dropped with it.
pub struct TempDir(pub PathBuf, pub Option<PgDatabase>);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("orgiam-test-{}", random_body()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p, None)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // The database (field 1) drops itself after this.
    }
}

/// A fresh database URL for the engine under test, and what keeps it alive.
pub async fn fresh_database() -> (String, TempDir) {
    fresh_database_on(Engine::under_test()).await
}

/// A fresh database URL on `engine`, and what keeps it alive.
pub async fn fresh_database_on(engine: Engine) -> (String, TempDir) {
    let mut dir = TempDir::new();
    match engine {
        Engine::Postgres => {
            let admin = pg_admin_url();
            let db = PgDatabase::create(&admin, false)
                .await
                .unwrap_or_else(|e| panic!("create database: {e}"));
            let url = db.url().to_owned();
            dir.1 = Some(db);
            (url, dir)
        }
        Engine::Sqlite => {
            let url = format!("sqlite://{}", dir.0.join("orgiam.db").display());
            (url, dir)
        }
    }
}

/// A copy of a database no process is using: the SQLite file (and its WAL, if any) in a new
/// folder, or a PostgreSQL database made from it as a template.
pub fn copy_database(db_url: &str) -> (String, TempDir) {
    let mut dir = TempDir::new();
    if let Some(path) = db_url.strip_prefix("sqlite://") {
        let src = std::path::Path::new(path);
        let name = src.file_name().expect("file name");
        std::fs::copy(src, dir.0.join(name)).expect("copy the database");
        let mut wal = src.as_os_str().to_owned();
        wal.push("-wal");
        if std::path::Path::new(&wal).exists() {
            let mut to = dir.0.join(name).into_os_string();
            to.push("-wal");
            std::fs::copy(&wal, &to).expect("copy the WAL");
        }
        return (format!("sqlite://{}", dir.0.join(name).display()), dir);
    }
    let (_, source) = db_url.rsplit_once('/').expect("database name");
    let (admin, source) = (pg_admin_url(), source.to_owned());
    let db = on_own_runtime(async move { PgDatabase::copy_of(&admin, &source).await })
        .unwrap_or_else(|| Err("no runtime".into()))
        .unwrap_or_else(|e| panic!("copy database: {e}"));
    let url = db.url().to_owned();
    dir.1 = Some(db);
    (url, dir)
}
