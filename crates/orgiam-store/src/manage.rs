//! What the management API writes besides [`Directory`](crate::Directory): custom roles
//! created and changed one at a time (the change checked against the stored role inside the
//! write transaction, for optimistic concurrency), and an organization's apps paged both ways.
//! Both engines implement it with one macro, statement for statement.

use async_trait::async_trait;
use serde_json::json;

use orgiam_domain::Result;
use orgiam_domain::model::{Actor, App, AuditEvent, Role, actions};
use orgiam_domain::page::Cursor;
use orgiam_domain::sid::{OrgSid, RoleSid};

/// Given a custom role as stored (read inside the write transaction, after every earlier
/// change committed), the role it becomes; an error (a stale `If-Match`, a bad field) aborts
/// the change with nothing written.
pub type RoleEdit<'a> = dyn Fn(&Role) -> Result<Role> + Send + Sync + 'a;

#[async_trait]
pub trait Management: Send + Sync {
    /// Creates one custom role of `role.org`, with its `role.created` event; bumps the roles
    /// revision. A role of the organization (or a built-in one) with the same name,
    /// compared case-insensitively, is a 409.
    async fn create_role(&self, role: &Role, actor: &Actor) -> Result<()>;
    /// Changes a custom role of `org` as `edit` says; 404 when `org` has no such custom role.
    /// Writes (bumping the roles revision, with one `role.updated` event) only when something
    /// changed. Returns the role and whether it changed.
    async fn update_role(
        &self,
        org: &OrgSid,
        sid: &RoleSid,
        edit: &RoleEdit<'_>,
        actor: &Actor,
    ) -> Result<(Role, bool)>;
    /// Apps of `org` that are not deleted, ordered by SID, after (or, for a `Previous`
    /// cursor, before) the cursor's `[sid]`; ascending either way; without secrets.
    async fn list_org_apps(
        &self,
        org: &OrgSid,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<App>>;
}

/// A role as its audit events show it.
pub(crate) fn role_view(r: &Role) -> serde_json::Value {
    json!({
        "friendly_name": r.friendly_name,
        "external_description": r.external_description,
        "product_group": r.product_group,
        "product_group_name": r.product_group_name,
        "lowest_level": r.lowest_level.as_str(),
        "policy": r.policy,
        "resource_types": r.resource_types,
    })
}

pub(crate) fn role_event(
    action: &str,
    org: &OrgSid,
    sid: &RoleSid,
    before: Option<&Role>,
    after: Option<&Role>,
    actor: &Actor,
) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        action,
        sid.as_str(),
        before.map(role_view),
        after.map(role_view),
    )
}

pub(crate) const ROLE_CREATED: &str = actions::ROLE_CREATED;
pub(crate) const ROLE_UPDATED: &str = actions::ROLE_UPDATED;

/// Whether two versions of a role differ in anything but `date_updated`.
pub(crate) fn role_changed(before: &Role, after: &Role) -> bool {
    let mut a = after.clone();
    a.date_updated = before.date_updated;
    a != *before
}

/// The [`Management`] implementation for one engine: `$sql` turns `?` SQL into the engine's,
/// `$jsonb` is the placeholder of a JSON array column (`resource_types`), `$begin` opens a
/// write transaction on the pool; `bump`, `insert_event` and `ROLE_COLUMNS` are the engine
/// module's own.
macro_rules! management_impl {
    ($store:ty, $sql:path, $jsonb:literal, $begin:ident ( $($arg:expr),* )) => {
        #[async_trait::async_trait]
        impl $crate::manage::Management for $store {
            async fn create_role(
                &self,
                role: &orgiam_domain::model::Role,
                actor: &orgiam_domain::model::Actor,
            ) -> orgiam_domain::Result<()> {
                let Some(org) = role.org.as_ref() else {
                    return Err(orgiam_domain::Error::internal("a custom role needs an organization"));
                };
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                let _ = bump(&mut tx, orgiam_domain::store::ROLES_REVISION).await?;
                role_name_free(&mut tx, org, role).await?;
                sqlx::query(&$sql(&format!(
                    "INSERT INTO roles (sid, org_sid, name_key, friendly_name, external_description, \
                     product_group, product_group_name, lowest_level, policy, resource_types, \
                     date_created, date_updated, rendered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {}, ?, ?, ?)",
                    $jsonb
                )))
                .bind(role.sid.as_str())
                .bind(org.as_str())
                .bind(orgiam_domain::model::Role::name_key(&role.friendly_name))
                .bind(&role.friendly_name)
                .bind(&role.external_description)
                .bind(&role.product_group)
                .bind(&role.product_group_name)
                .bind(role.lowest_level.as_str())
                .bind($crate::rows::json(&role.policy)?)
                .bind(role.resource_types.as_ref().map($crate::rows::json).transpose()?)
                .bind(role.date_created)
                .bind(role.date_updated)
                .bind(role.to_json())
                .execute(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                insert_event(
                    &mut tx,
                    &$crate::manage::role_event(
                        $crate::manage::ROLE_CREATED, org, &role.sid, None, Some(role), actor,
                    ),
                )
                .await?;
                tx.commit()
                    .await
                    .map_err($crate::db_error)
                    .inspect($crate::revisions::access_committed)
            }

            async fn update_role(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                sid: &orgiam_domain::sid::RoleSid,
                edit: &$crate::manage::RoleEdit<'_>,
                actor: &orgiam_domain::model::Actor,
            ) -> orgiam_domain::Result<(orgiam_domain::model::Role, bool)> {
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                // The bump takes the roles' write lock first: a concurrent change of the same
                // role waits here and then reads what this one wrote.
                let _ = bump(&mut tx, orgiam_domain::store::ROLES_REVISION).await?;
                let row = sqlx::query(&$sql(&format!(
                    "SELECT {ROLE_COLUMNS} FROM roles WHERE sid = ? AND org_sid = ?"
                )))
                .bind(sid.as_str())
                .bind(org.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                let Some(row) = row else {
                    return Err(orgiam_domain::Error::not_found(format!(
                        "Role {sid} was not found"
                    )));
                };
                let before = $crate::rows::role(&row)?;
                let mut after = edit(&before)?;
                after.sid = before.sid.clone();
                after.org = before.org.clone();
                after.date_created = before.date_created;
                if !$crate::manage::role_changed(&before, &after) {
                    // Nothing to write: the transaction (and its bump) rolls back.
                    return Ok((before, false));
                }
                after.date_updated = orgiam_domain::time_fmt::now().max(before.date_updated);
                if after.friendly_name != before.friendly_name {
                    role_name_free(&mut tx, org, &after).await?;
                }
                sqlx::query(&$sql(&format!(
                    "UPDATE roles SET name_key = ?, friendly_name = ?, external_description = ?, \
                     product_group = ?, product_group_name = ?, lowest_level = ?, policy = ?, \
                     resource_types = {}, date_updated = ?, rendered = ? WHERE sid = ? AND org_sid = ?",
                    $jsonb
                )))
                .bind(orgiam_domain::model::Role::name_key(&after.friendly_name))
                .bind(&after.friendly_name)
                .bind(&after.external_description)
                .bind(&after.product_group)
                .bind(&after.product_group_name)
                .bind(after.lowest_level.as_str())
                .bind($crate::rows::json(&after.policy)?)
                .bind(after.resource_types.as_ref().map($crate::rows::json).transpose()?)
                .bind(after.date_updated)
                .bind(after.to_json())
                .bind(sid.as_str())
                .bind(org.as_str())
                .execute(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                insert_event(
                    &mut tx,
                    &$crate::manage::role_event(
                        $crate::manage::ROLE_UPDATED, org, sid, Some(&before), Some(&after), actor,
                    ),
                )
                .await?;
                tx.commit()
                    .await
                    .map_err($crate::db_error)
                    .inspect($crate::revisions::access_committed)?;
                Ok((after, true))
            }

            async fn list_org_apps(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                cursor: Option<&orgiam_domain::page::Cursor>,
                limit: u32,
            ) -> orgiam_domain::Result<Vec<orgiam_domain::model::App>> {
                let backward = cursor
                    .is_some_and(|c| c.direction == orgiam_domain::page::Direction::Previous);
                let after = cursor.and_then(|c| c.key.first()).map_or("", String::as_str);
                let sql = format!(
                    "SELECT {} FROM apps WHERE org_sid = ? AND status <> 'deleted' AND {} \
                     ORDER BY sid {} LIMIT ?",
                    $crate::rows::APP_COLUMNS,
                    match (cursor.is_some(), backward) {
                        (false, _) => "? = ''",
                        (true, false) => "sid > ?",
                        (true, true) => "sid < ?",
                    },
                    if backward { "DESC" } else { "ASC" },
                );
                let rows = sqlx::query(&$sql(&sql))
                    .bind(org.as_str())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::db_error)?;
                let mut apps = rows
                    .iter()
                    .map($crate::rows::app)
                    .collect::<orgiam_domain::Result<Vec<_>>>()?;
                if backward {
                    apps.reverse();
                }
                Ok(apps)
            }
        }

        /// 409 when another role of `org` (or a built-in one) has `role`'s name.
        async fn role_name_free(
            tx: &mut <$store as $crate::manage::EngineConn>::Conn,
            org: &orgiam_domain::sid::OrgSid,
            role: &orgiam_domain::model::Role,
        ) -> orgiam_domain::Result<()> {
            let taken: i64 = sqlx::query_scalar(&$sql(
                "SELECT count(*) FROM roles WHERE name_key = ? AND sid <> ? \
                 AND (org_sid = ? OR org_sid IS NULL)",
            ))
            .bind(orgiam_domain::model::Role::name_key(&role.friendly_name))
            .bind(role.sid.as_str())
            .bind(org.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err($crate::db_error)?;
            if taken > 0 {
                return Err(orgiam_domain::Error::Conflict(format!(
                    "friendly_name: a role named '{}' already exists",
                    role.friendly_name
                )));
            }
            Ok(())
        }
    };
}
pub(crate) use management_impl;

/// The connection type of each engine's write transactions.
pub(crate) trait EngineConn {
    type Conn;
}
impl EngineConn for crate::SqliteStore {
    type Conn = sqlx::SqliteConnection;
}
impl EngineConn for crate::PgStore {
    type Conn = sqlx::PgConnection;
}
