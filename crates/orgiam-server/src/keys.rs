//! Access tokens: EdDSA (Ed25519) JWTs signed with keys kept in the store, published as JWKS.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use orgiam_domain::model::SigningKey;
use orgiam_domain::sid::{AppSid, KeySid, OrgSid};
use orgiam_domain::{Error, Result, time_fmt};

/// Seconds of clock skew tolerated on `nbf`, `iat` and `exp`.
pub const LEEWAY_SECS: u64 = 30;
/// Longest bearer token looked at.
pub const MAX_TOKEN_LEN: usize = 4096;

/// A new Ed25519 signing key.
pub fn generate_signing_key() -> Result<SigningKey> {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let der = key.to_pkcs8_der().map_err(Error::internal)?;
    Ok(SigningKey {
        kid: KeySid::random(),
        private_der: der.as_bytes().to_vec(),
        public_raw: key.verifying_key().to_bytes().to_vec(),
        created_at: time_fmt::now(),
        retired_at: None,
    })
}

/// The claims of an orgiam access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub org: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// A verified token's subject.
#[derive(Debug, Clone)]
pub struct Verified {
    pub app: AppSid,
    pub org: OrgSid,
    pub exp: i64,
}

/// The signing key in use and every key that still verifies.
pub struct KeyRing {
    issuer: String,
    signer: Option<(KeySid, EncodingKey)>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

impl KeyRing {
    pub fn new(issuer: String, keys: &[SigningKey]) -> Self {
        let signer = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at)
            .map(|k| (k.kid.clone(), EncodingKey::from_ed_der(&k.private_der)));
        let verifiers = keys
            .iter()
            .map(|k| (k.kid.to_string(), DecodingKey::from_ed_der(&k.public_raw)))
            .collect();
        let jwks = serde_json::json!({
            "keys": keys.iter().map(|k| serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": k.kid.as_str(),
                "x": URL_SAFE_NO_PAD.encode(&k.public_raw),
            })).collect::<Vec<_>>()
        });
        Self {
            issuer,
            signer,
            verifiers,
            jwks,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs an access token for `app`, valid for `ttl` seconds.
    pub fn mint(&self, app: &AppSid, org: &OrgSid, ttl: i64) -> Result<String> {
        let (kid, key) = self
            .signer
            .as_ref()
            .ok_or_else(|| Error::internal("no signing key is active"))?;
        let now = time_fmt::now();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: app.to_string(),
            org: org.to_string(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: orgiam_domain::sid::random_body(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, &claims, key).map_err(Error::internal)
    }

    /// Verifies signature, algorithm, key id, issuer and time claims.
    pub fn verify(&self, token: &str) -> Result<Verified> {
        let bad = |why: &str| Error::unauthenticated(format!("Invalid access token: {why}"), true);
        if token.len() > MAX_TOKEN_LEN {
            return Err(bad("it is too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad("it is not a JWT"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(bad("unsupported signing algorithm"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| bad("the header has no key id"))?;
        let key = self
            .verifiers
            .get(kid)
            .ok_or_else(|| bad("it was not signed by this server"))?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => bad("it has expired"),
                K::ImmatureSignature => bad("it is not valid yet (nbf)"),
                K::InvalidIssuer => bad("it was issued by another server (iss)"),
                K::InvalidSignature => bad("the signature does not verify"),
                _ => bad("it is malformed"),
            }
        })?;
        let c = data.claims;
        Ok(Verified {
            app: AppSid::parse(&c.sub).map_err(|_| bad("sub is not an OAuth app SID"))?,
            org: OrgSid::parse(&c.org).map_err(|_| bad("org is not an organization SID"))?,
            exp: c.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mints_and_verifies() -> Result<()> {
        let key = generate_signing_key()?;
        let ring = KeyRing::new("https://iam.example".into(), std::slice::from_ref(&key));
        let (app, org) = (AppSid::random(), OrgSid::random());
        let token = ring.mint(&app, &org, 60)?;
        let v = ring.verify(&token)?;
        assert_eq!((v.app, v.org), (app.clone(), org.clone()));
        let other = KeyRing::new("https://iam.example".into(), &[generate_signing_key()?]);
        assert!(other.verify(&token).is_err());
        let other_iss = KeyRing::new("https://elsewhere".into(), &[key]);
        assert!(other_iss.verify(&token).is_err());
        Ok(())
    }
}
