//! A role as the API shows it, rendered once when the role is written. The stores keep this
//! JSON beside the role's columns, so a role listing copies each role's bytes into the page
//! instead of decoding the row (its policy parsed into patterns) and encoding it again.

use serde::{Deserialize, Serialize};

use crate::keyset::ByName;
use crate::model::Role;
use crate::policy::{Pattern, Policy};
use crate::time_fmt;

/// The version of [`Role::to_json`]'s shape. A store whose rendered roles were written by
/// another version renders them again when it opens (a change to the shape bumps this).
pub const ROLE_JSON_VERSION: i64 = 1;

/// A role in a listing: its place in the order, and its JSON as [`Role::to_json`] made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRole {
    pub key: ByName,
    pub json: String,
}

#[derive(Serialize)]
struct GroupJson<'a> {
    product_group: &'a str,
    friendly_name: &'a str,
}

#[derive(Serialize)]
struct PolicyJson<'a> {
    allow: &'a [Pattern],
    deny: &'a Option<Vec<Pattern>>,
    format: u8,
}

#[derive(Serialize)]
struct RoleJson<'a> {
    sid: &'a str,
    friendly_name: &'a str,
    external_description: &'a str,
    product_group: &'a str,
    lowest_level: &'a str,
    role_product_group: GroupJson<'a>,
    policy: PolicyJson<'a>,
    resource_types: &'a Option<Vec<String>>,
    date_created: String,
    date_updated: String,
}

/// The policy in a role's JSON as [`Role::to_json`] renders it (other fields ignored).
pub fn policy_in(json: &[u8]) -> Option<Policy> {
    #[derive(Deserialize)]
    struct Stored {
        policy: StoredPolicy,
    }
    #[derive(Deserialize)]
    struct StoredPolicy {
        allow: Vec<Pattern>,
        deny: Option<Vec<Pattern>>,
    }
    let stored: Stored = serde_json::from_slice(json).ok()?;
    Some(Policy {
        allow: stored.policy.allow,
        deny: stored.policy.deny,
    })
}

impl Role {
    /// The role as the API shows it, without its expanded permissions (a JSON object).
    pub fn to_json(&self) -> String {
        let json = RoleJson {
            sid: self.sid.as_str(),
            friendly_name: &self.friendly_name,
            external_description: &self.external_description,
            product_group: &self.product_group,
            lowest_level: self.lowest_level.as_str(),
            role_product_group: GroupJson {
                product_group: &self.product_group,
                friendly_name: &self.product_group_name,
            },
            policy: PolicyJson {
                allow: &self.policy.allow,
                deny: &self.policy.deny,
                format: 1,
            },
            resource_types: &self.resource_types,
            date_created: time_fmt::format(self.date_created),
            date_updated: time_fmt::format(self.date_updated),
        };
        // Strings, numbers and patterns: serializing cannot fail.
        serde_json::to_string(&json).unwrap_or_else(|_| String::from("{}"))
    }

    /// The role in a listing.
    pub fn listed(&self) -> ListedRole {
        ListedRole {
            key: ByName::of(self),
            json: self.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    /// The policy read back from a role's JSON is the role's, denies or none.
    #[test]
    fn the_policy_reads_back_from_the_json() {
        let catalog = Catalog::builtin().expect("the shipped catalog parses");
        assert!(catalog.roles.iter().any(|r| r.policy.deny.is_some()));
        assert!(catalog.roles.iter().any(|r| r.policy.deny.is_none()));
        for role in &catalog.roles {
            let json = role.to_json();
            assert_eq!(
                policy_in(json.as_bytes()),
                Some(role.policy.clone()),
                "{json}"
            );
        }
        for bad in ["", "{}", r#"{"policy":{"allow":["no slash"]}}"#, "[1]"] {
            assert_eq!(policy_in(bad.as_bytes()), None, "{bad}");
        }
    }
}
