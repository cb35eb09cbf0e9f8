//! The token endpoint, JWKS and server metadata.

use base64::Engine as _;

use crate::helpers::{Reply, keys, spawn_app};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn client_secret_post_returns_a_signed_jwt_with_kid_and_claims() {
    let app = spawn_app().await;
    for path in ["/v2/token", "/v1/token"] {
        let res = app
            .http
            .post(format!("{}{path}", app.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", &app.client_secret),
                ("scope", "y"),
                ("account_sid", "AC00000000000000000000000000000000"),
            ])
            .send()
            .await
            .expect("POST");
        let r = Reply::from(res).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            keys(&r.body),
            [
                "access_token",
                "id_token",
                "token_type",
                "expires_in",
                "refresh_token"
            ]
        );
        assert_eq!(r.body["token_type"], "Bearer");
        assert_eq!(r.body["expires_in"], 3600);
        assert!(r.body["id_token"].is_null() && r.body["refresh_token"].is_null());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let token = r.body["access_token"].as_str().expect("token");
        let header = jsonwebtoken::decode_header(token).expect("header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        let kid = header.kid.expect("kid");
        // The kid is published, and the JWKS key verifies the token.
        let jwks = Reply::from(
            app.http
                .get(format!("{}/.well-known/jwks.json", app.base))
                .send()
                .await
                .expect("jwks"),
        )
        .await;
        let jwk = jwks.body["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("kid in JWKS")
            .clone();
        assert_eq!(
            (
                jwk["kty"].as_str(),
                jwk["crv"].as_str(),
                jwk["alg"].as_str()
            ),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
        );
        let key = jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().expect("x"))
            .expect("key");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "sub", "aud"]);
        // The audience is the server itself (its issuer): no public URL here, so `orgiam`.
        v.set_audience(&["orgiam"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).expect("verifies");
        let c = data.claims;
        assert_eq!(c["sub"], app.client_id.as_str());
        assert_eq!(c["org"], app.org.as_str());
        for claim in ["iss", "iat", "nbf", "exp", "jti"] {
            assert!(!c[claim].is_null(), "{claim}");
        }
        assert_eq!(
            c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0),
            3600
        );
    }
}

#[tokio::test]
async fn client_secret_basic_and_a_foreign_basic_header() {
    let app = spawn_app().await;
    let basic = format!(
        "Basic {}",
        b64(&format!("{}:{}", app.client_id, app.client_secret))
    );
    let res = app
        .http
        .post(format!("{}/v2/token", app.base))
        .header("Authorization", &basic)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("POST");
    assert_eq!(Reply::from(res).await.status, 200);
    // An Account SID / Auth Token pair is ignored when the form carries client credentials.
    let account = format!(
        "Basic {}",
        b64("AC00000000000000000000000000000000:authtoken")
    );
    let res = app
        .http
        .post(format!("{}/v2/token", app.base))
        .header("Authorization", &account)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(Reply::from(res).await.status, 200);
    // ...and alone it is no client at all.
    let res = app
        .http
        .post(format!("{}/v2/token", app.base))
        .header("Authorization", &account)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("POST");
    let r = Reply::from(res).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

async fn post_form(app: &crate::helpers::TestApp, form: &[(&str, &str)]) -> Reply {
    Reply::from(
        app.http
            .post(format!("{}/v2/token", app.base))
            .form(form)
            .send()
            .await
            .expect("POST"),
    )
    .await
}

fn assert_oauth_error(r: &Reply, status: u16, error: &str, code: u64) {
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
        ]
    );
    assert_eq!(r.body["error"], error);
    assert_eq!(r.body["code"], code);
    assert_eq!(r.body["status"], status);
    assert!(
        !r.body["error_description"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
}

#[tokio::test]
async fn token_failures_carry_rfc6749_and_twilio_fields() {
    let app = spawn_app().await;
    let id = app.client_id.clone();
    assert_oauth_error(
        &post_form(&app, &[("client_id", &id), ("client_secret", "x")]).await,
        400,
        "invalid_request",
        20001,
    );
    assert_oauth_error(
        &post_form(
            &app,
            &[
                ("grant_type", "password"),
                ("client_id", &id),
                ("client_secret", "x"),
            ],
        )
        .await,
        400,
        "unsupported_grant_type",
        20001,
    );
    assert_oauth_error(
        &post_form(
            &app,
            &[("grant_type", "client_credentials"), ("client_id", &id)],
        )
        .await,
        400,
        "invalid_request",
        20001,
    );
    assert_oauth_error(
        &post_form(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "wrong"),
            ],
        )
        .await,
        401,
        "invalid_client",
        20003,
    );
    assert_oauth_error(
        &post_form(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "OQ00000000000000000000000000000000"),
                ("client_secret", "x"),
            ],
        )
        .await,
        401,
        "invalid_client",
        20003,
    );
    assert_oauth_error(
        &post_form(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nope"),
                ("client_secret", "x"),
            ],
        )
        .await,
        401,
        "invalid_client",
        20003,
    );
    assert_oauth_error(
        &post_form(&app, &[("grant_type", "client_credentials")]).await,
        401,
        "invalid_client",
        20003,
    );
    let json_body = app
        .http
        .post(format!("{}/v2/token", app.base))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("POST");
    assert_oauth_error(&Reply::from(json_body).await, 400, "invalid_request", 20001);
    let bad_basic = app
        .http
        .post(format!("{}/v2/token", app.base))
        .header("Authorization", "Basic !!!")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("POST");
    assert_oauth_error(&Reply::from(bad_basic).await, 400, "invalid_request", 20001);
}

#[tokio::test]
async fn per_app_ttl_and_metadata() {
    let app = spawn_app().await;
    let (id, secret) = app.create_app(&app.org, &["/twilio/*"], &[], 120).await;
    let r = app.token_for(id.as_str(), &secret).await;
    assert_eq!(r.body["expires_in"], 120);
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
    assert_eq!(meta.body["issuer"], "orgiam");
    assert_eq!(
        meta.body["token_endpoint"],
        format!("{}/v2/token", app.base)
    );
    assert_eq!(
        meta.body["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.base)
    );
    assert_eq!(
        meta.body["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            Reply::from(
                app.http
                    .get(format!("{}{path}", app.base))
                    .send()
                    .await
                    .expect("GET")
            )
            .await
            .status,
            200
        );
    }
    let _ = app.token().await;
    let weird = reqwest::Method::from_bytes(b"BREW").expect("method");
    let _ = app
        .http
        .request(weird, format!("{}/v2/token", app.base))
        .send()
        .await;
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    // One series per route pattern, standard method and status; other methods count as OTHER.
    for series in [
        r#"orgiam_http_requests_total{method="POST",route="/v2/token",status="200"} "#,
        r#"orgiam_http_requests_total{method="OTHER",route="/v2/token",status="405"} "#,
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }
    assert!(!text.contains("BREW"), "{text}");
}

/// A token request from `source` (a loopback address) with the given credentials.
async fn token_from(app: &crate::helpers::TestApp, source: &str, id: &str, secret: &str) -> Reply {
    let http = reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().expect("source"))
        .build()
        .expect("client");
    let res = http
        .post(format!("{}/v2/token", app.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("token request");
    Reply::from(res).await
}

#[tokio::test]
async fn wrong_secrets_cannot_lock_the_real_client_out() {
    use orgiam_server::limits::Rate;
    let app = crate::helpers::spawn_app_with(|c| {
        c.limits.token_failure_rate = Rate {
            per_second: 1,
            burst: 3,
        };
    })
    .await;
    let victim = app.client_id.clone();
    // 20 wrong secrets for the victim's client id from 127.0.0.2: after the failure budget,
    // 429 slow_down.
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(token_from(&app, "127.0.0.2", &victim, "wrong").await);
    }
    assert!(statuses[..3].iter().all(|r| r.status == 401));
    let limited = statuses.last().expect("replies");
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["error"], "slow_down");
    assert_eq!(limited.body["code"], 20429);
    assert!(limited.header("retry-after").is_some());
    // The real client's right secret is answered throughout, from its own address and even
    // from the attacker's.
    for source in ["127.0.0.1", "127.0.0.2", "127.0.0.1"] {
        let r = token_from(&app, source, &victim, &app.client_secret).await;
        assert_eq!(r.status, 200, "{source}: {}", r.body);
    }
    // The budgets are per client id and per source: a wrong secret for the victim's id from a
    // third address is still limited (its client budget is spent), the attacker's address is
    // limited for any client id, and another source with another client id is not.
    let unknown = orgiam_domain::sid::AppSid::random().to_string();
    assert_eq!(
        token_from(&app, "127.0.0.3", &victim, "wrong").await.status,
        429
    );
    assert_eq!(
        token_from(&app, "127.0.0.2", &unknown, "wrong")
            .await
            .status,
        429
    );
    assert_eq!(
        token_from(&app, "127.0.0.4", &unknown, "wrong")
            .await
            .status,
        401
    );
    // Right secrets do not spend the failure budget.
    for _ in 0..10 {
        let r = token_from(&app, "127.0.0.5", &victim, &app.client_secret).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        token_from(&app, "127.0.0.5", &unknown, "wrong")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_secret_rotated_moments_ago_elsewhere_works_at_once() {
    // The server has not polled yet (its poll interval is long); the failed check reads the
    // store, where the new secret is.
    let app = crate::helpers::spawn_app_with(|c| {
        c.poll_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let sid = orgiam_domain::sid::AppSid::parse(&app.client_id).expect("sid");
    let secret = orgiam_domain::secret::generate();
    app.store
        .rotate_app_secret(
            &sid,
            &app.hasher.hash(&secret),
            Some(orgiam_domain::time_fmt::now() + 3600),
            &orgiam_domain::model::Actor::cli(),
        )
        .await
        .expect("rotate");
    let r = app.token_for(&app.client_id, &secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The old secret is in its grace period.
    let r = app.token_for(&app.client_id, &app.client_secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn metrics_can_be_served_on_their_own_address_only() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let metrics = app.metrics_addr.expect("metrics address");
    assert_ne!(metrics, app.addr);
    // Some traffic to count.
    assert_eq!(
        app.get("/v2/Organizations/Roles?PageSize=1", &app.token().await)
            .await
            .status,
        200
    );
    let public = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("GET");
    Reply::from(public)
        .await
        .assert_error(404, 20404, "/metrics");
    let private = app
        .http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .expect("GET");
    assert_eq!(private.status(), 200);
    let text = private.text().await.expect("text");
    assert!(text.contains("orgiam_http_requests_total"), "{text}");
    // Only metrics there.
    let other = app
        .http
        .get(format!("http://{metrics}/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(other.status(), 404);
}
