//! The storage contract. SQLite and PostgreSQL implement it; one contract suite tests both.
//! Uniqueness and integrity live in the schema, not in read-then-write code.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{
    Account, Actor, App, AppStatus, Assignment, AssignmentFilter, AuditEvent, AuditFilter, Org,
    RevokedToken, Role, RoleFilter, ServerKeys, SigningKey, User,
};
use crate::page::Cursor;
use crate::rendered::{RenderAccount, RenderAssignment, RenderedRows};
use crate::sid::{AccountSid, AppSid, AssignmentSid, OrgSid, RoleSid, UserSid};

/// Names of the revision counters the store bumps on every change, so replicas (and other
/// processes on one SQLite file) can poll one cheap value and reload only what changed.
pub const APPS_REVISION: &str = "apps";
pub const KEYS_REVISION: &str = "keys";
pub const ROLES_REVISION: &str = "roles";
pub const REVOCATIONS_REVISION: &str = "revocations";
/// Bumped first by every change to users, accounts and role assignments (what a permission
/// check reads besides custom roles), before the change's audit event is written: changes
/// counted up to a value read are committed, and their events numbered in that order.
pub const ACCESS_REVISION: &str = "access";

/// Given a stored secret value's slot (see `model::key_slots`) and its bytes, the bytes to store
/// instead, or `None` to leave it. An error aborts the whole rewrite.
pub type Resealer<'a> = dyn Fn(&str, &[u8]) -> Result<Option<Vec<u8>>> + Send + Sync + 'a;

/// Supplies an import's roles batch by batch; `Ok(None)` when done. An error aborts the import.
pub type RoleBatches<'a> = dyn FnMut() -> Result<Option<Vec<Role>>> + Send + 'a;

/// A connection pool's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open (in use and idle).
    pub size: u32,
    /// Connections open and not in use.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn engine(&self) -> &'static str;

    /// The reads behind effective permissions, and the users' `active` flag.
    fn access(&self) -> &dyn crate::access::AccessStore;

    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<()>;

    /// Stores the install's shared keys and first signing key, unless it has them already
    /// (racing processes agree on one set).
    async fn init_keys(&self, keys: &ServerKeys, signing_key: &SigningKey) -> Result<()>;

    /// On a store that was never bootstrapped and holds no organization, creates the first
    /// organization and app in one transaction. Returns whether this call created them: of
    /// racing replicas exactly one does.
    async fn bootstrap(&self, org: &Org, app: &App) -> Result<bool>;

    /// The install's shared keys.
    async fn server_keys(&self) -> Result<ServerKeys>;

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>>;

    /// Inserts or updates the built-in roles (those with no organization).
    async fn sync_builtin_roles(&self, roles: &[Role]) -> Result<()>;

    /// Creates an organization, with its `org.created` event.
    async fn create_org(&self, org: &Org, actor: &Actor) -> Result<()>;
    async fn org(&self, sid: &OrgSid) -> Result<Option<Org>>;

    /// Creates an app with its first secret (`app.secrets`). The organization must exist.
    async fn create_app(&self, app: &App, actor: &Actor) -> Result<()>;
    /// Any app, including deleted ones.
    async fn app(&self, sid: &AppSid) -> Result<Option<App>>;
    /// Sets the status; a deleted app loses its secrets and cannot come back.
    async fn set_app_status(&self, sid: &AppSid, status: AppStatus, actor: &Actor) -> Result<App>;
    /// Adds a new secret; live older secrets expire at `old_expires_at` (dropped when `None`).
    /// At most two secrets stay live.
    async fn rotate_app_secret(
        &self,
        sid: &AppSid,
        new_hash: &[u8],
        old_expires_at: Option<i64>,
        actor: &Actor,
    ) -> Result<App>;

    /// Makes `key` the signing key. Older keys are retired (they keep verifying until the
    /// tokens they signed expire) or, with `revoke_old`, removed at once. Keys retired longer
    /// ago than `MAX_TOKEN_TTL` (plus a minute of leeway) are pruned.
    async fn rotate_signing_key(
        &self,
        key: &SigningKey,
        revoke_old: bool,
        actor: &Actor,
    ) -> Result<()>;

    /// Rewrites the stored secret values (the page key, the secret key and every signing
    /// key's private key) in one transaction: `f` sees each and says what to store instead.
    /// Concurrent key rotations wait for it. The keys themselves do not change, so no revision
    /// counter moves. Returns how many values were rewritten.
    async fn reseal_keys(&self, f: &Resealer<'_>) -> Result<usize>;

    /// The current value of a revision counter (0 before any change).
    async fn revision(&self, name: &str) -> Result<i64>;
    /// Every revision counter, in one read.
    async fn revisions(&self) -> Result<std::collections::HashMap<String, i64>>;
    /// Apps changed after revision `since`, with their secrets; and the revision they reflect.
    async fn apps_since(&self, since: i64) -> Result<(Vec<App>, i64)>;

    /// Records a revoked access token, with its `token.revoked` event, and bumps the
    /// revocations revision; entries past their `expires_at` are pruned in the same
    /// transaction. Whether it was newly recorded (a second revocation writes nothing).
    async fn revoke_token(&self, token: &RevokedToken, actor: &Actor) -> Result<bool>;
    /// Revoked tokens recorded after revision `since` and not expired at `now`; and the
    /// revision they reflect.
    async fn revoked_since(&self, since: i64, now: i64) -> Result<(Vec<RevokedToken>, i64)>;
    /// Audit events of every organization (and the install-wide ones) after position `after`,
    /// oldest first, at most `limit`, each with its position: the change feed a server follows
    /// to log the changes other processes make.
    async fn audit_events_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, AuditEvent)>>;
    /// The position of the newest audit event (0 when there is none).
    async fn last_audit_position(&self) -> Result<i64>;
    /// The connection pool as it is now.
    fn pool_status(&self) -> PoolStatus;
    /// How long taking a connection from the pool waits now (a probe: one connection taken
    /// and given back).
    async fn pool_wait(&self) -> Result<std::time::Duration>;

    /// Roles visible to `org` matching `filter`, ordered by (name_key, sid), starting after
    /// (or, for a `Previous` cursor, before) the cursor's position `[name_key, sid]`.
    /// Returns rows in ascending order either way, at most `limit`.
    async fn list_roles(
        &self,
        org: &OrgSid,
        filter: &RoleFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Role>>;
    /// The page [`Store::list_roles`] returns, each role as the JSON the API shows
    /// ([`Role::to_json`], stored when the role was written: copied, nothing is decoded).
    async fn render_roles(
        &self,
        org: &OrgSid,
        filter: &RoleFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<RenderedRows<crate::rendered::NameKeyAt>>;
    /// One role visible to `org`.
    async fn role(&self, org: &OrgSid, sid: &RoleSid) -> Result<Option<Role>>;

    /// Creates an account, with its `account.created` event; a parent must be an account of
    /// the same organization.
    async fn create_account(&self, account: &Account, actor: &Actor) -> Result<()>;
    /// One account of `org`.
    async fn account(&self, org: &OrgSid, sid: &AccountSid) -> Result<Option<Account>>;
    /// Accounts of `org` ordered by SID, after (or before) the cursor's `[sid]`; ascending.
    async fn list_accounts(
        &self,
        org: &OrgSid,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Account>>;
    /// The same page, each account rendered by `render` as it is read.
    async fn render_accounts(
        &self,
        org: &OrgSid,
        cursor: Option<&Cursor>,
        limit: u32,
        render: RenderAccount,
    ) -> Result<RenderedRows>;

    /// Creates a user, with its `user.created` event; an email is unique within an
    /// organization (409).
    async fn create_user(&self, user: &User, actor: &Actor) -> Result<()>;
    /// One user of `org`.
    async fn user(&self, org: &OrgSid, sid: &UserSid) -> Result<Option<User>>;

    /// Creates an assignment. Identical assignments are a 409 (the schema enforces it); a
    /// `builtin` role counts against the user's limit of built-in assignments (a 400 naming
    /// `identity` when reached, race-free).
    async fn create_assignment(
        &self,
        assignment: &Assignment,
        builtin: bool,
        actor: &Actor,
    ) -> Result<()>;
    /// Deletes one assignment of `org`; whether it existed.
    async fn delete_assignment(
        &self,
        org: &OrgSid,
        sid: &AssignmentSid,
        actor: &Actor,
    ) -> Result<bool>;
    /// Assignments of `org` ordered by SID, after (or before) the cursor's `[sid]`; ascending.
    async fn list_assignments(
        &self,
        org: &OrgSid,
        filter: &AssignmentFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Assignment>>;
    /// The same page, each assignment rendered by `render` as it is read.
    async fn render_assignments(
        &self,
        org: &OrgSid,
        filter: &AssignmentFilter,
        cursor: Option<&Cursor>,
        limit: u32,
        render: RenderAssignment,
    ) -> Result<RenderedRows>;

    /// Adds custom roles to `org`, all in one transaction (nothing is half-imported); bumps
    /// the roles revision. Returns how many were imported.
    async fn import_roles(
        &self,
        org: &OrgSid,
        batches: &mut RoleBatches<'_>,
        actor: &Actor,
    ) -> Result<u64>;

    /// Audit events of `org` (and, with `filter.install_wide`, the install-wide ones), newest first, after (or,
    /// for a `Previous` cursor, before) the cursor's `[seq]`; in newest-first order either way.
    /// Returns each event with its position.
    async fn list_audit_events(
        &self,
        org: &OrgSid,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEvent)>>;
}
