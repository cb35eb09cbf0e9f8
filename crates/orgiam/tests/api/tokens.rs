//! Tokens other services can trust: RFC 9068 access tokens with an audience, introspection
//! (RFC 7662), revocation (RFC 7009) and the metadata that lists them (RFC 8414).

use std::time::Duration;

use orgiam_domain::model::{Actor, AppStatus};
use orgiam_domain::policy::Policy;
use orgiam_domain::sid::{AppSid, OrgSid};
use orgiam_server::bootstrap;
use orgiam_server::keys::{KeyRing, generate_signing_key};
use serde_json::{Value, json};

use crate::helpers::{
    Reply, TestApp, eventually, fresh_database, keys, printed_credentials, spawn_app, start_serve,
};

const API: &str = "https://api.example.test";

/// A new app of `org` allowed everything, that may also ask tokens for `audiences`.
async fn app_with_audiences(app: &TestApp, org: &OrgSid, audiences: &[&str]) -> (AppSid, String) {
    let (mut a, secret) = bootstrap::new_app(
        &app.hasher,
        org,
        "resource client",
        Policy::everything(),
        3600,
    );
    a.audiences = audiences.iter().map(|s| (*s).to_owned()).collect();
    app.store
        .create_app(&a, &Actor::cli())
        .await
        .expect("create app");
    (a.sid, secret)
}

async fn token_form(app: &TestApp, form: &[(&str, &str)]) -> Reply {
    Reply::from(
        app.http
            .post(format!("{}/v2/token", app.base))
            .form(form)
            .send()
            .await
            .expect("token"),
    )
    .await
}

async fn token_for_audience(
    app: &TestApp,
    id: &str,
    secret: &str,
    field: &str,
    aud: &str,
) -> Reply {
    token_form(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            (field, aud),
        ],
    )
    .await
}

fn access_token(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn claims(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .expect("a JWT")
        .claims
}

/// POSTs a form to `path` with HTTP Basic client credentials.
async fn post_basic(
    app: &TestApp,
    path: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Reply {
    Reply::from(
        app.http
            .post(format!("{}{path}", app.base))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("POST"),
    )
    .await
}

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> Reply {
    post_basic(app, "/v2/token/introspect", id, secret, &[("token", token)]).await
}

async fn active(app: &TestApp, token: &str) -> bool {
    let r = introspect(app, &app.client_id, &app.client_secret, token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["active"].as_bool().expect("active")
}

/// The RFC 6749 fields and the Twilio fields of an OAuth error.
fn assert_oauth_error(r: &Reply, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        keys(&r.body),
        [
            "error",
            "error_description",
            "code",
            "message",
            "more_info",
            "status"
        ],
        "{}",
        r.body
    );
    assert_eq!(r.body["error"], error, "{}", r.body);
    assert_eq!(r.body["status"], status);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn access_tokens_follow_rfc_9068() {
    let app = spawn_app().await;
    let token = app.token().await;
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());
    let c = claims(&token);
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti", "org"] {
        assert!(!c[claim].is_null(), "{claim} in {c}");
    }
    // No public URL is configured: the issuer, and the server's own audience, is `orgiam`.
    assert_eq!(c["aud"], "orgiam");
    assert_eq!(c["iss"], "orgiam");
    assert_eq!(c["sub"], app.client_id.as_str());
    assert_eq!(c["client_id"], app.client_id.as_str());
    assert_eq!(c["org"], app.org.as_str());
    // A standard verifier with an audience accepts it.
    let jwks = Reply::from(
        app.http
            .get(format!("{}/.well-known/jwks.json", app.base))
            .send()
            .await
            .expect("jwks"),
    )
    .await;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body).expect("jwk set");
    let jwk = set.find(header.kid.as_deref().unwrap_or("")).expect("kid");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["orgiam"]);
    v.set_issuer(&["orgiam"]);
    jsonwebtoken::decode::<Value>(&token, &key, &v).expect("verifies with aud");
    v.set_audience(&[API]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &v).is_err());
    // The token works on the API as before.
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
}

#[tokio::test]
async fn the_public_url_is_the_issuer_and_the_default_audience() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.public_url = Some("https://iam.example.test/".into());
    })
    .await;
    let token = app.token().await;
    let c = claims(&token);
    assert_eq!(c["iss"], "https://iam.example.test");
    assert_eq!(c["aud"], "https://iam.example.test");
    // Asking for the server itself by name is the same.
    let r = token_for_audience(
        &app,
        &app.client_id,
        &app.client_secret,
        "audience",
        "https://iam.example.test",
    )
    .await;
    assert_eq!(claims(&access_token(&r))["aud"], "https://iam.example.test");
}

#[tokio::test]
async fn audience_and_resource_select_among_the_apps_audiences() {
    let app = spawn_app().await;
    let (id, secret) = app_with_audiences(&app, &app.org, &[API]).await;
    for field in ["audience", "resource"] {
        let token = access_token(&token_for_audience(&app, id.as_str(), &secret, field, API).await);
        let c = claims(&token);
        assert_eq!(c["aud"], API, "{field}");
        // orgiam's own APIs want their own audience.
        let r = app.get("/v2/Organizations/Roles", &token).await;
        r.assert_error(401, 20003, "audience");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }
    // Both at once: an array, accepted by the API since it names the server.
    let r = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", &secret),
            ("audience", API),
            ("resource", "orgiam"),
        ],
    )
    .await;
    // `resource` must be an absolute URI: `orgiam` is not one.
    assert_oauth_error(&r, 400, "invalid_target");
    let r = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", &secret),
            ("audience", API),
            ("audience", "orgiam"),
        ],
    )
    .await;
    let token = access_token(&r);
    assert_eq!(claims(&token)["aud"], json!([API, "orgiam"]));
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
    // An audience the app may not ask for: invalid_target, for either parameter; the
    // bootstrap app has no extra audience.
    for (who, sec) in [
        (id.as_str(), secret.as_str()),
        (&app.client_id, &app.client_secret),
    ] {
        for field in ["audience", "resource"] {
            let r = token_for_audience(&app, who, sec, field, "https://elsewhere.example").await;
            assert_oauth_error(&r, 400, "invalid_target");
            assert_eq!(r.body["code"], 20001);
        }
    }
    let r = token_for_audience(&app, &app.client_id, &app.client_secret, "audience", API).await;
    assert_oauth_error(&r, 400, "invalid_target");
    // A fragment is not allowed in a resource.
    let r = token_for_audience(
        &app,
        id.as_str(),
        &secret,
        "resource",
        "https://api.example.test#x",
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_target");
    // A blank audience is no audience.
    let r = token_for_audience(&app, id.as_str(), &secret, "audience", "").await;
    assert_eq!(claims(&access_token(&r))["aud"], "orgiam");
}

#[tokio::test]
async fn metadata_lists_exactly_what_is_served() {
    let app = spawn_app().await;
    let meta = Reply::from(
        app.http
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                app.base
            ))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(meta.status, 200);
    let base = &app.base;
    let methods = json!(["client_secret_basic", "client_secret_post"]);
    assert_eq!(
        meta.body,
        json!({
            "issuer": "orgiam",
            "token_endpoint": format!("{base}/v2/token"),
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": methods,
            "introspection_endpoint": format!("{base}/v2/token/introspect"),
            "introspection_endpoint_auth_methods_supported": methods,
            "revocation_endpoint": format!("{base}/v2/token/revoke"),
            "revocation_endpoint_auth_methods_supported": methods,
            "response_types_supported": [],
        })
    );
    // Every endpoint it names answers (an unauthenticated POST is invalid_client, not 404).
    for key in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let url = meta.body[key].as_str().expect("url");
        let r = Reply::from(
            app.http
                .post(url)
                .form(&[("grant_type", "client_credentials"), ("token", "x")])
                .send()
                .await
                .expect("POST"),
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client");
    }
    let jwks = meta.body["jwks_uri"].as_str().expect("jwks_uri");
    assert_eq!(app.http.get(jwks).send().await.expect("GET").status(), 200);
}

#[tokio::test]
async fn introspection_answers_with_the_claims_of_an_active_token() {
    let app = spawn_app().await;
    let (id, secret) = app_with_audiences(&app, &app.org, &[API]).await;
    let token =
        access_token(&token_for_audience(&app, id.as_str(), &secret, "audience", API).await);
    let c = claims(&token);
    // HTTP Basic, and the form (client_secret_post), on both paths.
    for path in ["/v2/token/introspect", "/v1/token/introspect"] {
        let basic = post_basic(
            &app,
            path,
            &app.client_id,
            &app.client_secret,
            &[
                ("token", token.as_str()),
                ("token_type_hint", "access_token"),
            ],
        )
        .await;
        let posted = Reply::from(
            app.http
                .post(format!("{}{path}", app.base))
                .form(&[
                    ("client_id", id.as_str()),
                    ("client_secret", &secret),
                    ("token", &token),
                ])
                .send()
                .await
                .expect("POST"),
        )
        .await;
        for r in [basic, posted] {
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.header("cache-control"), Some("no-store"));
            assert_eq!(
                r.body,
                json!({
                    "active": true,
                    "client_id": id.as_str(),
                    "token_type": "Bearer",
                    "iss": "orgiam",
                    "sub": id.as_str(),
                    "aud": API,
                    "org": app.org.as_str(),
                    "iat": c["iat"],
                    "nbf": c["nbf"],
                    "exp": c["exp"],
                    "jti": c["jti"],
                })
            );
        }
    }
}

#[tokio::test]
async fn introspection_says_inactive_for_every_dead_or_foreign_token() {
    let app = spawn_app().await;
    let key = app.signing_key().await;
    let ring = KeyRing::new("orgiam".into(), &[key]).expect("ring");
    let boot = AppSid::parse(&app.client_id).expect("sid");

    // Malformed, and well-formed garbage.
    for t in ["x", "a.b.c", &"A".repeat(10_000)] {
        assert!(!active(&app, t).await);
    }
    // Expired (signed by this server, an hour ago).
    let expired = ring.mint(&boot, &app.org, -3600, None).expect("mint");
    assert!(!active(&app, &expired).await);
    // Signed by another installation's key, or with another issuer.
    let foreign = KeyRing::new("orgiam".into(), &[generate_signing_key().expect("key")])
        .expect("ring")
        .mint(&boot, &app.org, 600, None)
        .expect("mint");
    assert!(!active(&app, &foreign).await);

    // Another organization's live token: inactive to this caller, active to its own.
    let other = app.create_org("other").await;
    let (oid, osecret) = app_with_audiences(&app, &other, &[]).await;
    let theirs = access_token(&app.token_for(oid.as_str(), &osecret).await);
    assert!(!active(&app, &theirs).await);
    let r = introspect(&app, oid.as_str(), &osecret, &theirs).await;
    assert_eq!(r.body["active"], true, "{}", r.body);

    // Disabled, then deleted app: its tokens go inactive.
    let (id, secret) = app_with_audiences(&app, &app.org, &[]).await;
    let t1 = access_token(&app.token_for(id.as_str(), &secret).await);
    assert!(active(&app, &t1).await);
    app.store
        .set_app_status(&id, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    assert!(
        eventually(Duration::from_secs(2), || async {
            !active(&app, &t1).await
        })
        .await
        .is_some(),
        "a disabled app's token stays active"
    );
    let (id2, secret2) = app_with_audiences(&app, &app.org, &[]).await;
    let t2 = access_token(&app.token_for(id2.as_str(), &secret2).await);
    assert!(active(&app, &t2).await);
    app.store
        .set_app_status(&id2, AppStatus::Deleted, &Actor::cli())
        .await
        .expect("delete");
    assert!(
        eventually(Duration::from_secs(2), || async {
            !active(&app, &t2).await
        })
        .await
        .is_some(),
        "a deleted app's token stays active"
    );
    // Inactive answers carry nothing else.
    let r = introspect(&app, &app.client_id, &app.client_secret, &t2).await;
    assert_eq!(r.body, json!({"active": false}));
}

#[tokio::test]
async fn introspection_and_revocation_refuse_bad_requests_with_rfc_errors() {
    let app = spawn_app().await;
    let token = app.token().await;
    for path in ["/v2/token/introspect", "/v2/token/revoke"] {
        let (id, secret) = (app.client_id.as_str(), app.client_secret.as_str());
        // An unknown token type hint.
        let r = post_basic(
            &app,
            path,
            id,
            secret,
            &[("token", &token), ("token_type_hint", "id_token")],
        )
        .await;
        assert_oauth_error(&r, 400, "unsupported_token_type");
        // No token, or a blank one, or two.
        for form in [
            vec![],
            vec![("token", "")],
            vec![("token", token.as_str()), ("token", "x")],
        ] {
            let r = post_basic(&app, path, id, secret, &form).await;
            assert_oauth_error(&r, 400, "invalid_request");
        }
        // No credentials, wrong ones, an unknown client, an account's Basic pair.
        let r = Reply::from(
            app.http
                .post(format!("{}{path}", app.base))
                .form(&[("token", &token)])
                .send()
                .await
                .expect("POST"),
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client");
        assert_eq!(r.body["code"], 20003);
        for (who, sec) in [
            (id, "wrong"),
            ("OQ00000000000000000000000000000000", secret),
            ("AC00000000000000000000000000000000", "authtoken"),
            ("not-a-sid", "x"),
        ] {
            let r = post_basic(&app, path, who, sec, &[("token", &token)]).await;
            assert_oauth_error(&r, 401, "invalid_client");
        }
        // Not a form, or not UTF-8.
        let r = Reply::from(
            app.http
                .post(format!("{}{path}", app.base))
                .basic_auth(id, Some(secret))
                .json(&json!({"token": token}))
                .send()
                .await
                .expect("POST"),
        )
        .await;
        assert_oauth_error(&r, 400, "invalid_request");
        let r = Reply::from(
            app.http
                .post(format!("{}{path}", app.base))
                .basic_auth(id, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b"token=%FF%FE".to_vec())
                .send()
                .await
                .expect("POST"),
        )
        .await;
        assert_oauth_error(&r, 400, "invalid_request");
        assert!(r.body["message"].as_str().unwrap_or("").contains("token"));
        // Oversize: refused before anything is read, never a 5xx.
        let big = "t".repeat(200 * 1024);
        let r = Reply::from(
            app.http
                .post(format!("{}{path}", app.base))
                .basic_auth(id, Some(secret))
                .form(&[("token", big.as_str())])
                .send()
                .await
                .expect("POST"),
        )
        .await;
        assert_oauth_error(&r, 413, "invalid_request");
        assert_eq!(r.body["code"], 20001);
        // Chunked, without a declared length: the same answer once the body outgrows the cap.
        let chunk = "a".repeat(40 * 1024);
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
             {len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
            basic = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{id}:{secret}")
            ),
            len = chunk.len(),
        );
        let text = raw_exchange(app.addr, req.into_bytes()).await;
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}");
        assert!(
            text.contains("\"error\":\"invalid_request\"") && text.contains("\"code\":20001"),
            "{path}: {text}"
        );
        // Only POST.
        let r = Reply::from(
            app.http
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .expect("GET"),
        )
        .await;
        r.assert_error(405, 20004, "GET");
    }
    // The token is still good: nothing above revoked it.
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
}

#[tokio::test]
async fn a_client_revokes_its_own_token() {
    let app = spawn_app().await;
    let token = app.token().await;
    let keep = app.token().await;
    assert!(active(&app, &token).await);
    // Another client may not revoke it.
    let (id, secret) = app_with_audiences(&app, &app.org, &[]).await;
    let r = post_basic(
        &app,
        "/v2/token/revoke",
        id.as_str(),
        &secret,
        &[("token", &token)],
    )
    .await;
    assert_oauth_error(&r, 400, "unauthorized_client");
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
    // Its own client may, over either path, and again (nothing more happens).
    for path in ["/v2/token/revoke", "/v1/token/revoke"] {
        let r = post_basic(
            &app,
            path,
            &app.client_id,
            &app.client_secret,
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    let r = app.get("/v2/Organizations/Roles", &token).await;
    r.assert_error(401, 20003, "revoked");
    assert!(!active(&app, &token).await);
    // Its other tokens are untouched.
    assert_eq!(app.get("/v2/Organizations/Roles", &keep).await.status, 200);
    // Tokens that do not verify need no revoking (RFC 7009 §2.2).
    for t in ["garbage", "a.b.c"] {
        let r = post_basic(
            &app,
            "/v2/token/revoke",
            &app.client_id,
            &app.client_secret,
            &[("token", t)],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // One audit event names the token by its jti, never the token.
    let r = app
        .get("/v2/Organizations/AuditEvents?Action=token.revoked", &keep)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{}", r.body);
    assert_eq!(events[0]["after"]["jti"], claims(&token)["jti"]);
    assert!(!r.body.to_string().contains(&token));
}

#[tokio::test]
async fn a_revoked_token_fails_on_every_replica_within_a_second() {
    let (db_url, dir) = fresh_database().await;
    // Logging everything, to show that no token or secret reaches a log line.
    let verbose = [("ORGIAM_LOG", "debug")];
    let a = start_serve(&db_url, &dir, &verbose).ready();
    let b = start_serve(&db_url, &dir, &verbose).ready();
    let (_, id, secret) = printed_credentials(&a.lines)
        .or_else(|| printed_credentials(&b.lines))
        .expect("credentials");
    let http = reqwest::Client::new();
    let token = {
        let r = http
            .post(format!("{}/v2/token", a.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ])
            .send()
            .await
            .expect("token");
        let body: Value = r.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    };
    let status_on = |base: String| {
        let http = http.clone();
        let token = token.clone();
        async move {
            http.get(format!("{base}/v2/Organizations/Roles"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("GET")
                .status()
                .as_u16()
        }
    };
    assert_eq!(status_on(b.base.clone()).await, 200);
    let r = http
        .post(format!("{}/v2/token/revoke", a.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", &token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(status_on(a.base.clone()).await, 401, "the revoking replica");
    let took = eventually(Duration::from_secs(1), || {
        let f = status_on(b.base.clone());
        async move { f.await == 401 }
    })
    .await;
    assert!(
        took.is_some(),
        "the other replica still accepts a revoked token"
    );
    eprintln!("the other replica refused the revoked token after {took:?}");
    // Introspection on the other replica agrees; failures name neither token nor secret.
    for (form_secret, hint) in [
        (secret.as_str(), "access_token"),
        ("wrong", "access_token"),
        (secret.as_str(), "bogus"),
    ] {
        let r = http
            .post(format!("{}/v2/token/introspect", b.base))
            .form(&[
                ("client_id", id.as_str()),
                ("client_secret", form_secret),
                ("token", &token),
                ("token_type_hint", hint),
            ])
            .send()
            .await
            .expect("introspect");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        assert!(!text.contains(&token) && !text.contains(&secret), "{text}");
        if status == 200 {
            assert_eq!(text, r#"{"active":false}"#);
        }
    }
    // Neither replica logged the token (nor its signature alone) or the secret.
    let signature = token.rsplit('.').next().unwrap_or(&token).to_owned();
    for s in [&a, &b] {
        let log = std::fs::read_to_string(&s.log).unwrap_or_default();
        assert!(log.contains("/v2/token"), "{log}");
        assert!(
            !log.contains(&token) && !log.contains(&signature) && !log.contains(&secret),
            "{log}"
        );
    }
}

#[tokio::test]
async fn the_cli_sets_an_apps_audiences() {
    let app = spawn_app().await;
    let out = app.cli(&[
        "apps",
        "create",
        "--org",
        app.org.as_str(),
        "--name",
        "gateway",
        "--allow",
        "/twilio/*",
        "--audience",
        API,
        "--audience",
        "urn:example:billing",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(created["audiences"], json!([API, "urn:example:billing"]));
    let id = created["client_id"].as_str().expect("client_id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let r = token_for_audience(&app, &id, &secret, "audience", "urn:example:billing").await;
    assert_eq!(claims(&access_token(&r))["aud"], "urn:example:billing");
    // Replaced, then cleared; servers follow within a poll interval.
    let out = app.cli(&["apps", "update", "--app", &id, "--audience", API, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let updated: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(updated["audiences"], json!([API]));
    let refused = eventually(Duration::from_secs(2), || async {
        token_for_audience(&app, &id, &secret, "audience", "urn:example:billing")
            .await
            .status
            == 400
    })
    .await;
    assert!(refused.is_some());
    let out = app.cli(&[
        "apps",
        "update",
        "--app",
        &id,
        "--clear-audiences",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cleared: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(cleared["audiences"], json!([]));
    // Bad values are refused with the flag named.
    for bad in ["", "has space", &"a".repeat(600)] {
        let out = app.cli(&["apps", "update", "--app", &id, "--audience", bad]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--audience"));
    }
}

/// Sends raw bytes and returns the start of the answer.
async fn raw_exchange(addr: std::net::SocketAddr, request: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before it has read everything: a failed write is fine.
    let _ = s.write_all(&request).await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}
