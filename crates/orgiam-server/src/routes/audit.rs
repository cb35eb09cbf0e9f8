//! `GET /v2/Organizations/AuditEvents`: every change to access, newest first.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::json;

use orgiam_domain::keyset::BySeq;
use orgiam_domain::model::{AuditEvent, AuditFilter};
use orgiam_domain::{Error, Result, time_fmt};

use crate::auth::{Caller, perms};
use crate::error::ApiError;
use crate::list::{LinkBase, Listing, Params};
use crate::openapi::{Meta, PageParams};
use crate::state::AppState;
pub use crate::views::audit::event_json;
use crate::views::audit::{EventView, view};
use utoipa::{IntoParams, ToSchema};

const PATH: &str = "/v2/Organizations/AuditEvents";

const LISTING: Listing = Listing {
    endpoint: "audit-events",
    key: "events",
    default_size: 50,
    max_size: 1000,
    echo: &["Action", "Actor", "Target", "StartDate", "EndDate"],
};

/// A page of audit events.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventPage {
    events: Vec<EventView<'static>>,
    meta: Meta,
}

/// The filters of an audit listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditParams {
    /// Only events of this action, e.g. `role_assignment.create`.
    #[param(rename = "Action")]
    action: Option<String>,
    /// Only events of this actor, e.g. `app:OQ...`.
    #[param(rename = "Actor")]
    actor: Option<String>,
    /// Only events on this object (a SID).
    #[param(rename = "Target")]
    target: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. `2025-01-15T10:30:00Z`; blank: no
    /// filter).
    #[param(
        rename = "StartDate",
        pattern = r"^\s*([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\s*)?$"
    )]
    start_date: Option<String>,
    /// Only events at or before this time (RFC 3339; blank: no filter).
    #[param(
        rename = "EndDate",
        pattern = r"^\s*([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\s*)?$"
    )]
    end_date: Option<String>,
}

fn time_param(params: &Params, name: &str) -> Result<Option<i64>> {
    params
        .non_blank(name)
        .map(|v| {
            time_fmt::parse(v).ok_or_else(|| {
                Error::bad_request(format!(
                    "{name} must be an ISO 8601 time like 2025-01-15T10:30:00Z"
                ))
            })
        })
        .transpose()
}

/// The filters of a listing. Pure parsing; fuzzed.
pub fn filter(params: &Params) -> Result<AuditFilter> {
    let text = |n: &str| params.non_blank(n).map(str::to_owned);
    Ok(AuditFilter {
        action: text("Action"),
        actor: text("Actor"),
        target: text("Target"),
        since: time_param(params, "StartDate")?,
        until: time_param(params, "EndDate")?,
        // A tenant sees its own organization's events only.
        install_wide: false,
    })
}

/// List the organization's audit events, newest first.
///
/// Permission: `twilio/iam/audit-events/list`. PageSize: default 50, at most 1000.
#[utoipa::path(
    get,
    path = "/v2/Organizations/AuditEvents",
    tag = "AuditEvents",
    operation_id = "ListAuditEvent",
    params(PageParams, AuditParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of audit events", body = EventPage))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    LinkBase(base): LinkBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(perms::AUDIT_EVENTS_LIST)?;
    let params = Params::parse(query.as_deref());
    let filter = filter(&params)?;
    let canonical = json!([
        filter.action,
        filter.actor,
        filter.target,
        filter.since,
        filter.until
    ])
    .to_string();
    let bound = LISTING.bind(&state.pages, caller.org.as_str(), &params, &canonical)?;
    let rows = state
        .store
        .list_audit_events(&caller.org, &filter, bound.cursor(), bound.fetch_limit())
        .await?;
    let key_of = |(seq, _): &(i64, AuditEvent)| BySeq(*seq);
    let page = bound.page(rows, &base, PATH, key_of)?;
    let views: Vec<_> = page.rows.iter().map(|(_, e)| view(e)).collect();
    Ok(bound.respond(&page, &views)?)
}
