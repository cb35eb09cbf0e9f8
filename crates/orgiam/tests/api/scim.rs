//! SCIM 2.0 users over HTTP (`/Organizations/{OR}/scim/...`): the round trip, filters, PATCH
//! as identity providers send it, versions and concurrent changes, the rest of the model
//! (inactive users, deletion with assignments, the command line's users), discovery, and bad
//! input answered with the SCIM error body. Runs on SQLite, and on PostgreSQL with
//! `ORGIAM_TEST_ENGINE=postgres`.

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::Level;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};

mod model;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Scim {
    app: TestApp,
    token: String,
}

fn users_path(app: &TestApp) -> String {
    format!("/Organizations/{}/scim/Users", app.org)
}

impl Scim {
    async fn new() -> Self {
        let app = spawn_app().await;
        let token = app.token().await;
        Self { app, token }
    }

    fn users(&self) -> String {
        users_path(&self.app)
    }

    fn user(&self, id: &str) -> String {
        format!("{}/{id}", self.users())
    }

    /// A request with raw bytes and headers.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut req = self
            .app
            .http
            .request(method, format!("{}{path}", self.app.base))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Reply {
        let mut h = vec![("Content-Type", "application/scim+json")];
        h.extend_from_slice(headers);
        self.raw(method, path, &h, Some(body.to_string().into_bytes()))
            .await
    }

    async fn create(&self, body: Value) -> Reply {
        self.json(Method::POST, &self.users(), &[], body).await
    }

    async fn create_ok(&self, user_name: &str) -> Value {
        let r = self
            .create(json!({
                "schemas": [USER_SCHEMA],
                "userName": user_name,
                "externalId": format!("ext-{user_name}"),
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": user_name, "type": "work", "primary": true}],
            }))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    async fn get(&self, path: &str) -> Reply {
        self.raw(Method::GET, path, &[], None).await
    }

    async fn patch(&self, id: &str, headers: &[(&str, &str)], ops: Value) -> Reply {
        self.json(
            Method::PATCH,
            &self.user(id),
            headers,
            json!({"schemas": [PATCH_SCHEMA], "Operations": ops}),
        )
        .await
    }

    async fn filter(&self, filter: &str) -> Reply {
        let q: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        self.get(&format!("{}?filter={q}", self.users())).await
    }

    async fn total(&self) -> u64 {
        let r = self.get(&self.users()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["totalResults"].as_u64().expect("totalResults")
    }
}

/// Asserts a SCIM error body with Twilio's fields.
fn assert_scim_error(r: &Reply, status: u16, scim_type: Option<&str>, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/scim+json"),
        "{}",
        r.body
    );
    assert_eq!(r.body["schemas"], json!([ERROR_SCHEMA]), "{}", r.body);
    assert_eq!(r.body["status"], status.to_string(), "{}", r.body);
    let code = match status {
        400 | 413 => 20001,
        401 | 403 => 20003,
        404 => 20404,
        405 => 20004,
        409 | 412 => 20409,
        _ => 20500,
    };
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert_eq!(
        r.body["moreInfo"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    match scim_type {
        Some(t) => assert_eq!(r.body["scimType"], t, "{}", r.body),
        None => assert!(r.body.get("scimType").is_none(), "{}", r.body),
    }
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains(needle),
        "detail {detail:?} should mention {needle:?}"
    );
}

#[tokio::test]
async fn create_fetch_replace_delete_round_trip() {
    let s = Scim::new().await;
    let r = s
        .create(json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "Ada@Example.com",
            "externalId": "00u1",
            "displayName": "Ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
            "active": true,
            "password": "ignored",
            "id": "USffffffffffffffffffffffffffffffff",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("US") && id.len() == 34, "{id}");
    assert_ne!(id, "USffffffffffffffffffffffffffffffff");
    let location = format!("{}{}", s.app.base, s.user(&id));
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(
        crate::helpers::keys(&r.body),
        [
            "schemas",
            "id",
            "externalId",
            "userName",
            "displayName",
            "name",
            "emails",
            "active",
            "meta"
        ]
    );
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.body["meta"]["location"], location);
    assert!(r.body.get("password").is_none());

    // Fetch; If-None-Match with the current version is a 304, another version a 200.
    let got = s.get(&s.user(&id)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body, r.body);
    assert_eq!(got.header("etag"), Some("W/\"1\""));
    let nm = s
        .raw(
            Method::GET,
            &s.user(&id),
            &[("If-None-Match", "W/\"1\"")],
            None,
        )
        .await;
    assert_eq!(nm.status, 304);
    assert_eq!(nm.header("etag"), Some("W/\"1\""));
    let nm = s
        .raw(
            Method::GET,
            &s.user(&id),
            &[("If-None-Match", "W/\"7\"")],
            None,
        )
        .await;
    assert_eq!(nm.status, 200);

    // Replace: absent attributes are cleared, the version grows.
    let put = s
        .json(
            Method::PUT,
            &s.user(&id),
            &[("If-Match", "W/\"1\"")],
            json!({"schemas": [USER_SCHEMA], "userName": "ada@example.com", "active": "False",
                   "emails": [{"value": "ada@home.example", "type": "home"}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.header("etag"), Some("W/\"2\""));
    assert_eq!(put.body["active"], false);
    assert!(put.body.get("externalId").is_none());
    assert!(put.body.get("name").is_none());
    assert_eq!(put.body["emails"][0]["value"], "ada@home.example");
    // The same body again changes nothing: the version stays.
    let again = s
        .json(
            Method::PUT,
            &s.user(&id),
            &[],
            json!({"schemas": [USER_SCHEMA], "userName": "ada@example.com", "active": "False",
                   "emails": [{"value": "ada@home.example", "type": "home"}]}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.header("etag"), Some("W/\"2\""));

    // Delete; then it is gone.
    let d = s.raw(Method::DELETE, &s.user(&id), &[], None).await;
    assert_eq!(d.status, 204, "{}", d.body);
    let gone = s.get(&s.user(&id)).await;
    assert_scim_error(&gone, 404, None, &id);
    let d = s.raw(Method::DELETE, &s.user(&id), &[], None).await;
    assert_scim_error(&d, 404, None, &id);
}

#[tokio::test]
async fn filters_find_users_and_pages_count() {
    let s = Scim::new().await;
    for i in 0..5 {
        s.create_ok(&format!("user{i}@example.com")).await;
    }
    let r = s.filter("userName eq \"USER3@EXAMPLE.COM\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        crate::helpers::keys(&r.body),
        [
            "Resources",
            "schemas",
            "totalResults",
            "startIndex",
            "itemsPerPage"
        ]
    );
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["userName"], "user3@example.com");
    let r = s.filter("externalId eq \"ext-user2@example.com\"").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    let r = s.filter("externalId eq \"EXT-user2@example.com\"").await;
    assert_eq!(r.body["totalResults"], 0, "externalId is case-exact");
    let r = s.filter("emails.value eq \"User4@example.com\"").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    let r = s
        .filter("emails[type eq \"work\" and value co \"user1\"] or userName sw \"user4\"")
        .await;
    assert_eq!(r.body["totalResults"], 2, "{}", r.body);
    let r = s.filter("not (userName eq \"user0@example.com\")").await;
    assert_eq!(r.body["totalResults"], 4, "{}", r.body);

    // Paging: startIndex is 1-based, count bounds the page, totalResults counts all.
    let r = s
        .get(&format!(
            "{}?startIndex=2&count=2&sortBy=userName&sortOrder=descending",
            s.users()
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|u| u["userName"].as_str().expect("userName"))
        .collect();
    assert_eq!(names, ["user3@example.com", "user2@example.com"]);
    let r = s.get(&format!("{}?count=0", s.users())).await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));

    // .search takes the same in a body.
    let r = s
        .json(
            Method::POST,
            &format!("{}/.search", s.users()),
            &[],
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "userName ew \"3@example.com\"", "startIndex": 1, "count": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    let r = s
        .json(
            Method::POST,
            &format!("{}/.search", s.users()),
            &[],
            json!({"filter": "userName pr"}),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidSyntax"), "SearchRequest");
}

#[tokio::test]
async fn bad_filters_are_invalid_filter_never_500() {
    let s = Scim::new().await;
    s.create_ok("a@example.com").await;
    for (filter, needle) in [
        ("nickName eq \"x\"", "nickName"),
        ("userName eq", "filter"),
        ("userName zz \"x\"", "filter"),
        ("(userName eq \"x\"", "filter"),
        ("active eq \"x\"", "active"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"x\"",
            "filter",
        ),
        ("meta.created gt \"yesterday\"", "meta.created"),
    ] {
        let r = s.filter(filter).await;
        assert_scim_error(&r, 400, Some("invalidFilter"), needle);
    }
    // Beyond the limits: length, depth, comparisons.
    let long = format!("userName eq \"{}\"", "x".repeat(3000));
    let r = s.filter(&long).await;
    assert_scim_error(&r, 400, Some("invalidFilter"), "filter");
    let deep = format!("{}userName pr{}", "not (".repeat(20), ")".repeat(20));
    let r = s.filter(&deep).await;
    assert_scim_error(&r, 400, Some("invalidFilter"), "filter");
    let many = vec!["userName pr"; 40].join(" or ");
    let r = s.filter(&many).await;
    assert_scim_error(&r, 400, Some("invalidFilter"), "filter");
    // A NUL or control character in the query string: the SCIM body too.
    let r = s
        .get(&format!("{}?filter=userName%20eq%20%22a%00%22", s.users()))
        .await;
    assert_scim_error(&r, 400, Some("invalidValue"), "filter");
    let r = s.get(&format!("{}?count=abc", s.users())).await;
    assert_scim_error(&r, 400, Some("invalidValue"), "count");
    let r = s.get(&format!("{}?sortBy=emails", s.users())).await;
    assert_scim_error(&r, 400, Some("invalidValue"), "sortBy");
}

#[tokio::test]
async fn bad_bodies_answer_the_scim_error_and_write_nothing() {
    let s = Scim::new().await;
    let existing = s.create_ok("taken@example.com").await;
    let id = existing["id"].as_str().expect("id").to_owned();
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"{not json".to_vec(), "invalidSyntax", "JSON"),
        (b"".to_vec(), "invalidSyntax", "JSON"),
        (b"[1, 2]".to_vec(), "invalidSyntax", "object"),
        (
            json!({"userName": "x@example.com"})
                .to_string()
                .into_bytes(),
            "invalidSyntax",
            "schemas",
        ),
        (
            json!({"schemas": ["urn:example:Other"], "userName": "x@example.com"})
                .to_string()
                .into_bytes(),
            "invalidSyntax",
            "schemas",
        ),
        (
            json!({"schemas": [USER_SCHEMA]}).to_string().into_bytes(),
            "invalidValue",
            "userName",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": 42})
                .to_string()
                .into_bytes(),
            "invalidValue",
            "userName",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "x@example.com", "active": "maybe"})
                .to_string()
                .into_bytes(),
            "invalidValue",
            "active",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "x@example.com", "emails": "x"})
                .to_string()
                .into_bytes(),
            "invalidValue",
            "emails",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "x\u{0}y@example.com"})
                .to_string()
                .into_bytes(),
            "invalidValue",
            "userName",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "x\u{1b}y@example.com"})
                .to_string()
                .into_bytes(),
            "invalidValue",
            "userName",
        ),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "x".repeat(300)})
                .to_string()
                .into_bytes(),
            "invalidValue",
            "userName",
        ),
    ];
    for (body, scim_type, needle) in &cases {
        let r = s
            .raw(
                Method::POST,
                &s.users(),
                &[("Content-Type", "application/scim+json")],
                Some(body.clone()),
            )
            .await;
        assert_scim_error(&r, 400, Some(scim_type), needle);
        // PUT takes the same checks.
        let r = s
            .raw(
                Method::PUT,
                &s.user(&id),
                &[("Content-Type", "application/json")],
                Some(body.clone()),
            )
            .await;
        assert_scim_error(&r, 400, Some(scim_type), needle);
    }
    // Not JSON at all.
    let r = s
        .raw(
            Method::POST,
            &s.users(),
            &[("Content-Type", "text/plain")],
            Some(b"userName=x".to_vec()),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidSyntax"), "JSON");
    // Oversize: the SCIM body, 413.
    let big = json!({"schemas": [USER_SCHEMA], "userName": "big@example.com",
                     "nickName": "x".repeat(200_000)});
    let r = s.create(big).await;
    assert_scim_error(&r, 413, None, "too large");
    // A duplicate userName, in any case: 409 uniqueness.
    let r = s
        .create(json!({"schemas": [USER_SCHEMA], "userName": "TAKEN@example.com"}))
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"), "TAKEN@example.com");

    assert_eq!(s.total().await, 1, "nothing was written");
    let now = s.get(&s.user(&id)).await;
    assert_eq!(now.body, existing, "the user is unchanged");
}

#[tokio::test]
async fn patch_as_identity_providers_send_it() {
    let s = Scim::new().await;
    let u = s.create_ok("grace@example.com").await;
    let id = u["id"].as_str().expect("id").to_owned();

    // Okta: replace without a path.
    let r = s
        .patch(
            &id,
            &[],
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.header("etag"), Some("W/\"2\""));

    // Entra ID: `Replace`, value paths, sub-attributes, string booleans, enterprise paths.
    let r = s
        .patch(
            &id,
            &[],
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "grace.h@example.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Grace"},
                {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "grace@home.example"},
                {"op": "Replace", "path": "active", "value": "True"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Navy"},
                {"op": "replace", "value": {"displayName": "Grace Hopper", "name.familyName": "Hopper"}},
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["displayName"], "Grace Hopper");
    assert_eq!(r.body["name"]["givenName"], "Grace");
    assert_eq!(r.body["name"]["familyName"], "Hopper");
    assert_eq!(r.body["emails"][0]["value"], "grace.h@example.com");
    assert_eq!(r.body["emails"][1]["value"], "grace@home.example");
    assert_eq!(r.body["emails"][1]["type"], "home");
    assert_eq!(r.header("etag"), Some("W/\"3\""));
    // The new email is found by filter at once.
    let f = s.filter("emails.value eq \"GRACE@home.example\"").await;
    assert_eq!(f.body["totalResults"], 1, "{}", f.body);

    // Multi-valued remove with a filter, then an unset.
    let r = s
        .patch(
            &id,
            &[],
            json!([
                {"op": "remove", "path": "emails[type eq \"home\"]"},
                {"op": "remove", "path": "displayName"},
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["emails"].as_array().map(Vec::len), Some(1));
    assert!(r.body.get("displayName").is_none());
    let f = s.filter("emails.value eq \"grace@home.example\"").await;
    assert_eq!(f.body["totalResults"], 0, "{}", f.body);

    // A PATCH that breaks a rule changes nothing: every operation or none.
    let before = s.get(&s.user(&id)).await.body;
    let other = s.create_ok("other@example.com").await;
    for (ops, status, scim_type) in [
        (
            json!([{"op": "replace", "path": "displayName", "value": "X"},
                   {"op": "replace", "path": "userName", "value": "OTHER@example.com"}]),
            409,
            "uniqueness",
        ),
        (
            json!([{"op": "replace", "path": "displayName", "value": "X"},
                   {"op": "remove", "path": "userName"}]),
            400,
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "displayName", "value": "X"},
                   {"op": "replace", "path": "id", "value": "US00000000000000000000000000000000"}]),
            400,
            "mutability",
        ),
        (json!([{"op": "remove"}]), 400, "noTarget"),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
            400,
            "invalidPath",
        ),
        (
            json!([{"op": "frobnicate", "path": "displayName", "value": "x"}]),
            400,
            "invalidSyntax",
        ),
    ] {
        let r = s.patch(&id, &[], ops.clone()).await;
        assert_eq!(r.status, status, "{ops}: {}", r.body);
        assert_eq!(r.body["scimType"], scim_type, "{ops}: {}", r.body);
        assert_eq!(r.body["schemas"], json!([ERROR_SCHEMA]));
    }
    let r = s
        .json(
            Method::PATCH,
            &s.user(&id),
            &[],
            json!({"Operations": [{"op": "add", "path": "displayName", "value": "x"}]}),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidSyntax"), "PatchOp");
    assert_eq!(s.get(&s.user(&id)).await.body, before);
    assert_eq!(other["userName"], "other@example.com");
}
