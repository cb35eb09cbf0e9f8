//! The audit event as the API shows it.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use orgiam_domain::model::AuditEvent;
use orgiam_domain::time_fmt;

/// An audit event: who changed what, with the object before and after.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub(crate) struct EventView<'a> {
    #[schema(pattern = "^AE[0-9a-f]{32}$")]
    sid: &'a str,
    #[schema(format = DateTime)]
    date_created: String,
    /// `null` for install-wide events (signing keys), shown to every organization.
    #[schema(required = true)]
    organization_sid: Option<&'a str>,
    /// `app:OQ...` for an OAuth app, `cli` for the command line.
    actor: &'a str,
    /// e.g. `role_assignment.create`.
    action: &'a str,
    /// The SID of the changed object.
    target: &'a str,
    /// The `Twilio-Request-Id` of the request that made the change.
    #[schema(required = true)]
    request_id: Option<&'a str>,
    /// The object before the change (`null` on creation).
    #[schema(required = true, value_type = Option<Object>)]
    before: Option<&'a Value>,
    /// The object after the change (`null` on deletion).
    #[schema(required = true, value_type = Option<Object>)]
    after: Option<&'a Value>,
}

pub(crate) fn view(e: &AuditEvent) -> EventView<'_> {
    EventView {
        sid: e.sid.as_str(),
        date_created: time_fmt::format(e.date_created),
        organization_sid: e.org.as_ref().map(|o| o.as_str()),
        actor: &e.actor,
        action: &e.action,
        target: &e.target,
        request_id: e.request_id.as_deref(),
        before: e.before.as_ref(),
        after: e.after.as_ref(),
    }
}

/// The audit event object (also what `orgiam audit --json` prints).
pub fn event_json(e: &AuditEvent) -> Value {
    serde_json::to_value(view(e)).unwrap_or(Value::Null)
}
