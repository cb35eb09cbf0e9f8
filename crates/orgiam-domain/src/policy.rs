//! Permissions (`/namespace/product/resource/action`) and policies of allow/deny patterns.
//!
//! In a pattern, `*` matches one whole segment; a trailing `*` matches the rest. An explicit
//! deny wins over any allow; nothing allowed means denied.

use serde::{Deserialize, Serialize};
use std::fmt;

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        })
}

fn segments(s: &str) -> std::str::Split<'_, char> {
    s.strip_prefix('/').unwrap_or(s).split('/')
}

/// A concrete permission, kept in its canonical form with a leading slash.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(String);

impl Permission {
    /// Parses `/namespace/product/resource/action`; the leading slash is optional.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = segments(s).collect();
        if parts.len() != 4 || !parts.iter().all(|p| valid_segment(p)) {
            return Err(format!(
                "'{s}' is not a permission of the form /namespace/product/resource/action"
            ));
        }
        Ok(Self(format!("/{}", parts.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The four parts: namespace, product, resource, action.
    pub fn parts(&self) -> [&str; 4] {
        let mut it = segments(&self.0);
        [(); 4].map(|_| it.next().unwrap_or(""))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission pattern, possibly with `*` segments.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segs: Vec<String>,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        let segs: Vec<String> = segments(s).map(str::to_owned).collect();
        let err = || {
            format!(
                "'{s}' is not a permission pattern of the form /namespace/product/resource/action (segments may be '*')"
            )
        };
        let trailing_star = segs.last().is_some_and(|l| l == "*");
        let ok_len = segs.len() == 4 || (trailing_star && segs.len() <= 4);
        if !ok_len || !segs.iter().all(|p| p == "*" || valid_segment(p)) {
            return Err(err());
        }
        Ok(Self {
            text: format!("/{}", segs.join("/")),
            segs,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The pattern over the four positions of a permission: `Some(literal)` or `None` for any
    /// segment (a trailing `*` stands for every position from its own on).
    pub fn positions(&self) -> [Option<&str>; 4] {
        let mut out = [None; 4];
        let last = self.segs.len().saturating_sub(1);
        for (i, seg) in self.segs.iter().enumerate().take(4) {
            if seg == "*" && i == last {
                break;
            }
            out[i] = (seg != "*").then_some(seg.as_str());
        }
        out
    }

    /// Whether this pattern contains a wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.segs.iter().any(|s| s == "*")
    }

    pub fn matches(&self, perm: &Permission) -> bool {
        let parts = perm.parts();
        let last = self.segs.len() - 1;
        for (i, seg) in self.segs.iter().enumerate() {
            if seg == "*" {
                if i == last {
                    return true;
                }
            } else if parts.get(i).is_none_or(|p| p != seg) {
                return false;
            }
        }
        self.segs.len() == parts.len()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `{"allow": [...], "deny": [...] | null}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub allow: Vec<Pattern>,
    #[serde(default)]
    pub deny: Option<Vec<Pattern>>,
}

impl Policy {
    /// Whether `self`, replacing `before`, may take away something `before` gave: an allow
    /// pattern dropped or a deny pattern added (compared as written, so a rewrite that keeps
    /// the same meaning in other words counts as narrowing; that errs on the safe side).
    pub fn narrows(&self, before: &Policy) -> bool {
        let deny = |p: &Policy| p.deny.clone().unwrap_or_default();
        before.allow.iter().any(|a| !self.allow.contains(a))
            || deny(self).iter().any(|d| !deny(before).contains(d))
    }

    /// Deny wins; nothing allowed means denied.
    pub fn allows(&self, perm: &Permission) -> bool {
        let denied = self
            .deny
            .as_ref()
            .is_some_and(|d| d.iter().any(|p| p.matches(perm)));
        !denied && self.allow.iter().any(|p| p.matches(perm))
    }

    /// Allows everything.
    pub fn everything() -> Self {
        Self {
            allow: vec![Pattern::parse("/*").unwrap_or_else(|_| unreachable_pattern())],
            deny: None,
        }
    }
}

/// Patterns compiled into a trie over segments: matching a permission visits at most two
/// branches per segment (the literal and `*`), so it costs the same for 1 pattern or 100,000,
/// and building it is linear in the patterns' size.
#[derive(Debug, Default, Clone)]
pub struct PatternSet {
    root: PatternNode,
}

#[derive(Debug, Default, Clone)]
struct PatternNode {
    literal: std::collections::HashMap<String, PatternNode>,
    star: Option<Box<PatternNode>>,
    /// A trailing `*` ends here: everything below matches.
    rest: bool,
    /// A four-segment pattern ends here.
    end: bool,
}

impl PatternSet {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a Pattern>) -> Self {
        let mut set = Self::default();
        for p in patterns {
            set.insert(p);
        }
        set
    }

    pub fn insert(&mut self, pattern: &Pattern) {
        let last = pattern.segs.len().saturating_sub(1);
        let mut node = &mut self.root;
        for (i, seg) in pattern.segs.iter().enumerate() {
            if seg == "*" && i == last {
                node.rest = true;
                return;
            }
            node = if seg == "*" {
                node.star.get_or_insert_with(Box::default)
            } else {
                node.literal.entry(seg.clone()).or_default()
            };
        }
        node.end = true;
    }

    /// Whether any pattern of the set matches (as [`Pattern::matches`] would).
    pub fn matches(&self, perm: &Permission) -> bool {
        fn walk(node: &PatternNode, parts: &[&str]) -> bool {
            let Some((first, rest)) = parts.split_first() else {
                return node.end;
            };
            node.rest
                || node.literal.get(*first).is_some_and(|n| walk(n, rest))
                || node.star.as_deref().is_some_and(|n| walk(n, rest))
        }
        walk(&self.root, &perm.parts())
    }
}

/// A policy compiled for repeated checks ([`Policy::allows`] scans every pattern per check).
#[derive(Debug, Default, Clone)]
pub struct CompiledPolicy {
    allow: PatternSet,
    deny: PatternSet,
}

impl CompiledPolicy {
    pub fn new(policy: &Policy) -> Self {
        Self {
            allow: PatternSet::new(&policy.allow),
            deny: PatternSet::new(policy.deny.iter().flatten()),
        }
    }

    /// Deny wins; nothing allowed means denied (as [`Policy::allows`]).
    pub fn allows(&self, perm: &Permission) -> bool {
        !self.deny.matches(perm) && self.allow.matches(perm)
    }
}

#[allow(clippy::panic)]
fn unreachable_pattern() -> Pattern {
    panic!("the '/*' pattern is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn perm(s: &str) -> Permission {
        Permission::parse(s).expect("valid permission")
    }
    fn pat(s: &str) -> Pattern {
        Pattern::parse(s).expect("valid pattern")
    }

    #[test]
    fn narrowing_is_a_dropped_allow_or_an_added_deny() {
        let p = |allow: &[&str], deny: &[&str]| Policy {
            allow: allow.iter().map(|s| pat(s)).collect(),
            deny: (!deny.is_empty()).then(|| deny.iter().map(|s| pat(s)).collect()),
        };
        let base = p(&["/twilio/iam/*"], &[]);
        assert!(!p(&["/twilio/iam/*", "/twilio/voice/*"], &[]).narrows(&base));
        assert!(!base.narrows(&base));
        assert!(p(&["/twilio/voice/*"], &[]).narrows(&base));
        assert!(p(&["/twilio/iam/*"], &["/twilio/iam/roles/list"]).narrows(&base));
        assert!(!base.narrows(&p(&["/twilio/iam/*"], &["/twilio/iam/roles/list"])));
    }

    #[test]
    fn parses_permissions() {
        assert_eq!(
            perm("twilio/iam/role-assignments/list").as_str(),
            "/twilio/iam/role-assignments/list"
        );
        assert_eq!(
            perm("/twilio/billing/invoice.statements/list").parts(),
            ["twilio", "billing", "invoice.statements", "list"]
        );
        for bad in [
            "",
            "/",
            "/twilio/iam/list",
            "/a/b/c/d/e",
            "/twilio//x/y",
            "/Twilio/a/b/c",
            "/a/b/*/d",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcard_rules() {
        let p = perm("/twilio/messaging/services/read");
        assert!(pat("/*").matches(&p));
        assert!(pat("/twilio/*").matches(&p));
        assert!(pat("/twilio/messaging/*").matches(&p));
        assert!(pat("/twilio/*/services/read").matches(&p));
        assert!(pat("/twilio/messaging/*/read").matches(&p));
        assert!(!pat("/twilio/messaging/*/list").matches(&p));
        assert!(!pat("/twilio/voice/*").matches(&p));
        assert!(
            Pattern::parse("/twilio/*/read").is_err(),
            "too short without trailing *"
        );
        assert!(Pattern::parse("/twilio/mess*/a/b").is_err());
    }

    #[test]
    fn deny_wins() {
        let policy = Policy {
            allow: vec![pat("/twilio/*")],
            deny: Some(vec![pat("/twilio/billing/*")]),
        };
        assert!(policy.allows(&perm("/twilio/voice/calls/read")));
        assert!(!policy.allows(&perm("/twilio/billing/receipts/list")));
        assert!(!Policy::default().allows(&perm("/twilio/voice/calls/read")));
    }

    fn seg() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "twilio", "iam", "voice", "calls", "read", "list", "x.y",
        ])
        .prop_map(str::to_owned)
    }

    fn perm_strategy() -> impl Strategy<Value = Permission> {
        prop::collection::vec(seg(), 4).prop_map(|s| perm(&s.join("/")))
    }

    /// Four segments (some `*`), or a shorter prefix closed by a trailing `*`.
    fn pattern_strategy() -> impl Strategy<Value = Pattern> {
        (
            prop::collection::vec(prop::option::weighted(0.7, seg()), 4),
            1usize..=4,
        )
            .prop_map(|(segs, len)| {
                let mut parts: Vec<String> = segs
                    .into_iter()
                    .map(|s| s.unwrap_or_else(|| "*".into()))
                    .collect();
                if len < 4 {
                    parts.truncate(len - 1);
                    parts.push("*".into());
                }
                pat(&parts.join("/"))
            })
    }

    proptest! {
        #[test]
        fn an_explicit_deny_always_wins(p in perm_strategy(), allow in prop::collection::vec(pattern_strategy(), 0..4), deny in pattern_strategy()) {
            let policy = Policy { allow, deny: Some(vec![deny.clone()]) };
            if deny.matches(&p) {
                prop_assert!(!policy.allows(&p));
            }
        }

        #[test]
        fn allow_matches_iff_some_pattern_matches(p in perm_strategy(), allow in prop::collection::vec(pattern_strategy(), 0..4)) {
            let policy = Policy { allow: allow.clone(), deny: None };
            prop_assert_eq!(policy.allows(&p), allow.iter().any(|a| a.matches(&p)));
        }

        #[test]
        fn compiled_policy_agrees_with_the_scan(p in perm_strategy(), allow in prop::collection::vec(pattern_strategy(), 0..6), deny in prop::collection::vec(pattern_strategy(), 0..3), has_deny in any::<bool>()) {
            let policy = Policy { allow, deny: has_deny.then_some(deny) };
            prop_assert_eq!(CompiledPolicy::new(&policy).allows(&p), policy.allows(&p));
        }

        #[test]
        fn a_concrete_pattern_matches_only_itself(a in perm_strategy(), b in perm_strategy()) {
            prop_assert_eq!(pat(a.as_str()).matches(&b), a == b);
        }

        #[test]
        fn trailing_star_matches_every_extension(p in perm_strategy(), keep in 0usize..4) {
            let prefix: Vec<&str> = p.parts()[..keep].to_vec();
            let mut text = prefix.join("/");
            text.push_str(if keep == 0 { "*" } else { "/*" });
            prop_assert!(pat(&text).matches(&p));
        }
    }
}
