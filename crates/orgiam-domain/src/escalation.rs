//! No escalation: an app may hand out a policy (create an app, change an app's policy) only if
//! every permission that policy grants is granted to the app itself.
//!
//! The check is exact over every permission string, not only the catalog's. Each pattern is a
//! "box" over the four segments of a permission: each position is one literal or any segment
//! (a trailing `*` is "any" for every position from its own on). Because segments come from an
//! unbounded alphabet, a box lies inside a union of boxes exactly when it lies inside one of
//! them (the permission that takes the box's literals and, elsewhere, a segment no pattern
//! names, lies in no other box). So "the requested policy grants `p`, the caller does not"
//! has a solution exactly when, for some requested allow box `A`:
//! - no requested deny box and no caller allow box contains `A` (then `p` is outside every
//!   caller allow), or
//! - for some caller deny box `D`, `A ∩ D` is not empty and no requested deny box contains it
//!   (then the caller's deny refuses `p`).
//!
//! The witness (the permission named in the refusal) is a catalog permission when one fits,
//! else `A` (or `A ∩ D`) with a made-up segment where it has a wildcard.

use crate::policy::{Pattern, Permission, Policy};

type Box4<'a> = [Option<&'a str>; 4];

/// Whether `outer` contains `inner` (every permission of `inner` is in `outer`).
fn contains(outer: &Box4<'_>, inner: &Box4<'_>) -> bool {
    outer.iter().zip(inner).all(|(o, i)| o.is_none() || o == i)
}

/// The intersection of two boxes, `None` when it is empty.
fn intersect<'a>(a: &Box4<'a>, b: &Box4<'a>) -> Option<Box4<'a>> {
    let mut out: Box4<'a> = [None; 4];
    for i in 0..4 {
        out[i] = match (a[i], b[i]) {
            (None, x) | (x, None) => x,
            (Some(l), Some(m)) if l == m => Some(l),
            _ => return None,
        };
    }
    Some(out)
}

fn boxes(patterns: &[Pattern]) -> Vec<Box4<'_>> {
    patterns.iter().map(Pattern::positions).collect()
}

/// A permission inside `b` that is inside no box without `b` (given every box of the check):
/// `b`'s literals, and at each wildcard position a segment no pattern names there.
fn witness(b: &Box4<'_>, all: &[&Box4<'_>]) -> Option<Permission> {
    let mut parts: Vec<String> = Vec::with_capacity(4);
    for (i, seg) in b.iter().enumerate() {
        match seg {
            Some(l) => parts.push((*l).to_owned()),
            None => {
                let used = |s: &str| all.iter().any(|x| x[i] == Some(s));
                let fresh = std::iter::once("any".to_owned())
                    .chain((1u32..).map(|n| format!("any-{n}")))
                    .find(|s| !used(s))?;
                parts.push(fresh);
            }
        }
    }
    Permission::parse(&parts.join("/")).ok()
}

/// One permission `requested` grants and `caller` does not, if any (then handing out
/// `requested` would be an escalation); `None` when `requested` grants nothing beyond
/// `caller`. A permission of `examples` (the catalog) is named when one fits.
pub fn excess<'a>(
    requested: &Policy,
    caller: &Policy,
    examples: impl IntoIterator<Item = &'a Permission>,
) -> Option<Permission> {
    let r_allow = boxes(&requested.allow);
    let r_deny = boxes(requested.deny.as_deref().unwrap_or(&[]));
    let c_allow = boxes(&caller.allow);
    let c_deny = boxes(caller.deny.as_deref().unwrap_or(&[]));
    let covered_by_deny = |b: &Box4<'_>| r_deny.iter().any(|d| contains(d, b));
    let mut found: Option<Box4<'_>> = None;
    'search: for a in &r_allow {
        if !covered_by_deny(a) && !c_allow.iter().any(|c| contains(c, a)) {
            found = Some(*a);
            break;
        }
        for d in &c_deny {
            if let Some(i) = intersect(a, d)
                && !covered_by_deny(&i)
            {
                found = Some(i);
                break 'search;
            }
        }
    }
    let found = found?;
    if let Some(p) = examples
        .into_iter()
        .find(|p| requested.allows(p) && !caller.allows(p))
    {
        return Some(Permission::clone(p));
    }
    let all: Vec<&Box4<'_>> = r_allow
        .iter()
        .chain(&r_deny)
        .chain(&c_allow)
        .chain(&c_deny)
        .collect();
    witness(&found, &all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(s: &str) -> Pattern {
        Pattern::parse(s).expect("valid pattern")
    }
    fn policy(allow: &[&str], deny: &[&str]) -> Policy {
        Policy {
            allow: allow.iter().map(|s| pat(s)).collect(),
            deny: (!deny.is_empty()).then(|| deny.iter().map(|s| pat(s)).collect()),
        }
    }
    fn none(requested: &Policy, caller: &Policy) -> bool {
        excess(requested, caller, []).is_none()
    }

    #[test]
    fn examples() {
        let all = policy(&["/*"], &[]);
        let iam = policy(&["/twilio/iam/*"], &[]);
        assert!(none(&iam, &all));
        assert!(!none(&all, &iam));
        assert!(none(&policy(&["/twilio/iam/roles/list"], &[]), &iam));
        assert!(none(&policy(&["/twilio/iam/*/list"], &[]), &iam));
        assert!(!none(&policy(&["/twilio/*/roles/list"], &[]), &iam));
        // The caller's deny is respected, the requested deny counts.
        let no_billing = policy(&["/*"], &["/twilio/billing/*"]);
        assert!(!none(&policy(&["/twilio/*"], &[]), &no_billing));
        assert!(none(
            &policy(&["/twilio/*"], &["/twilio/billing/*"]),
            &no_billing
        ));
        assert!(!none(
            &policy(&["/twilio/*"], &["/twilio/billing/invoices/*"]),
            &no_billing
        ));
        // Two caller patterns that together cover a wildcard's literal part do not cover it.
        let two = policy(&["/twilio/iam/roles/*", "/twilio/iam/users/*"], &[]);
        assert!(!none(&policy(&["/twilio/iam/*"], &[]), &two));
        // Nothing requested, nothing granted.
        assert!(none(&Policy::default(), &Policy::default()));
    }

    #[test]
    fn the_witness_is_granted_by_the_request_and_not_the_caller() {
        let caller = policy(&["/twilio/iam/*"], &["/twilio/iam/any/*"]);
        let requested = policy(&["/twilio/*"], &[]);
        let p = excess(&requested, &caller, []).expect("an excess");
        assert!(requested.allows(&p) && !caller.allows(&p), "{p}");
        let example = Permission::parse("/twilio/voice/calls/read").expect("valid");
        let p = excess(&requested, &caller, [&example]).expect("an excess");
        assert_eq!(p, example, "a catalog permission is preferred");
    }

    /// Catalog segments plus made-up namespaces, products, resources and actions.
    const ALPHABET: &[&str] = &["twilio", "iam", "acme", "roles", "list", "x.y"];
    /// A segment no generated pattern names.
    const FRESH: &str = "zz-unnamed";

    fn seg() -> impl Strategy<Value = String> {
        prop::sample::select(ALPHABET.to_vec()).prop_map(str::to_owned)
    }

    fn pattern() -> impl Strategy<Value = Pattern> {
        (
            prop::collection::vec(prop::option::weighted(0.6, seg()), 4),
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

    fn random_policy() -> impl Strategy<Value = Policy> {
        (
            prop::collection::vec(pattern(), 0..5),
            prop::option::of(prop::collection::vec(pattern(), 0..3)),
        )
            .prop_map(|(allow, deny)| Policy { allow, deny })
    }

    /// Every permission over the alphabet plus one unnamed segment: a permission outside this
    /// set behaves, for every generated pattern, like one inside it (its unnamed segments
    /// replaced by `FRESH`), so a search over it is exhaustive.
    fn universe() -> Vec<Permission> {
        let segs: Vec<&str> = ALPHABET.iter().copied().chain([FRESH]).collect();
        let mut out = Vec::new();
        for a in &segs {
            for b in &segs {
                for c in &segs {
                    for d in &segs {
                        if let Ok(p) = Permission::parse(&format!("{a}/{b}/{c}/{d}")) {
                            out.push(p);
                        }
                    }
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Accepted ⇒ grants nothing the caller lacks; grants nothing beyond the caller ⇒
        /// accepted; and a refusal's witness is granted by the request, not by the caller.
        #[test]
        fn accepted_exactly_when_nothing_is_granted_beyond_the_caller(
            requested in random_policy(),
            caller in random_policy(),
        ) {
            static UNIVERSE: std::sync::LazyLock<Vec<Permission>> =
                std::sync::LazyLock::new(universe);
            let beyond = UNIVERSE
                .iter()
                .find(|p| requested.allows(p) && !caller.allows(p));
            let verdict = excess(&requested, &caller, UNIVERSE.iter().take(50));
            match &verdict {
                None => prop_assert!(beyond.is_none(), "accepted, yet grants {:?}", beyond),
                Some(w) => {
                    prop_assert!(beyond.is_some(), "refused, yet grants nothing beyond the caller");
                    prop_assert!(requested.allows(w) && !caller.allows(w), "bad witness {}", w);
                }
            }
        }
    }
}
