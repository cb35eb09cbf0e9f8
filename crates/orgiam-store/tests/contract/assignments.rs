//! Role assignments: conflicts, the built-in limit, listing and deletion, and what effective permissions read.

use crate::prelude::*;

pub(crate) async fn identical_assignments_conflict(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let u = new_user(db, &o, "u@example.com").await;
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let role = &roles[0].sid;

    let first = assignment(&o, role, o.as_str(), &u);
    db.store
        .create_assignment(&first, true, &Actor::cli())
        .await
        .expect("create");
    let mut same = first.clone();
    same.sid = AssignmentSid::random();
    match db.store.create_assignment(&same, true, &Actor::cli()).await {
        Err(Error::Conflict(m)) => assert!(m.contains("identical"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(is_conflict(
        &db.store
            .create_assignment(&first, false, &Actor::cli())
            .await
    ));

    // A resource makes it a different assignment; the same resource again conflicts.
    let mut scoped = same.clone();
    scoped.resource_type = Some("billing_group".into());
    scoped.resource_id = Some("BG1".into());
    db.store
        .create_assignment(&scoped, true, &Actor::cli())
        .await
        .expect("create");
    let mut scoped_again = scoped.clone();
    scoped_again.sid = AssignmentSid::random();
    assert!(is_conflict(
        &db.store
            .create_assignment(&scoped_again, true, &Actor::cli())
            .await
    ));
    let mut other_id = scoped_again.clone();
    other_id.resource_id = Some("BG2".into());
    db.store
        .create_assignment(&other_id, true, &Actor::cli())
        .await
        .expect("create");

    // Referenced rows must exist.
    let mut no_user = assignment(&o, role, o.as_str(), &UserSid::random());
    assert!(is_bad_request(
        &db.store
            .create_assignment(&no_user, true, &Actor::cli())
            .await
    ));
    no_user.identity = u.clone();
    no_user.role = RoleSid::random();
    assert!(is_bad_request(
        &db.store
            .create_assignment(&no_user, false, &Actor::cli())
            .await
    ));

    // Racing identical creates: exactly one wins, for built-in and other roles alike.
    for builtin in [true, false] {
        let scope = AccountSid::random();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let store = Arc::clone(&db.store);
            let a = assignment(&o, role, scope.as_str(), &u);
            set.spawn(async move { store.create_assignment(&a, builtin, &Actor::cli()).await });
        }
        let (mut ok, mut conflicts) = (0, 0);
        while let Some(r) = set.join_next().await {
            match r.expect("join") {
                Ok(()) => ok += 1,
                Err(Error::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!((ok, conflicts), (1, 7), "builtin: {builtin}");
        let listed = db
            .store
            .list_assignments(
                &o,
                &AssignmentFilter {
                    scope: Some(scope.as_str().to_owned()),
                    ..AssignmentFilter::default()
                },
                None,
                100,
            )
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
    }
    // Built-ins counted: first, scoped, other_id and one racer = 4; 21 more fit, not 22.
    for i in 0..21 {
        let a = assignment(&o, role, &format!("scope-{i}"), &u);
        db.store
            .create_assignment(&a, true, &Actor::cli())
            .await
            .expect("within the limit");
    }
    let over = assignment(&o, role, "scope-over", &u);
    assert!(is_bad_request(
        &db.store.create_assignment(&over, true, &Actor::cli()).await
    ));
}

pub(crate) async fn builtin_assignment_limit(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let u = new_user(db, &o, "u@example.com").await;
    let other = new_user(db, &o, "other@example.com").await;
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let role = &roles[0].sid;

    let mut held = Vec::new();
    for i in 0..25 {
        let a = assignment(&o, &roles[i % roles.len()].sid, &format!("AC{i:032x}"), &u);
        db.store
            .create_assignment(&a, true, &Actor::cli())
            .await
            .expect("within the limit");
        held.push(a);
    }
    let over = assignment(&o, role, "AC-over", &u);
    match db.store.create_assignment(&over, true, &Actor::cli()).await {
        Err(Error::BadRequest(m)) => {
            assert!(m.contains(u.as_str()), "{m}");
            assert!(m.contains("25"), "{m}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    let count = |filter: AssignmentFilter| {
        let store = Arc::clone(&db.store);
        let o = o.clone();
        async move {
            store
                .list_assignments(&o, &filter, None, 100)
                .await
                .expect("list")
                .len()
        }
    };
    let of_u = AssignmentFilter {
        identity: Some(u.as_str().to_owned()),
        ..AssignmentFilter::default()
    };
    assert_eq!(
        count(of_u.clone()).await,
        25,
        "the refused one left nothing behind"
    );
    // An identical one is still a conflict, not a 400.
    let mut dup = held[0].clone();
    dup.sid = AssignmentSid::random();
    assert!(is_conflict(
        &db.store.create_assignment(&dup, true, &Actor::cli()).await
    ));

    // Other roles do not count; other users have their own limit.
    let custom_kind = assignment(&o, role, "AC-custom", &u);
    db.store
        .create_assignment(&custom_kind, false, &Actor::cli())
        .await
        .expect("not a built-in");
    db.store
        .create_assignment(&assignment(&o, role, "AC-x", &other), true, &Actor::cli())
        .await
        .expect("another user");

    // Deleting frees a slot; deleting a non-built-in does not.
    assert!(
        db.store
            .delete_assignment(&o, &held[0].sid, &Actor::cli())
            .await
            .expect("delete")
    );
    db.store
        .create_assignment(&over, true, &Actor::cli())
        .await
        .expect("fits after a delete");
    assert!(
        db.store
            .delete_assignment(&o, &custom_kind.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    let again = assignment(&o, role, "AC-again", &u);
    assert!(is_bad_request(
        &db.store
            .create_assignment(&again, true, &Actor::cli())
            .await
    ));

    // At the edge, racing grants take exactly the free slots.
    for a in &held[1..4] {
        assert!(
            db.store
                .delete_assignment(&o, &a.sid, &Actor::cli())
                .await
                .expect("delete")
        );
    }
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&db.store);
        let a = assignment(&o, role, &format!("AC-race-{i}"), &u);
        set.spawn(async move { store.create_assignment(&a, true, &Actor::cli()).await });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.expect("join") {
            Ok(()) => ok += 1,
            Err(Error::BadRequest(_)) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, refused), (3, 5));
    assert_eq!(count(of_u).await, 25);
}

pub(crate) async fn assignment_listing_and_deletion(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let u1 = new_user(db, &a, "one@example.com").await;
    let u2 = new_user(db, &a, "two@example.com").await;
    let ub = new_user(db, &b, "b@example.com").await;
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let acct = AccountSid::random();

    let mut mine = Vec::new();
    for (i, (identity, scope, resource)) in [
        (&u1, a.as_str(), None),
        (&u1, acct.as_str(), None),
        (&u1, acct.as_str(), Some(("billing_group", "BG1"))),
        (&u2, acct.as_str(), Some(("billing_group", "BG1"))),
        (&u2, acct.as_str(), Some(("billing_group", "BG2"))),
        (&u2, a.as_str(), Some(("messaging_service", "MG1"))),
        (&u2, a.as_str(), None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut x = assignment(&a, &roles[i].sid, scope, identity);
        if let Some((t, id)) = resource {
            x.resource_type = Some(t.to_owned());
            x.resource_id = Some(id.to_owned());
        }
        db.store
            .create_assignment(&x, i % 2 == 0, &Actor::cli())
            .await
            .expect("create");
        mine.push(x);
    }
    let theirs = assignment(&b, &roles[0].sid, b.as_str(), &ub);
    db.store
        .create_assignment(&theirs, true, &Actor::cli())
        .await
        .expect("create");
    mine.sort_by(|x, y| x.sid.cmp(&y.sid));

    let filters = [
        AssignmentFilter::default(),
        AssignmentFilter {
            identity: Some(u1.as_str().into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            scope: Some(acct.as_str().into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            resource_type: Some("billing_group".into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            resource_id: Some("BG1".into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            identity: Some(u2.as_str().into()),
            scope: Some(acct.as_str().into()),
            resource_type: Some("billing_group".into()),
            resource_id: Some("BG2".into()),
        },
        AssignmentFilter {
            identity: Some(ub.as_str().into()),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            resource_type: Some(String::new()),
            ..AssignmentFilter::default()
        },
    ];
    for f in &filters {
        let want: Vec<Assignment> = mine
            .iter()
            .filter(|x| {
                f.identity
                    .as_deref()
                    .is_none_or(|v| x.identity.as_str() == v)
                    && f.scope.as_deref().is_none_or(|v| x.scope == v)
                    && f.resource_type
                        .as_deref()
                        .is_none_or(|v| x.resource_type.as_deref().unwrap_or("") == v)
                    && f.resource_id
                        .as_deref()
                        .is_none_or(|v| x.resource_id.as_deref().unwrap_or("") == v)
            })
            .cloned()
            .collect();
        let got = assignments_page(db, &a, f, None, 100).await;
        assert_eq!(got, want, "{f:?}");
        for size in [1u32, 2, 3] {
            let mut fwd = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let page = assignments_page(db, &a, f, cursor.as_ref(), size).await;
                let Some(last) = page.last() else { break };
                cursor = Some(sid_cursor(Direction::Next, last.sid.as_str()));
                let short = page.len() < size as usize;
                fwd.extend(page);
                if short {
                    break;
                }
            }
            assert_eq!(fwd, want, "forward, size {size}, {f:?}");
            let Some(last) = want.last() else { continue };
            let mut pages = vec![vec![last.clone()]];
            let mut cursor = sid_cursor(Direction::Previous, last.sid.as_str());
            loop {
                let page = assignments_page(db, &a, f, Some(&cursor), size).await;
                let Some(first) = page.first() else { break };
                cursor = sid_cursor(Direction::Previous, first.sid.as_str());
                let short = page.len() < size as usize;
                pages.push(page);
                if short {
                    break;
                }
            }
            let back: Vec<Assignment> = pages.into_iter().rev().flatten().collect();
            assert_eq!(back, want, "backward, size {size}, {f:?}");
        }
    }
    assert_eq!(
        db.store
            .list_assignments(&b, &AssignmentFilter::default(), None, 100)
            .await
            .expect("list"),
        vec![theirs.clone()]
    );

    // Deleting across organizations finds nothing and deletes nothing.
    let target = mine[0].clone();
    assert!(
        !db.store
            .delete_assignment(&b, &target.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&a, &theirs.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert_eq!(
        db.store
            .list_assignments(&a, &AssignmentFilter::default(), None, 100)
            .await
            .expect("list"),
        mine
    );
    assert!(
        db.store
            .delete_assignment(&a, &target.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&a, &target.sid, &Actor::cli())
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&a, &AssignmentSid::random(), &Actor::cli())
            .await
            .expect("delete")
    );
    let rest = db
        .store
        .list_assignments(&a, &AssignmentFilter::default(), None, 100)
        .await
        .expect("list");
    assert_eq!(rest, mine[1..].to_vec());
}

pub(crate) async fn access_reads_chains_assignments_and_active_flags(db: &TestDb) {
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    let role = builtin_roles()
        .into_iter()
        .find(|r| r.lowest_level == Level::SubAccount)
        .expect("a sub-account role");
    let org = new_org(db, "a").await;
    let other = new_org(db, "b").await;
    let u1 = new_user(db, &org, "one@example.com").await;
    let u2 = new_user(db, &org, "two@example.com").await;
    let foreign = new_user(db, &other, "x@example.com").await;
    let top = account(&org, None, Some(&u1));
    let mid = account(&org, Some(&top.sid), Some(&u1));
    let leaf = account(&org, Some(&mid.sid), Some(&u1));
    let far = account(&other, None, Some(&foreign));
    for a in [&top, &mid, &leaf, &far] {
        db.store
            .create_account(a, &Actor::cli())
            .await
            .expect("account");
    }
    let access = db.store.access();
    let chain = access
        .scope_chain(&org, leaf.sid.as_str())
        .await
        .expect("chain");
    let want = vec![
        leaf.sid.to_string(),
        mid.sid.to_string(),
        top.sid.to_string(),
        org.to_string(),
    ];
    assert_eq!(chain.as_ref(), Some(&want));
    assert_eq!(
        access.scope_chain(&org, org.as_str()).await.expect("chain"),
        Some(vec![org.to_string()])
    );
    for outside in [
        far.sid.to_string(),
        other.to_string(),
        "nonsense".to_owned(),
    ] {
        assert_eq!(
            access.scope_chain(&org, &outside).await.expect("chain"),
            None
        );
    }
    let many = access
        .scope_chains(
            &org,
            &[
                leaf.sid.to_string(),
                org.to_string(),
                far.sid.to_string(),
                top.sid.to_string(),
            ],
        )
        .await
        .expect("chains");
    assert_eq!(many.len(), 3);
    assert_eq!(many.get(leaf.sid.as_str()), Some(&want));
    assert_eq!(
        many.get(top.sid.as_str()),
        Some(&vec![top.sid.to_string(), org.to_string()])
    );

    // Users: active by default; a change writes one event, a no-op none.
    let active = access
        .users_active(&org, &[u1.clone(), u2.clone(), foreign.clone()])
        .await
        .expect("active");
    assert_eq!(active.len(), 2);
    assert!(active.values().all(|a| *a));
    assert_eq!(
        access
            .set_user_active(&org, &u2, false, &Actor::cli())
            .await
            .expect("set"),
        Some(true)
    );
    assert_eq!(
        access
            .set_user_active(&org, &u2, false, &Actor::cli())
            .await
            .expect("set"),
        Some(false)
    );
    assert_eq!(
        access
            .set_user_active(&org, &foreign, false, &Actor::cli())
            .await
            .expect("set"),
        None
    );
    let active = access
        .users_active(&org, std::slice::from_ref(&u2))
        .await
        .expect("active");
    assert_eq!(active.get(&u2), Some(&false));
    let events = db
        .store
        .list_audit_events(
            &org,
            &AuditFilter {
                action: Some(actions::USER_DEACTIVATED.into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.target, u2.as_str());

    // Assignments of users, and at scopes with the user's flag, in (identity, sid) order.
    let a1 = assignment(&org, &role.sid, top.sid.as_str(), &u1);
    let a2 = assignment(&org, &role.sid, org.as_str(), &u2);
    let a3 = assignment(&org, &role.sid, leaf.sid.as_str(), &u1);
    for a in [&a1, &a2, &a3] {
        db.store
            .create_assignment(a, true, &Actor::cli())
            .await
            .expect("assign");
    }
    let mine = access
        .assignments_of(&org, std::slice::from_ref(&u1))
        .await
        .expect("of");
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|a| a.identity == u1));
    assert!(
        access
            .assignments_of(&other, std::slice::from_ref(&u1))
            .await
            .expect("of")
            .is_empty()
    );
    let at = access
        .assignments_at(&org, &[org.to_string(), top.sid.to_string()], None, 10)
        .await
        .expect("at");
    let mut want: Vec<(String, bool)> =
        vec![(a1.sid.to_string(), true), (a2.sid.to_string(), false)];
    want.sort_by_key(|(sid, _)| {
        if *sid == a1.sid.to_string() {
            u1.to_string()
        } else {
            u2.to_string()
        }
    });
    let got: Vec<(String, bool)> = at
        .iter()
        .map(|(a, act)| (a.sid.to_string(), *act))
        .collect();
    assert_eq!(got, want);
    let (first, _) = &at[0];
    let rest = access
        .assignments_at(
            &org,
            &[org.to_string(), top.sid.to_string()],
            Some((first.identity.as_str(), first.sid.as_str())),
            10,
        )
        .await
        .expect("at");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].0.sid, at[1].0.sid);
}
