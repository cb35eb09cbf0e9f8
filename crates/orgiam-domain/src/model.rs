//! The domain's records.

use serde::{Deserialize, Serialize};

use crate::policy::{Permission, Policy};
use crate::sid::{
    AccountSid, AppSid, AssignmentSid, AuditSid, KeySid, OrgSid, PermissionSid, RoleSid, UserSid,
};

/// The lowest scope at which a role may be assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    Organization,
    Account,
    SubAccount,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "ORGANIZATION",
            Self::Account => "ACCOUNT",
            Self::SubAccount => "SUB_ACCOUNT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ORGANIZATION" => Some(Self::Organization),
            "ACCOUNT" => Some(Self::Account),
            "SUB_ACCOUNT" => Some(Self::SubAccount),
            _ => None,
        }
    }
}

/// A role, built-in (`org` is `None`) or an organization's custom role.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub sid: RoleSid,
    pub org: Option<OrgSid>,
    pub friendly_name: String,
    pub external_description: String,
    pub product_group: String,
    pub product_group_name: String,
    pub lowest_level: Level,
    pub policy: Policy,
    pub resource_types: Option<Vec<String>>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl Role {
    /// The sort key: `friendly_name` compared case-insensitively (ties by SID).
    pub fn name_key(friendly_name: &str) -> String {
        friendly_name.to_lowercase()
    }
}

/// A permission catalog entry.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogPermission {
    pub sid: PermissionSid,
    pub permission: Permission,
    pub description: String,
}

/// The filters of a role listing (combined with AND).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleFilter {
    /// A substring of the name or a prefix of the SID.
    pub search: Option<Search>,
    pub product_group: Option<String>,
    /// Non-blank; a role matches when it has any of them.
    pub resource_types: Option<Vec<String>>,
}

/// A role search as the listing compares it, normalised in this one place for every caller
/// (HTTP, command line, tests): trimmed and lower-cased (Unicode rules); blank is no search.
/// The store takes it as it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Search(String);

impl Search {
    pub fn new(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (!trimmed.is_empty()).then(|| Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Search {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Org {
    pub sid: OrgSid,
    pub friendly_name: String,
    pub date_created: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppStatus {
    Active,
    Disabled,
    Deleted,
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// A stored client secret: its keyed hash and, during a rotation, when it stops working.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub hash: Vec<u8>,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("hash", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Access tokens live from one minute to thirty days.
pub const MIN_TOKEN_TTL: i64 = 60;
pub const MAX_TOKEN_TTL: i64 = 30 * 24 * 3600;
pub const DEFAULT_TOKEN_TTL: i64 = 3600;

/// An OAuth app (its SID is its `client_id`).
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    pub sid: AppSid,
    pub org: OrgSid,
    pub friendly_name: String,
    pub description: String,
    pub status: AppStatus,
    pub policy: Policy,
    pub access_token_ttl: i64,
    pub date_created: i64,
    pub date_updated: i64,
    /// Tokens issued (`iat`) before this instant (Unix seconds) are refused: moved forward
    /// when the app is disabled or deleted and when its secret is rotated with no grace.
    pub tokens_valid_after: i64,
    /// At most two live secrets.
    pub secrets: Vec<SecretRecord>,
    /// Audiences (resource servers) the app may ask tokens for besides the server itself,
    /// which it may always ask for and gets when it names none.
    pub audiences: Vec<String>,
}

/// At most this many extra audiences per app, each at most [`MAX_AUDIENCE_LEN`] bytes.
pub const MAX_APP_AUDIENCES: usize = 20;
pub const MAX_AUDIENCE_LEN: usize = 512;

/// Checks one audience an app may request: non-blank, at most [`MAX_AUDIENCE_LEN`] bytes, no
/// whitespace or control characters (it is compared byte for byte with what clients send).
pub fn check_audience(aud: &str) -> std::result::Result<(), String> {
    if aud.is_empty() {
        return Err("an audience must not be empty".into());
    }
    if aud.len() > MAX_AUDIENCE_LEN {
        return Err(format!(
            "an audience must be at most {MAX_AUDIENCE_LEN} bytes"
        ));
    }
    if aud.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("an audience must not contain whitespace or control characters".into());
    }
    Ok(())
}

/// An access token revoked before its expiry: refused by every replica until it expires.
#[derive(Clone, Debug, PartialEq)]
pub struct RevokedToken {
    pub jti: String,
    pub org: OrgSid,
    pub app: AppSid,
    /// Unix seconds after which the token is refused anyway (its `exp` plus the leeway).
    pub expires_at: i64,
}

/// An Ed25519 signing key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: KeySid,
    /// PKCS#8 DER of the private key.
    pub private_der: Vec<u8>,
    /// The 32-byte public key.
    pub public_raw: Vec<u8>,
    pub created_at: i64,
    /// When it stopped signing; it still verifies until every token it signed has expired.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private_der", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// Keys shared by every replica, created once per install.
#[derive(Clone)]
pub struct ServerKeys {
    /// MACs page tokens.
    pub page_key: Vec<u8>,
    /// Keys the client-secret hashes.
    pub secret_key: Vec<u8>,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKeys(<redacted>)")
    }
}

/// Names of the stored secret values, used as the associated data of their sealed form (so a
/// sealed value cannot be moved to another slot) and handed to `Store::reseal_keys`.
pub mod key_slots {
    /// `meta.page_key`: the page-token MAC key.
    pub const PAGE_KEY: &str = "meta/page_key";
    /// `meta.secret_key`: the client-secret pepper.
    pub const SECRET_KEY: &str = "meta/secret_key";

    /// `signing_keys.private_der` of the key `kid`.
    pub fn signing_key(kid: &str) -> String {
        format!("signing_keys/{kid}/private_der")
    }
}

/// An account, or a subaccount when it has a parent account of the same organization.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    pub sid: AccountSid,
    pub org: OrgSid,
    pub parent: Option<AccountSid>,
    pub friendly_name: String,
    /// `active`, `suspended`, `pending_closure` or `closed`.
    pub status: String,
    pub owner: Option<UserSid>,
    pub date_created: i64,
}

/// A user of an organization's directory.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub sid: UserSid,
    pub org: OrgSid,
    pub email: String,
    pub friendly_name: String,
    pub date_created: i64,
}

/// A role given to a user at a scope (the organization, an account or a subaccount).
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub sid: AssignmentSid,
    pub org: OrgSid,
    pub role: RoleSid,
    /// An `OR` or `AC` SID.
    pub scope: String,
    pub identity: UserSid,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub date_created: i64,
}

/// The filters of a role-assignment listing (combined with AND).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssignmentFilter {
    pub identity: Option<String>,
    pub scope: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
}

/// A user holds at most this many assignments of built-in roles, across all scopes.
pub const MAX_BUILTIN_ASSIGNMENTS_PER_USER: i64 = 25;

/// Who makes a change: an app (its `OQ` SID) with the request id, or the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub sid: String,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn cli() -> Self {
        Self {
            sid: "cli".into(),
            request_id: None,
        }
    }

    pub fn app(sid: &AppSid, request_id: Option<String>) -> Self {
        Self {
            sid: sid.to_string(),
            request_id,
        }
    }
}

/// A change to access, recorded in the same transaction as the change.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub sid: AuditSid,
    /// `None` for install-wide events (signing keys), shown to every organization.
    pub org: Option<OrgSid>,
    pub date_created: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub request_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl AuditEvent {
    /// A new event of `actor`, now.
    pub fn new(
        org: Option<&OrgSid>,
        actor: &Actor,
        action: &str,
        target: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        Self {
            sid: AuditSid::random(),
            org: org.cloned(),
            date_created: crate::time_fmt::now(),
            actor: actor.sid.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            request_id: actor.request_id.clone(),
            before,
            after,
        }
    }
}

/// The filters of an audit listing (combined with AND).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// Also the install-wide events (no organization, e.g. `key.rotated`): the operator's
    /// view, through the command line. Never set for a tenant.
    pub install_wide: bool,
}

/// Audit actions.
pub mod actions {
    pub const APP_CREATED: &str = "app.created";
    pub const APP_DISABLED: &str = "app.disabled";
    pub const APP_ENABLED: &str = "app.enabled";
    pub const APP_DELETED: &str = "app.deleted";
    pub const APP_SECRET_ROTATED: &str = "app.secret_rotated";
    pub const KEY_ROTATED: &str = "key.rotated";
    pub const ROLE_ASSIGNMENT_CREATED: &str = "role_assignment.created";
    pub const ROLE_ASSIGNMENT_DELETED: &str = "role_assignment.deleted";
    pub const ROLES_IMPORTED: &str = "roles.imported";
    pub const ORG_CREATED: &str = "org.created";
    pub const ACCOUNT_CREATED: &str = "account.created";
    pub const USER_CREATED: &str = "user.created";
    pub const APP_UPDATED: &str = "app.updated";
    pub const ROLE_DELETED: &str = "role.deleted";
    pub const TOKEN_REVOKED: &str = "token.revoked";
    pub const ROLE_CREATED: &str = "role.created";
    pub const ROLE_UPDATED: &str = "role.updated";
    pub const USER_ACTIVATED: &str = "user.activated";
    pub const USER_DEACTIVATED: &str = "user.deactivated";
    pub const USER_UPDATED: &str = "user.updated";
    pub const USER_DELETED: &str = "user.deleted";

    /// Every action orgiam writes (what `orgiam audit --action` accepts).
    pub const ALL: &[&str] = &[
        APP_CREATED,
        APP_DISABLED,
        APP_ENABLED,
        APP_DELETED,
        APP_SECRET_ROTATED,
        APP_UPDATED,
        KEY_ROTATED,
        ROLE_ASSIGNMENT_CREATED,
        ROLE_ASSIGNMENT_DELETED,
        ROLES_IMPORTED,
        ROLE_CREATED,
        ROLE_UPDATED,
        ROLE_DELETED,
        TOKEN_REVOKED,
        ORG_CREATED,
        ACCOUNT_CREATED,
        USER_CREATED,
        USER_ACTIVATED,
        USER_DEACTIVATED,
        USER_UPDATED,
        USER_DELETED,
    ];
}
