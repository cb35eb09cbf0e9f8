//! The rules of a role assignment that need no store: at which scopes a role may be granted,
//! and which resources it may be granted on. The store lookups (the role, the scope's
//! account, the user) happen in the service that creates assignments; these functions decide.

use crate::error::{Error, Result};
use crate::model::{Account, Level, Role};
use crate::sid::{AccountSid, OrgSid, is_sid};

/// The longest `resource_type` or `resource_id`, in characters.
pub const MAX_FREE_TEXT: usize = 256;

/// What an assignment's scope names, before the store is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The organization itself.
    Organization,
    /// One of its accounts (or subaccounts): the store says which.
    Account(AccountSid),
}

/// Reads a scope: the organization's own SID, or an account SID (whether the account is this
/// organization's is for the store to say). Another organization's SID, or anything else, is
/// a 400.
pub fn parse_scope(org: &OrgSid, scope: &str) -> Result<Scope> {
    if is_sid(OrgSid::PREFIX, scope) {
        return if scope == org.as_str() {
            Ok(Scope::Organization)
        } else {
            Err(not_in_org(scope))
        };
    }
    AccountSid::parse(scope)
        .map(Scope::Account)
        .map_err(|_| Error::bad_request("scope must be an organization (OR) or account (AC) SID"))
}

/// The level of an account scope, given what the store found for it (`None`: not an account
/// of this organization, a 400).
pub fn account_level(scope: &str, account: Option<&Account>) -> Result<Level> {
    match account {
        Some(a) if a.parent.is_some() => Ok(Level::SubAccount),
        Some(_) => Ok(Level::Account),
        None => Err(not_in_org(scope)),
    }
}

fn not_in_org(scope: &str) -> Error {
    Error::bad_request(format!(
        "scope {scope} is not this organization or one of its accounts"
    ))
}

/// Whether a role whose lowest level is `lowest` may be granted at a scope of level `at`.
pub fn grantable(lowest: Level, at: Level) -> bool {
    match lowest {
        Level::Organization => at == Level::Organization,
        Level::Account => at != Level::SubAccount,
        Level::SubAccount => true,
    }
}

fn scope_name(l: Level) -> &'static str {
    match l {
        Level::Organization => "the organization",
        Level::Account => "an account",
        Level::SubAccount => "a subaccount",
    }
}

/// Checks granting `role` at a scope of level `level`, optionally on one resource: the level
/// must be one the role allows; a resource needs both its type and its id, the type one of
/// the role's resource types, each at most [`MAX_FREE_TEXT`] characters. The first broken
/// rule is the 400.
pub fn check_grant(
    role: &Role,
    level: Level,
    resource_type: Option<&str>,
    resource_id: Option<&str>,
) -> Result<()> {
    if !grantable(role.lowest_level, level) {
        return Err(Error::bad_request(format!(
            "scope: the role {} has lowest level {} and cannot be assigned at {}",
            role.sid,
            role.lowest_level.as_str(),
            scope_name(level)
        )));
    }
    match (resource_type, resource_id) {
        (Some(t), Some(_)) => {
            let allowed = role
                .resource_types
                .as_ref()
                .is_some_and(|ts| ts.iter().any(|x| x == t));
            if !allowed {
                return Err(Error::bad_request(format!(
                    "resource_type '{t}' is not one of the resource types of role {}",
                    role.sid
                )));
            }
        }
        (Some(_), None) => {
            return Err(Error::bad_request(
                "resource_id is required with resource_type",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::bad_request(
                "resource_type is required with resource_id",
            ));
        }
        (None, None) => {}
    }
    for (name, v) in [
        ("resource_type", resource_type),
        ("resource_id", resource_id),
    ] {
        if v.is_some_and(|v| v.chars().count() > MAX_FREE_TEXT) {
            return Err(Error::bad_request(format!(
                "{name} must be at most {MAX_FREE_TEXT} characters"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::sid::RoleSid;

    const LEVELS: [Level; 3] = [Level::Organization, Level::Account, Level::SubAccount];

    fn role(lowest: Level, types: Option<&[&str]>) -> Role {
        Role {
            sid: RoleSid::random(),
            org: None,
            friendly_name: "r".into(),
            external_description: String::new(),
            product_group: "g".into(),
            product_group_name: "G".into(),
            lowest_level: lowest,
            policy: Policy {
                allow: Vec::new(),
                deny: None,
            },
            resource_types: types.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            date_created: 0,
            date_updated: 0,
        }
    }

    fn message(r: Result<()>) -> String {
        match r {
            Err(Error::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_role_is_grantable_at_its_lowest_level_and_above() {
        // (lowest, at) pairs that may be granted; every other pair may not.
        let allowed = [
            (Level::Organization, Level::Organization),
            (Level::Account, Level::Organization),
            (Level::Account, Level::Account),
            (Level::SubAccount, Level::Organization),
            (Level::SubAccount, Level::Account),
            (Level::SubAccount, Level::SubAccount),
        ];
        for lowest in LEVELS {
            for at in LEVELS {
                let expected = allowed.contains(&(lowest, at));
                assert_eq!(grantable(lowest, at), expected, "{lowest:?} at {at:?}");
                let r = check_grant(&role(lowest, None), at, None, None);
                assert_eq!(r.is_ok(), expected, "{lowest:?} at {at:?}: {r:?}");
            }
        }
        let m = message(check_grant(
            &role(Level::Organization, None),
            Level::SubAccount,
            None,
            None,
        ));
        assert!(m.contains("lowest level ORGANIZATION"), "{m}");
        assert!(m.ends_with("cannot be assigned at a subaccount"), "{m}");
    }

    #[test]
    fn a_resource_needs_its_type_and_id_and_a_type_of_the_role() {
        let r = role(Level::SubAccount, Some(&["billing_group", "invoice"]));
        let at = Level::Account;
        assert!(check_grant(&r, at, Some("invoice"), Some("IN1")).is_ok());
        assert!(check_grant(&r, at, None, None).is_ok());
        let m = message(check_grant(&r, at, Some("sim"), Some("x")));
        assert!(m.contains("resource_type 'sim' is not one of"), "{m}");
        let m = message(check_grant(&r, at, Some("invoice"), None));
        assert_eq!(m, "resource_id is required with resource_type");
        let m = message(check_grant(&r, at, None, Some("x")));
        assert_eq!(m, "resource_type is required with resource_id");
        // A role without resource types takes no resource at all.
        let plain = role(Level::SubAccount, None);
        assert!(check_grant(&plain, at, Some("invoice"), Some("x")).is_err());
    }

    #[test]
    fn resources_are_at_most_256_characters() {
        let long = "é".repeat(MAX_FREE_TEXT);
        let longer = "é".repeat(MAX_FREE_TEXT + 1);
        let r = role(Level::SubAccount, Some(&["t", longer.as_str()]));
        assert!(check_grant(&r, Level::Account, Some("t"), Some(&long)).is_ok());
        let m = message(check_grant(&r, Level::Account, Some("t"), Some(&longer)));
        assert_eq!(m, "resource_id must be at most 256 characters");
        let m = message(check_grant(&r, Level::Account, Some(&longer), Some("x")));
        assert_eq!(m, "resource_type must be at most 256 characters");
    }

    #[test]
    fn the_level_is_checked_before_the_resource() {
        let r = role(Level::Organization, Some(&["t"]));
        let m = message(check_grant(&r, Level::Account, Some("nope"), None));
        assert!(m.starts_with("scope: "), "{m}");
    }

    #[test]
    fn scopes_are_the_organization_or_an_account() {
        let org = OrgSid::random();
        assert_eq!(
            parse_scope(&org, org.as_str()).unwrap(),
            Scope::Organization
        );
        let acct = AccountSid::random();
        assert_eq!(
            parse_scope(&org, acct.as_str()).unwrap(),
            Scope::Account(acct.clone())
        );
        let other = OrgSid::random();
        assert!(matches!(
            parse_scope(&org, other.as_str()),
            Err(Error::BadRequest(m)) if m.contains("is not this organization")
        ));
        assert!(matches!(
            parse_scope(&org, "US0123"),
            Err(Error::BadRequest(m)) if m.contains("organization (OR) or account (AC) SID")
        ));
        let top = Account {
            sid: acct.clone(),
            org: org.clone(),
            parent: None,
            friendly_name: "a".into(),
            status: "active".into(),
            owner: None,
            date_created: 0,
        };
        let sub = Account {
            parent: Some(AccountSid::random()),
            ..top.clone()
        };
        assert_eq!(account_level("AC", Some(&top)).unwrap(), Level::Account);
        assert_eq!(account_level("AC", Some(&sub)).unwrap(), Level::SubAccount);
        assert!(account_level("ACx", None).is_err());
    }
}
