//! Every change writes exactly one audit event in its transaction; a failed one writes none.

use crate::prelude::*;

pub(crate) async fn audit_events_record_each_change(db: &TestDb) {
    let cli = Actor::cli();
    let mut seen: Vec<AuditEvent> = Vec::new();
    // Organizations and users: created with their event.
    let mut orgs = Vec::new();
    for name in ["a", "b"] {
        let o = org(name);
        let m = mark(db, &o.sid).await;
        db.store.create_org(&o, &cli).await.expect("create org");
        let e = one_new_event(db, &o.sid, &m).await;
        assert_event(
            &e,
            Some(&o.sid),
            &cli,
            actions::ORG_CREATED,
            o.sid.as_str(),
            None,
            Some(json!({"friendly_name": name})),
        );
        seen.push(e);
        orgs.push(o.sid);
    }
    let (a, b) = (orgs[0].clone(), orgs[1].clone());
    let (server, first_key) = keys(1);
    db.store
        .init_keys(&server, &first_key)
        .await
        .expect("init keys");
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let m = mark(db, &a).await;
    let u = new_user(db, &a, "u@example.com").await;
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &cli,
        actions::USER_CREATED,
        u.as_str(),
        None,
        Some(json!({"email": "u@example.com", "friendly_name": "u@example.com"})),
    );
    seen.push(e);
    let caller = app_actor();
    let (h1, h2, h3) = (secret(), secret(), secret());

    // Apps: created, disabled, enabled, rotated (with and without a grace period), deleted.
    let x = app(&a, &h1);
    let m = mark(db, &a).await;
    db.store.create_app(&x, &caller).await.expect("create");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &caller,
        actions::APP_CREATED,
        x.sid.as_str(),
        None,
        Some(json!({
            "friendly_name": "ci",
            "status": "active",
            "policy": serde_json::to_value(&x.policy).unwrap(),
            "access_token_ttl": 3600,
        })),
    );
    seen.push(e);

    let steps: [(AppStatus, &Actor, &str, &str, &str); 2] = [
        (
            AppStatus::Disabled,
            &cli,
            actions::APP_DISABLED,
            "active",
            "disabled",
        ),
        (
            AppStatus::Active,
            &caller,
            actions::APP_ENABLED,
            "disabled",
            "active",
        ),
    ];
    for (status, actor, action, from, to) in steps {
        let m = mark(db, &a).await;
        db.store
            .set_app_status(&x.sid, status, actor)
            .await
            .expect("status");
        let e = one_new_event(db, &a, &m).await;
        assert_event(
            &e,
            Some(&a),
            actor,
            action,
            x.sid.as_str(),
            Some(json!({"status": from})),
            Some(json!({"status": to})),
        );
        seen.push(e);
    }

    let m = mark(db, &a).await;
    db.store
        .rotate_app_secret(&x.sid, &h2, Some(T0 + 100), &caller)
        .await
        .expect("rotate");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &caller,
        actions::APP_SECRET_ROTATED,
        x.sid.as_str(),
        None,
        Some(json!({
            "previous_secret_expires_at": orgiam_domain::time_fmt::format(T0 + 100)
        })),
    );
    seen.push(e);
    let m = mark(db, &a).await;
    db.store
        .rotate_app_secret(&x.sid, &h3, None, &cli)
        .await
        .expect("rotate");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &cli,
        actions::APP_SECRET_ROTATED,
        x.sid.as_str(),
        None,
        Some(json!({"previous_secret_expires_at": null})),
    );
    seen.push(e);

    for (status, action, from, to) in [
        (
            AppStatus::Disabled,
            actions::APP_DISABLED,
            "active",
            "disabled",
        ),
        (
            AppStatus::Deleted,
            actions::APP_DELETED,
            "disabled",
            "deleted",
        ),
    ] {
        let m = mark(db, &a).await;
        db.store
            .set_app_status(&x.sid, status, &caller)
            .await
            .expect("status");
        let e = one_new_event(db, &a, &m).await;
        assert_event(
            &e,
            Some(&a),
            &caller,
            action,
            x.sid.as_str(),
            Some(json!({"status": from})),
            Some(json!({"status": to})),
        );
        seen.push(e);
    }

    // Assignments: created (with and without a resource) and deleted.
    let mut scoped = assignment(&a, &roles[0].sid, a.as_str(), &u);
    scoped.resource_type = Some("billing_group".into());
    scoped.resource_id = Some("BG1".into());
    let plain = assignment(&a, &roles[1].sid, "ACscope", &u);
    let mut created_after = Vec::new();
    for (asg, builtin) in [(&scoped, true), (&plain, false)] {
        let m = mark(db, &a).await;
        db.store
            .create_assignment(asg, builtin, &caller)
            .await
            .expect("assign");
        let e = one_new_event(db, &a, &m).await;
        let after = json!({
            "role_sid": asg.role.as_str(),
            "scope": asg.scope,
            "identity": u.as_str(),
            "resource_type": asg.resource_type,
            "resource_id": asg.resource_id,
        });
        assert_event(
            &e,
            Some(&a),
            &caller,
            actions::ROLE_ASSIGNMENT_CREATED,
            asg.sid.as_str(),
            None,
            Some(after.clone()),
        );
        created_after.push(after);
        seen.push(e);
    }
    for (asg, after) in [&scoped, &plain].into_iter().zip(created_after) {
        let m = mark(db, &a).await;
        assert!(
            db.store
                .delete_assignment(&a, &asg.sid, &cli)
                .await
                .expect("delete")
        );
        let e = one_new_event(db, &a, &m).await;
        assert_event(
            &e,
            Some(&a),
            &cli,
            actions::ROLE_ASSIGNMENT_DELETED,
            asg.sid.as_str(),
            Some(after),
            None,
        );
        seen.push(e);
    }

    // An import: one event for all of it.
    let m = mark(db, &a).await;
    let imported = vec![
        custom_role(&a, "One", "imported", None),
        custom_role(&a, "Two", "imported", None),
    ];
    let n = db
        .store
        .import_roles(&a, &mut batches(vec![Ok(imported)]), &caller)
        .await
        .expect("import");
    assert_eq!(n, 2);
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        Some(&a),
        &caller,
        actions::ROLES_IMPORTED,
        a.as_str(),
        None,
        Some(json!({"roles": 2})),
    );
    seen.push(e);

    // Signing keys: install-wide, with key ids only.
    let (k2, k3) = (signing_key(T0 + 10), signing_key(T0 + 20));
    let m = mark(db, &a).await;
    db.store
        .rotate_signing_key(&k2, false, &cli)
        .await
        .expect("rotate key");
    let e = one_new_event(db, &a, &m).await;
    assert_event(
        &e,
        None,
        &cli,
        actions::KEY_ROTATED,
        k2.kid.as_str(),
        Some(json!({"signing_kids": [first_key.kid.as_str()]})),
        Some(json!({"signing_kid": k2.kid.as_str(), "previous_keys": "retired"})),
    );
    seen.push(e);
    let m = mark(db, &b).await;
    let mut all_kids: Vec<String> = db
        .store
        .signing_keys()
        .await
        .expect("keys")
        .iter()
        .map(|k| k.kid.to_string())
        .collect();
    all_kids.sort();
    db.store
        .rotate_signing_key(&k3, true, &caller)
        .await
        .expect("rotate key");
    let e = one_new_event(db, &b, &m).await;
    assert_event(
        &e,
        None,
        &caller,
        actions::KEY_ROTATED,
        k3.kid.as_str(),
        Some(json!({"signing_kids": all_kids})),
        Some(json!({"signing_kid": k3.kid.as_str(), "previous_keys": "revoked"})),
    );
    seen.push(e);

    // Another organization's change, seen by it alone.
    let y = app(&b, &secret());
    let m = mark(db, &b).await;
    db.store
        .create_app(&y, &Actor::cli())
        .await
        .expect("create");
    let e = one_new_event(db, &b, &m).await;
    assert_eq!(e.org.as_ref(), Some(&b));
    seen.push(e);

    let secrets = vec![
        h1,
        h2,
        h3,
        y.secrets[0].hash.clone(),
        k2.private_der.clone(),
        k3.private_der.clone(),
    ];
    for e in &seen {
        assert_secret_free(e, &secrets);
    }
    let sids: BTreeSet<&str> = seen.iter().map(|e| e.sid.as_str()).collect();
    assert_eq!(sids.len(), seen.len(), "every event has its own SID");

    // Visibility: an organization's own events and the install-wide ones, nobody else's.
    let of = |org: Option<&OrgSid>| -> Vec<AuditEvent> {
        let mut v: Vec<AuditEvent> = seen
            .iter()
            .filter(|e| e.org.is_none() || e.org.as_ref() == org)
            .cloned()
            .collect();
        v.reverse();
        v
    };
    let events = |org: OrgSid| async move {
        all_events(db, &org)
            .await
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>()
    };
    assert_eq!(events(a.clone()).await, of(Some(&a)));
    assert_eq!(events(b.clone()).await, of(Some(&b)));
    let c = org("c");
    let m = mark(db, &c.sid).await;
    db.store.create_org(&c, &cli).await.expect("create org");
    let created = one_new_event(db, &c.sid, &m).await;
    assert_eq!(created.action, actions::ORG_CREATED);
    let mut want = vec![created];
    want.extend(of(None));
    assert_eq!(events(c.sid.clone()).await, want);
    assert_eq!(events(OrgSid::random()).await, of(None));
    assert_eq!(db.count_events().await, seen.len() as i64 + 1);
}

pub(crate) async fn failed_changes_write_no_event(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let other = new_org(db, "other").await;
    let (server, first_key) = keys(1);
    db.store
        .init_keys(&server, &first_key)
        .await
        .expect("init keys");
    let roles = builtin_roles();
    db.store.sync_builtin_roles(&roles).await.expect("sync");
    let u = new_user(db, &o, "u@example.com").await;
    let actor = app_actor();
    let live = app(&o, &secret());
    db.store.create_app(&live, &actor).await.expect("create");
    let gone = app(&o, &secret());
    db.store.create_app(&gone, &actor).await.expect("create");
    db.store
        .set_app_status(&gone.sid, AppStatus::Deleted, &actor)
        .await
        .expect("delete");
    let held = assignment(&o, &roles[0].sid, o.as_str(), &u);
    db.store
        .create_assignment(&held, true, &actor)
        .await
        .expect("assign");
    let imported = custom_role(&o, "Imported", "imported", None);
    db.store
        .import_roles(&o, &mut batches(vec![Ok(vec![imported.clone()])]), &actor)
        .await
        .expect("import");

    let m = mark(db, &o).await;
    let revs = db.store.revisions().await.expect("revisions");
    let key_list = |keys: Vec<SigningKey>| -> Vec<(KeySid, Option<i64>)> {
        keys.into_iter().map(|k| (k.kid, k.retired_at)).collect()
    };
    let signing = key_list(db.store.signing_keys().await.expect("keys"));

    // Apps.
    let stray = app(&OrgSid::random(), &secret());
    assert!(is_bad_request(&db.store.create_app(&stray, &actor).await));
    assert_no_new_event(db, &m, "an app of an unknown organization").await;
    assert!(is_conflict(&db.store.create_app(&live, &actor).await));
    assert_no_new_event(db, &m, "a duplicate app").await;
    for sid in [&AppSid::random(), &gone.sid] {
        for status in [AppStatus::Active, AppStatus::Disabled, AppStatus::Deleted] {
            assert!(matches!(
                db.store.set_app_status(sid, status, &actor).await,
                Err(Error::NotFound(_))
            ));
            assert_no_new_event(db, &m, "a status change of a missing app").await;
        }
        assert!(matches!(
            db.store
                .rotate_app_secret(sid, &secret(), None, &actor)
                .await,
            Err(Error::NotFound(_))
        ));
        assert_no_new_event(db, &m, "rotating a missing app").await;
    }
    let current = live.secrets[0].hash.clone();
    assert!(is_conflict(
        &db.store
            .rotate_app_secret(&live.sid, &current, Some(T0), &actor)
            .await
    ));
    assert_no_new_event(db, &m, "reusing the current secret").await;

    // Assignments.
    let mut dup = held.clone();
    dup.sid = AssignmentSid::random();
    assert!(is_conflict(
        &db.store.create_assignment(&dup, true, &actor).await
    ));
    assert!(is_conflict(
        &db.store.create_assignment(&held, false, &actor).await
    ));
    assert_no_new_event(db, &m, "a duplicate assignment").await;
    let nobody = assignment(&o, &roles[0].sid, o.as_str(), &UserSid::random());
    assert!(is_bad_request(
        &db.store.create_assignment(&nobody, true, &actor).await
    ));
    let no_role = assignment(&o, &RoleSid::random(), o.as_str(), &u);
    assert!(is_bad_request(
        &db.store.create_assignment(&no_role, false, &actor).await
    ));
    assert_no_new_event(db, &m, "an assignment of a missing user or role").await;
    assert!(
        !db.store
            .delete_assignment(&o, &AssignmentSid::random(), &actor)
            .await
            .expect("delete")
    );
    assert!(
        !db.store
            .delete_assignment(&other, &held.sid, &actor)
            .await
            .expect("delete")
    );
    assert_no_new_event(db, &m, "deleting a missing assignment").await;

    // Imports: a failing batch, a duplicate within the import, an existing SID, no org.
    let fresh = |name: &str| custom_role(&o, name, "failed", None);
    for (list, what) in [
        (
            vec![Err(Error::bad_request("the first batch is malformed"))],
            "an import failing at once",
        ),
        (
            vec![Ok(vec![fresh("A")]), Ok(vec![fresh("A")])],
            "an import with a duplicate",
        ),
        (
            vec![Ok(vec![fresh("B"), imported.clone()])],
            "an import of an existing role",
        ),
        (
            vec![Ok(vec![fresh("C"), roles[0].clone()])],
            "an import over a built-in role",
        ),
    ] {
        assert!(
            db.store
                .import_roles(&o, &mut batches(list), &actor)
                .await
                .is_err(),
            "{what}"
        );
        assert_no_new_event(db, &m, what).await;
    }
    let nowhere = OrgSid::random();
    let lost = custom_role(&nowhere, "Lost", "failed", None);
    assert!(
        db.store
            .import_roles(&nowhere, &mut batches(vec![Ok(vec![lost])]), &actor)
            .await
            .is_err()
    );
    assert_no_new_event(db, &m, "an import into a missing organization").await;
    assert!(
        db.store
            .list_roles(&o, &group("failed"), None, 100)
            .await
            .expect("list")
            .is_empty()
    );

    // Signing keys: a key id already in use.
    let reused = SigningKey {
        kid: first_key.kid.clone(),
        ..signing_key(T0 + 50)
    };
    assert!(is_conflict(
        &db.store.rotate_signing_key(&reused, false, &actor).await
    ));
    assert_no_new_event(db, &m, "a signing key with a used id").await;
    assert_eq!(
        key_list(db.store.signing_keys().await.expect("keys")),
        signing
    );

    assert_eq!(
        db.store.revisions().await.expect("revisions"),
        revs,
        "failed changes bump no revision"
    );
    assert_eq!(
        all_events(db, &o).await.first().map(|(s, _)| *s),
        Some(m.seq)
    );
}
