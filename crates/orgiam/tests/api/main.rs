//! The HTTP integration suite: every test boots a real server on 127.0.0.1:0 over a fresh
//! database (SQLite by default; PostgreSQL with ORGIAM_TEST_ENGINE=postgres) and talks HTTP.

#![allow(clippy::panic)]

mod admin;
mod agreement;
mod api_doc;
mod assignments;
mod auth;
mod checks;
mod cli;
mod console;
mod costs;
mod crash;
mod describe;
mod helpers;
mod hostile;
mod keys_at_rest;
mod limits;
mod management;
mod management_replicas;
mod oauth;
mod operator;
mod operator_listing;
mod replicas;
mod resource_server;
#[path = "../../examples/resource_server.rs"]
#[allow(dead_code)]
mod resource_server_example;
mod roles;
mod scim;
mod scim_flows;
mod secrets;
mod text;
mod tokens;
