//! `PageTokenCodec::decode` on hostile input, and the codec's properties.
//!
//! Every input is read three ways:
//! 1. as a token string: decoding never panics, refuses with a 400, and anything it accepts is
//!    the canonical encoding of what it decoded (only seeds carry a valid tag);
//! 2. as a token *body* wrapped with a valid tag (minted by the fuzz crate's own model of the
//!    format): the decoder past the tag check agrees with an independent reading of the body,
//!    and the same token is refused for any other endpoint, organization, filters or key;
//! 3. as a cursor (first byte: direction; the rest: key parts split on 0xFF): encode then decode
//!    gives the cursor back (tokens longer than the decoder's limit are refused instead), and a
//!    changed byte or a truncation is always refused.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use orgiam_domain::page::{Binding, Cursor, Direction, PageTokenCodec};
use orgiam_fuzz::{KEY, MAX_TOKEN_LEN, ORG, check_model, codec, hash, mint, parse_body};

const B: Binding<'static> = Binding {
    endpoint: "roles",
    org: ORG,
    filters: "[null,null,null]",
};

const OTHERS: [Binding<'static>; 3] = [
    Binding {
        endpoint: "role-assignments",
        ..B
    },
    Binding {
        org: "OR00000000000000000000000000000002",
        ..B
    },
    Binding {
        filters: "[\"bill\",null,null]",
        ..B
    },
];

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn as_token(data: &[u8], codec: &PageTokenCodec) {
    let token = String::from_utf8_lossy(data);
    match codec.decode(&B, &token) {
        Ok(cursor) => assert_eq!(
            codec.encode(&B, &cursor),
            token,
            "a token that decodes must be the canonical encoding of its cursor"
        ),
        Err(e) => assert_eq!(e.status(), 400, "a bad page token must be a 400: {e}"),
    }
}

fn as_body(data: &[u8], codec: &PageTokenCodec) {
    let token = mint(KEY, &B, data);
    let expected = (data.len() >= 2 && token.len() <= MAX_TOKEN_LEN)
        .then(|| parse_body(data))
        .flatten();
    let decoded = codec.decode(&B, &token);
    assert_eq!(
        decoded.as_ref().ok(),
        expected.as_ref(),
        "a tagged body decoded differently from the format: {decoded:?}"
    );
    if let Ok(cursor) = &decoded {
        assert_eq!(codec.encode(&B, cursor), token);
    }
    for other in &OTHERS {
        assert!(
            codec.decode(other, &token).is_err(),
            "a token was accepted under another binding: {other:?}"
        );
    }
    assert!(
        PageTokenCodec::new(b"another key")
            .decode(&B, &token)
            .is_err()
    );
}

fn as_cursor(data: &[u8], codec: &PageTokenCodec) {
    let key = match data.get(1..) {
        None | Some([]) => Vec::new(),
        Some(rest) => rest
            .split(|&b| b == 0xff)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
    };
    let cursor = Cursor {
        direction: if data.first().is_some_and(|b| b & 1 == 1) {
            Direction::Previous
        } else {
            Direction::Next
        },
        key,
    };
    let token = codec.encode(&B, &cursor);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "a page token must be URL-safe: {token}"
    );
    let decoded = codec.decode(&B, &token);
    if token.len() <= MAX_TOKEN_LEN {
        assert_eq!(decoded.ok().as_ref(), Some(&cursor), "round trip failed");
    } else {
        assert!(decoded.is_err(), "an over-long token was accepted");
        return;
    }

    // Any single changed byte, and any truncation, is refused.
    let bytes = token.as_bytes();
    let mut seed = hash(data);
    for _ in 0..16 {
        let r = splitmix(&mut seed);
        let i = (r as usize) % bytes.len();
        let b = (r >> 40) as u8;
        if bytes[i] == b {
            continue;
        }
        let mut changed = bytes.to_vec();
        changed[i] = b;
        let changed = String::from_utf8_lossy(&changed);
        assert!(
            codec.decode(&B, &changed).is_err(),
            "byte {i} of {token} changed to {b:#04x} was accepted"
        );
    }
    for cut in 1..=3.min(bytes.len()) {
        assert!(
            codec.decode(&B, &token[..token.len() - cut]).is_err(),
            "{token} truncated by {cut} was accepted"
        );
    }
}

static MODEL: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    MODEL.call_once(|| check_model(&B));
    let codec = codec();
    as_token(data, &codec);
    as_body(data, &codec);
    as_cursor(data, &codec);
});
