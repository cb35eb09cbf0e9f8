//! `GET /v2/Organizations/AuditEvents`: every change to access, newest first.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

use orgiam_domain::model::{AuditEvent, AuditFilter};
use orgiam_domain::page::Binding;
use orgiam_domain::{Error, Result, time_fmt};

use crate::auth::{Caller, perms};
use crate::error::ApiError;
use crate::list::{LinkBase, Links, Page, PageRequest, Params};
use crate::state::AppState;

const PATH: &str = "/v2/Organizations/AuditEvents";

/// The audit event object (also what `orgiam audit --json` prints).
pub fn event_json(e: &AuditEvent) -> Value {
    json!({
        "sid": e.sid.as_str(),
        "date_created": time_fmt::format(e.date_created),
        "organization_sid": e.org.as_ref().map(|o| o.as_str()),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "request_id": e.request_id,
        "before": e.before,
        "after": e.after,
    })
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
    let binding = Binding {
        endpoint: "audit-events",
        org: caller.org.as_str(),
        filters: &canonical,
    };
    let req = PageRequest::parse(&params, 50, 1000, &state.pages, &binding)?;
    let rows = state
        .store
        .list_audit_events(&caller.org, &filter, req.cursor.as_ref(), req.fetch_limit())
        .await?;
    let links = Links::echoing(
        &base,
        PATH,
        &params,
        &["Action", "Actor", "Target", "StartDate", "EndDate"],
    );
    let key_of = |(seq, _): &(i64, AuditEvent)| vec![seq.to_string()];
    let page = Page::build(&req, rows, key_of, "events", &links, &state.pages, &binding)?;
    let views: Vec<Value> = page.rows.iter().map(|(_, e)| event_json(e)).collect();
    Ok(page.respond("events", &views)?)
}
