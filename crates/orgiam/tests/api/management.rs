//! The management API: custom roles (`/v2/Organizations/Roles`, optimistic concurrency) and
//! OAuth apps (`/v1/Account/OAuthApps`, no escalation, no lock-out), on the engine under test.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};

const ROLES: &str = "/v2/Organizations/Roles";
const APPS: &str = "/v1/Account/OAuthApps";

fn role_body(name: &str) -> Value {
    json!({
        "friendly_name": name,
        "external_description": "Reads invoices",
        "lowest_level": "ACCOUNT",
        "policy": {"allow": ["/twilio/billing/*"], "deny": ["/twilio/billing/invoices/delete"]},
        "resource_types": null
    })
}

impl TestApp {
    async fn with_if_match(
        &self,
        method: Method,
        path: &str,
        token: &str,
        if_match: Option<&str>,
        body: Value,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body);
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    async fn events(&self, token: &str, action: &str) -> Vec<Value> {
        let r = self
            .get(
                &format!("/v2/Organizations/AuditEvents?Action={action}"),
                token,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["events"].as_array().cloned().unwrap_or_default()
    }
}

fn etag(r: &Reply) -> String {
    r.header("etag").expect("an ETag").to_owned()
}

#[tokio::test]
async fn custom_roles_are_created_updated_and_deleted_with_etags() {
    let app = spawn_app().await;
    let t = app.token().await;
    let created = app
        .send(Method::POST, ROLES, &t, Some(role_body("Invoice Reader")))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let tag = etag(&created);
    let sid = created.body["sid"].as_str().expect("sid").to_owned();
    assert_eq!(created.body["product_group"], "custom");
    assert_eq!(created.body["policy"]["format"], 1);
    // Visible at once: fetch (same ETag), list, search, Expand, permissions.
    let fetched = app.get(&format!("{ROLES}/{sid}"), &t).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(etag(&fetched), tag);
    let listed = app
        .get(&format!("{ROLES}?Search=invoice%20reader&Expand=true"), &t)
        .await;
    assert_eq!(
        listed.body["roles"][0]["sid"],
        sid.as_str(),
        "{}",
        listed.body
    );
    let perms = |r: &Reply| -> Vec<String> {
        r.body["roles"][0]["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| p["permission"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let before = perms(&listed);
    assert!(before.iter().any(|p| p.starts_with("/twilio/billing/")));
    assert!(
        !before
            .iter()
            .any(|p| p == "/twilio/billing/invoices/delete")
    );

    // Update: If-Match required, then a stale one refused, then the current one accepted.
    let change = json!({"policy": {"allow": ["/twilio/iam/roles/list"]}});
    app.with_if_match(
        Method::POST,
        &format!("{ROLES}/{sid}"),
        &t,
        None,
        change.clone(),
    )
    .await
    .assert_error(428, 20001, "If-Match");
    app.with_if_match(
        Method::PATCH,
        &format!("{ROLES}/{sid}"),
        &t,
        Some("\"0000\""),
        change.clone(),
    )
    .await
    .assert_error(409, 20409, "If-Match");
    let updated = app
        .with_if_match(
            Method::POST,
            &format!("{ROLES}/{sid}"),
            &t,
            Some(&tag),
            change,
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_ne!(etag(&updated), tag);
    assert_eq!(updated.body["friendly_name"], "Invoice Reader");
    // Immediately visible on this replica: the cached page and expansion are not served.
    let listed = app
        .get(&format!("{ROLES}?Search=invoice%20reader&Expand=true"), &t)
        .await;
    assert_eq!(perms(&listed), vec!["/twilio/iam/roles/list".to_owned()]);
    let p = app.get(&format!("/v1/Roles/{sid}/Permissions"), &t).await;
    assert_eq!(
        p.body["permissions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        p.body
    );
    // The old ETag is stale now.
    app.with_if_match(
        Method::POST,
        &format!("{ROLES}/{sid}"),
        &t,
        Some(&tag),
        json!({"external_description": "x"}),
    )
    .await
    .assert_error(409, 20409, "changed");
    // A no-op change writes nothing.
    let same = app
        .with_if_match(
            Method::POST,
            &format!("{ROLES}/{sid}"),
            &t,
            Some(&etag(&updated)),
            json!({"friendly_name": "Invoice Reader"}),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(etag(&same), etag(&updated));
    assert_eq!(app.events(&t, "role.updated").await.len(), 1);
    let created_events = app.events(&t, "role.created").await;
    assert_eq!(created_events.len(), 1);
    assert_eq!(
        created_events[0]["after"]["policy"]["allow"][0],
        "/twilio/billing/*"
    );
    let upd = &app.events(&t, "role.updated").await[0];
    assert_eq!(upd["before"]["policy"]["allow"][0], "/twilio/billing/*");
    assert_eq!(upd["after"]["policy"]["allow"][0], "/twilio/iam/roles/list");

    // Delete: refused while assigned (naming how many), then 204 and gone.
    let user = app.create_user(&app.org).await;
    let a = app
        .send(
            Method::POST,
            "/v2/Organizations/RoleAssignments",
            &t,
            Some(json!({"role_sid": sid, "scope": app.org.as_str(), "identity": user.as_str()})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    app.send(Method::DELETE, &format!("{ROLES}/{sid}"), &t, None)
        .await
        .assert_error(409, 20409, "1 role assignment");
    let a_sid = a.body["sid"].as_str().expect("sid");
    let gone = app
        .send(
            Method::DELETE,
            &format!("/v2/Organizations/RoleAssignments/{a_sid}"),
            &t,
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
    let deleted = app
        .send(Method::DELETE, &format!("{ROLES}/{sid}"), &t, None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(app.get(&format!("{ROLES}/{sid}"), &t).await.status, 404);
    let listed = app
        .get(&format!("{ROLES}?Search=invoice%20reader"), &t)
        .await;
    assert_eq!(listed.body["roles"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn built_in_roles_are_read_only_and_names_are_unique() {
    let app = spawn_app().await;
    let t = app.token().await;
    let builtin = app.get(&format!("{ROLES}?PageSize=1"), &t).await;
    let sid = builtin.body["roles"][0]["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let name = builtin.body["roles"][0]["friendly_name"]
        .as_str()
        .expect("name")
        .to_owned();
    let tag = etag(&app.get(&format!("{ROLES}/{sid}"), &t).await);
    app.with_if_match(
        Method::POST,
        &format!("{ROLES}/{sid}"),
        &t,
        Some(&tag),
        json!({"external_description": "x"}),
    )
    .await
    .assert_error(400, 20001, &sid);
    app.send(Method::DELETE, &format!("{ROLES}/{sid}"), &t, None)
        .await
        .assert_error(400, 20001, "built-in");
    // A custom role may not take a built-in role's name, nor another custom role's.
    app.send(
        Method::POST,
        ROLES,
        &t,
        Some(role_body(&name.to_uppercase())),
    )
    .await
    .assert_error(409, 20409, "friendly_name");
    assert_eq!(
        app.send(Method::POST, ROLES, &t, Some(role_body("Mine")))
            .await
            .status,
        201
    );
    app.send(Method::POST, ROLES, &t, Some(role_body("mine")))
        .await
        .assert_error(409, 20409, "friendly_name");
    // Another organization's role is not found.
    let other = app.create_org("other").await;
    let ot = app.token_with(&other, &["/*"], &[]).await;
    let mine = app.get(&format!("{ROLES}?Search=mine"), &t).await;
    let mine_sid = mine.body["roles"][0]["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    app.send(Method::DELETE, &format!("{ROLES}/{mine_sid}"), &ot, None)
        .await
        .assert_error(404, 20404, &mine_sid);
    app.with_if_match(
        Method::POST,
        &format!("{ROLES}/{mine_sid}"),
        &ot,
        Some("*"),
        json!({}),
    )
    .await
    .assert_error(404, 20404, &mine_sid);
}

#[tokio::test]
async fn role_bodies_are_checked_naming_the_field() {
    let app = spawn_app().await;
    let t = app.token().await;
    let with = |k: &str, v: Value| {
        let mut b = role_body("R");
        b[k] = v;
        b
    };
    let many: Vec<String> = (0..300).map(|i| format!("/twilio/x/y/z{i}")).collect();
    for (body, field) in [
        (with("polcy", json!({})), "polcy"),
        (
            with("policy", json!({"allow": ["/twilio/*"], "alow": []})),
            "policy.alow",
        ),
        (
            with("policy", json!({"allow": ["/twilio/Bad/*"]})),
            "policy.allow[0]",
        ),
        (with("policy", json!({"allow": many})), "policy.allow"),
        (with("lowest_level", json!("GALAXY")), "lowest_level"),
        (with("friendly_name", json!("a\u{0}b")), "friendly_name"),
        (
            with("external_description", json!("a\u{1}b")),
            "external_description",
        ),
        (with("resource_types", json!("x")), "resource_types"),
    ] {
        app.send(Method::POST, ROLES, &t, Some(body))
            .await
            .assert_error(400, 20001, field);
    }
    let raw = app
        .http
        .post(format!("{}{ROLES}", app.base))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"friendly_name\": ")
        .send()
        .await
        .expect("send");
    Reply::from(raw).await.assert_error(400, 20001, "JSON");
    // Nothing was half-written.
    assert!(app.events(&t, "role.created").await.is_empty());
    // Permissions: a caller without roles/create is refused, naming it.
    let weak = app
        .token_with(&app.org, &["/twilio/iam/role-assignments/list"], &[])
        .await;
    app.send(Method::POST, ROLES, &weak, Some(role_body("W")))
        .await
        .assert_error(403, 20003, "twilio/iam/roles/create");
}

#[tokio::test]
async fn two_updates_with_one_etag_exactly_one_wins() {
    let app = spawn_app().await;
    let t = app.token().await;
    let created = app
        .send(Method::POST, ROLES, &t, Some(role_body("Race")))
        .await;
    let sid = created.body["sid"].as_str().expect("sid").to_owned();
    let tag = etag(&created);
    for round in 0..5 {
        let current = etag(&app.get(&format!("{ROLES}/{sid}"), &t).await);
        let tag = if round == 0 { tag.clone() } else { current };
        let path = format!("{ROLES}/{sid}");
        let (a, b) = tokio::join!(
            app.with_if_match(
                Method::POST,
                &path,
                &t,
                Some(&tag),
                json!({"external_description": format!("a{round}")})
            ),
            app.with_if_match(
                Method::PATCH,
                &path,
                &t,
                Some(&tag),
                json!({"external_description": format!("b{round}")})
            ),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
    }
    assert_eq!(app.events(&t, "role.updated").await.len(), 5);
}

async fn create_app(app: &TestApp, token: &str, allow: &[&str], deny: Option<&[&str]>) -> Reply {
    app.send(
        Method::POST,
        APPS,
        token,
        Some(json!({
            "type": "client_credentials",
            "friendly_name": "made over HTTP",
            "owner_sid": null,
            "description": null,
            "client_sid": null,
            "token_endpoint_auth_method": null,
            "policy": {"allow": allow, "deny": deny},
            "access_token_ttl": null
        })),
    )
    .await
}

#[tokio::test]
async fn oauth_apps_are_managed_and_their_secret_is_shown_once() {
    let app = spawn_app().await;
    let t = app.token().await;
    let created = create_app(&app, &t, &["/twilio/iam/*"], None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let keys: Vec<&str> = created
        .body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "type",
            "sid",
            "friendly_name",
            "description",
            "date_created",
            "created_by",
            "secret",
            "status",
            "owner_sid",
            "client_sid",
            "policy",
            "access_token_ttl"
        ]
    );
    let sid = created.body["sid"].as_str().expect("sid").to_owned();
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    assert_eq!(created.body["client_sid"], sid.as_str());
    assert_eq!(created.body["owner_sid"], app.org.as_str());
    assert_eq!(created.body["access_token_ttl"], 3600);
    // A token at once.
    let r = app.token_for(&sid, &secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_token = r.body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(app.get(ROLES, &new_token).await.status, 200);
    assert_eq!(app.get(APPS, &new_token).await.status, 200);
    // Fetch and list never show the secret.
    let fetched = app.get(&format!("{APPS}/{sid}"), &t).await;
    assert_eq!(fetched.status, 200);
    assert!(fetched.body["secret"].is_null());
    let listed = app.get(&format!("{APPS}?PageSize=1"), &t).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["meta"]["key"], "apps");
    let all = app.get(APPS, &t).await;
    assert_eq!(
        all.body["apps"].as_array().map(Vec::len),
        Some(2),
        "{}",
        all.body
    );
    assert!(!all.body.to_string().contains(&secret));
    let next = listed.body["meta"]["next_page_url"].as_str().expect("next");
    let second = app.get_url(next, &t).await;
    assert_eq!(second.body["apps"].as_array().map(Vec::len), Some(1));
    let prev = second.body["meta"]["previous_page_url"]
        .as_str()
        .expect("previous");
    assert_eq!(
        app.get_url(prev, &t).await.body["apps"],
        listed.body["apps"]
    );
    // Update (PUT, nulls keep), no-op writes nothing.
    let one = format!("{APPS}/{sid}");
    let put = |body: Value| app.send(Method::PUT, &one, &t, Some(body));
    let u = put(json!({"type": "client_credentials", "friendly_name": "renamed", "description": null, "policy": null, "access_token_ttl": 600})).await;
    assert_eq!(u.status, 200, "{}", u.body);
    assert_eq!(
        (
            u.body["friendly_name"].as_str(),
            u.body["access_token_ttl"].as_i64()
        ),
        (Some("renamed"), Some(600))
    );
    assert!(u.body["secret"].is_null());
    assert_eq!(put(json!({"friendly_name": "renamed"})).await.status, 200);
    assert_eq!(app.events(&t, "app.updated").await.len(), 1);
    put(json!({"access_token_ttl": 59}))
        .await
        .assert_error(400, 20001, "access_token_ttl");
    put(json!({"acces_token_ttl": 600}))
        .await
        .assert_error(400, 20001, "acces_token_ttl");
    // Rotate: a new secret, the old one keeps working for the grace period.
    let rotated = app
        .send(
            Method::POST,
            &format!("{APPS}/{sid}/Secret"),
            &t,
            Some(json!({"grace_period": 60})),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(app.token_for(&sid, &new_secret).await.status, 200);
    assert_eq!(app.token_for(&sid, &secret).await.status, 200);
    // Audit events carry the policy and never a secret.
    let created_events = app.events(&t, "app.created").await;
    assert!(created_events.iter().any(
        |e| e["target"] == sid.as_str() && e["after"]["policy"]["allow"][0] == "/twilio/iam/*"
    ));
    let trail = app
        .get("/v2/Organizations/AuditEvents", &t)
        .await
        .body
        .to_string();
    assert!(!trail.contains(&secret) && !trail.contains(&new_secret));
    // Delete: 204, its token fails, it is gone from the list.
    let d = app
        .send(Method::DELETE, &format!("{APPS}/{sid}"), &t, None)
        .await;
    assert_eq!(d.status, 204, "{}", d.body);
    assert_eq!(app.get(&format!("{APPS}/{sid}"), &t).await.status, 404);
    assert_eq!(app.token_for(&sid, &new_secret).await.status, 401);
    // Another organization cannot see or touch this one's apps.
    let other = app.create_org("other").await;
    let ot = app.token_with(&other, &["/*"], &[]).await;
    let (mine, _) = app
        .create_app(&app.org, &["/twilio/iam/*"], &[], 3600)
        .await;
    app.get(&format!("{APPS}/{mine}"), &ot)
        .await
        .assert_error(404, 20404, mine.as_str());
    app.send(Method::DELETE, &format!("{APPS}/{mine}"), &ot, None)
        .await
        .assert_error(404, 20404, mine.as_str());
    assert!(
        !app.get(APPS, &ot)
            .await
            .body
            .to_string()
            .contains(mine.as_str())
    );
}

#[tokio::test]
async fn an_app_cannot_grant_more_than_it_holds() {
    let app = spawn_app().await;
    let limited = app
        .token_with(
            &app.org,
            &["/twilio/iam/*", "/twilio/voice/calls/*"],
            &["/twilio/iam/api-keys/*"],
        )
        .await;
    // Within its own grants: accepted.
    let ok = create_app(
        &app,
        &limited,
        &["/twilio/iam/roles/list", "/twilio/voice/calls/*"],
        None,
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let ok = create_app(
        &app,
        &limited,
        &["/twilio/iam/*"],
        Some(&["/twilio/iam/api-keys/*"]),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    // Beyond them: refused, naming one permission it lacks.
    create_app(&app, &limited, &["/twilio/*"], None)
        .await
        .assert_error(403, 20003, "cannot grant");
    create_app(&app, &limited, &["/twilio/iam/*"], None)
        .await
        .assert_error(403, 20003, "twilio/iam/api-keys/");
    create_app(&app, &limited, &["/twilio/voice/*/read"], None)
        .await
        .assert_error(403, 20003, "twilio/voice/");
    create_app(&app, &limited, &["/acme/made-up/thing/do"], None)
        .await
        .assert_error(403, 20003, "acme/made-up/thing/do");
    // Changing a policy follows the same rule.
    let sid = ok.body["sid"].as_str().expect("sid");
    app.send(
        Method::PUT,
        &format!("{APPS}/{sid}"),
        &limited,
        Some(json!({"policy": {"allow": ["/*"]}})),
    )
    .await
    .assert_error(403, 20003, "cannot grant");
    let narrowed = app
        .send(
            Method::PUT,
            &format!("{APPS}/{sid}"),
            &limited,
            Some(json!({"policy": {"allow": ["/twilio/iam/roles/*"]}})),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    // Nor may it take a more powerful app's power by rotating its secret.
    app.send(
        Method::POST,
        &format!("{APPS}/{}/Secret", app.client_id),
        &limited,
        None,
    )
    .await
    .assert_error(403, 20003, "cannot grant");
    // Only the two accepted apps were created.
    let t = app.token().await;
    assert_eq!(
        app.events(&t, "app.created").await.len(),
        4,
        "bootstrap, limited, two accepted"
    );
}

#[tokio::test]
async fn an_app_cannot_lock_itself_out() {
    let app = spawn_app().await;
    let t = app.token().await;
    let me = &app.client_id;
    app.send(Method::DELETE, &format!("{APPS}/{me}"), &t, None)
        .await
        .assert_error(400, 20001, "itself");
    app.send(
        Method::PUT,
        &format!("{APPS}/{me}"),
        &t,
        Some(json!({"status": "disabled"})),
    )
    .await
    .assert_error(400, 20001, "itself");
    assert_eq!(app.get(ROLES, &t).await.status, 200);
    // Another app may disable it, and enable it again.
    let admin = app.token_with(&app.org, &["/*"], &[]).await;
    let off = app
        .send(
            Method::PUT,
            &format!("{APPS}/{me}"),
            &admin,
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(off.body["status"], "disabled", "{}", off.body);
    let on = app
        .send(
            Method::PUT,
            &format!("{APPS}/{me}"),
            &admin,
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(on.body["status"], "active", "{}", on.body);
}

#[tokio::test]
async fn app_bodies_are_checked_naming_the_field() {
    let app = spawn_app().await;
    let t = app.token().await;
    let base = json!({"friendly_name": "x", "policy": {"allow": ["/twilio/*"]}});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let many: Vec<String> = (0..300).map(|i| format!("/twilio/x/y/z{i}")).collect();
    for (body, field) in [
        (with("polcy", json!({})), "polcy"),
        (
            with("policy", json!({"allow": ["/twilio/*"], "dney": []})),
            "policy.dney",
        ),
        (
            with("policy", json!({"allow": ["twilio"]})),
            "policy.allow[0]",
        ),
        (with("policy", json!({"allow": []})), "policy.allow"),
        (with("policy", json!({"allow": many})), "policy.allow"),
        (
            with("access_token_ttl", json!(30 * 24 * 3600 + 1)),
            "access_token_ttl",
        ),
        (with("access_token_ttl", json!("600")), "access_token_ttl"),
        (with("type", json!("authorization_code")), "type"),
        (with("friendly_name", json!("nul\u{0}")), "friendly_name"),
        (with("friendly_name", json!(" ")), "friendly_name"),
        (with("description", json!("bell\u{7}")), "description"),
        (json!({"policy": {"allow": ["/twilio/*"]}}), "friendly_name"),
    ] {
        app.send(Method::POST, APPS, &t, Some(body))
            .await
            .assert_error(400, 20001, field);
    }
    app.send(Method::GET, &format!("{APPS}/not-a-sid"), &t, None)
        .await
        .assert_error(400, 20001, "OAuthAppSid");
    // Nothing but the bootstrap app exists.
    assert_eq!(
        app.get(APPS, &t).await.body["apps"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn the_command_line_creates_updates_and_deletes_roles_through_the_same_rules() {
    let app = spawn_app().await;
    let t = app.token().await;
    let org = app.org.to_string();
    let out = app.cli(&[
        "roles",
        "create",
        "--org",
        &org,
        "--role",
        r#"{"friendly_name": "From CLI", "lowest_level": "SUB_ACCOUNT", "policy": {"allow": ["/twilio/iam/roles/list"]}}"#,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let sid = printed["sid"].as_str().expect("sid").to_owned();
    let fetched = app.get(&format!("{ROLES}/{sid}"), &t).await;
    assert_eq!(printed["etag"].as_str(), fetched.header("etag"));

    let stale = app.cli(&[
        "roles",
        "update",
        "--org",
        &org,
        &sid,
        "--set",
        r#"{"external_description": "x"}"#,
        "--if-match",
        "\"stale\"",
    ]);
    assert_eq!(
        stale.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    let typo = app.cli(&[
        "roles",
        "update",
        "--org",
        &org,
        &sid,
        "--set",
        r#"{"polcy": {}}"#,
    ]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("polcy"));
    let tag = fetched.header("etag").expect("etag").to_owned();
    let ok = app.cli(&[
        "roles",
        "update",
        "--org",
        &org,
        &sid,
        "--set",
        r#"{"external_description": "by the CLI"}"#,
        "--if-match",
        &tag,
        "--json",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let after = app.get(&format!("{ROLES}/{sid}"), &t).await;
    assert_eq!(after.body["external_description"], "by the CLI");
    let events = app.events(&t, "role.updated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "cli");
    assert_eq!(events[0]["before"]["external_description"], "");
    assert_eq!(events[0]["after"]["external_description"], "by the CLI");

    let deleted = app.cli(&["roles", "delete", "--org", &org, &sid]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert_eq!(app.get(&format!("{ROLES}/{sid}"), &t).await.status, 404);

    // The command line recovers an organization whose apps lost their management rights.
    let me = &app.client_id;
    let narrowed = app
        .send(
            Method::PUT,
            &format!("{APPS}/{me}"),
            &t,
            Some(json!({"policy": {"allow": ["/twilio/iam/roles/list"]}})),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    let created = app.cli(&[
        "apps", "create", "--org", &org, "--name", "admin", "--allow", "/*", "--json",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
}
