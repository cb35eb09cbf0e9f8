//! The PATCH engine (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations applied to a
//! user, as identity providers send them.
//!
//! - Op names in any case (`Replace`, as Microsoft Entra ID sends).
//! - Without `path`, the value is an object whose keys are themselves paths (`"active"`,
//!   `"name.givenName"`, `"emails[type eq \"work\"].value"`); keys of extension schemas and
//!   unknown attributes are ignored, as are the read-only `id`, `meta` and `schemas`.
//! - With `path`: `attr`, `attr.sub`, `emails[filter]`, `emails[filter].sub`, optionally with
//!   the core schema URN in front. A path to an unknown attribute or an extension schema is
//!   ignored; a path to `id`, `meta` or `schemas` is a `mutability` error; a malformed path
//!   is an `invalidPath` error.
//! - `add` sets a single-valued attribute, merges the sub-attributes of `name`, appends to
//!   `emails` (an element equal to an existing one, same value and type, is merged instead);
//!   `replace` sets, merges `name`, and replaces all of `emails`; `remove` unsets, or removes
//!   the emails a filter selects (or those listed in `value`).
//! - `add`/`replace` on `emails[filter]...` change the selected emails; when none is selected
//!   and the filter is a conjunction of `eq` tests (`emails[type eq "work"].value`, as Entra
//!   sends), an email is created from those tests and the value. Otherwise `replace` with no
//!   selected email is a `noTarget` error.
//! - Booleans may be strings (`"False"`).
//!
//! The operations are applied to a copy; the result is validated as a whole (a required
//! `userName`, at most one primary email, text rule, limits) and returned, or the first error
//! is, and nothing changes.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, Attr, Filter, Op, Value as FValue};
use super::user::{UserAttrs, attrs_to_json, parse_attrs, parse_email};

/// The schema URN of a PATCH request.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations in one request.
pub const MAX_OPERATIONS: usize = 100;

/// An operation's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Add,
    Replace,
    Remove,
}

/// One operation of a PATCH request.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub kind: Kind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Parses a PATCH request body: `schemas` must name the PatchOp schema and `Operations` hold
/// 1 to [`MAX_OPERATIONS`] operations (member names case-insensitive).
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    };
    let mut schemas_ok = false;
    let mut ops = None;
    for (key, v) in obj {
        match key.to_ascii_lowercase().as_str() {
            "schemas" => {
                schemas_ok = v.as_array().is_some_and(|a| {
                    a.iter().any(|s| {
                        s.as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_SCHEMA))
                    })
                })
            }
            "operations" => ops = Some(v),
            _ => {}
        }
    }
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must be an array that includes \"{PATCH_SCHEMA}\""
        )));
    }
    let Some(Value::Array(items)) = ops else {
        return Err(ScimError::invalid_syntax("Operations must be an array"));
    };
    if items.is_empty() || items.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "Operations must hold 1 to {MAX_OPERATIONS} operations"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_operation(i, item))
        .collect()
}

fn parse_operation(i: usize, item: &Value) -> Result<Operation, ScimError> {
    let Value::Object(obj) = item else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}] must be an object"
        )));
    };
    let mut kind = None;
    let mut path = None;
    let mut value = None;
    for (key, v) in obj {
        match key.to_ascii_lowercase().as_str() {
            "op" => {
                kind = match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("add") => Some(Kind::Add),
                    Some("replace") => Some(Kind::Replace),
                    Some("remove") => Some(Kind::Remove),
                    _ => {
                        return Err(ScimError::invalid_syntax(format!(
                            "Operations[{i}].op must be add, replace or remove"
                        )));
                    }
                }
            }
            "path" => match v {
                Value::Null => {}
                Value::String(s) if s.trim().is_empty() => {}
                Value::String(s) => {
                    crate::text::check(&format!("Operations[{i}].path"), s)
                        .map_err(|e| ScimError::invalid_path(e.to_string()))?;
                    if s.len() > filter::MAX_FILTER_LEN {
                        return Err(ScimError::invalid_path(format!(
                            "Operations[{i}].path is longer than {} bytes",
                            filter::MAX_FILTER_LEN
                        )));
                    }
                    path = Some(s.trim().to_owned());
                }
                _ => {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{i}].path must be a string"
                    )));
                }
            },
            "value" => value = Some(v.clone()),
            _ => {}
        }
    }
    let Some(kind) = kind else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}].op is required"
        )));
    };
    if kind != Kind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "Operations[{i}].value is required for {}",
            if kind == Kind::Add { "add" } else { "replace" }
        )));
    }
    Ok(Operation { kind, path, value })
}

/// Applies `ops` in order to a copy of `user` and returns the validated result.
pub fn apply(user: &UserAttrs, ops: &[Operation]) -> Result<UserAttrs, ScimError> {
    let Value::Object(mut doc) = attrs_to_json(user) else {
        return Err(ScimError::new(500, None, "user rendering is not an object"));
    };
    for op in ops {
        match (&op.path, op.kind) {
            (None, Kind::Remove) => {
                return Err(ScimError::no_target("remove needs a path"));
            }
            (None, kind) => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path needs an object value",
                    ));
                };
                for (key, v) in values {
                    match parse_path(key)? {
                        Target::Ignored | Target::ReadOnly(_) => {}
                        target => apply_one(&mut doc, kind, &target, Some(v))?,
                    }
                }
            }
            (Some(path), kind) => match parse_path(path)? {
                Target::Ignored => {}
                Target::ReadOnly(name) => {
                    return Err(ScimError::mutability(format!("{name} is read-only")));
                }
                target => apply_one(&mut doc, kind, &target, op.value.as_ref())?,
            },
        }
    }
    parse_attrs(&Value::Object(doc), false)
}

/// Where an operation applies.
#[derive(Clone, Debug, PartialEq)]
enum Target {
    /// An unknown attribute or an extension schema: the operation does nothing.
    Ignored,
    /// `id`, `meta`, `schemas`.
    ReadOnly(String),
    /// `externalId`, `userName`, `displayName`, `active`, `locale`, `timezone`.
    Simple(&'static str),
    /// `name`, or `name.sub`.
    Name(Option<&'static str>),
    /// `emails`, with an optional filter and sub-attribute.
    Emails(Option<Filter>, Option<&'static str>),
}

const SIMPLE: [&str; 6] = [
    "externalId",
    "userName",
    "displayName",
    "active",
    "locale",
    "timezone",
];
const NAME_SUBS: [&str; 3] = ["givenName", "familyName", "formatted"];
const EMAIL_SUBS: [&str; 3] = ["value", "type", "primary"];

fn canon(list: &[&'static str], name: &str) -> Option<&'static str> {
    list.iter().copied().find(|c| c.eq_ignore_ascii_case(name))
}

fn parse_path(path: &str) -> Result<Target, ScimError> {
    let Some(rest) = filter::strip_schema(path.trim()) else {
        return Ok(Target::Ignored);
    };
    let bad = || ScimError::invalid_path(format!("malformed path `{path}`"));
    if let Some(open) = rest.find('[') {
        let name = &rest[..open];
        if !name.eq_ignore_ascii_case("emails") {
            return if canon(&SIMPLE, name).is_some() || name.eq_ignore_ascii_case("name") {
                Err(bad())
            } else {
                Ok(Target::Ignored)
            };
        }
        let (f, end) = filter::parse_bracket(rest, open + 1)
            .map_err(|e| ScimError::invalid_path(format!("path `{path}`: {}", e.detail)))?;
        let tail = &rest[end..];
        if tail.is_empty() {
            return Ok(Target::Emails(Some(f), None));
        }
        let Some(sub) = tail.strip_prefix('.') else {
            return Err(bad());
        };
        return Ok(match canon(&EMAIL_SUBS, sub) {
            Some(s) => Target::Emails(Some(f), Some(s)),
            None => Target::Ignored,
        });
    }
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() || sub.is_some_and(str::is_empty) || name.is_empty() {
        return Err(bad());
    }
    if ["id", "meta", "schemas"]
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Ok(Target::ReadOnly(name.to_owned()));
    }
    if let Some(simple) = canon(&SIMPLE, name) {
        return if sub.is_some() {
            Err(bad())
        } else {
            Ok(Target::Simple(simple))
        };
    }
    if name.eq_ignore_ascii_case("name") {
        return Ok(match sub {
            None => Target::Name(None),
            Some(s) => match canon(&NAME_SUBS, s) {
                Some(s) => Target::Name(Some(s)),
                None => Target::Ignored,
            },
        });
    }
    if name.eq_ignore_ascii_case("emails") {
        return Ok(match sub {
            None => Target::Emails(None, None),
            Some(s) => match canon(&EMAIL_SUBS, s) {
                Some(s) => Target::Emails(None, Some(s)),
                None => Target::Ignored,
            },
        });
    }
    Ok(Target::Ignored)
}

/// Keeps the known sub-attributes of an object value under their canonical names.
fn normalize(
    v: &Value,
    subs: &[&'static str],
    what: &str,
) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(obj) = v else {
        return Err(ScimError::invalid_value(format!(
            "{what} must be an object"
        )));
    };
    Ok(obj
        .iter()
        .filter_map(|(k, v)| canon(subs, k).map(|c| (c.to_owned(), v.clone())))
        .collect())
}

fn emails_mut(doc: &mut Map<String, Value>) -> Result<&mut Vec<Value>, ScimError> {
    let slot = doc
        .entry("emails")
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(a) => Ok(a),
        _ => Err(ScimError::invalid_value("emails must be an array")),
    }
}

fn new_emails(v: &Value) -> Result<Vec<Map<String, Value>>, ScimError> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| normalize(i, &EMAIL_SUBS, "an element of emails"))
            .collect(),
        Value::Object(_) => Ok(vec![normalize(v, &EMAIL_SUBS, "emails")?]),
        Value::Null => Ok(Vec::new()),
        _ => Err(ScimError::invalid_value(
            "emails must be an array of objects",
        )),
    }
}

/// Whether element `i` of `emails` is selected by `f`.
fn selected(f: &Filter, i: usize, elem: &Value) -> Result<bool, ScimError> {
    Ok(f.matches_email(&parse_email(i, elem)?))
}

/// The `eq` tests of a conjunction (`type eq "work" and primary eq true`), as the
/// sub-attributes of a new email; `None` for any other filter.
fn eq_terms(f: &Filter, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::And(l, r) => eq_terms(l, out) && eq_terms(r, out),
        Filter::Compare(a, Op::Eq, v) => {
            let key = match a {
                Attr::EmailValue => "value",
                Attr::EmailType => "type",
                Attr::EmailPrimary => "primary",
                _ => return false,
            };
            let v = match v {
                FValue::Str(s) => Value::String(s.clone()),
                FValue::Bool(b) => Value::Bool(*b),
                FValue::Time(_) => return false,
            };
            out.insert(key.to_owned(), v);
            true
        }
        _ => false,
    }
}

fn same_email(a: &Value, b: &Map<String, Value>) -> bool {
    let get = |m: &Value, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(filter::fold)
            .filter(|s| !s.is_empty())
    };
    let b = Value::Object(b.clone());
    get(a, "value").is_some()
        && get(a, "value") == get(&b, "value")
        && get(a, "type") == get(&b, "type")
}

fn apply_one(
    doc: &mut Map<String, Value>,
    kind: Kind,
    target: &Target,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let null = Value::Null;
    let v = value.unwrap_or(&null);
    match (target, kind) {
        (Target::Ignored | Target::ReadOnly(_), _) => {}
        (Target::Simple(name), Kind::Remove) => {
            doc.remove(*name);
        }
        (Target::Simple(name), _) => {
            doc.insert((*name).to_owned(), v.clone());
        }
        (Target::Name(None), Kind::Remove) => {
            doc.remove("name");
        }
        (Target::Name(sub), kind) => {
            let slot = doc
                .entry("name")
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(name) = slot else {
                return Ok(());
            };
            match (sub, kind) {
                (Some(s), Kind::Remove) => {
                    name.remove(*s);
                }
                (Some(s), _) => {
                    name.insert((*s).to_owned(), v.clone());
                }
                (None, _) => {
                    for (k, val) in normalize(v, &NAME_SUBS, "name")? {
                        name.insert(k, val);
                    }
                }
            }
        }
        (Target::Emails(None, None), Kind::Remove) => match v {
            // `remove` with the values to take out (as some clients send for members).
            Value::Array(_) | Value::Object(_) => {
                let gone = new_emails(v)?;
                let emails = emails_mut(doc)?;
                emails.retain(|e| {
                    !gone.iter().any(|g| {
                        let key =
                            |m: &Value| m.get("value").and_then(Value::as_str).map(filter::fold);
                        key(e).is_some() && key(e) == key(&Value::Object(g.clone()))
                    })
                });
            }
            _ => {
                doc.remove("emails");
            }
        },
        (Target::Emails(None, None), Kind::Replace) => {
            let items = new_emails(v)?;
            doc.insert(
                "emails".into(),
                Value::Array(items.into_iter().map(Value::Object).collect()),
            );
        }
        (Target::Emails(None, None), Kind::Add) => {
            let items = new_emails(v)?;
            let emails = emails_mut(doc)?;
            for item in items {
                if let Some(Value::Object(existing)) =
                    emails.iter_mut().find(|e| same_email(e, &item))
                {
                    existing.extend(item);
                } else {
                    emails.push(Value::Object(item));
                }
            }
        }
        (Target::Emails(None, Some(sub)), kind) => {
            let emails = emails_mut(doc)?;
            if emails.is_empty() && kind != Kind::Remove {
                let mut m = Map::new();
                m.insert((*sub).to_owned(), v.clone());
                emails.push(Value::Object(m));
            }
            for e in emails.iter_mut() {
                if let Value::Object(m) = e {
                    if kind == Kind::Remove {
                        m.remove(*sub);
                    } else {
                        m.insert((*sub).to_owned(), v.clone());
                    }
                }
            }
        }
        (Target::Emails(Some(f), sub), kind) => {
            let emails = emails_mut(doc)?;
            let mut hits = Vec::new();
            for (i, e) in emails.iter().enumerate() {
                if selected(f, i, e)? {
                    hits.push(i);
                }
            }
            if kind == Kind::Remove {
                match sub {
                    None => {
                        let mut i = 0;
                        emails.retain(|_| {
                            let keep = !hits.contains(&i);
                            i += 1;
                            keep
                        });
                    }
                    Some(s) => {
                        for &i in &hits {
                            if let Some(Value::Object(m)) = emails.get_mut(i) {
                                m.remove(*s);
                            }
                        }
                    }
                }
                return Ok(());
            }
            let update = match sub {
                Some(s) => {
                    let mut m = Map::new();
                    m.insert((*s).to_owned(), v.clone());
                    m
                }
                None => normalize(v, &EMAIL_SUBS, "the value")?,
            };
            if hits.is_empty() {
                let mut created = Map::new();
                if !eq_terms(f, &mut created) {
                    return Err(ScimError::no_target(
                        "the path's filter selects no email".to_owned(),
                    ));
                }
                created.extend(update);
                emails.push(Value::Object(created));
                return Ok(());
            }
            for &i in &hits {
                if let Some(slot) = emails.get_mut(i) {
                    match (kind, sub, slot) {
                        (Kind::Replace, None, slot) => *slot = Value::Object(update.clone()),
                        (_, _, Value::Object(m)) => m.extend(update.clone()),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;
    use crate::scim::user::Email;
    use serde_json::json;

    fn user() -> UserAttrs {
        let mut u = UserAttrs::new("bjensen@example.com");
        u.external_id = Some("ext-1".into());
        u.display_name = Some("Babs".into());
        u.name.given_name = Some("Barbara".into());
        u.name.family_name = Some("Jensen".into());
        u.emails = vec![
            Email {
                value: "bjensen@example.com".into(),
                kind: Some("work".into()),
                primary: true,
            },
            Email {
                value: "babs@jensen.org".into(),
                kind: Some("home".into()),
                primary: false,
            },
        ];
        u
    }

    fn patch(u: &UserAttrs, body: Value) -> Result<UserAttrs, ScimError> {
        apply(u, &parse_request(&body)?)
    }

    #[test]
    fn okta_deactivate_and_profile_update() {
        // Okta: replace without a path, booleans as JSON booleans.
        let u = patch(
            &user(),
            json!({"schemas": [PATCH_SCHEMA],
                   "Operations": [{"op": "replace", "value": {"active": false}}]}),
        )
        .expect("applies");
        assert!(!u.active);
        let u = patch(
            &u,
            json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {
                "id": "USffffffffffffffffffffffffffffffff",
                "userName": "barbara@example.com",
                "name": {"givenName": "Barb"},
                "password": "never stored",
                "active": true}}]}),
        )
        .expect("applies");
        assert!(u.active);
        assert_eq!(u.user_name, "barbara@example.com");
        assert_eq!(u.name.given_name.as_deref(), Some("Barb"));
        assert_eq!(u.name.family_name.as_deref(), Some("Jensen"));
    }

    #[test]
    fn entra_bodies() {
        // Microsoft Entra ID: capitalized op names, value paths, string booleans.
        let u = patch(
            &user(),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [
                     {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                     {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}]}),
        )
        .expect("applies");
        assert_eq!(u.emails[0].value, "updatedEmail@microsoft.com");
        assert_eq!(u.name.family_name.as_deref(), Some("updatedFamilyName"));

        let u = patch(
            &u,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .expect("applies");
        assert!(!u.active);

        let u = patch(
            &u,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [
                     {"op": "Add", "path": "displayName", "value": "New Name"},
                     {"op": "Add", "path": "nickName", "value": "Babs"},
                     {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "IT"},
                     {"op": "Add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:locale", "value": "en-US"},
                     {"op": "Remove", "path": "externalId"}]}),
        )
        .expect("applies");
        assert_eq!(u.display_name.as_deref(), Some("New Name"));
        assert_eq!(u.locale.as_deref(), Some("en-US"));
        assert_eq!(u.external_id, None);
    }

    #[test]
    fn entra_adds_a_work_email_that_is_not_there() {
        let mut start = UserAttrs::new("x@example.com");
        start.emails.clear();
        let u = patch(
            &start,
            json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "x@example.com"},
                {"op": "add", "path": "emails[type eq \"work\"].primary", "value": "True"}]}),
        )
        .expect("applies");
        assert_eq!(
            u.emails,
            vec![Email {
                value: "x@example.com".into(),
                kind: Some("work".into()),
                primary: true
            }]
        );
    }

    #[test]
    fn multi_valued_add_and_remove() {
        let u = patch(
            &user(),
            json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "add", "path": "emails", "value": [{"value": "b3@x.org", "type": "other"}]},
                {"op": "ADD", "path": "emails", "value": [{"value": "BABS@jensen.org", "type": "home", "display": "ignored"}]},
                {"op": "remove", "path": "emails[value co \"jensen.org\"]"}]}),
        )
        .expect("applies");
        let values: Vec<_> = u.emails.iter().map(|e| e.value.as_str()).collect();
        assert_eq!(values, ["bjensen@example.com", "b3@x.org"]);

        let u = patch(
            &user(),
            json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "remove", "path": "emails", "value": [{"value": "BJENSEN@example.com"}]},
                {"op": "remove", "path": "emails[type eq \"home\"].type"},
                {"op": "remove", "path": "name.givenName"}]}),
        )
        .expect("applies");
        assert_eq!(u.emails.len(), 1);
        assert_eq!(u.emails[0].kind, None);
        assert_eq!(u.name.given_name, None);

        let u = patch(
            &user(),
            json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "replace", "path": "emails", "value": [{"value": "only@x.org", "primary": true}]}]}),
        )
        .expect("applies");
        assert_eq!(u.emails.len(), 1);
    }

    #[test]
    fn rule_breaking_patches_fail_whole() {
        let start = user();
        let cases = [
            // Missing userName.
            (
                json!([{"op": "remove", "path": "userName"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": "userName", "value": ""}]),
                ScimType::InvalidValue,
            ),
            // Two primary emails (the first op alone would be fine).
            (
                json!([{"op": "replace", "path": "displayName", "value": "ok"},
                       {"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": "displayName", "value": "a\u{0}"}]),
                ScimType::InvalidValue,
            ),
            (json!([{"op": "remove"}]), ScimType::NoTarget),
            (
                json!([{"op": "replace", "path": "emails[value sw \"zz\"]", "value": {"value": "a@b"}}]),
                ScimType::NoTarget,
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                ScimType::Mutability,
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq]", "value": "x"}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "userName.x", "value": "x"}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq \"work\"]x", "value": "x"}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "move", "path": "userName", "value": "x"}]),
                ScimType::InvalidSyntax,
            ),
            (
                json!([{"op": "add", "path": "userName"}]),
                ScimType::InvalidValue,
            ),
            (json!([]), ScimType::InvalidSyntax),
        ];
        for (ops, t) in cases {
            let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
            let e = patch(&start, body.clone())
                .err()
                .unwrap_or_else(|| unreachable!("{body} applied"));
            assert_eq!((e.status, e.scim_type), (400, Some(t)), "{body}");
        }
        let e = patch(
            &start,
            json!({"Operations": [{"op": "remove", "path": "locale"}]}),
        )
        .err()
        .unwrap_or_else(|| unreachable!("no schemas accepted"));
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    }
}
