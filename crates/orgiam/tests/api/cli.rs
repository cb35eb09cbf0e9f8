//! The `orgiam` binary: first start, restart, administrative commands, help.

use crate::helpers::{TempDir, bash, fresh_database, orgiam, serve, stop};

#[tokio::test]
async fn first_start_prints_working_credentials_and_a_restart_keeps_everything() {
    let (db_url, dir) = fresh_database().await;
    let first = serve(&db_url, &dir);
    let text = first.lines.join("\n");
    assert!(text.contains("client_id:     OQ"), "{text}");
    assert!(text.contains("client_secret: "), "{text}");
    let token_cmd = first
        .lines
        .iter()
        .find(|l| l.trim_start().starts_with("curl -s -X POST"))
        .expect("token command")
        .trim()
        .to_owned();
    let roles_cmd = first
        .lines
        .iter()
        .find(|l| l.trim_start().starts_with("TOKEN="))
        .expect("roles command")
        .trim()
        .to_owned();
    // The printed commands work as printed.
    let token: serde_json::Value = serde_json::from_str(&bash(&token_cmd)).expect("token JSON");
    assert_eq!(token["token_type"], "Bearer");
    let roles: serde_json::Value = serde_json::from_str(&bash(&roles_cmd)).expect("roles JSON");
    assert!(
        roles["roles"].as_array().is_some_and(|r| r.len() >= 40),
        "{roles}"
    );
    stop(first);

    let second = serve(&db_url, &dir);
    let text = second.lines.join("\n");
    assert!(
        !text.contains("client_secret"),
        "no new secret on restart: {text}"
    );
    assert!(text.contains("already initialized"));
    // The first start's credentials still work against the restarted server.
    let cmd = token_cmd.replace(&first_base(&token_cmd), &second.base);
    let token: serde_json::Value = serde_json::from_str(&bash(&cmd)).expect("token JSON");
    assert!(token["access_token"].is_string());
    stop(second);
}

fn first_base(cmd: &str) -> String {
    let start = cmd.find("'http").expect("url") + 1;
    let end = cmd[start..].find("/v2/token").expect("path") + start;
    cmd[start..end].to_owned()
}

#[tokio::test]
async fn admin_commands_create_orgs_and_apps_and_fetch_tokens() {
    let (db_url, dir) = fresh_database().await;
    let run = |args: &[&str]| {
        let out = orgiam()
            .args(args)
            .env("ORGIAM_DATABASE_URL", &db_url)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    // Works before any server ever ran, on a store made by `orgiam init`.
    run(&["init"]);
    let org: serde_json::Value =
        serde_json::from_str(&run(&["orgs", "create", "--name", "Acme", "--json"])).expect("json");
    let org = org["sid"].as_str().expect("sid").to_owned();
    assert!(org.starts_with("OR"));
    let app: serde_json::Value = serde_json::from_str(&run(&[
        "apps",
        "create",
        "--org",
        &org,
        "--name",
        "ci",
        "--allow",
        "twilio/iam/role-assignments/list",
        "--ttl",
        "600",
        "--json",
    ]))
    .expect("json");
    let (id, secret) = (
        app["client_id"].as_str().expect("id").to_owned(),
        app["client_secret"].as_str().expect("secret").to_owned(),
    );
    let user: serde_json::Value = serde_json::from_str(&run(&[
        "users",
        "create",
        "--org",
        &org,
        "--email",
        "ada@example.com",
        "--name",
        "Ada",
        "--json",
    ]))
    .expect("json");
    assert!(user["sid"].as_str().is_some_and(|s| s.starts_with("US")));
    let user_sid = user["sid"].as_str().expect("sid").to_owned();
    let dup = orgiam()
        .args([
            "users",
            "create",
            "--org",
            &org,
            "--email",
            "ada@example.com",
        ])
        .env("ORGIAM_DATABASE_URL", &db_url)
        .output()
        .expect("run");
    assert!(
        !dup.status.success() && String::from_utf8_lossy(&dup.stderr).contains("already exists")
    );
    let account: serde_json::Value = serde_json::from_str(&run(&[
        "accounts", "create", "--org", &org, "--name", "Prod", "--owner", &user_sid, "--json",
    ]))
    .expect("json");
    let account = account["account_sid"].as_str().expect("sid").to_owned();
    let sub = run(&[
        "accounts", "create", "--org", &org, "--name", "EU", "--parent", &account,
    ]);
    assert!(sub.starts_with("Created subaccount AC"), "{sub}");
    let human = run(&["orgs", "create", "--name", "Beta"]);
    assert!(human.starts_with("Created organization OR"), "{human}");

    // An empty store that already has an organization is not bootstrapped again.
    let served = serve(&db_url, &dir);
    assert!(!served.lines.join("\n").contains("client_secret"));
    let token = run(&[
        "token",
        "--client-id",
        &id,
        "--client-secret",
        &secret,
        "--url",
        &served.base,
    ]);
    let token = token.trim();
    assert!(token.starts_with("ey"), "{token}");
    let res = reqwest::Client::new()
        .get(format!("{}/v2/Organizations/Roles", served.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
    let json_out: serde_json::Value = serde_json::from_str(&run(&[
        "token",
        "--client-id",
        &id,
        "--client-secret",
        &secret,
        "--url",
        &served.base,
        "--json",
    ]))
    .expect("json");
    assert_eq!(json_out["expires_in"], 600);
    let bad = orgiam()
        .args([
            "token",
            "--client-id",
            &id,
            "--client-secret",
            "wrong",
            "--url",
            &served.base,
        ])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid client credentials"));
    stop(served);
}

#[test]
fn bad_input_fails_with_a_clear_message() {
    let dir = TempDir::new();
    let db = format!("sqlite://{}", dir.0.join("x.db").display());
    let init = orgiam()
        .arg("init")
        .env("ORGIAM_DATABASE_URL", &db)
        .output()
        .expect("run");
    assert!(init.status.success());
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "apps",
                "create",
                "--org",
                "nope",
                "--name",
                "x",
                "--allow",
                "/twilio/*",
            ],
            "--org",
        ),
        (
            &[
                "apps",
                "create",
                "--org",
                "OR00000000000000000000000000000000",
                "--name",
                "x",
                "--allow",
                "/twilio/*",
                "--ttl",
                "5",
            ],
            "--ttl",
        ),
        (
            &[
                "apps",
                "create",
                "--org",
                "OR00000000000000000000000000000000",
                "--name",
                "x",
                "--allow",
                "bad pattern",
            ],
            "--allow",
        ),
        (
            &[
                "apps",
                "create",
                "--org",
                "OR00000000000000000000000000000000",
                "--name",
                "x",
                "--allow",
                "/twilio/*",
            ],
            "does not exist",
        ),
        (
            &[
                "apps",
                "disable",
                "--app",
                "OQ00000000000000000000000000000000",
            ],
            "not found",
        ),
        (
            &[
                "apps",
                "rotate-secret",
                "--app",
                "OQ00000000000000000000000000000000",
                "--grace=-1",
            ],
            "--grace",
        ),
        (&["serve", "--listen", "nonsense"], "listen"),
        (
            &[
                "users",
                "create",
                "--org",
                "OR00000000000000000000000000000000",
                "--email",
                "not-an-email",
            ],
            "--email",
        ),
        (
            &[
                "users",
                "create",
                "--org",
                "OR00000000000000000000000000000000",
                "--email",
                "a@b.co",
            ],
            "does not exist",
        ),
        (
            &[
                "accounts",
                "create",
                "--org",
                "OR00000000000000000000000000000000",
                "--name",
                "x",
                "--parent",
                "bad",
            ],
            "--parent",
        ),
        (&["serve", "--public-url", "not a url"], "public_url"),
    ];
    for (args, needle) in cases {
        let out = orgiam()
            .args(*args)
            .env("ORGIAM_DATABASE_URL", &db)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = orgiam()
        .args([
            "orgs",
            "create",
            "--name",
            "x",
            "--database-url",
            "mysql://x",
        ])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite://"));
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for args in [
        &["serve"][..],
        &["orgs", "create"],
        &["apps", "create"],
        &["apps", "disable"],
        &["apps", "enable"],
        &["apps", "delete"],
        &["apps", "rotate-secret"],
        &["token"],
        &["accounts", "create"],
        &["users", "create"],
        &["init"],
        &["migrate"],
        &["completions"],
        &["orgs", "list"],
        &["orgs", "show"],
        &["apps", "list"],
        &["apps", "show"],
        &["apps", "update"],
        &["accounts", "list"],
        &["accounts", "show"],
        &["users", "list"],
        &["users", "show"],
        &["roles", "list"],
        &["roles", "show"],
        &["roles", "delete"],
        &["assignments", "create"],
        &["assignments", "delete"],
        &["assignments", "list"],
    ] {
        let out = orgiam().args(args).arg("--help").output().expect("run");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{args:?}: {text}");
        assert!(text.contains("--database-url"), "{args:?}");
    }
}

#[tokio::test]
async fn listen_and_public_url_come_from_the_environment_too() {
    let (db_url, dir) = fresh_database().await;
    let s = crate::helpers::start_serve(
        &db_url,
        &dir,
        &[("ORGIAM_PUBLIC_URL", "https://iam.example.com/")],
    )
    .ready();
    let text = s.lines.join("\n");
    assert!(
        text.contains("public URL https://iam.example.com/"),
        "{text}"
    );
    // The printed commands use the public URL; links and the issuer too.
    assert!(
        text.contains("curl -s -X POST 'https://iam.example.com/v2/token'"),
        "{text}"
    );
    let (_, id, secret) = crate::helpers::printed_credentials(&s.lines).expect("credentials");
    let http = reqwest::Client::new();
    let t: serde_json::Value = http
        .post(format!("{}/v2/token", s.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = t["access_token"].as_str().expect("token");
    let claims = token.split('.').nth(1).expect("payload");
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["iss"], "https://iam.example.com");
    let page: serde_json::Value = http
        .get(format!("{}/v2/Organizations/Roles?PageSize=2", s.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(
        page["meta"]["first_page_url"],
        "https://iam.example.com/v2/Organizations/Roles?PageSize=2&Page=0"
    );
    let meta: serde_json::Value = http
        .get(format!("{}/.well-known/oauth-authorization-server", s.base))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["issuer"], "https://iam.example.com");
    assert_eq!(meta["token_endpoint"], "https://iam.example.com/v2/token");
    stop(s);

    // ORGIAM_LISTEN picks the address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = orgiam()
        .args(["serve"])
        .env("ORGIAM_DATABASE_URL", &db_url)
        .env("ORGIAM_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORGIAM_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let served = crate::helpers::Served::adopt(
        out,
        format!("http://127.0.0.1:{port}"),
        dir.0.join("none.log"),
        crate::helpers::orgiam_bin(),
        &db_url,
    );
    let up = crate::helpers::eventually(std::time::Duration::from_secs(20), || async {
        http.get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up.is_some(), "serving on the ORGIAM_LISTEN port");
    stop(served);
}
