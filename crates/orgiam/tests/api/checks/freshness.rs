//! Permission checks stay fresh: on every replica under churn, and after changes made
//! elsewhere, with and without the index.

use super::*;

/// Two replicas on one database; assignments created and deleted through one while both are
/// asked: each answer after an acknowledged change reflects it, on the replica that made it
/// at once and on the other within one second; meanwhile every answer is one of the two
/// states that existed.
#[tokio::test]
async fn checks_are_fresh_on_every_replica_under_churn() {
    let (db_url, dir) = fresh_database().await;
    let r1 = serve(&db_url, &dir);
    let r2 = serve(&db_url, &dir);
    let (org, id, secret) = printed_credentials(&r1.lines).expect("replica 1 bootstrapped");
    let http = reqwest::Client::new();
    let run = |args: &[&str]| {
        let out = crate::helpers::orgiam()
            .args(args)
            .env("ORGIAM_DATABASE_URL", &db_url)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };
    let user = run(&[
        "users",
        "create",
        "--org",
        &org,
        "--email",
        "churn@example.com",
        "--json",
    ]);
    let user = user["sid"].as_str().expect("sid").to_owned();
    let account = run(&[
        "accounts", "create", "--org", &org, "--name", "a", "--owner", &user, "--json",
    ]);
    let account = account["account_sid"].as_str().expect("sid").to_owned();
    let (role, granted, _) = role_with_deny();
    let token = {
        let r = http
            .post(format!("{}/v2/token", r1.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ])
            .send()
            .await
            .expect("token");
        let v: Value = r.json().await.expect("json");
        v["access_token"].as_str().expect("token").to_owned()
    };
    let body =
        json!({"checks": [{"identity": user, "permission": granted.as_str(), "scope": account}]});
    let ask = {
        let (http, token, body) = (http.clone(), token.clone(), body.clone());
        move |base: String| {
            let (http, token, body) = (http.clone(), token.clone(), body.clone());
            async move {
                let r = http
                    .post(format!("{base}{CHECKS}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("check");
                assert_eq!(r.status(), 200);
                let v: Value = r.json().await.expect("json");
                v["results"][0]["reason"]
                    .as_str()
                    .expect("reason")
                    .to_owned()
            }
        }
    };
    // A background reader on replica 2 that sees only the two states.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (ask, stop, base) = (ask.clone(), stop.clone(), r2.base.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let reason = ask(base.clone()).await;
                assert!(reason == "granted" || reason == "no_assignment", "{reason}");
                n += 1;
                // Under the per-app request rate (2,000/s), which the writer shares: checks
                // answered from memory come back faster than that.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            n
        })
    };
    for round in 0..10 {
        let scope = if round % 2 == 0 {
            org.as_str()
        } else {
            account.as_str()
        };
        let r = http
            .post(format!("{}/v2/Organizations/RoleAssignments", r1.base))
            .bearer_auth(&token)
            .json(&json!({"role_sid": role.sid, "scope": scope, "identity": user}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        let sid = v["sid"].as_str().expect("sid").to_owned();
        assert_eq!(
            ask(r1.base.clone()).await,
            "granted",
            "round {round}, same replica"
        );
        let seen = crate::helpers::eventually(Duration::from_secs(2), || {
            let ask = ask.clone();
            let base = r2.base.clone();
            async move { ask(base).await == "granted" }
        })
        .await;
        assert!(
            seen.is_some_and(|t| t <= Duration::from_secs(1)),
            "round {round}: {seen:?}"
        );
        let r = http
            .delete(format!(
                "{}/v2/Organizations/RoleAssignments/{sid}",
                r1.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status(), 204);
        assert_eq!(
            ask(r1.base.clone()).await,
            "no_assignment",
            "round {round}, same replica"
        );
        let seen = crate::helpers::eventually(Duration::from_secs(2), || {
            let ask = ask.clone();
            let base = r2.base.clone();
            async move { ask(base).await == "no_assignment" }
        })
        .await;
        assert!(
            seen.is_some_and(|t| t <= Duration::from_secs(1)),
            "round {round}: {seen:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered = reader.await.expect("reader");
    assert!(answered > 0);
    crate::helpers::stop(r1);
    crate::helpers::stop(r2);
}

/// Checks answer from decision data the server keeps in memory (on by default) or from the
/// store on each request (`decision_index = false`): both follow every kind of change made
/// behind the server's back — through the store, as the command line and other replicas do
/// — users and accounts created, assignments created and deleted, users deactivated and
/// activated, custom roles created and narrowed; and they answer alike.
#[tokio::test]
async fn checks_follow_changes_made_elsewhere_with_and_without_the_index() {
    use orgiam_domain::model::Assignment;
    use orgiam_domain::policy::{Pattern, Policy};
    use orgiam_domain::sid::{AssignmentSid, RoleSid};

    let mut answers: Vec<Vec<String>> = Vec::new();
    for index in [true, false] {
        let app = crate::helpers::spawn_app_with(|c| c.decision_index = index).await;
        let token = app.token().await;
        let directory = orgiam_store::connect(&orgiam_store::DatabaseUrl::new(&app.db_url))
            .await
            .expect("store");
        let (role, granted, _) = role_with_deny();
        let mut seen: Vec<String> = Vec::new();
        let ask = |user: &UserSid, permission: &Permission, scope: &str| {
            let body = json!({"checks": [
                {"identity": user, "permission": permission.as_str(), "scope": scope}
            ]});
            let (app, token) = (&app, &token);
            async move {
                let r = app.send(Method::POST, CHECKS, token, Some(body)).await;
                assert_eq!(r.status, 200, "{}", r.body);
                r.body["results"][0]["reason"]
                    .as_str()
                    .expect("reason")
                    .to_owned()
            }
        };
        let assignment = |user: &UserSid, role: &RoleSid, scope: &str| Assignment {
            sid: AssignmentSid::random(),
            org: app.org.clone(),
            role: role.clone(),
            scope: scope.to_owned(),
            identity: user.clone(),
            resource_type: None,
            resource_id: None,
            date_created: 0,
        };
        let org = app.org.to_string();
        // A user not yet created is unknown; asked about (and so held) before, still known
        // once created.
        let user = UserSid::random();
        seen.push(ask(&user, &granted, &org).await);
        let u = orgiam_domain::model::User {
            sid: user.clone(),
            org: app.org.clone(),
            email: format!("{user}@example.com"),
            friendly_name: "u".into(),
            date_created: 0,
        };
        app.store
            .create_user(&u, &Actor::cli())
            .await
            .expect("user");
        seen.push(ask(&user, &granted, &org).await);
        let account = app.create_account(&app.org, None).await;
        seen.push(ask(&user, &granted, account.as_str()).await);
        let a = assignment(&user, &role.sid, account.as_str());
        app.store
            .create_assignment(&a, true, &Actor::cli())
            .await
            .expect("assign");
        seen.push(ask(&user, &granted, account.as_str()).await);
        // A subaccount created now inherits the assignment.
        let sub = app.create_account(&app.org, Some(&account)).await;
        seen.push(ask(&user, &granted, sub.as_str()).await);
        app.store
            .access()
            .set_user_active(&app.org, &user, false, &Actor::cli())
            .await
            .expect("deactivate");
        seen.push(ask(&user, &granted, sub.as_str()).await);
        app.store
            .access()
            .set_user_active(&app.org, &user, true, &Actor::cli())
            .await
            .expect("activate");
        seen.push(ask(&user, &granted, sub.as_str()).await);
        app.store
            .delete_assignment(&app.org, &a.sid, &Actor::cli())
            .await
            .expect("delete");
        seen.push(ask(&user, &granted, sub.as_str()).await);
        // A custom role that grants it, then narrowed by a deny.
        let custom = Role {
            sid: RoleSid::random(),
            org: Some(app.org.clone()),
            friendly_name: "checks custom".into(),
            policy: Policy {
                allow: vec![Pattern::parse(granted.as_str()).expect("pattern")],
                deny: None,
            },
            resource_types: None,
            ..role.clone()
        };
        directory
            .create_role(&custom, &Actor::cli())
            .await
            .expect("custom role");
        let c = assignment(&user, &custom.sid, &org);
        app.store
            .create_assignment(&c, false, &Actor::cli())
            .await
            .expect("assign custom");
        seen.push(ask(&user, &granted, sub.as_str()).await);
        let narrowed = Policy {
            allow: custom.policy.allow.clone(),
            deny: Some(custom.policy.allow.clone()),
        };
        directory
            .update_role(
                &app.org,
                &custom.sid,
                &|r: &Role| {
                    Ok(Role {
                        policy: narrowed.clone(),
                        ..r.clone()
                    })
                },
                &Actor::cli(),
            )
            .await
            .expect("narrow");
        seen.push(ask(&user, &granted, sub.as_str()).await);
        assert_eq!(
            seen,
            [
                "unknown_identity",
                "no_assignment",
                "no_assignment",
                "granted",
                "granted",
                "inactive_user",
                "granted",
                "no_assignment",
                "granted",
                "denied_by_role",
            ],
            "decision index {index}"
        );
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
}
