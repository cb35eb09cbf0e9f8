//! The role assignment as the API shows it.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use orgiam_domain::model::Assignment;

/// A role assignment: a user holds a role at a scope (the organization or one of its
/// accounts), optionally on one resource.
#[derive(Serialize, ToSchema)]
#[schema(as = RoleAssignment)]
pub(crate) struct AssignmentView<'a> {
    #[schema(pattern = "^IY[0-9a-f]{32}$")]
    sid: &'a str,
    #[schema(pattern = "^IX[0-9a-f]{32}$")]
    role_sid: &'a str,
    /// The organization's SID or one of its accounts' (`OR...` or `AC...`).
    #[schema(pattern = "^(OR|AC)[0-9a-f]{32}$")]
    scope: &'a str,
    /// The user's SID.
    #[schema(pattern = "^US[0-9a-f]{32}$")]
    identity: &'a str,
    #[schema(required = true)]
    resource_type: Option<&'a str>,
    #[schema(required = true)]
    resource_id: Option<&'a str>,
}

/// The assignment as the API shows it.
pub fn assignment_json(a: &Assignment) -> Value {
    serde_json::to_value(view(a)).unwrap_or(Value::Null)
}

pub(crate) fn view(a: &Assignment) -> AssignmentView<'_> {
    AssignmentView {
        sid: a.sid.as_str(),
        role_sid: a.role.as_str(),
        scope: &a.scope,
        identity: a.identity.as_str(),
        resource_type: a.resource_type.as_deref(),
        resource_id: a.resource_id.as_deref(),
    }
}
