pub mod oauth;
pub mod ops;
pub mod roles;
