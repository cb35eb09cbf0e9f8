//! Fixtures written once for both engines, and the listings' semantics restated.

use crate::prelude::*;

pub(crate) const T0: i64 = 1_700_000_000;

pub(crate) fn org(name: &str) -> Org {
    Org {
        sid: OrgSid::random(),
        friendly_name: name.to_owned(),
        date_created: T0,
    }
}

pub(crate) fn policy(allow: &[&str]) -> Policy {
    Policy {
        allow: allow.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
        deny: None,
    }
}

pub(crate) fn app(org: &OrgSid, hash: &[u8]) -> App {
    App {
        sid: AppSid::random(),
        org: org.clone(),
        friendly_name: "ci".into(),
        description: "the CI pipeline".into(),
        status: AppStatus::Active,
        policy: Policy {
            allow: vec![Pattern::parse("/twilio/iam/*").unwrap()],
            deny: Some(vec![
                Pattern::parse("/twilio/iam/role-assignments/delete").unwrap(),
            ]),
        },
        access_token_ttl: 3600,
        date_created: T0,
        date_updated: T0,
        tokens_valid_after: 0,
        secrets: vec![SecretRecord {
            hash: hash.to_vec(),
            expires_at: None,
        }],
        audiences: Vec::new(),
    }
}

pub(crate) fn keys(i: u8) -> (ServerKeys, SigningKey) {
    (
        ServerKeys {
            page_key: vec![i; 32],
            secret_key: vec![i.wrapping_add(100); 32],
        },
        SigningKey {
            kid: KeySid::random(),
            private_der: vec![i; 48],
            public_raw: vec![i; 32],
            created_at: T0 + i64::from(i),
            retired_at: None,
        },
    )
}

pub(crate) async fn new_org(db: &TestDb, name: &str) -> OrgSid {
    let o = org(name);
    db.store
        .create_org(&o, &Actor::cli())
        .await
        .expect("create org");
    o.sid
}

pub(crate) fn user(org: &OrgSid, email: &str) -> User {
    User {
        sid: UserSid::random(),
        org: org.clone(),
        email: email.to_owned(),
        friendly_name: email.to_owned(),
        date_created: T0,
    }
}

pub(crate) async fn new_user(db: &TestDb, org: &OrgSid, email: &str) -> UserSid {
    let u = user(org, email);
    db.store
        .create_user(&u, &Actor::cli())
        .await
        .expect("create user");
    u.sid
}

pub(crate) fn account(
    org: &OrgSid,
    parent: Option<&AccountSid>,
    owner: Option<&UserSid>,
) -> Account {
    Account {
        sid: AccountSid::random(),
        org: org.clone(),
        parent: parent.cloned(),
        friendly_name: "acct".into(),
        status: "active".into(),
        owner: owner.cloned(),
        date_created: T0,
    }
}

pub(crate) fn assignment(
    org: &OrgSid,
    role: &RoleSid,
    scope: &str,
    identity: &UserSid,
) -> Assignment {
    Assignment {
        sid: AssignmentSid::random(),
        org: org.clone(),
        role: role.clone(),
        scope: scope.to_owned(),
        identity: identity.clone(),
        resource_type: None,
        resource_id: None,
        date_created: T0,
    }
}

pub(crate) fn builtin_roles() -> Vec<Role> {
    Catalog::builtin().expect("the built-in catalog").roles
}

pub(crate) fn custom_role(org: &OrgSid, name: &str, group: &str, types: Option<&[&str]>) -> Role {
    Role {
        sid: RoleSid::derived(&format!("{org}/{name}")),
        org: Some(org.clone()),
        friendly_name: name.to_owned(),
        external_description: format!("{name}, made by the organization"),
        product_group: group.to_owned(),
        product_group_name: group.to_uppercase(),
        lowest_level: Level::SubAccount,
        policy: policy(&["/twilio/iam/role-assignments/list", "/twilio/voice/*"]),
        resource_types: types.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        date_created: T0,
        date_updated: T0 + 60,
    }
}

/// Custom roles whose names exercise byte-wise order, case, ties and LIKE metacharacters.
pub(crate) fn tricky_roles(org: &OrgSid) -> Vec<Role> {
    let account: &[&str] = &["account"];
    let both: &[&str] = &["subaccount", "account"];
    let domain: &[&str] = &["domain"];
    let none: &[&str] = &[];
    [
        ("Alpha", "custom-a", Some(account)),
        ("alpha", "custom-a", None),
        ("ALPHA helper", "custom-b", Some(both)),
        ("Zeta", "custom-a", Some(domain)),
        ("Émile Admin", "custom-b", Some(account)),
        ("émile viewer", "custom-b", None),
        ("Ångström", "custom-a", Some(none)),
        ("100% Admin", "custom-a", None),
        ("100 percent", "custom-a", Some(domain)),
        ("under_score", "custom-b", None),
        ("underXscore", "custom-b", Some(account)),
        ("back\\slash", "custom-a", None),
        ("backslash", "custom-a", Some(both)),
        ("a-b", "custom-b", None),
        ("ab", "custom-b", None),
        ("a b", "custom-b", None),
        ("AB", "custom-b", Some(domain)),
        ("ß sharp", "custom-a", None),
        ("_leading", "custom-a", None),
        ("zz top", "custom-a", None),
    ]
    .into_iter()
    .map(|(name, group, types)| custom_role(org, name, group, types))
    .collect()
}

pub(crate) fn key_of(r: &Role) -> (String, String) {
    (Role::name_key(&r.friendly_name), r.sid.as_str().to_owned())
}

pub(crate) fn sorted(mut roles: Vec<Role>) -> Vec<Role> {
    roles.sort_by_key(key_of);
    roles
}

/// The listing's semantics, restated: a lower-cased search is a substring of the lower-cased
/// name or a prefix of the lower-cased SID; the group is exact; resource types are "any of".
pub(crate) fn role_matches(r: &Role, f: &RoleFilter) -> bool {
    let search = f.search.as_ref().is_none_or(|s| {
        Role::name_key(&r.friendly_name).contains(s.as_str())
            || r.sid.as_str().to_lowercase().starts_with(s.as_str())
    });
    let group = f
        .product_group
        .as_ref()
        .is_none_or(|g| &r.product_group == g);
    let types = f.resource_types.as_ref().is_none_or(|want| {
        r.resource_types
            .as_ref()
            .is_some_and(|have| have.iter().any(|t| want.contains(t)))
    });
    search && group && types
}

pub(crate) fn expected_roles(all: &[Role], f: &RoleFilter) -> Vec<Role> {
    sorted(all.iter().filter(|r| role_matches(r, f)).cloned().collect())
}

pub(crate) fn role_cursor(direction: Direction, r: &Role) -> Cursor {
    let (name_key, sid) = key_of(r);
    Cursor {
        direction,
        key: vec![name_key, sid],
    }
}

pub(crate) fn sid_cursor(direction: Direction, sid: &str) -> Cursor {
    Cursor {
        direction,
        key: vec![sid.to_owned()],
    }
}

pub(crate) fn search(s: &str) -> RoleFilter {
    RoleFilter {
        search: orgiam_domain::model::Search::new(s),
        ..RoleFilter::default()
    }
}

pub(crate) fn group(g: &str) -> RoleFilter {
    RoleFilter {
        product_group: Some(g.to_owned()),
        ..RoleFilter::default()
    }
}

pub(crate) fn types(t: &[&str]) -> RoleFilter {
    RoleFilter {
        resource_types: Some(t.iter().map(|s| (*s).to_owned()).collect()),
        ..RoleFilter::default()
    }
}

/// Filters worth asking about the tricky fixture (all lower-cased, as the trait expects).
pub(crate) fn role_filters(sample: &Role) -> Vec<RoleFilter> {
    let sid = sample.sid.as_str().to_lowercase();
    vec![
        RoleFilter::default(),
        search(""),
        search("alpha"),
        search("a"),
        search("admin"),
        search("%"),
        search("100%"),
        search("0% a"),
        search("_"),
        search("r_s"),
        search("\\"),
        search("k\\s"),
        search("é"),
        search("émile"),
        search("ß"),
        search("ix"),
        search(&sid[..6]),
        search(&sid),
        search(&format!("{sid}0")),
        search("no such role"),
        // Every trigram covering it is in "under_score", but it is not a substring of it.
        search("undscore"),
        group("custom-a"),
        group("custom-b"),
        group("billing"),
        group("nope"),
        types(&["account"]),
        types(&["domain", "subaccount"]),
        types(&["billing_group"]),
        types(&["nope"]),
        types(&[]),
        RoleFilter {
            search: orgiam_domain::model::Search::new("a"),
            product_group: Some("custom-b".into()),
            resource_types: Some(vec!["account".into(), "domain".into()]),
        },
        RoleFilter {
            search: orgiam_domain::model::Search::new("admin"),
            product_group: Some("billing".into()),
            resource_types: None,
        },
    ]
}

/// Seeds the catalog and the tricky custom roles of `org`; returns every role `org` sees.
pub(crate) async fn role_fixture(db: &TestDb, org: &OrgSid) -> Vec<Role> {
    let builtin = builtin_roles();
    db.store.sync_builtin_roles(&builtin).await.expect("sync");
    let custom = tricky_roles(org);
    for r in &custom {
        db.insert_custom_role(r).await;
    }
    builtin.into_iter().chain(custom).collect()
}

/// Walks forward from the start, page by page.
pub(crate) async fn walk_roles_forward(
    store: &dyn Store,
    org: &OrgSid,
    f: &RoleFilter,
    size: u32,
) -> Vec<Role> {
    let mut out: Vec<Role> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .list_roles(org, f, cursor.as_ref(), size)
            .await
            .expect("list roles");
        assert!(page.len() <= size as usize);
        assert_eq!(page, sorted(page.clone()), "a page is ascending");
        let Some(last) = page.last() else { break };
        cursor = Some(role_cursor(Direction::Next, last));
        let short = page.len() < size as usize;
        out.extend(page);
        if short {
            break;
        }
        assert!(out.len() < 10_000, "paging does not end");
    }
    out
}

/// Walks backward from after the last row (the end found with one call), page by page.
pub(crate) async fn walk_roles_backward(
    store: &dyn Store,
    org: &OrgSid,
    f: &RoleFilter,
    size: u32,
) -> Vec<Role> {
    let all = store
        .list_roles(org, f, None, 100_000)
        .await
        .expect("list roles");
    let Some(last) = all.last().cloned() else {
        return Vec::new();
    };
    let mut pages: Vec<Vec<Role>> = vec![vec![last.clone()]];
    let mut cursor = role_cursor(Direction::Previous, &last);
    loop {
        let page = store
            .list_roles(org, f, Some(&cursor), size)
            .await
            .expect("list roles");
        assert!(page.len() <= size as usize);
        assert_eq!(
            page,
            sorted(page.clone()),
            "a previous page is ascending too"
        );
        let Some(first) = page.first() else { break };
        cursor = role_cursor(Direction::Previous, first);
        let short = page.len() < size as usize;
        pages.push(page);
        if short {
            break;
        }
        assert!(pages.len() < 10_000, "paging does not end");
    }
    pages.into_iter().rev().flatten().collect()
}

pub(crate) fn is_conflict<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Conflict(_)))
}

pub(crate) fn is_bad_request<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::BadRequest(_)))
}

pub(crate) fn secret_set(app: &App) -> BTreeSet<(Vec<u8>, Option<i64>)> {
    app.secrets
        .iter()
        .map(|s| (s.hash.clone(), s.expires_at))
        .collect()
}

pub(crate) fn by_sid(mut apps: Vec<App>) -> Vec<App> {
    apps.sort_by(|a, b| a.sid.cmp(&b.sid));
    apps
}

/// A page of assignments, read both ways: as models (`list_assignments`) and rendered as they
/// are read (`render_assignments`); the two must agree, row for row, in the same order.
pub(crate) async fn assignments_page(
    db: &TestDb,
    org: &OrgSid,
    f: &AssignmentFilter,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Vec<Assignment> {
    use orgiam_domain::rendered::AssignmentColumns;
    fn render(a: &AssignmentColumns<'_>, out: &mut Vec<u8>) -> orgiam_domain::Result<()> {
        let v = json!([
            a.sid,
            a.role,
            a.scope,
            a.identity,
            a.resource_type,
            a.resource_id
        ]);
        out.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }
    let listed = db
        .store
        .list_assignments(org, f, cursor, limit)
        .await
        .expect("list");
    let rendered = db
        .store
        .render_assignments(org, f, cursor, limit, render)
        .await
        .expect("render");
    let want: Vec<(String, Value)> = listed
        .iter()
        .map(|a| {
            let v = json!([
                a.sid,
                a.role,
                a.scope,
                a.identity,
                a.resource_type,
                a.resource_id
            ]);
            (a.sid.to_string(), v)
        })
        .collect();
    assert_eq!(
        rendered_rows(&rendered),
        want,
        "rendered {f:?} from {cursor:?}"
    );
    listed
}

/// A page of accounts, read both ways (see [`assignments_page`]).
pub(crate) async fn accounts_page(
    db: &TestDb,
    org: &OrgSid,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Vec<Account> {
    use orgiam_domain::rendered::AccountColumns;
    fn render(a: &AccountColumns<'_>, out: &mut Vec<u8>) -> orgiam_domain::Result<()> {
        let v = json!([a.sid, a.friendly_name, a.status, a.owner, a.date_created]);
        out.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }
    let listed = db
        .store
        .list_accounts(org, cursor, limit)
        .await
        .expect("list");
    let rendered = db
        .store
        .render_accounts(org, cursor, limit, render)
        .await
        .expect("render");
    let want: Vec<(String, Value)> = listed
        .iter()
        .map(|a| {
            let v = json!([a.sid, a.friendly_name, a.status, a.owner, a.date_created]);
            (a.sid.to_string(), v)
        })
        .collect();
    assert_eq!(rendered_rows(&rendered), want, "rendered from {cursor:?}");
    listed
}

/// Each rendered row's SID and JSON.
fn rendered_rows(r: &orgiam_domain::rendered::RenderedRows) -> Vec<(String, Value)> {
    r.rows
        .iter()
        .map(|row| {
            let v = serde_json::from_slice(r.json_of(row)).expect("a row's JSON");
            (row.key.clone(), v)
        })
        .collect()
}
