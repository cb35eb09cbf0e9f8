//! The text-input rule at every edge: NUL, control characters, invalid percent-encoding and
//! invalid UTF-8 are a 400 naming the parameter or field, before any store access, identically
//! on both engines (PostgreSQL refuses NUL itself, so a request that reached it would be a 500).
//! Also the decisions on repeated parameters, blank filters and `PageSize=+5`, and accounts'
//! owners.

use reqwest::Method;
use serde_json::{Value, json};

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::Level;

use crate::helpers::{Reply, TempDir, TestApp, spawn_app};

const ROLES: &str = "/v2/Organizations/Roles";
const V2: &str = "/v2/Organizations/RoleAssignments";
const AUDIT: &str = "/v2/Organizations/AuditEvents";

/// A token allowed everything, audit events included.
async fn admin_token(app: &TestApp) -> String {
    app.token_with(&app.org, &["/twilio/*"], &[]).await
}

#[tokio::test]
async fn every_request_of_the_report_is_a_400_naming_the_parameter() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let preview = format!("/Organizations/{}/RoleAssignments", app.org);
    let cases: Vec<(String, &str)> = vec![
        (format!("{ROLES}?Search=adm%00in"), "Search"),
        (format!("{ROLES}?Search=r%00&PageSize=1000"), "Search"),
        (format!("{ROLES}?Search=%00"), "Search"),
        (format!("{ROLES}?RoleProductGroup=%00"), "RoleProductGroup"),
        (format!("{ROLES}?ResourceTypes=%00"), "ResourceTypes"),
        (format!("{ROLES}?ResourceTypes=a,%00"), "ResourceTypes"),
        (format!("{ROLES}?Expand=%00"), "Expand"),
        (format!("{ROLES}?PageToken=%00"), "PageToken"),
        (format!("{AUDIT}?Action=%00"), "Action"),
        (format!("{AUDIT}?Actor=%00"), "Actor"),
        (format!("{AUDIT}?Target=%00"), "Target"),
        (format!("{AUDIT}?StartDate=%00"), "StartDate"),
        (format!("{V2}?ResourceType=%00"), "ResourceType"),
        (format!("{V2}?ResourceId=%00"), "ResourceId"),
        (format!("{V2}?Identity=%00"), "Identity"),
        (format!("{V2}?Scope=%00"), "Scope"),
        (format!("{preview}?ResourceId=x%00"), "ResourceId"),
        // Other control characters.
        (format!("{ROLES}?Search=a%01"), "Search"),
        (format!("{ROLES}?Search=%1b%5B31m"), "Search"),
        (format!("{ROLES}?Search=a%0Ab"), "Search"),
        (format!("{AUDIT}?Actor=%09"), "Actor"),
        // Invalid percent-encoding and invalid UTF-8: refused, not replaced.
        (format!("{ROLES}?Search=%zz"), "Search"),
        (format!("{ROLES}?Search=ab%"), "Search"),
        (format!("{ROLES}?Search=%4"), "Search"),
        (format!("{ROLES}?Search=%ff"), "Search"),
        (format!("{ROLES}?Search=%C3"), "Search"),
        (format!("{ROLES}?Search=%ED%A0%80"), "Search"),
        (format!("{V2}?ResourceId=%fe%ff"), "ResourceId"),
        // Unknown parameters are ignored, but not their bytes.
        (format!("{ROLES}?Extra=%00"), "Extra"),
        (format!("{ROLES}?Ex%00tra=1"), "query parameter name"),
        // On routes that read no query at all.
        (
            format!("{ROLES}/IX00000000000000000000000000000000?x=%00"),
            "x",
        ),
        (
            format!("/Organizations/{}/Accounts?PageSize=%00", app.org),
            "PageSize",
        ),
        // Path segments.
        (format!("{ROLES}/IX%00"), "path parameter sid"),
        (format!("{ROLES}/%ff%fe"), "UTF-8"),
        (
            "/Organizations/OR%01/Accounts".to_owned(),
            "path parameter org",
        ),
        (
            "/v1/Roles/IX%00/Permissions".to_owned(),
            "path parameter sid",
        ),
    ];
    for (path, needle) in &cases {
        let r = app.get(path, &token).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        r.assert_error(400, 20001, needle);
    }
    // The same bytes raw in a DELETE path.
    app.send(Method::DELETE, &format!("{V2}/IY%00"), &token, None)
        .await
        .assert_error(400, 20001, "path parameter sid");

    // Characters that are legal but special to SQL are literal, and find nothing here.
    for q in ["%25", "_", "%5C", "'", "%22", "%25%25", "a%25b", "%5C%25"] {
        let r = app
            .get(&format!("{ROLES}?Search={q}&PageSize=1000"), &token)
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        assert_eq!(r.body["roles"], json!([]), "{q}");
    }
    // And the server still serves.
    assert_eq!(app.get(ROLES, &token).await.status, 200);
}

#[tokio::test]
async fn hostile_json_bodies_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let user = app.create_user(&app.org).await;
    let role = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .find(|r| r.lowest_level == Level::SubAccount && r.resource_types.is_some())
        .expect("a typed role");
    let rtype = role.resource_types.as_ref().expect("types")[0].clone();
    let body = |rid: &str| {
        json!({"role_sid": role.sid, "scope": app.org, "identity": user,
               "resource_type": rtype, "resource_id": rid})
    };
    for (b, needle) in [
        (body("PN\u{0}x"), "resource_id must not contain NUL"),
        (body("PN\u{1}"), "resource_id must not contain"),
        (body("a\nb"), "resource_id must not contain"),
        (
            json!({"role_sid": format!("{}\u{0}", role.sid), "scope": app.org, "identity": user}),
            "role_sid must not contain NUL",
        ),
        (
            json!({"role_sid": role.sid, "scope": "\u{0}", "identity": user}),
            "scope must not contain NUL",
        ),
        (
            json!({"role_sid": role.sid, "scope": app.org, "identity": user, "extra": {"deep": ["ok", "\u{7}"]}}),
            "extra.deep[1] must not contain",
        ),
        (
            json!({"role_sid": role.sid, "scope": app.org, "identity": user, "k\u{0}": 1}),
            "field name",
        ),
        (
            json!({"roleSid": role.sid, "scope": app.org, "identity": user, "resourceType": rtype, "resourceId": "\u{0}"}),
            "resourceId must not contain NUL",
        ),
    ] {
        let r = app.send(Method::POST, V2, &token, Some(b.clone())).await;
        r.assert_error(400, 20001, needle);
    }
    // Lone surrogates, as escaped JSON, are not text at all.
    for raw in [
        r#"{"role_sid":"\ud800","scope":"x","identity":"y"}"#.to_owned(),
        format!(
            r#"{{"role_sid":"{}","scope":"{}","identity":"{user}","resource_type":"{rtype}","resource_id":"\udfff"}}"#,
            role.sid, app.org
        ),
    ] {
        let r = Reply::from(
            app.http
                .post(format!("{}{V2}", app.base))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(raw.clone())
                .send()
                .await
                .expect("POST"),
        )
        .await;
        r.assert_error(400, 20001, "not valid JSON");
    }
    // Nothing was stored; a clean body with every special character works.
    let list = app.get(V2, &token).await;
    assert_eq!(list.body["content"], json!([]), "{}", list.body);
    let special = "PN %_\\'\"é😀\u{7f}";
    let r = app
        .send(Method::POST, V2, &token, Some(body(special)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["resource_id"], special);
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("ResourceId", special)
        .finish();
    let found = app.get(&format!("{V2}?{q}"), &token).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["content"].as_array().map(Vec::len), Some(1));
    let prefix = app.get(&format!("{V2}?ResourceId=PN"), &token).await;
    assert_eq!(
        prefix.body["content"],
        json!([]),
        "exact match, not a prefix"
    );
}

#[tokio::test]
async fn hostile_token_forms_are_invalid_requests() {
    let app = spawn_app().await;
    for (form, needle) in [
        (
            format!(
                "grant_type=client_credentials&client_id={}%00&client_secret=x",
                app.client_id
            ),
            "client_id must not contain NUL",
        ),
        (
            format!(
                "grant_type=client_credentials&client_id={}&client_secret=%zz",
                app.client_id
            ),
            "client_secret is not valid percent-encoded",
        ),
        (
            "grant_type=client_credentials%01".to_owned(),
            "grant_type must not contain",
        ),
        ("grant_type=%ff".to_owned(), "grant_type is not valid"),
    ] {
        let r = Reply::from(
            app.http
                .post(format!("{}/v2/token", app.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone())
                .send()
                .await
                .expect("POST"),
        )
        .await;
        assert_eq!(r.status, 400, "{form}: {}", r.body);
        assert_eq!(r.body["error"], "invalid_request", "{form}");
        assert_eq!(r.body["code"], 20001);
        let m = r.body["message"].as_str().expect("message");
        assert!(m.contains(needle), "{form}: {m}");
    }
    // The right credentials still work.
    app.token().await;
}

fn run_cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = app.cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_arguments_and_import_lines_that_would_be_stored_are_checked() {
    let app = spawn_app().await;
    let org = app.org.to_string();
    let (ok, _, err) = run_cli(&app, &["orgs", "create", "--name", "a\u{1}b"]);
    assert!(!ok && err.contains("--name must not contain"), "{err}");
    let (ok, _, err) = run_cli(
        &app,
        &[
            "users",
            "create",
            "--org",
            &org,
            "--email",
            "a@example.com",
            "--name",
            "x\u{1b}[2J",
        ],
    );
    assert!(!ok && err.contains("--name must not contain"), "{err}");
    let (ok, _, err) = run_cli(
        &app,
        &[
            "apps",
            "create",
            "--org",
            &org,
            "--name",
            "ci\u{7}",
            "--allow",
            "/twilio/*",
        ],
    );
    assert!(!ok && err.contains("--name must not contain"), "{err}");
    let (ok, _, err) = run_cli(&app, &["audit", "--org", &org, "--actor", "a\u{2}"]);
    assert!(!ok && err.contains("--actor must not contain"), "{err}");

    // Import: a line with an escaped NUL stops the import before anything is written.
    let dir = TempDir::new();
    let file = dir.0.join("roles.jsonl");
    let good = r#"{"friendly_name":"Zzyzx Importable","product_group":"billing","lowest_level":"ACCOUNT","policy":{"allow":["/twilio/billing/invoices/read"]}}"#;
    let bad = r#"{"friendly_name":"Bad\u0000Role","product_group":"billing","lowest_level":"ACCOUNT","policy":{"allow":["/twilio/billing/invoices/read"]}}"#;
    std::fs::write(&file, format!("{good}\n{bad}\n")).expect("write");
    let path = file.display().to_string();
    let (ok, _, err) = run_cli(&app, &["roles", "import", "--org", &org, &path]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("line 2") && err.contains("friendly_name must not contain NUL"),
        "{err}"
    );
    let token = app.token().await;
    let r = app.get(&format!("{ROLES}?Search=zzyzx"), &token).await;
    assert_eq!(r.body["roles"], json!([]), "nothing imported");
}

#[tokio::test]
async fn an_account_has_an_owner() {
    let app = spawn_app().await;
    let org = app.org.to_string();
    let token = app.token().await;
    let (ok, _, err) = run_cli(
        &app,
        &["accounts", "create", "--org", &org, "--name", "Prod"],
    );
    assert!(!ok && err.contains("--owner is required"), "{err}");
    let user = app.create_user(&app.org).await.to_string();
    let sid = |out: &str| -> String {
        let v: Value = serde_json::from_str(out).expect("json");
        v["account_sid"].as_str().expect("account_sid").to_owned()
    };
    let (ok, out, err) = run_cli(
        &app,
        &[
            "accounts", "create", "--org", &org, "--name", "Prod", "--owner", &user, "--json",
        ],
    );
    assert!(ok, "{err}");
    let account = sid(&out);
    let (ok, out, err) = run_cli(
        &app,
        &[
            "accounts", "create", "--org", &org, "--name", "EU", "--parent", &account, "--json",
        ],
    );
    assert!(ok, "{err}");
    let sub = sid(&out);
    for ac in [&account, &sub] {
        let r = app
            .get(&format!("/Organizations/{org}/Accounts/{ac}"), &token)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["owner_sid"], user.as_str(), "{ac}");
    }
    let (ok, _, err) = run_cli(
        &app,
        &[
            "accounts",
            "create",
            "--org",
            &org,
            "--name",
            "X",
            "--owner",
            "US00000000000000000000000000000000",
        ],
    );
    assert!(
        !ok && err.contains("--owner") && err.contains("not a user"),
        "{err}"
    );
}

#[tokio::test]
async fn repeated_parameters_first_one_wins() {
    let app = spawn_app().await;
    let token = app.token().await;
    let r = app
        .get(&format!("{ROLES}?PageSize=1&PageSize=1000"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["roles"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["meta"]["page_size"], 1);
    let url = r.body["meta"]["url"].as_str().expect("url");
    assert!(url.ends_with("?PageSize=1&Page=0"), "{url}");
    let r = app
        .get(
            &format!("{ROLES}?RoleProductGroup=billing&RoleProductGroup=nothing&PageSize=1000"),
            &token,
        )
        .await;
    assert!(!r.body["roles"].as_array().expect("roles").is_empty());
    let url = r.body["meta"]["url"].as_str().expect("url");
    assert!(url.contains("RoleProductGroup=billing&PageSize"), "{url}");
    // The page token follows the filter that was used.
    let next = r.body["meta"]["next_page_url"].as_str().map(str::to_owned);
    if let Some(n) = next {
        assert_eq!(app.get_url(&n, &token).await.status, 200);
    }
}

#[tokio::test]
async fn blank_filters_are_absent_on_every_list_endpoint() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let org = app.org.to_string();
    let role = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .find(|r| r.lowest_level == Level::SubAccount)
        .expect("role");
    let user = app.create_user(&app.org).await;
    let created = app
        .send(
            Method::POST,
            V2,
            &token,
            Some(json!({"role_sid": role.sid, "scope": org, "identity": user})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let preview = format!("/Organizations/{org}/RoleAssignments");
    for (path, key, blank) in [
        (
            ROLES,
            "roles",
            "Search=&RoleProductGroup=+&ResourceTypes=+,%20,",
        ),
        (
            V2,
            "content",
            "Identity=&Scope=%20&ResourceType=&ResourceId=+",
        ),
        (
            preview.as_str(),
            "content",
            "Identity=+&Scope=&ResourceType=%20&ResourceId=",
        ),
        (
            AUDIT,
            "events",
            "Action=&Actor=+&Target=%20&StartDate=&EndDate=+",
        ),
    ] {
        let plain = app.get(&format!("{path}?PageSize=1000"), &token).await;
        let with = app
            .get(&format!("{path}?{blank}&PageSize=1000"), &token)
            .await;
        assert_eq!(plain.status, 200, "{path}: {}", plain.body);
        assert_eq!(with.status, 200, "{path}?{blank}: {}", with.body);
        assert!(
            !plain.body[key].as_array().expect("list").is_empty(),
            "{path}"
        );
        assert_eq!(plain.body[key], with.body[key], "{path}?{blank}");
    }
    // Blank paging parameters: PageToken blank is absent; PageSize and Page blank are a 400.
    assert_eq!(
        app.get(&format!("{ROLES}?PageToken="), &token).await.status,
        200
    );
    app.get(&format!("{ROLES}?PageSize="), &token)
        .await
        .assert_error(400, 20001, "PageSize");
    app.get(&format!("{ROLES}?Page="), &token)
        .await
        .assert_error(400, 20001, "Page");
}

#[tokio::test]
async fn page_size_with_a_plus_sign_is_that_number() {
    let app = spawn_app().await;
    let token = app.token().await;
    // `+` in a query is a space (trimmed); `%2B` is a sign, accepted as integer parsers do.
    for q in ["PageSize=+5", "PageSize=%2B5", "PageSize=%205%20"] {
        let r = app.get(&format!("{ROLES}?{q}"), &token).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        assert_eq!(r.body["meta"]["page_size"], 5, "{q}");
        assert_eq!(r.body["roles"].as_array().map(Vec::len), Some(5), "{q}");
        let url = r.body["meta"]["url"].as_str().expect("url");
        assert!(url.ends_with("?PageSize=5&Page=0"), "{q}: {url}");
    }
    for q in [
        "PageSize=%2B%2B5",
        "PageSize=-5",
        "PageSize=5%2B",
        "PageSize=0x5",
    ] {
        app.get(&format!("{ROLES}?{q}"), &token)
            .await
            .assert_error(400, 20001, "PageSize");
    }
}
