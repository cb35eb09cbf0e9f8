//! Both engines over one fixture, and an unreachable PostgreSQL.

use crate::prelude::*;

/// Builds the same rows (same SIDs) in a store.
pub(crate) async fn shared_fixture(db: &TestDb) -> (OrgSid, Vec<Role>) {
    let o = Org {
        sid: OrgSid::derived("engines-agree"),
        friendly_name: "both".into(),
        date_created: T0,
    };
    db.store.create_org(&o, &Actor::cli()).await.expect("org");
    let roles = role_fixture(db, &o.sid).await;
    let u = User {
        sid: UserSid::derived("user"),
        ..user(&o.sid, "user@example.com")
    };
    db.store.create_user(&u, &Actor::cli()).await.expect("user");
    for (i, role) in roles.iter().take(12).enumerate() {
        let acct = Account {
            sid: AccountSid::derived(&format!("acct-{i}")),
            ..account(&o.sid, None, Some(&u.sid))
        };
        db.store
            .create_account(&acct, &Actor::cli())
            .await
            .expect("account");
        let x = Assignment {
            sid: AssignmentSid::derived(&format!("asg-{i}")),
            resource_type: (i % 3 == 0).then(|| "billing_group".to_owned()),
            resource_id: (i % 3 == 0).then(|| format!("BG{i}")),
            ..assignment(&o.sid, &role.sid, acct.sid.as_str(), &u.sid)
        };
        db.store
            .create_assignment(&x, true, &Actor::cli())
            .await
            .expect("assignment");
    }
    (o.sid, roles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(crate) async fn engines_agree() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let lite = TestDb::sqlite().await;
    let (org, roles) = shared_fixture(&lite).await;
    assert_eq!(shared_fixture(&pg).await, (org.clone(), roles.clone()));

    let sample = roles.last().expect("roles");
    let mut filters = role_filters(sample);
    // Outside the trait's promise (not lower-cased), the engines still agree: ASCII folds,
    // other letters do not.
    filters.extend([search("ALPHA"), search("É"), search("Ix"), search("ÉMILE")]);
    let mut cursors: Vec<Option<Cursor>> = vec![None];
    let ordered = sorted(roles.clone());
    for r in ordered.iter().step_by(5) {
        cursors.push(Some(role_cursor(Direction::Next, r)));
        cursors.push(Some(role_cursor(Direction::Previous, r)));
    }
    for key in [["b", ""], ["émile", "IX"], ["", ""], ["zz", "~"]] {
        for direction in [Direction::Next, Direction::Previous] {
            cursors.push(Some(Cursor {
                direction,
                key: key.iter().map(|s| (*s).to_owned()).collect(),
            }));
        }
    }
    let mut compared = 0;
    for f in &filters {
        for c in &cursors {
            for limit in [1, 4, 1000] {
                let l = lite
                    .store
                    .list_roles(&org, f, c.as_ref(), limit)
                    .await
                    .expect("sqlite");
                let p = pg
                    .store
                    .list_roles(&org, f, c.as_ref(), limit)
                    .await
                    .expect("postgres");
                assert_eq!(l, p, "filter {f:?}, cursor {c:?}, limit {limit}");
                compared += 1;
            }
        }
        for size in [2, 9] {
            let l = walk_roles_backward(lite.store.as_ref(), &org, f, size).await;
            let p = walk_roles_backward(pg.store.as_ref(), &org, f, size).await;
            assert_eq!(l, p);
            let l = walk_roles_forward(lite.store.as_ref(), &org, f, size).await;
            let p = walk_roles_forward(pg.store.as_ref(), &org, f, size).await;
            assert_eq!(l, p);
        }
    }
    assert!(compared > 500);

    let sids = ["", "AC", "AC8", "ACf", "AD"];
    for sid in sids {
        for direction in [Direction::Next, Direction::Previous] {
            let c = sid_cursor(direction, sid);
            assert_eq!(
                lite.store
                    .list_accounts(&org, Some(&c), 5)
                    .await
                    .expect("sqlite"),
                pg.store
                    .list_accounts(&org, Some(&c), 5)
                    .await
                    .expect("postgres"),
            );
            for f in [
                AssignmentFilter::default(),
                AssignmentFilter {
                    resource_type: Some("billing_group".into()),
                    ..AssignmentFilter::default()
                },
            ] {
                let c = Cursor {
                    key: vec![sid.replace("AC", "IY")],
                    ..c.clone()
                };
                assert_eq!(
                    lite.store
                        .list_assignments(&org, &f, Some(&c), 5)
                        .await
                        .expect("sqlite"),
                    pg.store
                        .list_assignments(&org, &f, Some(&c), 5)
                        .await
                        .expect("postgres"),
                );
            }
        }
    }

    // Email uniqueness compares bytes in both (so case matters in both).
    let upper = User {
        sid: UserSid::derived("upper"),
        ..user(&org, "USER@example.com")
    };
    let l = lite.store.create_user(&upper, &Actor::cli()).await;
    let p = pg.store.create_user(&upper, &Actor::cli()).await;
    assert_eq!(l.is_ok(), p.is_ok(), "{l:?} vs {p:?}");
}

/// An unreachable server is an outage (503), and the error never shows the password.
#[tokio::test]
pub(crate) async fn unreachable_postgres_is_unavailable() {
    let url = DatabaseUrl::new("postgresql://orgiam:s3cret@127.0.0.1:1/orgiam");
    let started = std::time::Instant::now();
    match orgiam_store::connect(&url).await {
        Err(Error::Unavailable(m)) => assert!(!m.contains("s3cret"), "{m}"),
        Err(e) => panic!("expected unavailable, got {e:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
