//! Connections for listings, outside sqlx's pool.
//!
//! sqlx's pool tests a connection with a round trip before handing it out and again when it
//! comes back (the second cannot be turned off): with the statement itself, three round trips
//! to PostgreSQL for one listing, each waking its backend. A listing here takes an idle
//! connection as it is and gives it straight back once its statements have succeeded. One
//! whose listing failed or was cancelled midway (its client went away) may have replies left
//! unread: it makes the round trip then, in the background, which reads past them, and only
//! then goes back. A connection that PostgreSQL closed while it sat idle (a restart, a
//! terminated session) fails its first statement at once: that statement runs again on a new
//! connection, and the other idle ones, likely closed by the same event, are dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow};
use sqlx::{Connection, Execute, Postgres, QueryBuilder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use orgiam_domain::{Error, Result};

use crate::db_error;

/// Idle connections, and permits for at most `max` lent.
pub(super) struct Listings(Arc<Shared>);

struct Shared {
    idle: Mutex<Vec<PgConnection>>,
    permits: Arc<Semaphore>,
    options: PgConnectOptions,
    wait: Duration,
}

impl Shared {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PgConnection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection lent to one listing, with its permit: given back with [`Lent::give_back`],
/// else checked in the background when dropped.
pub(super) struct Lent {
    conn: Option<PgConnection>,
    permit: Option<OwnedSemaphorePermit>,
    shared: Arc<Shared>,
}

impl Listings {
    /// At most `max` connections made with `options`; a listing waits up to `wait` for one.
    pub(super) fn new(options: PgConnectOptions, max: usize, wait: Duration) -> Self {
        Self(Arc::new(Shared {
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            options,
            wait,
        }))
    }

    /// An idle connection, or a new one (`fresh`: always a new one); whether it was idle.
    async fn lend(&self, fresh: bool) -> Result<(Lent, bool)> {
        let shared = &self.0;
        let unavailable = || Error::Unavailable("no database connection became free".into());
        let permit = tokio::time::timeout(shared.wait, shared.permits.clone().acquire_owned())
            .await
            .map_err(|_| unavailable())?
            .map_err(|_| unavailable())?;
        let idle = if fresh { None } else { shared.idle().pop() };
        let reused = idle.is_some();
        let conn = match idle {
            Some(conn) => conn,
            None => tokio::time::timeout(shared.wait, PgConnection::connect_with(&shared.options))
                .await
                .map_err(|_| Error::Unavailable("connecting to the database timed out".into()))?
                .map_err(db_error)?,
        };
        let lent = Lent {
            conn: Some(conn),
            permit: Some(permit),
            shared: shared.clone(),
        };
        Ok((lent, reused))
    }

    /// A listing of one statement: its rows (the connection given straight back).
    pub(super) async fn rows(&self, q: &mut QueryBuilder<'_, Postgres>) -> Result<Vec<PgRow>> {
        let (rows, lent) = self.first(q).await?;
        lent.give_back();
        Ok(rows)
    }

    /// A listing's first statement: its rows, and the connection it ran on for the next ones
    /// (give it back with [`Lent::give_back`]). Run again on a new connection when an idle
    /// one turns out to have been closed.
    pub(super) async fn first(
        &self,
        q: &mut QueryBuilder<'_, Postgres>,
    ) -> Result<(Vec<PgRow>, Lent)> {
        let mut query = q.build();
        let args: PgArguments = query
            .take_arguments()
            .map_err(Error::internal)?
            .unwrap_or_default();
        let sql = query.sql();
        let (mut lent, reused) = self.lend(false).await?;
        match sqlx::query_with(sql, args.clone())
            .fetch_all(lent.conn())
            .await
        {
            Ok(rows) => Ok((rows, lent)),
            Err(e) if reused && connection_lost(&e) => {
                tracing::debug!(error = %e, "an idle database connection was closed; reconnecting");
                lent.conn = None;
                drop(lent);
                self.0.idle().clear();
                let (mut lent, _) = self.lend(true).await?;
                let rows = sqlx::query_with(sql, args)
                    .fetch_all(lent.conn())
                    .await
                    .map_err(db_error)?;
                Ok((rows, lent))
            }
            Err(e) => Err(db_error(e)),
        }
    }
}

impl Lent {
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("lent until given back")
    }

    /// The listing's statements succeeded: the connection goes back to the idle ones (and
    /// then its permit).
    pub(super) fn give_back(mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.idle().push(conn);
        }
    }
}

impl Drop for Lent {
    /// Not given back: the listing failed or was cancelled. A round trip reads past whatever
    /// PostgreSQL still had to say; a connection that answers goes back, then the permit.
    fn drop(&mut self) {
        let (Some(mut conn), Some(permit)) = (self.conn.take(), self.permit.take()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.shared.clone();
        runtime.spawn(async move {
            if tokio::time::timeout(shared.wait, conn.ping())
                .await
                .is_ok_and(|r| r.is_ok())
            {
                shared.idle().push(conn);
            }
            drop(permit);
        });
    }
}

/// Whether `e` says the connection itself is gone (its socket closed, or PostgreSQL ending the
/// session), rather than that the statement failed.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02")),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use orgiam_testkit::PgDatabase;
    use std::str::FromStr;

    fn select(sql: &str) -> QueryBuilder<'static, Postgres> {
        QueryBuilder::new(sql.to_owned())
    }

    /// Waits (up to 5 s) until `n` connections are idle.
    async fn settles(listings: &Listings, n: usize) {
        for _ in 0..100 {
            if listings.0.idle().len() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(listings.0.idle().len(), n, "idle connections");
    }

    /// A connection goes back after its listing, also after a failed or cancelled one (once
    /// it answers); connections PostgreSQL closed while idle cost the next listing nothing
    /// but a reconnection.
    #[tokio::test]
    async fn connections_come_back_after_failures_and_closed_ones_are_replaced() {
        let Some(db) = PgDatabase::scratch(false).await else {
            return;
        };
        let options = PgConnectOptions::from_str(db.url()).unwrap();
        let listings = Listings::new(options.clone(), 4, Duration::from_secs(5));
        let idle = |l: &Listings| l.0.idle().len();

        // Two listings at once leave two idle connections.
        let (mut one, mut two) = (select("SELECT 1"), select("SELECT 2"));
        let (a, b) = tokio::join!(listings.first(&mut one), listings.first(&mut two));
        a.unwrap().1.give_back();
        b.unwrap().1.give_back();
        assert_eq!(idle(&listings), 2);

        // A failed statement is an error; its connection goes back once it has answered a
        // round trip. So does a cancelled listing's, once its statement has ended.
        let failed = listings.first(&mut select("SELECT nope")).await;
        assert!(failed.is_err());
        settles(&listings, 2).await;
        let mut slow = select("SELECT pg_sleep(0.3)");
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), listings.first(&mut slow)).await;
        assert!(cancelled.is_err());
        assert_eq!(idle(&listings), 1);
        settles(&listings, 2).await;

        // PostgreSQL ends every other session of the database (as on a restart): the next
        // listing still gets its rows, on a new connection.
        let mut admin_conn = PgConnection::connect_with(&options).await.unwrap();
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin_conn)
        .await
        .unwrap();
        assert_eq!(ended, vec![true, true]);
        // (Their backends exit as they read the termination.)
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (rows, lent) = listings.first(&mut select("SELECT 3")).await.unwrap();
        assert_eq!(rows.len(), 1);
        lent.give_back();
        assert_eq!(
            idle(&listings),
            1,
            "the closed idle connections were dropped"
        );
        let (rows, lent) = listings.first(&mut select("SELECT 4")).await.unwrap();
        assert_eq!(rows.len(), 1);
        lent.give_back();
        admin_conn.close().await.unwrap();
    }
}
