//! Revision counters and the change feed.

use crate::prelude::*;

pub(crate) async fn revisions_agree_with_revision(db: &TestDb) {
    assert_revisions(db, 0, 0, 0).await;
    db.store
        .init_keys(&keys(1).0, &signing_key(T0))
        .await
        .expect("init keys");
    assert_revisions(db, 0, 1, 0).await;
    let o = new_org(db, "acme").await;
    let x = app(&o, &secret());
    db.store
        .create_app(&x, &Actor::cli())
        .await
        .expect("create");
    assert_revisions(db, 1, 1, 0).await;
    db.store
        .set_app_status(&x.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    db.store
        .rotate_app_secret(&x.sid, &secret(), None, &Actor::cli())
        .await
        .expect("rotate");
    assert_revisions(db, 3, 1, 0).await;
    db.store
        .rotate_signing_key(&signing_key(T0 + 1), false, &Actor::cli())
        .await
        .expect("rotate key");
    assert_revisions(db, 3, 2, 0).await;
    db.store
        .import_roles(
            &o,
            &mut batches(vec![Ok(vec![custom_role(&o, "R", "g", None)])]),
            &Actor::cli(),
        )
        .await
        .expect("import");
    assert_revisions(db, 3, 2, 1).await;

    // Changes racing on every counter at once, each counted once.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let store = Arc::clone(&db.store);
        let o = o.clone();
        set.spawn(async move {
            let actor = Actor::cli();
            match i % 3 {
                0 => store.create_app(&app(&o, &secret()), &actor).await,
                1 => {
                    store
                        .rotate_signing_key(&signing_key(T0 + 10 + i), false, &actor)
                        .await
                }
                _ => {
                    let r = custom_role(&o, &format!("Raced {i}"), "g", None);
                    store
                        .import_roles(&o, &mut batches(vec![Ok(vec![r])]), &actor)
                        .await
                        .map(|_| ())
                }
            }
        });
    }
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = Arc::clone(&db.store);
        readers.spawn(async move {
            let mut last: Option<std::collections::HashMap<String, i64>> = None;
            for _ in 0..20 {
                let now = store.revisions().await.expect("revisions");
                if let Some(last) = &last {
                    for (name, value) in last {
                        assert!(now[name] >= *value, "{name} went back");
                    }
                }
                last = Some(now);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("change");
    }
    while let Some(r) = readers.join_next().await {
        r.expect("readers");
    }
    assert_revisions(db, 7, 6, 5).await;
}

/// The feed servers follow to log changes: every organization's events and the install-wide
/// ones, oldest first, after a position, in pages; and the newest position.
pub(crate) async fn the_change_feed_follows_every_organization_in_order(db: &TestDb) {
    assert_eq!(db.store.last_audit_position().await.expect("last"), 0);
    assert!(
        db.store
            .audit_events_after(0, 10)
            .await
            .expect("feed")
            .is_empty()
    );
    db.store
        .init_keys(&keys(1).0, &signing_key(T0))
        .await
        .expect("init keys");
    let a = new_org(db, "a").await;
    let start = db.store.last_audit_position().await.expect("last");
    let b = new_org(db, "b").await;
    let x = app(&a, &secret());
    db.store.create_app(&x, &Actor::cli()).await.expect("app");
    db.store
        .set_app_status(&x.sid, AppStatus::Disabled, &Actor::cli())
        .await
        .expect("disable");
    db.store
        .rotate_signing_key(&signing_key(T0 + 1), false, &Actor::cli())
        .await
        .expect("rotate key");
    let feed = db.store.audit_events_after(start, 100).await.expect("feed");
    let actions: Vec<&str> = feed.iter().map(|(_, e)| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["org.created", "app.created", "app.disabled", "key.rotated"]
    );
    assert_eq!(feed[0].1.org.as_ref(), Some(&b));
    assert_eq!(feed[1].1.org.as_ref(), Some(&a));
    assert_eq!(feed[3].1.org, None);
    let positions: Vec<i64> = feed.iter().map(|(p, _)| *p).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(
        db.store.last_audit_position().await.expect("last"),
        *positions.last().expect("some")
    );
    // In pages: two, then the rest after the second's position.
    let first = db.store.audit_events_after(start, 2).await.expect("page");
    assert_eq!(first.len(), 2);
    let rest = db
        .store
        .audit_events_after(first[1].0, 100)
        .await
        .expect("rest");
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].1.sid, feed[2].1.sid);
    let pool = db.store.pool_status();
    assert!(
        pool.max >= 1 && pool.idle <= pool.size && pool.size <= pool.max,
        "{pool:?}"
    );
    db.store.pool_wait().await.expect("a connection");
}
