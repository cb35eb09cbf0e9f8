//! The query string of every list endpoint: `Params::parse`, then each endpoint's filter parser,
//! `Expand`, and `PageRequest::parse` under the binding the route computes (roles,
//! role assignments, audit events).
//!
//! Properties: nothing panics; every refusal is a 400; parsed filters respect their documented
//! shape; and when a request parses, the links `Page::build` writes for it (first, self,
//! previous, next) parse again into the same filters, and their page tokens verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orgiam_domain::Error;
use orgiam_domain::page::{Binding, Direction, PageTokenCodec};
use orgiam_domain::sid::{AccountSid, OrgSid, UserSid, is_sid};
use orgiam_fuzz::{ORG, codec, hash};
use orgiam_server::list::{Links, Page, PageRequest, Params};
use orgiam_server::routes::{assignments, audit, roles};
use serde_json::{Value, json};

const BASE: &str = "http://localhost:4000";

fn bad_request<T>(r: Result<T, Error>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            assert_eq!(e.status(), 400, "a bad query must be a 400: {e}");
            None
        }
    }
}

/// One list endpoint, as its route handler wires it.
struct Endpoint {
    name: &'static str,
    path: &'static str,
    default: u32,
    max: u32,
    /// The filter parameters the route echoes into its links, in order.
    link_filters: &'static [&'static str],
    /// The route's filter parsing and canonical filter set.
    canonical: fn(&Params) -> Option<String>,
}

fn roles_canonical(p: &Params) -> Option<String> {
    let (f, canonical) = bad_request(roles::filter(p))?;
    if let Some(s) = &f.search {
        assert!(!s.is_empty() && s.chars().count() <= 256, "Search {s:?}");
    }
    if let Some(types) = &f.resource_types {
        assert!(!types.is_empty());
        assert!(types.windows(2).all(|w| w[0] < w[1]), "unsorted {types:?}");
        assert!(types.iter().all(|t| !t.is_empty() && t.trim() == t));
    }
    Some(canonical)
}

fn assignments_canonical(p: &Params) -> Option<String> {
    let f = bad_request(assignments::list_filter(p))?;
    if let Some(i) = &f.identity {
        assert!(is_sid(UserSid::PREFIX, i), "Identity {i:?}");
    }
    if let Some(s) = &f.scope {
        assert!(
            is_sid(OrgSid::PREFIX, s) || is_sid(AccountSid::PREFIX, s),
            "Scope {s:?}"
        );
    }
    for v in [&f.resource_type, &f.resource_id].into_iter().flatten() {
        assert!(!v.is_empty() && v.chars().count() <= 256, "free text {v:?}");
    }
    Some(json!([f.identity, f.scope, f.resource_type, f.resource_id]).to_string())
}

fn audit_canonical(p: &Params) -> Option<String> {
    let f = bad_request(audit::filter(p))?;
    Some(json!([f.action, f.actor, f.target, f.since, f.until]).to_string())
}

const ENDPOINTS: [Endpoint; 3] = [
    Endpoint {
        name: "roles",
        path: "/v2/Organizations/Roles",
        default: 50,
        max: 1000,
        link_filters: &["Search", "RoleProductGroup", "ResourceTypes", "Expand"],
        canonical: roles_canonical,
    },
    Endpoint {
        name: "role-assignments",
        path: "/v2/Organizations/RoleAssignments",
        default: 50,
        max: 100,
        link_filters: &["Identity", "Scope", "ResourceType", "ResourceId"],
        canonical: assignments_canonical,
    },
    Endpoint {
        name: "audit-events",
        path: "/v2/Organizations/AuditEvents",
        default: 50,
        max: 1000,
        link_filters: &["Action", "Actor", "Target", "StartDate", "EndDate"],
        canonical: audit_canonical,
    },
];

/// Builds a page the way the routes do and checks every link in its `meta` parses back.
fn check_links(
    ep: &Endpoint,
    params: &Params,
    req: &PageRequest,
    binding: &Binding<'_>,
    codec: &PageTokenCodec,
    h: u64,
) {
    let size = req.size;
    let n = match h % 4 {
        0 => 0,
        1 => 1,
        2 => size,
        _ => req.fetch_limit(),
    };
    let rows: Vec<u32> = (0..n).collect();
    let links = Links {
        base: BASE,
        path: ep.path,
        filters: ep
            .link_filters
            .iter()
            .filter_map(|&k| params.get(k).map(|v| (k, v)))
            .collect(),
    };
    let key_of = |i: &u32| vec![format!("name {i}"), format!("IX{i:032x}")];
    let page = Page::build(req, rows, key_of, "items", &links, codec, binding)
        .unwrap_or_else(|e| panic!("Page::build failed: {e}"));
    let body = page
        .body::<u8>("items", &[])
        .unwrap_or_else(|e| panic!("Page::body failed: {e}"));
    let body: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("page body: {e}"));
    let prefix = format!("{BASE}{}?", ep.path);
    for (field, page_no, direction) in [
        ("first_page_url", Some(0), None),
        (
            "url",
            Some(req.page),
            req.cursor.as_ref().map(|c| c.direction),
        ),
        (
            "next_page_url",
            Some(req.page.saturating_add(1)),
            Some(Direction::Next),
        ),
        (
            "previous_page_url",
            req.page.checked_sub(1),
            Some(Direction::Previous),
        ),
    ] {
        let Some(url) = body["meta"][field].as_str() else {
            continue;
        };
        let query = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{field} {url} is not under {prefix}"));
        let again = Params::parse(Some(query));
        let canonical = (ep.canonical)(&again)
            .unwrap_or_else(|| panic!("{}: the filters of {field} {url} do not parse", ep.name));
        assert_eq!(
            canonical, binding.filters,
            "{}: {field} {url} changed the filters",
            ep.name
        );
        let next = PageRequest::parse(&again, ep.default, ep.max, codec, binding)
            .unwrap_or_else(|e| panic!("{}: {field} {url} does not parse: {e}", ep.name));
        assert_eq!(next.size, size, "{field} {url}");
        assert_eq!(Some(next.page), page_no, "{field} {url}");
        assert_eq!(
            next.cursor.as_ref().map(|c| c.direction),
            direction,
            "{field} {url}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let params = Params::parse(Some(&raw));
    let codec = codec();
    let h = hash(data);
    let expand = bad_request(params.flag("Expand"));
    for ep in &ENDPOINTS {
        let Some(canonical) = (ep.canonical)(&params) else {
            continue;
        };
        let binding = Binding {
            endpoint: ep.name,
            org: ORG,
            filters: &canonical,
        };
        let Some(req) = bad_request(PageRequest::parse(
            &params, ep.default, ep.max, &codec, &binding,
        )) else {
            continue;
        };
        assert!((1..=ep.max).contains(&req.size), "PageSize {}", req.size);
        if ep.name == "roles" && expand.is_none() {
            continue;
        }
        check_links(ep, &params, &req, &binding, &codec, h);
    }
});
