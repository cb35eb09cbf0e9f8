//! Every object can be listed and looked up from the command line with one JSON shape; apps
//! change in place; unknown audit actions are refused; running servers log the changes the
//! command line makes.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    eventually, fresh_database, printed_credentials, spawn_app, start_serve, stop,
};
use crate::operator::{cli, ok_json, stderr};

#[tokio::test]
async fn every_kind_can_be_listed_and_shown_with_one_json_shape() {
    let app = spawn_app().await;
    let db = app.db_url.as_str();
    let org = app.org.to_string();

    // Organizations, with paging.
    let second = ok_json(db, &["orgs", "create", "--name", "Second", "--json"]);
    assert_eq!(second["friendly_name"], "Second");
    let p1 = ok_json(db, &["orgs", "list", "--limit", "1", "--json"]);
    assert_eq!(p1["organizations"].as_array().map(Vec::len), Some(1));
    let after = p1["next_after"].as_str().expect("a next page").to_owned();
    let p2 = ok_json(
        db,
        &["orgs", "list", "--limit", "1", "--after", &after, "--json"],
    );
    assert_eq!(p2["organizations"].as_array().map(Vec::len), Some(1));
    assert_ne!(p1["organizations"][0]["sid"], p2["organizations"][0]["sid"]);
    let p3 = ok_json(
        db,
        &[
            "orgs",
            "list",
            "--after",
            p2["organizations"][0]["sid"].as_str().expect("sid"),
            "--json",
        ],
    );
    assert_eq!(p3["organizations"], serde_json::json!([]));
    assert_eq!(p3["next_after"], Value::Null);
    let shown = ok_json(db, &["orgs", "show", &org, "--json"]);
    assert_eq!(shown["sid"], org.as_str());

    // Apps: the same shape from create, list, show and status changes; never a secret but
    // the one just issued.
    let created = ok_json(
        db,
        &[
            "apps",
            "create",
            "--org",
            &org,
            "--name",
            "ci",
            "--allow",
            "/twilio/iam/*",
            "--json",
        ],
    );
    let sid = created["sid"].as_str().expect("sid").to_owned();
    assert_eq!(created["client_id"], sid.as_str());
    assert!(created["client_secret"].is_string());
    let listed = ok_json(db, &["apps", "list", "--org", &org, "--json"]);
    let apps = listed["apps"].as_array().expect("apps");
    let from_list = apps
        .iter()
        .find(|a| a["sid"] == sid.as_str())
        .expect("listed");
    let shown = ok_json(db, &["apps", "show", "--app", &sid, "--json"]);
    let disabled = ok_json(db, &["apps", "disable", "--app", &sid, "--json"]);
    let mut expected = created.clone();
    expected
        .as_object_mut()
        .expect("object")
        .remove("client_secret");
    for v in [from_list, &shown, &disabled] {
        assert_eq!(
            crate::helpers::keys(v),
            crate::helpers::keys(&expected),
            "{v}"
        );
        assert!(v.get("client_secret").is_none());
    }
    assert_eq!(disabled["status"], "disabled");
    let human = String::from_utf8(cli(db, &["apps", "list", "--org", &org]).stdout).expect("utf8");
    assert!(
        human.contains(&sid) && human.contains("disabled"),
        "{human}"
    );

    // Users: a taken email gives the existing SID and exit 4, or success with --if-missing.
    let ada = ok_json(
        db,
        &[
            "users",
            "create",
            "--org",
            &org,
            "--email",
            "ada@example.com",
            "--json",
        ],
    );
    let ada_sid = ada["sid"].as_str().expect("sid").to_owned();
    let again = cli(
        db,
        &[
            "users",
            "create",
            "--org",
            &org,
            "--email",
            "ADA@example.com",
        ],
    );
    assert_eq!(again.status.code(), Some(4));
    assert!(stderr(&again).contains(&ada_sid), "{}", stderr(&again));
    let again = ok_json(
        db,
        &[
            "users",
            "create",
            "--org",
            &org,
            "--email",
            "ada@example.com",
            "--if-missing",
            "--json",
        ],
    );
    assert_eq!(again["sid"], ada_sid.as_str());
    let found = ok_json(
        db,
        &[
            "users",
            "list",
            "--org",
            &org,
            "--email",
            "Ada@Example.com",
            "--json",
        ],
    );
    assert_eq!(found["users"][0]["sid"], ada_sid.as_str());
    let shown = ok_json(db, &["users", "show", "--org", &org, &ada_sid, "--json"]);
    assert_eq!(shown, ada);

    // Accounts: the HTTP API's account object.
    let acct = ok_json(
        db,
        &[
            "accounts", "create", "--org", &org, "--name", "Prod", "--owner", &ada_sid, "--json",
        ],
    );
    let acct_sid = acct["account_sid"].as_str().expect("sid").to_owned();
    let listed = ok_json(db, &["accounts", "list", "--org", &org, "--json"]);
    assert_eq!(listed["accounts"][0], acct);
    let shown = ok_json(
        db,
        &["accounts", "show", "--org", &org, &acct_sid, "--json"],
    );
    assert_eq!(shown, acct);
    let http = app
        .get(
            &format!("/Organizations/{org}/Accounts/{acct_sid}"),
            &app.token().await,
        )
        .await;
    assert_eq!(http.body, acct);

    // Roles: built-in and custom, shown as the HTTP API shows them.
    let builtin = ok_json(
        db,
        &["roles", "list", "--org", &org, "--limit", "3", "--json"],
    );
    let first = builtin["roles"][0].clone();
    let role_sid = first["sid"].as_str().expect("sid").to_owned();
    let next = builtin["next_after"]
        .as_str()
        .expect("more roles")
        .to_owned();
    let page2 = ok_json(
        db,
        &[
            "roles", "list", "--org", &org, "--limit", "3", "--after", &next, "--json",
        ],
    );
    assert_ne!(page2["roles"][0]["sid"], first["sid"]);
    let shown = ok_json(db, &["roles", "show", "--org", &org, &role_sid, "--json"]);
    let http = app
        .get(
            &format!("/v2/Organizations/Roles/{role_sid}"),
            &app.token().await,
        )
        .await;
    assert_eq!(shown, http.body);

    // Re-importing a file is refused by its key (the friendly name); nothing is doubled.
    let file = app_file(
        &app,
        "roles.jsonl",
        "{\"friendly_name\": \"Invoice Reader\", \"external_description\": \"Reads invoices\", \"product_group\": \"billing\", \"lowest_level\": \"ACCOUNT\", \"policy\": {\"allow\": [\"/twilio/billing/invoices/read\"], \"deny\": null}, \"resource_types\": null}\n",
    );
    let imported = ok_json(db, &["roles", "import", "--org", &org, &file, "--json"]);
    assert_eq!(imported["imported"], 1);
    let again = cli(db, &["roles", "import", "--org", &org, &file]);
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("invoice reader"),
        "{}",
        stderr(&again)
    );
    let custom = ok_json(
        db,
        &[
            "roles",
            "list",
            "--org",
            &org,
            "--search",
            "invoice reader",
            "--json",
        ],
    );
    let custom = custom["roles"].as_array().expect("roles").clone();
    assert_eq!(custom.len(), 1, "{custom:?}");
    let custom_sid = custom[0]["sid"].as_str().expect("sid").to_owned();

    // Assignments: create, list with filters, delete; a role in use cannot be deleted.
    let a = ok_json(
        db,
        &[
            "assignments",
            "create",
            "--org",
            &org,
            "--role",
            &custom_sid,
            "--scope",
            &acct_sid,
            "--identity",
            &ada_sid,
            "--json",
        ],
    );
    let a_sid = a["sid"].as_str().expect("sid").to_owned();
    assert_eq!(
        crate::helpers::keys(&a),
        [
            "sid",
            "role_sid",
            "scope",
            "identity",
            "resource_type",
            "resource_id"
        ]
    );
    let listed = ok_json(
        db,
        &[
            "assignments",
            "list",
            "--org",
            &org,
            "--identity",
            &ada_sid,
            "--json",
        ],
    );
    assert_eq!(listed["role_assignments"], serde_json::json!([a.clone()]));
    let none = ok_json(
        db,
        &[
            "assignments",
            "list",
            "--org",
            &org,
            "--scope",
            &org,
            "--json",
        ],
    );
    assert_eq!(none["role_assignments"], serde_json::json!([]));
    let sub = ok_json(
        db,
        &[
            "accounts", "create", "--org", &org, "--name", "EU", "--parent", &acct_sid, "--json",
        ],
    );
    let sub = sub["account_sid"].as_str().expect("sid").to_owned();
    let bad = cli(
        db,
        &[
            "assignments",
            "create",
            "--org",
            &org,
            "--role",
            &custom_sid,
            "--scope",
            &sub,
            "--identity",
            &ada_sid,
        ],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("cannot be assigned"),
        "{}",
        stderr(&bad)
    );
    let refused = cli(db, &["roles", "delete", "--org", &org, &custom_sid]);
    assert_eq!(refused.status.code(), Some(4));
    assert!(
        stderr(&refused).contains("role assignment"),
        "{}",
        stderr(&refused)
    );
    ok_json(
        db,
        &["assignments", "delete", "--org", &org, &a_sid, "--json"],
    );
    let gone = cli(db, &["assignments", "delete", "--org", &org, &a_sid]);
    assert_eq!(gone.status.code(), Some(3));

    // Roles delete: custom only (a built-in role is refused, naming it); afterwards it is not
    // found (exit 3), and one event is written.
    let builtin_delete = cli(db, &["roles", "delete", "--org", &org, &role_sid]);
    assert_eq!(builtin_delete.status.code(), Some(1));
    assert!(
        stderr(&builtin_delete).contains("built-in"),
        "{}",
        stderr(&builtin_delete)
    );
    ok_json(
        db,
        &["roles", "delete", "--org", &org, &custom_sid, "--json"],
    );
    let missing = cli(db, &["roles", "show", "--org", &org, &custom_sid, "--json"]);
    assert_eq!(missing.status.code(), Some(3));
    // With --json, errors are JSON, on stdout (where the JSON of a success goes).
    let err: Value = serde_json::from_slice(&missing.stdout).expect("JSON error");
    assert!(
        stderr(&missing).contains(&custom_sid),
        "{}",
        stderr(&missing)
    );
    assert!(
        err["error"]
            .as_str()
            .is_some_and(|e| e.contains(&custom_sid)),
        "{err}"
    );
    let events = ok_json(
        db,
        &["audit", "--org", &org, "--action", "role.deleted", "--json"],
    );
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
}

fn app_file(app: &crate::helpers::TestApp, name: &str, body: &str) -> String {
    let path = std::env::temp_dir().join(format!("orgiam-{}-{name}", app.addr.port()));
    std::fs::write(&path, body).expect("write");
    path.display().to_string()
}

#[tokio::test]
async fn apps_update_changes_the_policy_everywhere_and_a_no_op_writes_nothing() {
    let app = spawn_app().await;
    let db = app.db_url.as_str();
    let org = app.org.to_string();
    let created = ok_json(
        db,
        &[
            "apps",
            "create",
            "--org",
            &org,
            "--name",
            "ci",
            "--allow",
            "twilio/iam/role-assignments/list",
            "--json",
        ],
    );
    let (id, secret) = (
        created["client_id"].as_str().expect("id").to_owned(),
        created["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    );
    let allowed = eventually(Duration::from_secs(5), || async {
        let t = app.token_for(&id, &secret).await;
        let Some(t) = t.body["access_token"].as_str() else {
            return false;
        };
        app.get("/v2/Organizations/Roles", t).await.status == 200
    })
    .await;
    assert!(allowed.is_some(), "the first policy applies");
    let before = app.token_for(&id, &secret).await;
    let before = before.body["access_token"]
        .as_str()
        .expect("a token under the first policy")
        .to_owned();

    let updated = ok_json(
        db,
        &[
            "apps",
            "update",
            "--app",
            &id,
            "--allow",
            "twilio/iam/roles/list",
            "--ttl",
            "600",
            "--name",
            "ci-2",
            "--json",
        ],
    );
    assert_eq!(updated["friendly_name"], "ci-2");
    assert_eq!(updated["access_token_ttl"], 600);
    assert_eq!(
        updated["policy"]["allow"],
        serde_json::json!(["/twilio/iam/roles/list"])
    );
    // The same client id and secret; the running server applies the new policy.
    let refused = eventually(Duration::from_secs(5), || async {
        let t = app.token_for(&id, &secret).await;
        let Some(t) = t.body["access_token"].as_str() else {
            return false;
        };
        app.get("/v2/Organizations/Roles", t).await.status == 403
    })
    .await;
    assert!(refused.is_some(), "the new policy applies");
    // A narrower policy ends the tokens issued under the wider one.
    let old_token = app.get("/v2/Organizations/Roles", &before).await;
    assert_eq!(old_token.status, 401, "{:?}", old_token.body);
    let t = app.token_for(&id, &secret).await;
    assert_eq!(t.body["expires_in"], 600);

    // The same settings again: nothing changes, no event.
    let same = cli(db, &["apps", "update", "--app", &id, "--ttl", "600"]);
    assert!(same.status.success());
    assert!(String::from_utf8_lossy(&same.stdout).contains("nothing changed"));
    let events = ok_json(
        db,
        &["audit", "--org", &org, "--action", "app.updated", "--json"],
    );
    let events = events["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["before"]["friendly_name"], "ci");
    assert_eq!(events[0]["after"]["access_token_ttl"], 600);

    let nothing = cli(db, &["apps", "update", "--app", &id]);
    assert!(!nothing.status.success());
    assert!(stderr(&nothing).contains("nothing to change"));
    let unknown = cli(
        db,
        &[
            "apps",
            "update",
            "--app",
            "OQ00000000000000000000000000000000",
            "--ttl",
            "600",
        ],
    );
    assert_eq!(unknown.status.code(), Some(3));
}

#[tokio::test]
async fn unknown_audit_actions_are_refused_and_no_op_status_changes_write_no_event() {
    let app = spawn_app().await;
    let db = app.db_url.as_str();
    let org = app.org.to_string();
    let out = cli(db, &["audit", "--org", &org, "--action", "app.bogus"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("app.disabled"), "{}", stderr(&out));
    let created = ok_json(
        db,
        &[
            "apps", "create", "--org", &org, "--name", "x", "--allow", "/*", "--json",
        ],
    );
    let sid = created["sid"].as_str().expect("sid");
    ok_json(db, &["apps", "disable", "--app", sid, "--json"]);
    let again = ok_json(db, &["apps", "disable", "--app", sid, "--json"]);
    assert_eq!(again["status"], "disabled");
    let events = ok_json(
        db,
        &["audit", "--org", &org, "--action", "app.disabled", "--json"],
    );
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
}

/// The changes the command line makes are logged by the running servers that see them: one
/// line each, naming its audit event, action, target and actor as plain values.
#[tokio::test]
async fn a_running_server_logs_each_change_the_command_line_makes() {
    let (db_url, dir) = fresh_database().await;
    let served = start_serve(&db_url, &dir, &[("ORGIAM_LOG", "info")]).ready();
    let (org, _, _) = printed_credentials(&served.lines).expect("bootstrapped");
    let created = ok_json(
        &db_url,
        &[
            "apps", "create", "--org", &org, "--name", "logged", "--allow", "/*", "--json",
        ],
    );
    let app = created["sid"].as_str().expect("sid").to_owned();
    ok_json(&db_url, &["apps", "disable", "--app", &app, "--json"]);
    ok_json(
        &db_url,
        &[
            "users",
            "create",
            "--org",
            &org,
            "--email",
            "ann@example.com",
            "--json",
        ],
    );
    let events = ok_json(&db_url, &["audit", "--org", &org, "--json"]);
    let events = events["events"].as_array().expect("events").clone();
    let wanted: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["target"] == app.as_str() || e["action"] == "user.created")
        .map(|e| {
            (
                e["sid"].as_str().expect("event sid").to_owned(),
                e["action"].as_str().expect("action").to_owned(),
            )
        })
        .collect();
    assert!(wanted.len() >= 3, "{events:?}");
    let log_path = served.log.clone();
    let seen = eventually(Duration::from_secs(5), || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let all = wanted.iter().all(|(sid, _)| log.contains(sid.as_str()));
        async move { all }
    })
    .await;
    let log = std::fs::read_to_string(&served.log).expect("log");
    assert!(seen.is_some(), "the changes are not in the log:\n{log}");
    for (sid, action) in &wanted {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(sid.as_str())).collect();
        assert_eq!(lines.len(), 1, "one line for {sid}:\n{log}");
        let line = lines[0];
        assert!(line.contains(&format!("event={sid}")), "{line}");
        assert!(line.contains(&format!("action={action}")), "{line}");
        assert!(line.contains("actor="), "{line}");
        assert!(!line.contains("Some("), "Rust debug text: {line}");
        assert!(!line.contains('"'), "quoted values: {line}");
    }
    assert!(
        log.lines()
            .any(|l| l.contains("action=app.disabled") && l.contains(&format!("target={app}"))),
        "{log}"
    );
    // The changes before the start (the bootstrap) are not news: logged by no one here.
    let bootstrap = events
        .iter()
        .find(|e| e["action"] == "org.created")
        .and_then(|e| e["sid"].as_str())
        .expect("org.created");
    assert!(!log.contains(bootstrap), "{log}");
    stop(served);
}
