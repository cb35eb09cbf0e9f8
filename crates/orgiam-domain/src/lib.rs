//! orgiam's domain: identifiers, errors, permission policies, page tokens, the built-in
//! role catalog and the `Store` trait. No HTTP and no SQL live here.

pub mod access;
pub mod assignment;
pub mod catalog;
pub mod decision;
pub mod error;
pub mod escalation;
pub mod import;
pub mod keyset;
pub mod model;
pub mod page;
pub mod policy;
pub mod rendered;
pub mod role_edit;
pub mod role_json;
pub mod scim;
pub mod secret;
pub mod sid;
pub mod store;
pub mod text;
pub mod time_fmt;

pub use error::{Error, Result};
