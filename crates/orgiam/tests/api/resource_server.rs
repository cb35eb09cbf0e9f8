//! The resource-server example (examples/resource_server.rs, axum + jsonwebtoken through the
//! JWKS), run against a real orgiam server: it accepts tokens for its audience only.

use std::sync::Arc;

use orgiam_domain::model::Actor;
use orgiam_domain::policy::Policy;
use orgiam_server::bootstrap;
use orgiam_server::keys::{KeyRing, generate_signing_key};

use crate::helpers::{Reply, spawn_app};
use crate::resource_server_example::{Verifier, app as resource_app};

const AUDIENCE: &str = "https://billing.example.test";

#[tokio::test]
async fn the_example_resource_server_accepts_tokens_for_its_audience_only() {
    let app = spawn_app().await;
    let (mut client, secret) = bootstrap::new_app(
        &app.hasher,
        &app.org,
        "billing client",
        Policy::everything(),
        600,
    );
    client.audiences = vec![AUDIENCE.to_owned()];
    app.store
        .create_app(&client, &Actor::cli())
        .await
        .expect("create app");

    let verifier = Arc::new(
        Verifier::discover(&app.base, AUDIENCE)
            .await
            .expect("metadata and JWKS"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let rs = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, resource_app(verifier)).await;
    });
    let whoami = |token: String| {
        let http = app.http.clone();
        let rs = rs.clone();
        async move {
            Reply::from(
                http.get(format!("{rs}/whoami"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("GET"),
            )
            .await
        }
    };
    let token_for = |audience: Option<&'static str>| {
        let http = app.http.clone();
        let base = app.base.clone();
        let id = client.sid.to_string();
        let secret = secret.clone();
        async move {
            let mut form = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", id),
                ("client_secret", secret),
            ];
            if let Some(a) = audience {
                form.push(("audience", a.to_owned()));
            }
            let r = Reply::from(
                http.post(format!("{base}/v2/token"))
                    .form(&form)
                    .send()
                    .await
                    .expect("token"),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["access_token"].as_str().expect("token").to_owned()
        }
    };

    // A token for its audience: accepted, and it names the client and organization.
    let r = whoami(token_for(Some(AUDIENCE)).await).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["client_id"], client.sid.as_str());
    assert_eq!(r.body["organization"], app.org.as_str());
    assert_eq!(r.body["audience"], AUDIENCE);
    // A token for orgiam itself (no audience asked for): refused.
    let r = whoami(token_for(None).await).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("udience"),
        "{}",
        r.body
    );
    // Signed by another installation: refused.
    let foreign = KeyRing::new("orgiam".into(), &[generate_signing_key().expect("key")])
        .expect("ring")
        .mint_for(&client.sid, &app.org, 600, None, &[AUDIENCE.to_owned()])
        .expect("mint");
    assert_eq!(whoami(foreign).await.status, 401);
    // Not a token at all.
    assert_eq!(whoami("nope".into()).await.status, 401);
}
