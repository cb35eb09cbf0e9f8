//! The `Store` contract, one file per aggregate. Every case runs twice, as `sqlite::<case>` on a fresh SQLite file and
//! as `postgres::<case>` on a fresh PostgreSQL database; `engines_agree` runs one fixture
//! through both and compares their answers.
//!
//! PostgreSQL: `ORGIAM_TEST_PG_URL` names a server and a database to connect to for creating
//! the per-test databases (default `postgres://postgres@127.0.0.1:5432/postgres`); each test
//! creates `orgiam_t_<random>` and drops it at the end, even when it fails. Set
//! `ORGIAM_TEST_PG_URL=off` to skip the PostgreSQL half explicitly.
//!
//! Test databases use an ICU `en-US` default collation where the server has one, so ordering
//! that forgot `COLLATE "C"` would show up here.

//! Logs of the store under test: `ORGIAM_TEST_LOG=debug` (off by default).

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod apps;
mod assignments;
mod audit_events;
mod audit_listing;
mod audit_support;
mod costs;
mod directory;
mod engines;
mod fixtures;
mod harness;
mod keys;
mod revisions;
mod roles;

/// What every case file imports: the domain's types, the harness, the fixtures and each
/// other's helpers.
#[allow(unused_imports)]
mod prelude {
    pub(crate) use std::collections::{BTreeSet, VecDeque};
    pub(crate) use std::sync::Arc;

    pub(crate) use orgiam_domain::Error;
    pub(crate) use orgiam_domain::catalog::Catalog;
    pub(crate) use orgiam_domain::model::{
        Account, Actor, App, AppStatus, Assignment, AssignmentFilter, AuditEvent, AuditFilter,
        Level, MAX_TOKEN_TTL, Org, RevokedToken, Role, RoleFilter, SecretRecord, ServerKeys,
        SigningKey, User, actions, key_slots,
    };
    pub(crate) use orgiam_domain::page::{Cursor, Direction};
    pub(crate) use orgiam_domain::policy::{Pattern, Policy};
    pub(crate) use orgiam_domain::sid::{
        AccountSid, AppSid, AssignmentSid, KeySid, OrgSid, RoleSid, UserSid, random_body,
    };
    pub(crate) use orgiam_domain::store::{
        APPS_REVISION, KEYS_REVISION, REVOCATIONS_REVISION, ROLES_REVISION, Store,
    };
    pub(crate) use orgiam_store::DatabaseUrl;
    pub(crate) use serde_json::{Value, json};

    pub(crate) use crate::audit_listing::*;
    pub(crate) use crate::audit_support::*;
    pub(crate) use crate::costs::*;
    pub(crate) use crate::fixtures::*;
    pub(crate) use crate::harness::{Raw, TestDb};
}

#[allow(unused_imports)]
use crate::{
    apps::*, assignments::*, audit_events::*, audit_listing::*, costs::*, directory::*, keys::*,
    revisions::*, roles::*,
};

use crate::harness::TestDb;

/// Declares each case once per engine: `sqlite::<case>` and `postgres::<case>`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    orgiam_testkit::logs::init();
                    let db = super::TestDb::sqlite().await;
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    orgiam_testkit::logs::init();
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

contract!(
    ping_and_uninitialized_keys,
    keys_and_bootstrap_happen_exactly_once,
    bootstrap_needs_a_store_without_orgs,
    apps_status_and_revisions,
    rotating_secrets_keeps_at_most_two,
    builtin_role_sync_is_idempotent,
    role_order_filters_and_search,
    searches_through_the_trigram_index,
    role_keyset_paging,
    custom_roles_are_private,
    accounts_parents_owners_and_paging,
    user_email_is_unique_per_org,
    identical_assignments_conflict,
    builtin_assignment_limit,
    assignment_listing_and_deletion,
    audit_events_record_each_change,
    failed_changes_write_no_event,
    audit_listing_order_paging_and_filters,
    signing_key_rotation_retires_or_revokes,
    import_roles_is_private_and_atomic,
    listed_roles_are_the_roles_json,
    revisions_agree_with_revision,
    reseal_rewrites_every_secret_value_at_once,
    revoked_tokens_are_kept_until_they_expire,
    the_change_feed_follows_every_organization_in_order,
    access_reads_chains_assignments_and_active_flags,
);

// ---------------------------------------------------------------------------------------------
// What one request may cost: org-scoped search plans, the resource-type index, the statement
// budget. Cases run as `cost::sqlite::<case>` and `cost::postgres::<case>`.
// ---------------------------------------------------------------------------------------------

macro_rules! cost_contract {
    ($($case:ident),* $(,)?) => {
        mod cost {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let db = super::super::TestDb::sqlite().await;
                        super::super::$case(&db).await;
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let Some(db) = super::super::TestDb::postgres().await else { return };
                        super::super::$case(&db).await;
                    }
                )*
            }
        }
    };
}

cost_contract!(
    searches_cost_the_same_whatever_other_organizations_hold,
    resource_type_filters_go_through_an_index,
    the_statement_budget_stops_unbounded_scans,
    a_cancelled_listing_leaves_no_budget_behind,
);
