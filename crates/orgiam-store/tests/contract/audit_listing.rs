//! The audit listing: order, paging both ways and filters.

use crate::prelude::*;

/// Builds a trail for `a` interleaved with `b`'s events and install-wide ones; returns `a`,
/// `b`, and the actors.
pub(crate) async fn audit_fixture(db: &TestDb) -> (OrgSid, OrgSid, [Actor; 3]) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let (server, first_key) = keys(1);
    db.store
        .init_keys(&server, &first_key)
        .await
        .expect("init keys");
    let alice = Actor::app(&AppSid::random(), Some("RQ-alice".into()));
    let bob = Actor::app(&AppSid::random(), None);
    let cli = Actor::cli();
    let actors = [alice, bob, cli];
    let apps: Vec<App> = (0..3).map(|_| app(&a, &secret())).collect();
    for (x, actor) in apps.iter().zip(&actors) {
        db.store.create_app(x, actor).await.expect("create");
    }
    for i in 0..3 {
        let (x, y) = (&apps[i], &apps[(i + 1) % 3]);
        db.store
            .set_app_status(&x.sid, AppStatus::Disabled, &actors[i])
            .await
            .expect("disable");
        db.store
            .create_app(&app(&b, &secret()), &actors[0])
            .await
            .expect("create in b");
        db.store
            .rotate_app_secret(&y.sid, &secret(), Some(T0), &actors[(i + 1) % 3])
            .await
            .expect("rotate");
        if i < 2 {
            db.store
                .rotate_signing_key(&signing_key(T0 + i as i64), false, &actors[2])
                .await
                .expect("rotate key");
        }
        db.store
            .set_app_status(&x.sid, AppStatus::Active, &actors[2])
            .await
            .expect("enable");
    }
    db.spread_event_times().await;
    (a, b, actors)
}

pub(crate) fn audit_matches(e: &AuditEvent, f: &AuditFilter) -> bool {
    f.action.as_ref().is_none_or(|v| &e.action == v)
        && f.actor.as_ref().is_none_or(|v| &e.actor == v)
        && f.target.as_ref().is_none_or(|v| &e.target == v)
        && f.since.is_none_or(|t| e.date_created >= t)
        && f.until.is_none_or(|t| e.date_created < t)
}

pub(crate) async fn walk_audit_forward(
    db: &TestDb,
    org: &OrgSid,
    f: &AuditFilter,
    size: u32,
) -> Vec<(i64, AuditEvent)> {
    let mut out: Vec<(i64, AuditEvent)> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = db
            .store
            .list_audit_events(org, f, cursor.as_ref(), size)
            .await
            .expect("list");
        assert!(page.len() <= size as usize);
        assert_newest_first(&page);
        let Some((last, _)) = page.last() else { break };
        cursor = Some(seq_cursor(Direction::Next, *last));
        let short = page.len() < size as usize;
        out.extend(page);
        if short {
            break;
        }
        assert!(out.len() < 10_000, "paging does not end");
    }
    out
}

/// Walks toward newer events from the oldest one (found with one call), page by page.
pub(crate) async fn walk_audit_backward(
    db: &TestDb,
    org: &OrgSid,
    f: &AuditFilter,
    size: u32,
) -> Vec<(i64, AuditEvent)> {
    let all = db
        .store
        .list_audit_events(org, f, None, 100_000)
        .await
        .expect("list");
    let Some(oldest) = all.last().cloned() else {
        return Vec::new();
    };
    let mut cursor = seq_cursor(Direction::Previous, oldest.0);
    let mut pages = vec![vec![oldest]];
    loop {
        let page = db
            .store
            .list_audit_events(org, f, Some(&cursor), size)
            .await
            .expect("list");
        assert!(page.len() <= size as usize);
        assert_newest_first(&page);
        let Some((newest, _)) = page.first() else {
            break;
        };
        cursor = seq_cursor(Direction::Previous, *newest);
        let short = page.len() < size as usize;
        pages.push(page);
        if short {
            break;
        }
        assert!(pages.len() < 10_000, "paging does not end");
    }
    pages.into_iter().rev().flatten().collect()
}

pub(crate) async fn audit_listing_order_paging_and_filters(db: &TestDb) {
    let (a, b, [alice, bob, _cli]) = audit_fixture(db).await;
    // The operator's view: the organization's events and the install-wide ones.
    let operator = || AuditFilter {
        install_wide: true,
        ..AuditFilter::default()
    };
    let all = db
        .store
        .list_audit_events(&a, &operator(), None, 100_000)
        .await
        .expect("list");
    // Its creation, 3 app creates and 3 rounds of disable, rotate and enable in `a`, and 2 key
    // rotations.
    assert_eq!(all.len(), 15);
    // A tenant's view: its own events only.
    let own = db
        .store
        .list_audit_events(&a, &AuditFilter::default(), None, 100_000)
        .await
        .expect("list");
    assert_eq!(own.len(), 13);
    assert!(own.iter().all(|(_, e)| e.org.as_ref() == Some(&a)));
    assert!(
        all.iter()
            .all(|(_, e)| e.org.is_none() || e.org.as_ref() == Some(&a))
    );
    let theirs = db
        .store
        .list_audit_events(&b, &operator(), None, 100_000)
        .await
        .expect("list");
    assert_eq!(theirs.len(), 6);
    let hidden: Vec<i64> = theirs
        .iter()
        .filter(|(_, e)| e.org.is_some())
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(hidden.len(), 4);
    assert_eq!(db.count_events().await, 19);
    // The times climb with seq, two events a second.
    assert!(
        all.windows(2)
            .all(|w| w[0].1.date_created >= w[1].1.date_created)
    );
    let times: Vec<i64> = all.iter().map(|(_, e)| e.date_created).collect();
    let (t_new, t_old) = (times[1], times[13]);
    let tie = times
        .windows(2)
        .find(|w| w[0] == w[1] && w[0] < t_new && w[0] > t_old)
        .map(|w| w[0])
        .expect("two events share a second, mid-trail");
    let t_mid = tie;
    assert!(t_new > t_mid && t_mid > t_old);

    let target = all
        .iter()
        .find(|(_, e)| e.action == actions::APP_SECRET_ROTATED)
        .map(|(_, e)| e.target.clone())
        .expect("a rotation");
    let f = |action: Option<&str>, actor: Option<&str>, target: Option<&str>| AuditFilter {
        action: action.map(str::to_owned),
        actor: actor.map(str::to_owned),
        target: target.map(str::to_owned),
        ..operator()
    };
    let window = |since: Option<i64>, until: Option<i64>| AuditFilter {
        since,
        until,
        ..operator()
    };
    let filters = vec![
        (operator(), true),
        (f(Some(actions::APP_CREATED), None, None), true),
        (f(Some(actions::APP_DISABLED), None, None), true),
        (f(Some(actions::KEY_ROTATED), None, None), true),
        (f(Some("APP.CREATED"), None, None), false),
        (f(Some("app."), None, None), false),
        (f(Some(""), None, None), false),
        (f(None, Some(&alice.sid), None), true),
        (f(None, Some(&bob.sid), None), true),
        (f(None, Some("cli"), None), true),
        (f(None, Some("bootstrap"), None), false),
        (f(None, Some(&alice.sid[..10]), None), false),
        (f(None, None, Some(&target)), true),
        (f(None, None, Some(&target.to_lowercase())), false),
        (f(None, None, Some(a.as_str())), true),
        (
            f(Some(actions::APP_ENABLED), Some("cli"), Some(&target)),
            true,
        ),
        (f(Some(actions::APP_ENABLED), Some(&bob.sid), None), false),
        (window(Some(t_mid), None), true),
        (window(None, Some(t_mid)), true),
        (window(Some(t_old), Some(t_new)), true),
        (window(Some(t_mid), Some(t_mid)), false),
        (window(Some(t_mid), Some(t_mid + 1)), true),
        (window(Some(t_new), Some(t_old)), false),
        (window(Some(times[0] + 1), None), false),
        (window(None, Some(times[14])), false),
        (
            AuditFilter {
                action: Some(actions::APP_SECRET_ROTATED.into()),
                since: Some(t_old),
                until: Some(t_new),
                ..operator()
            },
            true,
        ),
    ];
    for (filter, some) in &filters {
        let want: Vec<(i64, AuditEvent)> = all
            .iter()
            .filter(|(_, e)| audit_matches(e, filter))
            .cloned()
            .collect();
        assert_eq!(!want.is_empty(), *some, "fixture for {filter:?}");
        let got = db
            .store
            .list_audit_events(&a, filter, None, 1000)
            .await
            .expect("list");
        assert_eq!(got, want, "{filter:?}");
        for size in [1, 2, 3, 5, 20] {
            assert_eq!(
                walk_audit_forward(db, &a, filter, size).await,
                want,
                "forward, size {size}, {filter:?}"
            );
            assert_eq!(
                walk_audit_backward(db, &a, filter, size).await,
                want,
                "backward, size {size}, {filter:?}"
            );
        }
    }
    // Ties on the time: `since` takes every event of that second, `until` none of them.
    let at_tie = |f: &AuditFilter| {
        let store = Arc::clone(&db.store);
        let (a, f) = (a.clone(), f.clone());
        async move {
            store
                .list_audit_events(&a, &f, None, 1000)
                .await
                .expect("list")
                .iter()
                .filter(|(_, e)| e.date_created == tie)
                .count()
        }
    };
    assert_eq!(at_tie(&window(Some(tie), None)).await, 2);
    assert_eq!(at_tie(&window(None, Some(tie))).await, 0);

    // Positions between rows (another organization's events) and beyond both ends.
    let newest = all[0].0;
    let oldest = all[14].0;
    let mut positions = hidden.clone();
    positions.extend([0, 1, oldest, newest, newest + 1, newest + 1000, i64::MAX]);
    for pos in positions {
        let older: Vec<(i64, AuditEvent)> = all.iter().filter(|(s, _)| *s < pos).cloned().collect();
        let newer: Vec<(i64, AuditEvent)> = all.iter().filter(|(s, _)| *s > pos).cloned().collect();
        for limit in [1u32, 4, 100] {
            let got = db
                .store
                .list_audit_events(
                    &a,
                    &operator(),
                    Some(&seq_cursor(Direction::Next, pos)),
                    limit,
                )
                .await
                .expect("list");
            let want: Vec<_> = older.iter().take(limit as usize).cloned().collect();
            assert_eq!(got, want, "older than {pos}, limit {limit}");
            let got = db
                .store
                .list_audit_events(
                    &a,
                    &operator(),
                    Some(&seq_cursor(Direction::Previous, pos)),
                    limit,
                )
                .await
                .expect("list");
            let want = newer[newer.len().saturating_sub(limit as usize)..].to_vec();
            assert_eq!(got, want, "newer than {pos}, limit {limit}");
        }
    }
    // Limits cut the newest-first list.
    for limit in [0u32, 1, 5, 15, 16] {
        let got = db
            .store
            .list_audit_events(&a, &operator(), None, limit)
            .await
            .expect("list");
        assert_eq!(got, all[..(limit as usize).min(all.len())].to_vec());
    }
}
