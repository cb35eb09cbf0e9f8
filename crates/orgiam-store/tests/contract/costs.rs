//! What one request may cost: org-scoped search plans, the resource-type index, the statement budget.

use crate::prelude::*;

/// A second store on the test's database, with other options.
pub(crate) async fn store_with(
    db: &TestDb,
    options: &orgiam_store::StoreOptions,
) -> Arc<dyn Store> {
    let url = match &db.raw {
        Raw::Sqlite(pool) => format!(
            "sqlite://{}",
            pool.connect_options().get_filename().display()
        ),
        Raw::Postgres(pool) => {
            let o = pool.connect_options();
            format!(
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("postgres")
            )
        }
    };
    orgiam_store::connect_with(&DatabaseUrl::new(url), options)
        .await
        .expect("a second store on the test database")
}

/// Imports `n` custom roles into `org` named `name(i)`, each with `types`.
pub(crate) async fn import_many(
    db: &TestDb,
    org: &OrgSid,
    n: usize,
    name: impl Fn(usize) -> String,
    types: Option<&[&str]>,
) {
    let roles: Vec<Role> = (0..n)
        .map(|i| {
            let mut r = custom_role(org, &name(i), "bulk", types);
            r.sid = RoleSid::random();
            r
        })
        .collect();
    let chunks: Vec<Result<Vec<Role>, Error>> =
        roles.chunks(5000).map(|c| Ok(c.to_vec())).collect();
    db.store
        .import_roles(org, &mut batches(chunks), &app_actor())
        .await
        .expect("import");
}

/// The median time of `list_roles` over `n` calls, and its answer.
pub(crate) async fn timed_list(
    store: &dyn Store,
    org: &OrgSid,
    f: &RoleFilter,
    n: usize,
) -> (std::time::Duration, Vec<Role>) {
    let mut times = Vec::with_capacity(n);
    let mut last = Vec::new();
    for _ in 0..n {
        let started = std::time::Instant::now();
        last = store.list_roles(org, f, None, 51).await.expect("list");
        times.push(started.elapsed());
    }
    times.sort();
    (times[n / 2], last)
}

/// Medians of `a` and `b` over alternating rounds; returns `a / b`.
pub(crate) async fn cost_ratio(
    store: &dyn Store,
    org: &OrgSid,
    a: &RoleFilter,
    b: &RoleFilter,
) -> f64 {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        ta.push(timed_list(store, org, a, 15).await.0);
        tb.push(timed_list(store, org, b, 15).await.0);
    }
    ta.sort();
    tb.sort();
    ta[2].as_secs_f64() / tb[2].as_secs_f64()
}

/// A foreign organization whose names hold a search's trigrams, and whose SIDs fill every SID
/// prefix, changes neither the caller's answers nor its costs: `le 01` (in 1,900 of the
/// foreign names, so it is "rare" install-wide) and the SID prefix `ix0` (1/16 of the foreign
/// roles) cost the caller about what they cost before the foreign roles existed, and `le 01`
/// about what `le 02` (in no name) costs. Before the candidate lookup and the SID range were
/// scoped to the organization, they cost 10-20x. Each search's cost is measured against the
/// caller's first page in alternating rounds, before and after, so that other work on the
/// machine (the other tests) weighs on both sides of each ratio alike.
pub(crate) async fn searches_cost_the_same_whatever_other_organizations_hold(db: &TestDb) {
    let me = new_org(db, "caller").await;
    let them = new_org(db, "foreign").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    let mine = custom_role(&me, "Console 01 Mine", "custom", None);
    db.insert_custom_role(&mine).await;
    db.insert_custom_role(&custom_role(&me, "Reader", "custom", None))
        .await;
    let prefix = mine.sid.as_str()[..3].to_lowercase();
    let searches = ["le 01", "ix0", prefix.as_str()];
    let mut alone = Vec::new();
    for s in searches {
        alone.push(cost_ratio(db.store.as_ref(), &me, &search(s), &RoleFilter::default()).await);
    }
    import_many(db, &them, 1900, |i| format!("Console 01 {i:05}"), None).await;
    import_many(db, &them, 18_000, |i| format!("Widget {i:05}"), None).await;

    // Answers: the caller's own, never the foreign organization's.
    let got = db
        .store
        .list_roles(&me, &search("le 01"), None, 1000)
        .await
        .expect("list");
    assert_eq!(got, vec![mine.clone()]);
    for f in [search("le 02"), search("zq0")] {
        let got = db
            .store
            .list_roles(&me, &f, None, 1000)
            .await
            .expect("list");
        assert_eq!(got, Vec::<Role>::new(), "{f:?}");
    }
    let got = db
        .store
        .list_roles(&me, &search(&prefix), None, 1000)
        .await
        .expect("list");
    assert!(got.contains(&mine), "{prefix}");
    assert!(
        got.iter().all(|r| r.org.as_ref() != Some(&them)),
        "{prefix}"
    );

    // Costs: a generous bound; the unscoped plans cost 10-20x. PostgreSQL's searches measure
    // 1.5-3x here: with two organizations its generic plan of the candidates' statement would
    // scan the table, so it plans each search anew (~0.3 ms), against statistics that the
    // foreign roles made larger; before them it used the generic plan (0.01 ms).
    for (s, before) in searches.iter().zip(&alone) {
        let after = cost_ratio(db.store.as_ref(), &me, &search(s), &RoleFilter::default()).await;
        let ratio = after / before;
        eprintln!(
            "{}: Search={s} with the foreign roles vs without: {ratio:.2}x",
            db.store.engine()
        );
        assert!(
            ratio < 5.0,
            "Search={s} costs {ratio:.1}x with the foreign roles"
        );
    }
    let ratio = cost_ratio(db.store.as_ref(), &me, &search("le 01"), &search("le 02")).await;
    eprintln!(
        "{}: Search=le 01 vs Search=le 02: {ratio:.2}x",
        db.store.engine()
    );
    assert!(ratio < 3.0, "Search=le 01 costs {ratio:.1}x Search=le 02");
}

/// `ResourceTypes` asks an index: a type no role has costs about what the first page costs,
/// in an organization of 30,000 roles (a look at every row's types cost ~100x), and the
/// answers are the filter's (each role once, also when it has several of the types).
pub(crate) async fn resource_type_filters_go_through_an_index(db: &TestDb) {
    let me = new_org(db, "caller").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    import_many(
        db,
        &me,
        30_000,
        |i| format!("Bulk {i:05}"),
        Some(&["campaign", "domain"]),
    )
    .await;
    let ratio = cost_ratio(
        db.store.as_ref(),
        &me,
        &types(&["nope"]),
        &RoleFilter::default(),
    )
    .await;
    eprintln!(
        "{}: ResourceTypes=nope vs the first page: {ratio:.2}x",
        db.store.engine()
    );
    assert!(
        ratio < 3.0,
        "ResourceTypes=nope costs {ratio:.1}x a plain page"
    );
    let got = db
        .store
        .list_roles(&me, &types(&["nope"]), None, 51)
        .await
        .expect("list");
    assert_eq!(got, Vec::<Role>::new());
    // Both types: every role once, in order, pages joining up.
    let both = types(&["domain", "campaign"]);
    let page = db
        .store
        .list_roles(&me, &both, None, 51)
        .await
        .expect("list");
    assert_eq!(page.len(), 51);
    let names: Vec<String> = page.iter().map(|r| r.friendly_name.clone()).collect();
    let want: Vec<String> = (0..51).map(|i| format!("Bulk {i:05}")).collect();
    assert_eq!(names, want);
    let next = db
        .store
        .list_roles(
            &me,
            &both,
            Some(&role_cursor(Direction::Next, &page[50])),
            2,
        )
        .await
        .expect("list");
    let names: Vec<&str> = next.iter().map(|r| r.friendly_name.as_str()).collect();
    assert_eq!(names, ["Bulk 00051", "Bulk 00052"]);
    let back = db
        .store
        .list_roles(
            &me,
            &both,
            Some(&role_cursor(Direction::Previous, &page[50])),
            2,
        )
        .await
        .expect("list");
    let names: Vec<&str> = back.iter().map(|r| r.friendly_name.as_str()).collect();
    assert_eq!(names, ["Bulk 00048", "Bulk 00049"]);
    // Built-in roles with a type are found through the index too.
    let builtin_typed = builtin_roles()
        .into_iter()
        .filter(|r| r.resource_types.is_some())
        .collect::<Vec<_>>();
    let t = builtin_typed[0].resource_types.as_ref().unwrap()[0].clone();
    let got = db
        .store
        .list_roles(&me, &types(&[&t]), None, 1000)
        .await
        .expect("list");
    assert_eq!(
        got,
        expected_roles(&builtin_roles(), &types(&[&t])),
        "built-in roles of type {t}"
    );
}

/// A listing that would scan an organization's every row is stopped at the statement budget
/// and reported as `Overloaded` (503, code 20503); the store stays usable, and the same
/// listing with a larger budget answers.
pub(crate) async fn the_statement_budget_stops_unbounded_scans(db: &TestDb) {
    let me = new_org(db, "caller").await;
    db.store
        .sync_builtin_roles(&builtin_roles())
        .await
        .expect("sync");
    // Every name holds each trigram of "role role" (so the search walks the names in order),
    // and none holds the phrase: the walk reads all 60,000.
    import_many(db, &me, 60_000, |i| format!("Rolex Care Role {i:05}"), None).await;
    let tight = store_with(
        db,
        &orgiam_store::StoreOptions {
            statement_timeout: Some(std::time::Duration::from_millis(2)),
            ..Default::default()
        },
    )
    .await;
    let stopped = tight.list_roles(&me, &search("role role"), None, 51).await;
    assert!(
        matches!(stopped, Err(Error::Overloaded(_))),
        "{:?}",
        stopped.map(|r| r.len())
    );
    // The store (and the connection that was stopped) serves a quick listing normally (a few
    // tries: 2 ms is tight for anything on a busy machine).
    let mut served = false;
    for _ in 0..20 {
        match tight.list_roles(&me, &RoleFilter::default(), None, 5).await {
            Ok(found) => {
                assert_eq!(found.len(), 5);
                served = true;
                break;
            }
            Err(Error::Overloaded(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(served, "a quick listing within 2 ms in one of 20 tries");
    let unbounded = store_with(
        db,
        &orgiam_store::StoreOptions {
            statement_timeout: None,
            ..Default::default()
        },
    )
    .await;
    let all = unbounded
        .list_roles(&me, &search("role role"), None, 51)
        .await
        .expect("no budget: the walk finishes");
    assert_eq!(all, Vec::<Role>::new());
}

/// A listing cancelled on its way (its future dropped: a client that hung up) leaves no
/// budget behind: later statements on the same connections, with no budget of their own (the
/// change feed), run to their end however long after the cancelled one's deadline they come.
/// (The audit listing is the one that installs a budget on the pool's connections.)
pub(crate) async fn a_cancelled_listing_leaves_no_budget_behind(db: &TestDb) {
    let me = new_org(db, "caller").await;
    let owner = new_user(db, &me, "owner@example.com").await;
    for _ in 0..300 {
        let a = account(&me, None, Some(&owner));
        db.store
            .create_account(&a, &Actor::cli())
            .await
            .expect("account");
    }
    let budget = std::time::Duration::from_millis(20);
    let tight = store_with(
        db,
        &orgiam_store::StoreOptions {
            statement_timeout: Some(budget),
            ..Default::default()
        },
    )
    .await;
    // Listings on every connection of the pool, cancelled at many points of their way.
    let all_events = AuditFilter::default();
    for i in 0..300u64 {
        let cancel_after = std::time::Duration::from_micros(i * 7 % 2000);
        let events = tight.list_audit_events(&me, &all_events, None, 300);
        let _ = tokio::time::timeout(cancel_after, events).await;
    }
    tokio::time::sleep(budget * 3).await;
    for _ in 0..40 {
        let feed = tight
            .audit_events_after(0, 1000)
            .await
            .expect("the change feed");
        assert!(feed.len() >= 300, "{}", feed.len());
    }
}
