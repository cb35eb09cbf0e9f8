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

/// A connection from `source` that sends the start of a request head and never finishes it;
/// resolves to how long the server kept it open (`None`: still open after 10 s) and what it
/// answered.
async fn stall_from(source: &str, addr: std::net::SocketAddr) -> Option<(Duration, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket
        .bind(format!("{source}:0").parse().expect("source address"))
        .ok()?;
    let started = std::time::Instant::now();
    let mut stream = socket.connect(addr).await.ok()?;
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed.ok().map(|()| {
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
}

#[tokio::test]
async fn stalled_connections_from_one_address_neither_lock_others_out_nor_stay_open() {
    let header_timeout = Duration::from_secs(1);
    let app = spawn_app_with(|c| {
        c.limits.max_connections = 64;
        c.limits.max_connections_per_source = 16;
        c.limits.header_read_timeout = header_timeout;
    })
    .await;
    let addr = app.addr;
    // 200 never-finishing request heads from 127.0.0.2, far beyond both caps.
    let stalled: Vec<_> = (0..200)
        .map(|_| tokio::spawn(stall_from("127.0.0.2", addr)))
        .collect();
    // Meanwhile 127.0.0.1 is answered promptly, each time on a new connection.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut slowest = Duration::ZERO;
    let until = std::time::Instant::now() + header_timeout * 2 + Duration::from_millis(500);
    let mut answered = 0;
    while std::time::Instant::now() < until {
        let t = std::time::Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            fresh.get(format!("{}/healthz", app.base)).send(),
        )
        .await
        .expect("127.0.0.1 is answered")
        .expect("GET /healthz");
        assert_eq!(r.status(), 200);
        slowest = slowest.max(t.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        slowest < Duration::from_millis(500),
        "127.0.0.1 waited {slowest:?}"
    );
    assert!(answered > 20, "{answered}");
    // Every stalled connection was closed: those beyond the source's cap at once with a 429,
    // the others within the header timeout (plus scheduling slack).
    let mut refused = 0;
    let mut timed_out = 0;
    for s in stalled {
        let (open_for, answer) = s
            .await
            .expect("join")
            .expect("the server closed the stalled connection");
        assert!(
            open_for < header_timeout + Duration::from_millis(1500),
            "open for {open_for:?}"
        );
        if answer.starts_with("HTTP/1.1 429") {
            assert!(answer.contains("\"code\":20429"), "{answer}");
            refused += 1;
        } else if answer.is_empty() && open_for < header_timeout / 2 {
            // Refused, and the close reset the connection before the answer was read.
            refused += 1;
        } else {
            assert!(
                open_for >= header_timeout - Duration::from_millis(100),
                "closed early ({open_for:?}): {answer}"
            );
            timed_out += 1;
        }
    }
    // The cap was filled, and most were refused (a slot freed by a timeout may be taken by a
    // connection that arrived late).
    assert!(
        timed_out >= 16 && refused >= 100,
        "{refused} refused, {timed_out} timed out"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|c| c.limits.idle_timeout = Duration::from_secs(1)).await;
    let addr = app.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let ask = |s: &mut TcpStream| {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("write");
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).expect("answer");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let first = ask(&mut s);
        // Under the idle timeout the connection is kept alive and reused.
        std::thread::sleep(Duration::from_millis(400));
        let second = ask(&mut s);
        let idle_from = std::time::Instant::now();
        let mut buf = [0u8; 16];
        let eof = s.read(&mut buf).map_err(|e| e.kind());
        (first, second, idle_from.elapsed(), eof)
    })
    .await
    .expect("join");
    assert!(outcome.0.starts_with("HTTP/1.1 200"), "{}", outcome.0);
    assert!(outcome.1.starts_with("HTTP/1.1 200"), "{}", outcome.1);
    // Closed: an end of stream (or a reset, when the close raced the client's read).
    assert!(
        matches!(outcome.3, Ok(0) | Err(std::io::ErrorKind::ConnectionReset)),
        "the server closed the idle connection: {:?} after {:?}",
        outcome.3,
        outcome.2
    );
    assert!(
        outcome.2 >= Duration::from_millis(900) && outcome.2 < Duration::from_millis(2500),
        "closed after {:?} idle",
        outcome.2
    );
}
