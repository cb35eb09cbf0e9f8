//! SCIM 2.0 users (RFC 7643 core User, RFC 7644 protocol) without HTTP or SQL engines: the
//! user model and its lenient parsing and validation ([`user`]), the attributes both speak of
//! ([`attr`]), filters ([`filter`]) and
//! their translation into a SQL `WHERE` fragment ([`sql`]), and the PATCH engine ([`patch`]).
//! The `/scim/Users` endpoints are built on these; docs/SCIM.md describes the whole.

pub mod attr;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod sql;
pub mod user;

pub use error::{ScimError, ScimType};
pub use filter::{Attr, Filter, Op, Value, fold};
pub use user::{Email, Name, ScimUser, UserAttrs};
