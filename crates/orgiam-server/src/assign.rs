//! The role-assignment service: one create for the HTTP API and `orgiam assignments create`.
//! The store says what exists (the role, the scope's account, the user); the rules that
//! decide are the domain's (`orgiam_domain::assignment`).

use orgiam_domain::assignment::{self, Scope};
use orgiam_domain::model::{Actor, Assignment, Level, Role};
use orgiam_domain::sid::{AssignmentSid, OrgSid, RoleSid, UserSid};
use orgiam_domain::store::Store;
use orgiam_domain::{Error, Result, time_fmt};

/// The fields of a create request.
pub struct CreateRequest {
    pub role_sid: RoleSid,
    pub scope: String,
    pub identity: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
}

/// The scope's level: the organization itself, an account, or a subaccount.
async fn scope_level(store: &dyn Store, org: &OrgSid, scope: &str) -> Result<Level> {
    match assignment::parse_scope(org, scope)? {
        Scope::Organization => Ok(Level::Organization),
        Scope::Account(sid) => {
            let account = store.account(org, &sid).await?;
            assignment::account_level(scope, account.as_ref())
        }
    }
}

/// Checks a create request against `org` and stores the assignment (and its audit event).
pub async fn create_assignment(
    store: &dyn Store,
    org: &OrgSid,
    request: CreateRequest,
    actor: &Actor,
) -> Result<Assignment> {
    let CreateRequest {
        role_sid,
        scope,
        identity,
        resource_type,
        resource_id,
    } = request;
    let (resource_type, resource_id) = (resource_type.as_deref(), resource_id.as_deref());
    let role: Role = store.role(org, &role_sid).await?.ok_or_else(|| {
        Error::bad_request(format!(
            "role_sid {role_sid} is not a role of this organization"
        ))
    })?;
    let level = scope_level(store, org, &scope).await?;
    let identity =
        UserSid::parse(&identity).map_err(|e| Error::bad_request(format!("identity {e}")))?;
    if store.user(org, &identity).await?.is_none() {
        return Err(Error::bad_request(format!(
            "identity {identity} is not a user of this organization"
        )));
    }
    assignment::check_grant(&role, level, resource_type, resource_id)?;
    let assignment = Assignment {
        sid: AssignmentSid::random(),
        org: org.clone(),
        role: role.sid.clone(),
        scope,
        identity,
        resource_type: resource_type.map(str::to_owned),
        resource_id: resource_id.map(str::to_owned),
        date_created: time_fmt::now(),
    };
    store
        .create_assignment(&assignment, role.org.is_none(), actor)
        .await?;
    Ok(assignment)
}
