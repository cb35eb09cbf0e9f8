//! Living with the binary as an operator: a start that cannot serve writes nothing, stores
//! are only made on purpose, schemas are never changed by surprise, and every object can be
//! listed and looked up from the command line.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    TempDir, eventually, fresh_database, orgiam, printed_credentials, spawn_app, start_serve, stop,
};

fn postgres() -> bool {
    std::env::var("ORGIAM_TEST_ENGINE").as_deref() == Ok("postgres")
}

fn cli(db_url: &str, args: &[&str]) -> Output {
    orgiam()
        .args(args)
        .env("ORGIAM_DATABASE_URL", db_url)
        .env("ORGIAM_LOG", "warn")
        .output()
        .expect("run orgiam")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and print one JSON object.
fn ok_json(db_url: &str, args: &[&str]) -> Value {
    let out = cli(db_url, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs SQL against the test database directly (to fake other schema versions).
async fn exec_sql(db_url: &str, sql: &str) {
    use sqlx::Executor;
    if postgres() {
        let pool = sqlx::PgPool::connect(db_url).await.expect("connect");
        pool.execute(sql).await.expect("sql");
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(db_url).await.expect("connect");
        pool.execute(sql).await.expect("sql");
        pool.close().await;
    }
}

/// Tables in the test database (the SQLite file must exist).
async fn table_count(db_url: &str) -> i64 {
    if postgres() {
        let pool = sqlx::PgPool::connect(db_url).await.expect("connect");
        let n = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        pool.close().await;
        n
    } else {
        let pool = sqlx::SqlitePool::connect(db_url).await.expect("connect");
        let n = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        n
    }
}

#[tokio::test]
async fn a_start_on_a_busy_port_writes_nothing_and_the_next_start_prints_the_credentials() {
    let (db_url, dir) = fresh_database().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let out = orgiam()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("ORGIAM_DATABASE_URL", &db_url)
        .env("ORGIAM_LOG", "warn")
        .current_dir(&dir.0)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot listen"), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("client_secret"), "{printed}");
    // The store is untouched: no SQLite file, no PostgreSQL table.
    if postgres() {
        assert_eq!(table_count(&db_url).await, 0);
    } else {
        assert!(!dir.0.join("orgiam.db").exists(), "the store was created");
        assert!(!dir.0.join("orgiam-data").exists());
    }
    drop(busy);

    let served = start_serve(&db_url, &dir, &[]).ready();
    let (org, id, secret) = printed_credentials(&served.lines).expect("credentials printed");
    assert!(org.starts_with("OR") && id.starts_with("OQ") && !secret.is_empty());
    stop(served);
}

#[tokio::test]
async fn only_serve_and_init_create_a_store_and_errors_name_it() {
    let dir = TempDir::new();
    // SQLite: a missing file (in missing folders) is named, and nothing is created.
    let missing = dir.0.join("nonexistent").join("x").join("orgiam.db");
    let url = format!("sqlite://{}", missing.display());
    for args in [
        &["orgs", "list"][..],
        &["orgs", "create", "--name", "Acme"],
        &["keys", "rotate"],
        &["migrate"],
        &["serve", "--no-migrate", "--listen", "127.0.0.1:0"],
    ] {
        let out = cli(&url, args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(&url), "{args:?} names the store: {err}");
        assert!(
            err.contains("orgiam init"),
            "{args:?} says what to run: {err}"
        );
    }
    assert!(!dir.0.join("nonexistent").exists(), "no folder was created");
    // Nor is a ./orgiam-data made where the command runs.
    let out = orgiam()
        .args(["orgs", "list"])
        .env_remove("ORGIAM_DATABASE_URL")
        .current_dir(&dir.0)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sqlite://./orgiam-data/orgiam.db"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.0.join("orgiam-data").exists());

    // `init` makes it; then the other commands work.
    let init = ok_json(&url, &["init", "--json"]);
    assert!(
        init["schema_version"].as_i64().is_some_and(|v| v > 0),
        "{init}"
    );
    assert!(missing.exists());
    let page = ok_json(&url, &["orgs", "list", "--json"]);
    assert_eq!(page["organizations"], serde_json::json!([]));

    // PostgreSQL: an unreachable server is named (without the password) with the cause.
    let pg = "postgres://orgiam:s3cret@127.0.0.1:1/orgiam";
    let out = cli(pg, &["orgs", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("postgres://orgiam:***@127.0.0.1:1/orgiam"),
        "{err}"
    );
    assert!(
        err.contains("127.0.0.1:1") && err.contains("connection refused"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    // An unknown host names DNS.
    let out = cli(
        "postgres://orgiam@no-such-host.invalid:5432/orgiam",
        &["orgs", "list"],
    );
    let err = stderr(&out);
    assert!(err.contains("no-such-host.invalid"), "{err}");
    assert!(err.contains("DNS"), "{err}");
}

#[tokio::test]
async fn other_commands_refuse_a_schema_older_or_newer_than_the_binary() {
    let (db_url, _dir) = fresh_database().await;
    if postgres() {
        // An empty database exists but holds no schema.
        let out = cli(&db_url, &["orgs", "list"]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("orgiam migrate"), "{}", stderr(&out));
        let m = ok_json(&db_url, &["migrate", "--json"]);
        assert!(m["schema_version"].as_i64().is_some());
    } else {
        ok_json(&db_url, &["init", "--json"]);
    }
    ok_json(&db_url, &["orgs", "list", "--json"]);

    // A newer binary migrated it: refused by every command, serve included.
    let checksum = if postgres() {
        "'\\x00'::bytea"
    } else {
        "X'00'"
    };
    exec_sql(
        &db_url,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', TRUE, {checksum}, 0)"
        ),
    )
    .await;
    for args in [
        &["orgs", "list"][..],
        &["migrate"],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = cli(&db_url, args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("newer than this orgiam binary"),
            "{args:?}: {err}"
        );
    }
    exec_sql(
        &db_url,
        "DELETE FROM _sqlx_migrations WHERE version = 99990101000000",
    )
    .await;

    // An older schema: the commands say to run `orgiam migrate`, and change nothing.
    exec_sql(
        &db_url,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .await;
    let out = cli(&db_url, &["orgs", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("older than this orgiam binary") && err.contains("orgiam migrate"),
        "{err}"
    );
    let out = cli(
        &db_url,
        &["serve", "--no-migrate", "--listen", "127.0.0.1:0"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("older than this orgiam binary"));
}

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

#[test]
fn completions_and_secrets_that_start_with_a_dash() {
    for shell in ["bash", "zsh", "fish"] {
        let out = orgiam().args(["completions", shell]).output().expect("run");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("orgiam") && text.contains("assignments"),
            "{shell}"
        );
    }
    // One secret in 64 starts with '-': it is taken as the value, not as a flag.
    let out = orgiam()
        .args([
            "token",
            "--client-id",
            "OQ00000000000000000000000000000000",
            "--client-secret",
            "-QKKabc",
            "--url",
            "http://127.0.0.1:1",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot reach"), "{err}");
}

#[tokio::test]
async fn settings_are_checked_where_they_are_read_with_the_fix_in_the_message() {
    let (db_url, dir) = fresh_database().await;
    let serve_with = |env: &[(&str, &str)], args: &[&str]| {
        orgiam()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("ORGIAM_DATABASE_URL", &db_url)
            .env("ORGIAM_LOG", "warn")
            .envs(env.iter().copied())
            .output()
            .expect("run")
    };
    // A config path that is a folder, or missing, is refused (not ignored).
    let folder = dir.0.display().to_string();
    let out = serve_with(&[], &["--config", &folder]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a file"), "{}", stderr(&out));
    let out = serve_with(&[], &["--config", "/nonexistent/orgiam.toml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
    // An unknown log level is refused, with the levels named.
    let out = serve_with(&[("ORGIAM_LOG", "verbose")], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("verbose") && err.contains("debug"), "{err}");
    // A permission in the twilio namespace must be in the catalog; the closest are suggested.
    let app = spawn_app().await;
    let out = cli(
        &app.db_url,
        &[
            "apps",
            "create",
            "--org",
            app.org.as_str(),
            "--name",
            "x",
            "--allow",
            "twilio/iam/rolez/lst",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("/twilio/iam/roles/list"), "{err}");
    ok_json(
        &app.db_url,
        &[
            "apps",
            "create",
            "--org",
            app.org.as_str(),
            "--name",
            "x",
            "--allow",
            "/acme/billing/invoices/read",
            "--json",
        ],
    );

    // `serve --help` lists every settings key.
    let help = orgiam().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    for key in [
        "database_url",
        "listen",
        "public_url",
        "log_format",
        "poll_interval_ms",
        "max_body_bytes",
        "max_header_bytes",
        "request_timeout_secs",
        "max_connections",
        "token_rate_per_second",
        "token_burst",
        "api_rate_per_second",
        "api_burst",
        "role_page_cache",
        "--no-migrate",
    ] {
        assert!(help.contains(key), "serve --help names {key}: {help}");
    }

    // database_url may come from the file (when no flag or variable names the store).
    let store = dir.0.join("from-file.db");
    let config = dir.0.join("orgiam.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}\"\nlisten = \"127.0.0.1:0\"\n",
            store.display()
        ),
    )
    .expect("write");
    let mut child = orgiam()
        .args(["serve", "--config", &config.display().to_string()])
        .env_remove("ORGIAM_DATABASE_URL")
        .env("ORGIAM_LOG", "info")
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let listening = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("listening on")))
        .expect("listening")
        .expect("line");
    assert!(listening.contains("from-file.db"), "{listening}");
    assert!(store.exists());
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    // Logs written to a pipe carry no colour codes.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("opening the store"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in piped logs: {log:?}");
}

#[tokio::test]
async fn json_logs_are_json_and_the_start_line_shows_the_address_bound() {
    let (db_url, dir) = fresh_database().await;
    let served = start_serve(
        &db_url,
        &dir,
        &[("ORGIAM_LOG", "info"), ("ORGIAM_LOG_FORMAT", "json")],
    )
    .ready();
    let listening = served.lines.last().expect("line").clone();
    assert!(
        listening.contains("listening on http://127.0.0.1:"),
        "{listening}"
    );
    let log = std::fs::read_to_string(&served.log).expect("log");
    let first = log.lines().next().expect("a log line");
    let v: Value = serde_json::from_str(first).expect("JSON log line");
    assert!(v["fields"]["message"].is_string(), "{v}");
    stop(served);

    // Every interface: the line says so, and how to reach it here.
    let out = orgiam()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("ORGIAM_DATABASE_URL", &db_url)
        .env("ORGIAM_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = out;
    let stdout = child.stdout.take().expect("stdout");
    let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"))
        .expect("listening");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on http://0.0.0.0:"), "{line}");
    assert!(
        line.contains("reach it here at http://127.0.0.1:"),
        "{line}"
    );
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_with_help_on_every_family_and_histograms() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.limits.token_failure_rate = orgiam_server::limits::Rate {
            per_second: 1,
            burst: 2,
        };
    })
    .await;
    let token = app.token().await;
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
    // A bad bearer token, and wrong secrets until the failure budget answers 429.
    assert_eq!(
        app.get("/v2/Organizations/Roles", "not-a-jwt").await.status,
        401
    );
    let client = app.client_id.to_string();
    for _ in 0..4 {
        let _ = app.token_for(&client, "wrong").await;
    }
    // A custom role's permissions, twice (the second expansion comes from memory).
    let line = serde_json::json!({
        "friendly_name": "Metrics Reader",
        "product_group": "custom",
        "lowest_level": "ACCOUNT",
        "policy": {"allow": ["/twilio/iam/*"], "deny": null},
        "resource_types": null,
    })
    .to_string();
    let roles = crate::costs::import_lines(&app, &app.org, &[line]).await;
    let role = roles[0].sid.clone();
    for _ in 0..2 {
        let r = app
            .get(&format!("/v1/Roles/{role}/Permissions"), &token)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Let the revision poll run at least once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text format");

    // Every family that has a TYPE line has a HELP line, and every sample's family is described.
    let typed: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for family in &typed {
        assert!(
            scrape.docs.contains_key(*family),
            "{family} has no HELP:\n{body}"
        );
    }
    for sample in &scrape.samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| sample.metric.strip_suffix(s))
            .filter(|f| typed.contains(f))
            .unwrap_or(&sample.metric);
        assert!(
            scrape.docs.contains_key(family),
            "{} has no HELP",
            sample.metric
        );
    }
    // Latency is a histogram (buckets aggregate across replicas), not a summary.
    let latency: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "orgiam_http_request_duration_seconds")
        .collect();
    assert!(!latency.is_empty(), "{body}");
    for s in &latency {
        match &s.value {
            prometheus_parse::Value::Histogram(buckets) => {
                assert!(buckets.len() >= 10, "{buckets:?}");
            }
            other => panic!("latency is not a histogram: {other:?}"),
        }
    }
    // (The recorder is the test process's: other tests' requests are in it too.)
    assert!(
        latency
            .iter()
            .any(|s| s.labels.get("route") == Some("/v2/Organizations/Roles")
                && s.labels.get("status") == Some("200")),
        "the roles route's latency:\n{body}"
    );
    // Build information, process metrics and the revision poll.
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "orgiam_build_info")
        .expect("build info");
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    // Every family an operator relies on is there, with HELP and TYPE.
    let families = [
        ("orgiam_http_requests_total", "counter"),
        ("orgiam_http_request_duration_seconds", "histogram"),
        ("orgiam_http_rate_limited_total", "counter"),
        ("orgiam_build_info", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds_total", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
        (
            "orgiam_revision_poll_last_success_timestamp_seconds",
            "gauge",
        ),
        ("orgiam_revision_poll_duration_seconds", "histogram"),
        ("orgiam_revision_poll_lag_seconds", "gauge"),
        ("orgiam_store_pool_connections", "gauge"),
        ("orgiam_store_pool_max_connections", "gauge"),
        ("orgiam_store_pool_wait_seconds", "histogram"),
        ("orgiam_cache_requests_total", "counter"),
        ("orgiam_token_failures_total", "counter"),
        ("orgiam_changes_logged_total", "counter"),
    ];
    for (name, kind) in families {
        assert!(
            body.lines().any(|l| l == format!("# TYPE {name} {kind}")),
            "no TYPE {kind} for {name}:\n{body}"
        );
        assert!(
            scrape.docs.get(name).is_some_and(|h| !h.is_empty()),
            "no HELP for {name}"
        );
        assert!(
            scrape.samples.iter().any(|s| s.metric == name),
            "{name} missing:\n{body}"
        );
    }
    let labelled = |name: &str, label: &str, value: &str| {
        scrape
            .samples
            .iter()
            .any(|s| s.metric == name && s.labels.get(label) == Some(value))
    };
    for cache in ["verified_tokens", "apps", "role_pages", "role_expansions"] {
        for result in ["hit", "miss"] {
            assert!(
                scrape
                    .samples
                    .iter()
                    .any(|s| s.metric == "orgiam_cache_requests_total"
                        && s.labels.get("cache") == Some(cache)
                        && s.labels.get("result") == Some(result)),
                "cache {cache} {result}:\n{body}"
            );
        }
    }
    // The role listing was asked twice: its page came from the cache the second time.
    let hits = scrape.samples.iter().find_map(|s| {
        (s.metric == "orgiam_cache_requests_total"
            && s.labels.get("cache") == Some("role_pages")
            && s.labels.get("result") == Some("hit"))
        .then_some(match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
    });
    assert!(hits.is_some_and(|h| h >= 1.0), "{body}");
    assert!(labelled("orgiam_store_pool_connections", "state", "in_use"));
    assert!(labelled("orgiam_store_pool_connections", "state", "idle"));
    assert!(
        labelled("orgiam_token_failures_total", "reason", "invalid_client"),
        "{body}"
    );
    assert!(
        labelled("orgiam_token_failures_total", "kind", "bearer"),
        "{body}"
    );
    assert!(
        labelled("orgiam_http_rate_limited_total", "route", "/v2/token"),
        "{body}"
    );
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

/// The sample settings file names every key `serve --help` lists (the keys of the settings
/// type), and `serve` starts with it.
#[tokio::test]
async fn the_sample_settings_file_has_every_key_and_serves() {
    let help = orgiam().args(["serve", "--help"]).output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let keys: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.contains("Keys (default):"))
        .skip(1)
        .map_while(|l| {
            let l = l.trim();
            let (key, rest) = l.split_once(' ')?;
            rest.starts_with('(').then_some(key)
        })
        .collect();
    assert!(keys.len() >= 20, "{help}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/orgiam.toml");
    let sample = std::fs::read_to_string(path).expect("deploy/orgiam.toml");
    let written: Vec<&str> = sample
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            let (key, _) = l.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then_some(key)
        })
        .collect();
    for key in &keys {
        assert!(written.contains(key), "deploy/orgiam.toml lacks {key}");
    }
    for key in &written {
        assert!(
            keys.contains(key),
            "deploy/orgiam.toml has unknown key {key}"
        );
    }
    // `serve` reads it (the test's store, address and master key override the file's).
    let (db_url, dir) = fresh_database().await;
    let served = start_serve(&db_url, &dir, &[("ORGIAM_CONFIG", path)]).ready();
    assert!(
        served
            .lines
            .last()
            .is_some_and(|l| l.contains("https://iam.example.com")),
        "{:?}",
        served.lines
    );
    stop(served);
}
