//! Role assignments: creation (counting a user's built-in ones), deletion and the filtered
//! listing. Both engines, one definition.

/// The inherent `create_assignment_in`, `delete_assignment_in`, `list_assignments_in` and
/// `render_assignments_in` for one engine (see [`crate::store`] for the dialect it uses).
macro_rules! assignments_impl {
    ($store:ty) => {
        const _: () = {
            use orgiam_domain::model::{
                Actor, Assignment, AssignmentFilter, AuditEvent, MAX_BUILTIN_ASSIGNMENTS_PER_USER,
                actions,
            };
            use orgiam_domain::page::Cursor;
            use orgiam_domain::rendered::{RenderAssignment, RenderedRows};
            use orgiam_domain::sid::{AssignmentSid, OrgSid};
            use orgiam_domain::{Error, Result};

            use $crate::events::assignment_created_event;
            use $crate::rows::{self, ASSIGNMENT_COLUMNS};
            use $crate::db_error;

            impl $store {
                async fn create_assignment_in(
                    &self,
                    a: &Assignment,
                    builtin: bool,
                    actor: &Actor,
                ) -> Result<()> {
                    let mut tx = self.write().await?;
                    bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                    // On PostgreSQL an identical insert in flight elsewhere makes this one wait
                    // on the unique index, then fail as a conflict if that one commits.
                    sqlx::query(&sql(&format!(
                        "INSERT INTO role_assignments ({ASSIGNMENT_COLUMNS}, builtin) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    )))
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
                        // On PostgreSQL the user's row lock serializes racing grants; the
                        // condition is re-checked on the latest row once the lock is ours.
                        let counted = sqlx::query(&sql(
                            "UPDATE users SET builtin_assignments = builtin_assignments + 1 \
                             WHERE org_sid = ? AND sid = ? AND builtin_assignments < ?",
                        ))
                        .bind(a.org.as_str())
                        .bind(a.identity.as_str())
                        .bind(MAX_BUILTIN_ASSIGNMENTS_PER_USER)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        if counted.rows_affected() == 0 {
                            return Err(Error::bad_request(format!(
                                "identity {} already holds {MAX_BUILTIN_ASSIGNMENTS_PER_USER} \
                                 built-in role assignments, the most a user may hold",
                                a.identity
                            )));
                        }
                    }
                    insert_event(&mut tx, &assignment_created_event(a, actor)).await?;
                    tx.commit()
                        .await
                        .map_err(db_error)
                        .inspect($crate::revisions::access_committed)
                }

                async fn delete_assignment_in(
                    &self,
                    org: &OrgSid,
                    sid: &AssignmentSid,
                    actor: &Actor,
                ) -> Result<bool> {
                    let mut tx = self.write().await?;
                    bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                    let gone: Option<(String, bool, String, String, String, String)> =
                        sqlx::query_as(&sql(
                            "DELETE FROM role_assignments WHERE org_sid = ? AND sid = ? \
                             RETURNING identity, builtin, role_sid, scope, resource_type, resource_id",
                        ))
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
                        sqlx::query(&sql(
                            "UPDATE users SET builtin_assignments = builtin_assignments - 1 \
                             WHERE org_sid = ? AND sid = ?",
                        ))
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
                    tx.commit()
                        .await
                        .map_err(db_error)
                        .inspect($crate::revisions::access_committed)?;
                    Ok(true)
                }

                async fn list_assignments_in(
                    &self,
                    org: &OrgSid,
                    filter: &AssignmentFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<Assignment>> {
                    let (q, desc) = list_assignments_sql(org, filter, cursor, limit);
                    let mut out = self.fetch_rows(q, |r| rows::assignment(r)).await?;
                    if desc {
                        out.reverse();
                    }
                    Ok(out)
                }

                async fn render_assignments_in(
                    &self,
                    org: &OrgSid,
                    filter: &AssignmentFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                    render: RenderAssignment,
                ) -> Result<RenderedRows> {
                    let (q, desc) = list_assignments_sql(org, filter, cursor, limit);
                    self.render_by_sid(q, desc, &mut |r, out| {
                        let row = rows::assignment_columns(r)?;
                        out.push(row.sid.to_owned(), &row, render)
                    })
                    .await
                }
            }

            /// A listing's statement, and whether its rows come in descending order.
            fn list_assignments_sql<'a>(
                org: &'a OrgSid,
                filter: &'a AssignmentFilter,
                cursor: Option<&'a Cursor>,
                limit: u32,
            ) -> (ListSql<'a>, bool) {
                #[allow(unused_imports)] // SQLite builds a `Stmt`; PostgreSQL a `QueryBuilder`
                use $crate::sql::Sql as _;
                let mut q = ListSql::new(format!(
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
                let desc = $crate::keyset::push_sid_keyset(&mut q, cursor, limit);
                (q, desc)
            }
        };
    };
}
pub(crate) use assignments_impl;
