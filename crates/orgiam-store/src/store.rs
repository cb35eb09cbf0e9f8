//! The [`Store`](orgiam_domain::store::Store) implementation of both engines, written once.
//!
//! Every statement is defined once, in the module of its aggregate, inside a macro that the
//! engine modules expand: `revisions` (counters), `audit` (events), `apps`, `keys`,
//! `accounts` (organizations, accounts, users), `assignments`, `roles`, `import`, and the
//! older `directory`, `revocations`, `access` and `manage`. Each aggregate macro writes the
//! statements with `?` placeholders and expands, inside the engine module, to inherent
//! `…_in` methods (or helper functions) that this module's `Store` implementation calls.
//!
//! What the engines really do differently is named, not copied. Each engine module provides
//! this dialect (the macros use the names bare):
//!
//! - `sql(&str)`: `?` SQL as the engine takes it (`$1, $2, …` on PostgreSQL);
//! - `Db`, `Conn`: the sqlx database and connection types;
//! - `ENGINE`; `ROLE_COLUMNS` (PostgreSQL reads its JSONB column back as text); `JSONB` (the
//!   cast of a JSON array parameter); `BIGINT` (the cast that types a parameter compared with
//!   `NULL`); `GREATEST` (the larger of two values); `FOR_UPDATE` (the row-lock suffix of a
//!   read inside a write);
//! - `self.write()`: a write transaction (`BEGIN IMMEDIATE` on SQLite); `self.snapshot()`: a
//!   read transaction over one snapshot; `self.read()` and `end_read(..)`: a connection for
//!   a read that spans two statements; `self.bounded()`: a connection whose statements the
//!   statement timeout bounds, with the `Budget` that `finish`es it;
//! - `audit_lock`, `lock_orgs`, `lock_catalog`: the locks PostgreSQL takes where SQLite's
//!   single writer needs none; `attach_secrets`, `delete_other_builtins`: statements whose
//!   best form differs (`= ANY($1)` against one statement per app, `<> ALL` against
//!   `NOT IN (…)`);
//! - `list_roles_in`, `import_roles_in`, `reseal_keys_in`: the role search (SQLite FTS5
//!   against PostgreSQL trigram indexes), the import (staged on SQLite, direct on
//!   PostgreSQL) and re-sealing keys (with each engine's way to scrub the old bytes).

/// Everything of a store both engines share: `$sql` turns `?` SQL into the engine's,
/// `$jsonb` is the placeholder of a JSON array column, `$begin` opens a write transaction on
/// the pool (for the older macros that take them).
macro_rules! store_impl {
    ($store:ty, $sql:path, $jsonb:literal, $begin:ident ( $($arg:expr),* )) => {
        $crate::revisions::revisions_impl!($store);
        $crate::audit::audit_impl!($store);
        $crate::apps::apps_impl!($store);
        $crate::keys::keys_impl!($store);
        $crate::accounts::accounts_impl!($store);
        $crate::assignments::assignments_impl!($store);
        $crate::roles::roles_impl!($store);
        $crate::import::import_impl!($store);
        $crate::directory::directory_impl!($store, $sql, $begin($($arg),*));
        $crate::revocations::revocations_impl!($store, $sql, $begin($($arg),*));
        $crate::access::access_impl!($store, $sql, $begin($($arg),*));
        $crate::manage::management_impl!($store, $sql, $jsonb, $begin($($arg),*));

        impl $store {
            /// A listing by SID, each row pushed by `row`, in the listing's order (`desc`:
            /// the statement reads it backwards).
            async fn render_by_sid(
                &self,
                q: ListSql<'_>,
                desc: bool,
                row: &mut (dyn FnMut(
                    &dyn $crate::rows::DbRow,
                    &mut orgiam_domain::rendered::RenderedRows,
                ) -> orgiam_domain::Result<()>
                          + Send),
            ) -> orgiam_domain::Result<orgiam_domain::rendered::RenderedRows> {
                let mut out = orgiam_domain::rendered::RenderedRows::default();
                self.visit_rows(q, &mut |r| row(r, &mut out)).await?;
                if desc {
                    out.rows.reverse();
                }
                Ok(out)
            }
        }

        const _: () = {
            use orgiam_domain::Result;
            use orgiam_domain::model::{
                Account, Actor, App, AppStatus, Assignment, AssignmentFilter, AuditEvent,
                AuditFilter, Org, RevokedToken, Role, RoleFilter, ServerKeys, SigningKey, User,
            };
            use orgiam_domain::page::Cursor;
            use orgiam_domain::rendered::{RenderAccount, RenderAssignment, RenderedRows};
            use orgiam_domain::sid::{AccountSid, AppSid, AssignmentSid, OrgSid, RoleSid, UserSid};
            use orgiam_domain::store::{PoolStatus, Resealer, RoleBatches, Store};

            #[async_trait::async_trait]
            impl Store for $store {
                fn engine(&self) -> &'static str {
                    ENGINE
                }

                fn access(&self) -> &dyn orgiam_domain::access::AccessStore {
                    self
                }

                async fn ping(&self) -> Result<()> {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map_err($crate::db_error)?;
                    Ok(())
                }

                async fn init_keys(&self, keys: &ServerKeys, key: &SigningKey) -> Result<()> {
                    self.init_keys_in(keys, key).await
                }

                async fn bootstrap(&self, org: &Org, app: &App) -> Result<bool> {
                    self.bootstrap_in(org, app).await
                }

                async fn server_keys(&self) -> Result<ServerKeys> {
                    self.server_keys_in().await
                }

                async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
                    self.signing_keys_in().await
                }

                async fn sync_builtin_roles(&self, roles: &[Role]) -> Result<()> {
                    self.sync_builtin_roles_in(roles).await
                }

                async fn create_org(&self, org: &Org, actor: &Actor) -> Result<()> {
                    self.create_org_in(org, actor).await
                }

                async fn org(&self, sid: &OrgSid) -> Result<Option<Org>> {
                    self.org_in(sid).await
                }

                async fn create_app(&self, app: &App, actor: &Actor) -> Result<()> {
                    self.create_app_in(app, actor).await
                }

                async fn app(&self, sid: &AppSid) -> Result<Option<App>> {
                    self.app_in(sid).await
                }

                async fn set_app_status(
                    &self,
                    sid: &AppSid,
                    status: AppStatus,
                    actor: &Actor,
                ) -> Result<App> {
                    self.set_app_status_in(sid, status, actor).await
                }

                async fn rotate_app_secret(
                    &self,
                    sid: &AppSid,
                    new_hash: &[u8],
                    old_expires_at: Option<i64>,
                    actor: &Actor,
                ) -> Result<App> {
                    self.rotate_app_secret_in(sid, new_hash, old_expires_at, actor).await
                }

                async fn rotate_signing_key(
                    &self,
                    key: &SigningKey,
                    revoke_old: bool,
                    actor: &Actor,
                ) -> Result<()> {
                    self.rotate_signing_key_in(key, revoke_old, actor).await
                }

                async fn reseal_keys(&self, f: &Resealer<'_>) -> Result<usize> {
                    self.reseal_keys_in(f).await
                }

                async fn revision(&self, name: &str) -> Result<i64> {
                    self.revision_in(name).await
                }

                async fn revisions(&self) -> Result<std::collections::HashMap<String, i64>> {
                    self.revisions_in().await
                }

                async fn apps_since(&self, since: i64) -> Result<(Vec<App>, i64)> {
                    self.apps_since_in(since).await
                }

                async fn revoke_token(&self, token: &RevokedToken, actor: &Actor) -> Result<bool> {
                    self.revoke_token_in(token, actor).await
                }

                async fn revoked_since(
                    &self,
                    since: i64,
                    now: i64,
                ) -> Result<(Vec<RevokedToken>, i64)> {
                    self.revoked_since_in(since, now).await
                }

                async fn audit_events_after(
                    &self,
                    after: i64,
                    limit: u32,
                ) -> Result<Vec<(i64, AuditEvent)>> {
                    self.audit_events_after_in(after, limit).await
                }

                async fn last_audit_position(&self) -> Result<i64> {
                    self.last_audit_position_in().await
                }

                fn pool_status(&self) -> PoolStatus {
                    let size = self.pool.size();
                    PoolStatus {
                        size,
                        idle: u32::try_from(self.pool.num_idle()).unwrap_or(size),
                        max: self.pool.options().get_max_connections(),
                    }
                }

                async fn pool_wait(&self) -> Result<std::time::Duration> {
                    let started = std::time::Instant::now();
                    let conn = self.pool.acquire().await.map_err($crate::db_error)?;
                    let waited = started.elapsed();
                    drop(conn);
                    Ok(waited)
                }

                async fn list_roles(
                    &self,
                    org: &OrgSid,
                    filter: &RoleFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<Role>> {
                    self.list_roles_in(org, filter, cursor, limit).await
                }

                async fn render_roles(
                    &self,
                    org: &OrgSid,
                    filter: &RoleFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<RenderedRows<orgiam_domain::rendered::NameKeyAt>> {
                    self.render_roles_in(org, filter, cursor, limit).await
                }

                async fn role(&self, org: &OrgSid, sid: &RoleSid) -> Result<Option<Role>> {
                    self.role_in(org, sid).await
                }

                async fn create_account(&self, account: &Account, actor: &Actor) -> Result<()> {
                    self.create_account_in(account, actor).await
                }

                async fn account(&self, org: &OrgSid, sid: &AccountSid) -> Result<Option<Account>> {
                    self.account_in(org, sid).await
                }

                async fn list_accounts(
                    &self,
                    org: &OrgSid,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<Account>> {
                    self.list_accounts_in(org, cursor, limit).await
                }

                async fn render_accounts(
                    &self,
                    org: &OrgSid,
                    cursor: Option<&Cursor>,
                    limit: u32,
                    render: RenderAccount,
                ) -> Result<RenderedRows> {
                    self.render_accounts_in(org, cursor, limit, render).await
                }

                async fn create_user(&self, user: &User, actor: &Actor) -> Result<()> {
                    self.create_user_in(user, actor).await
                }

                async fn user(&self, org: &OrgSid, sid: &UserSid) -> Result<Option<User>> {
                    self.user_in(org, sid).await
                }

                async fn create_assignment(
                    &self,
                    a: &Assignment,
                    builtin: bool,
                    actor: &Actor,
                ) -> Result<()> {
                    self.create_assignment_in(a, builtin, actor).await
                }

                async fn delete_assignment(
                    &self,
                    org: &OrgSid,
                    sid: &AssignmentSid,
                    actor: &Actor,
                ) -> Result<bool> {
                    self.delete_assignment_in(org, sid, actor).await
                }

                async fn list_assignments(
                    &self,
                    org: &OrgSid,
                    filter: &AssignmentFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<Assignment>> {
                    self.list_assignments_in(org, filter, cursor, limit).await
                }

                async fn render_assignments(
                    &self,
                    org: &OrgSid,
                    filter: &AssignmentFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                    render: RenderAssignment,
                ) -> Result<RenderedRows> {
                    self.render_assignments_in(org, filter, cursor, limit, render).await
                }

                async fn import_roles(
                    &self,
                    org: &OrgSid,
                    batches: &mut RoleBatches<'_>,
                    actor: &Actor,
                ) -> Result<u64> {
                    self.import_roles_in(org, batches, actor).await
                }

                async fn list_audit_events(
                    &self,
                    org: &OrgSid,
                    filter: &AuditFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<(i64, AuditEvent)>> {
                    self.list_audit_events_in(org, filter, cursor, limit).await
                }
            }
        };
    };
}
pub(crate) use store_impl;
