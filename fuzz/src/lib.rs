//! What the fuzz targets share: fixed keys and bindings, an independent model of the page-token
//! format (to mint tokens with a valid tag around arbitrary bodies), and a cheap input hash.
//!
//! The model mirrors `orgiam_domain::page`; `check_model` asserts it still agrees with the real
//! encoder, so a change of the token format fails loudly instead of silently fuzzing nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use orgiam_domain::page::{Binding, Cursor, Direction, PageTokenCodec};

/// The page-token key of every target (and of the seed tokens `fuzz/run` writes).
pub const KEY: &[u8] = b"orgiam-fuzz-page-token-key";
/// The organization every binding names.
pub const ORG: &str = "OR00000000000000000000000000000001";
/// `page::MAX_TOKEN_LEN`: longer tokens are refused before decoding.
pub const MAX_TOKEN_LEN: usize = 2048;
const TAG_LEN: usize = 16;

pub fn codec() -> PageTokenCodec {
    PageTokenCodec::new(KEY)
}

/// FNV-1a: picks positions and replacement bytes deterministically from the input.
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A token whose tag is valid for `binding` under `key`, around any body.
pub fn mint(key: &[u8], binding: &Binding<'_>, body: &[u8]) -> String {
    #[allow(clippy::unwrap_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for part in [binding.endpoint, binding.org, binding.filters] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut raw = body.to_vec();
    raw.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The body `encode` writes for a cursor.
pub fn body_of(cursor: &Cursor) -> Vec<u8> {
    let mut body = vec![1, u8::from(cursor.direction == Direction::Previous)];
    for part in &cursor.key {
        body.extend_from_slice(&(part.len() as u32).to_be_bytes());
        body.extend_from_slice(part.as_bytes());
    }
    body
}

/// What a body with a valid tag must decode to: the format read independently of the decoder.
pub fn parse_body(body: &[u8]) -> Option<Cursor> {
    let direction = match body {
        [1, 0, ..] => Direction::Next,
        [1, 1, ..] => Direction::Previous,
        _ => return None,
    };
    let mut rest = &body[2..];
    let mut key = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return None;
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if rest.len() < len {
            return None;
        }
        key.push(String::from_utf8(rest[..len].to_vec()).ok()?);
        rest = &rest[len..];
    }
    Some(Cursor { direction, key })
}

/// Panics when the model above no longer matches `PageTokenCodec::encode`.
pub fn check_model(binding: &Binding<'_>) {
    let cursor = Cursor {
        direction: Direction::Previous,
        key: vec!["billing".into(), String::new(), "IX0123".into()],
    };
    assert_eq!(
        codec().encode(binding, &cursor),
        mint(KEY, binding, &body_of(&cursor)),
        "the fuzz crate's page-token model (fuzz/src/lib.rs) is out of date with orgiam_domain::page"
    );
}
