//! The console's pages after sign-in: tokens that stop working, the permission an app lacks,
//! hostile names shown as text, an app's secret shown once, and page timings.

use super::*;

#[tokio::test]
async fn a_revoked_or_dead_token_goes_back_to_sign_in() {
    let app = spawn_app().await;
    let c = console(&app).await;
    assert_eq!(c.get("/console/roles").await.status, 200);
    // Revoked (RFC 7009) by its app: the next page is sign-in, and the cookie is cleared.
    let r = app
        .http
        .post(format!("{}/v2/token/revoke", app.base))
        .form(&[
            ("token", c.token.as_str()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 200);
    for path in ["/console", "/console/roles", "/console/assignments"] {
        let p = c.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert_eq!(p.location(), "/console/sign-in?why=expired", "{path}");
        let set = p.set_cookie("orgiam_console").expect("cleared");
        assert_eq!(cookie_value(&set), "");
    }
    let signin = c.get("/console/sign-in?why=expired").await;
    assert!(signin.body.contains("session ended"), "{}", signin.body);

    // A token that is not one (tampered, or signed by nobody): sign-in as well.
    let forged = Console {
        app: &app,
        http: browser(),
        token: format!("{}x", c.token),
    };
    let p = forged.get("/console/users").await;
    assert_eq!(p.status, 303);
    assert!(p.location().starts_with("/console/sign-in"));

    // The app disabled: its session ends.
    let (id, secret) = app
        .create_app(&app.org, &["/twilio/iam/*"], &[], 3600)
        .await;
    let d = Console::sign_in(&app, id.as_str(), &secret).await;
    assert_eq!(d.get("/console/roles").await.status, 200);
    app.store
        .set_app_status(
            &id,
            orgiam_domain::model::AppStatus::Disabled,
            &Actor::cli(),
        )
        .await
        .expect("disable");
    let gone = eventually(std::time::Duration::from_secs(3), || async {
        let p = d.get("/console/roles").await;
        p.status == 303
    })
    .await;
    assert!(gone.is_some(), "a disabled app's session ends");
}

#[tokio::test]
async fn pages_say_which_permission_the_app_lacks() {
    let app = spawn_app().await;
    let (id, secret) = app
        .create_app(&app.org, &["/twilio/iam/role-assignments/list"], &[], 3600)
        .await;
    let c = Console::sign_in(&app, id.as_str(), &secret).await;
    let roles = c.get("/console/roles").await;
    assert_eq!(roles.status, 200, "{}", roles.body);
    for (path, lacking) in [
        ("/console/apps", "twilio/iam/oauth-apps/list"),
        ("/console/users", "twilio/iam/users/list"),
        ("/console/accounts", "twilio/iam/accounts/list"),
        ("/console/audit", "twilio/iam/audit-events/list"),
        ("/console/check", "twilio/iam/permission-checks/create"),
    ] {
        let p = c.get(path).await;
        assert_eq!(p.status, 403, "{path}: {}", p.body);
        assert!(
            p.body
                .contains(&format!("lacks the permission <code>{lacking}</code>")),
            "{path}: {}",
            p.body
        );
    }
    // The assignments page lists, but says it cannot grant or revoke.
    let a = c.get("/console/assignments").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("twilio/iam/role-assignments/create"));
    assert!(
        !a.body
            .contains(r#"method="post" action="/console/assignments""#)
    );
    // And the home page says what is and is not granted.
    let home = c.get("/console").await;
    assert!(home.body.contains("not granted to this app"));
    // A form posted anyway is refused by the API's own check, and says so.
    let user = app.create_user(&app.org).await;
    let role = org_role(&app).await;
    let p = c
        .post(
            "/console/assignments",
            &[
                ("csrf", &a.csrf()),
                ("role_sid", &role),
                ("identity", user.as_str()),
                ("scope", app.org.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("role-assignments/create"), "{}", p.body);
    assert_eq!(assignments_of(&app, &user).await, 0);
}

#[tokio::test]
async fn hostile_names_are_shown_as_text() {
    let app = spawn_app().await;
    let token = app.token().await;
    let hostile = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
    let r = app
        .send(
            Method::POST,
            "/v2/Organizations/Roles",
            &token,
            Some(json!({
                "friendly_name": hostile,
                "external_description": hostile,
                "lowest_level": "ORGANIZATION",
                "policy": {"allow": ["/twilio/iam/accounts/list"]},
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let role = r.body["sid"].as_str().expect("sid").to_owned();
    let user = User {
        sid: UserSid::random(),
        org: app.org.clone(),
        email: "x@example.com".into(),
        friendly_name: hostile.into(),
        date_created: 0,
    };
    app.store
        .create_user(&user, &Actor::cli())
        .await
        .expect("user");
    let c = console(&app).await;
    for path in [
        "/console/roles?search=script".to_owned(),
        format!("/console/roles/{role}"),
        "/console/users".to_owned(),
        format!(
            "/console/check?identity={}&permission=%3Cscript%3E&scope={}",
            user.sid, app.org
        ),
        "/console/audit".to_owned(),
    ] {
        let p = c.get(&path).await;
        assert!(!p.body.contains("<script"), "{path}: {}", p.body);
        assert!(!p.body.contains("<img"), "{path}: {}", p.body);
        if !path.starts_with("/console/check") && !path.starts_with("/console/audit") {
            assert!(p.body.contains("&lt;script&gt;"), "{path}: {}", p.body);
        }
    }
    // Bad input is a page with the API's message, not a crash.
    let p = c.get("/console/roles/IXnot-a-sid").await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("Error"), "{}", p.body);
}

#[tokio::test]
async fn an_app_created_in_the_console_shows_its_secret_once() {
    let app = spawn_app().await;
    let c = console(&app).await;
    let page = c.get("/console/apps").await;
    let created = c
        .post(
            "/console/apps",
            &[
                ("csrf", &page.csrf()),
                ("friendly_name", "made in the console"),
                (
                    "allow",
                    "/twilio/iam/role-assignments/list\n/twilio/iam/accounts/list",
                ),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let re = regex::Regex::new(r#"aria-label="Client secret">([^<]+)<"#).expect("regex");
    let secret = re
        .captures(&created.body)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
        .expect("secret shown");
    let id = regex::Regex::new(r"OQ[0-9a-f]{32}")
        .expect("regex")
        .find_iter(&created.body)
        .map(|m| m.as_str().to_owned())
        .find(|s| *s != app.client_id)
        .expect("client id");
    // It works, and the listing never shows it again.
    assert_eq!(app.token_for(&id, &secret).await.status, 200);
    let listed = c.get("/console/apps").await;
    assert!(listed.body.contains(&id));
    assert!(!listed.body.contains(&secret));
    // The new app signs in to the console with exactly its permissions.
    let mine = Console::sign_in(&app, &id, &secret).await;
    assert_eq!(mine.get("/console/accounts").await.status, 200);
    assert_eq!(mine.get("/console/apps").await.status, 403);
}

/// Server time of every console page with 1,000 custom roles, 10,000 users and 1,000 role
/// assignments: each page requested 30 times after 5 warm-ups, over loopback (so the figures
/// are upper bounds of the server's time). Prints a table; asserts nothing about time.
///
/// `cargo test -p orgiam --test api console::timings -- --ignored --nocapture`
/// (and with ORGIAM_TEST_ENGINE=postgres).
#[tokio::test]
#[ignore = "a measurement: prints timings (docs/PERFORMANCE.md)"]
async fn timings() {
    let app = spawn_app().await;
    let token = app.token().await;
    let started = std::time::Instant::now();
    let groups = ["billing", "voice", "messaging", "studio"];
    let mut roles = Vec::new();
    for i in 0..1000 {
        let r = app
            .send(
                Method::POST,
                "/v2/Organizations/Roles",
                &token,
                Some(json!({
                    "friendly_name": format!("Custom {} role {i:04}", groups[i % 4]),
                    "lowest_level": "ORGANIZATION",
                    "policy": {"allow": [format!("/twilio/iam/{}/*", ["roles", "accounts", "role-assignments", "users"][i % 4])]},
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        roles.push(r.body["sid"].as_str().expect("sid").to_owned());
    }
    let mut users = Vec::new();
    for i in 0..10_000 {
        let user = User {
            sid: UserSid::random(),
            org: app.org.clone(),
            email: format!("user{i:05}@example.com"),
            friendly_name: format!("User {i:05}"),
            date_created: 0,
        };
        app.store
            .create_user(&user, &Actor::cli())
            .await
            .expect("user");
        users.push(user.sid);
    }
    for i in 0..1000 {
        let r = app
            .send(
                Method::POST,
                "/v2/Organizations/RoleAssignments",
                &token,
                Some(json!({"role_sid": roles[i], "identity": users[i * 7], "scope": app.org})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let account = app.create_account(&app.org, None).await;
    println!("setup: {:.1} s", started.elapsed().as_secs_f64());
    let c = console(&app).await;
    let user = &users[0];
    let pages = [
        "/console".to_owned(),
        "/console/roles".to_owned(),
        "/console/roles?search=billing".to_owned(),
        "/console/roles?search=role+0999".to_owned(),
        format!("/console/roles/{}", roles[0]),
        "/console/users".to_owned(),
        format!("/console/users?after={}", users[5000]),
        "/console/users?email=user05000%40example.com".to_owned(),
        "/console/accounts".to_owned(),
        "/console/assignments".to_owned(),
        format!("/console/assignments?identity={user}"),
        "/console/apps".to_owned(),
        "/console/audit".to_owned(),
        format!(
            "/console/check?identity={user}&permission=%2Ftwilio%2Fiam%2Froles%2Fcreate&scope={}",
            account
        ),
        format!("/console/effective?identity={user}&scope={}", app.org),
        format!(
            "/console/holders?permission=%2Ftwilio%2Fiam%2Froles%2Fcreate&scope={}",
            app.org
        ),
    ];
    println!("| page | median ms | p95 ms | max ms |");
    println!("|---|---|---|---|");
    for path in &pages {
        for _ in 0..5 {
            let p = c.get(path).await;
            assert_eq!(p.status, 200, "{path}: {}", p.body);
        }
        let mut ms = Vec::new();
        for _ in 0..30 {
            let t = std::time::Instant::now();
            let p = c.get(path).await;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(p.status, 200, "{path}");
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "| `{}` | {:.2} | {:.2} | {:.2} |",
            path.split('?').next().unwrap_or(path).to_owned()
                + if path.contains('?') { "?…" } else { "" },
            ms[15],
            ms[28],
            ms[29]
        );
    }
}
