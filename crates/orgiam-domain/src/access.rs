//! What the effective-permission questions read from the store, and the users' `active`
//! flag. Both engines implement it with one set of statements.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Actor, Assignment};
use crate::sid::{OrgSid, UserSid};

/// How deep accounts may nest before a chain is cut (a guard against a cycle in stored data).
pub const MAX_SCOPE_DEPTH: usize = 64;

#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Of `users`, those that are users of `org`, with their `active` flag.
    async fn users_active(&self, org: &OrgSid, users: &[UserSid])
    -> Result<HashMap<UserSid, bool>>;

    /// Sets a user's `active` flag, writing `user.deactivated` or `user.activated` in the same
    /// transaction when it changes. Returns the flag before, or `None` for an unknown user
    /// (nothing written).
    async fn set_user_active(
        &self,
        org: &OrgSid,
        user: &UserSid,
        active: bool,
        actor: &Actor,
    ) -> Result<Option<bool>>;

    /// Every assignment of these users in `org`, ordered by identity, then SID.
    async fn assignments_of(&self, org: &OrgSid, users: &[UserSid]) -> Result<Vec<Assignment>>;

    /// The scope and its ancestors, nearest first, ending with the organization's SID; `None`
    /// when `scope` is neither the organization nor one of its accounts.
    async fn scope_chain(&self, org: &OrgSid, scope: &str) -> Result<Option<Vec<String>>>;

    /// [`AccessStore::scope_chain`] of many scopes at once (one statement per 500): the
    /// chains of those that are the organization or one of its accounts.
    async fn scope_chains(
        &self,
        org: &OrgSid,
        scopes: &[String],
    ) -> Result<HashMap<String, Vec<String>>>;

    /// A consistent point of the change feed: the `access` revision and the newest audit
    /// event's position, read together while holding the revision's write lock, so that every
    /// change counted up to that revision has its event at or before the position, and every
    /// later change's event comes after it.
    async fn access_position(&self) -> Result<(i64, i64)>;

    /// Assignments of `org` at any of `scopes`, each with its user's `active` flag, ordered by
    /// (identity, SID) after the position `after`; at most `limit`.
    async fn assignments_at(
        &self,
        org: &OrgSid,
        scopes: &[String],
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<(Assignment, bool)>>;
}
