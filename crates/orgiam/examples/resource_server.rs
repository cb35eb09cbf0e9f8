//! A resource server that accepts orgiam's access tokens the standard way (RFC 9068), with
//! axum and jsonwebtoken and nothing from orgiam: it reads the server metadata (RFC 8414) for
//! the issuer and the JWKS address, fetches the signing keys, and accepts a bearer token only
//! when it is an `at+jwt`, signed by one of those keys, from that issuer, for its own audience,
//! and not expired. (To also honour revocation before expiry, a resource server introspects
//! the token at the metadata's `introspection_endpoint`; see docs/TOKENS.md.)
//!
//! ```text
//! orgiam apps create --org OR... --name billing-client --allow '/twilio/*' \
//!     --audience https://billing.example.com
//! cargo run -p orgiam --example resource_server -- http://127.0.0.1:8080 \
//!     https://billing.example.com 127.0.0.1:9000
//! curl -s -d grant_type=client_credentials -d client_id=OQ... -d client_secret=... \
//!     -d audience=https://billing.example.com http://127.0.0.1:8080/v2/token
//! curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9000/whoami
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

/// Checks tokens against one issuer's published keys, for one audience.
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

impl Verifier {
    /// Reads `{orgiam}/.well-known/oauth-authorization-server`, then its `jwks_uri`.
    pub async fn discover(orgiam: &str, audience: &str) -> Result<Self, Failure> {
        let http = reqwest::Client::new();
        let meta: Value = http
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                orgiam.trim_end_matches('/')
            ))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let issuer = meta["issuer"]
            .as_str()
            .ok_or("the metadata has no issuer")?;
        let jwks_uri = meta["jwks_uri"]
            .as_str()
            .ok_or("the metadata has no jwks_uri")?;
        let set: JwkSet = http
            .get(jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let keys = set
            .keys
            .iter()
            .filter_map(|k| Some((k.common.key_id.clone()?, DecodingKey::from_jwk(k).ok()?)))
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self { keys, validation })
    }

    /// The claims of a token this resource server may accept.
    pub fn verify(&self, token: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "not a JWT".to_owned())?;
        // RFC 9068 §4: only access tokens, not other JWTs signed with the same keys.
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
        {
            return Err("not an RFC 9068 access token (typ)".into());
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or("signed with an unknown key")?;
        jsonwebtoken::decode::<Value>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| format!("refused: {e}"))
    }
}

fn unauthorized(why: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        Json(json!({"error": "invalid_token", "error_description": why})),
    )
        .into_response()
}

/// `GET /whoami`: the calling client and its organization.
async fn whoami(State(verifier): State<Arc<Verifier>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return unauthorized("send Authorization: Bearer <token>");
    };
    match verifier.verify(token.trim()) {
        Ok(claims) => Json(json!({
            "client_id": claims["client_id"],
            "organization": claims["org"],
            "audience": claims["aud"],
        }))
        .into_response(),
        Err(why) => unauthorized(&why),
    }
}

/// The resource server's routes.
pub fn app(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .with_state(verifier)
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let (Some(orgiam), Some(audience)) = (args.next(), args.next()) else {
        return Err("usage: resource_server ORGIAM_URL AUDIENCE [LISTEN]".into());
    };
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9000".into());
    let verifier = Arc::new(Verifier::discover(&orgiam, &audience).await?);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "resource server for {audience} on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}
