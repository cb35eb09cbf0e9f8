//! What the administrative commands need besides [`Store`]: listings of organizations, apps
//! and users, look-ups by email, app updates, custom-role deletion. Both engines implement it
//! with one macro, so their behaviour is the same statement for statement.

use async_trait::async_trait;
use serde_json::json;

use orgiam_domain::model::{Actor, App, AuditEvent, Org, User};
use orgiam_domain::policy::Policy;
use orgiam_domain::sid::{AppSid, OrgSid, RoleSid};
use orgiam_domain::store::Store;
use orgiam_domain::{Error, Result};

/// Audit action of an app whose name, description, policy or token lifetime changed.
pub use orgiam_domain::model::actions::APP_UPDATED;
/// Audit action of a custom role deleted.
pub use orgiam_domain::model::actions::ROLE_DELETED;

/// The fields of an app an update may change; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct AppChange {
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    pub policy: Option<Policy>,
    pub access_token_ttl: Option<i64>,
    /// The audiences the app may request besides the server itself (replaces the list).
    pub audiences: Option<Vec<String>>,
}

#[async_trait]
pub trait Directory: Store + crate::manage::Management + crate::scim::ScimStore {
    /// Organizations ordered by SID, after `after`; at most `limit`.
    async fn list_orgs(&self, after: Option<&str>, limit: u32) -> Result<Vec<Org>>;
    /// Apps (of one organization, or all), deleted ones included only with `deleted`, ordered
    /// by SID after `after`; without secrets.
    async fn list_apps(
        &self,
        org: Option<&OrgSid>,
        deleted: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<App>>;
    /// Users of `org` ordered by SID, after `after`.
    async fn list_users(&self, org: &OrgSid, after: Option<&str>, limit: u32) -> Result<Vec<User>>;
    /// The user of `org` whose email (its SCIM userName) is this one, compared after case
    /// folding.
    async fn user_by_email(&self, org: &OrgSid, email: &str) -> Result<Option<User>>;
    /// Changes an app that is not deleted; bumps the apps revision and writes one
    /// `app.updated` event, unless nothing changed (then nothing is written). Returns the app
    /// and whether it changed.
    async fn update_app(
        &self,
        sid: &AppSid,
        change: &AppChange,
        actor: &Actor,
    ) -> Result<(App, bool)>;
    /// Deletes a custom role of `org` (built-in roles cannot be deleted); refused while
    /// assignments use it. Bumps the roles revision and writes one `role.deleted` event.
    async fn delete_role(&self, org: &OrgSid, sid: &RoleSid, actor: &Actor) -> Result<()>;
    /// Which of `name_keys` (lower-cased friendly names) custom roles of `org` already use.
    async fn existing_role_names(&self, org: &OrgSid, name_keys: &[String]) -> Result<Vec<String>>;
}

/// `?` placeholders as `$1, $2, …` for PostgreSQL.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn app_updated_event(before: &App, after: &App, actor: &Actor) -> AuditEvent {
    let view = |a: &App| {
        json!({
            "friendly_name": a.friendly_name,
            "description": a.description,
            "policy": a.policy,
            "access_token_ttl": a.access_token_ttl,
            "audiences": a.audiences,
        })
    };
    AuditEvent::new(
        Some(&after.org),
        actor,
        APP_UPDATED,
        after.sid.as_str(),
        Some(view(before)),
        Some(view(after)),
    )
}

pub(crate) fn role_deleted_event(
    org: &OrgSid,
    sid: &RoleSid,
    name: &str,
    actor: &Actor,
) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        ROLE_DELETED,
        sid.as_str(),
        Some(json!({"friendly_name": name})),
        None,
    )
}

pub(crate) fn app_not_found(sid: &AppSid) -> Error {
    Error::not_found(format!("OAuth app {sid} was not found"))
}

/// The [`Directory`] implementation for one engine: `$sql` turns `?` SQL into the engine's,
/// `$begin` opens a write transaction on the pool; `bump`, `insert_event` and
/// `attach_secrets` are the engine module's own.
macro_rules! directory_impl {
    ($store:ty, $sql:path, $begin:ident ( $($arg:expr),* )) => {
        #[async_trait::async_trait]
        impl $crate::directory::Directory for $store {
            async fn list_orgs(
                &self,
                after: Option<&str>,
                limit: u32,
            ) -> orgiam_domain::Result<Vec<orgiam_domain::model::Org>> {
                use sqlx::Row;
                let rows = sqlx::query(&$sql(
                    "SELECT sid, friendly_name, date_created FROM orgs WHERE sid > ? ORDER BY sid LIMIT ?",
                ))
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::db_error)?;
                rows.iter()
                    .map(|r| {
                        let sid: String = r.try_get(0).map_err($crate::db_error)?;
                        Ok(orgiam_domain::model::Org {
                            sid: orgiam_domain::sid::OrgSid::parse(&sid)
                                .map_err(|_| $crate::rows::corrupt("org sid"))?,
                            friendly_name: r.try_get(1).map_err($crate::db_error)?,
                            date_created: r.try_get(2).map_err($crate::db_error)?,
                        })
                    })
                    .collect()
            }

            async fn list_apps(
                &self,
                org: Option<&orgiam_domain::sid::OrgSid>,
                deleted: bool,
                after: Option<&str>,
                limit: u32,
            ) -> orgiam_domain::Result<Vec<orgiam_domain::model::App>> {
                let sql = format!(
                    "SELECT {} FROM apps WHERE sid > ? AND (? = '' OR org_sid = ?) \
                     AND (? OR status <> 'deleted') ORDER BY sid LIMIT ?",
                    $crate::rows::APP_COLUMNS
                );
                let org = org.map_or("", |o| o.as_str());
                let rows = sqlx::query(&$sql(&sql))
                    .bind(after.unwrap_or(""))
                    .bind(org)
                    .bind(org)
                    .bind(deleted)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::db_error)?;
                rows.iter().map($crate::rows::app).collect()
            }

            async fn list_users(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                after: Option<&str>,
                limit: u32,
            ) -> orgiam_domain::Result<Vec<orgiam_domain::model::User>> {
                let rows = sqlx::query(&$sql(
                    "SELECT sid, email, friendly_name, date_created FROM users \
                     WHERE org_sid = ? AND sid > ? ORDER BY sid LIMIT ?",
                ))
                .bind(org.as_str())
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::db_error)?;
                rows.iter().map(|r| user_row(org, r)).collect()
            }

            async fn user_by_email(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                email: &str,
            ) -> orgiam_domain::Result<Option<orgiam_domain::model::User>> {
                // `email` holds the userName, unique after case folding (`user_name_key`).
                let row = sqlx::query(&$sql(
                    "SELECT sid, email, friendly_name, date_created FROM users \
                     WHERE org_sid = ? AND user_name_key = ?",
                ))
                .bind(org.as_str())
                .bind(orgiam_domain::scim::fold(email))
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::db_error)?;
                row.map(|r| user_row(org, &r)).transpose()
            }

            async fn update_app(
                &self,
                sid: &orgiam_domain::sid::AppSid,
                change: &$crate::directory::AppChange,
                actor: &orgiam_domain::model::Actor,
            ) -> orgiam_domain::Result<(orgiam_domain::model::App, bool)> {
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                let rev = bump(&mut tx, orgiam_domain::store::APPS_REVISION).await?;
                let row = sqlx::query(&$sql(&format!(
                    "SELECT {} FROM apps WHERE sid = ? AND status <> 'deleted'",
                    $crate::rows::APP_COLUMNS
                )))
                .bind(sid.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                let Some(row) = row else {
                    return Err($crate::directory::app_not_found(sid));
                };
                let before = $crate::rows::app(&row)?;
                let mut after = before.clone();
                if let Some(v) = &change.friendly_name {
                    after.friendly_name = v.clone();
                }
                if let Some(v) = &change.description {
                    after.description = v.clone();
                }
                if let Some(v) = &change.policy {
                    after.policy = v.clone();
                }
                if let Some(v) = change.access_token_ttl {
                    after.access_token_ttl = v;
                }
                if let Some(v) = &change.audiences {
                    after.audiences = v.clone();
                }
                if after == before {
                    // Nothing to write: the transaction (and its bump) rolls back.
                    drop(tx);
                    let mut apps = [before];
                    let mut conn = self.pool.acquire().await.map_err($crate::db_error)?;
                    attach_secrets(&mut conn, &mut apps).await?;
                    let [app] = apps;
                    return Ok((app, false));
                }
                after.date_updated = orgiam_domain::time_fmt::now();
                // A narrower policy ends every token issued so far (from the next second).
                if after.policy.narrows(&before.policy) {
                    after.tokens_valid_after =
                        after.tokens_valid_after.max(after.date_updated + 1);
                }
                sqlx::query(&$sql(
                    "UPDATE apps SET friendly_name = ?, description = ?, policy = ?, \
                     access_token_ttl = ?, date_updated = ?, rev = ?, tokens_valid_after = ?, \
                     audiences = ? WHERE sid = ?",
                ))
                .bind(&after.friendly_name)
                .bind(&after.description)
                .bind($crate::rows::json(&after.policy)?)
                .bind(after.access_token_ttl)
                .bind(after.date_updated)
                .bind(rev)
                .bind(after.tokens_valid_after)
                .bind($crate::rows::json(&after.audiences)?)
                .bind(sid.as_str())
                .execute(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                insert_event(&mut tx, &$crate::directory::app_updated_event(&before, &after, actor))
                    .await?;
                tx.commit().await.map_err($crate::db_error)?;
                let mut apps = [after];
                let mut conn = self.pool.acquire().await.map_err($crate::db_error)?;
                attach_secrets(&mut conn, &mut apps).await?;
                let [app] = apps;
                Ok((app, true))
            }

            async fn delete_role(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                sid: &orgiam_domain::sid::RoleSid,
                actor: &orgiam_domain::model::Actor,
            ) -> orgiam_domain::Result<()> {
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                let _ = bump(&mut tx, orgiam_domain::store::ROLES_REVISION).await?;
                let name: Option<String> = sqlx::query_scalar(&$sql(
                    "SELECT friendly_name FROM roles WHERE sid = ? AND org_sid = ?",
                ))
                .bind(sid.as_str())
                .bind(org.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                let Some(name) = name else {
                    return Err(orgiam_domain::Error::not_found(format!(
                        "{sid} is not a custom role of {org} (built-in roles cannot be deleted)"
                    )));
                };
                let used: i64 = sqlx::query_scalar(&$sql(
                    "SELECT count(*) FROM role_assignments WHERE role_sid = ?",
                ))
                .bind(sid.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                if used > 0 {
                    return Err(orgiam_domain::Error::Conflict(format!(
                        "role {sid} is used by {used} role assignment(s): delete them first \
                         (orgiam assignments list --org {org} --role {sid})"
                    )));
                }
                sqlx::query(&$sql("DELETE FROM roles WHERE sid = ? AND org_sid = ?"))
                    .bind(sid.as_str())
                    .bind(org.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::db_error)?;
                insert_event(&mut tx, &$crate::directory::role_deleted_event(org, sid, &name, actor))
                    .await?;
                tx.commit()
                    .await
                    .map_err($crate::db_error)
                    .inspect($crate::revisions::access_committed)
            }

            async fn existing_role_names(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                name_keys: &[String],
            ) -> orgiam_domain::Result<Vec<String>> {
                let mut found = Vec::new();
                for chunk in name_keys.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(", ");
                    let sql = format!(
                        "SELECT DISTINCT name_key FROM roles WHERE org_sid = ? AND name_key IN ({marks})"
                    );
                    let sql = $sql(&sql);
                    let mut q = sqlx::query_scalar::<_, String>(&sql).bind(org.as_str());
                    for k in chunk {
                        q = q.bind(k);
                    }
                    found.extend(q.fetch_all(&self.pool).await.map_err($crate::db_error)?);
                }
                Ok(found)
            }
        }

        fn user_row<R: sqlx::Row>(
            org: &orgiam_domain::sid::OrgSid,
            r: &R,
        ) -> orgiam_domain::Result<orgiam_domain::model::User>
        where
            usize: sqlx::ColumnIndex<R>,
            for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        {
            let sid: String = r.try_get(0).map_err($crate::db_error)?;
            Ok(orgiam_domain::model::User {
                sid: orgiam_domain::sid::UserSid::parse(&sid)
                    .map_err(|_| $crate::rows::corrupt("user sid"))?,
                org: org.clone(),
                email: r.try_get(1).map_err($crate::db_error)?,
                friendly_name: r.try_get(2).map_err($crate::db_error)?,
                date_created: r.try_get(3).map_err($crate::db_error)?,
            })
        }
    };
}
pub(crate) use directory_impl;

/// SQL as SQLite takes it.
pub(crate) fn same(sql: &str) -> String {
    sql.to_owned()
}
