//! The SCIM User (RFC 7643 §4.1) as orgiam keeps it: the attributes a client sets
//! ([`UserAttrs`]), the server's own (`id`, `meta`), lenient parsing of a client's body,
//! validation, and the wire rendering (keys in a fixed order).

use serde_json::{Map, Value, json};

use super::attr::{Attr, USER_SCHEMA, fold};
use super::error::ScimError;
use crate::time_fmt;

/// Most emails one user may have.
pub const MAX_EMAILS: usize = 32;
/// Longest values, in characters.
pub const MAX_USER_NAME: usize = 255;
pub const MAX_EXTERNAL_ID: usize = 255;
pub const MAX_DISPLAY_NAME: usize = 255;
pub const MAX_NAME_PART: usize = 255;
pub const MAX_FORMATTED: usize = 512;
pub const MAX_EMAIL: usize = 254;
pub const MAX_SHORT: usize = 64;

/// `name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub formatted: Option<String>,
}

impl Name {
    pub fn is_empty(&self) -> bool {
        self.given_name.is_none() && self.family_name.is_none() && self.formatted.is_none()
    }
}

/// One of `emails`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Email {
    pub value: String,
    /// `type` (`work`, `home`, ...).
    pub kind: Option<String>,
    pub primary: bool,
}

/// What a client sets. Absent optional strings are `None` (an empty string is absent too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAttrs {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub name: Name,
    pub emails: Vec<Email>,
    pub active: bool,
    pub locale: Option<String>,
    pub timezone: Option<String>,
}

impl UserAttrs {
    /// A user with only a `userName`, active.
    pub fn new(user_name: impl Into<String>) -> Self {
        Self {
            user_name: user_name.into(),
            external_id: None,
            display_name: None,
            name: Name::default(),
            emails: Vec::new(),
            active: true,
            locale: None,
            timezone: None,
        }
    }

    /// The uniqueness key of `userName` within an organization (stored in `user_name_key`).
    pub fn user_name_key(&self) -> String {
        fold(&self.user_name)
    }
}

/// A stored user: its attributes and the server's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimUser {
    /// The `US` SID.
    pub id: String,
    pub attrs: UserAttrs,
    /// Unix seconds.
    pub created: i64,
    pub last_modified: i64,
    /// Grows by one on every change; the ETag is derived from it.
    pub version: i64,
}

impl ScimUser {
    /// The value of a single-valued string attribute.
    pub fn text(&self, a: Attr) -> Option<&str> {
        let u = &self.attrs;
        match a {
            Attr::Id => Some(&self.id),
            Attr::ExternalId => u.external_id.as_deref(),
            Attr::UserName => Some(&u.user_name),
            Attr::DisplayName => u.display_name.as_deref(),
            Attr::GivenName => u.name.given_name.as_deref(),
            Attr::FamilyName => u.name.family_name.as_deref(),
            Attr::Formatted => u.name.formatted.as_deref(),
            Attr::Locale => u.locale.as_deref(),
            Attr::Timezone => u.timezone.as_deref(),
            _ => None,
        }
    }

    /// `meta.version` and the `ETag` header: a weak entity tag.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// The wire representation; `location` is the user's absolute URL.
    pub fn to_json(&self, location: &str) -> Value {
        let mut v = attrs_to_json(&self.attrs);
        let Value::Object(attrs) = &mut v else {
            return v;
        };
        let mut out = Map::new();
        out.insert("schemas".into(), json!([USER_SCHEMA]));
        out.insert("id".into(), Value::String(self.id.clone()));
        for (k, val) in std::mem::take(attrs) {
            out.insert(k, val);
        }
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": time_fmt::format(self.created),
                "lastModified": time_fmt::format(self.last_modified),
                "location": location,
                "version": self.etag(),
            }),
        );
        Value::Object(out)
    }
}

/// The weak entity tag of a version: `W/"7"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match`/`If-None-Match` header value names `version`: `*`, or a
/// comma-separated list of entity tags compared weakly (`W/"7"` and `"7"` both match 7).
pub fn etag_matches(header: &str, version: i64) -> bool {
    let want = version.to_string();
    header.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .is_some_and(|t| t == want)
    })
}

/// The client-settable attributes as JSON, canonical keys in wire order, absent ones left out.
pub fn attrs_to_json(u: &UserAttrs) -> Value {
    let mut m = Map::new();
    if let Some(x) = &u.external_id {
        m.insert("externalId".into(), json!(x));
    }
    m.insert("userName".into(), json!(u.user_name));
    if let Some(x) = &u.display_name {
        m.insert("displayName".into(), json!(x));
    }
    if !u.name.is_empty() {
        let mut n = Map::new();
        if let Some(x) = &u.name.formatted {
            n.insert("formatted".into(), json!(x));
        }
        if let Some(x) = &u.name.family_name {
            n.insert("familyName".into(), json!(x));
        }
        if let Some(x) = &u.name.given_name {
            n.insert("givenName".into(), json!(x));
        }
        m.insert("name".into(), Value::Object(n));
    }
    if !u.emails.is_empty() {
        let emails = u
            .emails
            .iter()
            .map(|e| {
                let mut o = Map::new();
                o.insert("value".into(), json!(e.value));
                if let Some(t) = &e.kind {
                    o.insert("type".into(), json!(t));
                }
                o.insert("primary".into(), json!(e.primary));
                Value::Object(o)
            })
            .collect();
        m.insert("emails".into(), Value::Array(emails));
    }
    m.insert("active".into(), json!(u.active));
    if let Some(x) = &u.locale {
        m.insert("locale".into(), json!(x));
    }
    if let Some(x) = &u.timezone {
        m.insert("timezone".into(), json!(x));
    }
    Value::Object(m)
}

/// Parses a client's User body (POST, PUT, `.search` is elsewhere): it must be an object whose
/// `schemas` names the core User schema. Unknown attributes, extension schemas and the
/// read-only `id` and `meta` are ignored; attribute names are case-insensitive; booleans may be
/// sent as the strings `"True"`/`"False"` (any case). The result is validated.
pub fn parse_user(body: &Value) -> Result<UserAttrs, ScimError> {
    parse_attrs(body, true)
}

/// As [`parse_user`]; `schemas` is checked only when `require_schemas`.
pub fn parse_attrs(body: &Value, require_schemas: bool) -> Result<UserAttrs, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    };
    let mut schemas_ok = false;
    let mut user_name = None;
    let mut u = UserAttrs::new("");
    for (key, v) in obj {
        match key.to_ascii_lowercase().as_str() {
            "schemas" => schemas_ok = check_schemas(v)?,
            "username" => user_name = opt_string("userName", v)?,
            "externalid" => u.external_id = opt_string("externalId", v)?,
            "displayname" => u.display_name = opt_string("displayName", v)?,
            "name" => u.name = parse_name(v)?,
            "emails" => u.emails = parse_emails(v)?,
            "active" => u.active = opt_bool("active", v)?.unwrap_or(true),
            "locale" => u.locale = opt_string("locale", v)?,
            "timezone" => u.timezone = opt_string("timezone", v)?,
            // id, meta, extension schemas and anything else: ignored.
            _ => {}
        }
    }
    if require_schemas && !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must be an array that includes \"{USER_SCHEMA}\""
        )));
    }
    let Some(user_name) = user_name else {
        return Err(ScimError::invalid_value("userName is required"));
    };
    u.user_name = user_name;
    validate(&u)?;
    Ok(u)
}

fn check_schemas(v: &Value) -> Result<bool, ScimError> {
    match v {
        Value::Array(items) => Ok(items.iter().any(|s| {
            s.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(USER_SCHEMA))
        })),
        Value::Null => Ok(false),
        _ => Err(ScimError::invalid_syntax(
            "schemas must be an array of strings",
        )),
    }
}

/// A string attribute: a string, or null/absent; `""` is absent.
fn opt_string(field: &str, v: &Value) -> Result<Option<String>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::invalid_value(format!(
            "{field} must be a string"
        ))),
    }
}

/// A boolean attribute: `true`/`false`, or the strings `"true"`/`"false"` in any case.
pub fn opt_bool(field: &str, v: &Value) -> Result<Option<bool>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        _ => Err(ScimError::invalid_value(format!(
            "{field} must be a boolean (true or false)"
        ))),
    }
}

fn parse_name(v: &Value) -> Result<Name, ScimError> {
    let obj = match v {
        Value::Null => return Ok(Name::default()),
        Value::Object(o) => o,
        _ => return Err(ScimError::invalid_value("name must be an object")),
    };
    let mut n = Name::default();
    for (key, v) in obj {
        match key.to_ascii_lowercase().as_str() {
            "givenname" => n.given_name = opt_string("name.givenName", v)?,
            "familyname" => n.family_name = opt_string("name.familyName", v)?,
            "formatted" => n.formatted = opt_string("name.formatted", v)?,
            _ => {}
        }
    }
    Ok(n)
}

fn parse_emails(v: &Value) -> Result<Vec<Email>, ScimError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => return Err(ScimError::invalid_value("emails must be an array")),
    };
    if items.len() > MAX_EMAILS {
        return Err(ScimError::invalid_value(format!(
            "emails may hold at most {MAX_EMAILS} addresses"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_email(i, item))
        .collect()
}

/// One element of `emails`; `i` names it in errors.
pub fn parse_email(i: usize, item: &Value) -> Result<Email, ScimError> {
    let Value::Object(obj) = item else {
        return Err(ScimError::invalid_value(format!(
            "emails[{i}] must be an object"
        )));
    };
    let mut value = None;
    let mut e = Email::default();
    for (key, v) in obj {
        match key.to_ascii_lowercase().as_str() {
            "value" => value = opt_string(&format!("emails[{i}].value"), v)?,
            "type" => e.kind = opt_string(&format!("emails[{i}].type"), v)?,
            "primary" => e.primary = opt_bool(&format!("emails[{i}].primary"), v)?.unwrap_or(false),
            _ => {}
        }
    }
    let Some(value) = value else {
        return Err(ScimError::invalid_value(format!(
            "emails[{i}].value is required"
        )));
    };
    e.value = value;
    Ok(e)
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ScimError> {
    crate::text::check(field, value)?;
    if value.chars().count() > max {
        return Err(ScimError::invalid_value(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(())
}

fn check_opt(field: &str, value: &Option<String>, max: usize) -> Result<(), ScimError> {
    match value {
        Some(v) => check_text(field, v, max),
        None => Ok(()),
    }
}

/// The rules every stored user keeps: a non-blank `userName`, the text rule and length limits
/// on every string, at most [`MAX_EMAILS`] emails of which at most one is primary.
pub fn validate(u: &UserAttrs) -> Result<(), ScimError> {
    if u.user_name.trim().is_empty() {
        return Err(ScimError::invalid_value("userName is required"));
    }
    check_text("userName", &u.user_name, MAX_USER_NAME)?;
    check_opt("externalId", &u.external_id, MAX_EXTERNAL_ID)?;
    check_opt("displayName", &u.display_name, MAX_DISPLAY_NAME)?;
    check_opt("name.givenName", &u.name.given_name, MAX_NAME_PART)?;
    check_opt("name.familyName", &u.name.family_name, MAX_NAME_PART)?;
    check_opt("name.formatted", &u.name.formatted, MAX_FORMATTED)?;
    check_opt("locale", &u.locale, MAX_SHORT)?;
    check_opt("timezone", &u.timezone, MAX_SHORT)?;
    if u.emails.len() > MAX_EMAILS {
        return Err(ScimError::invalid_value(format!(
            "emails may hold at most {MAX_EMAILS} addresses"
        )));
    }
    for (i, e) in u.emails.iter().enumerate() {
        if e.value.is_empty() {
            return Err(ScimError::invalid_value(format!(
                "emails[{i}].value is required"
            )));
        }
        check_text(&format!("emails[{i}].value"), &e.value, MAX_EMAIL)?;
        check_opt(&format!("emails[{i}].type"), &e.kind, MAX_SHORT)?;
    }
    if u.emails.iter().filter(|e| e.primary).count() > 1 {
        return Err(ScimError::invalid_value(
            "emails: at most one address may be primary",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;

    #[test]
    fn entra_create_body() {
        // The shape Microsoft Entra ID's provisioning service sends on create.
        let body: Value = serde_json::from_str(
            r#"{
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}
        }"#,
        )
        .expect("json");
        let u = parse_user(&body).expect("parses");
        assert_eq!(
            u.user_name,
            "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
        );
        assert_eq!(u.emails.len(), 1);
        assert!(u.emails[0].primary);
        assert_eq!(u.name.formatted.as_deref(), Some("givenName familyName"));
    }

    #[test]
    fn okta_create_body_and_string_booleans() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "isaac.brock@example.com",
            "name": {"givenName": "Isaac", "familyName": "Brock"},
            "emails": [{"primary": "True", "value": "isaac.brock@example.com", "type": "work"}],
            "displayName": "Isaac Brock",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": "False",
            "ID": "USffffffffffffffffffffffffffffffff"
        });
        let u = parse_user(&body).expect("parses");
        assert!(!u.active);
        assert!(u.emails[0].primary);
        assert_eq!(u.locale.as_deref(), Some("en-US"));
    }

    #[test]
    fn refusals() {
        let cases = [
            (json!([1]), ScimType::InvalidSyntax),
            (json!({"userName": "a"}), ScimType::InvalidSyntax),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "a"}),
                ScimType::InvalidSyntax,
            ),
            (json!({"schemas": [USER_SCHEMA]}), ScimType::InvalidValue),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "  "}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": 5}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a\u{0}b"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "displayName": "x\u{1b}"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a".repeat(256)}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "active": "yes"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": {"value": "x"}}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": [{"type": "work"}]}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": [
                    {"value": "a@x", "primary": true}, {"value": "b@x", "primary": "true"}]}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "name": "x"}),
                ScimType::InvalidValue,
            ),
        ];
        for (body, t) in cases {
            let e = parse_user(&body)
                .err()
                .unwrap_or_else(|| unreachable!("{body} parsed"));
            assert_eq!((e.status, e.scim_type), (400, Some(t)), "{body}");
        }
    }

    #[test]
    fn renders_in_wire_order() {
        let mut attrs = UserAttrs::new("bjensen@example.com");
        attrs.external_id = Some("x1".into());
        attrs.name.given_name = Some("Barbara".into());
        attrs.emails.push(Email {
            value: "bjensen@example.com".into(),
            kind: Some("work".into()),
            primary: true,
        });
        let u = ScimUser {
            id: "US00000000000000000000000000000001".into(),
            attrs,
            created: 1_700_000_000,
            last_modified: 1_700_000_100,
            version: 3,
        };
        let s = serde_json::to_string(&u.to_json("https://h/x")).expect("json");
        assert_eq!(
            s,
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"US00000000000000000000000000000001","externalId":"x1","userName":"bjensen@example.com","name":{"givenName":"Barbara"},"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],"active":true,"meta":{"resourceType":"User","created":"2023-11-14T22:13:20Z","lastModified":"2023-11-14T22:15:00Z","location":"https://h/x","version":"W/\"3\""}}"#
        );
        // The rendering parses back to the same attributes.
        assert_eq!(parse_user(&u.to_json("l")).expect("parses"), u.attrs);
    }

    #[test]
    fn etags() {
        assert_eq!(etag(7), "W/\"7\"");
        assert!(etag_matches("W/\"7\"", 7));
        assert!(etag_matches("\"7\"", 7));
        assert!(etag_matches("W/\"1\", W/\"7\"", 7));
        assert!(etag_matches("*", 7));
        assert!(!etag_matches("W/\"8\"", 7));
        assert!(!etag_matches("7", 7));
    }
}
