//! Hostile tokens: each refused with 401 / 20003, and the server keeps serving.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};

const ROLES: &str = "/v2/Organizations/Roles";

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

async fn refused(app: &TestApp, token: &str, why: &str) {
    let r = Reply::from(
        app.http
            .get(format!("{}{ROLES}", app.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(r.status, 401, "{why}: {}", r.body);
    assert_eq!(r.body["code"], 20003, "{why}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\""),
        "{why}"
    );
}

#[tokio::test]
async fn every_kind_of_forged_token_is_refused() {
    let app = spawn_app().await;
    let good = app.token().await;
    let key = app.signing_key().await;
    let kid = key.kid.to_string();
    let now = orgiam_domain::time_fmt::now();
    let claims = json!({"iss": "orgiam", "sub": app.client_id, "org": app.org.as_str(), "iat": now, "nbf": now, "exp": now + 600, "jti": "j"});
    let payload = b64(claims.to_string().as_bytes());
    let header = |h: Value| b64(h.to_string().as_bytes());

    // alg: none, with and without a signature part.
    let none = header(json!({"alg": "none", "typ": "JWT", "kid": kid}));
    refused(&app, &format!("{none}.{payload}."), "alg none").await;
    refused(&app, &format!("{none}.{payload}"), "alg none, two parts").await;

    // HS256 keyed with the server's public key (raw, and as published in the JWKS).
    for secret in [key.public_raw.clone(), b64(&key.public_raw).into_bytes()] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        let t =
            jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&secret)).expect("sign");
        refused(&app, &t, "HS256 with the public key").await;
    }

    // An attacker's own Ed25519 key, named by an unknown kid, by our kid, or pointed to by
    // jku / x5u / an embedded jwk.
    let attacker = orgiam_server::keys::generate_signing_key().expect("key");
    let evil = EncodingKey::from_ed_der(&attacker.private_der);
    let sign = |h: Header| jsonwebtoken::encode(&h, &claims, &evil).expect("sign");
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some("KY00000000000000000000000000000000".into());
    refused(&app, &sign(h.clone()), "unknown kid").await;
    h.kid = None;
    refused(&app, &sign(h.clone()), "no kid").await;
    h.kid = Some(kid.clone());
    refused(&app, &sign(h.clone()), "our kid, their key").await;
    h.jku = Some("https://evil.example/jwks.json".into());
    refused(&app, &sign(h.clone()), "jku").await;
    h.jku = None;
    h.x5u = Some("https://evil.example/cert.pem".into());
    refused(&app, &sign(h.clone()), "x5u").await;
    h.x5u = None;
    h.jwk = Some(
        serde_json::from_value(
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&attacker.public_raw), "kid": kid}),
        )
        .expect("jwk"),
    );
    refused(&app, &sign(h), "embedded jwk").await;

    // Truncated, garbage, huge, and a changed payload byte.
    refused(&app, &good[..good.len() - 10], "truncated").await;
    refused(&app, &good[..good.find('.').unwrap_or(5)], "header only").await;
    refused(&app, "~~garbage!!\"", "garbage").await;
    refused(&app, &"A".repeat(16 * 1024), "16 KB").await;
    let parts: Vec<&str> = good.split('.').collect();
    let mut body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .expect("b64");
    let i = body.len() / 2;
    body[i] ^= 0x01;
    refused(
        &app,
        &format!("{}.{}.{}", parts[0], b64(&body), parts[2]),
        "payload byte",
    )
    .await;

    // Still serving.
    assert_eq!(app.get(ROLES, &good).await.status, 200);
}
