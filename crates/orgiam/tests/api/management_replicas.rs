//! The management API across two `orgiam serve` processes on one database: optimistic
//! concurrency holds across replicas, changes reach the other replica's role listings within a
//! second, a new app gets a token from the other replica at once, no secret reaches a log, and a
//! replica that has not polled a change never serves a cached expansion of the old policy.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Reply, access_token as access, eventually, fresh_database, printed_credentials, start_serve,
    stop, token_reply as token,
};

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(tag) = if_match {
        req = req.header("If-Match", tag);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Reply::from(req.send().await.expect("request")).await
}

fn names(r: &Reply) -> Vec<String> {
    r.body["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["friendly_name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn management_changes_hold_and_show_across_replicas() {
    let (db_url, dir) = fresh_database().await;
    let env = [("ORGIAM_LOG", "debug")];
    let r1 = start_serve(&db_url, &dir, &env).ready();
    let r2 = start_serve(&db_url, &dir, &env).ready();
    let (_, id, secret) = printed_credentials(&r1.lines).expect("r1 bootstrapped");
    let http = reqwest::Client::new();
    let t1 = access(&http, &r1.base, &id, &secret).await;
    let t2 = access(&http, &r2.base, &id, &secret).await;
    let roles = |base: &str| format!("{base}/v2/Organizations/Roles");
    let search = |base: &str| format!("{base}/v2/Organizations/Roles?Search=cross&Expand=true");

    // r2 caches an empty page; r1 creates the role; r2 lists it within a second.
    let get = reqwest::Method::GET;
    let empty = send(&http, get.clone(), search(&r2.base), &t2, None, None).await;
    assert!(names(&empty).is_empty(), "{}", empty.body);
    let created = send(
        &http,
        reqwest::Method::POST,
        roles(&r1.base),
        &t1,
        None,
        Some(json!({"friendly_name": "Cross", "lowest_level": "ACCOUNT",
                    "policy": {"allow": ["/twilio/iam/roles/list"]}})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let sid = created.body["sid"].as_str().expect("sid").to_owned();
    let seen = eventually(Duration::from_secs(1), || async {
        names(&send(&http, get.clone(), search(&r2.base), &t2, None, None).await) == ["Cross"]
    })
    .await;
    assert!(seen.is_some(), "r2 lists the new role within a second");

    // Two updates with one ETag, one to each replica: exactly one wins, every round.
    let one = |base: &str| format!("{base}/v2/Organizations/Roles/{sid}");
    for round in 0..4 {
        let current = send(&http, get.clone(), one(&r1.base), &t1, None, None).await;
        let tag = current.header("etag").expect("ETag").to_owned();
        let (a, b) = tokio::join!(
            send(
                &http,
                reqwest::Method::POST,
                one(&r1.base),
                &t1,
                Some(&tag),
                Some(json!({"external_description": format!("r1 {round}")})),
            ),
            send(
                &http,
                reqwest::Method::PATCH,
                one(&r2.base),
                &t2,
                Some(&tag),
                Some(json!({"external_description": format!("r2 {round}")})),
            ),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
    }

    // A policy change on r1 reaches r2's expanded listing within a second.
    let tag = send(&http, get.clone(), one(&r1.base), &t1, None, None)
        .await
        .header("etag")
        .expect("ETag")
        .to_owned();
    let changed = send(
        &http,
        reqwest::Method::POST,
        one(&r1.base),
        &t1,
        Some(&tag),
        Some(json!({"policy": {"allow": ["/twilio/iam/users/list"]}})),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let seen = eventually(Duration::from_secs(1), || async {
        let r = send(&http, get.clone(), search(&r2.base), &t2, None, None).await;
        r.body["roles"][0]["permissions"][0]["permission"] == "/twilio/iam/users/list"
    })
    .await;
    assert!(seen.is_some(), "r2 expands the new policy within a second");

    // An app created on r1 gets a token from r2 at once.
    let app = send(
        &http,
        reqwest::Method::POST,
        format!("{}/v1/Account/OAuthApps", r1.base),
        &t1,
        None,
        Some(
            json!({"type": "client_credentials", "friendly_name": "cross",
                    "policy": {"allow": ["/twilio/iam/*"]}}),
        ),
    )
    .await;
    assert_eq!(app.status, 201, "{}", app.body);
    let app_id = app.body["sid"].as_str().expect("sid").to_owned();
    let app_secret = app.body["secret"].as_str().expect("secret").to_owned();
    let t = token(&http, &r2.base, &app_id, &app_secret).await;
    assert_eq!(t.status, 200, "{}", t.body);
    let rotated = send(
        &http,
        reqwest::Method::POST,
        format!("{}/v1/Account/OAuthApps/{app_id}/Secret", r2.base),
        &t1,
        None,
        Some(json!({"grace_period": 0})),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
    assert_eq!(
        token(&http, &r1.base, &app_id, &new_secret).await.status,
        200
    );

    let logs: Vec<String> = [&r1.log, &r2.log]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    stop(r1);
    stop(r2);
    for log in logs {
        assert!(!log.is_empty(), "the servers logged");
        for s in [&app_secret, &new_secret, &secret] {
            assert!(!log.contains(s.as_str()), "a secret reached a log line");
        }
    }
}

/// A replica that has not yet polled a policy change (once a minute here), listing with its
/// page cache off, reads the changed role from the store: the expansion it cached for the old
/// version is not served with it (an expansion serves only the role JSON it was made from).
#[tokio::test]
async fn an_unpolled_replica_never_expands_a_changed_role_with_its_old_policy() {
    let (db_url, dir) = fresh_database().await;
    let r1 = start_serve(&db_url, &dir, &[]).ready();
    let slow = [
        ("ORGIAM_POLL_INTERVAL_MS", "60000"),
        ("ORGIAM_ROLE_PAGE_CACHE", "false"),
    ];
    let r2 = start_serve(&db_url, &dir, &slow).ready();
    let (_, id, secret) = printed_credentials(&r1.lines).expect("r1 bootstrapped");
    let http = reqwest::Client::new();
    let t1 = access(&http, &r1.base, &id, &secret).await;
    let t2 = access(&http, &r2.base, &id, &secret).await;
    let roles = format!("{}/v2/Organizations/Roles", r1.base);
    let created = send(
        &http,
        reqwest::Method::POST,
        roles.clone(),
        &t1,
        None,
        Some(
            json!({"friendly_name": "Unpolled", "lowest_level": "ACCOUNT",
                    "policy": {"allow": ["/twilio/iam/roles/list"]}}),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let tag = created.header("etag").expect("ETag").to_owned();
    let sid = created.body["sid"].as_str().expect("sid").to_owned();
    let expanded = || async {
        let url = format!(
            "{}/v2/Organizations/Roles?Search=unpolled&Expand=true",
            r2.base
        );
        let r = send(&http, reqwest::Method::GET, url, &t2, None, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["roles"][0]["permissions"][0]["permission"].clone()
    };
    assert_eq!(expanded().await, "/twilio/iam/roles/list");
    let changed = send(
        &http,
        reqwest::Method::POST,
        format!("{roles}/{sid}"),
        &t1,
        Some(&tag),
        Some(json!({"policy": {"allow": ["/twilio/iam/users/list"]}})),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(expanded().await, "/twilio/iam/users/list");
    stop(r1);
    stop(r2);
}
