//! Many `orgiam serve` processes on one database (PostgreSQL with ORGIAM_TEST_ENGINE=postgres,
//! else one SQLite file): shared keys, page tokens and revocations; nothing lost or doubled.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgiam_domain::catalog::Catalog;
use serde_json::{Value, json};

use crate::helpers::{
    PgDatabase, Reply, access_token as token, eventually, fresh_database, pg_admin_url,
    printed_credentials, serve, start_serve, stop, try_token,
};

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Reply {
    Reply::from(http.get(url).bearer_auth(token).send().await.expect("GET")).await
}

#[tokio::test]
async fn replicas_bootstrap_exactly_once_when_started_together() {
    let (db_url, dir) = fresh_database().await;
    let starting: Vec<_> = (0..3).map(|_| start_serve(&db_url, &dir, &[])).collect();
    let served: Vec<_> = starting.into_iter().map(|s| s.ready()).collect();
    let printed: Vec<_> = served
        .iter()
        .filter_map(|s| printed_credentials(&s.lines))
        .collect();
    assert_eq!(printed.len(), 1, "exactly one replica printed credentials");
    let (org, id, secret) = printed[0].clone();
    let http = reqwest::Client::new();
    // The one app works on every replica, and its organization's trail shows one bootstrap.
    for s in &served {
        let t = token(&http, &s.base, &id, &secret).await;
        let r = get(
            &http,
            &format!("{}/v2/Organizations/AuditEvents?Action=app.created", s.base),
            &t,
        )
        .await;
        assert_eq!(
            r.body["events"].as_array().map(Vec::len),
            Some(1),
            "{}",
            r.body
        );
        assert_eq!(r.body["events"][0]["organization_sid"], org.as_str());
    }
    for s in served {
        stop(s);
    }
}

#[tokio::test]
async fn tokens_page_tokens_and_revocations_cross_replicas_and_nothing_is_lost() {
    let (db_url, dir) = fresh_database().await;
    let r1 = serve(&db_url, &dir);
    let r2 = serve(&db_url, &dir);
    let (org, id, secret) = printed_credentials(&r1.lines).expect("replica 1 bootstrapped");
    let http = reqwest::Client::new();

    // A token minted by replica 1 verifies on replica 2; a page token from 1 pages on 2.
    let t1 = token(&http, &r1.base, &id, &secret).await;
    let page = get(
        &http,
        &format!("{}/v2/Organizations/Roles?PageSize=5", r1.base),
        &t1,
    )
    .await;
    let next = page.body["meta"]["next_page_url"]
        .as_str()
        .expect("next")
        .replace(&r1.base, &r2.base);
    let on2 = get(&http, &next, &t1).await;
    assert_eq!(on2.status, 200, "{}", on2.body);
    let again = get(
        &http,
        page.body["meta"]["next_page_url"]
            .as_str()
            .unwrap_or_default(),
        &t1,
    )
    .await;
    assert_eq!(on2.body["roles"], again.body["roles"]);

    // An app disabled through the CLI (or any replica's store) is refused by both within 1 s.
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
    let app = run(&[
        "apps", "create", "--org", &org, "--name", "doomed", "--allow", "/*", "--json",
    ]);
    let (app_id, app_secret) = (
        app["client_id"].as_str().expect("id"),
        app["client_secret"].as_str().expect("secret"),
    );
    let doomed = token(&http, &r2.base, app_id, app_secret).await;
    assert_eq!(
        get(
            &http,
            &format!("{}/v2/Organizations/Roles", r1.base),
            &doomed
        )
        .await
        .status,
        200
    );
    run(&["apps", "disable", "--app", app_id, "--json"]);
    for base in [&r1.base, &r2.base] {
        let url = format!("{base}/v2/Organizations/Roles");
        let took = eventually(Duration::from_secs(3), || async {
            get(&http, &url, &doomed).await.status == 401
        })
        .await;
        assert!(
            took.is_some_and(|t| t <= Duration::from_secs(1)),
            "{base}: refused after {took:?}"
        );
    }

    // 8 clients create and delete assignments through both replicas at random.
    let mut users = Vec::new();
    for i in 0..8 {
        let u = run(&[
            "users",
            "create",
            "--org",
            &org,
            "--email",
            &format!("u{i}@example.com"),
            "--json",
        ]);
        users.push(u["sid"].as_str().expect("sid").to_owned());
    }
    let roles: Vec<String> = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .filter(|r| r.resource_types.is_none())
        .take(24)
        .map(|r| r.sid.to_string())
        .collect();
    let created = Arc::new(Mutex::new(HashSet::new()));
    let deleted = Arc::new(Mutex::new(HashSet::new()));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut clients = Vec::new();
    for (i, user) in users.into_iter().enumerate() {
        let (http, bases, roles, org) = (
            http.clone(),
            [r1.base.clone(), r2.base.clone()],
            roles.clone(),
            org.clone(),
        );
        let (created, deleted) = (created.clone(), deleted.clone());
        let t = token(&http, &bases[i % 2], &id, &secret).await;
        clients.push(tokio::spawn(async move {
            let mut mine: Vec<String> = Vec::new();
            let mut n = i as u64;
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let base = &bases[(n >> 33) as usize % 2];
                if mine.is_empty() || (n >> 40) % 10 < 6 {
                    let role = &roles[(n >> 20) as usize % roles.len()];
                    let body = json!({"role_sid": role, "scope": org, "identity": user});
                    let r = http
                        .post(format!("{base}/Organizations/{org}/RoleAssignments"))
                        .bearer_auth(&t)
                        .json(&body)
                        .send()
                        .await
                        .expect("POST");
                    if r.status() == 201 {
                        let v: Value = r.json().await.expect("json");
                        let sid = v["sid"].as_str().expect("sid").to_owned();
                        created.lock().expect("lock").insert(sid.clone());
                        mine.push(sid);
                    }
                } else {
                    let sid = mine.swap_remove((n >> 24) as usize % mine.len());
                    let r = http
                        .delete(format!("{base}/v2/Organizations/RoleAssignments/{sid}"))
                        .bearer_auth(&t)
                        .send()
                        .await
                        .expect("DELETE");
                    if r.status() == 204 {
                        deleted.lock().expect("lock").insert(sid);
                    }
                }
            }
        }));
    }
    for c in clients {
        c.await.expect("client");
    }
    let expected: HashSet<String> = {
        let (c, d) = (created.lock().expect("lock"), deleted.lock().expect("lock"));
        assert!(
            c.len() > 20 && !d.is_empty(),
            "the clients did work: {} created, {} deleted",
            c.len(),
            d.len()
        );
        c.difference(&d).cloned().collect()
    };
    let t = token(&http, &r2.base, &id, &secret).await;
    let mut stored = Vec::new();
    let mut url = format!("{}/v2/Organizations/RoleAssignments?PageSize=100", r2.base);
    loop {
        let r = get(&http, &url, &t).await;
        stored.extend(
            r.body["content"]
                .as_array()
                .expect("content")
                .iter()
                .filter_map(|a| a["sid"].as_str().map(str::to_owned)),
        );
        match r.body["meta"]["next_page_url"].as_str() {
            Some(n) => url = n.to_owned(),
            None => break,
        }
    }
    let stored_set: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored_set.len(), stored.len(), "nothing duplicated");
    assert_eq!(
        stored_set, expected,
        "exactly the acknowledged creates minus the acknowledged deletes"
    );
    stop(r1);
    stop(r2);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    // Always on PostgreSQL: a database can be dropped under a running server.
    let db = PgDatabase::create(&pg_admin_url(), false)
        .await
        .expect("create database");
    let dir = crate::helpers::TempDir::new();
    let s = serve(db.url(), &dir);
    let http = reqwest::Client::new();
    let ready = |b: String| {
        let http = http.clone();
        async move { Reply::from(http.get(format!("{b}/readyz")).send().await.expect("GET")).await }
    };
    assert_eq!(ready(s.base.clone()).await.status, 200);
    db.drop_now().expect("drop the database");
    let r = ready(s.base.clone()).await;
    r.assert_error(503, 20503, "unavailable");
    let health = http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the database"
    );
    stop(s);
}

/// The usual answer to a leaked token: disable the app, rotate its secret, enable it again.
/// The leaked token must stay dead on every replica; the new secret's tokens work at once; and
/// a rotation with a grace period ends the old secret's tokens when the grace ends.
#[tokio::test]
async fn a_leaked_token_stays_revoked_after_disable_rotate_enable_on_every_replica() {
    let (db_url, dir) = fresh_database().await;
    let r1 = serve(&db_url, &dir);
    let r2 = serve(&db_url, &dir);
    let (org, _, _) = printed_credentials(&r1.lines).expect("replica 1 bootstrapped");
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
    let created = run(&[
        "apps", "create", "--org", &org, "--name", "leaky", "--allow", "/*", "--json",
    ]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let leaked = token(&http, &r1.base, &id, &secret).await;
    let status_on = |base: &str, t: &str| {
        let (http, url, t) = (
            http.clone(),
            format!("{base}/v2/Organizations/Roles?PageSize=1"),
            t.to_owned(),
        );
        async move { get(&http, &url, &t).await.status }
    };
    for base in [&r1.base, &r2.base] {
        assert_eq!(status_on(base, &leaked).await, 200);
    }

    run(&["apps", "disable", "--app", &id, "--json"]);
    let rotated = run(&[
        "apps",
        "rotate-secret",
        "--app",
        &id,
        "--grace",
        "0",
        "--json",
    ]);
    let new_secret = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    run(&["apps", "enable", "--app", &id, "--json"]);

    // Within a second every replica has seen all three changes: the leaked token is refused,
    // a token for the new secret works at once, from either replica on either replica.
    for base in [&r1.base, &r2.base] {
        let took = eventually(Duration::from_secs(3), || async {
            let Some(fresh) = try_token(&http, base, &id, &new_secret).await else {
                return false;
            };
            status_on(&r1.base, &fresh).await == 200 && status_on(&r2.base, &fresh).await == 200
        })
        .await;
        assert!(
            took.is_some_and(|t| t <= Duration::from_secs(1)),
            "{base}: the new secret's tokens work after {took:?}"
        );
    }
    for base in [&r1.base, &r2.base] {
        let refused = get(
            &http,
            &format!("{base}/v2/Organizations/Roles?PageSize=1"),
            &leaked,
        )
        .await;
        refused.assert_error(401, 20003, "Invalid access token");
    }
    // And it stays refused: a second disable/enable round does not bring it back either.
    run(&["apps", "disable", "--app", &id, "--json"]);
    run(&["apps", "enable", "--app", &id, "--json"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    for base in [&r1.base, &r2.base] {
        assert_eq!(status_on(base, &leaked).await, 401);
    }

    // A rotation with a grace period: the old secret's tokens work until the grace ends, the
    // new secret's tokens go on working after it.
    let current = token(&http, &r2.base, &id, &new_secret).await;
    let rotated = run(&[
        "apps",
        "rotate-secret",
        "--app",
        &id,
        "--grace",
        "2",
        "--json",
    ]);
    let newest = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let newest_token = token(&http, &r1.base, &id, &newest).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for base in [&r1.base, &r2.base] {
        assert_eq!(status_on(base, &current).await, 200, "within the grace");
        assert_eq!(status_on(base, &newest_token).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(2600)).await;
    for base in [&r1.base, &r2.base] {
        assert_eq!(status_on(base, &current).await, 401, "after the grace");
        assert_eq!(status_on(base, &newest_token).await, 200);
    }
    stop(r1);
    stop(r2);
}

/// `--grace 0` means at once, on every replica, without waiting for the revision poll: with
/// the poll slowed to a minute, a secret rotated by the command line is refused by both
/// replicas on the next request, and the new one is accepted by both.
#[tokio::test]
async fn a_secret_rotated_with_no_grace_is_refused_at_once_on_every_replica() {
    let (db_url, dir) = fresh_database().await;
    let slow = [("ORGIAM_POLL_INTERVAL_MS", "60000")];
    let r1 = start_serve(&db_url, &dir, &slow).ready();
    let r2 = start_serve(&db_url, &dir, &slow).ready();
    let (org, _, _) = printed_credentials(&r1.lines)
        .or_else(|| printed_credentials(&r2.lines))
        .expect("one replica bootstrapped");
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
    let created = run(&[
        "apps", "create", "--org", &org, "--name", "rotated", "--allow", "/*", "--json",
    ]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    let mut old = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    // Both replicas know the app and its secret (held in memory from here on).
    for base in [&r1.base, &r2.base] {
        assert!(try_token(&http, base, &id, &old).await.is_some());
        assert!(try_token(&http, base, &id, &old).await.is_some());
    }
    for round in 0..3 {
        let rotated = run(&[
            "apps",
            "rotate-secret",
            "--app",
            &id,
            "--grace",
            "0",
            "--json",
        ]);
        let new = rotated["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        for base in [&r1.base, &r2.base] {
            assert!(
                try_token(&http, base, &id, &old).await.is_none(),
                "round {round}: {base} still accepts the old secret"
            );
            assert!(
                try_token(&http, base, &id, &new).await.is_some(),
                "round {round}: {base} refuses the new secret"
            );
        }
        // Accepted again from memory on the next requests; the old one stays refused.
        for base in [&r1.base, &r2.base] {
            assert!(try_token(&http, base, &id, &new).await.is_some());
            assert!(try_token(&http, base, &id, &old).await.is_none());
        }
        old = new;
    }
    stop(r1);
    stop(r2);
}
