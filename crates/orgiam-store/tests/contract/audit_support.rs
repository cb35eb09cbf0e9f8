//! Audit-trail helpers: marks, the one new event, secret-free events, revisions.

use crate::prelude::*;

/// Random bytes standing for a secret hash or key material (the store never inspects them).
pub(crate) fn secret() -> Vec<u8> {
    format!("secret-{}", random_body()).into_bytes()
}

/// A signing key with random material; the store does not validate it.
pub(crate) fn signing_key(created_at: i64) -> SigningKey {
    SigningKey {
        kid: KeySid::random(),
        private_der: secret(),
        public_raw: random_body().into_bytes(),
        created_at,
        retired_at: None,
    }
}

/// An app acting with a request id, as the HTTP layer records it.
pub(crate) fn app_actor() -> Actor {
    Actor::app(&AppSid::random(), Some(format!("RQ{}", random_body())))
}

/// Feeds `import_roles` from a list; an `Err` entry is what the closure returns at that call.
pub(crate) fn batches(
    list: Vec<Result<Vec<Role>, Error>>,
) -> impl FnMut() -> Result<Option<Vec<Role>>, Error> + Send {
    let mut queue = VecDeque::from(list);
    move || queue.pop_front().transpose()
}

pub(crate) fn seq_cursor(direction: Direction, seq: i64) -> Cursor {
    Cursor {
        direction,
        key: vec![seq.to_string()],
    }
}

pub(crate) fn assert_newest_first(page: &[(i64, AuditEvent)]) {
    assert!(
        page.windows(2).all(|w| w[0].0 > w[1].0),
        "newest first: {:?}",
        page.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
}

/// Every event `org` sees, newest first.
/// The operator's view of `org`'s trail: its events and the install-wide ones.
pub(crate) async fn all_events(db: &TestDb, org: &OrgSid) -> Vec<(i64, AuditEvent)> {
    let got = db
        .store
        .list_audit_events(
            org,
            &AuditFilter {
                install_wide: true,
                ..AuditFilter::default()
            },
            None,
            100_000,
        )
        .await
        .expect("list audit events");
    assert_newest_first(&got);
    got
}

/// Where the trail stood before a change.
pub(crate) struct Mark {
    pub(crate) seq: i64,
    pub(crate) total: i64,
    pub(crate) at: i64,
}

pub(crate) async fn mark(db: &TestDb, org: &OrgSid) -> Mark {
    Mark {
        seq: all_events(db, org).await.first().map_or(0, |(s, _)| *s),
        total: db.count_events().await,
        at: orgiam_domain::time_fmt::now(),
    }
}

/// The one event the change since `m` wrote (visible to `org`), stamped during the change.
pub(crate) async fn one_new_event(db: &TestDb, org: &OrgSid, m: &Mark) -> AuditEvent {
    assert_eq!(
        db.count_events().await,
        m.total + 1,
        "one change, one event"
    );
    let mut new: Vec<(i64, AuditEvent)> = all_events(db, org)
        .await
        .into_iter()
        .filter(|(s, _)| *s > m.seq)
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let (_, e) = new.pop().expect("one event");
    let now = orgiam_domain::time_fmt::now();
    assert!(
        m.at <= e.date_created && e.date_created <= now,
        "stamped during the change: {} not in [{}, {now}]",
        e.date_created,
        m.at
    );
    e
}

pub(crate) async fn assert_no_new_event(db: &TestDb, m: &Mark, what: &str) {
    assert_eq!(db.count_events().await, m.total, "{what} wrote an event");
}

pub(crate) fn assert_event(
    e: &AuditEvent,
    org: Option<&OrgSid>,
    actor: &Actor,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    assert!(
        e.sid.as_str().starts_with("AE") && e.sid.as_str().len() == 34,
        "{e:?}"
    );
    assert_eq!(e.org.as_ref(), org, "org of {e:?}");
    assert_eq!(e.actor, actor.sid, "actor of {e:?}");
    assert_eq!(e.request_id, actor.request_id, "request id of {e:?}");
    assert_eq!(e.action, action, "action of {e:?}");
    assert_eq!(e.target, target, "target of {e:?}");
    assert_eq!(e.before, before, "before of {e:?}");
    assert_eq!(e.after, after, "after of {e:?}");
}

pub(crate) fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// Neither a secret hash nor key material shows up in an event, in any usual encoding, and no
/// field is named like one.
pub(crate) fn assert_secret_free(e: &AuditEvent, secrets: &[Vec<u8>]) {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    fn keys_of(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.clone());
                    keys_of(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| keys_of(v, out)),
            _ => {}
        }
    }
    let mut text = format!("{e:?}");
    let mut names = Vec::new();
    for v in [&e.before, &e.after].into_iter().flatten() {
        text.push_str(&v.to_string());
        keys_of(v, &mut names);
    }
    for name in &names {
        assert!(
            ![
                "hash",
                "secret",
                "secrets",
                "private_der",
                "private_key",
                "client_secret"
            ]
            .contains(&name.as_str()),
            "field {name} in {e:?}"
        );
    }
    for s in secrets {
        let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
        let forms = [
            String::from_utf8_lossy(s).into_owned(),
            hex.clone(),
            hex.to_uppercase(),
            base64(s, STD, true),
            base64(s, STD, false),
            base64(s, URL, false),
            serde_json::to_string(s).unwrap(),
            format!("{s:?}"),
        ];
        for f in forms {
            assert!(!text.contains(&f), "{f} in {text}");
        }
    }
}

/// `revisions()` holds the named counters with these values and agrees with `revision`.
pub(crate) async fn assert_revisions(db: &TestDb, apps: i64, keys: i64, roles: i64) {
    let all = db.store.revisions().await.expect("revisions");
    for (name, want) in [
        (APPS_REVISION, apps),
        (KEYS_REVISION, keys),
        (ROLES_REVISION, roles),
    ] {
        assert_eq!(all.get(name), Some(&want), "{name} in {all:?}");
    }
    for (name, value) in &all {
        assert_eq!(
            db.store.revision(name).await.expect("revision"),
            *value,
            "{name}"
        );
    }
}
