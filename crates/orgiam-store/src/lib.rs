//! orgiam's storage: the `Store` trait implemented on SQLite (and, selected by the URL scheme,
//! PostgreSQL).

mod access;
mod accounts;
mod apps;
mod assignments;
mod audit;
pub mod directory;
mod events;
mod import;
mod keys;
mod keyset;
pub mod manage;
mod postgres;
pub(crate) mod revisions;
mod revocations;
mod roles;
mod rows;
pub mod scim;
mod sql;
mod sqlite;
mod store;

use std::sync::Arc;

use orgiam_domain::{Error, Result};

pub use directory::{AppChange, Directory};
pub use manage::{Management, RoleEdit};
pub use postgres::PgStore;
pub use revisions::access_commits;
pub use scim::{ScimEdit, ScimFail, ScimGuard, ScimStore};
pub use sqlite::SqliteStore;

/// A database URL whose `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The database file a `sqlite:` URL names (none for an in-memory database or another engine).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    sqlite::file_path(url).map(std::path::PathBuf::from)
}

/// How a store bounds its work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most time one request's queries may run before they are stopped and the request
    /// answered 503 (code 20503): PostgreSQL's `statement_timeout` on every connection, and on
    /// SQLite a progress handler on the listings' statements. Imports and migrations are not
    /// bounded. `None`: no bound.
    pub statement_timeout: Option<std::time::Duration>,
    /// On SQLite, a search in an organization holding at most this many custom roles walks
    /// its names instead of asking the trigram index ([`DEFAULT_WALKED_SEARCH_ROLES`]; 0:
    /// every organization with custom roles asks the index). PostgreSQL always asks its index.
    pub walked_search_roles: u32,
}

/// 500: walking a few hundred names costs less than the trigram index's probe.
pub const DEFAULT_WALKED_SEARCH_ROLES: u32 = 500;

/// Two seconds: a listing's queries take well under 100 ms even at a million roles.
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            walked_search_roles: DEFAULT_WALKED_SEARCH_ROLES,
        }
    }
}

/// Opens the store the URL names, creating it if missing, and brings its schema up to date
/// (what `orgiam serve` and `orgiam init` do).
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Directory>> {
    connect_with(url, &StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(url: &DatabaseUrl, options: &StoreOptions) -> Result<Arc<dyn Directory>> {
    open_with(url, OpenMode::Create, options).await
}

/// How [`open`] treats the store and its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the store (an SQLite file and its folder) if it is missing, and apply pending
    /// migrations.
    Create,
    /// The store must exist; apply pending migrations.
    Migrate,
    /// The store must exist and have exactly this binary's schema; nothing is written.
    Existing,
}

/// [`open_with`] with the default options.
pub async fn open(url: &DatabaseUrl, mode: OpenMode) -> Result<Arc<dyn Directory>> {
    open_with(url, mode, &StoreOptions::default()).await
}

/// Opens the store the URL names as `mode` says. Every error names the store (without its
/// password) and the cause.
pub async fn open_with(
    url: &DatabaseUrl,
    mode: OpenMode,
    options: &StoreOptions,
) -> Result<Arc<dyn Directory>> {
    let raw = url.expose();
    let store: Result<Arc<dyn Directory>> = if raw.starts_with("sqlite:") {
        SqliteStore::open(raw, mode, options)
            .await
            .map(|s| Arc::new(s) as Arc<dyn Directory>)
    } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        PgStore::open(url, mode, options)
            .await
            .map(|s| Arc::new(s) as Arc<dyn Directory>)
    } else {
        return Err(Error::bad_request(format!(
            "database URL '{}' must start with sqlite:// or postgres://",
            url.redacted()
        )));
    };
    store.map_err(|e| naming_store(url, e))
}

/// Prefixes an error's message with the store it concerns (unless it names it already).
fn naming_store(url: &DatabaseUrl, e: Error) -> Error {
    let shown = url.redacted();
    let name = |m: String| {
        if m.contains(&shown) {
            m
        } else {
            format!("store {shown}: {m}")
        }
    };
    match e {
        Error::Unavailable(m) => Error::Unavailable(name(m)),
        Error::Internal(m) => Error::Internal(name(m)),
        Error::BadRequest(m) => Error::BadRequest(name(m)),
        other => other,
    }
}

/// The schema version this binary's migrations end at, per engine.
pub fn schema_version(url: &DatabaseUrl) -> i64 {
    let migrator = if url.expose().starts_with("sqlite:") {
        &sqlite::MIGRATOR
    } else {
        &postgres::MIGRATOR
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The versions of the migrations a store has applied.
pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";

/// Compares the migrations a store has applied (`None`: it has no migrations table) with this
/// binary's, for `mode`. A schema newer than the binary is refused in every mode; an older
/// one only when nothing may be migrated.
pub(crate) fn check_schema(
    applied: Option<&[i64]>,
    migrator: &sqlx::migrate::Migrator,
    mode: OpenMode,
) -> Result<()> {
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let latest = known.iter().copied().max().unwrap_or(0);
    let applied = applied.unwrap_or(&[]);
    let current = applied.iter().copied().max().unwrap_or(0);
    if applied.iter().any(|v| !known.contains(v)) {
        return Err(Error::Unavailable(format!(
            "its schema (version {current}) is newer than this orgiam binary's (version \
             {latest}): run the orgiam release that migrated it, or a later one"
        )));
    }
    if mode == OpenMode::Existing {
        if applied.is_empty() {
            return Err(Error::Unavailable(
                "it holds no orgiam schema: run `orgiam migrate` to create it".into(),
            ));
        }
        if applied.len() < known.len() {
            return Err(Error::Unavailable(format!(
                "its schema (version {current}) is older than this orgiam binary's (version \
                 {latest}): run `orgiam migrate` (or start `orgiam serve`, which migrates)"
            )));
        }
    }
    Ok(())
}

/// A connection failure's cause in words an operator acts on, with the driver's text.
pub(crate) fn connect_cause(e: &sqlx::Error) -> String {
    let kind = match e {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused",
            std::io::ErrorKind::TimedOut => "timed out",
            std::io::ErrorKind::NotFound => "not found",
            std::io::ErrorKind::PermissionDenied => "permission denied",
            _ if io.to_string().contains("lookup") => "host name not resolved (DNS)",
            _ => "I/O error",
        },
        sqlx::Error::Tls(_) => "TLS error",
        sqlx::Error::Database(d) => match d.code().as_deref() {
            Some("28P01" | "28000") => "authentication failed",
            Some("3D000") => "database does not exist",
            Some(c) if c.starts_with("53") => "server out of resources",
            Some(c) if c.starts_with("57P") => "server shutting down or starting",
            _ => "refused by the server",
        },
        sqlx::Error::PoolTimedOut => "timed out",
        _ => "cannot connect",
    };
    format!("{kind} ({e})")
}

/// Maps a database error: unique violations are conflicts, outages are 503, the rest 500.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict("the resource already exists".into())
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::bad_request("a referenced resource does not exist")
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
        // 57014: `statement_timeout` stopped the statement (or an operator cancelled it).
        sqlx::Error::Database(d) if d.code().as_deref() == Some("57014") => {
            Error::Overloaded(e.to_string())
        }
        // PostgreSQL outages are not bugs (see `is_outage_sqlstate`).
        sqlx::Error::Database(d) if d.code().is_some_and(|c| is_outage_sqlstate(&c)) => {
            Error::Unavailable(e.to_string())
        }
        _ => Error::internal(e),
    }
}

fn is_outage_sqlstate(code: &str) -> bool {
    // 08: connection exception; 53: insufficient resources; 28: the login was refused;
    // 3D000: the database is gone; 57P01-57P03: the server is shutting down or starting;
    // 40001/40P01: a serialization failure or deadlock, worth a retry by the client.
    ["08", "53", "28"].iter().any(|c| code.starts_with(c))
        || matches!(
            code,
            "3D000" | "57P01" | "57P02" | "57P03" | "40001" | "40P01"
        )
}

/// Where an app's `tokens_valid_after` moves when its status becomes `status` at `now`: past
/// this second for a disable or delete (every token issued so far ends; the token endpoint
/// issues the next one from the following second), nowhere (0) otherwise.
pub(crate) fn tokens_valid_after(status: orgiam_domain::model::AppStatus, now: i64) -> i64 {
    use orgiam_domain::model::AppStatus;
    match status {
        AppStatus::Disabled | AppStatus::Deleted => now + 1,
        AppStatus::Active => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn outages_are_recognised() {
        assert!(super::is_outage_sqlstate("08006"));
        assert!(super::is_outage_sqlstate("53300"));
        assert!(super::is_outage_sqlstate("57P03"));
        assert!(!super::is_outage_sqlstate("23505"));
    }

    #[test]
    fn hides_the_password() {
        let u = DatabaseUrl::new("postgres://alice:s3cret@db:5432/orgiam");
        assert!(!format!("{u:?} {u}").contains("s3cret"));
        assert!(format!("{u}").contains("alice"));
    }
}
