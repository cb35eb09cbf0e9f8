//! Bearer-token authentication as an extractor, and permission checks.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use orgiam_domain::Error;
use orgiam_domain::model::{Actor, App, AppStatus};
use orgiam_domain::policy::Permission;
use orgiam_domain::sid::OrgSid;

use crate::error::ApiError;
use crate::keys::SECRET_TAG_LEN;
use crate::state::AppState;
use crate::telemetry::RequestContext;

/// Endpoint permissions (SPEC §5).
pub mod perms {
    pub const ROLE_ASSIGNMENTS_LIST: &str = "/twilio/iam/role-assignments/list";
    pub const ROLE_ASSIGNMENTS_CREATE: &str = "/twilio/iam/role-assignments/create";
    pub const ROLE_ASSIGNMENTS_DELETE: &str = "/twilio/iam/role-assignments/delete";
    pub const ACCOUNTS_LIST: &str = "/twilio/iam/accounts/list";
    pub const AUDIT_EVENTS_LIST: &str = "/twilio/iam/audit-events/list";
    pub const ROLES_CREATE: &str = "/twilio/iam/roles/create";
    pub const ROLES_UPDATE: &str = "/twilio/iam/roles/update";
    pub const ROLES_DELETE: &str = "/twilio/iam/roles/delete";
    pub const OAUTH_APPS_LIST: &str = "/twilio/iam/oauth-apps/list";
    pub const OAUTH_APPS_CREATE: &str = "/twilio/iam/oauth-apps/create";
    pub const OAUTH_APPS_UPDATE: &str = "/twilio/iam/oauth-apps/update";
    pub const OAUTH_APPS_DELETE: &str = "/twilio/iam/oauth-apps/delete";
    pub const PERMISSION_CHECKS_CREATE: &str = "/twilio/iam/permission-checks/create";
    pub const USERS_LIST: &str = "/twilio/iam/users/list";
    pub const USERS_CREATE: &str = "/twilio/iam/users/create";
    pub const USERS_UPDATE: &str = "/twilio/iam/users/update";
    pub const USERS_DELETE: &str = "/twilio/iam/users/delete";
}

/// The authenticated caller: an active app of one organization.
pub struct Caller {
    pub app: Arc<App>,
    pub org: OrgSid,
    /// This request's id and log context (audit events carry the id).
    context: Option<Arc<RequestContext>>,
}

/// The endpoint permissions, parsed once.
fn parsed(permission: &str) -> Option<&'static Permission> {
    static PARSED: std::sync::LazyLock<Vec<Permission>> = std::sync::LazyLock::new(|| {
        [
            perms::ROLE_ASSIGNMENTS_LIST,
            perms::ROLE_ASSIGNMENTS_CREATE,
            perms::ROLE_ASSIGNMENTS_DELETE,
            perms::ACCOUNTS_LIST,
            perms::AUDIT_EVENTS_LIST,
            perms::ROLES_CREATE,
            perms::ROLES_UPDATE,
            perms::ROLES_DELETE,
            perms::OAUTH_APPS_LIST,
            perms::OAUTH_APPS_CREATE,
            perms::OAUTH_APPS_UPDATE,
            perms::OAUTH_APPS_DELETE,
            perms::PERMISSION_CHECKS_CREATE,
            perms::USERS_LIST,
            perms::USERS_CREATE,
            perms::USERS_UPDATE,
            perms::USERS_DELETE,
        ]
        .iter()
        .filter_map(|p| Permission::parse(p).ok())
        .collect()
    });
    PARSED.iter().find(|p| p.as_str() == permission)
}

impl Caller {
    /// This request's id.
    pub fn request_id(&self) -> Option<&str> {
        self.context.as_ref().map(|c| c.id())
    }

    /// The caller as the actor of a change.
    pub fn actor(&self) -> Actor {
        Actor::app(&self.app.sid, self.request_id().map(ToString::to_string))
    }

    /// 403 unless the app's policy grants `permission`.
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        let granted = parsed(permission).is_some_and(|p| self.app.policy.allows(p));
        if granted {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "The OAuth app {} lacks the permission '{}' required by this endpoint",
                self.app.sid,
                permission.trim_start_matches('/')
            ))
            .into())
        }
    }
}

fn unauthenticated(msg: &str) -> ApiError {
    crate::telemetry::token_failure("bearer", "missing_or_malformed");
    Error::unauthenticated(msg, false).into()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            unauthenticated(
                "Authentication required: send an OAuth access token as 'Authorization: Bearer <token>'",
            )
        })?;
        let header = header
            .to_str()
            .map_err(|_| unauthenticated("The Authorization header is malformed"))?;
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Err(unauthenticated(
                "Organization APIs require OAuth bearer tokens: HTTP Basic credentials (Account SID and Auth Token, or API key) are not accepted",
            ));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthenticated(
                "The Authorization header must use the Bearer scheme with an OAuth access token",
            ));
        }
        let token = rest.trim();
        if token.is_empty() {
            return Err(unauthenticated(
                "The Authorization header carries no bearer token",
            ));
        }
        let verified = state.verify_token(token)?;
        let revoked = |why: String| {
            crate::telemetry::token_failure("bearer", "revoked");
            ApiError(Error::unauthenticated(why, true))
        };
        // RFC 9068 §4: a token for another resource server is not one for this server's APIs
        // (tokens from before tokens named their audience were all issued for this server).
        if !verified.aud.is_empty() && !verified.aud.contains(&state.audience) {
            return Err(revoked(
                "Invalid access token: its audience (aud) is not this server".into(),
            ));
        }
        if state.is_revoked(&verified.jti)? {
            return Err(revoked("Invalid access token: it was revoked".into()));
        }
        let app = state.app(&verified.app).await?.ok_or_else(|| {
            revoked(format!(
                "Invalid access token: the OAuth app {} does not exist",
                verified.app
            ))
        })?;
        match app.status {
            AppStatus::Active => {}
            AppStatus::Disabled => {
                return Err(revoked(format!(
                    "Invalid access token: the OAuth app {} is disabled",
                    app.sid
                )));
            }
            AppStatus::Deleted => {
                return Err(revoked(format!(
                    "Invalid access token: the OAuth app {} was deleted",
                    app.sid
                )));
            }
        }
        if verified.iat < app.tokens_valid_after {
            return Err(revoked(format!(
                "Invalid access token: it was issued before the OAuth app {}'s tokens were revoked (the app was disabled or its secret rotated)",
                app.sid
            )));
        }
        if let Some(tag) = &verified.secret {
            let now = orgiam_domain::time_fmt::now();
            let live = app.secrets.iter().any(|s| {
                s.expires_at.is_none_or(|t| t > now) && s.hash.get(..SECRET_TAG_LEN) == Some(tag)
            });
            if !live {
                return Err(revoked(format!(
                    "Invalid access token: the client secret it was issued for is no longer a secret of the OAuth app {}",
                    app.sid
                )));
            }
        }
        if app.org != verified.org {
            return Err(revoked(
                "Invalid access token: organization mismatch".into(),
            ));
        }
        let context = parts.extensions.get::<Arc<RequestContext>>().cloned();
        if let Some(ctx) = &context {
            let _ = ctx.client.set(app.clone());
        }
        state.rate.check_api(app.sid.as_str())?;
        Ok(Self {
            org: verified.org.clone(),
            app,
            context,
        })
    }
}
