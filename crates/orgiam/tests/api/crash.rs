//! Crash safety: SIGKILL in the middle of a burst of writes; after a restart every
//! acknowledged change is there, no half-change is visible, and the database is intact.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orgiam_domain::catalog::Catalog;
use serde_json::{Value, json};

use crate::helpers::{fresh_database, orgiam, printed_credentials, serve, stop};

/// Rows of a query with no parameters, each row's columns as text, on either engine.
async fn rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    use sqlx::Row;
    fn text<R: Row>(row: &R, n: usize) -> Vec<String>
    where
        usize: sqlx::ColumnIndex<R>,
        String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        (0..n)
            .map(|i| row.try_get::<String, _>(i).expect("text column"))
            .collect()
    }
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        let out = sqlx::query(sql).fetch_all(&pool).await.expect("query");
        let v = out.iter().map(|r| text(r, r.len())).collect();
        pool.close().await;
        v
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let out = sqlx::query(sql).fetch_all(&pool).await.expect("query");
        let v = out.iter().map(|r| text(r, r.len())).collect();
        pool.close().await;
        v
    }
}

#[derive(Default)]
struct Ledger {
    acked_creates: HashSet<String>,
    acked_deletes: HashSet<String>,
    /// Deletes sent whose answer never came.
    unknown_deletes: HashSet<String>,
    /// Creates sent whose answer never came (their SIDs are unknown).
    unknown_creates: usize,
}

#[tokio::test]
async fn sigkill_mid_burst_loses_no_acknowledged_change_and_leaves_no_half_change() {
    let (db_url, dir) = fresh_database().await;
    let first = serve(&db_url, &dir);
    let (org, id, secret) = printed_credentials(&first.lines).expect("bootstrap");
    let run = |args: &[&str]| {
        let out = orgiam()
            .args(args)
            .env("ORGIAM_DATABASE_URL", &db_url)
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}");
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };
    let users: Vec<String> = (0..6)
        .map(|i| {
            run(&[
                "users",
                "create",
                "--org",
                &org,
                "--email",
                &format!("c{i}@example.com"),
                "--json",
            ])["sid"]
                .as_str()
                .expect("sid")
                .to_owned()
        })
        .collect();
    let roles: Vec<String> = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .filter(|r| r.resource_types.is_none())
        .take(24)
        .map(|r| r.sid.to_string())
        .collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let token: Value = http
        .post(format!("{}/v2/token", first.base))
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
    let token = token["access_token"].as_str().expect("token").to_owned();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut clients = Vec::new();
    for (i, user) in users.iter().cloned().enumerate() {
        let (http, base, token, roles, org, ledger) = (
            http.clone(),
            first.base.clone(),
            token.clone(),
            roles.clone(),
            org.clone(),
            ledger.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut mine: Vec<String> = Vec::new();
            let mut n = i as u64 + 7;
            loop {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if mine.is_empty() || (n >> 40) % 10 < 6 {
                    let body = json!({"role_sid": roles[(n >> 20) as usize % roles.len()], "scope": org, "identity": user});
                    match http.post(format!("{base}/v2/Organizations/RoleAssignments")).bearer_auth(&token).json(&body).send().await {
                        Ok(r) if r.status() == 201 => {
                            let Ok(v) = r.json::<Value>().await else {
                                ledger.lock().expect("lock").unknown_creates += 1;
                                return;
                            };
                            let sid = v["sid"].as_str().expect("sid").to_owned();
                            ledger.lock().expect("lock").acked_creates.insert(sid.clone());
                            mine.push(sid);
                        }
                        Ok(_) => {}
                        Err(_) => {
                            ledger.lock().expect("lock").unknown_creates += 1;
                            return;
                        }
                    }
                } else {
                    let sid = mine.swap_remove((n >> 24) as usize % mine.len());
                    match http.delete(format!("{base}/v2/Organizations/RoleAssignments/{sid}")).bearer_auth(&token).send().await {
                        Ok(r) if r.status() == 204 => {
                            ledger.lock().expect("lock").acked_deletes.insert(sid);
                        }
                        Ok(r) => panic!("delete of {sid} answered {}", r.status()),
                        Err(_) => {
                            ledger.lock().expect("lock").unknown_deletes.insert(sid);
                            return;
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut first = first;
    let _ = first.child.wait();
    for c in clients {
        c.await.expect("client");
    }
    let ledger = Arc::try_unwrap(ledger)
        .ok()
        .expect("sole owner")
        .into_inner()
        .expect("lock");
    assert!(
        ledger.acked_creates.len() > 20,
        "the burst did work: {}",
        ledger.acked_creates.len()
    );

    // Restart on the same database.
    let second = serve(&db_url, &dir);
    let present: HashSet<String> = rows(&db_url, "SELECT sid FROM role_assignments")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for sid in &ledger.acked_creates {
        if !ledger.acked_deletes.contains(sid) && !ledger.unknown_deletes.contains(sid) {
            assert!(present.contains(sid), "acknowledged create {sid} was lost");
        }
    }
    for sid in &ledger.acked_deletes {
        assert!(
            !present.contains(sid),
            "acknowledged delete {sid} came back"
        );
    }
    let unexplained = present.difference(&ledger.acked_creates).count();
    assert!(
        unexplained <= ledger.unknown_creates,
        "{unexplained} rows nobody created"
    );

    // No half-change: counters, audit events and rows agree.
    let mismatched = rows(
        &db_url,
        "SELECT u.sid FROM users u WHERE u.builtin_assignments <> \
        (SELECT count(*) FROM role_assignments a WHERE a.identity = u.sid AND a.builtin)",
    )
    .await;
    assert!(
        mismatched.is_empty(),
        "per-user counters match the rows: {mismatched:?}"
    );
    let created_events: HashSet<String> = rows(
        &db_url,
        "SELECT target FROM audit_events WHERE action = 'role_assignment.created'",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let deleted_events: HashSet<String> = rows(
        &db_url,
        "SELECT target FROM audit_events WHERE action = 'role_assignment.deleted'",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert!(
        present.is_subset(&created_events),
        "every row has its created event"
    );
    assert!(
        present.is_disjoint(&deleted_events),
        "no row has a deleted event"
    );
    assert_eq!(
        created_events.len() - deleted_events.len(),
        present.len(),
        "events and rows agree"
    );
    if db_url.starts_with("sqlite:") {
        assert_eq!(
            rows(&db_url, "PRAGMA integrity_check").await,
            vec![vec!["ok".to_owned()]]
        );
    }
    // And the restarted server serves what is stored.
    let t: Value = http
        .post(format!("{}/v2/token", second.base))
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
    let listed: Value = http
        .get(format!(
            "{}/v2/Organizations/RoleAssignments?PageSize=100",
            second.base
        ))
        .bearer_auth(t["access_token"].as_str().expect("t"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(
        listed["content"]
            .as_array()
            .is_some_and(|c| c.len() == present.len().min(100))
    );
    stop(second);
}
