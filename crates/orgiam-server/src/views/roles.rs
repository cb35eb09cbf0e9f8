//! The role as the API shows it.

use serde::Serialize;
use utoipa::ToSchema;

use orgiam_domain::model::{CatalogPermission, Role};
use orgiam_domain::policy::Pattern;
use orgiam_domain::time_fmt;

#[derive(Serialize, ToSchema)]
pub(crate) struct GroupView<'a> {
    product_group: &'a str,
    friendly_name: &'a str,
}

/// Permission patterns: `/namespace/product/resource/action`, where `*` matches one segment
/// and a trailing `*` the rest; a deny wins over any allow.
#[derive(Serialize, ToSchema)]
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

/// A role, built-in (the same SIDs on every install) or one of the organization's own.
#[derive(Serialize, ToSchema)]
#[schema(as = Role)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<PermissionView<'a>>>,
}

/// The role as the API shows it (without its permissions).
pub fn role_json(role: &Role) -> serde_json::Value {
    serde_json::to_value(view(role, None)).unwrap_or(serde_json::Value::Null)
}

pub(crate) fn view<'a>(role: &'a Role, expanded: Option<&'a [CatalogPermission]>) -> RoleView<'a> {
    RoleView {
        sid: role.sid.as_str(),
        friendly_name: &role.friendly_name,
        external_description: &role.external_description,
        product_group: &role.product_group,
        lowest_level: role.lowest_level.as_str(),
        role_product_group: GroupView {
            product_group: &role.product_group,
            friendly_name: &role.product_group_name,
        },
        policy: PolicyView {
            allow: &role.policy.allow,
            deny: &role.policy.deny,
            format: 1,
        },
        resource_types: &role.resource_types,
        date_created: time_fmt::format(role.date_created),
        date_updated: time_fmt::format(role.date_updated),
        permissions: expanded.map(|e| e.iter().map(PermissionView::new).collect()),
    }
}
