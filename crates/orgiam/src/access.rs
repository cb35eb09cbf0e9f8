//! `orgiam check` (may this user do that, here — and why) and `orgiam users
//! activate|deactivate|delete`, on the store directly, through the same service as the HTTP API.

use serde_json::json;

use orgiam_domain::decision::Reason;
use orgiam_domain::model::Actor;
use orgiam_domain::policy::Permission;
use orgiam_domain::sid::{AccountSid, OrgSid, UserSid, is_sid};
use orgiam_server::effective::{self, Check, CheckResult};
use orgiam_store::DatabaseUrl;

use crate::cli::{CheckArgs, UserRef};
use crate::shared::{Failure, existing_org, not_found, open};

type Outcome = Result<(), Failure>;

/// The explanation for a person, the lines `orgiam check` prints.
pub fn explain(check: &Check, r: &CheckResult) -> String {
    let verdict = if r.allowed { "ALLOWED" } else { "DENIED" };
    let mut out = format!(
        "{verdict}: {} {} {} at {}",
        check.identity,
        if r.allowed { "may" } else { "may not" },
        check.permission,
        check.scope
    );
    if let Some((t, i)) = &check.resource {
        out.push_str(&format!(" on {t} {i}"));
    }
    out.push_str(&format!(
        "\n  reason: {} ({})",
        r.reason.as_str(),
        r.reason.describe()
    ));
    for g in r.grants.iter().flatten() {
        out.push_str(&format!(
            "\n  granted by: assignment {} of role {} at {} (allow {})",
            g.assignment_sid, g.role_sid, g.scope, g.pattern
        ));
    }
    for d in r.denials.iter().flatten() {
        out.push_str(&format!(
            "\n  removed by: assignment {} of role {} (deny {})",
            d.assignment_sid, d.role_sid, d.pattern
        ));
    }
    if matches!(r.reason, Reason::NoAssignment | Reason::DeniedByRole) {
        match r.nearest_grant.as_ref().and_then(Option::as_ref) {
            Some(n) => {
                let resource = match (&n.resource_type, &n.resource_id) {
                    (Some(t), Some(i)) => format!(" on {t} {i}"),
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "\n  nearest grant: assignment {} of role {} at {}{resource} (allow {}) \
                     would allow it; it does not apply here",
                    n.assignment_sid, n.role_sid, n.scope, n.pattern
                ));
            }
            None => out
                .push_str("\n  nearest grant: none (no assignment of the user grants it anywhere)"),
        }
    }
    out
}

pub async fn check(url: &DatabaseUrl, a: CheckArgs) -> Outcome {
    let identity = UserSid::parse(&a.user).map_err(|e| format!("--user {e}"))?;
    let permission = Permission::parse(&a.permission).map_err(|e| format!("--permission {e}"))?;
    let scope = a.scope.unwrap_or_else(|| a.org.clone());
    if !(is_sid(OrgSid::PREFIX, &scope) || is_sid(AccountSid::PREFIX, &scope)) {
        return Err("--scope must be an organization (OR) or account (AC) SID".into());
    }
    let resource = match (a.resource_type, a.resource_id) {
        (Some(t), Some(i)) => Some((t, i)),
        (None, None) => None,
        _ => return Err("--resource-type and --resource-id come together".into()),
    };
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, &a.org).await?;
    let c = Check {
        identity,
        permission,
        scope,
        resource,
    };
    let results =
        effective::check(store.as_ref(), None, &org, std::slice::from_ref(&c), true).await?;
    let Some(r) = results.first() else {
        return Err("the check gave no result".into());
    };
    if a.json {
        println!("{}", serde_json::to_value(r).map_err(|e| e.to_string())?);
    } else {
        println!("{}", explain(&c, r));
    }
    Ok(())
}

pub async fn set_active(url: &DatabaseUrl, r: UserRef, active: bool) -> Outcome {
    let user = UserSid::parse(&r.user).map_err(|e| format!("--user {e}"))?;
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, &r.org).await?;
    let before = store
        .access()
        .set_user_active(&org, &user, active, &Actor::cli())
        .await?
        .ok_or_else(|| {
            not_found(format!(
                "user {user} is not a user of {org} in the store {url}"
            ))
        })?;
    let changed = before != active;
    if r.json {
        println!(
            "{}",
            json!({"sid": user.as_str(), "active": active, "changed": changed})
        );
    } else {
        let state = if active { "active" } else { "inactive" };
        let how = if changed { "is now" } else { "was already" };
        println!("User {user} {how} {state}.");
    }
    Ok(())
}

pub async fn delete_user(url: &DatabaseUrl, r: UserRef) -> Outcome {
    let user = UserSid::parse(&r.user).map_err(|e| format!("--user {e}"))?;
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, &r.org).await?;
    let deleted = store
        .scim_delete(&org, &user, &|_| Ok(()), &Actor::cli())
        .await
        .map_err(|e| match e {
            orgiam_store::ScimFail::Store(e) => Failure::from(e),
            orgiam_store::ScimFail::Scim(e) => Failure::from(e.detail),
        })?;
    if deleted.is_none() {
        return Err(not_found(format!(
            "user {user} is not a user of {org} in the store {url}"
        )));
    }
    if r.json {
        println!("{}", json!({"sid": user.as_str(), "deleted": true}));
    } else {
        println!("User {user} deleted, with its role assignments.");
    }
    Ok(())
}
