//! Client secrets: 256-bit random strings, stored only as HMAC-SHA256 under a server key,
//! compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::model::SecretRecord;

/// A new client secret (43 URL-safe characters), shown once.
pub fn generate() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

#[derive(Clone)]
pub struct SecretHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(<redacted>)")
    }
}

impl SecretHasher {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    pub fn hash(&self, secret: &str) -> Vec<u8> {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `secret` matches a live stored secret (every candidate is compared, in constant time).
    pub fn verify(&self, secret: &str, stored: &[SecretRecord], now: i64) -> bool {
        matching(&self.hash(secret), stored, now).is_some()
    }
}

/// The most secrets an app holds at once (the current one and, during a rotation's grace, the
/// previous one).
pub const MAX_LIVE_SECRETS: usize = 2;

/// Which live stored secret `hash` (a presented secret's [`SecretHasher::hash`]) is. Every
/// candidate is compared in constant time, and always at least [`MAX_LIVE_SECRETS`] of them
/// (padding with a hash nothing matches), so an app with one secret, two, or none (an unknown
/// client id) costs the same.
pub fn matching(hash: &[u8], stored: &[SecretRecord], now: i64) -> Option<usize> {
    use subtle::ConditionallySelectable;
    let dummy = [0xffu8; 32];
    let mut found = subtle::Choice::from(0);
    let mut index = 0u32;
    for i in 0..stored.len().max(MAX_LIVE_SECRETS) {
        let (candidate, live) = match stored.get(i) {
            Some(s) => (s.hash.as_slice(), s.expires_at.is_none_or(|t| t > now)),
            None => (&dummy[..], false),
        };
        let hit = hash.ct_eq(candidate) & subtle::Choice::from(u8::from(live)) & !found;
        index.conditional_assign(&u32::try_from(i).unwrap_or(u32::MAX), hit);
        found |= hit;
    }
    bool::from(found).then_some(index as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_live_secrets_only() {
        let h = SecretHasher::new(b"server-key");
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 43);
        let stored = vec![
            SecretRecord {
                hash: h.hash(&a),
                expires_at: Some(100),
            },
            SecretRecord {
                hash: h.hash(&b),
                expires_at: None,
            },
        ];
        assert!(h.verify(&a, &stored, 99));
        assert!(!h.verify(&a, &stored, 100));
        assert!(h.verify(&b, &stored, 1000));
        assert!(!h.verify("nope", &stored, 0));
        assert_eq!(matching(&h.hash(&a), &stored, 99), Some(0));
        assert_eq!(matching(&h.hash(&b), &stored, 99), Some(1));
        assert_eq!(matching(&h.hash(&a), &stored, 100), None);
        assert_eq!(matching(&h.hash(&a), &[], 0), None);
        assert!(!SecretHasher::new(b"other").verify(&b, &stored, 0));
    }
}
