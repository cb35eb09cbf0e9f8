//! The directory: accounts (parents, owners, paging) and users.

use crate::prelude::*;

pub(crate) async fn accounts_parents_owners_and_paging(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let ua = new_user(db, &a, "owner@a.example").await;
    let ub = new_user(db, &b, "owner@b.example").await;

    let top = account(&a, None, Some(&ua));
    db.store
        .create_account(&top, &Actor::cli())
        .await
        .expect("account");
    let sub = account(&a, Some(&top.sid), None);
    db.store
        .create_account(&sub, &Actor::cli())
        .await
        .expect("subaccount");
    let subsub = account(&a, Some(&sub.sid), Some(&ua));
    db.store
        .create_account(&subsub, &Actor::cli())
        .await
        .expect("sub-subaccount");
    let other = account(&b, None, Some(&ub));
    db.store
        .create_account(&other, &Actor::cli())
        .await
        .expect("account of b");

    // The parent and owner belong to the same organization.
    for bad in [
        account(&a, Some(&other.sid), None),
        account(&a, Some(&AccountSid::random()), None),
        account(&a, None, Some(&ub)),
        account(&a, None, Some(&UserSid::random())),
        account(&OrgSid::random(), None, None),
    ] {
        assert!(
            is_bad_request(&db.store.create_account(&bad, &Actor::cli()).await),
            "{bad:?}"
        );
        assert_eq!(
            db.store.account(&bad.org, &bad.sid).await.expect("get"),
            None
        );
    }
    assert!(is_conflict(
        &db.store.create_account(&top, &Actor::cli()).await
    ));
    let mut same_sid_elsewhere = top.clone();
    same_sid_elsewhere.org = b.clone();
    same_sid_elsewhere.owner = None;
    assert!(is_conflict(
        &db.store
            .create_account(&same_sid_elsewhere, &Actor::cli())
            .await
    ));

    assert_eq!(
        db.store.account(&a, &sub.sid).await.expect("get"),
        Some(sub.clone())
    );
    assert_eq!(db.store.account(&b, &sub.sid).await.expect("get"), None);

    let mut mine = vec![top.clone(), sub.clone(), subsub.clone()];
    for _ in 0..6 {
        let acct = account(&a, Some(&top.sid), None);
        db.store
            .create_account(&acct, &Actor::cli())
            .await
            .expect("account");
        mine.push(acct);
    }
    mine.sort_by(|x, y| x.sid.cmp(&y.sid));
    let listed = accounts_page(db, &a, None, 100).await;
    assert_eq!(listed, mine);
    assert_eq!(
        db.store.list_accounts(&b, None, 100).await.expect("list"),
        vec![other.clone()]
    );
    for size in [1u32, 2, 4] {
        let mut fwd = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = accounts_page(db, &a, cursor.as_ref(), size).await;
            let Some(last) = page.last() else { break };
            cursor = Some(sid_cursor(Direction::Next, last.sid.as_str()));
            let short = page.len() < size as usize;
            fwd.extend(page);
            if short {
                break;
            }
        }
        assert_eq!(fwd, mine, "forward, size {size}");
        let last = mine.last().expect("rows");
        let mut pages = vec![vec![last.clone()]];
        let mut cursor = sid_cursor(Direction::Previous, last.sid.as_str());
        loop {
            let page = accounts_page(db, &a, Some(&cursor), size).await;
            let Some(first) = page.first() else { break };
            cursor = sid_cursor(Direction::Previous, first.sid.as_str());
            let short = page.len() < size as usize;
            pages.push(page);
            if short {
                break;
            }
        }
        let back: Vec<Account> = pages.into_iter().rev().flatten().collect();
        assert_eq!(back, mine, "backward, size {size}");
    }
}

pub(crate) async fn user_email_is_unique_per_org(db: &TestDb) {
    let a = new_org(db, "a").await;
    let b = new_org(db, "b").await;
    let first = user(&a, "ann@example.com");
    db.store
        .create_user(&first, &Actor::cli())
        .await
        .expect("user");
    let dup = user(&a, "ann@example.com");
    match db.store.create_user(&dup, &Actor::cli()).await {
        Err(Error::Conflict(m)) => assert!(m.contains("ann@example.com"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.store.user(&a, &dup.sid).await.expect("get"), None);
    // Another organization may hold the same email.
    let elsewhere = user(&b, "ann@example.com");
    db.store
        .create_user(&elsewhere, &Actor::cli())
        .await
        .expect("user in b");
    assert!(is_conflict(
        &db.store.create_user(&first, &Actor::cli()).await
    ));
    assert!(is_bad_request(
        &db.store
            .create_user(&user(&OrgSid::random(), "x@y.z"), &Actor::cli())
            .await
    ));

    assert_eq!(
        db.store.user(&a, &first.sid).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(db.store.user(&b, &first.sid).await.expect("get"), None);
    assert_eq!(
        db.store.user(&b, &elsewhere.sid).await.expect("get"),
        Some(elsewhere)
    );
}
