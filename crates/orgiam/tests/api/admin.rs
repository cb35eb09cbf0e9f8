//! Custom-role import, signing-key rotation and the audit trail, through the CLI and HTTP.

use std::io::Write;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app};

fn role_line(name: &str, group: &str) -> String {
    json!({
        "friendly_name": name,
        "external_description": format!("{name} does things"),
        "product_group": group,
        "lowest_level": "ACCOUNT",
        "policy": {"allow": ["/twilio/messaging/*"], "deny": ["/twilio/messaging/services/delete"]},
        "resource_types": ["campaign"],
    })
    .to_string()
}

fn write_file(app: &TestApp, name: &str, lines: &[String]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{name}-{}.jsonl", app.org));
    let mut f = std::fs::File::create(&path).expect("create");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
    path
}

fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

#[tokio::test]
async fn imported_custom_roles_join_the_catalog_of_their_organization_only() {
    let app = spawn_app().await;
    let token = app.token().await;
    let before = app.get("/v2/Organizations/Roles?Search=zeta", &token).await;
    assert_eq!(
        before.body["roles"],
        json!([]),
        "cached empty page, soon stale"
    );
    let mut lines: Vec<String> = (0..120)
        .map(|i| role_line(&format!("Zeta Custom {i:03}"), "messaging"))
        .collect();
    lines.insert(7, String::new());
    let file = write_file(&app, "roles", &lines);
    let out = cli_ok(
        &app,
        &[
            "roles",
            "import",
            "--org",
            app.org.as_str(),
            file.to_str().expect("path"),
            "--json",
        ],
    );
    let summary: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["imported"], 120);

    // The running server picks them up within a second (its page cache follows the roles revision).
    eventually(Duration::from_secs(1), || async {
        app.get("/v2/Organizations/Roles?Search=zeta&PageSize=1000", &token)
            .await
            .body["roles"]
            .as_array()
            .map(Vec::len)
            == Some(120)
    })
    .await
    .expect("imported roles listed");
    let r = app
        .get(
            "/v2/Organizations/Roles?Search=zeta%20custom%20007&Expand=true",
            &token,
        )
        .await;
    let role = &r.body["roles"][0];
    assert_eq!(role["friendly_name"], "Zeta Custom 007");
    assert_eq!(
        role["role_product_group"],
        json!({"product_group": "messaging", "friendly_name": "Messaging"})
    );
    assert_eq!(role["policy"]["format"], 1);
    assert_eq!(role["resource_types"], json!(["campaign"]));
    let perms: Vec<&str> = role["permissions"]
        .as_array()
        .expect("perms")
        .iter()
        .filter_map(|p| p["permission"].as_str())
        .collect();
    assert!(
        perms
            .iter()
            .all(|p| p.starts_with("/twilio/messaging/")
                && *p != "/twilio/messaging/services/delete")
    );
    assert!(!perms.is_empty());
    let sid = role["sid"].as_str().expect("sid").to_owned();
    assert_eq!(
        app.get(&format!("/v2/Organizations/Roles/{sid}"), &token)
            .await
            .status,
        200
    );
    // Filters and paging treat them like built-in roles.
    let typed = app
        .get(
            "/v2/Organizations/Roles?ResourceTypes=campaign&PageSize=1000",
            &token,
        )
        .await;
    assert_eq!(typed.body["roles"].as_array().map(Vec::len), Some(120));

    // Another organization never sees them.
    let other = app.create_org("Other").await;
    let token_b = app.token_with(&other, &["/*"], &[]).await;
    assert_eq!(
        app.get("/v2/Organizations/Roles?Search=zeta", &token_b)
            .await
            .body["roles"],
        json!([])
    );
    app.get(&format!("/v2/Organizations/Roles/{sid}"), &token_b)
        .await
        .assert_error(404, 20404, &sid);
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn a_bad_line_is_reported_by_number_and_nothing_is_imported() {
    let app = spawn_app().await;
    let mut lines: Vec<String> = (0..50)
        .map(|i| role_line(&format!("Eta {i}"), "voice"))
        .collect();
    lines[33] = r#"{"friendly_name": "Broken", "product_group": "voice", "lowest_level": "EVERYWHERE", "policy": {"allow": ["/twilio/*"]}}"#.into();
    let file = write_file(&app, "bad", &lines);
    let out = app.cli(&[
        "roles",
        "import",
        "--org",
        app.org.as_str(),
        file.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 34") && err.contains("EVERYWHERE"),
        "{err}"
    );
    let token = app.token().await;
    assert_eq!(
        app.get("/v2/Organizations/Roles?Search=eta%20", &token)
            .await
            .body["roles"],
        json!([])
    );
    let missing = app.cli(&[
        "roles",
        "import",
        "--org",
        app.org.as_str(),
        "/nonexistent/file.jsonl",
    ]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_until_revoked() {
    let app = spawn_app().await;
    let old_token = app.token().await;
    let old_kid = jsonwebtoken::decode_header(&old_token)
        .expect("header")
        .kid
        .expect("kid");
    let out: Value =
        serde_json::from_str(&cli_ok(&app, &["keys", "rotate", "--json"])).expect("json");
    let new_kid = out["kid"].as_str().expect("kid").to_owned();
    assert_ne!(new_kid, old_kid);
    // Within a second new tokens carry the new kid; the JWKS publishes both; old tokens still work.
    eventually(Duration::from_secs(1), || async {
        let t = app.token().await;
        jsonwebtoken::decode_header(&t)
            .ok()
            .and_then(|h| h.kid)
            .as_deref()
            == Some(new_kid.as_str())
    })
    .await
    .expect("new key signs");
    let jwks = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await
        .expect("GET")
        .json::<Value>()
        .await
        .expect("json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    assert_eq!(
        app.get("/v2/Organizations/Roles?PageSize=1", &old_token)
            .await
            .status,
        200
    );
    // Revoking: tokens of the earlier keys are refused within a second.
    let newer_token = app.token().await;
    cli_ok(&app, &["keys", "rotate", "--revoke-old"]);
    eventually(Duration::from_secs(1), || async {
        app.get("/v2/Organizations/Roles?PageSize=1", &newer_token)
            .await
            .status
            == 401
    })
    .await
    .expect("revoked key's tokens refused");
    assert_eq!(
        app.get("/v2/Organizations/Roles?PageSize=1", &old_token)
            .await
            .status,
        401
    );
    eventually(Duration::from_secs(1), || async {
        app.get("/v2/Organizations/Roles?PageSize=1", &app.token().await)
            .await
            .status
            == 200
    })
    .await
    .expect("fresh tokens work");
    // Key rotations concern the whole install: the operator sees them through the CLI, no
    // tenant sees them over HTTP.
    let fresh = app.token().await;
    let tenant = app
        .get("/v2/Organizations/AuditEvents?Action=key.rotated", &fresh)
        .await;
    assert_eq!(tenant.status, 200, "{}", tenant.body);
    assert_eq!(tenant.body["events"], serde_json::json!([]));
    let operator: Value = serde_json::from_str(&cli_ok(
        &app,
        &[
            "audit",
            "--org",
            app.org.as_str(),
            "--action",
            "key.rotated",
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(operator["events"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn every_change_to_access_is_in_the_audit_trail() {
    let app = spawn_app().await;
    let token = app.token().await;
    let (id, _) = app
        .create_app(&app.org, &["/twilio/iam/role-assignments/list"], &[], 600)
        .await;
    cli_ok(&app, &["apps", "disable", "--app", id.as_str()]);
    cli_ok(
        &app,
        &[
            "apps",
            "rotate-secret",
            "--app",
            id.as_str(),
            "--grace",
            "0",
        ],
    );
    let user = app.create_user(&app.org).await;
    let role = orgiam_domain::catalog::Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .find(|r| r.friendly_name == "Owner")
        .expect("owner");
    let created = app
        .send(
            Method::POST,
            "/v2/Organizations/RoleAssignments",
            &token,
            Some(json!({"role_sid": role.sid, "scope": app.org, "identity": user})),
        )
        .await;
    assert_eq!(created.status, 201);
    let request_id = created
        .header("twilio-request-id")
        .expect("request id")
        .to_owned();
    let sid = created.body["sid"].as_str().expect("sid").to_owned();
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/v2/Organizations/RoleAssignments/{sid}"),
            &token,
            None
        )
        .await
        .status,
        204
    );
    // A refused change leaves no trace.
    app.send(
        Method::DELETE,
        &format!("/v2/Organizations/RoleAssignments/{sid}"),
        &token,
        None,
    )
    .await
    .assert_error(404, 20404, &sid);

    let r = app.get("/v2/Organizations/AuditEvents", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.body["events"].as_array().expect("events");
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "role_assignment.deleted",
            "role_assignment.created",
            "user.created",
            "app.secret_rotated",
            "app.disabled",
            "app.created",
            "app.created",
            "org.created"
        ],
        "newest first"
    );
    let created_event = &events[1];
    assert_eq!(created_event["actor"], app.client_id.as_str());
    assert_eq!(created_event["request_id"], request_id.as_str());
    assert_eq!(created_event["target"], sid.as_str());
    assert_eq!(created_event["after"]["identity"], user.as_str());
    assert!(
        created_event["sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("AE"))
    );
    assert_eq!(events[2]["target"], user.as_str());
    assert_eq!(
        events[2]["after"]["email"]
            .as_str()
            .map(|e| e.contains('@')),
        Some(true)
    );
    assert_eq!(events[4]["actor"], "cli");
    assert_eq!(events[4]["before"], json!({"status": "active"}));
    assert_eq!(events[4]["after"], json!({"status": "disabled"}));
    assert_eq!(events[6]["actor"], "bootstrap");
    assert_eq!(events[7]["actor"], "bootstrap");
    assert_eq!(events[7]["target"], app.org.as_str());
    let text = r.body.to_string();
    assert!(!text.contains(&app.client_secret), "no secret in the trail");

    // Filters, paging, permission.
    let f = app
        .get(
            &format!("/v2/Organizations/AuditEvents?Action=app.disabled&Target={id}"),
            &token,
        )
        .await;
    assert_eq!(f.body["events"].as_array().map(Vec::len), Some(1));
    let by_app = app
        .get(
            &format!("/v2/Organizations/AuditEvents?Actor={}", app.client_id),
            &token,
        )
        .await;
    assert_eq!(by_app.body["events"].as_array().map(Vec::len), Some(2));
    let future = app
        .get(
            "/v2/Organizations/AuditEvents?StartDate=2999-01-01T00:00:00Z",
            &token,
        )
        .await;
    assert_eq!(future.body["events"], json!([]));
    app.get("/v2/Organizations/AuditEvents?StartDate=yesterday", &token)
        .await
        .assert_error(400, 20001, "StartDate");
    let p1 = app
        .get("/v2/Organizations/AuditEvents?PageSize=4", &token)
        .await;
    let p2 = app
        .get_url(
            p1.body["meta"]["next_page_url"].as_str().expect("next"),
            &token,
        )
        .await;
    let mut walked: Vec<Value> = p1.body["events"].as_array().expect("p1").clone();
    walked.extend(p2.body["events"].as_array().expect("p2").iter().cloned());
    assert_eq!(&walked, events);
    let limited = app
        .token_with(&app.org, &["/twilio/iam/role-assignments/*"], &[])
        .await;
    app.get("/v2/Organizations/AuditEvents", &limited)
        .await
        .assert_error(403, 20003, "twilio/iam/audit-events/list");
    // Another organization sees none of it.
    let other = app.create_org("B").await;
    let token_b = app.token_with(&other, &["/*"], &[]).await;
    let theirs = app.get("/v2/Organizations/AuditEvents", &token_b).await;
    assert!(
        theirs.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["organization_sid"] == other.as_str())
    );

    // The CLI prints the same trail.
    let out: Value = serde_json::from_str(&cli_ok(
        &app,
        &["audit", "--org", app.org.as_str(), "--json"],
    ))
    .expect("json");
    assert_eq!(
        out["events"].as_array().map(Vec::len),
        Some(9),
        "the eight above and the limited app"
    );
    let human = cli_ok(
        &app,
        &[
            "audit",
            "--org",
            app.org.as_str(),
            "--action",
            "app.disabled",
        ],
    );
    assert!(
        human.contains("app.disabled") && human.contains(id.as_str()),
        "{human}"
    );
}

#[tokio::test]
async fn search_gives_the_same_answer_on_every_plan() {
    // More than 2000 matches take the name-ordered walk; a few take the trigram index; fewer
    // than three characters always walk. Every plan must give the oracle's answer.
    let app = spawn_app().await;
    let token = app.token().await;
    let mut names: Vec<String> = (0..2100).map(|i| format!("Common Thing {i:04}")).collect();
    names.extend((0..5).map(|i| format!("Rarebird {i} 100%_off")));
    let lines: Vec<String> = names.iter().map(|n| role_line(n, "studio")).collect();
    let file = write_file(&app, "plans", &lines);
    cli_ok(
        &app,
        &[
            "roles",
            "import",
            "--org",
            app.org.as_str(),
            file.to_str().expect("path"),
        ],
    );
    let mut catalog: Vec<String> = orgiam_domain::catalog::Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .map(|r| r.friendly_name)
        .collect();
    catalog.extend(names);
    let oracle = |needle: &str| {
        let mut hits: Vec<String> = catalog
            .iter()
            .filter(|n| n.to_lowercase().contains(&needle.to_lowercase()))
            .cloned()
            .collect();
        hits.sort_by_key(|n| n.to_lowercase());
        hits
    };
    for needle in [
        "common thing",
        "THING 00",
        "rarebird",
        "100%_",
        "%_o",
        "mo",
        "g",
        "zzzz-nothing",
    ] {
        let mut got = Vec::new();
        let mut url = format!(
            "{}/v2/Organizations/Roles?PageSize=1000&Search={}",
            app.base,
            needle.replace('%', "%25").replace(' ', "%20")
        );
        eventually(Duration::from_secs(1), || async {
            app.get("/v2/Organizations/Roles?Search=rarebird", &token)
                .await
                .body["roles"]
                .as_array()
                .is_some_and(|r| r.len() == 5)
        })
        .await
        .expect("import visible");
        loop {
            let r = app.get_url(&url, &token).await;
            assert_eq!(r.status, 200, "{needle}: {}", r.body);
            got.extend(
                r.body["roles"]
                    .as_array()
                    .expect("roles")
                    .iter()
                    .filter_map(|x| x["friendly_name"].as_str().map(str::to_owned)),
            );
            match r.body["meta"]["next_page_url"].as_str() {
                Some(n) => url = n.to_owned(),
                None => break,
            }
        }
        assert_eq!(got, oracle(needle), "Search={needle}");
    }
    let _ = std::fs::remove_file(file);
}
