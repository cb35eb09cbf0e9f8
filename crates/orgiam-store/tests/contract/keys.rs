//! Server keys, bootstrap, signing-key rotation, resealing secrets and revoked tokens.

use crate::prelude::*;

pub(crate) async fn ping_and_uninitialized_keys(db: &TestDb) {
    db.store.ping().await.expect("ping");
    assert!(matches!(
        db.store.server_keys().await,
        Err(Error::Internal(_))
    ));
    assert!(db.store.signing_keys().await.expect("keys").is_empty());
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 0);
    assert_eq!(db.store.revision(KEYS_REVISION).await.expect("rev"), 0);
    assert_eq!(db.store.revision(ROLES_REVISION).await.expect("rev"), 0);
    assert_eq!(db.store.revision("no-such-counter").await.expect("rev"), 0);
    assert_revisions(db, 0, 0, 0).await;
    assert!(all_events(db, &OrgSid::random()).await.is_empty());
    let (apps, rev) = db.store.apps_since(0).await.expect("apps since");
    assert!(apps.is_empty());
    assert_eq!(rev, 0);
}

pub(crate) async fn keys_and_bootstrap_happen_exactly_once(db: &TestDb) {
    let mut set = tokio::task::JoinSet::new();
    let candidates: Vec<_> = (0..8u8).map(keys).collect();
    for (k, s) in candidates.clone() {
        let store = Arc::clone(&db.store);
        set.spawn(async move { store.init_keys(&k, &s).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("init_keys");
    }
    let got = db.store.server_keys().await.expect("server keys");
    let signing = db.store.signing_keys().await.expect("signing keys");
    assert_eq!(signing.len(), 1, "one signing key");
    let winner = candidates
        .iter()
        .position(|(k, _)| k.page_key == got.page_key)
        .expect("the keys are one caller's");
    assert_eq!(got.secret_key, candidates[winner].0.secret_key);
    assert_eq!(signing[0].kid, candidates[winner].1.kid);
    assert_eq!(signing[0].private_der, candidates[winner].1.private_der);
    assert_eq!(signing[0].public_raw, candidates[winner].1.public_raw);
    assert_eq!(signing[0].created_at, candidates[winner].1.created_at);
    assert_eq!(signing[0].retired_at, None);
    assert_eq!(db.store.revision(KEYS_REVISION).await.expect("rev"), 1);
    // Later calls change nothing.
    let (k, s) = keys(99);
    db.store.init_keys(&k, &s).await.expect("init_keys again");
    assert_eq!(
        db.store.server_keys().await.expect("keys").page_key,
        got.page_key
    );
    assert_eq!(db.store.signing_keys().await.expect("keys").len(), 1);
    assert_eq!(db.store.revision(KEYS_REVISION).await.expect("rev"), 1);

    let attempts: Vec<(Org, App)> = (0..8)
        .map(|i| {
            let o = org(&format!("first {i}"));
            let a = app(&o.sid, &[i; 32]);
            (o, a)
        })
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for (i, (o, a)) in attempts.clone().into_iter().enumerate() {
        let store = Arc::clone(&db.store);
        set.spawn(async move { (i, store.bootstrap(&o, &a).await) });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, created) = r.expect("join");
        if created.expect("bootstrap") {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one bootstrap: {winners:?}");
    let w = winners[0];
    for (i, (o, a)) in attempts.iter().enumerate() {
        let org = db.store.org(&o.sid).await.expect("org");
        let app = db.store.app(&a.sid).await.expect("app");
        if i == w {
            assert_eq!(org.as_ref(), Some(o));
            assert_eq!(app.as_ref(), Some(a));
        } else {
            assert_eq!(org, None);
            assert_eq!(app, None);
        }
    }
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 1);
    // The first app's creation is on the record, by `bootstrap`; the losers left none.
    let created = AuditFilter {
        action: Some(actions::APP_CREATED.into()),
        ..AuditFilter::default()
    };
    for (i, (o, a)) in attempts.iter().enumerate() {
        let got = db
            .store
            .list_audit_events(&o.sid, &created, None, 100)
            .await
            .expect("audit");
        if i == w {
            assert_eq!(got.len(), 1);
            let bootstrap = Actor {
                sid: "bootstrap".into(),
                request_id: None,
            };
            assert_event(
                &got[0].1,
                Some(&o.sid),
                &bootstrap,
                actions::APP_CREATED,
                a.sid.as_str(),
                None,
                Some(json!({
                    "friendly_name": a.friendly_name,
                    "status": "active",
                    "policy": serde_json::to_value(&a.policy).unwrap(),
                    "access_token_ttl": a.access_token_ttl,
                })),
            );
            assert_secret_free(&got[0].1, &[a.secrets[0].hash.clone()]);
        } else {
            assert!(got.is_empty());
        }
    }
    let (apps, rev) = db.store.apps_since(0).await.expect("apps since");
    assert_eq!(apps, vec![attempts[w].1.clone()]);
    assert_eq!(rev, 1);
    let (o, a) = (org("late"), app(&OrgSid::random(), b"late"));
    assert!(!db.store.bootstrap(&o, &a).await.expect("bootstrap"));
}

pub(crate) async fn bootstrap_needs_a_store_without_orgs(db: &TestDb) {
    new_org(db, "made by hand").await;
    let o = org("bootstrap");
    let a = app(&o.sid, b"secret");
    assert!(!db.store.bootstrap(&o, &a).await.expect("bootstrap"));
    assert_eq!(db.store.org(&o.sid).await.expect("org"), None);
    assert_eq!(db.store.app(&a.sid).await.expect("app"), None);
    assert_eq!(db.store.revision(APPS_REVISION).await.expect("rev"), 0);
    assert!(!db.store.bootstrap(&o, &a).await.expect("bootstrap"));
    assert_eq!(
        db.count_events().await,
        1,
        "a refused bootstrap records nothing (the one event is the hand-made org's)"
    );
}

pub(crate) async fn signing_key_rotation_retires_or_revokes(db: &TestDb) {
    let o = new_org(db, "acme").await;
    let now = orgiam_domain::time_fmt::now();
    let k0 = signing_key(now - 40);
    db.store
        .init_keys(&keys(1).0, &k0)
        .await
        .expect("init keys");
    assert_revisions(db, 0, 1, 0).await;
    let cli = Actor::cli();
    let material = |k: &SigningKey| (k.kid.clone(), k.private_der.clone(), k.public_raw.clone());
    let listed = || {
        let store = Arc::clone(&db.store);
        async move { store.signing_keys().await.expect("keys") }
    };

    // Keep: the active key retires now and keeps verifying; the new one signs.
    let k1 = signing_key(now - 30);
    let m = mark(db, &o).await;
    db.store
        .rotate_signing_key(&k1, false, &cli)
        .await
        .expect("rotate");
    let after = orgiam_domain::time_fmt::now();
    let got = listed().await;
    assert_eq!(got.len(), 2);
    assert_eq!(material(&got[0]), material(&k1));
    assert_eq!(got[0].created_at, k1.created_at);
    assert_eq!(got[0].retired_at, None);
    assert_eq!(material(&got[1]), material(&k0));
    let k0_retired = got[1].retired_at.expect("k0 retired");
    assert!(m.at <= k0_retired && k0_retired <= after);
    assert_revisions(db, 0, 2, 0).await;
    let e = one_new_event(db, &o, &m).await;
    assert_event(
        &e,
        None,
        &cli,
        actions::KEY_ROTATED,
        k1.kid.as_str(),
        Some(json!({"signing_kids": [k0.kid.as_str()]})),
        Some(json!({"signing_kid": k1.kid.as_str(), "previous_keys": "retired"})),
    );
    assert_secret_free(&e, &[k0.private_der.clone(), k1.private_der.clone()]);

    // Again: an already retired key keeps its retirement time.
    let k2 = signing_key(now - 20);
    db.store
        .rotate_signing_key(&k2, false, &cli)
        .await
        .expect("rotate");
    let got = listed().await;
    let kids: Vec<&KeySid> = got.iter().map(|k| &k.kid).collect();
    assert_eq!(kids, vec![&k2.kid, &k1.kid, &k0.kid]);
    assert_eq!(got[0].retired_at, None);
    assert!(got[1].retired_at.is_some());
    assert_eq!(got[2].retired_at, Some(k0_retired));
    assert_revisions(db, 0, 3, 0).await;

    // Keys retired longer ago than the longest token lives are pruned; younger ones stay.
    db.set_key_retired_at(&k0.kid, now - MAX_TOKEN_TTL - 3600)
        .await;
    db.set_key_retired_at(&k1.kid, now - MAX_TOKEN_TTL + 3600)
        .await;
    let k3 = signing_key(now - 10);
    db.store
        .rotate_signing_key(&k3, false, &cli)
        .await
        .expect("rotate");
    let got = listed().await;
    let kids: Vec<&KeySid> = got.iter().map(|k| &k.kid).collect();
    assert_eq!(kids, vec![&k3.kid, &k2.kid, &k1.kid], "k0 pruned");
    assert_eq!(got[2].retired_at, Some(now - MAX_TOKEN_TTL + 3600));
    assert!(got[1].retired_at.is_some());
    assert_revisions(db, 0, 4, 0).await;

    // Revoke: every other key goes at once, retired or not.
    let k4 = signing_key(now);
    let actor = app_actor();
    let m = mark(db, &o).await;
    let mut all_kids: Vec<String> = listed().await.iter().map(|k| k.kid.to_string()).collect();
    all_kids.sort();
    db.store
        .rotate_signing_key(&k4, true, &actor)
        .await
        .expect("revoke");
    let got = listed().await;
    assert_eq!(got.len(), 1);
    assert_eq!(material(&got[0]), material(&k4));
    assert_eq!(got[0].retired_at, None);
    assert_revisions(db, 0, 5, 0).await;
    let e = one_new_event(db, &o, &m).await;
    assert_event(
        &e,
        None,
        &actor,
        actions::KEY_ROTATED,
        k4.kid.as_str(),
        Some(json!({"signing_kids": all_kids})),
        Some(json!({"signing_kid": k4.kid.as_str(), "previous_keys": "revoked"})),
    );

    // Racing rotations take turns: one key signs afterwards, and each event names the key
    // the one before it installed.
    let m = mark(db, &o).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&db.store);
        let k = signing_key(now + 1 + i);
        set.spawn(async move { store.rotate_signing_key(&k, false, &Actor::cli()).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("rotate");
    }
    let got = listed().await;
    assert_eq!(got.len(), 9);
    let active: Vec<&SigningKey> = got.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(active.len(), 1, "one signing key: {got:?}");
    assert_revisions(db, 0, 13, 0).await;
    let mut chain: Vec<AuditEvent> = all_events(db, &o)
        .await
        .into_iter()
        .filter(|(s, _)| *s > m.seq)
        .map(|(_, e)| e)
        .collect();
    chain.reverse();
    assert_eq!(chain.len(), 8);
    let mut previous = k4.kid.as_str().to_owned();
    for e in &chain {
        assert_eq!(e.before, Some(json!({"signing_kids": [previous]})), "{e:?}");
        previous = e.target.clone();
    }
    assert_eq!(previous, active[0].kid.as_str());
}

pub(crate) async fn reseal_rewrites_every_secret_value_at_once(db: &TestDb) {
    // Nothing to see on a store without keys.
    let seen = std::sync::Mutex::new(Vec::new());
    let n = db
        .store
        .reseal_keys(&|slot: &str, _: &[u8]| {
            seen.lock().unwrap().push(slot.to_owned());
            Ok(None)
        })
        .await
        .expect("reseal an empty store");
    assert_eq!(n, 0);
    assert!(seen.lock().unwrap().is_empty());

    let (k, first) = keys(1);
    db.store.init_keys(&k, &first).await.expect("init");
    let (_, second) = keys(2);
    db.store
        .rotate_signing_key(&second, false, &Actor::cli())
        .await
        .expect("rotate");
    let revs = db.store.revisions().await.expect("revisions");

    // Every value is offered once, under its slot; what `f` returns is stored.
    let n = db
        .store
        .reseal_keys(&|slot: &str, value: &[u8]| {
            seen.lock().unwrap().push(slot.to_owned());
            Ok(Some(
                [
                    b"sealed:".as_slice(),
                    slot.as_bytes(),
                    b":".as_slice(),
                    value,
                ]
                .concat(),
            ))
        })
        .await
        .expect("reseal");
    assert_eq!(n, 4);
    let mut slots = seen.lock().unwrap().clone();
    slots.sort();
    let mut expected = vec![
        key_slots::PAGE_KEY.to_owned(),
        key_slots::SECRET_KEY.to_owned(),
        key_slots::signing_key(first.kid.as_str()),
        key_slots::signing_key(second.kid.as_str()),
    ];
    expected.sort();
    assert_eq!(slots, expected);
    let wrapped = |slot: &str, v: &[u8]| {
        [b"sealed:".as_slice(), slot.as_bytes(), b":".as_slice(), v].concat()
    };
    let got = db.store.server_keys().await.expect("keys");
    assert_eq!(got.page_key, wrapped(key_slots::PAGE_KEY, &k.page_key));
    assert_eq!(
        got.secret_key,
        wrapped(key_slots::SECRET_KEY, &k.secret_key)
    );
    for key in db.store.signing_keys().await.expect("signing") {
        let original = if key.kid == first.kid {
            &first
        } else {
            &second
        };
        assert_eq!(
            key.private_der,
            wrapped(
                &key_slots::signing_key(key.kid.as_str()),
                &original.private_der
            )
        );
        assert_eq!(
            key.public_raw, original.public_raw,
            "public keys are left alone"
        );
    }
    assert_eq!(
        db.store.revisions().await.expect("revisions"),
        revs,
        "no revision moves: the keys are the same keys"
    );

    // `None` leaves a value; an error anywhere leaves every value as it was.
    let key_list = |keys: Vec<SigningKey>| -> Vec<(KeySid, Vec<u8>)> {
        keys.into_iter().map(|k| (k.kid, k.private_der)).collect()
    };
    let before = (
        db.store.server_keys().await.expect("keys").page_key,
        key_list(db.store.signing_keys().await.expect("keys")),
    );
    let n = db
        .store
        .reseal_keys(&|_: &str, _: &[u8]| Ok(None))
        .await
        .expect("reseal nothing");
    assert_eq!(n, 0);
    let failed = db
        .store
        .reseal_keys(&|slot: &str, value: &[u8]| {
            if slot.starts_with("signing_keys/") {
                Err(Error::internal("no"))
            } else {
                Ok(Some(value.iter().copied().rev().collect()))
            }
        })
        .await;
    assert!(failed.is_err());
    let after = (
        db.store.server_keys().await.expect("keys").page_key,
        key_list(db.store.signing_keys().await.expect("keys")),
    );
    assert_eq!(before, after, "a failed reseal changes nothing");
}

/// Revoked tokens: one event and one counter bump per new revocation, none for a repeat;
/// listed after a revision until they expire, then pruned by the next revocation.
pub(crate) async fn revoked_tokens_are_kept_until_they_expire(db: &TestDb) {
    let o = new_org(db, "revoker").await;
    let a = app(&o, &secret());
    db.store.create_app(&a, &Actor::cli()).await.unwrap();
    let now = orgiam_domain::time_fmt::now();
    assert_eq!(db.store.revision(REVOCATIONS_REVISION).await.unwrap(), 0);
    assert_eq!(db.store.revoked_since(0, now).await.unwrap(), (vec![], 0));
    let actor = app_actor();
    let t = RevokedToken {
        jti: random_body(),
        org: o.clone(),
        app: a.sid.clone(),
        expires_at: now + 600,
    };
    let m = mark(db, &o).await;
    assert!(db.store.revoke_token(&t, &actor).await.unwrap());
    let e = one_new_event(db, &o, &m).await;
    assert_event(
        &e,
        Some(&o),
        &actor,
        actions::TOKEN_REVOKED,
        a.sid.as_str(),
        None,
        Some(json!({"jti": t.jti, "expires_at": t.expires_at})),
    );
    let m = mark(db, &o).await;
    assert!(!db.store.revoke_token(&t, &actor).await.unwrap());
    assert_no_new_event(db, &m, "a second revocation of one token").await;
    assert_eq!(db.store.revision(REVOCATIONS_REVISION).await.unwrap(), 1);
    assert_eq!(
        db.store.revoked_since(0, now).await.unwrap(),
        (vec![t.clone()], 1)
    );
    assert_eq!(db.store.revoked_since(1, now).await.unwrap(), (vec![], 1));

    // An entry already past its expiry is not listed, and the next revocation prunes it.
    let old = RevokedToken {
        jti: random_body(),
        expires_at: now - 10,
        ..t.clone()
    };
    assert!(db.store.revoke_token(&old, &actor).await.unwrap());
    assert_eq!(
        db.store.revoked_since(0, now).await.unwrap(),
        (vec![t.clone()], 2)
    );
    let (listed, _) = db.store.revoked_since(0, now - 100).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let t3 = RevokedToken {
        jti: random_body(),
        ..t.clone()
    };
    assert!(db.store.revoke_token(&t3, &actor).await.unwrap());
    let (listed, rev) = db.store.revoked_since(0, now - 100).await.unwrap();
    assert_eq!(rev, 3);
    let jtis: BTreeSet<&str> = listed.iter().map(|r| r.jti.as_str()).collect();
    assert_eq!(jtis, BTreeSet::from([t.jti.as_str(), t3.jti.as_str()]));
}
