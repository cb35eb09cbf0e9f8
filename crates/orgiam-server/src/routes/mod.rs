pub mod accounts;
pub mod assignments;
pub mod audit;
pub mod checks;
pub mod oauth;
pub mod ops;
pub mod permissions;
pub mod roles;
