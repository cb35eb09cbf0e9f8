//! The API describes itself: `GET /openapi.json` is the committed `docs/openapi.json`, and every
//! operation it lists is routed; CORS is off by default and, when configured, answers only the
//! configured origins.
//!
//! After changing an endpoint, regenerate the committed document with
//! `ORGIAM_WRITE_OPENAPI=1 cargo test -p orgiam --test api describe::served_document`.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[tokio::test]
async fn served_document_is_the_committed_one() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served = res.text().await.expect("body");
    let doc: Value = serde_json::from_str(&served).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let path = committed_path();
    if std::env::var_os("ORGIAM_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &served).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json differs from GET /openapi.json: regenerate it with \
         ORGIAM_WRITE_OPENAPI=1 cargo test -p orgiam --test api describe::served_document"
    );
}

#[tokio::test]
async fn every_described_operation_is_routed_and_secured_as_described() {
    let app = spawn_app().await;
    let token = app.token().await;
    let doc: Value = serde_json::from_str(orgiam_server::openapi::document_json()).expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{}", paths.len());
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            // Well-formed SIDs that name nothing: the route answers (404 or 400 for a body),
            // never the fallback's "resource was not found" for the path itself.
            let concrete = path
                .replace("{org}", app.org.as_str())
                .replace("{sid}", "IX00000000000000000000000000000000");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            let r = app.send(m.clone(), &concrete, &token, None).await;
            assert_ne!(r.status, 405, "{method} {path}: {}", r.body);
            if r.status == 404 {
                let msg = r.body["message"].as_str().unwrap_or("");
                assert!(
                    !msg.starts_with("The resource"),
                    "{method} {path} is described but not routed: {msg}"
                );
            }
            if secured {
                // Without a token: 401, as every secured operation documents.
                let res = app
                    .http
                    .request(m, format!("{}{concrete}", app.base))
                    .send()
                    .await
                    .expect("request");
                assert_eq!(res.status(), 401, "{method} {path}");
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
            }
        }
    }
}

const ALLOWED: &str = "http://console.example.test:8443";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(
            Method::OPTIONS,
            format!("{}/v2/Organizations/RoleAssignments", app.base),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight")
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = spawn_app().await;
    let res = preflight(&app, ALLOWED).await;
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    assert_eq!(res.status(), 405);
    let token = app.token().await;
    let res = app
        .http
        .get(format!("{}/v2/Organizations/Roles", app.base))
        .bearer_auth(&token)
        .header("Origin", ALLOWED)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_answers_the_configured_origins_only() {
    let app = spawn_app_with(|c| {
        c.cors_allowed_origins = vec![ALLOWED.into(), "https://other.example.test".into()];
    })
    .await;

    // Preflight from an allowed origin: answered, with methods, headers and a max age.
    let res = preflight(&app, ALLOWED).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(header(&res, "access-control-allow-origin"), Some(ALLOWED));
    let methods = header(&res, "access-control-allow-methods").unwrap_or("");
    for m in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = header(&res, "access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert_eq!(header(&res, "access-control-max-age"), Some("600"));
    assert_eq!(header(&res, "access-control-allow-credentials"), None);

    // Preflight from another origin: no grant.
    let res = preflight(&app, "http://evil.example.test").await;
    assert_eq!(header(&res, "access-control-allow-origin"), None);

    // Actual requests: the allowed origin sees the answer and the request id.
    let token = app.token().await;
    let get = |origin: &'static str| {
        app.http
            .get(format!("{}/v2/Organizations/Roles?PageSize=1", app.base))
            .bearer_auth(&token)
            .header("Origin", origin)
            .send()
    };
    let res = get(ALLOWED).await.expect("GET");
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(ALLOWED));
    assert!(header(&res, "twilio-request-id").is_some());
    let exposed = header(&res, "access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(exposed.contains("twilio-request-id"), "{exposed}");
    assert_eq!(header(&res, "access-control-allow-credentials"), None);
    let vary = res
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");

    let res = get("http://evil.example.test").await.expect("GET");
    assert_eq!(
        res.status(),
        200,
        "the server answers; the browser withholds it"
    );
    assert_eq!(header(&res, "access-control-allow-origin"), None);

    // Errors carry the grant too, so that a page can read the error body.
    let res = app
        .http
        .get(format!("{}/v2/Organizations/Roles", app.base))
        .header("Origin", ALLOWED)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(ALLOWED));
}

#[test]
fn cors_origins_are_checked() {
    use orgiam_server::cors::check_origin;
    assert!(check_origin("https://console.example.com").is_ok());
    assert!(check_origin("http://127.0.0.1:8080").is_ok());
    assert!(check_origin("*").is_ok());
    for bad in [
        "console.example.com",
        "https://console.example.com/",
        "https://console.example.com/path",
        "ftp://example.com",
        "",
    ] {
        let e = check_origin(bad).expect_err(bad);
        assert!(e.contains("cors_allowed_origins"), "{e}");
    }
}
