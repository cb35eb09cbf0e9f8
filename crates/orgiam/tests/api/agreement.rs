//! Engines agree, whatever the bytes: one server on SQLite and one on PostgreSQL, in the same
//! test, over the same data (the same SIDs), are sent arbitrary strings — NUL and other control
//! characters, `%`, `_`, `\`, quotes, broken percent-encoding, lone surrogates as escaped JSON,
//! very long and non-ASCII text — through every filter of every list endpoint and every JSON
//! string field of the create body. Neither may answer 5xx; both must answer the same status and
//! the same body (modulo SIDs, dates and page tokens that are random per install); and a role
//! search must return exactly the rows of an in-memory oracle.
//!
//! Runs on every `cargo test -p orgiam --test api` (it needs PostgreSQL whatever the engine under
//! test). `PROPTEST_CASES` sets the number of cases (default 48, well under a minute).

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::{Account, Actor, Assignment, Level, Role, User};
use orgiam_domain::policy::{Pattern, Policy};
use orgiam_domain::sid::{AccountSid, AssignmentSid, RoleSid, UserSid};

use crate::helpers::{Engine, Reply, TestApp, spawn_app_on};

const ROLES: &str = "/v2/Organizations/Roles";
const V2: &str = "/v2/Organizations/RoleAssignments";
const AUDIT: &str = "/v2/Organizations/AuditEvents";

/// Custom role names that are hard on LIKE, case folding and collation.
const NAMES: &[&str] = &[
    "100% Real_Role \\ Admin",
    "O'Brien \"Quoted\" Reader",
    "İstanbul Operator",
    "Straße Writer",
    "ΩMEGA Ωmega Viewer",
    "emoji 😀 role",
    "under_score__role",
    "percent %% and \\\\ backslashes",
    "ａｄｍｉｎ fullwidth",
    "Admin",
    "admin",
    "a",
];

/// Resource ids of the fixed assignments.
const RESOURCE_IDS: &[&str] = &["PN%_\\x", "PN'\"", "PNé", "pn lower", "PN", "PN%"];

fn sid_body(n: usize) -> String {
    format!("{:032x}", 0xa9e0_0000_u64 + n as u64)
}

fn custom_roles(org: &orgiam_domain::sid::OrgSid) -> Vec<Role> {
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| Role {
            sid: RoleSid::parse(&format!("IX{}", sid_body(i))).expect("sid"),
            org: Some(org.clone()),
            friendly_name: (*name).to_owned(),
            external_description: format!("custom {i}"),
            product_group: if i % 2 == 0 {
                "billing"
            } else {
                "custom_group"
            }
            .into(),
            product_group_name: "Group".into(),
            lowest_level: Level::SubAccount,
            policy: Policy {
                allow: vec![Pattern::parse("/twilio/billing/invoices/read").expect("pattern")],
                deny: None,
            },
            resource_types: (i % 3 == 0).then(|| vec!["phone-number".to_owned()]),
            date_created: 1_700_000_000,
            date_updated: 1_700_000_000,
        })
        .collect()
}

struct Side {
    app: TestApp,
    token: String,
}

struct World {
    sides: [Side; 2],
    /// Every role the organization sees, for the search oracle.
    roles: Vec<Role>,
    typed_role: RoleSid,
    user: UserSid,
}

/// The same data, with the same SIDs, on one engine.
async fn side(engine: Engine) -> Side {
    let app = spawn_app_on(engine, |c| {
        c.limits.api_rate.per_second = 0;
        c.limits.token_rate.per_second = 0;
    })
    .await;
    let org = app.org.clone();
    let store = app.store.clone();
    let user = UserSid::parse(&format!("US{}", sid_body(0))).expect("sid");
    store
        .create_user(
            &User {
                sid: user.clone(),
                org: org.clone(),
                email: "hostile@example.com".into(),
                friendly_name: "Hostile".into(),
                date_created: 1_700_000_000,
            },
            &Actor::cli(),
        )
        .await
        .expect("user");
    let account = AccountSid::parse(&format!("AC{}", sid_body(0))).expect("sid");
    store
        .create_account(
            &Account {
                sid: account.clone(),
                org: org.clone(),
                parent: None,
                friendly_name: "Prod".into(),
                status: "active".into(),
                owner: Some(user.clone()),
                date_created: 1_700_000_000,
            },
            &Actor::cli(),
        )
        .await
        .expect("account");
    let mut batches = Some(custom_roles(&org));
    let mut next = move || Ok(batches.take());
    store
        .import_roles(&org, &mut next, &Actor::cli())
        .await
        .expect("import");
    let typed = custom_roles(&org)
        .into_iter()
        .find(|r| r.resource_types.is_some())
        .expect("a typed role");
    for (i, rid) in RESOURCE_IDS.iter().enumerate() {
        let a = Assignment {
            sid: AssignmentSid::parse(&format!("IY{}", sid_body(i))).expect("sid"),
            org: org.clone(),
            role: typed.sid.clone(),
            scope: if i % 2 == 0 {
                org.to_string()
            } else {
                account.to_string()
            },
            identity: user.clone(),
            resource_type: Some("phone-number".into()),
            resource_id: Some((*rid).to_owned()),
            date_created: 1_700_000_000,
        };
        store
            .create_assignment(&a, false, &Actor::cli())
            .await
            .expect("assignment");
    }
    let token = app.token_with(&org, &["/twilio/*"], &[]).await;
    Side { app, token }
}

async fn world() -> World {
    let sqlite = side(Engine::Sqlite).await;
    let postgres = side(Engine::Postgres).await;
    let mut roles = Catalog::builtin().expect("catalog").roles;
    roles.extend(custom_roles(&sqlite.app.org));
    let typed_role = custom_roles(&sqlite.app.org)
        .into_iter()
        .find(|r| r.resource_types.is_some())
        .expect("typed")
        .sid;
    World {
        sides: [sqlite, postgres],
        roles,
        typed_role,
        user: UserSid::parse(&format!("US{}", sid_body(0))).expect("sid"),
    }
}

/// Replaces what differs between two installs: the address, the organization, random SIDs,
/// dates and page tokens.
fn normalize(v: &Value, side: &Side) -> Value {
    match v {
        Value::String(s) => Value::String(normalize_str(s, side)),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, side)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), normalize(x, side)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn normalize_str(s: &str, side: &Side) -> String {
    let s = s
        .replace(&side.app.base, "BASE")
        .replace(side.app.org.as_str(), "ORG");
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &s[i..];
        // A random SID (audit events, apps, keys, requests, assignments made over HTTP).
        if rest.len() >= 34
            && ["AE", "OQ", "KY", "RQ", "IY", "OR"]
                .iter()
                .any(|p| rest.starts_with(p))
            && rest.as_bytes()[2..34]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        {
            out.push_str(&rest[..2]);
            out.push('*');
            i += 34;
            continue;
        }
        // An ISO 8601 date of the SPEC's form.
        if rest.len() >= 20 && is_date(&rest.as_bytes()[..20]) {
            out.push_str("DATE");
            i += 20;
            continue;
        }
        if let Some(after) = rest.strip_prefix("PageToken=") {
            let end = after.find('&').unwrap_or(after.len());
            out.push_str("PageToken=T");
            i += "PageToken=".len() + end;
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

fn is_date(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        19 => *c == b'Z',
        _ => c.is_ascii_digit(),
    })
}

/// The rows a search must return (SIDs in API order), or `None` for a 400.
fn oracle(roles: &[Role], search: &str) -> Option<Vec<String>> {
    if search.chars().any(|c| (c as u32) < 0x20) {
        return None;
    }
    let q = search.trim().to_lowercase();
    if q.chars().count() > 256 {
        return None;
    }
    let mut hits: Vec<(String, String)> = roles
        .iter()
        .filter(|r| {
            q.is_empty()
                || Role::name_key(&r.friendly_name).contains(&q)
                || r.sid.as_str().to_lowercase().starts_with(&q)
        })
        .map(|r| (Role::name_key(&r.friendly_name), r.sid.to_string()))
        .collect();
    hits.sort();
    Some(hits.into_iter().take(1000).map(|(_, s)| s).collect())
}

fn encode(name: &str, value: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish()
}

/// Sends the same request to both engines; asserts no 5xx and the same answer; returns both.
async fn both(
    w: &World,
    method: Method,
    path: &dyn Fn(&Side) -> String,
    body: &dyn Fn(&Side) -> Option<String>,
) -> Result<[Reply; 2], TestCaseError> {
    let mut replies = Vec::with_capacity(2);
    for side in &w.sides {
        let mut req = side
            .app
            .http
            .request(method.clone(), format!("{}{}", side.app.base, path(side)))
            .bearer_auth(&side.token);
        if let Some(b) = body(side) {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| TestCaseError::fail(format!("request failed: {e}")))?;
        replies.push(Reply::from(res).await);
    }
    let [a, b]: [Reply; 2] = replies
        .try_into()
        .map_err(|_| TestCaseError::fail("two replies"))?;
    let what = path(&w.sides[0]);
    prop_assert!(a.status < 500, "SQLite {} on {what}: {}", a.status, a.body);
    prop_assert!(
        b.status < 500,
        "PostgreSQL {} on {what}: {}",
        b.status,
        b.body
    );
    prop_assert_eq!(
        a.status,
        b.status,
        "status on {}: {} vs {}",
        what,
        a.body,
        b.body
    );
    prop_assert_eq!(
        normalize(&a.body, &w.sides[0]),
        normalize(&b.body, &w.sides[1]),
        "body on {}",
        what
    );
    Ok([a, b])
}

#[derive(Clone, Debug)]
struct Case {
    text: String,
    /// A raw (not encoded) query fragment: broken percent-encoding and the like.
    raw: String,
    /// Which filter gets the raw fragment.
    raw_filter: usize,
    surrogate: u16,
}

fn text() -> impl Strategy<Value = String> {
    let specials = prop::sample::select(vec![
        "%",
        "_",
        "\\",
        "'",
        "\"",
        "%_",
        "\\%",
        "%%",
        "\u{0}",
        "a\u{0}",
        "\u{1}",
        "\t",
        "\r\n",
        "\u{7f}",
        "İ",
        "i̇",
        "ß",
        "SS",
        "Ω",
        "ω",
        "😀",
        "ａ",
        "ix",
        "IX",
        "i",
        " ",
        "",
        "admin",
        "ADMIN",
        "pn",
        "PN",
        "PN%",
        "PN%_\\x",
        "PNé",
        "%zz",
        "%00",
        "+",
        "&",
        "=",
        "#",
        "?",
        "phone-number",
        "billing",
    ])
    .prop_map(str::to_owned);
    let names = prop::sample::select(NAMES.to_vec()).prop_flat_map(|n| {
        let chars: Vec<char> = n.chars().collect();
        let len = chars.len();
        (0..len, 1..=len).prop_map(move |(start, l)| {
            chars[start..(start + l).min(len)]
                .iter()
                .collect::<String>()
        })
    });
    prop_oneof![
        3 => specials,
        3 => names,
        2 => "[%_\\\\'\"a-zA-Z0-9 ]{0,12}",
        2 => ".{0,16}",
        1 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
        1 => "[a-z]{250,300}",
        1 => "[a-fA-F0-9xXiI]{1,36}",
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let raw = prop::sample::select(vec![
        "%",
        "%zz",
        "%ff",
        "%C3",
        "%00",
        "a%2",
        "%E2%82",
        "+",
        "%2B",
        "%C0%AF",
        "%ED%A0%80",
        "%F4%90%80%80",
        "%25",
        "%5C",
        "%0a",
        "%7F",
        "x%",
    ])
    .prop_map(str::to_owned);
    (text(), raw, 0..FILTERS.len(), 0xD800u16..=0xDFFF).prop_map(
        |(text, raw, raw_filter, surrogate)| Case {
            text,
            raw,
            raw_filter,
            surrogate,
        },
    )
}

/// (endpoint, filter) of every list endpoint; `{org}` is the side's organization.
const FILTERS: &[(&str, &str)] = &[
    (ROLES, "Search"),
    (ROLES, "RoleProductGroup"),
    (ROLES, "ResourceTypes"),
    (ROLES, "Expand"),
    (V2, "Identity"),
    (V2, "Scope"),
    (V2, "ResourceType"),
    (V2, "ResourceId"),
    ("/Organizations/{org}/RoleAssignments", "Identity"),
    ("/Organizations/{org}/RoleAssignments", "Scope"),
    ("/Organizations/{org}/RoleAssignments", "ResourceType"),
    ("/Organizations/{org}/RoleAssignments", "ResourceId"),
    (AUDIT, "Action"),
    (AUDIT, "Actor"),
    (AUDIT, "Target"),
    (AUDIT, "StartDate"),
    (AUDIT, "EndDate"),
    ("/Organizations/{org}/Accounts", "PageSize"),
];

fn page_size(endpoint: &str) -> u32 {
    if endpoint == ROLES || endpoint == AUDIT {
        1000
    } else {
        100
    }
}

async fn check(w: &World, c: &Case) -> Result<(), TestCaseError> {
    // Every filter of every list endpoint, the text encoded.
    for (i, (endpoint, filter)) in FILTERS.iter().enumerate() {
        let size = page_size(endpoint);
        let path = |s: &Side| {
            let e = endpoint.replace("{org}", s.app.org.as_str());
            format!("{e}?{}&PageSize={size}", encode(filter, &c.text))
        };
        let [a, _] = both(w, Method::GET, &path, &|_| None).await?;
        if *endpoint == ROLES && *filter == "Search" {
            let got: Option<Vec<String>> = (a.status == 200).then(|| {
                a.body["roles"]
                    .as_array()
                    .map(|rows| {
                        rows.iter()
                            .map(|r| r["sid"].as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default()
            });
            prop_assert_eq!(
                got,
                oracle(&w.roles, &c.text),
                "Search={:?}: {}",
                c.text,
                a.body
            );
        }
        // The raw fragment, on one filter per case.
        if i == c.raw_filter {
            let path = |s: &Side| {
                let e = endpoint.replace("{org}", s.app.org.as_str());
                format!("{e}?{filter}={}{}", c.raw, encode("x", &c.text))
            };
            both(w, Method::GET, &path, &|_| None).await?;
        }
    }

    // Every string field of the create body in turn, the others valid.
    for field in [
        "role_sid",
        "scope",
        "identity",
        "resource_type",
        "resource_id",
    ] {
        let body = |s: &Side| {
            let mut b = json!({
                "role_sid": w.typed_role.as_str(),
                "scope": s.app.org.as_str(),
                "identity": w.user.as_str(),
                "resource_type": "phone-number",
                "resource_id": "PN-agreement",
            });
            b[field] = Value::String(c.text.clone());
            Some(b.to_string())
        };
        let [a, b] = both(w, Method::POST, &|_| V2.to_owned(), &body).await?;
        if a.status == 201 {
            // Undo, so both stores stay identical.
            for (side, r) in w.sides.iter().zip([&a, &b]) {
                let sid = r.body["sid"].as_str().unwrap_or_default();
                let d = side
                    .app
                    .send(Method::DELETE, &format!("{V2}/{sid}"), &side.token, None)
                    .await;
                prop_assert_eq!(d.status, 204, "{}", d.body);
            }
        }
    }
    // A lone surrogate, escaped, inside the text.
    let escaped = Value::String(c.text.clone()).to_string();
    let lone = format!("{}\\u{:04x}\"", &escaped[..escaped.len() - 1], c.surrogate);
    let body = |s: &Side| {
        Some(format!(
            r#"{{"role_sid":"{}","scope":"{}","identity":"{}","resource_type":"phone-number","resource_id":{lone}}}"#,
            w.typed_role, s.app.org, w.user
        ))
    };
    let [a, _] = both(w, Method::POST, &|_| V2.to_owned(), &body).await?;
    prop_assert_eq!(a.status, 400, "lone surrogate: {}", a.body);
    Ok(())
}

#[test]
fn engines_agree_whatever_the_bytes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let w = Arc::new(rt.block_on(world()));
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    });
    let result = runner.run(&case(), |c| rt.block_on(check(&w, &c)));
    if let Err(e) = result {
        panic!("the engines disagree: {e}");
    }
    drop(w);
    rt.shutdown_background();
}
