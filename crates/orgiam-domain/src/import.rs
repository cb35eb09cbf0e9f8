//! Custom roles from JSON lines: one role per line, the Role object's fields minus `sid` and
//! the dates. Each line is checked on its own; the caller reports the line number.

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::model::{Level, Role};
use crate::policy::{Pattern, Policy};
use crate::sid::{OrgSid, RoleSid};

const MAX_NAME: usize = 255;
const MAX_DESCRIPTION: usize = 2048;

/// The most patterns a custom role's `policy.allow` may hold.
pub const MAX_ALLOW_PATTERNS: usize = 256;
/// The most patterns a custom role's `policy.deny` may hold.
pub const MAX_DENY_PATTERNS: usize = 256;
/// The most slugs a custom role's `resource_types` may hold.
pub const MAX_RESOURCE_TYPES: usize = 16;

/// Checks a custom role's policy and resource types, wherever a role is created or changed
/// (the import, and any API that writes roles): `allow` names 1 to [`MAX_ALLOW_PATTERNS`]
/// patterns, `deny` at most [`MAX_DENY_PATTERNS`], and `resource_types` is null or 1 to
/// [`MAX_RESOURCE_TYPES`] slugs. The caps keep a role's expansion, its rows and every
/// permission check on it small. The message names the field that is wrong.
pub fn check_role_policy(policy: &Policy, resource_types: Option<&[String]>) -> Result<(), String> {
    if policy.allow.is_empty() {
        return Err("policy.allow must name at least one permission".into());
    }
    if policy.allow.len() > MAX_ALLOW_PATTERNS {
        return Err(format!(
            "policy.allow must name at most {MAX_ALLOW_PATTERNS} permissions (it names {})",
            policy.allow.len()
        ));
    }
    let deny = policy.deny.as_ref().map_or(0, Vec::len);
    if deny > MAX_DENY_PATTERNS {
        return Err(format!(
            "policy.deny must name at most {MAX_DENY_PATTERNS} permissions (it names {deny})"
        ));
    }
    if let Some(types) = resource_types {
        if types.is_empty() || types.iter().any(|t| !valid_slug(t)) {
            return Err("resource_types must be null or a non-empty array of slugs".into());
        }
        if types.len() > MAX_RESOURCE_TYPES {
            return Err(format!(
                "resource_types must hold at most {MAX_RESOURCE_TYPES} slugs (it holds {})",
                types.len()
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    product_group: String,
    friendly_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportPolicy {
    allow: Vec<Pattern>,
    #[serde(default)]
    deny: Option<Vec<Pattern>>,
    #[serde(default)]
    format: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRole {
    friendly_name: String,
    #[serde(default)]
    external_description: String,
    product_group: String,
    lowest_level: Level,
    #[serde(default)]
    role_product_group: Option<Group>,
    policy: ImportPolicy,
    #[serde(default)]
    resource_types: Option<Vec<String>>,
}

fn valid_slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// A group's display name when the line does not give one: the catalog's, else the slug in
/// title case (`phone-numbers` -> `Phone Numbers`).
fn group_name(slug: &str, known: &BTreeMap<String, String>) -> String {
    let name = known.get(slug).cloned().unwrap_or_else(|| {
        slug.split(['-', '_'])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    });
    // A slug of only separators has no words: its name is the slug itself.
    if name.is_empty() {
        slug.to_owned()
    } else {
        name
    }
}

/// Parses and checks one line into a custom role of `org`, created `now`.
pub fn parse_line(
    line: &str,
    org: &OrgSid,
    groups: &BTreeMap<String, String>,
    now: i64,
) -> Result<Role, String> {
    let r: ImportRole = serde_json::from_str(line).map_err(|e| e.to_string())?;
    // The text rule (crate::text) on the free strings; the other strings are slugs, levels and
    // permission patterns, whose own grammar admits no control character.
    let text = || -> crate::Result<()> {
        crate::text::check("friendly_name", &r.friendly_name)?;
        crate::text::check_free("external_description", &r.external_description)?;
        if let Some(g) = &r.role_product_group {
            crate::text::check("role_product_group.friendly_name", &g.friendly_name)?;
        }
        Ok(())
    };
    text().map_err(|e| e.to_string())?;
    let name = r.friendly_name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(format!("friendly_name must be 1 to {MAX_NAME} characters"));
    }
    if r.external_description.chars().count() > MAX_DESCRIPTION {
        return Err(format!(
            "external_description must be at most {MAX_DESCRIPTION} characters"
        ));
    }
    if !valid_slug(&r.product_group) {
        return Err(
            "product_group must be a slug of a-z, 0-9, '-' and '_' (1 to 64 characters)".into(),
        );
    }
    let product_group_name = match r.role_product_group {
        Some(g) if g.product_group != r.product_group => {
            return Err("role_product_group.product_group must equal product_group".into());
        }
        Some(g) if g.friendly_name.trim().is_empty() => {
            return Err("role_product_group.friendly_name must not be blank".into());
        }
        Some(g) => g.friendly_name,
        None => group_name(&r.product_group, groups),
    };
    if r.policy.format.is_some_and(|f| f != 1) {
        return Err("policy.format must be 1".into());
    }
    let policy = Policy {
        allow: r.policy.allow,
        deny: r.policy.deny,
    };
    check_role_policy(&policy, r.resource_types.as_deref())?;
    Ok(Role {
        sid: RoleSid::random(),
        org: Some(org.clone()),
        friendly_name: name.to_owned(),
        external_description: r.external_description,
        product_group: r.product_group,
        product_group_name,
        lowest_level: r.lowest_level,
        policy,
        resource_types: r.resource_types,
        date_created: now,
        date_updated: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Role, String> {
        let groups = BTreeMap::from([("billing".to_owned(), "Billing".to_owned())]);
        parse_line(line, &OrgSid::random(), &groups, 0)
    }

    #[test]
    fn accepts_the_role_object_without_sid_and_dates() {
        let r = parse(r#"{"friendly_name":"Invoice Reader","external_description":"x","product_group":"billing","lowest_level":"ACCOUNT","role_product_group":{"product_group":"billing","friendly_name":"Billing"},"policy":{"allow":["/twilio/billing/invoices/read"],"deny":null,"format":1},"resource_types":null}"#)
            .expect("valid");
        assert_eq!(r.product_group_name, "Billing");
        assert!(r.org.is_some());
        let r = parse(r#"{"friendly_name":"Ops","product_group":"phone-numbers","lowest_level":"SUB_ACCOUNT","policy":{"allow":["/twilio/*"]}}"#).expect("valid");
        assert_eq!(r.product_group_name, "Phone Numbers");
        let r = parse(r#"{"friendly_name":"Ops","product_group":"--","lowest_level":"ACCOUNT","policy":{"allow":["/twilio/*"]}}"#).expect("valid");
        assert_eq!(r.product_group_name, "--");
    }

    #[test]
    fn control_characters_are_refused_naming_the_field() {
        for (line, needle) in [
            (
                r#"{"friendly_name":"a\u0000b","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#,
                "friendly_name must not contain NUL",
            ),
            (
                r#"{"friendly_name":"a\tb","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#,
                "friendly_name must not contain",
            ),
            (
                r#"{"friendly_name":"a","external_description":"x\u001b","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#,
                "external_description must not contain",
            ),
            (
                r#"{"friendly_name":"a","product_group":"b","role_product_group":{"product_group":"b","friendly_name":"\u0000"},"lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#,
                "role_product_group.friendly_name must not contain",
            ),
            (
                r#"{"friendly_name":"a","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d\u0000"]}}"#,
                "is not a permission pattern",
            ),
            (
                r#"{"friendly_name":"a\ud800","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#,
                "hex escape",
            ),
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.contains(needle), "{line}: {e}");
        }
        let ok = parse(r#"{"friendly_name":"a","external_description":"line one\r\n\tline two","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#)
            .expect("tab, CR and LF are free text");
        assert_eq!(ok.external_description, "line one\r\n\tline two");
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            ("not json", "expected"),
            (
                r#"{"friendly_name":"","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#,
                "friendly_name",
            ),
            (
                r#"{"friendly_name":"x","product_group":"B G","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]}}"#,
                "product_group",
            ),
            (
                r#"{"friendly_name":"x","product_group":"b","lowest_level":"NOPE","policy":{"allow":["/a/b/c/d"]}}"#,
                "NOPE",
            ),
            (
                r#"{"friendly_name":"x","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":[]}}"#,
                "policy.allow",
            ),
            (
                r#"{"friendly_name":"x","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["bad"]}}"#,
                "bad",
            ),
            (
                r#"{"friendly_name":"x","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]},"sid":"IX1"}"#,
                "sid",
            ),
            (
                r#"{"friendly_name":"x","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"],"format":2}}"#,
                "format",
            ),
            (
                r#"{"friendly_name":"x","product_group":"b","lowest_level":"ACCOUNT","policy":{"allow":["/a/b/c/d"]},"resource_types":[]}"#,
                "resource_types",
            ),
        ];
        for (line, needle) in cases {
            let e = parse(line).expect_err(line);
            assert!(e.contains(needle), "{line}: {e}");
        }
    }

    fn line_with(allow: usize, deny: usize, types: usize) -> String {
        let list = |n: usize, verb: &str| {
            (0..n)
                .map(|i| format!("\"/custom/app{i}/things/{verb}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let types = (0..types)
            .map(|i| format!("\"type{i}\""))
            .collect::<Vec<_>>()
            .join(",");
        format!(
            r#"{{"friendly_name":"Big","product_group":"b","lowest_level":"ACCOUNT","policy":{{"allow":[{}],"deny":[{}]}},"resource_types":[{types}]}}"#,
            list(allow, "read"),
            list(deny, "write")
        )
    }

    #[test]
    fn caps_allow_deny_and_resource_types() {
        let biggest = line_with(MAX_ALLOW_PATTERNS, MAX_DENY_PATTERNS, MAX_RESOURCE_TYPES);
        let r = parse(&biggest).expect("the largest allowed role");
        assert_eq!(r.policy.allow.len(), MAX_ALLOW_PATTERNS);
        for (line, needle) in [
            (
                line_with(MAX_ALLOW_PATTERNS + 1, 0, 1),
                "policy.allow must name at most 256",
            ),
            (
                line_with(1, MAX_DENY_PATTERNS + 1, 1),
                "policy.deny must name at most 256",
            ),
            (
                line_with(1, 0, MAX_RESOURCE_TYPES + 1),
                "resource_types must hold at most 16",
            ),
        ] {
            let e = parse(&line).expect_err("over a cap");
            assert!(e.contains(needle), "{e}");
        }
    }
}
