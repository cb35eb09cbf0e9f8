//! The SCIM store contract (`orgiam_store::ScimStore`): each case runs as `sqlite::<case>` on a
//! fresh SQLite file and as `postgres::<case>` on a fresh PostgreSQL database
//! (`ORGIAM_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`; `off` skips).

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use orgiam_domain::model::{Account, Actor, Assignment, AuditFilter, Org, User};
use orgiam_domain::scim::list::{ListQuery, RawParams, parse_query};
use orgiam_domain::scim::user::{etag_matches, parse_user};
use orgiam_domain::scim::{Email, ScimError, ScimType, ScimUser, UserAttrs, patch};
use orgiam_domain::sid::{AccountSid, AssignmentSid, OrgSid, UserSid, random_body};
use orgiam_store::{DatabaseUrl, Directory, ScimFail};
use serde_json::json;
use sqlx::Connection;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

struct TestDb {
    store: Arc<dyn Directory>,
    cleanup: Option<(String, String)>,
    dir: Option<PathBuf>,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("orgiam_scim_{}", random_body()));
        let url = format!("sqlite://{}", dir.join("store.db").display());
        let store = orgiam_store::connect(&DatabaseUrl::new(url))
            .await
            .expect("open the SQLite store");
        Self {
            store,
            cleanup: None,
            dir: Some(dir),
        }
    }

    async fn postgres() -> Option<Self> {
        let admin =
            std::env::var("ORGIAM_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        if admin == "off" {
            return None;
        }
        let name = format!("orgiam_scim_{}", random_body());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("reach PostgreSQL (or set ORGIAM_TEST_PG_URL=off)");
        let icu = format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        );
        if sqlx::query(&icu).execute(&mut conn).await.is_err() {
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .expect("create the test database");
        }
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("a URL");
        url.set_path(&format!("/{name}"));
        let store = orgiam_store::connect(&DatabaseUrl::new(url.to_string()))
            .await
            .expect("open the PostgreSQL store");
        Some(Self {
            store,
            cleanup: Some((admin, name)),
            dir: None,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.cleanup.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut c)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

async fn org(db: &TestDb) -> OrgSid {
    let org = Org {
        sid: OrgSid::random(),
        friendly_name: "acme".into(),
        date_created: 1,
    };
    db.store.create_org(&org, &Actor::cli()).await.unwrap();
    org.sid
}

fn attrs(name: &str) -> UserAttrs {
    parse_user(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": format!("ext-{name}"),
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": name, "type": "work", "primary": true},
                   {"value": format!("home-{name}"), "type": "home"}],
    }))
    .unwrap()
}

async fn create(db: &TestDb, org: &OrgSid, name: &str) -> ScimUser {
    db.store
        .scim_create(org, &UserSid::random(), &attrs(name), 1_700_000_000, &Actor::cli())
        .await
        .unwrap()
}

fn query(filter: &str) -> ListQuery {
    parse_query(RawParams {
        filter: Some(filter),
        ..Default::default()
    })
    .unwrap()
}

async fn found(db: &TestDb, org: &OrgSid, filter: &str) -> Vec<String> {
    let (total, users) = db.store.scim_list(org, &query(filter)).await.unwrap();
    assert_eq!(total as usize, users.len());
    users.into_iter().map(|u| u.attrs.user_name).collect()
}

async fn events(db: &TestDb, org: &OrgSid, action: &str) -> usize {
    let filter = AuditFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    db.store
        .list_audit_events(org, &filter, None, 1000)
        .await
        .unwrap()
        .len()
}

async fn create_read_list(db: TestDb) {
    let org = org(&db).await;
    let other = self::org(&db).await;
    let a = create(&db, &org, "Ada@Example.com").await;
    create(&db, &org, "grace@example.com").await;
    create(&db, &other, "ada@example.com").await;
    let got = db
        .store
        .scim_user(&org, &UserSid::parse(&a.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, a);
    assert_eq!(got.attrs.emails.len(), 2);
    assert_eq!(got.version, 1);
    // Not another organization's.
    assert!(db
        .store
        .scim_user(&other, &UserSid::parse(&a.id).unwrap())
        .await
        .unwrap()
        .is_none());
    assert_eq!(found(&db, &org, "userName eq \"ADA@example.COM\"").await, ["Ada@Example.com"]);
    assert_eq!(found(&db, &org, "externalId eq \"ext-grace@example.com\"").await, ["grace@example.com"]);
    assert_eq!(found(&db, &org, "emails.value eq \"HOME-grace@example.com\"").await, ["grace@example.com"]);
    assert_eq!(found(&db, &org, "emails[type eq \"home\" and value sw \"home-ada\"]").await, ["Ada@Example.com"]);
    assert_eq!(found(&db, &other, "userName pr").await, ["ada@example.com"]);
    // The page and the total.
    let mut q = query("userName pr");
    q.count = 1;
    q.start_index = 2;
    let (total, page) = db.store.scim_list(&org, &q).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(page.len(), 1);
    // A userName equal after case folding is taken; in another organization it is not.
    let dup = db
        .store
        .scim_create(&org, &UserSid::random(), &attrs("ADA@EXAMPLE.COM"), 1, &Actor::cli())
        .await;
    match dup {
        Err(ScimFail::Scim(e)) => assert_eq!(e.scim_type, Some(ScimType::Uniqueness)),
        other => panic!("expected uniqueness, got {other:?}"),
    }
    assert_eq!(events(&db, &org, "user.created").await, 2);
}

async fn update_and_concurrency(db: TestDb) {
    let org = org(&db).await;
    let a = create(&db, &org, "a@example.com").await;
    create(&db, &org, "b@example.com").await;
    let sid = UserSid::parse(&a.id).unwrap();
    let ops = patch::parse_request(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"},
                       {"op": "replace", "path": "active", "value": "False"}]
    }))
    .unwrap();
    let edit = |u: &ScimUser| patch::apply(&u.attrs, &ops);
    let (after, changed) = db
        .store
        .scim_update(&org, &sid, &edit, &Actor::cli())
        .await
        .unwrap()
        .unwrap();
    assert!(changed);
    assert_eq!(after.version, 2);
    assert!(!after.attrs.active);
    assert_eq!(after.attrs.emails[0].value, "new@example.com");
    assert_eq!(found(&db, &org, "emails.value eq \"new@example.com\"").await, ["a@example.com"]);
    assert!(found(&db, &org, "emails.value eq \"a@example.com\"").await.is_empty());
    assert_eq!(found(&db, &org, "active eq false").await, ["a@example.com"]);
    // The same edit again writes nothing.
    let (same, changed) = db
        .store
        .scim_update(&org, &sid, &edit, &Actor::cli())
        .await
        .unwrap()
        .unwrap();
    assert!(!changed);
    assert_eq!(same.version, 2);
    assert_eq!(events(&db, &org, "user.updated").await, 1);
    // A duplicate userName changes nothing.
    let rename = |u: &ScimUser| -> Result<UserAttrs, ScimError> {
        let mut a = u.attrs.clone();
        a.user_name = "B@example.com".into();
        a.display_name = Some("renamed".into());
        Ok(a)
    };
    match db.store.scim_update(&org, &sid, &rename, &Actor::cli()).await {
        Err(ScimFail::Scim(e)) => assert_eq!(e.scim_type, Some(ScimType::Uniqueness)),
        other => panic!("expected uniqueness, got {other:?}"),
    }
    let now = db.store.scim_user(&org, &sid).await.unwrap().unwrap();
    assert_eq!(now, same);
    // An edit that fails (a stale version) writes nothing.
    let stale = |u: &ScimUser| {
        if etag_matches("W/\"1\"", u.version) {
            Ok(u.attrs.clone())
        } else {
            Err(ScimError::precondition_failed("stale"))
        }
    };
    assert!(matches!(
        db.store.scim_update(&org, &sid, &stale, &Actor::cli()).await,
        Err(ScimFail::Scim(ScimError { status: 412, .. }))
    ));
    // Concurrent changes against one version: exactly one happens.
    for round in 0..6 {
        let base = db.store.scim_user(&org, &sid).await.unwrap().unwrap().version;
        let change = |name: String| {
            let store = db.store.clone();
            let org = org.clone();
            let sid = sid.clone();
            async move {
                let edit = move |u: &ScimUser| {
                    if u.version != base {
                        return Err(ScimError::precondition_failed("stale"));
                    }
                    let mut a = u.attrs.clone();
                    a.display_name = Some(name.clone());
                    Ok(a)
                };
                store.scim_update(&org, &sid, &edit, &Actor::cli()).await
            }
        };
        let (x, y) = tokio::join!(
            tokio::spawn(change(format!("x{round}"))),
            tokio::spawn(change(format!("y{round}")))
        );
        let ok = [x.unwrap(), y.unwrap()]
            .into_iter()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(ok, 1, "round {round}");
        let v = db.store.scim_user(&org, &sid).await.unwrap().unwrap().version;
        assert_eq!(v, base + 1);
    }
    // Unknown user.
    assert!(db
        .store
        .scim_update(&org, &UserSid::random(), &edit, &Actor::cli())
        .await
        .unwrap()
        .is_none());
}

async fn delete_takes_assignments(db: TestDb) {
    let org = org(&db).await;
    let u = create(&db, &org, "gone@example.com").await;
    let keep = create(&db, &org, "keep@example.com").await;
    let sid = UserSid::parse(&u.id).unwrap();
    let keep_sid = UserSid::parse(&keep.id).unwrap();
    let catalog = orgiam_domain::catalog::Catalog::builtin().unwrap();
    db.store.sync_builtin_roles(&catalog.roles).await.unwrap();
    let role = catalog.roles[0].sid.clone();
    let account = Account {
        sid: AccountSid::random(),
        org: org.clone(),
        parent: None,
        friendly_name: "owned".into(),
        status: "active".into(),
        owner: Some(sid.clone()),
        date_created: 1,
    };
    db.store.create_account(&account, &Actor::cli()).await.unwrap();
    for who in [&sid, &keep_sid] {
        let a = Assignment {
            sid: AssignmentSid::random(),
            org: org.clone(),
            role: role.clone(),
            scope: org.to_string(),
            identity: who.clone(),
            resource_type: None,
            resource_id: None,
            date_created: 1,
        };
        db.store.create_assignment(&a, true, &Actor::cli()).await.unwrap();
    }
    // A guard that refuses deletes nothing.
    let refuse = |_: &ScimUser| -> Result<(), ScimError> { Err(ScimError::precondition_failed("no")) };
    assert!(db.store.scim_delete(&org, &sid, &refuse, &Actor::cli()).await.is_err());
    assert!(db.store.scim_user(&org, &sid).await.unwrap().is_some());
    let deleted = db
        .store
        .scim_delete(&org, &sid, &|_| Ok(()), &Actor::cli())
        .await
        .unwrap();
    assert_eq!(deleted.map(|d| d.id), Some(u.id.clone()));
    assert!(db.store.scim_user(&org, &sid).await.unwrap().is_none());
    let left = db
        .store
        .access()
        .assignments_of(&org, &[sid.clone(), keep_sid.clone()])
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].identity, keep_sid);
    assert!(found(&db, &org, "emails.value eq \"gone@example.com\"").await.is_empty());
    assert_eq!(events(&db, &org, "user.deleted").await, 1);
    assert_eq!(events(&db, &org, "role_assignment.deleted").await, 1);
    let owned = db.store.account(&org, &account.sid).await.unwrap().unwrap();
    assert_eq!(owned.owner, None);
    // The name is free again.
    create(&db, &org, "GONE@example.com").await;
    // Deleting again: nothing.
    assert!(db
        .store
        .scim_delete(&org, &sid, &|_| Ok(()), &Actor::cli())
        .await
        .unwrap()
        .is_none());
}

async fn command_line_users_are_scim_users(db: TestDb) {
    let org = org(&db).await;
    let user = User {
        sid: UserSid::random(),
        org: org.clone(),
        email: "Cli@Example.com".into(),
        friendly_name: "Cli".into(),
        date_created: 5,
    };
    db.store.create_user(&user, &Actor::cli()).await.unwrap();
    let got = db.store.scim_user(&org, &user.sid).await.unwrap().unwrap();
    assert_eq!(got.attrs.user_name, "Cli@Example.com");
    assert_eq!(got.attrs.display_name.as_deref(), Some("Cli"));
    assert_eq!(
        got.attrs.emails,
        [Email {
            value: "Cli@Example.com".into(),
            kind: Some("work".into()),
            primary: true
        }]
    );
    assert_eq!((got.created, got.last_modified, got.version), (5, 5, 1));
    assert_eq!(found(&db, &org, "userName eq \"cli@example.com\"").await, ["Cli@Example.com"]);
    let dup = db
        .store
        .scim_create(&org, &UserSid::random(), &UserAttrs::new("CLI@example.com"), 1, &Actor::cli())
        .await;
    assert!(matches!(dup, Err(ScimFail::Scim(_))), "{dup:?}");
    // The command line's deactivation moves the version.
    db.store
        .access()
        .set_user_active(&org, &user.sid, false, &Actor::cli())
        .await
        .unwrap();
    let got = db.store.scim_user(&org, &user.sid).await.unwrap().unwrap();
    assert!(!got.attrs.active);
    assert_eq!(got.version, 2);
    // A SCIM user is listed by the command line's listing, under its userName.
    let scim = create(&db, &org, "scim@example.com").await;
    let listed = db.store.list_users(&org, None, 100).await.unwrap();
    assert!(listed
        .iter()
        .any(|u| u.sid.as_str() == scim.id && u.email == "scim@example.com"));
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(db) = super::TestDb::postgres().await {
                        super::$case(db).await;
                    }
                }
            )*
        }
    };
}

both!(
    create_read_list,
    update_and_concurrency,
    delete_takes_assignments,
    command_line_users_are_scim_users,
);
