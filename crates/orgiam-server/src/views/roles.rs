//! The role as the API shows it.

use serde::Serialize;
use utoipa::ToSchema;

use orgiam_domain::model::{CatalogPermission, Role};
use orgiam_domain::policy::Pattern;

#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct GroupView<'a> {
    product_group: &'a str,
    friendly_name: &'a str,
}

/// Permission patterns: `/namespace/product/resource/action`, where `*` matches one segment
/// and a trailing `*` the rest; a deny wins over any allow.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PolicyView<'a> {
    #[schema(value_type = Vec<String>)]
    allow: &'a [Pattern],
    #[schema(value_type = Option<Vec<String>>, required = true)]
    deny: &'a Option<Vec<Pattern>>,
    #[schema(example = 1)]
    format: u8,
}

/// A catalog permission a role grants.
#[derive(Serialize, ToSchema)]
#[schema(as = RolePermission)]
pub(crate) struct PermissionView<'a> {
    sid: &'a str,
    permission: &'a str,
    namespace: &'a str,
    product: &'a str,
    resource: &'a str,
    action: &'a str,
    external_description: &'a str,
}

impl<'a> PermissionView<'a> {
    fn new(p: &'a CatalogPermission) -> Self {
        let [namespace, product, resource, action] = p.permission.parts();
        Self {
            sid: p.sid.as_str(),
            permission: p.permission.as_str(),
            namespace,
            product,
            resource,
            action,
            external_description: &p.description,
        }
    }
}

// The schema of the JSON `Role::to_json` renders (stored with each role): this struct is not
// serialized, and `the_rendered_role_matches_its_schema` holds the two to the same fields.
/// A role, built-in (the same SIDs on every install) or one of the organization's own.
#[derive(ToSchema)]
#[schema(as = Role)]
#[allow(dead_code)]
pub(crate) struct RoleView<'a> {
    #[schema(pattern = "^IX[0-9a-f]{32}$")]
    sid: &'a str,
    friendly_name: &'a str,
    external_description: &'a str,
    product_group: &'a str,
    /// `ORGANIZATION`, `ACCOUNT` or `SUB_ACCOUNT`: the lowest scope it can be assigned at.
    lowest_level: &'a str,
    role_product_group: GroupView<'a>,
    policy: PolicyView<'a>,
    #[schema(value_type = Option<Vec<String>>, required = true)]
    resource_types: &'a Option<Vec<String>>,
    #[schema(format = DateTime)]
    date_created: String,
    #[schema(format = DateTime)]
    date_updated: String,
    /// With `Expand=true` only.
    #[schema(required = false)]
    permissions: Option<Vec<PermissionView<'a>>>,
}

/// The role as the API shows it (without its permissions).
pub fn role_json(role: &Role) -> serde_json::Value {
    serde_json::from_str(&role.to_json()).unwrap_or(serde_json::Value::Null)
}

/// The catalog permissions a role grants, and their JSON array as `Expand=true` shows them
/// (rendered once per expansion: a page of 1,000 expanded roles copies these bytes).
pub struct Expansion {
    pub permissions: Vec<CatalogPermission>,
    pub json: Vec<u8>,
}

impl Expansion {
    pub fn new(permissions: Vec<CatalogPermission>) -> Self {
        let views: Vec<PermissionView<'_>> = permissions.iter().map(PermissionView::new).collect();
        // Strings only: serializing cannot fail.
        let json = serde_json::to_vec(&views).unwrap_or_else(|_| b"[]".to_vec());
        Self { permissions, json }
    }
}

/// A role's JSON (as [`Role::to_json`] renders it) with its `permissions`, as the pieces to
/// write one after another: the object without its closing brace, the member, the brace.
pub(crate) fn with_permissions<'a>(json: &'a [u8], expanded: &'a Expansion) -> [&'a [u8]; 4] {
    match json.split_last() {
        Some((b'}', open)) if open.len() > 1 => [open, b",\"permissions\":", &expanded.json, b"}"],
        _ => [json, b"", b"", b""],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use orgiam_domain::model::Level;
    use orgiam_domain::policy::{Pattern, Policy};
    use orgiam_domain::sid::{OrgSid, RoleSid};
    use utoipa::PartialSchema;

    fn role(deny: Option<Vec<&str>>, types: Option<Vec<&str>>) -> Role {
        Role {
            sid: RoleSid::parse("IX0123456789abcdef0123456789abcdef").unwrap(),
            org: Some(OrgSid::parse("OR0123456789abcdef0123456789abcdef").unwrap()),
            friendly_name: "Émile \"the\" <Reader>".into(),
            external_description: "line one\u{2028}two".into(),
            product_group: "studio".into(),
            product_group_name: "Studio".into(),
            lowest_level: Level::SubAccount,
            policy: Policy {
                allow: vec![Pattern::parse("/twilio/studio/*").unwrap()],
                deny: deny.map(|d| d.into_iter().map(|p| Pattern::parse(p).unwrap()).collect()),
            },
            resource_types: types.map(|t| t.into_iter().map(String::from).collect()),
            date_created: 1_700_000_000,
            date_updated: 1_700_000_060,
        }
    }

    /// The rendered JSON has exactly the schema's properties, in the schema's order, and
    /// the schema's required ones; with permissions it is still one object.
    #[test]
    fn the_rendered_role_matches_its_schema() {
        let schema = serde_json::to_value(RoleView::schema()).unwrap();
        let properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        for r in [
            role(None, None),
            role(
                Some(vec!["/twilio/studio/flows/delete"]),
                Some(vec!["account"]),
            ),
        ] {
            let json = r.to_json();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
            let without_permissions: Vec<&String> = properties
                .iter()
                .copied()
                .filter(|k| *k != "permissions")
                .collect();
            assert_eq!(keys, without_permissions);
            assert_eq!(v["policy"]["format"], 1);
            assert_eq!(v["date_created"], "2023-11-14T22:13:20Z");
            assert_eq!(v["friendly_name"], r.friendly_name.as_str());
            let catalog = orgiam_domain::catalog::Catalog::builtin().unwrap();
            for permissions in [vec![], catalog.expand(&r.policy)] {
                let expansion = Expansion::new(permissions.clone());
                let expanded = with_permissions(json.as_bytes(), &expansion).concat();
                let e: serde_json::Value = serde_json::from_slice(&expanded).unwrap();
                let want: Vec<_> = permissions.iter().map(PermissionView::new).collect();
                assert_eq!(e["permissions"], serde_json::to_value(want).unwrap());
                let mut without = e.clone();
                without.as_object_mut().unwrap().remove("permissions");
                assert_eq!(without, v);
            }
        }
    }
}
