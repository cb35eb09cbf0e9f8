//! Pagination: page sizes and tamper-evident keyset page tokens.
//!
//! A page token carries a keyset position (never an offset) and the direction of travel. Its
//! 128-bit HMAC-SHA256 tag covers the position and, without storing them, the endpoint, the
//! organization and the canonical filter set: a token reused elsewhere fails verification.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Longest token accepted before decoding (a position is a few short strings).
const MAX_TOKEN_LEN: usize = 2048;

/// Parses `PageSize`: a positive integer, clamped to `max`; absent means `default`.
pub fn page_size(raw: Option<&str>, default: u32, max: u32) -> Result<u32> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(u32::try_from(n.min(i64::from(max))).unwrap_or(max)),
        _ => Err(Error::bad_request(format!(
            "PageSize must be an integer between 1 and {max}"
        ))),
    }
}

/// Parses `Page`: a non-negative integer, 0 when absent.
pub fn page_index(raw: Option<&str>) -> Result<u32> {
    match raw {
        None => Ok(0),
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .map_err(|_| Error::bad_request("Page must be a non-negative integer")),
    }
}

/// Which way a page token walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Rows after the position.
    Next,
    /// Rows before the position.
    Previous,
}

/// A decoded page token: a keyset position and the direction from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub direction: Direction,
    pub key: Vec<String>,
}

/// What a token is bound to, besides its key.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    /// A stable endpoint name, e.g. `roles`.
    pub endpoint: &'a str,
    pub org: &'a str,
    /// The canonical filter set.
    pub filters: &'a str,
}

/// Encodes and verifies page tokens with a server-side key shared by every replica.
#[derive(Clone)]
pub struct PageTokenCodec {
    /// The HMAC keyed once (its key schedule done); each token's MAC starts from a copy.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for PageTokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokenCodec(<redacted>)")
    }
}

impl PageTokenCodec {
    pub fn new(key: &[u8]) -> Self {
        Self {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable_hmac()),
        }
    }

    fn mac(&self, binding: &Binding<'_>, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        for part in [
            binding.endpoint.as_bytes(),
            binding.org.as_bytes(),
            binding.filters.as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(body);
        mac
    }

    pub fn encode(&self, binding: &Binding<'_>, cursor: &Cursor) -> String {
        let mut body = vec![
            VERSION,
            match cursor.direction {
                Direction::Next => 0,
                Direction::Previous => 1,
            },
        ];
        for part in &cursor.key {
            body.extend_from_slice(&(part.len() as u32).to_be_bytes());
            body.extend_from_slice(part.as_bytes());
        }
        let tag = self.mac(binding, &body).finalize().into_bytes();
        body.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(body)
    }

    pub fn decode(&self, binding: &Binding<'_>, token: &str) -> Result<Cursor> {
        let invalid = || {
            Error::bad_request(
                "PageToken is invalid: use the next_page_url or previous_page_url of a page with the same filters",
            )
        };
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if raw.len() < 2 + TAG_LEN {
            return Err(invalid());
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_LEN);
        self.mac(binding, body)
            .verify_truncated_left(tag)
            .map_err(|_| invalid())?;
        let direction = match (body[0], body[1]) {
            (VERSION, 0) => Direction::Next,
            (VERSION, 1) => Direction::Previous,
            _ => return Err(invalid()),
        };
        let mut rest = &body[2..];
        let mut key = Vec::new();
        while !rest.is_empty() {
            let (len, tail) = rest.split_at_checked(4).ok_or_else(invalid)?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let (part, tail) = tail.split_at_checked(len).ok_or_else(invalid)?;
            key.push(String::from_utf8(part.to_vec()).map_err(|_| invalid())?);
            rest = tail;
        }
        Ok(Cursor { direction, key })
    }
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> Hmac<Sha256> {
    panic!("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: Binding<'static> = Binding {
        endpoint: "roles",
        org: "OR00000000000000000000000000000001",
        filters: "Search=bill",
    };

    #[test]
    fn page_size_rules() {
        assert_eq!(page_size(None, 50, 1000).ok(), Some(50));
        assert_eq!(page_size(Some("7"), 50, 1000).ok(), Some(7));
        assert_eq!(page_size(Some("5000"), 50, 1000).ok(), Some(1000));
        assert_eq!(page_size(Some("99999999999999999999"), 50, 1000).ok(), None);
        for bad in ["0", "-1", "abc", "", "1.5"] {
            let e = page_size(Some(bad), 50, 1000).expect_err(bad);
            assert!(e.to_string().contains("PageSize"));
        }
    }

    #[test]
    fn bound_to_endpoint_org_and_filters() {
        let codec = PageTokenCodec::new(b"k");
        let c = Cursor {
            direction: Direction::Next,
            key: vec!["billing".into(), "IX1".into()],
        };
        let t = codec.encode(&B, &c);
        assert_eq!(codec.decode(&B, &t).ok(), Some(c));
        for other in [
            Binding {
                endpoint: "accounts",
                ..B
            },
            Binding {
                org: "OR00000000000000000000000000000002",
                ..B
            },
            Binding {
                filters: "Search=bil",
                ..B
            },
        ] {
            assert!(codec.decode(&other, &t).is_err());
        }
        assert!(PageTokenCodec::new(b"other").decode(&B, &t).is_err());
        assert!(codec.decode(&B, &t[..t.len() - 1]).is_err());
        assert!(codec.decode(&B, "").is_err());
    }

    fn cursor_strategy() -> impl Strategy<Value = Cursor> {
        (any::<bool>(), prop::collection::vec(".{0,40}", 0..4)).prop_map(|(prev, key)| Cursor {
            direction: if prev {
                Direction::Previous
            } else {
                Direction::Next
            },
            key,
        })
    }

    proptest! {
        #[test]
        fn round_trips(c in cursor_strategy()) {
            let codec = PageTokenCodec::new(b"key");
            let t = codec.encode(&B, &c);
            prop_assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(codec.decode(&B, &t).ok(), Some(c));
        }

        #[test]
        fn any_single_byte_change_is_rejected(c in cursor_strategy(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let codec = PageTokenCodec::new(b"key");
            let t = codec.encode(&B, &c).into_bytes();
            let i = pos.index(t.len());
            prop_assume!(t[i] != byte);
            let mut changed = t.clone();
            changed[i] = byte;
            let changed = String::from_utf8_lossy(&changed).into_owned();
            prop_assert!(codec.decode(&B, &changed).is_err());
        }

        #[test]
        fn garbage_never_panics(s in ".{0,300}") {
            let _ = PageTokenCodec::new(b"key").decode(&B, &s);
        }
    }
}
