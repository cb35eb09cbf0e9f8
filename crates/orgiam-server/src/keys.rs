//! Access tokens: EdDSA (Ed25519) JWTs signed with keys kept in the store, published as JWKS.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
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

/// The `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// An `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// One audience as a string, several as an array.
    pub fn of(audiences: &[String]) -> Option<Self> {
        match audiences {
            [] => None,
            [one] => Some(Self::One(one.clone())),
            many => Some(Self::Many(many.to_vec())),
        }
    }

    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(a) => vec![a.clone()],
            Self::Many(a) => a.clone(),
        }
    }
}

/// The claims of an orgiam access token (RFC 9068 §2.2, and orgiam's `org` and `sec`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// Absent only from tokens issued before tokens named their audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub org: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Which of the app's client secrets the token was issued for (the first 8 bytes of its
    /// stored keyed hash, base64url): the token ends when that secret does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sec: Option<String>,
}

/// A verified token's subject.
#[derive(Debug, Clone)]
pub struct Verified {
    pub app: AppSid,
    pub org: OrgSid,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Its audiences; empty for tokens issued before tokens named their audience (they were
    /// all issued for this server).
    pub aud: Vec<String>,
    /// The client secret it was issued for (see [`Claims::sec`]); `None` for tokens issued
    /// before tokens named their secret.
    pub secret: Option<[u8; SECRET_TAG_LEN]>,
    /// The generation of the key ring that verified it: a cached entry counts only while the
    /// ring in use has the same generation.
    pub generation: i64,
}

/// Bytes of a stored secret hash a token names its secret by.
pub const SECRET_TAG_LEN: usize = 8;

/// The key new tokens are signed with, parsed once (jsonwebtoken would re-parse the PKCS#8
/// document, deriving the public key again, on every signature), and the token's encoded header.
#[derive(Clone)]
struct Signer {
    key: ed25519_dalek::SigningKey,
    header: String,
}

impl Signer {
    fn new(kid: &KeySid, private_der: &[u8]) -> Result<Self> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(private_der)
            .map_err(|e| Error::internal(format!("signing key {kid} cannot be parsed: {e}")))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(kid.to_string());
        let header = serde_json::to_vec(&header).map_err(Error::internal)?;
        Ok(Self {
            key,
            header: URL_SAFE_NO_PAD.encode(header),
        })
    }

    /// `header.claims.signature`, as RFC 7515's compact serialization.
    fn sign(&self, claims: &Claims) -> Result<String> {
        let claims = serde_json::to_vec(claims).map_err(Error::internal)?;
        let mut token = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 90);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }
}

/// The signing key in use and every key that still verifies.
pub struct KeyRing {
    /// The store's keys revision this ring was loaded at (-1 before any).
    generation: i64,
    issuer: String,
    signer: Option<Signer>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

impl KeyRing {
    /// Fails when the active signing key cannot be parsed: a server that cannot sign must say
    /// so rather than run without a key.
    pub fn new(issuer: String, keys: &[SigningKey]) -> Result<Self> {
        let signer = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at)
            .map(|k| Signer::new(&k.kid, &k.private_der))
            .transpose()?;
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
        Ok(Self {
            generation: -1,
            issuer,
            signer,
            verifiers,
            jwks,
        })
    }

    /// The ring, marked as loaded at `generation` (the keys revision).
    pub fn with_generation(mut self, generation: i64) -> Self {
        self.generation = generation;
        self
    }

    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// This ring's signer with the verifiers and JWKS of `keys`: for a server that cannot open
    /// the store's new private keys (its master key is out of date), so that it keeps signing
    /// with the key it has and verifies tokens signed with the new ones. Only public keys are
    /// read from `keys`.
    pub fn with_public_keys(&self, keys: &[SigningKey]) -> Result<Self> {
        let mut ring = Self::new(
            self.issuer.clone(),
            &keys
                .iter()
                .map(|k| SigningKey {
                    retired_at: Some(k.retired_at.unwrap_or(k.created_at)),
                    private_der: Vec::new(),
                    ..k.clone()
                })
                .collect::<Vec<_>>(),
        )?;
        ring.signer = self.signer.clone();
        Ok(ring)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs an access token for `app`, valid for `ttl` seconds, issued for the client secret
    /// whose stored hash is `secret_hash`, whose audience is this server.
    pub fn mint(
        &self,
        app: &AppSid,
        org: &OrgSid,
        ttl: i64,
        secret_hash: Option<&[u8]>,
    ) -> Result<String> {
        self.mint_for(
            app,
            org,
            ttl,
            secret_hash,
            std::slice::from_ref(&self.issuer),
        )
    }

    /// [`KeyRing::mint`] for the audiences `aud` (checked by the caller; this server's own
    /// audience is its issuer).
    pub fn mint_for(
        &self,
        app: &AppSid,
        org: &OrgSid,
        ttl: i64,
        secret_hash: Option<&[u8]>,
        aud: &[String],
    ) -> Result<String> {
        let signer = self
            .signer
            .as_ref()
            .ok_or_else(|| Error::internal("no signing key is active"))?;
        let now = time_fmt::now();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: app.to_string(),
            aud: Audience::of(aud),
            client_id: Some(app.to_string()),
            org: org.to_string(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: orgiam_domain::sid::random_body(),
            sec: secret_hash
                .and_then(|h| h.get(..SECRET_TAG_LEN))
                .map(|tag| URL_SAFE_NO_PAD.encode(tag)),
        };
        signer.sign(&claims)
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
        // The audience is the caller's to check: this server's APIs want their own, while
        // introspection answers for any audience.
        v.validate_aud = false;
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
        let secret = match &c.sec {
            None => None,
            Some(tag) => Some(
                URL_SAFE_NO_PAD
                    .decode(tag)
                    .ok()
                    .and_then(|b| <[u8; SECRET_TAG_LEN]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| bad("it is malformed"))?,
            ),
        };
        Ok(Verified {
            app: AppSid::parse(&c.sub).map_err(|_| bad("sub is not an OAuth app SID"))?,
            org: OrgSid::parse(&c.org).map_err(|_| bad("org is not an organization SID"))?,
            iat: c.iat,
            nbf: c.nbf,
            exp: c.exp,
            aud: c.aud.as_ref().map(Audience::to_vec).unwrap_or_default(),
            jti: c.jti,
            secret,
            generation: self.generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mints_and_verifies() -> Result<()> {
        let key = generate_signing_key()?;
        let ring = KeyRing::new("https://iam.example".into(), std::slice::from_ref(&key))?;
        let (app, org) = (AppSid::random(), OrgSid::random());
        let token = ring.mint(&app, &org, 60, Some(&[7u8; 32]))?;
        let v = ring.verify(&token)?;
        assert_eq!((v.app, v.org), (app.clone(), org.clone()));
        assert_eq!(v.secret, Some([7u8; SECRET_TAG_LEN]));
        assert_eq!(v.aud, ["https://iam.example"]);
        let two = [
            "https://a.example".to_owned(),
            "https://b.example".to_owned(),
        ];
        let v2 = ring.verify(&ring.mint_for(&app, &org, 60, None, &two)?)?;
        assert_eq!(v2.aud, two);
        let other = KeyRing::new("https://iam.example".into(), &[generate_signing_key()?])?;
        assert!(other.verify(&token).is_err());
        let other_iss = KeyRing::new("https://elsewhere".into(), std::slice::from_ref(&key))?;
        assert!(other_iss.verify(&token).is_err());
        // The token is what jsonwebtoken itself would produce with the same key and claims.
        let claims: Claims = jsonwebtoken::dangerous::insecure_decode(&token)
            .map_err(Error::internal)?
            .claims;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid.to_string());
        let encoded = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(&key.private_der),
        )
        .map_err(Error::internal)?;
        assert_eq!(token, encoded);
        Ok(())
    }

    #[test]
    fn an_unparseable_signing_key_is_an_error() -> Result<()> {
        let mut key = generate_signing_key()?;
        key.private_der.truncate(10);
        let err = KeyRing::new("orgiam".into(), &[key])
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("cannot be parsed")),
            "{err:?}"
        );
        Ok(())
    }
}
