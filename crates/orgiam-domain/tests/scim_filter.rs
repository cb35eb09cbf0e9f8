//! Property tests of the SCIM filter: rendering round-trips, precedence, robustness, and the
//! in-memory evaluator against a reference evaluator that walks the user's wire JSON.

mod scim_common;

use orgiam_domain::scim::ScimType;
use orgiam_domain::scim::filter::{self, Attr, Filter, Op, Value};
use orgiam_domain::scim::user::ScimUser;
use orgiam_domain::time_fmt;
use proptest::prelude::*;
use scim_common::{filter as gen_filter, user, users};
use serde_json::Value as Json;

fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// The values at `path` (`a`, `a.b`, through arrays) of a JSON document.
fn values<'a>(doc: &'a Json, path: &str) -> Vec<&'a Json> {
    let mut cur = vec![doc];
    for part in path.split('.') {
        let mut next = Vec::new();
        for v in cur {
            let items: Vec<&Json> = match v {
                Json::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for item in items {
                if let Some(x) = item.get(part) {
                    match x {
                        Json::Array(a) => next.extend(a.iter()),
                        Json::Null => {}
                        other => next.push(other),
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

fn cmp_one(have: &Json, attr: Attr, op: Op, want: &Value) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (have, want) {
        (Json::String(h), Value::Str(w)) => {
            let exact = matches!(attr, Attr::Id | Attr::ExternalId);
            let (h, w) = if exact {
                (h.clone(), w.clone())
            } else {
                (fold(h), fold(w))
            };
            match op {
                Op::Co => return h.contains(&w),
                Op::Sw => return h.starts_with(&w),
                Op::Ew => return h.ends_with(&w),
                _ => Some(h.cmp(&w)),
            }
        }
        (Json::Bool(h), Value::Bool(w)) => Some(h.cmp(w)),
        (Json::String(h), Value::Time(w)) => time_fmt::parse(h).map(|h| h.cmp(w)),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        Op::Eq => ord.is_eq(),
        Op::Gt => ord.is_gt(),
        Op::Ge => ord.is_ge(),
        Op::Lt => ord.is_lt(),
        Op::Le => ord.is_le(),
        _ => false,
    }
}

fn present(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The reference: `ne` is `not eq`; otherwise some value at the path satisfies the test.
fn reference(f: &Filter, doc: &Json, prefix: &str) -> bool {
    let path = |a: Attr| {
        let p = a.path();
        if prefix.is_empty() {
            p.to_owned()
        } else {
            p.trim_start_matches(prefix).to_owned()
        }
    };
    match f {
        Filter::And(l, r) => reference(l, doc, prefix) && reference(r, doc, prefix),
        Filter::Or(l, r) => reference(l, doc, prefix) || reference(r, doc, prefix),
        Filter::Not(i) => !reference(i, doc, prefix),
        Filter::Emails(i) => values(doc, "emails")
            .into_iter()
            .any(|e| reference(i, e, "emails.")),
        Filter::Present(a) => values(doc, &path(*a)).into_iter().any(present),
        Filter::Compare(a, Op::Ne, v) => {
            !reference(&Filter::Compare(*a, Op::Eq, v.clone()), doc, prefix)
        }
        Filter::Compare(a, op, v) => values(doc, &path(*a))
            .into_iter()
            .any(|h| cmp_one(h, *a, *op, v)),
    }
}

fn wire(u: &ScimUser) -> Json {
    u.to_json("https://example.test/scim/Users/x")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn render_parse_round_trip(f in gen_filter()) {
        let text = filter::render(&f);
        let back = filter::parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&f), "{} → {:?}", text, back);
    }

    #[test]
    fn and_binds_tighter_than_or(a in gen_filter(), b in gen_filter(), c in gen_filter()) {
        let (ra, rb, rc) = (filter::render(&a), filter::render(&b), filter::render(&c));
        let bx = |f: &Filter| Box::new(f.clone());
        let parsed = filter::parse(&format!("({ra}) or ({rb}) and ({rc})"));
        prop_assert_eq!(parsed.ok(), Some(Filter::Or(bx(&a), Box::new(Filter::And(bx(&b), bx(&c))))));
        let parsed = filter::parse(&format!("({ra}) and ({rb}) OR ({rc})"));
        prop_assert_eq!(parsed.ok(), Some(Filter::Or(Box::new(Filter::And(bx(&a), bx(&b))), bx(&c))));
        let parsed = filter::parse(&format!("not ({ra}) and ({rb})"));
        prop_assert_eq!(parsed.ok(), Some(Filter::And(Box::new(Filter::Not(bx(&a))), bx(&b))));
    }

    #[test]
    fn evaluator_agrees_with_reference(f in gen_filter(), u in user(0)) {
        let doc = wire(&u);
        prop_assert_eq!(f.matches(&u), reference(&f, &doc, ""), "{}", filter::render(&f));
    }

    #[test]
    fn evaluator_agrees_on_many_users(f in gen_filter(), us in users()) {
        for u in &us {
            prop_assert_eq!(f.matches(u), reference(&f, &wire(u), ""));
        }
    }

    #[test]
    fn garbage_is_invalid_filter_never_a_panic(s in "\\PC{0,120}") {
        if let Err(e) = filter::parse(&s) {
            prop_assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)));
        }
    }

    #[test]
    fn token_soup_is_invalid_filter_never_a_panic(
        parts in prop::collection::vec(prop::sample::select(vec![
            "userName", "emails", "[", "]", "(", ")", "not", "and", "or", "eq", "pr", "co",
            "\"x\"", "true", " ", ".", "value", "name.givenName", "\"", "\\",
        ]), 0..40)
    ) {
        let s = parts.join(" ");
        if let Err(e) = filter::parse(&s) {
            prop_assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)));
        }
    }
}

#[test]
fn limits_hold_exactly() {
    // MAX_DEPTH levels are accepted, one more is refused.
    let at = |n: usize| format!("{}userName pr{}", "(".repeat(n), ")".repeat(n));
    assert!(filter::parse(&at(filter::MAX_DEPTH)).is_ok());
    assert!(filter::parse(&at(filter::MAX_DEPTH + 1)).is_err());
    let terms = |n: usize| vec!["userName pr"; n].join(" and ");
    assert!(filter::parse(&terms(filter::MAX_TERMS)).is_ok());
    assert!(filter::parse(&terms(filter::MAX_TERMS + 1)).is_err());
    // A very deep input is refused without deep recursion.
    let deep = "(".repeat(1_000_000);
    assert!(filter::parse(&deep).is_err());
    let deep = format!("{}userName pr", "not (".repeat(100_000));
    assert!(filter::parse(&deep).is_err());
}
