//! The role assignment as the API shows it.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use orgiam_domain::model::Assignment;
use orgiam_domain::rendered::AssignmentColumns;
use orgiam_domain::{Error, Result};

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

/// Writes the assignment's JSON from its columns (a listing renders its rows so).
pub(crate) fn render(a: &AssignmentColumns<'_>, out: &mut Vec<u8>) -> Result<()> {
    let view = AssignmentView {
        sid: a.sid,
        role_sid: a.role,
        scope: a.scope,
        identity: a.identity,
        resource_type: a.resource_type,
        resource_id: a.resource_id,
    };
    serde_json::to_writer(out, &view).map_err(Error::internal)
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
