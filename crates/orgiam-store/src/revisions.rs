//! Revision counters: one row per kind of change (`roles`, `apps`, `keys`, `revocations`),
//! bumped as the first write of every transaction that changes that kind, so that readers
//! (caches, other replicas) know what to reload. Both engines, one definition.

use std::sync::atomic::{AtomicU64, Ordering};

/// Commits made by this process that changed what permission checks read (the `access` or
/// `roles` counter), counted after each commit: a reader that saw this number unchanged since
/// it last read the store's counters has no change of this process to catch up with (changes
/// of other processes reach it through the revision poll).
static ACCESS_COMMITS: AtomicU64 = AtomicU64::new(0);

/// Counts a committed change of the `access` or `roles` counter (called after the commit,
/// with its result).
pub(crate) fn access_committed<T>(_: &T) {
    ACCESS_COMMITS.fetch_add(1, Ordering::AcqRel);
}

/// How many commits of this process changed what permission checks read, so far.
pub fn access_commits() -> u64 {
    ACCESS_COMMITS.load(Ordering::Acquire)
}

/// `bump` (a module-level helper the other aggregates call) and the inherent `revision_in`
/// and `revisions_in` for one engine (see [`crate::store`] for the dialect it uses).
macro_rules! revisions_impl {
    ($store:ty) => {
        /// Bumps a revision counter inside a transaction; its first write. On SQLite the
        /// transaction holds the write lock already; on PostgreSQL the counter's row stays
        /// locked until commit, so transactions that bump the same counter commit in the
        /// order of their values.
        async fn bump(tx: &mut Conn, name: &str) -> orgiam_domain::Result<i64> {
            sqlx::query_scalar(&sql(
                "UPDATE revisions SET value = value + 1 WHERE name = ? RETURNING value",
            ))
            .bind(name)
            .fetch_one(tx)
            .await
            .map_err($crate::db_error)
        }

        const _: () = {
            use orgiam_domain::Result;

            use $crate::db_error;

            impl $store {
                async fn revision_in(&self, name: &str) -> Result<i64> {
                    sqlx::query_scalar(&sql("SELECT value FROM revisions WHERE name = ?"))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)
                        .map(Option::unwrap_or_default)
                }

                async fn revisions_in(&self) -> Result<std::collections::HashMap<String, i64>> {
                    let rows: Vec<(String, i64)> =
                        sqlx::query_as("SELECT name, value FROM revisions")
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_error)?;
                    Ok(rows.into_iter().collect())
                }
            }
        };
    };
}
pub(crate) use revisions_impl;
