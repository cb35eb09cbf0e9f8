//! The `Management` part of the store, on both engines: custom roles created and changed one
//! at a time (the change checked against the stored role inside the write, so of two racing
//! changes made from the same read exactly one applies), and an organization's apps paged both
//! ways. PostgreSQL at `ORGIAM_TEST_PG_URL` (default: the local server; `off` skips it).

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::sync::Arc;

use orgiam_domain::model::{Actor, App, AppStatus, AuditFilter, Level, Org, Role};
use orgiam_domain::page::{Cursor, Direction};
use orgiam_domain::policy::{Pattern, Policy};
use orgiam_domain::sid::{AppSid, OrgSid, RoleSid};
use orgiam_domain::store::ROLES_REVISION;
use orgiam_domain::{Error, role_edit};
use orgiam_store::{DatabaseUrl, Directory};
use orgiam_testkit::{PgDatabase, TempDir};

/// A store on a fresh SQLite file, and the folder that holds it (removed when dropped).
async fn sqlite() -> (Arc<dyn Directory>, TempDir) {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("store.db").display());
    let store = orgiam_store::connect(&DatabaseUrl::new(url))
        .await
        .expect("SQLite store");
    (store, dir)
}

/// A store on a fresh PostgreSQL database (dropped with the guard), or `None` when switched off.
async fn postgres() -> Option<(Arc<dyn Directory>, PgDatabase)> {
    let db = PgDatabase::scratch(false).await?;
    let store = orgiam_store::connect(&DatabaseUrl::new(db.url()))
        .await
        .expect("PostgreSQL store");
    Some((store, db))
}

fn pattern(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
}

fn role(org: &OrgSid, name: &str) -> Role {
    Role {
        sid: RoleSid::random(),
        org: Some(org.clone()),
        friendly_name: name.into(),
        external_description: String::new(),
        product_group: "custom".into(),
        product_group_name: "Custom".into(),
        lowest_level: Level::Account,
        policy: Policy {
            allow: vec![pattern("/twilio/iam/roles/list")],
            deny: None,
        },
        resource_types: Some(vec!["invoice".into()]),
        date_created: 1_700_000_000,
        date_updated: 1_700_000_000,
    }
}

async fn events(store: &dyn Directory, org: &OrgSid, action: &str) -> usize {
    let filter = AuditFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    store
        .list_audit_events(org, &filter, None, 100)
        .await
        .unwrap()
        .len()
}

async fn exercise(store: Arc<dyn Directory>) {
    let store = store.as_ref();
    let org = OrgSid::random();
    store
        .create_org(
            &Org {
                sid: org.clone(),
                friendly_name: "o".into(),
                date_created: 0,
            },
            &Actor::cli(),
        )
        .await
        .unwrap();
    let actor = Actor::cli();

    // Create: visible, one event, a revision bump; a taken name (any case) is a 409.
    let rev = store.revision(ROLES_REVISION).await.unwrap();
    let r = role(&org, "Billing Reader");
    store.create_role(&r, &actor).await.unwrap();
    assert_eq!(store.role(&org, &r.sid).await.unwrap().as_ref(), Some(&r));
    assert!(store.revision(ROLES_REVISION).await.unwrap() > rev);
    assert_eq!(events(store, &org, "role.created").await, 1);
    let dup = store
        .create_role(&role(&org, "BILLING reader"), &actor)
        .await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
    // The resource-type index follows the row (the listing filter finds it).
    let filter = orgiam_domain::model::RoleFilter {
        resource_types: Some(vec!["invoice".into()]),
        ..Default::default()
    };
    let listed = store.list_roles(&org, &filter, None, 10).await.unwrap();
    assert_eq!(listed.iter().map(|r| &r.sid).collect::<Vec<_>>(), [&r.sid]);
    // The role's JSON was stored with it.
    let shown = store
        .render_roles(&org, &filter, None, 10)
        .await
        .unwrap()
        .listed();
    assert_eq!(shown, [r.listed()]);

    // A refused edit writes nothing; a no-op writes nothing; a change writes once.
    let rev = store.revision(ROLES_REVISION).await.unwrap();
    let refused = store
        .update_role(
            &org,
            &r.sid,
            &|_| Err(Error::Conflict("stale".into())),
            &actor,
        )
        .await;
    assert!(matches!(refused, Err(Error::Conflict(_))));
    let (same, changed) = store
        .update_role(&org, &r.sid, &|cur| Ok(cur.clone()), &actor)
        .await
        .unwrap();
    assert!(!changed);
    assert_eq!(same, r);
    assert_eq!(store.revision(ROLES_REVISION).await.unwrap(), rev);
    assert_eq!(events(store, &org, "role.updated").await, 0);
    let (after, changed) = store
        .update_role(
            &org,
            &r.sid,
            &|cur| {
                let mut next = cur.clone();
                next.friendly_name = "Renamed".into();
                next.resource_types = None;
                Ok(next)
            },
            &actor,
        )
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(store.role(&org, &r.sid).await.unwrap(), Some(after.clone()));
    // ... and rewritten with the change.
    let all = orgiam_domain::model::RoleFilter::default();
    let shown = store
        .render_roles(&org, &all, None, 1000)
        .await
        .unwrap()
        .listed();
    assert!(shown.contains(&after.listed()), "{shown:?}");
    assert!(store.revision(ROLES_REVISION).await.unwrap() > rev);
    assert_eq!(events(store, &org, "role.updated").await, 1);
    assert!(
        store
            .list_roles(&org, &filter, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let search = orgiam_domain::model::RoleFilter {
        search: orgiam_domain::model::Search::new("renamed"),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_roles(&org, &search, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Unknown, another organization's, or built-in: not found.
    let other = OrgSid::random();
    assert!(matches!(
        store
            .update_role(&other, &r.sid, &|c| Ok(c.clone()), &actor)
            .await,
        Err(Error::NotFound(_))
    ));

    // Two changes made from the same read race: exactly one applies.
    for round in 0..5 {
        let read = store.role(&org, &r.sid).await.unwrap().unwrap();
        let tag = role_edit::etag(&read);
        let change = |text: String| {
            let tag = tag.clone();
            move |cur: &Role| {
                role_edit::check_if_match(Some(&tag), cur)?;
                let mut next = cur.clone();
                next.external_description = text.clone();
                Ok(next)
            }
        };
        let (a, b) = (change(format!("a{round}")), change(format!("b{round}")));
        let (ra, rb) = tokio::join!(
            store.update_role(&org, &r.sid, &a, &actor),
            store.update_role(&org, &r.sid, &b, &actor),
        );
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        let lost = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Err(Error::Conflict(_))))
            .count();
        assert_eq!((won, lost), (1, 1), "{ra:?} / {rb:?}");
    }

    // Apps of the organization, not deleted ones, paged both ways.
    let mut sids = Vec::new();
    for i in 0..5 {
        let app = App {
            sid: AppSid::random(),
            org: org.clone(),
            friendly_name: format!("app {i}"),
            description: String::new(),
            status: AppStatus::Active,
            policy: Policy::everything(),
            access_token_ttl: 3600,
            date_created: 0,
            date_updated: 0,
            tokens_valid_after: 0,
            audiences: Vec::new(),
            secrets: vec![orgiam_domain::model::SecretRecord {
                hash: vec![i; 32],
                expires_at: None,
            }],
        };
        store.create_app(&app, &actor).await.unwrap();
        sids.push(app.sid);
    }
    store
        .set_app_status(&sids[4], AppStatus::Deleted, &actor)
        .await
        .unwrap();
    sids.truncate(4);
    sids.sort();
    let o = &org;
    let page = |c: Option<Cursor>, n| async move {
        store
            .list_org_apps(o, c.as_ref(), n)
            .await
            .unwrap()
            .into_iter()
            .map(|a| {
                assert!(a.secrets.is_empty());
                a.sid
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(page(None, 10).await, sids);
    let at = |direction, s: &AppSid| Cursor {
        direction,
        key: vec![s.to_string()],
    };
    assert_eq!(
        page(Some(at(Direction::Next, &sids[1])), 10).await,
        sids[2..]
    );
    assert_eq!(
        page(Some(at(Direction::Previous, &sids[3])), 2).await,
        sids[1..3]
    );
    assert!(
        store
            .list_org_apps(&OrgSid::random(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn management_on_sqlite() {
    let (store, _dir) = sqlite().await;
    exercise(store).await;
}

#[tokio::test]
async fn management_on_postgres() {
    let Some((store, _db)) = postgres().await else {
        return;
    };
    exercise(store).await;
}
