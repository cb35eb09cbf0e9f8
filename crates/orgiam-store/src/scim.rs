//! SCIM 2.0 users (docs/SCIM.md): create, read, list by filter, change and delete the users of
//! an organization with their SCIM attributes. The users are the same rows the command line
//! and role assignments use: `email` holds the `userName` and `friendly_name` the display
//! name. Both engines implement [`ScimStore`] with one macro, statement for statement.
//!
//! Every change writes its audit event in its transaction; a change is checked against the
//! stored user read inside the write transaction (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's
//! `SELECT ... FOR UPDATE`), so of two changes made against the same version exactly one
//! happens and the other sees the new version.

use async_trait::async_trait;
use serde_json::json;

use orgiam_domain::model::{Actor, AuditEvent, actions};
use orgiam_domain::scim::list::ListQuery;
use orgiam_domain::scim::user::attrs_to_json;
use orgiam_domain::scim::{ScimError, ScimUser, UserAttrs};
use orgiam_domain::sid::{OrgSid, UserSid};
use orgiam_domain::{Error, Result};

/// Why a SCIM change failed: a SCIM error to answer as it is (a stale version, a rule of the
/// User), or a store error (a duplicate `userName` is a [`Error::Conflict`]).
#[derive(Debug)]
pub enum ScimFail {
    Scim(ScimError),
    Store(Error),
}

impl From<Error> for ScimFail {
    fn from(e: Error) -> Self {
        Self::Store(e)
    }
}

impl From<ScimError> for ScimFail {
    fn from(e: ScimError) -> Self {
        Self::Scim(e)
    }
}

impl std::fmt::Display for ScimFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scim(e) => write!(f, "{} {}", e.status, e.detail),
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

/// Given a user as stored (read inside the write transaction), the attributes it gets; an
/// error (a stale `If-Match`, a bad PATCH) aborts the change with nothing written.
pub type ScimEdit<'a> =
    dyn Fn(&ScimUser) -> std::result::Result<UserAttrs, ScimError> + Send + Sync + 'a;

/// Given a user as stored, whether it may be deleted (an error, e.g. a stale `If-Match`,
/// aborts the deletion).
pub type ScimGuard<'a> = dyn Fn(&ScimUser) -> std::result::Result<(), ScimError> + Send + Sync + 'a;

#[async_trait]
pub trait ScimStore: Send + Sync {
    /// Creates user `sid` of `org` (version 1, created and modified `now`), with its
    /// `user.created` event. A `userName` of the organization equal to this one after case
    /// folding is a [`Error::Conflict`].
    async fn scim_create(
        &self,
        org: &OrgSid,
        sid: &UserSid,
        attrs: &UserAttrs,
        now: i64,
        actor: &Actor,
    ) -> std::result::Result<ScimUser, ScimFail>;

    /// One user of `org`.
    async fn scim_user(&self, org: &OrgSid, sid: &UserSid) -> Result<Option<ScimUser>>;

    /// Users of `org` that `query.filter` selects, in `query`'s order, from `start_index`
    /// (1-based), at most `count`; and how many the filter selects in all.
    async fn scim_list(&self, org: &OrgSid, query: &ListQuery) -> Result<(u64, Vec<ScimUser>)>;

    /// Changes user `sid` of `org` as `edit` says. When the attributes change, the version
    /// grows by one, `lastModified` becomes now and one `user.updated` event is written;
    /// otherwise nothing is written. `Ok(None)`: no such user. Returns the user and whether
    /// it changed.
    async fn scim_update(
        &self,
        org: &OrgSid,
        sid: &UserSid,
        edit: &ScimEdit<'_>,
        actor: &Actor,
    ) -> std::result::Result<Option<(ScimUser, bool)>, ScimFail>;

    /// Deletes user `sid` of `org` once `guard` allows it, and in the same transaction its
    /// role assignments (one `role_assignment.deleted` event each) and its ownership of
    /// accounts, with one `user.deleted` event. Returns the deleted user (`None`: no such user).
    async fn scim_delete(
        &self,
        org: &OrgSid,
        sid: &UserSid,
        guard: &ScimGuard<'_>,
        actor: &Actor,
    ) -> std::result::Result<Option<ScimUser>, ScimFail>;
}

/// The users columns a [`ScimUser`] is read from, in the order `user_from_row` reads them.
pub(crate) const SCIM_COLUMNS: &str = "u.sid, u.user_name, u.email, u.external_id, \
     u.display_name, u.given_name, u.family_name, u.formatted, u.active, u.locale, u.timezone, \
     u.date_created, u.date_updated, u.version";

/// A user's emails go with the user. Emails are found by the user's SID alone (SIDs are unique
/// across organizations, and the user was found in its organization first): with `org_sid = ?`
/// as well, PostgreSQL's generic plan for the prepared statement intersected the primary key
/// with the organization's whole `(org_sid, value_key)` index — 14 ms at 100,000 users.
pub(crate) const DELETE_EMAILS: &str = "DELETE FROM user_emails WHERE user_sid = ?";

/// The folded key of an optional value.
pub(crate) fn key(v: &Option<String>) -> Option<String> {
    v.as_deref().map(orgiam_domain::scim::fold)
}

/// What the `friendly_name` column holds for a user: its display name, else its formatted
/// name, else its `userName`.
pub(crate) fn friendly_name(a: &UserAttrs) -> String {
    a.display_name
        .clone()
        .or_else(|| a.name.formatted.clone())
        .unwrap_or_else(|| a.user_name.clone())
}

/// A user as its audit events show it (every attribute a client sets; nothing secret).
pub(crate) fn user_view(a: &UserAttrs) -> serde_json::Value {
    attrs_to_json(a)
}

pub(crate) fn created_event(org: &OrgSid, u: &ScimUser, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        actions::USER_CREATED,
        &u.id,
        None,
        Some(user_view(&u.attrs)),
    )
}

pub(crate) fn updated_event(
    org: &OrgSid,
    before: &ScimUser,
    after: &ScimUser,
    actor: &Actor,
) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        actions::USER_UPDATED,
        &after.id,
        Some(user_view(&before.attrs)),
        Some(user_view(&after.attrs)),
    )
}

pub(crate) fn deleted_event(org: &OrgSid, u: &ScimUser, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        actions::USER_DELETED,
        &u.id,
        Some(user_view(&u.attrs)),
        None,
    )
}

pub(crate) fn assignment_deleted_event(
    org: &OrgSid,
    user: &UserSid,
    row: &(String, String, String, String, String),
    actor: &Actor,
) -> AuditEvent {
    let (sid, role, scope, rtype, rid) = row;
    AuditEvent::new(
        Some(org),
        actor,
        actions::ROLE_ASSIGNMENT_DELETED,
        sid,
        Some(json!({
            "role_sid": role, "scope": scope, "identity": user.as_str(),
            "resource_type": (!rtype.is_empty()).then_some(rtype),
            "resource_id": (!rid.is_empty()).then_some(rid),
        })),
        None,
    )
}

/// A duplicate `userName` as the SCIM error.
pub(crate) fn name_taken(a: &UserAttrs) -> impl Fn(Error) -> ScimFail + '_ {
    move |e| match e {
        Error::Conflict(_) => ScimFail::Scim(ScimError::uniqueness(format!(
            "userName '{}' is already taken in this organization",
            a.user_name
        ))),
        other => ScimFail::Store(other),
    }
}

/// The [`ScimStore`] implementation for one engine: `$sql` turns `?` SQL into the engine's,
/// `$lock` is what locks a selected row for the transaction (`""` on SQLite, whose write
/// transactions exclude each other already), `$begin` opens a write transaction on the pool;
/// `insert_event` is the engine module's own. It also defines `scim_fill_user`, which gives a
/// user inserted by `Store::create_user` (the command line's) its SCIM columns.
macro_rules! scim_impl {
    ($store:ty, $sql:path, $lock:literal, $begin:ident ( $($arg:expr),* )) => {
        #[async_trait::async_trait]
        impl $crate::scim::ScimStore for $store {
            async fn scim_create(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                sid: &orgiam_domain::sid::UserSid,
                attrs: &orgiam_domain::scim::UserAttrs,
                now: i64,
                actor: &orgiam_domain::model::Actor,
            ) -> std::result::Result<orgiam_domain::scim::ScimUser, $crate::scim::ScimFail> {
                let user = orgiam_domain::scim::ScimUser {
                    id: sid.as_str().to_owned(),
                    attrs: attrs.clone(),
                    created: now,
                    last_modified: now,
                    version: 1,
                };
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                sqlx::query(&$sql(
                    "INSERT INTO users (sid, org_sid, email, friendly_name, date_created, active, \
                     user_name, user_name_key, external_id, display_name, display_name_key, \
                     given_name, given_name_key, family_name, family_name_key, formatted, \
                     formatted_key, locale, locale_key, timezone, timezone_key, date_updated, \
                     version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
                     ?, ?, ?, ?)",
                ))
                .bind(sid.as_str())
                .bind(org.as_str())
                .bind(&attrs.user_name)
                .bind($crate::scim::friendly_name(attrs))
                .bind(now)
                .bind(attrs.active)
                .bind(&attrs.user_name)
                .bind(attrs.user_name_key())
                .bind(&attrs.external_id)
                .bind(&attrs.display_name)
                .bind($crate::scim::key(&attrs.display_name))
                .bind(&attrs.name.given_name)
                .bind($crate::scim::key(&attrs.name.given_name))
                .bind(&attrs.name.family_name)
                .bind($crate::scim::key(&attrs.name.family_name))
                .bind(&attrs.name.formatted)
                .bind($crate::scim::key(&attrs.name.formatted))
                .bind(&attrs.locale)
                .bind($crate::scim::key(&attrs.locale))
                .bind(&attrs.timezone)
                .bind($crate::scim::key(&attrs.timezone))
                .bind(now)
                .bind(1_i64)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::scim::name_taken(attrs)($crate::db_error(e)))?;
                scim_write_emails(&mut *tx, org, sid, &attrs.emails).await?;
                insert_event(&mut tx, &$crate::scim::created_event(org, &user, actor)).await?;
                tx.commit()
                    .await
                    .map_err($crate::db_error)
                    .inspect($crate::revisions::access_committed)?;
                Ok(user)
            }

            async fn scim_user(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                sid: &orgiam_domain::sid::UserSid,
            ) -> orgiam_domain::Result<Option<orgiam_domain::scim::ScimUser>> {
                let mut conn = self.pool.acquire().await.map_err($crate::db_error)?;
                scim_read(&mut *conn, org, sid, "").await
            }

            async fn scim_list(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                query: &orgiam_domain::scim::list::ListQuery,
            ) -> orgiam_domain::Result<(u64, Vec<orgiam_domain::scim::ScimUser>)> {
                use orgiam_domain::scim::sql::Param;
                let fragment = match &query.filter {
                    Some(f) => orgiam_domain::scim::sql::translate(f, org.as_str()),
                    None => orgiam_domain::scim::sql::Where {
                        sql: "1 = 1".into(),
                        params: Vec::new(),
                    },
                };
                let count_sql = $sql(&format!(
                    "SELECT count(*) FROM users u WHERE u.org_sid = ? AND ({})",
                    fragment.sql
                ));
                let mut q = sqlx::query_scalar::<_, i64>(&count_sql).bind(org.as_str());
                for p in &fragment.params {
                    q = match p {
                        Param::Text(s) => q.bind(s.clone()),
                        Param::Int(i) => q.bind(*i),
                        Param::Bool(b) => q.bind(*b),
                    };
                }
                let total = q.fetch_one(&self.pool).await.map_err($crate::db_error)?;
                let total = u64::try_from(total).unwrap_or(0);
                let offset = query.start_index.saturating_sub(1);
                if query.count == 0 || offset >= total {
                    return Ok((total, Vec::new()));
                }
                let page_sql = $sql(&format!(
                    "SELECT {} FROM users u WHERE u.org_sid = ? AND ({}) ORDER BY {} LIMIT ? OFFSET ?",
                    $crate::scim::SCIM_COLUMNS,
                    fragment.sql,
                    query.order_by()
                ));
                // Not a named prepared statement: PostgreSQL would switch to a generic plan after
                // five runs, and one that cannot see the filter's values walks the organization's
                // users in `ORDER BY` order (13 ms at 100,000 users for a `userName eq` hit); an
                // unnamed statement is planned with its values, through the filter's index.
                let mut q = sqlx::query(&page_sql).persistent(false).bind(org.as_str());
                for p in &fragment.params {
                    q = match p {
                        Param::Text(s) => q.bind(s.clone()),
                        Param::Int(i) => q.bind(*i),
                        Param::Bool(b) => q.bind(*b),
                    };
                }
                let rows = q
                    .bind(i64::from(query.count))
                    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::db_error)?;
                let mut users = rows
                    .iter()
                    .map(scim_user_from_row)
                    .collect::<orgiam_domain::Result<Vec<_>>>()?;
                let mut conn = self.pool.acquire().await.map_err($crate::db_error)?;
                scim_attach_emails(&mut *conn, &mut users).await?;
                Ok((total, users))
            }

            async fn scim_update(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                sid: &orgiam_domain::sid::UserSid,
                edit: &$crate::scim::ScimEdit<'_>,
                actor: &orgiam_domain::model::Actor,
            ) -> std::result::Result<
                Option<(orgiam_domain::scim::ScimUser, bool)>,
                $crate::scim::ScimFail,
            > {
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                let Some(before) = scim_read(&mut *tx, org, sid, $lock).await? else {
                    return Ok(None);
                };
                let attrs = edit(&before)?;
                orgiam_domain::scim::user::validate(&attrs)?;
                if attrs == before.attrs {
                    // Nothing to write: the transaction rolls back.
                    return Ok(Some((before, false)));
                }
                let now = orgiam_domain::time_fmt::now().max(before.last_modified);
                let after = orgiam_domain::scim::ScimUser {
                    id: before.id.clone(),
                    attrs,
                    created: before.created,
                    last_modified: now,
                    version: before.version + 1,
                };
                let a = &after.attrs;
                let changed = sqlx::query(&$sql(
                    "UPDATE users SET email = ?, friendly_name = ?, active = ?, user_name = ?, \
                     user_name_key = ?, external_id = ?, display_name = ?, display_name_key = ?, \
                     given_name = ?, given_name_key = ?, family_name = ?, family_name_key = ?, \
                     formatted = ?, formatted_key = ?, locale = ?, locale_key = ?, timezone = ?, \
                     timezone_key = ?, date_updated = ?, version = ? \
                     WHERE org_sid = ? AND sid = ? AND version = ?",
                ))
                .bind(&a.user_name)
                .bind($crate::scim::friendly_name(a))
                .bind(a.active)
                .bind(&a.user_name)
                .bind(a.user_name_key())
                .bind(&a.external_id)
                .bind(&a.display_name)
                .bind($crate::scim::key(&a.display_name))
                .bind(&a.name.given_name)
                .bind($crate::scim::key(&a.name.given_name))
                .bind(&a.name.family_name)
                .bind($crate::scim::key(&a.name.family_name))
                .bind(&a.name.formatted)
                .bind($crate::scim::key(&a.name.formatted))
                .bind(&a.locale)
                .bind($crate::scim::key(&a.locale))
                .bind(&a.timezone)
                .bind($crate::scim::key(&a.timezone))
                .bind(after.last_modified)
                .bind(after.version)
                .bind(org.as_str())
                .bind(sid.as_str())
                .bind(before.version)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::scim::name_taken(a)($crate::db_error(e)))?
                .rows_affected();
                if changed != 1 {
                    // The row lock (or SQLite's write lock) makes this unreachable; refuse
                    // rather than write over a change this transaction did not see.
                    return Err($crate::scim::ScimFail::Scim(
                        orgiam_domain::scim::ScimError::precondition_failed(
                            "the user changed while this change was made; read it again",
                        ),
                    ));
                }
                if a.emails != before.attrs.emails {
                    sqlx::query(&$sql($crate::scim::DELETE_EMAILS))
                        .bind(sid.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::db_error)?;
                    scim_write_emails(&mut *tx, org, sid, &a.emails).await?;
                }
                insert_event(&mut tx, &$crate::scim::updated_event(org, &before, &after, actor))
                    .await?;
                tx.commit()
                    .await
                    .map_err($crate::db_error)
                    .inspect($crate::revisions::access_committed)?;
                Ok(Some((after, true)))
            }

            async fn scim_delete(
                &self,
                org: &orgiam_domain::sid::OrgSid,
                sid: &orgiam_domain::sid::UserSid,
                guard: &$crate::scim::ScimGuard<'_>,
                actor: &orgiam_domain::model::Actor,
            ) -> std::result::Result<Option<orgiam_domain::scim::ScimUser>, $crate::scim::ScimFail>
            {
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                let Some(user) = scim_read(&mut *tx, org, sid, $lock).await? else {
                    return Ok(None);
                };
                guard(&user)?;
                let gone: Vec<(String, String, String, String, String)> = sqlx::query_as(&$sql(
                    "DELETE FROM role_assignments WHERE org_sid = ? AND identity = ? \
                     RETURNING sid, role_sid, scope, resource_type, resource_id",
                ))
                .bind(org.as_str())
                .bind(sid.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                for row in &gone {
                    insert_event(
                        &mut tx,
                        &$crate::scim::assignment_deleted_event(org, sid, row, actor),
                    )
                    .await?;
                }
                sqlx::query(&$sql(
                    "UPDATE accounts SET owner_sid = NULL WHERE org_sid = ? AND owner_sid = ?",
                ))
                .bind(org.as_str())
                .bind(sid.as_str())
                .execute(&mut *tx)
                .await
                .map_err($crate::db_error)?;
                sqlx::query(&$sql($crate::scim::DELETE_EMAILS))
                    .bind(sid.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::db_error)?;
                sqlx::query(&$sql("DELETE FROM users WHERE org_sid = ? AND sid = ?"))
                    .bind(org.as_str())
                    .bind(sid.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::db_error)?;
                insert_event(&mut tx, &$crate::scim::deleted_event(org, &user, actor)).await?;
                tx.commit()
                    .await
                    .map_err($crate::db_error)
                    .inspect($crate::revisions::access_committed)?;
                Ok(Some(user))
            }
        }

        /// One user of `org` with its emails; `lock` is appended to its `SELECT`.
        async fn scim_read(
            conn: &mut <$store as $crate::manage::EngineConn>::Conn,
            org: &orgiam_domain::sid::OrgSid,
            sid: &orgiam_domain::sid::UserSid,
            lock: &str,
        ) -> orgiam_domain::Result<Option<orgiam_domain::scim::ScimUser>> {
            let row = sqlx::query(&$sql(&format!(
                "SELECT {} FROM users u WHERE u.org_sid = ? AND u.sid = ?{lock}",
                $crate::scim::SCIM_COLUMNS
            )))
            .bind(org.as_str())
            .bind(sid.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err($crate::db_error)?;
            let Some(row) = row else { return Ok(None) };
            let mut users = vec![scim_user_from_row(&row)?];
            scim_attach_emails(conn, &mut users).await?;
            Ok(users.pop())
        }

        /// Reads the emails of `users` into them, in array order.
        async fn scim_attach_emails(
            conn: &mut <$store as $crate::manage::EngineConn>::Conn,
            users: &mut [orgiam_domain::scim::ScimUser],
        ) -> orgiam_domain::Result<()> {
            use sqlx::Row;
            if users.is_empty() {
                return Ok(());
            }
            let mut by_sid: std::collections::HashMap<String, Vec<orgiam_domain::scim::Email>> =
                std::collections::HashMap::new();
            for chunk in users.chunks($crate::access::CHUNK) {
                let sql = $sql(&format!(
                    "SELECT user_sid, value, type, is_primary FROM user_emails \
                     WHERE user_sid IN ({}) ORDER BY user_sid, position",
                    $crate::access::marks(chunk.len())
                ));
                let mut q = sqlx::query(&sql);
                for u in chunk {
                    q = q.bind(u.id.as_str());
                }
                for r in q.fetch_all(&mut *conn).await.map_err($crate::db_error)? {
                    let user: String = r.try_get(0).map_err($crate::db_error)?;
                    by_sid.entry(user).or_default().push(orgiam_domain::scim::Email {
                        value: r.try_get(1).map_err($crate::db_error)?,
                        kind: r.try_get(2).map_err($crate::db_error)?,
                        primary: r.try_get(3).map_err($crate::db_error)?,
                    });
                }
            }
            for u in users.iter_mut() {
                u.attrs.emails = by_sid.remove(&u.id).unwrap_or_default();
            }
            Ok(())
        }

        /// Inserts `emails` as user `sid`'s, in array order.
        async fn scim_write_emails(
            conn: &mut <$store as $crate::manage::EngineConn>::Conn,
            org: &orgiam_domain::sid::OrgSid,
            sid: &orgiam_domain::sid::UserSid,
            emails: &[orgiam_domain::scim::Email],
        ) -> orgiam_domain::Result<()> {
            for (i, e) in emails.iter().enumerate() {
                sqlx::query(&$sql(
                    "INSERT INTO user_emails (org_sid, user_sid, position, value, value_key, \
                     type, type_key, is_primary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(org.as_str())
                .bind(sid.as_str())
                .bind(i64::try_from(i).unwrap_or(i64::MAX))
                .bind(&e.value)
                .bind(orgiam_domain::scim::fold(&e.value))
                .bind(&e.kind)
                .bind($crate::scim::key(&e.kind))
                .bind(e.primary)
                .execute(&mut *conn)
                .await
                .map_err($crate::db_error)?;
            }
            Ok(())
        }

        /// A user from a row of [`SCIM_COLUMNS`](crate::scim::SCIM_COLUMNS), without emails.
        fn scim_user_from_row<R: sqlx::Row>(
            r: &R,
        ) -> orgiam_domain::Result<orgiam_domain::scim::ScimUser>
        where
            usize: sqlx::ColumnIndex<R>,
            for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        {
            let text = |i: usize| -> orgiam_domain::Result<Option<String>> {
                r.try_get::<Option<String>, _>(i).map_err($crate::db_error)
            };
            let id: String = r.try_get(0).map_err($crate::db_error)?;
            // Rows inserted before their SCIM columns existed read their email as userName.
            let email: String = r.try_get(2).map_err($crate::db_error)?;
            let user_name = text(1)?.unwrap_or(email);
            Ok(orgiam_domain::scim::ScimUser {
                id,
                attrs: orgiam_domain::scim::UserAttrs {
                    user_name,
                    external_id: text(3)?,
                    display_name: text(4)?,
                    name: orgiam_domain::scim::Name {
                        given_name: text(5)?,
                        family_name: text(6)?,
                        formatted: text(7)?,
                    },
                    emails: Vec::new(),
                    active: r.try_get(8).map_err($crate::db_error)?,
                    locale: text(9)?,
                    timezone: text(10)?,
                },
                created: r.try_get(11).map_err($crate::db_error)?,
                last_modified: r.try_get(12).map_err($crate::db_error)?,
                version: r.try_get(13).map_err($crate::db_error)?,
            })
        }

        /// Gives user `user` (just inserted by `Store::create_user`, in `tx`) its SCIM columns:
        /// its email is its `userName` and its one (primary, work) email, its friendly name
        /// its display name.
        async fn scim_fill_user(
            tx: &mut <$store as $crate::manage::EngineConn>::Conn,
            user: &orgiam_domain::model::User,
        ) -> orgiam_domain::Result<()> {
            let display = Some(user.friendly_name.clone()).filter(|n| !n.is_empty());
            sqlx::query(&$sql(
                "UPDATE users SET user_name = ?, user_name_key = ?, display_name = ?, \
                 display_name_key = ?, date_updated = ?, version = 1 WHERE org_sid = ? AND sid = ?",
            ))
            .bind(&user.email)
            .bind(orgiam_domain::scim::fold(&user.email))
            .bind(&display)
            .bind($crate::scim::key(&display))
            .bind(user.date_created)
            .bind(user.org.as_str())
            .bind(user.sid.as_str())
            .execute(&mut *tx)
            .await
            .map_err($crate::db_error)?;
            scim_write_emails(
                &mut *tx,
                &user.org,
                &user.sid,
                &[orgiam_domain::scim::Email {
                    value: user.email.clone(),
                    kind: Some("work".into()),
                    primary: true,
                }],
            )
            .await
        }
    };
}
pub(crate) use scim_impl;
