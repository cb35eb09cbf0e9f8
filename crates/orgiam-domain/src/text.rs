//! The text-input rule, in one place: every string that reaches orgiam (query values, path
//! segments, JSON string fields, form fields, command-line arguments and import lines that end
//! up stored) is valid UTF-8 without NUL or other C0 control characters; free-text fields
//! (descriptions) may also hold tab, CR and LF. The HTTP edge and the command line call these
//! functions before anything reaches a store; a violation names the parameter or field.
//!
//! Query strings and form bodies are decoded strictly here: a `%` not followed by two hex
//! digits, or bytes that do not decode to UTF-8, are refused rather than passed through or
//! replaced.

use serde_json::Value;

use crate::error::{Error, Result};

/// What a string may hold besides printable text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Names, identifiers, filters: no C0 control character at all.
    Line,
    /// Descriptions: tab, CR and LF allowed, no other C0 control character.
    Free,
}

/// The first character `kind` does not allow, with its index in characters.
fn first_disallowed(value: &str, kind: Kind) -> Option<(usize, char)> {
    // Fast path: most text has no byte below 0x20 at all (UTF-8 never uses such bytes inside a
    // multi-byte sequence).
    if value.bytes().all(|b| b >= 0x20) {
        return None;
    }
    value.chars().enumerate().find(|&(_, c)| {
        (c as u32) < 0x20 && !(kind == Kind::Free && matches!(c, '\t' | '\r' | '\n'))
    })
}

fn disallowed(name: &str, index: usize, c: char) -> Error {
    let what = if c == '\0' {
        "NUL (U+0000)".to_owned()
    } else {
        format!("the control character U+{:04X}", c as u32)
    };
    Error::bad_request(format!(
        "{name} must not contain NUL or control characters (found {what} at character {})",
        index + 1
    ))
}

/// Checks a single-line string (a name, identifier or filter) named `name`.
pub fn check(name: &str, value: &str) -> Result<()> {
    match first_disallowed(value, Kind::Line) {
        None => Ok(()),
        Some((i, c)) => Err(disallowed(name, i, c)),
    }
}

/// Checks a free-text string (tab, CR and LF allowed) named `name`.
pub fn check_free(name: &str, value: &str) -> Result<()> {
    match first_disallowed(value, Kind::Free) {
        None => Ok(()),
        Some((i, c)) => Err(disallowed(name, i, c)),
    }
}

/// Checks every string of a JSON document, object keys included, recursively. A field is named
/// by its path (`policy.allow[0]`); fields whose last key is in `free` are free text.
pub fn check_json(value: &Value, free: &[&str]) -> Result<()> {
    let mut path = String::new();
    walk(value, free, &mut path, None)
}

fn walk(value: &Value, free: &[&str], path: &mut String, key: Option<&str>) -> Result<()> {
    match value {
        Value::String(s) => {
            let kind = if key.is_some_and(|k| free.contains(&k)) {
                Kind::Free
            } else {
                Kind::Line
            };
            match first_disallowed(s, kind) {
                None => Ok(()),
                Some((i, c)) => Err(disallowed(display_path(path), i, c)),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, free, path, key)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, v) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                if let Some((i, c)) = first_disallowed(k, Kind::Line) {
                    let at = if len == 0 { "the body" } else { &path[..len] };
                    return Err(disallowed(&format!("a field name in {at}"), i, c));
                }
                path.push_str(k);
                walk(v, free, path, Some(k))?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "the body" } else { path }
}

/// Where name/value pairs come from, for the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A URL query string.
    Query,
    /// An `application/x-www-form-urlencoded` body.
    Form,
}

impl Source {
    fn noun(self) -> &'static str {
        match self {
            Self::Query => "query parameter",
            Self::Form => "form field",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict `application/x-www-form-urlencoded` decoding of one name or value (`+` is a space).
/// `None` when a `%` is not followed by two hex digits or the bytes are not UTF-8.
fn decode_component(raw: &[u8]) -> Option<String> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return String::from_utf8(raw.to_vec()).ok();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex)?;
                let lo = raw.get(i + 2).copied().and_then(hex)?;
                out.push((hi << 4) | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes a query string or form body strictly into its pairs, in order, and checks every
/// name and value with [`check`]. Empty pieces (`a=1&&b=2`) are skipped; a piece without `=`
/// is a name with an empty value. Errors name the parameter (its name as far as it decodes).
pub fn decode_pairs(raw: &[u8], source: Source) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for piece in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &piece[piece.len()..]),
        };
        let noun = source.noun();
        let name = decode_component(name).ok_or_else(|| {
            Error::bad_request(format!(
                "a {noun} name ({:?}) is not valid percent-encoded UTF-8",
                String::from_utf8_lossy(name)
            ))
        })?;
        check(&format!("the {noun} name {name:?}"), &name)?;
        let value = decode_component(value).ok_or_else(|| {
            Error::bad_request(format!(
                "{name} is not valid percent-encoded UTF-8 (a % must be followed by two hex digits, and the bytes must be UTF-8)"
            ))
        })?;
        check(&name, &value)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Checks a query string (without the `?`) as [`decode_pairs`] does, without keeping the pairs.
/// A query of plain characters, as every SDK sends, costs one scan.
pub fn check_query(raw: &str) -> Result<()> {
    if !raw.bytes().any(|b| b == b'%' || !(0x20..0x7f).contains(&b)) {
        return Ok(());
    }
    decode_pairs(raw.as_bytes(), Source::Query).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(e: Error) -> String {
        assert_eq!(e.status(), 400);
        assert_eq!(e.code(), 20001);
        e.to_string()
    }

    #[test]
    fn nul_and_controls_are_refused_naming_the_field() {
        for bad in [
            "adm\0in",
            "\0",
            "a\u{1}",
            "x\u{1b}[31m",
            "tab\there",
            "line\nbreak",
        ] {
            let m = message(check("Search", bad).expect_err(bad));
            assert!(m.starts_with("Search must not contain"), "{m}");
        }
        let m = message(check("Search", "r\0").expect_err("nul"));
        assert!(m.contains("NUL (U+0000) at character 2"), "{m}");
        for good in ["admin", "Ünïcødé ✓ 😀", "%_\\'\"", "", " spaced "] {
            assert!(check("Search", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn free_text_allows_tab_cr_lf_only() {
        assert!(check_free("external_description", "a\tb\r\nc").is_ok());
        for bad in ["a\0", "a\u{7}", "a\u{c}", "a\u{1f}"] {
            assert!(check_free("external_description", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_strings_are_checked_recursively_with_their_path() {
        let v: Value = serde_json::from_str(
            r#"{"friendly_name":"ok","external_description":"a\nb","policy":{"allow":["/a/b/c/d","/x\u0000"]}}"#,
        )
        .expect("json");
        let m = message(check_json(&v, &["external_description"]).expect_err("nul"));
        assert!(m.starts_with("policy.allow[1] must not contain NUL"), "{m}");
        let v: Value = serde_json::from_str(r#"{"resource_id":"PN\u0000x"}"#).expect("json");
        let m = message(check_json(&v, &[]).expect_err("nul"));
        assert!(m.starts_with("resource_id must not"), "{m}");
        let v: Value = serde_json::from_str(r#"{"a\u0001":1}"#).expect("json");
        let m = message(check_json(&v, &[]).expect_err("key"));
        assert!(m.contains("field name in the body"), "{m}");
        let v: Value = serde_json::from_str(r#"{"friendly_name":"a\tb"}"#).expect("json");
        assert!(check_json(&v, &["external_description"]).is_err());
        let v: Value = serde_json::from_str(r#"{"external_description":"a\tb"}"#).expect("json");
        assert!(check_json(&v, &["external_description"]).is_ok());
        assert!(check_json(&Value::String("\0".into()), &[]).is_err());
    }

    #[test]
    fn queries_decode_strictly() {
        let q = |s: &str| decode_pairs(s.as_bytes(), Source::Query);
        assert_eq!(
            q("Search=a+b%2Bc&&PageSize=5&Flag").expect("ok"),
            vec![
                ("Search".into(), "a b+c".into()),
                ("PageSize".into(), "5".into()),
                ("Flag".into(), String::new())
            ]
        );
        assert_eq!(q("Search=%C3%A9").expect("ok")[0].1, "é");
        for (raw, needle) in [
            ("Search=adm%00in", "Search must not contain NUL"),
            ("Search=%zz", "Search is not valid percent-encoded"),
            ("Search=%4", "Search is not valid percent-encoded"),
            ("Search=%", "Search is not valid percent-encoded"),
            ("Search=%ff", "Search is not valid percent-encoded"),
            ("Search=%ED%A0%80", "Search is not valid percent-encoded"),
            ("Sea%00rch=1", "query parameter name"),
            ("Sea%zzrch=1", "query parameter name"),
            ("Action=%1b", "Action must not contain"),
        ] {
            let m = message(q(raw).expect_err(raw));
            assert!(m.contains(needle), "{raw}: {m}");
            assert!(check_query(raw).is_err(), "{raw}");
        }
        // Found by the http_store fuzz target: the message must not echo raw control bytes.
        let m = message(decode_pairs(b"\xff\x1fpe=x", Source::Form).expect_err("name"));
        assert!(m.contains("\\u{1f}") && !m.contains('\u{1f}'), "{m}");
        let m = message(decode_pairs(b"client_id=%00", Source::Form).expect_err("form"));
        assert!(m.starts_with("client_id must not"), "{m}");
        assert!(check_query("PageSize=50&Search=er&Expand=true").is_ok());
        assert!(check_query("").is_ok());
    }

    proptest! {
        /// Whatever a form serializer writes decodes back to the same pairs, or is refused for
        /// a control character.
        #[test]
        fn serialized_pairs_round_trip(pairs in prop::collection::vec((".{0,8}", ".{0,12}"), 0..5)) {
            let mut s = url_encode(&pairs);
            let decoded = decode_pairs(s.as_bytes(), Source::Query);
            let clean = pairs.iter().all(|(k, v)| check("k", k).is_ok() && check("v", v).is_ok());
            if clean {
                // A pair with an empty name and value serializes to "=" and comes back as such.
                prop_assert_eq!(decoded.expect("clean pairs decode"), pairs);
            } else {
                prop_assert!(decoded.is_err());
            }
            s.push_str("&%");
            prop_assert!(decode_pairs(s.as_bytes(), Source::Query).is_err());
        }

        #[test]
        fn any_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_pairs(&raw, Source::Form);
        }
    }

    /// A minimal form serializer for the property above (every byte but unreserved ones
    /// percent-encoded).
    fn url_encode(pairs: &[(String, String)]) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}
