//! Limits: body and header sizes, the request timeout, the connection cap, rate limits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use orgiam_server::limits::Rate;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Reply, spawn_app, spawn_app_with};

#[tokio::test]
async fn oversized_bodies_are_413_and_headers_431() {
    let app = spawn_app_with(|c| c.limits.max_body_bytes = 1024).await;
    let token = app.token().await;
    let big = json!({"role_sid": "x".repeat(2000)});
    app.send(
        Method::POST,
        "/v2/Organizations/RoleAssignments",
        &token,
        Some(big),
    )
    .await
    .assert_error(413, 20001, "too large");
    // Without a Content-Length (chunked), the cap still holds, on every route with a body.
    for (path, auth) in [
        ("/v2/token", String::new()),
        (
            "/v2/Organizations/RoleAssignments",
            format!("Authorization: Bearer {token}\r\n"),
        ),
        (
            &*format!("/Organizations/{}/RoleAssignments", app.org),
            format!("Authorization: Bearer {token}\r\n"),
        ),
    ] {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n",
            chunk = "a".repeat(800)
        );
        let text = raw_exchange(app.addr, req.into_bytes()).await;
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}");
        assert!(text.contains("\"code\":20001"), "{path}: {text}");
    }
    // Under the cap, all is normal.
    assert_eq!(
        app.token_for(&app.client_id, &app.client_secret)
            .await
            .status,
        200
    );
    let res = app
        .http
        .get(format!("{}/v2/Organizations/Roles", app.base))
        .bearer_auth(&token)
        .header("x-padding", "p".repeat(40 * 1024))
        .send()
        .await
        .expect("GET");
    Reply::from(res)
        .await
        .assert_error(431, 20001, "headers are too large");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_spare_normal_traffic() {
    let app = spawn_app_with(|c| {
        c.limits.api_rate = Rate {
            per_second: 1,
            burst: 5,
        };
        c.limits.token_rate = Rate {
            per_second: 1,
            burst: 3,
        };
    })
    .await;
    let token = app.token().await;
    for _ in 0..4 {
        assert_eq!(
            app.get("/v2/Organizations/Roles?PageSize=1", &token)
                .await
                .status,
            200,
            "under the limit"
        );
    }
    let mut limited = None;
    for _ in 0..5 {
        let r = app.get("/v2/Organizations/Roles?PageSize=1", &token).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the API limit triggers");
    r.assert_error(429, 20429, "Too many requests");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    // Another app has its own budget; health and metrics are exempt.
    let other = app.token_with(&app.org, &["/*"], &[]).await;
    assert_eq!(
        app.get("/v2/Organizations/Roles?PageSize=1", &other)
            .await
            .status,
        200
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        for _ in 0..10 {
            assert_eq!(
                app.http
                    .get(format!("{}{path}", app.base))
                    .send()
                    .await
                    .expect("GET")
                    .status(),
                200
            );
        }
    }
    // The token endpoint limits per client id (the bootstrap token above used one).
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.token_for(&app.client_id, &app.client_secret).await);
    }
    let limited = statuses
        .iter()
        .find(|r| r.status == 429)
        .expect("token limit triggers");
    assert_eq!(limited.body["code"], 20429);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        statuses.iter().take(2).filter(|r| r.status == 200).count(),
        2
    );
    // After waiting, traffic flows again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.get("/v2/Organizations/Roles?PageSize=1", &token)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_stalled_request_times_out_with_the_spec_body() {
    let app = spawn_app_with(|c| c.limits.request_timeout = Duration::from_secs(1)).await;
    let addr = app.addr;
    let text = raw_exchange(
        addr,
        b"POST /v2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 50\r\n\r\ngrant".to_vec(),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"code\":20503"), "{text}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let app = spawn_app_with(|c| c.limits.max_connections = 2).await;
    let addr = app.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        let ask = |s: &mut TcpStream| -> Option<String> {
            s.write_all(request).ok()?;
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        let mut a = TcpStream::connect(addr).expect("a");
        let mut b = TcpStream::connect(addr).expect("b");
        for s in [&mut a, &mut b] {
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            assert!(ask(s).is_some_and(|r| r.starts_with("HTTP/1.1 200")));
        }
        let mut c = TcpStream::connect(addr).expect("c (the kernel queues it)");
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let while_full = ask(&mut c);
        drop(a);
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = vec![0u8; 1024];
        let after = c
            .read(&mut buf)
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            .ok();
        (while_full, after)
    })
    .await
    .expect("join");
    assert_eq!(outcome.0, None, "no answer while both slots are taken");
    assert!(
        outcome.1.is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        "answered once a slot frees"
    );
}

#[tokio::test]
async fn normal_use_never_sees_a_429_under_default_limits() {
    let app = spawn_app().await;
    let token = app.token().await;
    for _ in 0..200 {
        assert_eq!(
            app.get("/v2/Organizations/Roles?PageSize=5", &token)
                .await
                .status,
            200
        );
    }
    for _ in 0..20 {
        assert_eq!(
            app.token_for(&app.client_id, &app.client_secret)
                .await
                .status,
            200
        );
    }
}

/// Writes `request` on a new connection and returns the first read of the answer (up to 4 KiB,
/// within 5 s): for requests no HTTP client would send.
async fn raw_exchange(addr: std::net::SocketAddr, request: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(&request).expect("write");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).expect("a response arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .expect("join")
}
