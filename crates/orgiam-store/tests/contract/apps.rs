//! OAuth apps: status, revisions and client-secret rotation.

use crate::prelude::*;

pub(crate) async fn apps_status_and_revisions(db: &TestDb) {
    let stray = app(&OrgSid::random(), b"stray");
    assert!(is_bad_request(
        &db.store.create_app(&stray, &Actor::cli()).await
    ));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 0);

    let o = new_org(db, "acme").await;
    let a = app(&o, b"secret a");
    let b = app(&o, b"secret b");
    db.store
        .create_app(&a, &Actor::cli())
        .await
        .expect("create a");
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 1);
    db.store
        .create_app(&b, &Actor::cli())
        .await
        .expect("create b");
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 2);
    assert_eq!(db.store.app(&a.sid).await.expect("app"), Some(a.clone()));
    assert!(is_conflict(&db.store.create_app(&a, &Actor::cli()).await));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 2);

    let (apps, rev) = db.store.apps_since(0).await.expect("since 0");
    assert_eq!((by_sid(apps), rev), (by_sid(vec![a.clone(), b.clone()]), 2));
    let (apps, rev) = db.store.apps_since(1).await.expect("since 1");
    assert_eq!((apps, rev), (vec![b.clone()], 2));
    let (apps, rev) = db.store.apps_since(2).await.expect("since 2");
    assert_eq!((apps, rev), (vec![], 2));

    let before = orgiam_domain::time_fmt::now();
    let disabled = db
        .store
        .set_app_status(&a.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    assert_eq!(disabled.status, AppStatus::Disabled);
    assert_eq!(disabled.secrets, a.secrets);
    assert!(disabled.date_updated >= before);
    assert_eq!(disabled.date_created, a.date_created);
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 3);
    let (apps, rev) = db.store.apps_since(2).await.expect("since 2");
    assert_eq!((apps, rev), (vec![disabled.clone()], 3));

    let active = db
        .store
        .set_app_status(&a.sid, AppStatus::Active, &Actor::cli())
        .await
        .expect("enable");
    assert_eq!(active.status, AppStatus::Active);
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 4);

    let deleted = db
        .store
        .set_app_status(&a.sid, AppStatus::Deleted, &Actor::cli())
        .await
        .expect("delete");
    assert_eq!(deleted.status, AppStatus::Deleted);
    assert!(
        deleted.secrets.is_empty(),
        "a deleted app loses its secrets"
    );
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 5);
    let (apps, rev) = db.store.apps_since(4).await.expect("since 4");
    assert_eq!((apps, rev), (vec![deleted.clone()], 5));

    // A deleted app cannot come back, nor get a secret; failed writes leave no revision.
    for status in [AppStatus::Active, AppStatus::Disabled, AppStatus::Deleted] {
        assert!(matches!(
            db.store.set_app_status(&a.sid, status, &Actor::cli()).await,
            Err(Error::NotFound(_))
        ));
    }
    assert!(matches!(
        db.store
            .rotate_app_secret(&a.sid, b"new", None, &Actor::cli())
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 5);
    assert_eq!(db.store.app(&a.sid).await.expect("app"), Some(deleted));

    let unknown = AppSid::random();
    assert_eq!(db.store.app(&unknown).await.expect("app"), None);
    assert!(matches!(
        db.store
            .set_app_status(&unknown, AppStatus::Disabled, &Actor::cli())
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 5);
}

pub(crate) async fn rotating_secrets_keeps_at_most_two(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let a = app(&o, b"h1");
    db.store
        .create_app(&a, &Actor::cli())
        .await
        .expect("create");
    let rev0 = db.store.revision(APPS_REVISION).await.expect("rev");

    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h2", Some(T0 + 100), &Actor::cli())
        .await
        .expect("rotate");
    assert_eq!(
        secret_set(&r),
        BTreeSet::from([(b"h1".to_vec(), Some(T0 + 100)), (b"h2".to_vec(), None)])
    );
    assert_eq!(
        db.store.revision(APPS_REVISION).await.expect("rev"),
        rev0 + 1
    );
    let (apps, _) = db.store.apps_since(rev0).await.expect("since");
    assert_eq!(apps.len(), 1);
    assert_eq!(secret_set(&apps[0]), secret_set(&r));

    // The secret in its grace period goes; only the current one overlaps with the new one.
    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h3", Some(T0 + 200), &Actor::cli())
        .await
        .expect("rotate");
    assert_eq!(
        secret_set(&r),
        BTreeSet::from([(b"h2".to_vec(), Some(T0 + 200)), (b"h3".to_vec(), None)])
    );

    // No grace: only the new secret stays.
    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h4", None, &Actor::cli())
        .await
        .expect("rotate");
    assert_eq!(secret_set(&r), BTreeSet::from([(b"h4".to_vec(), None)]));
    assert!(r.date_updated >= a.date_updated);
    assert_eq!(
        db.store.revision(APPS_REVISION).await.expect("rev"),
        rev0 + 3
    );

    // Reusing the current hash is a conflict and changes nothing.
    assert!(is_conflict(
        &db.store
            .rotate_app_secret(&a.sid, b"h4", Some(T0 + 300), &Actor::cli())
            .await
    ));
    let now = db.store.app(&a.sid).await.expect("app").expect("exists");
    assert_eq!(secret_set(&now), BTreeSet::from([(b"h4".to_vec(), None)]));
    assert_eq!(
        db.store.revision(APPS_REVISION).await.expect("rev"),
        rev0 + 3
    );

    // A disabled app still rotates.
    db.store
        .set_app_status(&a.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    let r = db
        .store
        .rotate_app_secret(&a.sid, b"h5", Some(T0 + 400), &Actor::cli())
        .await
        .expect("rotate a disabled app");
    assert_eq!(r.status, AppStatus::Disabled);
    assert_eq!(r.secrets.len(), 2);
}
