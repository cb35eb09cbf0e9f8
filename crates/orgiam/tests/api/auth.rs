//! Bearer authentication, permissions and the error table on organization endpoints.

use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{eventually, spawn_app};

const ROLES: &str = "/v2/Organizations/Roles";

async fn raw_get(app: &crate::helpers::TestApp, auth: Option<&str>) -> crate::helpers::Reply {
    let mut req = app.http.get(format!("{}{ROLES}", app.base));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    crate::helpers::Reply::from(req.send().await.expect("GET")).await
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_with_the_spec_body() {
    let app = spawn_app().await;
    let r = raw_get(&app, None).await;
    r.assert_error(401, 20003, "Authorization");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ACxxxxxxxx:authtoken")
    );
    let r = raw_get(&app, Some(&basic)).await;
    r.assert_error(401, 20003, "OAuth bearer tokens");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    raw_get(&app, Some("Token abc"))
        .await
        .assert_error(401, 20003, "Bearer");
    raw_get(&app, Some("Bearer "))
        .await
        .assert_error(401, 20003, "no bearer token");

    for garbage in [
        "abc",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        &"x".repeat(16 * 1024),
    ] {
        let r = raw_get(&app, Some(&format!("Bearer {garbage}"))).await;
        r.assert_error(401, 20003, "Invalid access token");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let token = app.token().await;
    // A bad signature: the last signature character changed.
    let mut forged = token.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    raw_get(&app, Some(&format!("Bearer {forged}")))
        .await
        .assert_error(401, 20003, "Invalid access token");
    // One payload byte changed.
    let parts: Vec<&str> = token.split('.').collect();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&engine.decode(parts[1]).expect("b64")).expect("json");
    payload["exp"] = json!(payload["exp"].as_i64().unwrap_or(0) + 1);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(payload.to_string()),
        parts[2]
    );
    raw_get(&app, Some(&format!("Bearer {tampered}")))
        .await
        .assert_error(401, 20003, "signature");

    // Signed with the server's own key, but expired / not yet valid / another issuer.
    let key = app.signing_key().await;
    let sign = |claims: serde_json::Value| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(key.kid.to_string());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ed_der(&key.private_der))
            .expect("sign")
    };
    let now = orgiam_domain::time_fmt::now();
    let base = json!({"iss": "orgiam", "sub": app.client_id, "org": app.org.as_str(), "iat": now, "nbf": now, "exp": now + 600, "jti": "x"});
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base.clone();
        c[k] = v;
        sign(c)
    };
    assert_eq!(
        raw_get(&app, Some(&format!("Bearer {}", sign(base.clone()))))
            .await
            .status,
        200,
        "the control token works"
    );
    raw_get(
        &app,
        Some(&format!("Bearer {}", with("exp", json!(now - 120)))),
    )
    .await
    .assert_error(401, 20003, "expired");
    raw_get(
        &app,
        Some(&format!("Bearer {}", with("nbf", json!(now + 600)))),
    )
    .await
    .assert_error(401, 20003, "nbf");
    raw_get(
        &app,
        Some(&format!(
            "Bearer {}",
            with("iss", json!("https://evil.example"))
        )),
    )
    .await
    .assert_error(401, 20003, "iss");
    let other_org = orgiam_domain::sid::OrgSid::random();
    raw_get(
        &app,
        Some(&format!(
            "Bearer {}",
            with("org", json!(other_org.as_str()))
        )),
    )
    .await
    .assert_error(401, 20003, "organization");
    raw_get(
        &app,
        Some(&format!(
            "Bearer {}",
            with("sub", json!("OQ00000000000000000000000000000000"))
        )),
    )
    .await
    .assert_error(401, 20003, "does not exist");

    // A token of another orgiam installation.
    let other = spawn_app().await;
    let foreign = other.token().await;
    raw_get(&app, Some(&format!("Bearer {foreign}")))
        .await
        .assert_error(401, 20003, "not signed by this server");
}

#[tokio::test]
async fn an_app_without_the_permission_gets_403_naming_it() {
    let app = spawn_app().await;
    let denied = app
        .token_with(
            &app.org,
            &["/twilio/iam/*"],
            &["/twilio/iam/role-assignments/*"],
        )
        .await;
    let r = raw_get(&app, Some(&format!("Bearer {denied}"))).await;
    r.assert_error(403, 20003, "twilio/iam/role-assignments/list");
    let none = app.token_with(&app.org, &["/twilio/voice/*"], &[]).await;
    app.get(
        &format!("{ROLES}/IX00000000000000000000000000000000"),
        &none,
    )
    .await
    .assert_error(403, 20003, "twilio/iam/role-assignments/list");
    let exact = app
        .token_with(&app.org, &["twilio/iam/role-assignments/list"], &[])
        .await;
    assert_eq!(app.get(ROLES, &exact).await.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let app = spawn_app().await;
    let token = app.token().await;
    app.get("/v2/Organizations/Nope", &token)
        .await
        .assert_error(404, 20404, "/v2/Organizations/Nope");
    app.get("/", &token)
        .await
        .assert_error(404, 20404, "not found");
    let r = app
        .http
        .put(format!("{}{ROLES}", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("PUT");
    crate::helpers::Reply::from(r)
        .await
        .assert_error(405, 20004, "PUT");
    let r = app
        .http
        .delete(format!("{}/v2/token", app.base))
        .send()
        .await
        .expect("DELETE");
    crate::helpers::Reply::from(r)
        .await
        .assert_error(405, 20004, "DELETE");
}

#[tokio::test]
async fn a_disabled_or_deleted_apps_tokens_are_refused_within_a_second_even_via_the_cli() {
    let app = spawn_app().await;
    let (id, secret) = app.create_app(&app.org, &["/twilio/*"], &[], 3600).await;
    let token = app.token_for(id.as_str(), &secret).await.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(app.get(ROLES, &token).await.status, 200);

    let out = app.cli(&["apps", "disable", "--app", id.as_str(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disabled_at = std::time::Instant::now();
    let took = eventually(Duration::from_secs(3), || async {
        app.get(ROLES, &token).await.status == 401
    })
    .await;
    let took = took.expect("refused eventually");
    assert!(disabled_at.elapsed() >= took);
    assert!(
        took <= Duration::from_millis(1000),
        "refused after {took:?}"
    );
    app.get(ROLES, &token)
        .await
        .assert_error(401, 20003, "disabled");
    let r = app.token_for(id.as_str(), &secret).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    assert!(
        app.cli(&["apps", "enable", "--app", id.as_str()])
            .status
            .success()
    );
    // Enabled again: new tokens work within a second; the tokens issued before the disable
    // stay refused (a disable is how a leaked token is stopped).
    eventually(Duration::from_secs(1), || async {
        let r = app.token_for(id.as_str(), &secret).await;
        match r.body["access_token"].as_str() {
            Some(fresh) => app.get(ROLES, fresh).await.status == 200,
            None => false,
        }
    })
    .await
    .expect("enabled again");
    app.get(ROLES, &token)
        .await
        .assert_error(401, 20003, "revoked");

    assert!(
        app.cli(&["apps", "delete", "--app", id.as_str()])
            .status
            .success()
    );
    eventually(Duration::from_secs(1), || async {
        let r = app.get(ROLES, &token).await;
        r.status == 401
            && r.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("deleted"))
    })
    .await
    .expect("deleted");
    app.get(ROLES, &token)
        .await
        .assert_error(401, 20003, "deleted");
    assert_eq!(app.token_for(id.as_str(), &secret).await.status, 401);
    let again = app.cli(&["apps", "enable", "--app", id.as_str()]);
    assert!(!again.status.success(), "a deleted app cannot come back");
}

#[tokio::test]
async fn rotate_secret_with_grace_keeps_both_then_only_the_new() {
    let app = spawn_app().await;
    let (id, old) = app.create_app(&app.org, &["/twilio/*"], &[], 3600).await;
    let out = app.cli(&[
        "apps",
        "rotate-secret",
        "--app",
        id.as_str(),
        "--grace",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["client_id"], id.as_str());
    let new = v["client_secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    // Within a second both work (the server learns of the rotation by polling).
    eventually(Duration::from_secs(1), || async {
        app.token_for(id.as_str(), &new).await.status == 200
    })
    .await
    .expect("new secret works");
    assert_eq!(
        app.token_for(id.as_str(), &old).await.status,
        200,
        "old secret works during the grace period"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        app.token_for(id.as_str(), &old).await.status,
        401,
        "old secret expired"
    );
    assert_eq!(app.token_for(id.as_str(), &new).await.status, 200);
    // Grace 0: the previous secret stops at once.
    let out = app.cli(&[
        "apps",
        "rotate-secret",
        "--app",
        id.as_str(),
        "--grace",
        "0",
        "--json",
    ]);
    let newest =
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["client_secret"]
            .as_str()
            .expect("s")
            .to_owned();
    eventually(Duration::from_secs(1), || async {
        app.token_for(id.as_str(), &new).await.status == 401
    })
    .await
    .expect("old refused at once");
    assert_eq!(app.token_for(id.as_str(), &newest).await.status, 200);
}
