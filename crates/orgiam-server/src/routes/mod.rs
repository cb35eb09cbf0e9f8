pub mod accounts;
pub mod assignments;
pub mod audit;
pub mod oauth;
pub mod ops;
pub mod permissions;
pub mod roles;
pub mod tokens;
