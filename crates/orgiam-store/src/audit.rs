//! The audit trail: every change writes its event in its own transaction (`insert_event`),
//! the change feed reads them in order, and the audit listing pages them. Both engines, one
//! definition.

/// `insert_event` (a module-level helper every change calls) and the inherent
/// `audit_events_after_in`, `last_audit_position_in` and `list_audit_events_in` for one
/// engine (see [`crate::store`] for the dialect it uses).
macro_rules! audit_impl {
    ($store:ty) => {
        /// Records an audit event in the caller's transaction, its last write. On PostgreSQL
        /// `seq` comes from a sequence, taken at insert time; `audit_lock` (held to commit)
        /// makes events commit in `seq` order, so a reader asking for events newer than one it
        /// saw never misses one committed late. SQLite's single writer orders them anyway.
        async fn insert_event(
            tx: &mut Conn,
            e: &orgiam_domain::model::AuditEvent,
        ) -> orgiam_domain::Result<()> {
            audit_lock(tx).await?;
            sqlx::query(&sql(
                "INSERT INTO audit_events (sid, org_sid, date_created, actor, action, target, \
                 request_id, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(e.sid.as_str())
            .bind(e.org.as_ref().map(orgiam_domain::sid::OrgSid::as_str))
            .bind(e.date_created)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.request_id)
            .bind(e.before.as_ref().map($crate::rows::json).transpose()?)
            .bind(e.after.as_ref().map($crate::rows::json).transpose()?)
            .execute(tx)
            .await
            .map_err($crate::db_error)?;
            Ok(())
        }

        const _: () = {
            use orgiam_domain::Result;
            use orgiam_domain::model::{AuditEvent, AuditFilter};
            use orgiam_domain::page::Cursor;
            use orgiam_domain::sid::OrgSid;

            use $crate::{db_error, rows};

            impl $store {
                async fn audit_events_after_in(
                    &self,
                    after: i64,
                    limit: u32,
                ) -> Result<Vec<(i64, AuditEvent)>> {
                    let rows = sqlx::query(&sql(rows::EVENTS_AFTER))
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(rows::event).collect()
                }

                async fn last_audit_position_in(&self) -> Result<i64> {
                    sqlx::query_scalar(rows::LAST_EVENT)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_error)
                }

                async fn list_audit_events_in(
                    &self,
                    org: &OrgSid,
                    filter: &AuditFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<(i64, AuditEvent)>> {
                    let (mut conn, budget) = self.bounded().await?;
                    let result = async {
                        let mut q = sqlx::QueryBuilder::<Db>::new("");
                        let back = rows::push_audit_query(&mut q, org, filter, cursor, limit);
                        let rows = q.build().fetch_all(&mut *conn).await.map_err(db_error)?;
                        let mut out = rows.iter().map(rows::event).collect::<Result<Vec<_>>>()?;
                        if back {
                            out.reverse();
                        }
                        Ok::<_, orgiam_domain::Error>(out)
                    }
                    .await;
                    budget.finish(conn, result).await
                }
            }
        };
    };
}
pub(crate) use audit_impl;
