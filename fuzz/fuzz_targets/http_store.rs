//! Whole requests through the HTTP stack into a real SQLite store: the router of a real
//! `Application` (every middleware, extractor and handler) over a SQLite file with a bootstrap
//! organization, a user, an account, custom roles and assignments, driven in-process without a
//! socket. A token for the bootstrap app (allowed everything) is fetched once through the
//! router's own token endpoint.
//!
//! Input layout: byte 0 picks the route (`ROUTES`, `{seg}` filled from the input), byte 1 the
//! method (bits 0-1), whether to omit the bearer token (bit 2) and the Content-Type (bits 3-4);
//! the rest is `segment \n query \n body`.
//!
//! Properties: no request crashes the server or gets a 5xx; every error outside the token
//! endpoint is the contract's four-key body with a matching code; and no string in any answer
//! holds NUL or a control character other than tab, CR and LF (nothing hostile was stored).
#![no_main]

use std::sync::{LazyLock, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, Uri, header};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower_service::Service;

use orgiam_domain::model::{Account, Actor, Level, Role, User};
use orgiam_domain::policy::{Pattern, Policy};
use orgiam_domain::sid::{AccountSid, OrgSid, RoleSid, UserSid};
use orgiam_server::{Application, ServerConfig};

const ROUTES: [&str; 12] = [
    "/v2/Organizations/Roles",
    "/v2/Organizations/Roles/{seg}",
    "/v2/Organizations/RoleAssignments",
    "/v2/Organizations/RoleAssignments/{seg}",
    "/Organizations/{org}/RoleAssignments",
    "/Organizations/{org}/RoleAssignments/{seg}",
    "/Organizations/{seg}/Accounts",
    "/Organizations/{org}/Accounts/{seg}",
    "/v1/Roles/{seg}/Permissions",
    "/v2/Organizations/AuditEvents",
    "/v2/token",
    "/{seg}",
];
const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::DELETE, Method::PUT];
const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
];

struct Server {
    rt: tokio::runtime::Runtime,
    router: Mutex<axum::Router>,
    org: String,
    token: String,
}

fn fixed<T>(r: Result<T, impl std::fmt::Display>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("fuzz setup: {what}: {e}"))
}

/// Sends one request; the status and the body.
async fn send(router: &mut axum::Router, req: Request<Body>) -> (u16, Vec<u8>) {
    fixed(
        std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(router, cx)).await,
        "router ready",
    );
    let res = match router.call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = res.status().as_u16();
    let body = fixed(
        axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024).await,
        "read body",
    );
    (status, body.to_vec())
}

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let rt = fixed(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        "runtime",
    );
    let dir = std::env::temp_dir().join(format!("orgiam-fuzz-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    fixed(std::fs::create_dir_all(&dir), "temp dir");
    let url = format!("sqlite://{}", dir.join("fuzz.db").display());
    let (router, org, token) = rt.block_on(async {
        let store = fixed(
            orgiam_store::connect(&orgiam_store::DatabaseUrl::new(&url)).await,
            "store",
        );
        let boot = fixed(
            orgiam_server::bootstrap::bootstrap(store.as_ref()).await,
            "bootstrap",
        )
        .unwrap_or_else(|| panic!("a fresh store bootstraps"));
        seed(store.as_ref(), &boot.org).await;
        let mut config = ServerConfig {
            listen: fixed("127.0.0.1:0".parse(), "addr"),
            public_url: None,
            poll_interval: std::time::Duration::from_secs(3600),
            limits: Default::default(),
            role_page_cache: true,
            decision_index: true,
        };
        config.limits.api_rate.per_second = 0;
        config.limits.token_rate.per_second = 0;
        let app = fixed(Application::build(config, store).await, "application");
        let mut router = app.router();
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            boot.client_id, boot.client_secret
        );
        let req = fixed(
            Request::post("/v2/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form)),
            "token request",
        );
        let (status, body) = send(&mut router, req).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = fixed(serde_json::from_slice(&body), "token json");
        let token = v["access_token"].as_str().unwrap_or_default().to_owned();
        (router, boot.org.to_string(), token)
    });
    Server {
        rt,
        router: Mutex::new(router),
        org,
        token,
    }
});

/// A user, an account and a subaccount, custom roles (one typed), and an assignment.
async fn seed(store: &dyn orgiam_domain::store::Store, org: &OrgSid) {
    let user = fixed(
        UserSid::parse("US0123456789abcdef0123456789abcdef"),
        "user sid",
    );
    fixed(
        store
            .create_user(&User {
                sid: user.clone(),
                org: org.clone(),
                email: "fuzz@example.com".into(),
                friendly_name: "Fuzz".into(),
                date_created: 0,
            })
            .await,
        "user",
    );
    let account = fixed(
        AccountSid::parse("AC0123456789abcdef0123456789abcdef"),
        "account sid",
    );
    for (sid, parent) in [
        (account.clone(), None),
        (
            fixed(
                AccountSid::parse("AC1123456789abcdef0123456789abcdef"),
                "sub sid",
            ),
            Some(account.clone()),
        ),
    ] {
        fixed(
            store
                .create_account(&Account {
                    sid,
                    org: org.clone(),
                    parent,
                    friendly_name: "Prod".into(),
                    status: "active".into(),
                    owner: Some(user.clone()),
                    date_created: 0,
                })
                .await,
            "account",
        );
    }
    let roles: Vec<Role> = ["100% Real_Role \\ Admin", "Straße Writer", "Phone Operator"]
        .iter()
        .enumerate()
        .map(|(i, name)| Role {
            sid: fixed(RoleSid::parse(&format!("IX{i:032x}")), "role sid"),
            org: Some(org.clone()),
            friendly_name: (*name).to_owned(),
            external_description: "fuzz".into(),
            product_group: "billing".into(),
            product_group_name: "Billing".into(),
            lowest_level: Level::SubAccount,
            policy: Policy {
                allow: vec![fixed(Pattern::parse("/twilio/billing/*"), "pattern")],
                deny: None,
            },
            resource_types: (i == 2).then(|| vec!["phone-number".to_owned()]),
            date_created: 0,
            date_updated: 0,
        })
        .collect();
    let mut batches = Some(roles);
    let mut next = move || Ok(batches.take());
    fixed(
        store.import_roles(org, &mut next, &Actor::cli()).await,
        "import",
    );
}

/// Whether any string of `v` (keys included) holds a character the text rule refuses.
fn hostile(v: &Value) -> Option<String> {
    let bad = |s: &str| {
        s.chars()
            .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\r' | '\n'))
            .then(|| s.to_owned())
    };
    match v {
        Value::String(s) => bad(s),
        Value::Array(a) => a.iter().find_map(hostile),
        Value::Object(m) => m.iter().find_map(|(k, x)| bad(k).or_else(|| hostile(x))),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let seg = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default().to_vec();
    let server = &*SERVER;
    let template = ROUTES[usize::from(*route) % ROUTES.len()];
    let mut target = template.replace("{org}", &server.org).into_bytes();
    if let Some(at) = target.windows(5).position(|w| w == b"{seg}") {
        target.splice(at..at + 5, seg.iter().copied());
    }
    if !query.is_empty() {
        target.push(b'?');
        target.extend_from_slice(query);
    }
    // What the HTTP parser refuses never reaches the router.
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    if uri.path_and_query().is_none() {
        return;
    }
    // The token endpoints answer errors in the OAuth shape (RFC 6749 and Twilio's keys).
    let token_route = matches!(uri.path(), "/v2/token" | "/v1/token");
    let mut req = Request::builder()
        .method(METHODS[usize::from(flags & 3)].clone())
        .uri(uri);
    if flags & 4 == 0 {
        req = req.header(header::AUTHORIZATION, format!("Bearer {}", server.token));
    }
    if let Some(ct) = CONTENT_TYPES[usize::from((flags >> 3) & 3)] {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req = req.header(header::CONTENT_LENGTH, body.len());
    let Ok(req) = req.body(Body::from(body)) else {
        return;
    };
    let mut router = server
        .router
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (status, bytes) = server.rt.block_on(send(&mut router, req));
    assert!(
        status < 500,
        "a 5xx: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if bytes.is_empty() {
        assert!(
            status == 204 || status == 405 || status == 411,
            "empty body with {status}"
        );
        return;
    }
    let v: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    if let Some(s) = hostile(&v) {
        panic!("a control character came back: {s:?} in {v}");
    }
    if status >= 400 && !token_route {
        let keys: Vec<&str> = v
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["code", "message", "more_info", "status"], "{v}");
        assert_eq!(v["status"], status, "{v}");
        let code = v["code"].as_u64().unwrap_or_default();
        let expected: &[u64] = match status {
            400 | 413 | 431 => &[20001],
            401 | 403 => &[20003],
            404 => &[20404],
            405 => &[20004],
            409 => &[20409],
            429 => &[20429],
            _ => &[],
        };
        assert!(expected.contains(&code), "code {code} for {status}: {v}");
    }
});
