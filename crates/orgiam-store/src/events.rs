//! The audit events each engine writes with its changes (one definition for both).

use serde_json::json;

use orgiam_domain::model::{
    Account, Actor, App, AppStatus, Assignment, AuditEvent, Org, SigningKey, User, actions,
};
use orgiam_domain::sid::{AppSid, OrgSid};

pub fn app_created_event(app: &App, actor: &Actor) -> AuditEvent {
    let mut after = json!({
        "friendly_name": app.friendly_name,
        "status": app.status.as_str(),
        "policy": app.policy,
        "access_token_ttl": app.access_token_ttl,
    });
    // Extra audiences, when the app has any.
    if !app.audiences.is_empty() {
        after["audiences"] = json!(app.audiences);
    }
    AuditEvent::new(
        Some(&app.org),
        actor,
        actions::APP_CREATED,
        app.sid.as_str(),
        None,
        Some(after),
    )
}

/// Names the token by its `jti` only, never the token itself.
pub fn token_revoked_event(
    token: &orgiam_domain::model::RevokedToken,
    actor: &Actor,
) -> AuditEvent {
    AuditEvent::new(
        Some(&token.org),
        actor,
        actions::TOKEN_REVOKED,
        token.app.as_str(),
        None,
        Some(json!({"jti": token.jti, "expires_at": token.expires_at})),
    )
}

pub fn status_event(
    org: &OrgSid,
    app: &AppSid,
    before: &str,
    status: AppStatus,
    actor: &Actor,
) -> AuditEvent {
    let action = match status {
        AppStatus::Active => actions::APP_ENABLED,
        AppStatus::Disabled => actions::APP_DISABLED,
        AppStatus::Deleted => actions::APP_DELETED,
    };
    AuditEvent::new(
        Some(org),
        actor,
        action,
        app.as_str(),
        Some(json!({"status": before})),
        Some(json!({"status": status.as_str()})),
    )
}

/// Never the secret: only when the previous one stops working.
pub fn rotation_event(
    org: &OrgSid,
    app: &AppSid,
    old_expires_at: Option<i64>,
    actor: &Actor,
) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        actions::APP_SECRET_ROTATED,
        app.as_str(),
        None,
        Some(
            json!({"previous_secret_expires_at": old_expires_at.map(orgiam_domain::time_fmt::format)}),
        ),
    )
}

/// Install-wide: no organization. Never key material: only key ids.
pub fn key_event(key: &SigningKey, old: &[String], revoked: bool, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        None,
        actor,
        actions::KEY_ROTATED,
        key.kid.as_str(),
        Some(json!({"signing_kids": old})),
        Some(
            json!({"signing_kid": key.kid.as_str(), "previous_keys": if revoked { "revoked" } else { "retired" }}),
        ),
    )
}

pub fn assignment_created_event(a: &Assignment, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        Some(&a.org),
        actor,
        actions::ROLE_ASSIGNMENT_CREATED,
        a.sid.as_str(),
        None,
        Some(json!({
            "role_sid": a.role.as_str(),
            "scope": a.scope,
            "identity": a.identity.as_str(),
            "resource_type": a.resource_type,
            "resource_id": a.resource_id,
        })),
    )
}

pub fn roles_imported_event(org: &OrgSid, count: u64, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        Some(org),
        actor,
        actions::ROLES_IMPORTED,
        org.as_str(),
        None,
        Some(json!({"roles": count})),
    )
}

pub fn org_created_event(org: &Org, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        Some(&org.sid),
        actor,
        actions::ORG_CREATED,
        org.sid.as_str(),
        None,
        Some(json!({"friendly_name": org.friendly_name})),
    )
}

pub fn account_created_event(a: &Account, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        Some(&a.org),
        actor,
        actions::ACCOUNT_CREATED,
        a.sid.as_str(),
        None,
        Some(json!({
            "friendly_name": a.friendly_name,
            "parent_sid": a.parent.as_ref().map(|p| p.as_str()),
            "status": a.status,
        })),
    )
}

pub fn user_created_event(u: &User, actor: &Actor) -> AuditEvent {
    AuditEvent::new(
        Some(&u.org),
        actor,
        actions::USER_CREATED,
        u.sid.as_str(),
        None,
        Some(json!({"email": u.email, "friendly_name": u.friendly_name})),
    )
}
