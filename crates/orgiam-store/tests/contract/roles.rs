//! Roles: the built-in catalog, order, filters, search, keyset paging, privacy and imports.

use crate::prelude::*;

pub(crate) async fn builtin_role_sync_is_idempotent(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let catalog = builtin_roles();
    db.store.sync_builtin_roles(&catalog).await.expect("sync");
    db.store
        .sync_builtin_roles(&catalog)
        .await
        .expect("sync again");
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(listed, sorted(catalog.clone()));
    for r in &catalog {
        assert_eq!(
            db.store.role(&o, &r.sid).await.expect("role").as_ref(),
            Some(r)
        );
    }

    // A custom role survives every sync.
    let custom = custom_role(&o, "Custom", "custom-a", None);
    db.insert_custom_role(&custom).await;

    // Renamed roles are updated, dropped ones disappear.
    let mut next = catalog.clone();
    let dropped = next.remove(0);
    next[0].friendly_name = "Renamed Role".into();
    next[0].resource_types = Some(vec!["b".into(), "a".into()]);
    next[0].date_updated += 1;
    db.store
        .sync_builtin_roles(&next)
        .await
        .expect("sync changed");
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    let mut want = next.clone();
    want.push(custom.clone());
    assert_eq!(listed, sorted(want));
    assert_eq!(db.store.role(&o, &dropped.sid).await.expect("role"), None);
    assert_eq!(
        db.store
            .role(&o, &next[0].sid)
            .await
            .expect("role")
            .as_ref(),
        Some(&next[0])
    );

    // An empty catalog removes every built-in role.
    db.store.sync_builtin_roles(&[]).await.expect("sync empty");
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(listed, vec![custom]);
}

pub(crate) async fn role_order_filters_and_search(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let all = role_fixture(db, &o).await;
    let listed = db
        .store
        .list_roles(&o, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(
        listed,
        sorted(all.clone()),
        "ordered by (name_key, sid), byte-wise"
    );
    // Ties on the case-insensitive name fall back to the SID.
    let alphas: Vec<&Role> = listed
        .iter()
        .filter(|r| Role::name_key(&r.friendly_name) == "alpha")
        .collect();
    assert_eq!(alphas.len(), 2);
    assert!(alphas[0].sid < alphas[1].sid);
    // Byte-wise: 'é' (0xC3...) sorts after every ASCII letter.
    let pos = |name: &str| {
        listed
            .iter()
            .position(|r| r.friendly_name == name)
            .expect(name)
    };
    assert!(pos("zz top") < pos("Émile Admin"));
    assert!(pos("_leading") < pos("a b"));
    assert!(pos("a b") < pos("a-b"));
    assert!(pos("a-b") < pos("ab"));

    let sample = all
        .iter()
        .find(|r| r.friendly_name == "Zeta")
        .expect("Zeta");
    for f in role_filters(sample) {
        let got = db.store.list_roles(&o, &f, None, 1000).await.expect("list");
        assert_eq!(got, expected_roles(&all, &f), "filter {f:?}");
    }

    // Metacharacters are literal.
    let names =
        |roles: Vec<Role>| -> Vec<String> { roles.into_iter().map(|r| r.friendly_name).collect() };
    let list = |f: RoleFilter| {
        let store = Arc::clone(&db.store);
        let o = o.clone();
        async move { store.list_roles(&o, &f, None, 1000).await.expect("list") }
    };
    assert_eq!(names(list(search("%")).await), vec!["100% Admin"]);
    assert_eq!(
        names(list(search("_")).await),
        vec!["_leading", "under_score"]
    );
    assert_eq!(names(list(search("r_s")).await), vec!["under_score"]);
    // Trigram-index candidates are checked against the whole search.
    assert_eq!(names(list(search("undscore")).await), Vec::<String>::new());
    assert_eq!(names(list(search("der_sco")).await), vec!["under_score"]);
    assert_eq!(names(list(search("\\")).await), vec!["back\\slash"]);
    // A prefix of the SID, not a substring.
    let tail = sample.sid.as_str()[10..20].to_lowercase();
    assert!(
        list(search(&tail))
            .await
            .iter()
            .all(|r| Role::name_key(&r.friendly_name).contains(&tail))
    );
    assert_eq!(
        list(search(&sample.sid.as_str().to_lowercase())).await,
        vec![sample.clone()]
    );
    // Limits cut the ordered list.
    for limit in [0, 1, 5, 60] {
        let got = db
            .store
            .list_roles(&o, &RoleFilter::default(), None, limit)
            .await
            .expect("list");
        assert_eq!(got, listed[..limit as usize].to_vec());
    }
}

/// Searches answer the same through the trigram index as by walking names. On SQLite an
/// organization of few custom roles is searched by walking its names; a store that walks none
/// answers the fixture's searches (metacharacters, SID prefixes, trigram candidates that are
/// not matches) through the index, page by page alike.
pub(crate) async fn searches_through_the_trigram_index(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let all = role_fixture(db, &o).await;
    let indexed = crate::costs::store_with(
        db,
        &orgiam_store::StoreOptions {
            walked_search_roles: 0,
            ..Default::default()
        },
    )
    .await;
    let sample = all
        .iter()
        .find(|r| r.friendly_name == "Zeta")
        .expect("Zeta");
    let mut filters = role_filters(sample);
    filters.extend(["undscore", "der_sco", "\\", "zz t", "mile adm"].map(search));
    for f in filters.iter().filter(|f| f.search.is_some()) {
        let want = expected_roles(&all, f);
        for store in [&db.store, &indexed] {
            let got = store.list_roles(&o, f, None, 1000).await.expect("list");
            assert_eq!(got, want, "filter {f:?}");
        }
        for size in [1, 3] {
            let fwd = walk_roles_forward(indexed.as_ref(), &o, f, size).await;
            assert_eq!(fwd, want, "forward, size {size}, {f:?}");
        }
    }
}

pub(crate) async fn role_keyset_paging(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let all = role_fixture(db, &o).await;
    let filters = [
        RoleFilter::default(),
        search("a"),
        group("custom-b"),
        types(&["account", "domain"]),
    ];
    for f in &filters {
        let want = expected_roles(&all, f);
        for size in [1, 2, 3, 7, 50] {
            let fwd = walk_roles_forward(db.store.as_ref(), &o, f, size).await;
            assert_eq!(fwd, want, "forward, size {size}, {f:?}");
            let back = walk_roles_backward(db.store.as_ref(), &o, f, size).await;
            assert_eq!(back, want, "backward, size {size}, {f:?}");
        }
    }
    // Positions between and beyond rows.
    let want = sorted(all.clone());
    for key in [
        ("", ""),
        ("b", ""),
        ("alpha", ""),
        ("alpha", "IX~"),
        ("émile", ""),
        ("\u{10FFFF}", ""),
    ] {
        let k = (key.0.to_owned(), key.1.to_owned());
        let after: Vec<Role> = want.iter().filter(|r| key_of(r) > k).cloned().collect();
        let before: Vec<Role> = want.iter().filter(|r| key_of(r) < k).cloned().collect();
        let next = Cursor {
            direction: Direction::Next,
            key: vec![k.0.clone(), k.1.clone()],
        };
        let prev = Cursor {
            direction: Direction::Previous,
            ..next.clone()
        };
        let got = db
            .store
            .list_roles(&o, &RoleFilter::default(), Some(&next), 5)
            .await
            .expect("list");
        assert_eq!(
            got,
            after.iter().take(5).cloned().collect::<Vec<_>>(),
            "after {k:?}"
        );
        let got = db
            .store
            .list_roles(&o, &RoleFilter::default(), Some(&prev), 5)
            .await
            .expect("list");
        let tail = before[before.len().saturating_sub(5)..].to_vec();
        assert_eq!(got, tail, "before {k:?}");
    }
    // The ends.
    let first = want.first().expect("rows");
    let last = want.last().expect("rows");
    let none = db
        .store
        .list_roles(
            &o,
            &RoleFilter::default(),
            Some(&role_cursor(Direction::Previous, first)),
            5,
        )
        .await
        .expect("list");
    assert!(none.is_empty());
    let none = db
        .store
        .list_roles(
            &o,
            &RoleFilter::default(),
            Some(&role_cursor(Direction::Next, last)),
            5,
        )
        .await
        .expect("list");
    assert!(none.is_empty());
}

pub(crate) async fn custom_roles_are_private(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    let ra = custom_role(&a, "Shared Name", "custom", Some(&["account"]));
    let rb = custom_role(&b, "Shared Name", "custom", Some(&["account"]));
    db.insert_custom_role(&ra).await;
    db.insert_custom_role(&rb).await;

    for (me, mine, theirs) in [(&a, &ra, &rb), (&b, &rb, &ra)] {
        assert_eq!(
            db.store.role(me, &mine.sid).await.expect("role").as_ref(),
            Some(mine)
        );
        assert_eq!(db.store.role(me, &theirs.sid).await.expect("role"), None);
        for f in [
            RoleFilter::default(),
            search("shared"),
            search(&theirs.sid.as_str().to_lowercase()),
            group("custom"),
            types(&["account"]),
        ] {
            let got = db.store.list_roles(me, &f, None, 1000).await.expect("list");
            assert!(!got.contains(theirs), "{f:?}");
        }
        let got = db
            .store
            .list_roles(me, &group("custom"), None, 1000)
            .await
            .expect("list");
        assert_eq!(got, vec![mine.clone()]);
    }
    // An organization without custom roles sees the catalog only.
    let c = new_org(db, "c").await;
    let got = db
        .store
        .list_roles(&c, &RoleFilter::default(), None, 1000)
        .await
        .expect("list");
    assert_eq!(got, sorted(builtin_roles()));
}

pub(crate) async fn import_roles_is_private_and_atomic(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let builtin = builtin_roles();
    db.store.sync_builtin_roles(&builtin).await.expect("sync");
    let actor = app_actor();
    let make = |org: &OrgSid, prefix: &str, n: usize| -> Vec<Role> {
        (0..n)
            .map(|i| {
                custom_role(
                    org,
                    &format!("{prefix} {i:04}"),
                    "imported",
                    Some(&["account"]),
                )
            })
            .collect()
    };
    let (first, second) = (make(&a, "First", 3), make(&a, "Second", 2));
    let imported: Vec<Role> = first.iter().chain(&second).cloned().collect();
    assert_revisions(db, 0, 0, 0).await;

    let m = mark(db, &a).await;
    let mb = mark(db, &b).await;
    let n = db
        .store
        .import_roles(
            &a,
            &mut batches(vec![Ok(first), Ok(Vec::new()), Ok(second)]),
            &actor,
        )
        .await
        .expect("import");
    assert_eq!(n, 5);
    assert_revisions(db, 0, 0, 1).await;
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &actor,
        actions::ROLES_IMPORTED,
        a.as_str(),
        None,
        Some(json!({"roles": 5})),
    );
    assert_eq!(
        all_events(db, &b).await.first().map_or(0, |(s, _)| *s),
        mb.seq,
        "nothing new for b"
    );

    // Visible to `a` only, like any custom role.
    let list = |org: &OrgSid, f: RoleFilter| {
        let store = Arc::clone(&db.store);
        let org = org.clone();
        async move {
            store
                .list_roles(&org, &f, None, 10_000)
                .await
                .expect("list")
        }
    };
    assert_eq!(
        list(&a, RoleFilter::default()).await,
        sorted(builtin.iter().chain(&imported).cloned().collect())
    );
    assert_eq!(list(&a, group("imported")).await, sorted(imported.clone()));
    assert_eq!(
        walk_roles_forward(db.store.as_ref(), &a, &group("imported"), 2).await,
        sorted(imported.clone())
    );
    assert_eq!(
        list(&b, RoleFilter::default()).await,
        sorted(builtin.clone())
    );
    assert!(list(&b, search("first")).await.is_empty());
    for r in &imported {
        assert_eq!(
            db.store.role(&a, &r.sid).await.expect("role").as_ref(),
            Some(r)
        );
        assert_eq!(db.store.role(&b, &r.sid).await.expect("role"), None);
    }

    // The second batch fails: nothing of the first stays, no event, no revision.
    let doomed = make(&a, "Doomed", 4);
    let m = mark(db, &a).await;
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let mut feed = batches(vec![
        Ok(doomed.clone()),
        Err(Error::bad_request("row 5 is malformed")),
        Ok(make(&a, "Never", 1)),
    ]);
    let mut counted = || {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        feed()
    };
    match db.store.import_roles(&a, &mut counted, &actor).await {
        Err(Error::BadRequest(msg)) => assert!(msg.contains("row 5"), "{msg}"),
        other => panic!("expected the batch's error, got {other:?}"),
    }
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "stops at the error"
    );
    assert_no_new_event(db, &m, "a failed import").await;
    assert_revisions(db, 0, 0, 1).await;
    for r in &doomed {
        assert_eq!(db.store.role(&a, &r.sid).await.expect("role"), None);
    }
    assert!(list(&a, search("doomed")).await.is_empty());
    assert!(list(&a, search("never")).await.is_empty());

    // Big batches (beyond one multi-row INSERT) in another organization: an import that at
    // least doubles the table, which SQLite writes with the table's indexes dropped and built
    // again afterwards.
    let indexes = db.role_indexes().await;
    assert!(indexes.len() >= 3, "{indexes:?}");
    let bulk = make(&b, "Bulk", 1205);
    let (head, tail) = bulk.split_at(1100);
    let n = db
        .store
        .import_roles(
            &b,
            &mut batches(vec![Ok(head.to_vec()), Ok(tail.to_vec())]),
            &Actor::cli(),
        )
        .await
        .expect("bulk import");
    assert_eq!(n, 1205);
    assert_eq!(
        db.role_indexes().await,
        indexes,
        "the same indexes after the import"
    );
    assert_revisions(db, 0, 0, 2).await;
    assert_eq!(list(&b, group("imported")).await, sorted(bulk));
    assert_eq!(list(&a, group("imported")).await, sorted(imported.clone()));
    let newest = all_events(db, &b).await;
    assert_eq!(newest[0].1.after, Some(json!({"roles": 1205})));
    assert_eq!(newest[0].1.actor, "cli");
    assert_eq!(newest[0].1.request_id, None);

    // Imported names are in the search index, and the index still follows later writes (an
    // SQLite import takes the index's insert trigger off and puts it back, also when it fails).
    assert_eq!(
        list(&a, search("first 0002")).await,
        vec![imported[2].clone()]
    );
    assert_eq!(list(&b, search("bulk 1204")).await.len(), 1);
    let later = custom_role(&a, "Later Addition", "imported", None);
    db.insert_custom_role(&later).await;
    assert_eq!(list(&a, search("later addi")).await, vec![later]);
}

/// Listing roles as their stored JSON gives, page by page, what listing them whole and
/// rendering each gives: for roles written without it (rendered on the way out) and after the
/// store, opened again, has rendered them; with every filter, both directions.
pub(crate) async fn listed_roles_are_the_roles_json(db: &TestDb) {
    let o = new_org(db, "acme").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    for r in tricky_roles(&o) {
        db.insert_custom_role(&r).await; // as an older version wrote roles: no JSON
    }
    assert_eq!(db.unrendered_roles().await, 20);
    let filters = [
        RoleFilter::default(),
        RoleFilter {
            search: orgiam_domain::model::Search::new("al"),
            ..Default::default()
        },
        RoleFilter {
            search: orgiam_domain::model::Search::new("émile admin"),
            ..Default::default()
        },
        RoleFilter {
            product_group: Some("custom-b".into()),
            ..Default::default()
        },
        RoleFilter {
            resource_types: Some(vec!["account".into(), "domain".into()]),
            ..Default::default()
        },
    ];
    for pass in [
        "written without their JSON",
        "rendered when the store opened",
    ] {
        for f in &filters {
            for limit in [1u32, 3, 1000] {
                let mut cursor: Option<Cursor> = None;
                loop {
                    let whole = db.store.list_roles(&o, f, cursor.as_ref(), limit).await;
                    let listed = db
                        .store
                        .render_roles(&o, f, cursor.as_ref(), limit)
                        .await
                        .map(|r| r.listed());
                    let whole = whole.expect("list");
                    let want: Vec<_> = whole.iter().map(Role::listed).collect();
                    assert_eq!(listed.expect("list listed"), want, "{pass}: {f:?}, {limit}");
                    if whole.len() < limit as usize || whole.is_empty() {
                        break;
                    }
                    let last = &want[want.len() - 1].key;
                    cursor = Some(orgiam_domain::keyset::CursorKey::cursor(
                        last,
                        Direction::Next,
                    ));
                }
                if let Some(c) = &cursor {
                    let back = Cursor {
                        direction: Direction::Previous,
                        key: c.key.clone(),
                    };
                    let whole = db
                        .store
                        .list_roles(&o, f, Some(&back), limit)
                        .await
                        .expect("list");
                    let listed = db
                        .store
                        .render_roles(&o, f, Some(&back), limit)
                        .await
                        .map(|r| r.listed());
                    let want: Vec<_> = whole.iter().map(Role::listed).collect();
                    assert_eq!(listed.expect("list listed"), want, "{pass} back: {f:?}");
                }
            }
        }
        // Opening the store to migrate renders what is missing.
        orgiam_store::connect(&DatabaseUrl::new(db.url.clone()))
            .await
            .expect("reopen");
        assert_eq!(db.unrendered_roles().await, 0);
    }
}
