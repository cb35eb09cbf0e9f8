//! Generators shared by the SCIM property tests: small alphabets, so that generated filters
//! often hit generated users (case variants, LIKE metacharacters, non-ASCII).

#![allow(dead_code)]

use orgiam_domain::scim::filter::{Attr, AttrType, Filter, Op, Value};
use orgiam_domain::scim::user::{Email, Name, ScimUser, UserAttrs};
use proptest::prelude::*;

pub const TIMES: [i64; 3] = [1_600_000_000, 1_700_000_000, 1_800_000_000];

pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "a",
            "A",
            "ab",
            "aB",
            "b%",
            "%",
            "_",
            "\\",
            "é",
            "É",
            "a_b",
            "x@acme.com",
            "X@Acme.COM",
            "work",
            "Work",
            "home",
            "ΣΑΣ",
            "σας",
        ])
        .prop_map(str::to_owned),
        "[aAbB%_\\\\éÉ@. \"Σσ]{1,4}",
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn email() -> impl Strategy<Value = Email> {
    (text(), opt_text()).prop_map(|(value, kind)| Email {
        value,
        kind,
        primary: false,
    })
}

pub fn user(i: usize) -> impl Strategy<Value = ScimUser> {
    (
        (text(), opt_text(), opt_text()),
        (opt_text(), opt_text(), opt_text()),
        (opt_text(), opt_text(), any::<bool>()),
        (
            prop::collection::vec(email(), 0..3),
            any::<prop::sample::Index>(),
            any::<bool>(),
        ),
        (
            prop::sample::select(TIMES.to_vec()),
            prop::sample::select(TIMES.to_vec()),
        ),
    )
        .prop_map(
            move |(
                (user_name, external_id, display_name),
                (given_name, family_name, formatted),
                (locale, timezone, active),
                (mut emails, primary_at, has_primary),
                (created, last_modified),
            )| {
                if has_primary && !emails.is_empty() {
                    let at = primary_at.index(emails.len());
                    emails[at].primary = true;
                }
                ScimUser {
                    id: format!("US{:032x}", i + 1),
                    attrs: UserAttrs {
                        user_name,
                        external_id,
                        display_name,
                        name: Name {
                            given_name,
                            family_name,
                            formatted,
                        },
                        emails,
                        active,
                        locale,
                        timezone,
                    },
                    created,
                    last_modified,
                    version: 1,
                }
            },
        )
}

pub fn users() -> impl Strategy<Value = Vec<ScimUser>> {
    (0usize..8).prop_flat_map(|n| (0..n).map(user).collect::<Vec<_>>())
}

fn value_for(attr: Attr) -> BoxedStrategy<Value> {
    match attr.kind() {
        AttrType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        AttrType::DateTime => prop::sample::select(TIMES.to_vec())
            .prop_map(Value::Time)
            .boxed(),
        _ => prop_oneof![
            text().prop_map(Value::Str),
            Just(Value::Str(String::new())),
            // SIDs, so that `id` comparisons hit.
            (1usize..4).prop_map(|i| Value::Str(format!("US{i:032x}"))),
        ]
        .boxed(),
    }
}

fn leaf(attrs: Vec<Attr>) -> BoxedStrategy<Filter> {
    let compare_attrs: Vec<Attr> = attrs
        .iter()
        .copied()
        .filter(|a| a.kind() != AttrType::Complex)
        .collect();
    let compare = prop::sample::select(compare_attrs)
        .prop_flat_map(|a| {
            let ops: Vec<Op> = Op::ALL.into_iter().filter(|o| o.fits(a.kind())).collect();
            (Just(a), prop::sample::select(ops), value_for(a))
        })
        .prop_map(|(a, o, v)| Filter::Compare(a, o, v));
    let present = prop::sample::select(attrs).prop_map(Filter::Present);
    prop_oneof![3 => compare, 1 => present].boxed()
}

fn combine(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
        (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
        inner.prop_map(|f| Filter::Not(Box::new(f))),
    ]
    .boxed()
}

/// A filter over email sub-attributes (the inside of `emails[...]`).
pub fn email_filter() -> BoxedStrategy<Filter> {
    leaf(vec![Attr::EmailValue, Attr::EmailType, Attr::EmailPrimary])
        .prop_recursive(2, 6, 2, combine)
        .boxed()
}

/// A whole filter.
pub fn filter() -> BoxedStrategy<Filter> {
    let top: Vec<Attr> = Attr::ALL.to_vec();
    let base = prop_oneof![
        4 => leaf(top),
        1 => email_filter().prop_map(|f| Filter::Emails(Box::new(f))),
    ];
    base.prop_recursive(3, 12, 2, combine)
        .prop_filter("within the limits", |f| terms(f) <= 32)
        .boxed()
}

pub fn terms(f: &Filter) -> usize {
    match f {
        Filter::Compare(..) | Filter::Present(_) => 1,
        Filter::And(l, r) | Filter::Or(l, r) => terms(l) + terms(r),
        Filter::Not(i) => terms(i),
        Filter::Emails(i) => 1 + terms(i),
    }
}

/// A filter over few string attributes (case-exact and case-insensitive ones), so that the
/// string operators meet their edge cases often.
pub fn string_filter() -> BoxedStrategy<Filter> {
    leaf(vec![
        Attr::ExternalId,
        Attr::UserName,
        Attr::DisplayName,
        Attr::EmailValue,
    ])
    .prop_recursive(2, 4, 2, combine)
    .boxed()
}
