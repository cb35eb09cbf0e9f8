//! [`AccessStore`](orgiam_domain::access::AccessStore) for both engines, one macro: the same
//! statements (with `?` placeholders, numbered for PostgreSQL) on SQLite and PostgreSQL.

use serde_json::json;

use orgiam_domain::model::actions::{USER_ACTIVATED, USER_DEACTIVATED};
use orgiam_domain::model::{Actor, AuditEvent};
use orgiam_domain::sid::{AccountSid, OrgSid, UserSid, is_sid};

/// Ids per `IN (...)` list.
pub(crate) const CHUNK: usize = 500;

pub(crate) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Whether `scope` could name an account (anything else has no chain but the organization's).
pub(crate) fn is_account(scope: &str) -> bool {
    is_sid(AccountSid::PREFIX, scope)
}

/// The assignment columns prefixed with `ra.`, then the user's `active`.
pub(crate) fn assignment_with_active_columns() -> String {
    let mut cols: Vec<String> = crate::rows::ASSIGNMENT_COLUMNS
        .split(", ")
        .map(|c| format!("ra.{}", c.trim()))
        .collect();
    cols.push("u.active".into());
    cols.join(", ")
}

pub(crate) fn user_active_event(
    org: &OrgSid,
    user: &UserSid,
    active: bool,
    actor: &Actor,
) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        if active {
            USER_ACTIVATED
        } else {
            USER_DEACTIVATED
        },
        user.as_str(),
        Some(json!({"active": !active})),
        Some(json!({"active": active})),
    )
}

/// The implementation for one engine: `$sql` turns `?` SQL into the engine's, `$begin` opens a
/// write transaction on the pool; `insert_event` is the engine module's own.
macro_rules! access_impl {
    ($store:ty, $sql:path, $begin:ident ( $($arg:expr),* )) => {
        #[async_trait::async_trait]
        impl orgiam_domain::access::AccessStore for $store {
            async fn users_active(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                users: &[orgiam_domain::sid::UserSid],
            ) -> orgiam_domain::Result<
                std::collections::HashMap<orgiam_domain::sid::UserSid, bool>,
            > {
                use sqlx::Row;
                let mut out = std::collections::HashMap::new();
                for chunk in users.chunks($crate::access::CHUNK) {
                    let sql = $sql(&format!(
                        "SELECT sid, active FROM users WHERE org_sid = ? AND sid IN ({})",
                        $crate::access::marks(chunk.len())
                    ));
                    let mut q = sqlx::query(&sql).bind(org.as_str());
                    for u in chunk {
                        q = q.bind(u.as_str());
                    }
                    for r in q.fetch_all(&self.pool).await.map_err($crate::db_error)? {
                        let sid: String = r.try_get(0).map_err($crate::db_error)?;
                        let sid = orgiam_domain::sid::UserSid::parse(&sid)
                            .map_err(|_| $crate::rows::corrupt("user sid"))?;
                        out.insert(sid, r.try_get::<bool, _>(1).map_err($crate::db_error)?);
                    }
                }
                Ok(out)
            }

            async fn set_user_active(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                user: &orgiam_domain::sid::UserSid,
                active: bool,
                actor: &orgiam_domain::model::Actor,
            ) -> orgiam_domain::Result<Option<bool>> {
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                let _ = bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                let changed = sqlx::query(&$sql(
                    "UPDATE users SET active = ?, version = version + 1, date_updated = ? \
                     WHERE org_sid = ? AND sid = ? AND active <> ?",
                ))
                .bind(active)
                .bind(orgiam_domain::time_fmt::now())
                .bind(org.as_str())
                .bind(user.as_str())
                .bind(active)
                .execute(&mut *tx)
                .await
                .map_err($crate::db_error)?
                .rows_affected();
                if changed == 0 {
                    let exists: Option<bool> = sqlx::query_scalar(&$sql(
                        "SELECT active FROM users WHERE org_sid = ? AND sid = ?",
                    ))
                    .bind(org.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err($crate::db_error)?;
                    return Ok(exists);
                }
                insert_event(
                    &mut tx,
                    &$crate::access::user_active_event(org, user, active, actor),
                )
                .await?;
                tx.commit()
                    .await
                    .map_err($crate::db_error)
                    .inspect($crate::revisions::access_committed)?;
                Ok(Some(!active))
            }

            async fn access_position(&self) -> orgiam_domain::Result<(i64, i64)> {
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                // Takes the counter's row (PostgreSQL) or the write lock (SQLite): no change
                // to what permission checks read is under way while the position is read.
                let rev: i64 = sqlx::query_scalar(&$sql(
                    "UPDATE revisions SET value = value WHERE name = ? RETURNING value",
                ))
                .bind(orgiam_domain::store::ACCESS_REVISION)
                .fetch_one(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                let pos: i64 = sqlx::query_scalar($crate::rows::LAST_EVENT)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err($crate::db_error)?;
                tx.commit().await.map_err($crate::db_error)?;
                Ok((rev, pos))
            }

            async fn assignments_of(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                users: &[orgiam_domain::sid::UserSid],
            ) -> orgiam_domain::Result<Vec<orgiam_domain::model::Assignment>> {
                let mut out = Vec::new();
                for chunk in users.chunks($crate::access::CHUNK) {
                    let sql = $sql(&format!(
                        "SELECT {} FROM role_assignments WHERE org_sid = ? AND identity IN ({}) \
                         ORDER BY identity, sid",
                        $crate::rows::ASSIGNMENT_COLUMNS,
                        $crate::access::marks(chunk.len())
                    ));
                    let mut q = sqlx::query(&sql).bind(org.as_str());
                    for u in chunk {
                        q = q.bind(u.as_str());
                    }
                    let rows = q.fetch_all(&self.pool).await.map_err($crate::db_error)?;
                    for r in &rows {
                        out.push($crate::rows::assignment(r)?);
                    }
                }
                out.sort_by(|a, b| (&a.identity, &a.sid).cmp(&(&b.identity, &b.sid)));
                Ok(out)
            }

            async fn scope_chain(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                scope: &str,
            ) -> orgiam_domain::Result<Option<Vec<String>>> {
                if scope == org.as_str() {
                    return Ok(Some(vec![scope.to_owned()]));
                }
                if !$crate::access::is_account(scope) {
                    return Ok(None);
                }
                let depth = i64::try_from(orgiam_domain::access::MAX_SCOPE_DEPTH).unwrap_or(64);
                let mut chain: Vec<String> = sqlx::query_scalar(&$sql(
                    "WITH RECURSIVE chain (sid, parent_sid, depth) AS ( \
                       SELECT sid, parent_sid, 0 FROM accounts WHERE org_sid = ? AND sid = ? \
                       UNION ALL \
                       SELECT a.sid, a.parent_sid, c.depth + 1 FROM accounts a \
                       JOIN chain c ON a.sid = c.parent_sid \
                       WHERE a.org_sid = ? AND c.depth < ?) \
                     SELECT sid FROM chain ORDER BY depth",
                ))
                .bind(org.as_str())
                .bind(scope)
                .bind(org.as_str())
                .bind(depth)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::db_error)?;
                if chain.is_empty() {
                    return Ok(None);
                }
                chain.push(org.to_string());
                Ok(Some(chain))
            }

            async fn scope_chains(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                scopes: &[String],
            ) -> orgiam_domain::Result<std::collections::HashMap<String, Vec<String>>> {
                use sqlx::Row;
                let mut out: std::collections::HashMap<String, Vec<String>> =
                    std::collections::HashMap::new();
                if scopes.iter().any(|s| s == org.as_str()) {
                    out.insert(org.to_string(), vec![org.to_string()]);
                }
                let mut accounts: Vec<&str> = scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|s| $crate::access::is_account(s))
                    .collect();
                accounts.sort_unstable();
                accounts.dedup();
                let depth = i64::try_from(orgiam_domain::access::MAX_SCOPE_DEPTH).unwrap_or(64);
                for chunk in accounts.chunks($crate::access::CHUNK) {
                    let sql = $sql(&format!(
                        "WITH RECURSIVE chain (origin, sid, parent_sid, depth) AS ( \
                           SELECT sid, sid, parent_sid, 0 FROM accounts \
                           WHERE org_sid = ? AND sid IN ({}) \
                           UNION ALL \
                           SELECT c.origin, a.sid, a.parent_sid, c.depth + 1 FROM accounts a \
                           JOIN chain c ON a.sid = c.parent_sid \
                           WHERE a.org_sid = ? AND c.depth < ?) \
                         SELECT origin, sid FROM chain ORDER BY origin, depth",
                        $crate::access::marks(chunk.len())
                    ));
                    let mut q = sqlx::query(&sql).bind(org.as_str());
                    for s in chunk {
                        q = q.bind(*s);
                    }
                    let rows = q
                        .bind(org.as_str())
                        .bind(depth)
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::db_error)?;
                    for r in &rows {
                        let origin: String = r.try_get(0).map_err($crate::db_error)?;
                        let sid: String = r.try_get(1).map_err($crate::db_error)?;
                        out.entry(origin).or_default().push(sid);
                    }
                }
                for (scope, chain) in out.iter_mut() {
                    if scope != org.as_str() {
                        chain.push(org.to_string());
                    }
                }
                Ok(out)
            }

            async fn assignments_at(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                scopes: &[String],
                after: Option<(&str, &str)>,
                limit: u32,
            ) -> orgiam_domain::Result<Vec<(orgiam_domain::model::Assignment, bool)>> {
                use sqlx::Row;
                if scopes.is_empty() {
                    return Ok(Vec::new());
                }
                let (identity, sid) = after.unwrap_or(("", ""));
                let sql = $sql(&format!(
                    "SELECT {} FROM role_assignments ra \
                     JOIN users u ON u.org_sid = ra.org_sid AND u.sid = ra.identity \
                     WHERE ra.org_sid = ? AND ra.scope IN ({}) \
                     AND (ra.identity > ? OR (ra.identity = ? AND ra.sid > ?)) \
                     ORDER BY ra.identity, ra.sid LIMIT ?",
                    $crate::access::assignment_with_active_columns(),
                    $crate::access::marks(scopes.len())
                ));
                let mut q = sqlx::query(&sql).bind(org.as_str());
                for s in scopes {
                    q = q.bind(s.as_str());
                }
                let rows = q
                    .bind(identity)
                    .bind(identity)
                    .bind(sid)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::db_error)?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            $crate::rows::assignment(r)?,
                            r.try_get::<bool, _>(8).map_err($crate::db_error)?,
                        ))
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use access_impl;
