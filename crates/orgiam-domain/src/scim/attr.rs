//! The core User's filterable attributes, their types and names, and the case folding of the
//! case-insensitive ones: what filters ([`super::filter`]) and the user model
//! ([`super::user`]) both speak of.

/// The core schema URN, a prefix an attribute name may carry.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The case folding of case-insensitive attributes: per-character Unicode lowercase (no
/// context rules, so folding a substring gives a substring of the folded string). Stored in the
/// `*_key` columns and applied to filter values, so both engines and memory agree.
pub fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// A filterable attribute of the core User.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attr {
    Id,
    ExternalId,
    UserName,
    DisplayName,
    /// `name` itself: only `pr`.
    Name,
    GivenName,
    FamilyName,
    Formatted,
    Active,
    Locale,
    Timezone,
    Created,
    LastModified,
    /// `emails` itself: `pr`, or a value path; a comparison means `emails.value`.
    Emails,
    EmailValue,
    EmailType,
    EmailPrimary,
}

/// What values an attribute holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    /// A string; `case_exact` false means compared through [`fold`].
    Text {
        case_exact: bool,
    },
    Bool,
    DateTime,
    /// `name`, `emails`: only `pr`.
    Complex,
}

impl Attr {
    /// Every attribute, for generators and documentation.
    pub const ALL: [Attr; 17] = [
        Attr::Id,
        Attr::ExternalId,
        Attr::UserName,
        Attr::DisplayName,
        Attr::Name,
        Attr::GivenName,
        Attr::FamilyName,
        Attr::Formatted,
        Attr::Active,
        Attr::Locale,
        Attr::Timezone,
        Attr::Created,
        Attr::LastModified,
        Attr::Emails,
        Attr::EmailValue,
        Attr::EmailType,
        Attr::EmailPrimary,
    ];

    /// The canonical full path (`name.givenName`, `emails.value`, `meta.created`).
    pub fn path(self) -> &'static str {
        match self {
            Attr::Id => "id",
            Attr::ExternalId => "externalId",
            Attr::UserName => "userName",
            Attr::DisplayName => "displayName",
            Attr::Name => "name",
            Attr::GivenName => "name.givenName",
            Attr::FamilyName => "name.familyName",
            Attr::Formatted => "name.formatted",
            Attr::Active => "active",
            Attr::Locale => "locale",
            Attr::Timezone => "timezone",
            Attr::Created => "meta.created",
            Attr::LastModified => "meta.lastModified",
            Attr::Emails => "emails",
            Attr::EmailValue => "emails.value",
            Attr::EmailType => "emails.type",
            Attr::EmailPrimary => "emails.primary",
        }
    }

    /// The name inside an `emails[...]` bracket.
    pub(crate) fn in_bracket(self) -> &'static str {
        match self {
            Attr::EmailValue => "value",
            Attr::EmailType => "type",
            Attr::EmailPrimary => "primary",
            other => other.path(),
        }
    }

    pub fn kind(self) -> AttrType {
        match self {
            Attr::Id | Attr::ExternalId => AttrType::Text { case_exact: true },
            Attr::UserName
            | Attr::DisplayName
            | Attr::GivenName
            | Attr::FamilyName
            | Attr::Formatted
            | Attr::Locale
            | Attr::Timezone
            | Attr::EmailValue
            | Attr::EmailType => AttrType::Text { case_exact: false },
            Attr::Active | Attr::EmailPrimary => AttrType::Bool,
            Attr::Created | Attr::LastModified => AttrType::DateTime,
            Attr::Name | Attr::Emails => AttrType::Complex,
        }
    }

    /// A sub-attribute of `emails`.
    pub fn is_email_sub(self) -> bool {
        matches!(
            self,
            Attr::EmailValue | Attr::EmailType | Attr::EmailPrimary
        )
    }

    /// Resolves a name (case-insensitive, optionally prefixed with the core schema URN) at the
    /// top level of a filter.
    pub fn resolve(name: &str) -> Option<Attr> {
        let name = strip_schema(name)?;
        let lower = name.to_ascii_lowercase();
        Attr::ALL
            .into_iter()
            .find(|a| a.path().eq_ignore_ascii_case(&lower))
    }

    /// Resolves a name inside an `emails[...]` bracket.
    pub(crate) fn resolve_in_bracket(name: &str) -> Option<Attr> {
        [Attr::EmailValue, Attr::EmailType, Attr::EmailPrimary]
            .into_iter()
            .find(|a| a.in_bracket().eq_ignore_ascii_case(name))
    }
}

/// Strips the core schema URN prefix (`urn:...:core:2.0:User:userName` → `userName`); another
/// URN (an extension schema) gives `None`.
pub fn strip_schema(name: &str) -> Option<&str> {
    let prefix_len = USER_SCHEMA.len() + 1;
    if name.len() > prefix_len
        && name.is_char_boundary(prefix_len)
        && name[..USER_SCHEMA.len()].eq_ignore_ascii_case(USER_SCHEMA)
        && name.as_bytes()[USER_SCHEMA.len()] == b':'
    {
        return Some(&name[prefix_len..]);
    }
    if name.len() >= 4 && name.is_char_boundary(4) && name[..4].eq_ignore_ascii_case("urn:") {
        return None;
    }
    Some(name)
}
