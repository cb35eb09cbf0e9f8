//! The one error table. Each variant knows its HTTP status and Twilio code; the HTTP layer
//! turns it into the SPEC's body in one place. Internal causes are logged, never returned.

/// Result with orgiam's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed parameter, body, SID or page token (400, 20001).
    #[error("{0}")]
    BadRequest(String),
    /// Missing, malformed, expired, revoked or foreign credentials (401, 20003).
    #[error("{message}")]
    Unauthenticated {
        message: String,
        /// A token was sent (and was bad): `WWW-Authenticate` then says `invalid_token`.
        token_sent: bool,
    },
    /// A valid token whose app lacks the permission (403, 20003).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown resource, or one of another organization (404, 20404).
    #[error("{0}")]
    NotFound(String),
    /// Wrong method on a known path (405, 20004).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Duplicate or stale write (409, 20409).
    #[error("{0}")]
    Conflict(String),
    /// A conditional write sent without its condition (`If-Match`) (428, 20001).
    #[error("{0}")]
    PreconditionRequired(String),
    /// Request body too large (413, 20001).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Request headers too large (431, 20001).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// Too many requests (429, 20429).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// The store is unreachable (503, 20503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A query needed more work than one request may do (the statement budget: PostgreSQL's
    /// `statement_timeout`, SQLite's progress-handler budget) and was stopped (503, 20503).
    #[error("query budget exceeded: {0}")]
    Overloaded(String),
    /// Anything unexpected (500, 20500); the text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Self::Internal(msg.to_string())
    }
    pub fn unauthenticated(msg: impl Into<String>, token_sent: bool) -> Self {
        Self::Unauthenticated {
            message: msg.into(),
            token_sent,
        }
    }

    /// HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthenticated { .. } => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::Conflict(_) => 409,
            Self::PreconditionRequired(_) => 428,
            Self::PayloadTooLarge(_) => 413,
            Self::HeadersTooLarge(_) => 431,
            Self::TooManyRequests { .. } => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(_) | Self::Overloaded(_) => 503,
        }
    }

    /// Twilio error code.
    pub fn code(&self) -> u32 {
        match self {
            Self::BadRequest(_)
            | Self::PayloadTooLarge(_)
            | Self::HeadersTooLarge(_)
            | Self::PreconditionRequired(_) => 20001,
            Self::Unauthenticated { .. } | Self::Forbidden(_) => 20003,
            Self::NotFound(_) => 20404,
            Self::MethodNotAllowed(_) => 20004,
            Self::Conflict(_) => 20409,
            Self::TooManyRequests { .. } => 20429,
            Self::Internal(_) => 20500,
            Self::Unavailable(_) | Self::Overloaded(_) => 20503,
        }
    }

    /// The message safe to show a client: internal causes are replaced.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "An internal error occurred".to_owned(),
            Self::Unavailable(_) => "The service is temporarily unavailable".to_owned(),
            Self::Overloaded(_) => "The request needed more work than one request may do; \
                narrow it (for example a longer Search or fewer filters) and try again"
                .to_owned(),
            other => other.to_string(),
        }
    }

    /// `https://www.twilio.com/docs/errors/<code>`.
    pub fn more_info(&self) -> String {
        more_info(self.code())
    }
}

pub fn more_info(code: u32) -> String {
    format!("https://www.twilio.com/docs/errors/{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_causes_are_never_public() {
        let e = Error::internal("disk I/O error at /var/lib/secret.db");
        assert_eq!(e.status(), 500);
        assert_eq!(e.code(), 20500);
        assert!(!e.public_message().contains("secret"));
    }

    #[test]
    fn an_exceeded_budget_is_a_503_that_names_no_query() {
        let e = Error::Overloaded("SELECT … FROM roles: interrupted".into());
        assert_eq!((e.status(), e.code()), (503, 20503));
        assert!(!e.public_message().contains("SELECT"));
        assert!(e.public_message().contains("narrow it"));
    }
}
