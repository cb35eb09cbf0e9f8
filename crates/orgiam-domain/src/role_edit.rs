//! Custom roles written one at a time (the management API and `orgiam roles create|update`):
//! the request's fields checked and named, the role built or changed through the same rules
//! as an import line ([`crate::import::parse_line`]), and the role's entity tag for optimistic
//! concurrency.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::import;
use crate::model::{Level, Role};
use crate::policy::Pattern;
use crate::sid::OrgSid;

/// The product group of a custom role created without one.
pub const DEFAULT_PRODUCT_GROUP: &str = "custom";

/// The role's entity tag: a strong validator over everything the role object shows.
pub fn etag(role: &Role) -> String {
    let body = json!([
        role.sid.as_str(),
        role.org.as_ref().map(OrgSid::as_str),
        role.friendly_name,
        role.external_description,
        role.product_group,
        role.product_group_name,
        role.lowest_level.as_str(),
        role.policy,
        role.resource_types,
        role.date_created,
        role.date_updated,
    ]);
    let digest = Sha256::digest(body.to_string().as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Checks an `If-Match` header against the role's current tag: missing is a 428, a list
/// without the current tag a 409 (`*` matches any current role).
pub fn check_if_match(if_match: Option<&str>, role: &Role) -> Result<()> {
    let Some(header) = if_match.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(Error::PreconditionRequired(format!(
            "If-Match is required to change role {}: send the ETag of the role as you last read it",
            role.sid
        )));
    };
    let current = etag(role);
    let matches = header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current);
    if matches {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "If-Match {header} does not match role {}: it changed since it was read (current ETag {current})",
            role.sid
        )))
    }
}

/// The fields a request may send, and the JSON types each takes.
const FIELDS: &[(&str, &[&str])] = &[
    ("friendly_name", &["string"]),
    ("external_description", &["string"]),
    ("product_group", &["string"]),
    ("lowest_level", &["string"]),
    ("role_product_group", &["object", "null"]),
    ("policy", &["object"]),
    ("resource_types", &["array", "null"]),
];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn expect(field: &str, v: &Value, types: &[&str]) -> Result<()> {
    if types.contains(&type_name(v)) {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "{field} must be {} (not {})",
            types.join(" or "),
            type_name(v)
        )))
    }
}

fn strings(field: &str, v: &Value) -> Result<()> {
    if let Value::Array(items) = v {
        for (i, item) in items.iter().enumerate() {
            expect(&format!("{field}[{i}]"), item, &["string"])?;
        }
    }
    Ok(())
}

fn patterns(field: &str, v: Option<&Value>) -> Result<()> {
    let Some(Value::Array(items)) = v else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        if let Value::String(s) = item {
            Pattern::parse(s).map_err(|e| Error::bad_request(format!("{field}[{i}]: {e}")))?;
        }
    }
    Ok(())
}

/// Checks a JSON object against the fields it may hold (`fields`: each name with the JSON
/// types it takes) and those it must hold, naming the first unknown, missing or mistyped field.
/// `what` names the object in the message about unknown fields.
pub fn check_fields(
    body: &Map<String, Value>,
    fields: &[(&str, &[&str])],
    required: &[&str],
    what: &str,
) -> Result<()> {
    for key in body.keys() {
        if !fields.iter().any(|(k, _)| k == key) {
            let known: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
            return Err(Error::bad_request(format!(
                "unknown field '{key}' ({what} takes {})",
                known.join(", ")
            )));
        }
    }
    for name in required {
        if body.get(*name).is_none_or(Value::is_null) {
            return Err(Error::bad_request(format!("{name} is required")));
        }
    }
    for (name, types) in fields {
        if let Some(v) = body.get(*name) {
            expect(name, v, types)?;
        }
    }
    Ok(())
}

/// Checks a `policy` object: only `allow`, `deny` (and `format`), arrays of valid patterns,
/// each wrong one named (`policy.allow[2]`).
pub fn check_policy_shape(p: &Map<String, Value>) -> Result<()> {
    for key in p.keys() {
        if !matches!(key.as_str(), "allow" | "deny" | "format") {
            return Err(Error::bad_request(format!(
                "unknown field 'policy.{key}' (a policy takes allow, deny)"
            )));
        }
    }
    expect(
        "policy.allow",
        p.get("allow").unwrap_or(&Value::Null),
        &["array"],
    )?;
    if let Some(d) = p.get("deny") {
        expect("policy.deny", d, &["array", "null"])?;
    }
    if let Some(f) = p.get("format") {
        expect("policy.format", f, &["number", "null"])?;
    }
    for field in ["allow", "deny"] {
        let name = format!("policy.{field}");
        if let Some(v) = p.get(field) {
            strings(&name, v)?;
        }
        patterns(&name, p.get(field))?;
    }
    Ok(())
}

/// Checks the shape of a create or update body, naming the first wrong field: unknown
/// fields, wrong JSON types, malformed permission patterns.
fn check_shape(body: &Map<String, Value>, required: &[&str]) -> Result<()> {
    check_fields(body, FIELDS, required, "a role")?;
    if let Some(Value::String(level)) = body.get("lowest_level")
        && Level::parse(level).is_none()
    {
        return Err(Error::bad_request(format!(
            "lowest_level must be ORGANIZATION, ACCOUNT or SUB_ACCOUNT, not '{level}'"
        )));
    }
    if let Some(Value::Object(g)) = body.get("role_product_group") {
        for key in g.keys() {
            if key != "product_group" && key != "friendly_name" {
                return Err(Error::bad_request(format!(
                    "unknown field 'role_product_group.{key}' (it takes product_group, friendly_name)"
                )));
            }
        }
        for key in ["product_group", "friendly_name"] {
            let field = format!("role_product_group.{key}");
            expect(&field, g.get(key).unwrap_or(&Value::Null), &["string"])?;
        }
    }
    if let Some(Value::Object(p)) = body.get("policy") {
        check_policy_shape(p)?;
    }
    if let Some(v) = body.get("resource_types") {
        strings("resource_types", v)?;
    }
    Ok(())
}

/// The import line of a role as stored (what an update starts from).
fn as_line(role: &Role) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("friendly_name".into(), json!(role.friendly_name));
    m.insert(
        "external_description".into(),
        json!(role.external_description),
    );
    m.insert("product_group".into(), json!(role.product_group));
    m.insert("lowest_level".into(), json!(role.lowest_level.as_str()));
    m.insert(
        "role_product_group".into(),
        json!({"product_group": role.product_group, "friendly_name": role.product_group_name}),
    );
    m.insert(
        "policy".into(),
        json!({"allow": role.policy.allow, "deny": role.policy.deny}),
    );
    m.insert("resource_types".into(), json!(role.resource_types));
    m
}

/// Overlays `body` on `line`, keeping `product_group` and `role_product_group` in step: a
/// group given in one place only is the group of both.
fn overlay(mut line: Map<String, Value>, body: &Map<String, Value>) -> Map<String, Value> {
    let group = body.get("product_group").cloned();
    let named = body
        .get("role_product_group")
        .filter(|g| !g.is_null())
        .cloned();
    for (k, v) in body {
        line.insert(k.clone(), v.clone());
    }
    match (group, named) {
        (None, Some(g)) => {
            if let Some(slug) = g.get("product_group") {
                line.insert("product_group".into(), slug.clone());
            }
        }
        (Some(_), None) => {
            line.remove("role_product_group");
        }
        _ => {}
    }
    if line.get("role_product_group").is_some_and(Value::is_null) {
        line.remove("role_product_group");
    }
    if line.get("external_description").is_some_and(Value::is_null) {
        line.remove("external_description");
    }
    line
}

fn build(
    line: Map<String, Value>,
    org: &OrgSid,
    groups: &BTreeMap<String, String>,
    now: i64,
) -> Result<Role> {
    import::parse_line(&Value::Object(line).to_string(), org, groups, now)
        .map_err(Error::bad_request)
}

/// A new custom role of `org` from a create body (the Role object's fields, without `sid`
/// and the dates; `product_group` may come from `role_product_group` alone, and defaults to
/// [`DEFAULT_PRODUCT_GROUP`]).
pub fn create(
    body: &Value,
    org: &OrgSid,
    groups: &BTreeMap<String, String>,
    now: i64,
) -> Result<Role> {
    let Value::Object(body) = body else {
        return Err(Error::bad_request("The body must be a JSON object"));
    };
    check_shape(body, &["friendly_name", "lowest_level", "policy"])?;
    let mut line = Map::new();
    line.insert("product_group".into(), json!(DEFAULT_PRODUCT_GROUP));
    build(overlay(line, body), org, groups, now)
}

/// `current` with the fields of an update body changed (absent fields keep their value).
pub fn update(body: &Value, current: &Role, groups: &BTreeMap<String, String>) -> Result<Role> {
    let Value::Object(body) = body else {
        return Err(Error::bad_request("The body must be a JSON object"));
    };
    check_shape(body, &[])?;
    let org = current.org.clone().ok_or_else(|| built_in(current))?;
    let mut role = build(
        overlay(as_line(current), body),
        &org,
        groups,
        current.date_created,
    )?;
    role.sid = current.sid.clone();
    role.date_updated = current.date_updated;
    Ok(role)
}

/// The refusal to change a built-in role.
pub fn built_in(role: &Role) -> Error {
    Error::bad_request(format!(
        "Role {} ('{}') is a built-in role and cannot be changed or deleted",
        role.sid, role.friendly_name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> BTreeMap<String, String> {
        BTreeMap::from([("billing".to_owned(), "Billing".to_owned())])
    }

    fn role() -> Role {
        create(
            &json!({"friendly_name": "Invoices", "lowest_level": "ACCOUNT",
                    "policy": {"allow": ["/twilio/billing/*"]}}),
            &OrgSid::random(),
            &groups(),
            100,
        )
        .expect("valid")
    }

    #[test]
    fn creates_with_a_default_group() {
        let r = role();
        assert_eq!(r.product_group, DEFAULT_PRODUCT_GROUP);
        assert_eq!(r.product_group_name, "Custom");
        let r = create(
            &json!({"friendly_name": "B", "lowest_level": "ACCOUNT",
                    "role_product_group": {"product_group": "billing", "friendly_name": "Money"},
                    "policy": {"allow": ["/twilio/billing/*"], "deny": null}}),
            &OrgSid::random(),
            &groups(),
            0,
        )
        .expect("valid");
        assert_eq!(
            (r.product_group.as_str(), r.product_group_name.as_str()),
            ("billing", "Money")
        );
    }

    #[test]
    fn names_the_wrong_field() {
        let org = OrgSid::random();
        let bad = |body: Value, field: &str| {
            let e = create(&body, &org, &groups(), 0)
                .expect_err("refused")
                .to_string();
            assert!(e.contains(field), "{e} should name {field}");
        };
        let ok = json!({"friendly_name": "A", "lowest_level": "ACCOUNT", "policy": {"allow": ["/a/b/c/d"]}});
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        bad(with("polcy", json!({})), "polcy");
        bad(
            with("policy", json!({"allow": ["/a/b/c/d"], "alow": []})),
            "policy.alow",
        );
        bad(
            with("policy", json!({"allow": ["/a/b/c/d", "/A/*"]})),
            "policy.allow[1]",
        );
        bad(
            with("policy", json!({"allow": ["/a/b/c/d"], "deny": [3]})),
            "policy.deny[0]",
        );
        bad(with("policy", json!({"allow": []})), "policy.allow");
        bad(with("lowest_level", json!("GALAXY")), "lowest_level");
        bad(with("resource_types", json!([])), "resource_types");
        bad(with("friendly_name", json!(" ")), "friendly_name");
        let many: Vec<String> = (0..=import::MAX_ALLOW_PATTERNS)
            .map(|i| format!("/a/b/c/d{i}"))
            .collect();
        bad(with("policy", json!({"allow": many})), "policy.allow");
        bad(
            json!({"lowest_level": "ACCOUNT", "policy": {"allow": ["/a/b/c/d"]}}),
            "friendly_name",
        );
    }

    #[test]
    fn updates_only_what_is_sent() {
        let r = role();
        let u = update(&json!({"external_description": "new"}), &r, &groups()).expect("valid");
        assert_eq!(u.external_description, "new");
        assert_eq!(
            (u.friendly_name.as_str(), &u.policy, u.sid.as_str()),
            (r.friendly_name.as_str(), &r.policy, r.sid.as_str())
        );
        let same = update(&json!({}), &r, &groups()).expect("valid");
        assert_eq!(same, r);
        let moved = update(&json!({"product_group": "billing"}), &r, &groups()).expect("valid");
        assert_eq!(moved.product_group_name, "Billing");
    }

    #[test]
    fn if_match_is_required_and_must_be_current() {
        let r = role();
        let tag = etag(&r);
        assert!(matches!(
            check_if_match(None, &r),
            Err(Error::PreconditionRequired(_))
        ));
        assert!(check_if_match(Some(&tag), &r).is_ok());
        assert!(check_if_match(Some("*"), &r).is_ok());
        assert!(matches!(
            check_if_match(Some("\"stale\""), &r),
            Err(Error::Conflict(_))
        ));
        let mut changed = r.clone();
        changed.date_updated += 1;
        assert_ne!(etag(&changed), tag);
    }
}
