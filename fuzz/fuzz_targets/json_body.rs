//! The JSON bodies: a role assignment create (`assignments::parse_create`) and a custom-role
//! import line (`import::parse_line`).
//!
//! Input layout: byte 0 picks the Content-Type of the create request (`'0'`: none, `'1'`:
//! `application/json`, see `CONTENT_TYPES`); the rest is the body, and also the import line.
//!
//! Properties: nothing panics; a refused create is a 400; an accepted create has a role SID, a
//! scope and an identity; an accepted import line respects every documented bound and its
//! permission patterns parse back to themselves.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use orgiam_domain::import::parse_line;
use orgiam_domain::policy::Pattern;
use orgiam_domain::sid::OrgSid;
use orgiam_fuzz::ORG;
use orgiam_server::routes::assignments;

const CONTENT_TYPES: [Option<&[u8]>; 6] = [
    None,
    Some(b"application/json"),
    Some(b"application/merge-patch+json; charset=utf-8"),
    Some(b"text/plain"),
    Some(b"APPLICATION/JSON"),
    Some(b"application/json\xff"),
];

static GROUPS: LazyLock<BTreeMap<String, String>> = LazyLock::new(|| {
    BTreeMap::from([
        ("billing".to_owned(), "Billing".to_owned()),
        ("iam".to_owned(), "Identity and Access".to_owned()),
    ])
});

fn slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_pattern(p: &Pattern) {
    let again = Pattern::parse(p.as_str())
        .unwrap_or_else(|e| panic!("pattern {} does not parse again: {e}", p.as_str()));
    assert_eq!(again.as_str(), p.as_str());
}

fuzz_target!(|data: &[u8]| {
    let Some((&ct, body)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    if let Some(v) = CONTENT_TYPES[usize::from(ct) % CONTENT_TYPES.len()] {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.insert(header::CONTENT_TYPE, v);
        }
    }
    match assignments::parse_create(&headers, body) {
        Ok(req) => {
            assert!(req.role_sid.as_str().starts_with("IX"));
            assert!(!req.scope.is_empty() && !req.identity.is_empty());
            assert!(req.resource_type.as_ref().is_none_or(|s| !s.is_empty()));
            assert!(req.resource_id.as_ref().is_none_or(|s| !s.is_empty()));
        }
        Err(e) => assert_eq!(e.status(), 400, "a bad create body must be a 400: {e}"),
    }

    let line = String::from_utf8_lossy(body);
    let org = OrgSid::parse(ORG).unwrap_or_else(|e| panic!("{e}"));
    match parse_line(&line, &org, &GROUPS, 0) {
        Ok(role) => {
            let name = role.friendly_name.as_str();
            assert!(!name.is_empty() && name.trim() == name && name.chars().count() <= 255);
            assert!(role.external_description.chars().count() <= 2048);
            assert!(slug(&role.product_group), "{:?}", role.product_group);
            assert!(!role.policy.allow.is_empty());
            role.policy.allow.iter().for_each(check_pattern);
            role.policy.deny.iter().flatten().for_each(check_pattern);
            if let Some(types) = &role.resource_types {
                assert!(
                    !types.is_empty() && types.iter().all(|t| slug(t)),
                    "{types:?}"
                );
            }
            assert_eq!(role.org.as_ref(), Some(&org));
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
