//! The objects as the API shows them, in one place: the routes answer with these, the OpenAPI
//! document describes them, and the command line prints the same JSON.

pub mod accounts;
pub mod assignments;
pub mod audit;
pub mod roles;

pub use accounts::account_json;
pub use assignments::assignment_json;
pub use audit::event_json;
pub use roles::role_json;
