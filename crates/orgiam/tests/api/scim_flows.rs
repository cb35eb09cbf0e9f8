//! Request sequences shaped like the identity providers' documented SCIM 2.0 provisioning
//! flows, on the engine under test: Okta's (connectivity probe with `startIndex`/`count`,
//! `userName eq` lookups before create, create with `password` and `groups`, profile pushes by
//! PUT, deactivation and reactivation by PATCH without `path`, the probe of a user that does
//! not exist) and Microsoft Entra ID's (create with `externalId` and the enterprise extension,
//! `userName eq` / `externalId eq` lookups including zero results, `Replace` with value paths,
//! sub-attributes and no path, `"active": "False"` as a string, hard delete, the 404s after).
//!
//! Every request is sent as those clients send it (`application/scim+json`, member names and
//! op names as they spell them); every answer is checked for the SCIM media type and, on
//! errors, for the SCIM error body with Twilio's fields.

use reqwest::Method;
use serde_json::{Value, json};

use orgiam_domain::sid::UserSid;

use crate::helpers::{Reply, TestApp, spawn_app};

const SCIM_JSON: &str = "application/scim+json";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A client of `/Organizations/{OR}/scim` that sends what the identity providers send.
struct Idp<'a> {
    app: &'a TestApp,
    token: String,
    base: String,
    /// Extra headers every request carries (an identity provider's own).
    user_agent: &'static str,
}

impl<'a> Idp<'a> {
    async fn new(app: &'a TestApp, user_agent: &'static str) -> Self {
        Self {
            token: app.token().await,
            base: format!("/Organizations/{}/scim", app.org),
            app,
            user_agent,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .app
            .http
            .request(method, format!("{}{}{path}", self.app.base, self.base))
            .bearer_auth(&self.token)
            .header("Accept", SCIM_JSON)
            .header("User-Agent", self.user_agent);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json; charset=utf-8")
                .body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let reply = Reply::from(req.send().await.expect("request")).await;
        if reply.status != 204 && reply.status != 304 {
            let ct = reply.header("content-type").unwrap_or_default();
            assert!(
                ct.starts_with(SCIM_JSON),
                "{path}: content type {ct:?}, body {}",
                reply.body
            );
        }
        reply
    }

    /// `GET /Users?filter=...` (the query string as the identity providers encode it).
    async fn lookup(&self, filter: &str, extra: &str) -> Reply {
        let q: String = url_encode(filter);
        let r = self
            .call(Method::GET, &format!("/Users?filter={q}{extra}"), None)
            .await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(r.body["schemas"], json!([LIST_SCHEMA]), "{}", r.body);
        r
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The ids of a ListResponse's resources (an empty list may omit `Resources`).
fn ids(list: &Value) -> Vec<&str> {
    list.get("Resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|u| u["id"].as_str()).collect())
        .unwrap_or_default()
}

/// The SCIM error body with Twilio's fields: schemas, status (a string), optional scimType,
/// detail, code and moreInfo naming that code.
fn assert_scim_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["schemas"], json!([ERROR_SCHEMA]), "{b}");
    assert_eq!(b["status"], json!(status.to_string()), "{b}");
    assert!(b["detail"].as_str().is_some_and(|d| !d.is_empty()), "{b}");
    let code = b["code"].as_u64().expect("numeric code");
    assert_eq!(
        b["moreInfo"],
        json!(format!("https://www.twilio.com/docs/errors/{code}")),
        "{b}"
    );
    if let Some(t) = scim_type {
        assert_eq!(b["scimType"], json!(t), "{b}");
    }
}

fn assert_user_answer(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    let version = r.body["meta"]["version"].as_str().expect("meta.version");
    assert!(version.starts_with("W/\""), "{version}");
    assert_eq!(r.header("etag"), Some(version), "ETag is meta.version");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(
        r.body["schemas"]
            .as_array()
            .is_some_and(|s| s.contains(&json!(USER_SCHEMA))),
        "{}",
        r.body
    );
}

/// `n` (at most 32) random hex digits.
fn random_hex(n: usize) -> String {
    UserSid::random().as_str()[2..2 + n].to_owned()
}

/// Okta's SCIM 2.0 flow: the "Test connector configuration" probe, import, push, deactivation,
/// reactivation. Okta looks a user up by `userName eq` before creating it, sends `password`
/// and `groups` on create, pushes profile changes with a full PUT that carries `id`, and
/// deactivates with `{"op": "replace", "value": {"active": false}}`.
#[tokio::test]
async fn okta_provisioning_flow() {
    let app = spawn_app().await;
    let okta = Idp::new(&app, "Okta SCIM Client 1.0.0").await;

    // Connectivity probe: the first page of two users.
    let r = okta
        .call(Method::GET, "/Users?startIndex=1&count=2", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["schemas"], json!([LIST_SCHEMA]));
    assert_eq!(r.body["startIndex"], 1);
    assert!(r.body["itemsPerPage"].as_u64().is_some_and(|n| n <= 2));
    assert!(r.body["totalResults"].is_u64());

    // Does the user exist? (no)
    let login = "Isaac.Brock@Example.com";
    let r = okta
        .lookup(
            &format!("userName eq \"{login}\""),
            "&startIndex=1&count=100",
        )
        .await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    assert!(ids(&r.body).is_empty());

    // Create, as Okta sends it.
    let r = okta
        .call(
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": [USER_SCHEMA],
                "userName": login,
                "name": {"givenName": "Isaac", "familyName": "Brock"},
                "emails": [{"primary": true, "value": login, "type": "work"}],
                "displayName": "Isaac Brock",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "password": "1mz050nq",
                "active": true
            })),
        )
        .await;
    assert_user_answer(&r, 201);
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("US") && id.len() == 34, "{id}");
    assert!(
        r.header("location")
            .is_some_and(|l| l.ends_with(&format!("/Organizations/{}/scim/Users/{id}", app.org))),
        "{:?}",
        r.header("location")
    );
    assert_eq!(r.body["userName"], login);
    assert_eq!(r.body["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(r.body["active"], true);
    assert!(
        r.body.get("password").is_none(),
        "password is never returned"
    );
    let created_version = r.body["meta"]["version"].as_str().expect("v").to_owned();

    // The same lookup finds it now, whatever the case Okta sends.
    for login in [login, "isaac.brock@example.com", "ISAAC.BROCK@EXAMPLE.COM"] {
        let r = okta
            .lookup(
                &format!("userName eq \"{login}\""),
                "&startIndex=1&count=100",
            )
            .await;
        assert_eq!(r.body["totalResults"], 1, "{login}: {}", r.body);
        assert_eq!(ids(&r.body), [id.as_str()]);
        assert_eq!(
            r.body["Resources"][0]["userName"],
            "Isaac.Brock@Example.com"
        );
    }

    // A second create of the same login: 409 uniqueness.
    let r = okta
        .call(
            Method::POST,
            "/Users",
            Some(
                json!({"schemas": [USER_SCHEMA], "userName": login.to_lowercase(), "active": true}),
            ),
        )
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"));

    // Import reads the user by id.
    let r = okta.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["meta"]["version"], created_version.as_str());

    // Profile push: a full PUT with the id, the same login, a new family name.
    let r = okta
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [USER_SCHEMA],
                "id": id,
                "userName": login,
                "name": {"givenName": "Isaac", "familyName": "Brock-Smith"},
                "emails": [{"primary": true, "value": login, "type": "work"}],
                "displayName": "Isaac Brock-Smith",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "active": true
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["name"]["familyName"], "Brock-Smith");
    assert_eq!(r.body["displayName"], "Isaac Brock-Smith");
    assert_ne!(r.body["meta"]["version"], created_version.as_str());

    // Deactivate: replace without a path.
    let r = okta
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "value": {"active": false}}]
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["active"], false);
    assert_eq!(
        r.body["name"]["familyName"], "Brock-Smith",
        "the rest is kept"
    );
    let r = okta
        .lookup(
            &format!("userName eq \"{login}\""),
            "&startIndex=1&count=100",
        )
        .await;
    assert_eq!(r.body["Resources"][0]["active"], false, "{}", r.body);
    let r = okta.lookup("active eq false", "").await;
    assert_eq!(ids(&r.body), [id.as_str()]);

    // Reactivate.
    let r = okta
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "value": {"active": true}}]
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["active"], true);

    // Okta's connector test reads a user that does not exist: 404 with the SCIM error body.
    let missing = UserSid::random();
    let r = okta
        .call(Method::GET, &format!("/Users/{missing}"), None)
        .await;
    assert_scim_error(&r, 404, None);
}

/// Okta's SCIM 2.0 spec test reads `GET /Users/010101001010101` and requires a 404: an id that
/// is not a user's is a user that does not exist (RFC 7644 §3.4.1 answers 404 for a resource
/// that is not there), whatever its shape.
#[tokio::test]
async fn okta_probe_of_an_id_that_is_no_sid_is_404() {
    let app = spawn_app().await;
    let okta = Idp::new(&app, "Okta SCIM Client 1.0.0").await;
    let r = okta.call(Method::GET, "/Users/010101001010101", None).await;
    assert_scim_error(&r, 404, None);
}

/// Microsoft Entra ID's flow, as its SCIM provisioning documentation shows the requests:
/// create with `externalId` (a GUID) and the enterprise extension, lookups by `userName eq`
/// and `externalId eq` (also zero results), PATCH with `Replace`/`Add` (capitalized) on value
/// paths, sub-attributes and without a path, `"active": "False"` as a string, then DELETE and
/// the 404s after it.
#[tokio::test]
async fn entra_provisioning_flow() {
    let app = spawn_app().await;
    let entra = Idp::new(&app, "Microsoft.Identity.ProvisioningService").await;
    let login = format!("Test_User_{}@testuser.com", random_hex(8));
    let external = "f6a8f9a6-3f2c-4b7e-9c6a-0d2e3b4a5c6d";

    // Get User by query - zero results.
    let r = entra.lookup(&format!("userName eq \"{login}\""), "").await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);

    // Create User.
    let r = entra
        .call(
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "externalId": external,
                "userName": login,
                "active": true,
                "emails": [{"primary": true, "type": "work", "value": login}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "roles": [],
                ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"}
            })),
        )
        .await;
    assert_user_answer(&r, 201);
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(r.body["externalId"], external);
    assert_eq!(r.body["name"]["formatted"], "givenName familyName");
    assert!(r.body.get(ENTERPRISE).is_none(), "the extension is ignored");

    // Get User, Get User by query (userName and externalId).
    let r = entra.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_user_answer(&r, 200);
    let r = entra.lookup(&format!("userName eq \"{login}\""), "").await;
    assert_eq!(ids(&r.body), [id.as_str()]);
    let r = entra
        .lookup(&format!("externalId eq \"{external}\""), "")
        .await;
    assert_eq!(ids(&r.body), [id.as_str()]);
    let r = entra
        .lookup(
            &format!("emails[type eq \"work\"].value eq \"{login}\""),
            "",
        )
        .await;
    assert_eq!(ids(&r.body), [id.as_str()], "{}", r.body);

    // Update User [multi-valued properties]: Replace on a value path, Replace on a
    // sub-attribute.
    let new_mail = format!("updated_{}@testuser.com", random_hex(6));
    let r = entra
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [
                    {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": new_mail},
                    {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
                ]
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(
        r.body["emails"][0]["value"],
        new_mail.as_str(),
        "{}",
        r.body
    );
    assert_eq!(r.body["emails"][0]["type"], "work");
    assert_eq!(r.body["name"]["familyName"], "updatedFamilyName");
    assert_eq!(r.body["name"]["givenName"], "givenName");
    let r = entra
        .lookup(&format!("emails.value eq \"{new_mail}\""), "")
        .await;
    assert_eq!(ids(&r.body), [id.as_str()]);

    // Update User [single-valued properties]: Replace userName by path; Add a sub-attribute;
    // Replace without a path.
    let renamed = format!("Renamed_{}@testuser.com", random_hex(8));
    let r = entra
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [
                    {"op": "Replace", "path": "userName", "value": renamed},
                    {"op": "Add", "path": "name.givenName", "value": "newGivenName"},
                    {"op": "Replace", "value": {"displayName": "New Display", "externalId": external}}
                ]
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["userName"], renamed.as_str());
    assert_eq!(r.body["name"]["givenName"], "newGivenName");
    assert_eq!(r.body["displayName"], "New Display");
    let r = entra.lookup(&format!("userName eq \"{login}\""), "").await;
    assert_eq!(r.body["totalResults"], 0, "the old userName is free");
    let r = entra
        .lookup(&format!("userName eq \"{renamed}\""), "")
        .await;
    assert_eq!(ids(&r.body), [id.as_str()]);

    // Disable User, as Entra sends it with string booleans: by path, then without one.
    let r = entra
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["active"], false, "\"False\" is false");
    let r = entra
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "Replace", "value": {"active": "True"}}]
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["active"], true);
    let r = entra
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "Replace", "value": {"active": "False"}}]
            })),
        )
        .await;
    assert_user_answer(&r, 200);
    assert_eq!(r.body["active"], false);
    let r = entra.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(r.body["active"], false, "the deactivation is stored");

    // A PATCH that would take a userName already in use changes nothing.
    let other = entra
        .call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": format!("other_{}@testuser.com", random_hex(6))})),
        )
        .await;
    assert_user_answer(&other, 201);
    let before = entra.call(Method::GET, &format!("/Users/{id}"), None).await;
    let r = entra
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [
                    {"op": "Replace", "path": "displayName", "value": "half-written?"},
                    {"op": "Replace", "path": "userName", "value": other.body["userName"].as_str().expect("u").to_uppercase()}
                ]
            })),
        )
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    let after = entra.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(after.body, before.body, "nothing changed");

    // Delete User, then the user is gone: GET, PATCH and DELETE are 404, lookups find nothing.
    let r = entra
        .call(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(r.body, Value::Null, "no body on 204");
    let r = entra.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_scim_error(&r, 404, None);
    let r = entra
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "Replace", "path": "active", "value": false}]
            })),
        )
        .await;
    assert_scim_error(&r, 404, None);
    let r = entra
        .call(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_scim_error(&r, 404, None);
    let r = entra
        .lookup(&format!("userName eq \"{renamed}\""), "")
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let r = entra
        .lookup(&format!("externalId eq \"{external}\""), "")
        .await;
    assert_eq!(r.body["totalResults"], 0);
}

/// Entra's "Create a duplicate user" and "filter with a different case" checks, and the
/// versioned requests an identity provider may send: If-None-Match on GET (304) and a stale
/// If-Match on PATCH (412, nothing changes).
#[tokio::test]
async fn duplicates_case_and_versions() {
    let app = spawn_app().await;
    let idp = Idp::new(&app, "Microsoft.Identity.ProvisioningService").await;
    let login = format!("Case.Test_{}@Example.org", random_hex(6));
    let r = idp
        .call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": login, "externalId": "abc-1"})),
        )
        .await;
    assert_user_answer(&r, 201);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let v1 = r.body["meta"]["version"].as_str().expect("v").to_owned();

    let r = idp
        .call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": login.to_lowercase(), "externalId": "abc-2"})),
        )
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"));

    let r = idp
        .lookup(&format!("userName eq \"{}\"", login.to_uppercase()), "")
        .await;
    assert_eq!(ids(&r.body), [id.as_str()]);

    let r = idp
        .call_with(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", &v1)],
        )
        .await;
    assert_eq!(r.status, 304);

    let r = idp
        .call_with(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "path": "displayName", "value": "one"}]
            })),
            &[("If-Match", &v1)],
        )
        .await;
    assert_user_answer(&r, 200);
    let v2 = r.body["meta"]["version"].as_str().expect("v").to_owned();
    assert_ne!(v1, v2);

    let r = idp
        .call_with(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "path": "displayName", "value": "two"}]
            })),
            &[("If-Match", &v1)],
        )
        .await;
    assert_scim_error(&r, 412, None);
    let r = idp.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(r.body["displayName"], "one");
    assert_eq!(r.body["meta"]["version"], v2.as_str());
}
