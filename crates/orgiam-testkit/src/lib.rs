//! Test support shared by the store contract suite and the HTTP suite (a dev-dependency only).
//!
//! - [`db`]: a fresh database per test on either engine, made through the driver: a temp SQLite
//!   file, or a new PostgreSQL database (`ORGIAM_TEST_PG_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/postgres`) dropped when its guard is.
//! - [`serve`]: the real `orgiam serve` as a child process, its printed credentials, `token()`
//!   and `cli()` against the same database.
//! - [`reply`]: an HTTP response's status, headers and JSON body, and the error-body check.
//! - [`logs`]: test logs, off unless `ORGIAM_TEST_LOG` is set.

#![allow(clippy::panic, clippy::unwrap_used)]

pub mod db;
pub mod logs;
pub mod reply;
pub mod serve;

pub use db::{
    Engine, PgDatabase, TempDir, copy_database, fresh_database, fresh_database_on, on_postgres,
    pg_admin_url,
};
pub use reply::{Reply, keys};
pub use serve::{
    Served, Starting, access_token, bash, eventually, printed_credentials, start_serve, stop,
    token_reply, try_token,
};

/// The master key every test server and command uses (as `ORGIAM_MASTER_KEY`), on both
/// engines; the tests of the zero-setup key file remove it from their commands' environment.
pub const TEST_MASTER_KEY: &str =
    "6f726769616d2074657374206d6173746572206b657920303132333435363738";
