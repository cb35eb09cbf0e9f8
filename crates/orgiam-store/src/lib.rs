//! orgiam's storage: the `Store` trait implemented on SQLite (and, selected by the URL scheme,
//! PostgreSQL).

mod events;
mod postgres;
mod rows;
mod sqlite;

use std::sync::Arc;

use orgiam_domain::store::Store;
use orgiam_domain::{Error, Result};

pub use postgres::PgStore;
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

/// Opens the store the URL names, and brings its schema up to date.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Store>> {
    let raw = url.expose();
    if raw.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(raw).await?))
    } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(Error::bad_request(format!(
            "database URL '{}' must start with sqlite:// or postgres://",
            url.redacted()
        )))
    }
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
