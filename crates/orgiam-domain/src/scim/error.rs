//! The SCIM error (RFC 7644 §3.12) with Twilio's extra fields, as the wire shows it:
//! `{"schemas": [...Error], "status": "400", "scimType": "invalidFilter", "detail": "...",
//! "code": 20001, "moreInfo": "https://www.twilio.com/docs/errors/20001"}`.

use serde::Serialize;

/// The schema URN of a SCIM error body.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// RFC 7644 §3.12 `scimType` values used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
        }
    }
}

/// A SCIM error: HTTP status, optional `scimType`, and a detail that names the attribute,
/// parameter or filter position at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

/// The wire body, keys in this order.
#[derive(Serialize)]
pub struct ScimErrorBody<'a> {
    pub schemas: [&'static str; 1],
    pub status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<&'static str>,
    pub detail: &'a str,
    pub code: u32,
    #[serde(rename = "moreInfo")]
    pub more_info: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    /// 400 `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidFilter), detail)
    }
    /// 400 `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidValue), detail)
    }
    /// 400 `invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidSyntax), detail)
    }
    /// 400 `invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::InvalidPath), detail)
    }
    /// 400 `noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::NoTarget), detail)
    }
    /// 400 `mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some(ScimType::Mutability), detail)
    }
    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }
    /// 412: a stale `If-Match` (RFC 7644 §3.14).
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }
    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// Twilio's error code for the status, as the rest of the API uses them (SPEC's table):
    /// a stale version is the same conflict family as a stale `If-Match` elsewhere.
    pub fn code(&self) -> u32 {
        match self.status {
            400 | 413 => 20001,
            401 | 403 => 20003,
            404 => 20404,
            405 => 20004,
            409 | 412 => 20409,
            429 => 20429,
            503 => 20503,
            _ => 20500,
        }
    }

    /// The wire body (serialize it with `serde_json::to_string` to keep the key order).
    pub fn body(&self) -> ScimErrorBody<'_> {
        ScimErrorBody {
            schemas: [ERROR_SCHEMA],
            status: self.status.to_string(),
            scim_type: self.scim_type.map(ScimType::as_str),
            detail: &self.detail,
            code: self.code(),
            more_info: crate::error::more_info(self.code()),
        }
    }
}

/// The text rule's error, as a SCIM `invalidValue`.
impl From<crate::Error> for ScimError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::BadRequest(m) => Self::invalid_value(m),
            other => Self::new(other.status(), None, other.public_message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_twilio_fields_in_order() {
        let e = ScimError::uniqueness("userName \"a\" is already taken");
        let s = serde_json::to_string(&e.body()).expect("serializes");
        assert_eq!(
            s,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName \"a\" is already taken","code":20409,"moreInfo":"https://www.twilio.com/docs/errors/20409"}"#
        );
        let e = ScimError::not_found("no such user");
        let s = serde_json::to_string(&e.body()).expect("serializes");
        assert!(!s.contains("scimType"));
        assert!(s.contains(r#""code":20404"#));
    }
}
