//! Property tests of the PATCH engine: whatever operations a client sends, the engine answers
//! a valid user or a 400 SCIM error, never a panic; the result survives the wire round trip;
//! and simple operations do what they say.

mod scim_common;

use orgiam_domain::scim::patch::{self, PATCH_SCHEMA};
use orgiam_domain::scim::user::{attrs_to_json, parse_attrs, validate};
use proptest::prelude::*;
use scim_common::{text, user};
use serde_json::{Value, json};

fn op_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "add", "Add", "ADD", "replace", "Replace", "remove", "Remove", "move",
    ])
}

fn path() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec![
        "userName",
        "USERNAME",
        "displayName",
        "externalId",
        "active",
        "locale",
        "urn:ietf:params:scim:schemas:core:2.0:User:timezone",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "name",
        "name.givenName",
        "name.middleName",
        "emails",
        "emails.value",
        "emails.primary",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "emails[value co \"a\"].primary",
        "emails[primary eq true].type",
        "emails[not (type pr)]",
        "nickName",
        "id",
        "meta.created",
        "emails[",
        "emails[type eq \"work\"]x",
        "name..x",
        "userName.x",
    ]))
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        prop::sample::select(vec![
            json!(true),
            json!(false),
            json!("False"),
            json!("TRUE"),
            json!(null),
            json!(""),
            json!(5),
            json!({"givenName": "G", "familyName": "F", "middleName": "M"}),
            json!({"value": "w@acme.com", "type": "work"}),
            json!([{"value": "a@b.example", "type": "home"}]),
            json!([{"value": "p@x.example", "primary": true}, {"value": "q@x.example", "primary": "true"}]),
            json!({"active": "False", "name.familyName": "F", "emails[type eq \"work\"].value": "w@x"}),
            json!({"userName": "renamed", "id": "USx", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": {"value": "x"}}),
            json!({"value": "a\u{0}b"}),
            json!("bad\u{7}bell"),
        ]),
    ]
}

fn operation() -> impl Strategy<Value = Value> {
    (op_name(), path(), prop::option::of(value())).prop_map(|(op, path, value)| {
        let mut o = serde_json::Map::new();
        o.insert("op".into(), json!(op));
        if let Some(p) = path {
            o.insert("path".into(), json!(p));
        }
        if let Some(v) = value {
            o.insert("value".into(), v);
        }
        Value::Object(o)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_valid_user_or_a_400(
        start in user(0).prop_filter("valid", |u| validate(&u.attrs).is_ok()),
        ops in prop::collection::vec(operation(), 1..6),
    ) {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        match patch::parse_request(&body).and_then(|ops| patch::apply(&start.attrs, &ops)) {
            Ok(after) => {
                prop_assert!(validate(&after).is_ok());
                // What is stored renders and parses back to itself.
                prop_assert_eq!(parse_attrs(&attrs_to_json(&after), false).ok(), Some(after));
            }
            Err(e) => {
                prop_assert_eq!(e.status, 400);
                prop_assert!(e.scim_type.is_some());
            }
        }
    }

    #[test]
    fn replace_then_read(
        start in user(0).prop_filter("valid", |u| validate(&u.attrs).is_ok()),
        name in "[a-zA-Z0-9@.]{1,20}",
        active in any::<bool>(),
    ) {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Replace", "path": "userName", "value": name},
            {"op": "replace", "value": {"active": if active { "True" } else { "False" }}},
            {"op": "add", "path": "name.givenName", "value": "Given"},
        ]});
        let after = patch::parse_request(&body)
            .and_then(|ops| patch::apply(&start.attrs, &ops));
        let after = after.map_err(|e| TestCaseError::fail(e.detail))?;
        prop_assert_eq!(&after.user_name, &name);
        prop_assert_eq!(after.active, active);
        prop_assert_eq!(after.name.given_name.as_deref(), Some("Given"));
        prop_assert_eq!(&after.emails, &start.attrs.emails);
        prop_assert_eq!(&after.external_id, &start.attrs.external_id);
    }

    #[test]
    fn removing_user_name_always_fails(
        start in user(0).prop_filter("valid", |u| validate(&u.attrs).is_ok()),
        before in prop::collection::vec(operation(), 0..3),
    ) {
        let mut ops = before;
        ops.push(json!({"op": "remove", "path": "userName"}));
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        prop_assert!(patch::parse_request(&body).and_then(|ops| patch::apply(&start.attrs, &ops)).is_err());
    }
}
