//! Role assignments, the directory, the preview twins, role permissions and isolation.

use std::collections::HashSet;

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::{Level, Role};
use orgiam_domain::sid::{AccountSid, OrgSid, UserSid};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, keys, spawn_app};

const V2: &str = "/v2/Organizations/RoleAssignments";

fn role_at(level: Level, typed: bool) -> Role {
    Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .find(|r| r.lowest_level == level && r.resource_types.is_some() == typed)
        .expect("a role of that kind")
}

struct Fixture {
    app: TestApp,
    token: String,
    user: UserSid,
    account: AccountSid,
    sub: AccountSid,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let token = app.token().await;
    let user = app.create_user(&app.org).await;
    let account = app.create_account(&app.org, None).await;
    let sub = app.create_account(&app.org, Some(&account)).await;
    Fixture {
        app,
        token,
        user,
        account,
        sub,
    }
}

impl Fixture {
    async fn create(&self, body: Value) -> crate::helpers::Reply {
        self.app
            .send(Method::POST, V2, &self.token, Some(body))
            .await
    }
    fn preview(&self, rest: &str) -> String {
        format!("/Organizations/{}/{rest}", self.app.org)
    }
}

#[tokio::test]
async fn create_list_and_delete_on_v2_and_preview() {
    let f = fixture().await;
    let role = role_at(Level::SubAccount, false);
    let r = f
        .create(json!({"role_sid": role.sid, "scope": f.sub, "identity": f.user}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        keys(&r.body),
        [
            "sid",
            "role_sid",
            "scope",
            "identity",
            "resource_type",
            "resource_id"
        ]
    );
    let sid = r.body["sid"].as_str().expect("sid").to_owned();
    assert!(sid.starts_with("IY") && sid.len() == 34);
    assert_eq!(r.body["resource_type"], Value::Null);

    // Listed on both twins, with filters.
    for path in [
        format!("{V2}?Identity={}", f.user),
        format!("{}?Scope={}", f.preview("RoleAssignments"), f.sub),
    ] {
        let l = f.app.get(&path, &f.token).await;
        assert_eq!(l.status, 200, "{}", l.body);
        assert_eq!(keys(&l.body), ["content", "meta"]);
        assert_eq!(l.body["meta"]["key"], "content");
        assert_eq!(l.body["content"], json!([r.body]));
        assert!(
            l.body["meta"]["url"]
                .as_str()
                .is_some_and(|u| u.contains(path.split('?').next().unwrap_or("")))
        );
    }
    assert_eq!(
        f.app
            .get(&format!("{V2}?Scope={}", f.account), &f.token)
            .await
            .body["content"],
        json!([])
    );

    // Preview create, then delete on both twins.
    let r2 = f
        .app
        .send(
            Method::POST,
            &f.preview("RoleAssignments"),
            &f.token,
            Some(json!({"role_sid": role.sid, "scope": f.account, "identity": f.user})),
        )
        .await;
    assert_eq!(r2.status, 201, "{}", r2.body);
    let d = f
        .app
        .send(Method::DELETE, &format!("{V2}/{sid}"), &f.token, None)
        .await;
    assert_eq!(d.status, 204);
    assert_eq!(d.body, Value::Null, "204 has an empty body");
    f.app
        .send(Method::DELETE, &format!("{V2}/{sid}"), &f.token, None)
        .await
        .assert_error(404, 20404, &sid);
    let sid2 = r2.body["sid"].as_str().expect("sid");
    assert_eq!(
        f.app
            .send(
                Method::DELETE,
                &f.preview(&format!("RoleAssignments/{sid2}")),
                &f.token,
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(f.app.get(V2, &f.token).await.body["content"], json!([]));
    f.app
        .send(Method::DELETE, &format!("{V2}/not-a-sid"), &f.token, None)
        .await
        .assert_error(400, 20001, "RoleAssignmentSid");
}

#[tokio::test]
async fn every_validation_rule_is_a_400_naming_the_field() {
    let f = fixture().await;
    let sub_role = role_at(Level::SubAccount, false);
    let org_role = role_at(Level::Organization, false);
    let acct_role = role_at(Level::Account, false);
    let typed = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .find(|r| r.friendly_name == "Billing Group Viewer")
        .expect("typed role");
    let other_org = f.app.create_org("B").await;
    let foreign_user = f.app.create_user(&other_org).await;
    let foreign_account = f.app.create_account(&other_org, None).await;
    let ok = |extra: Value| {
        let mut b = json!({"role_sid": sub_role.sid, "scope": f.app.org, "identity": f.user});
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({"scope": f.app.org, "identity": f.user}), "role_sid"),
        (ok(json!({"role_sid": "IXnope"})), "role_sid"),
        (ok(json!({"role_sid": 5})), "role_sid"),
        (
            ok(json!({"role_sid": "IX00000000000000000000000000000000"})),
            "role_sid",
        ),
        (ok(json!({"scope": null})), "scope"),
        (
            ok(json!({"scope": "US00000000000000000000000000000000"})),
            "scope",
        ),
        (ok(json!({"scope": other_org})), "scope"),
        (ok(json!({"scope": foreign_account})), "scope"),
        (
            ok(json!({"scope": "AC00000000000000000000000000000000"})),
            "scope",
        ),
        (ok(json!({"identity": "nobody"})), "identity"),
        (ok(json!({"identity": foreign_user})), "identity"),
        (
            ok(json!({"identity": "US00000000000000000000000000000000"})),
            "identity",
        ),
        (
            ok(json!({"role_sid": org_role.sid, "scope": f.account})),
            "scope",
        ),
        (
            ok(json!({"role_sid": acct_role.sid, "scope": f.sub})),
            "scope",
        ),
        (
            ok(json!({"resource_type": "billing_group", "resource_id": "BG1"})),
            "resource_type",
        ),
        (
            ok(json!({"role_sid": typed.sid, "resource_type": "billing_group"})),
            "resource_id",
        ),
        (
            ok(json!({"role_sid": typed.sid, "resource_id": "BG1"})),
            "resource_type",
        ),
        (
            ok(json!({"role_sid": typed.sid, "resource_type": "phone_number", "resource_id": "x"})),
            "resource_type",
        ),
    ];
    for (body, field) in cases {
        f.create(body.clone()).await.assert_error(400, 20001, field);
    }
    // Bodies that are not a JSON object.
    for raw in ["", "nope", "[]", "{\"role_sid\":"] {
        let r = f
            .app
            .http
            .post(format!("{}{V2}", f.app.base))
            .bearer_auth(&f.token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("POST");
        crate::helpers::Reply::from(r)
            .await
            .assert_error(400, 20001, "JSON");
    }
    let form = f
        .app
        .http
        .post(format!("{}{V2}", f.app.base))
        .bearer_auth(&f.token)
        .form(&[("role_sid", "x")])
        .send()
        .await
        .expect("POST");
    crate::helpers::Reply::from(form)
        .await
        .assert_error(400, 20001, "JSON");

    // The allowed combinations do work.
    for (role, scope) in [
        (&org_role, f.app.org.to_string()),
        (&acct_role, f.app.org.to_string()),
        (&acct_role, f.account.to_string()),
        (&sub_role, f.sub.to_string()),
    ] {
        let r = f
            .create(json!({"role_sid": role.sid, "scope": scope, "identity": f.user}))
            .await;
        assert_eq!(
            r.status, 201,
            "{} at {scope}: {}",
            role.friendly_name, r.body
        );
    }
    let r = f.create(json!({"role_sid": typed.sid, "scope": f.app.org, "identity": f.user, "resource_type": "billing_group", "resource_id": "BG1"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            r.body["resource_type"].as_str(),
            r.body["resource_id"].as_str()
        ),
        (Some("billing_group"), Some("BG1"))
    );
    let l = f
        .app
        .get(
            &format!("{V2}?ResourceType=billing_group&ResourceId=BG1"),
            &f.token,
        )
        .await;
    assert_eq!(l.body["content"].as_array().map(Vec::len), Some(1));
    // An identical assignment is a conflict.
    f.create(json!({"role_sid": typed.sid, "scope": f.app.org, "identity": f.user, "resource_type": "billing_group", "resource_id": "BG1"})).await.assert_error(409, 20409, "identical");
    // Bad list filters.
    f.app
        .get(&format!("{V2}?Identity=bad"), &f.token)
        .await
        .assert_error(400, 20001, "Identity");
    f.app
        .get(
            &format!("{V2}?Scope=US00000000000000000000000000000000"),
            &f.token,
        )
        .await
        .assert_error(400, 20001, "Scope");
    f.app
        .get(&format!("{V2}?PageSize=0"), &f.token)
        .await
        .assert_error(400, 20001, "PageSize");
    assert_eq!(
        f.app
            .get(&format!("{V2}?PageSize=500"), &f.token)
            .await
            .body["meta"]["page_size"],
        100
    );
}

#[tokio::test]
async fn at_most_25_builtin_assignments_per_user() {
    let f = fixture().await;
    let roles: Vec<Role> = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .filter(|r| r.resource_types.is_none())
        .collect();
    let mut created = Vec::new();
    for role in roles.iter().take(25) {
        let r = f
            .create(json!({"role_sid": role.sid, "scope": f.app.org, "identity": f.user}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        created.push(r.body["sid"].as_str().expect("sid").to_owned());
    }
    let extra = &roles[25];
    f.create(json!({"role_sid": extra.sid, "scope": f.app.org, "identity": f.user}))
        .await
        .assert_error(400, 20001, "identity");
    // Another user is unaffected; deleting one makes room.
    let other = f.app.create_user(&f.app.org).await;
    assert_eq!(
        f.create(json!({"role_sid": extra.sid, "scope": f.app.org, "identity": other}))
            .await
            .status,
        201
    );
    assert_eq!(
        f.app
            .send(
                Method::DELETE,
                &format!("{V2}/{}", created[0]),
                &f.token,
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(
        f.create(json!({"role_sid": extra.sid, "scope": f.app.org, "identity": f.user}))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn concurrent_identical_creates_yield_exactly_one_201() {
    let f = fixture().await;
    let role = role_at(Level::SubAccount, false);
    let body = json!({"role_sid": role.sid, "scope": f.account, "identity": f.user});
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (http, url, token, body) = (
            f.app.http.clone(),
            format!("{}{V2}", f.app.base),
            f.token.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("POST")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn permissions_are_enforced_per_endpoint() {
    let f = fixture().await;
    let list_only = f
        .app
        .token_with(&f.app.org, &["/twilio/iam/role-assignments/list"], &[])
        .await;
    let role = role_at(Level::SubAccount, false);
    let body = json!({"role_sid": role.sid, "scope": f.app.org, "identity": f.user});
    assert_eq!(f.app.get(V2, &list_only).await.status, 200);
    f.app
        .send(Method::POST, V2, &list_only, Some(body.clone()))
        .await
        .assert_error(403, 20003, "twilio/iam/role-assignments/create");
    f.app
        .send(
            Method::POST,
            &f.preview("RoleAssignments"),
            &list_only,
            Some(body.clone()),
        )
        .await
        .assert_error(403, 20003, "role-assignments/create");
    let created = f.create(body).await;
    let sid = created.body["sid"].as_str().expect("sid");
    f.app
        .send(Method::DELETE, &format!("{V2}/{sid}"), &list_only, None)
        .await
        .assert_error(403, 20003, "twilio/iam/role-assignments/delete");
    f.app
        .get(&f.preview("Accounts"), &list_only)
        .await
        .assert_error(403, 20003, "twilio/iam/accounts/list");
    let accounts_only = f
        .app
        .token_with(&f.app.org, &["/twilio/iam/accounts/list"], &[])
        .await;
    assert_eq!(
        f.app
            .get(&f.preview("Accounts"), &accounts_only)
            .await
            .status,
        200
    );
    f.app
        .get(V2, &accounts_only)
        .await
        .assert_error(403, 20003, "role-assignments/list");
}

#[tokio::test]
async fn accounts_list_and_fetch() {
    let f = fixture().await;
    let mut want: Vec<String> = vec![f.account.to_string(), f.sub.to_string()];
    for _ in 0..5 {
        want.push(f.app.create_account(&f.app.org, None).await.to_string());
    }
    want.sort();
    let mut got = Vec::new();
    let mut url = format!("{}{}?PageSize=3", f.app.base, f.preview("Accounts"));
    loop {
        let r = f.app.get_url(&url, &f.token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for a in r.body["content"].as_array().expect("content") {
            assert_eq!(
                keys(a),
                [
                    "account_sid",
                    "friendly_name",
                    "status",
                    "owner_sid",
                    "date_created"
                ]
            );
            got.push(a["account_sid"].as_str().expect("sid").to_owned());
        }
        match r.body["meta"]["next_page_url"].as_str() {
            Some(n) => url = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(got, want);
    let one = f
        .app
        .get(&f.preview(&format!("Accounts/{}", f.sub)), &f.token)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["account_sid"], f.sub.as_str());
    assert_eq!(one.body["status"], "active");
    assert_eq!(one.body["date_created"], "2023-11-14T22:13:20Z");
    f.app
        .get(
            &f.preview("Accounts/AC00000000000000000000000000000000"),
            &f.token,
        )
        .await
        .assert_error(404, 20404, "AC00000000000000000000000000000000");
    f.app
        .get(
            &f.preview("Accounts/US00000000000000000000000000000000"),
            &f.token,
        )
        .await
        .assert_error(400, 20001, "AccountSid");
    f.app
        .get("/Organizations/bad/Accounts", &f.token)
        .await
        .assert_error(400, 20001, "OrganizationSid");
}

#[tokio::test]
async fn role_permissions_match_expand_and_page() {
    let f = fixture().await;
    let owner = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .find(|r| r.friendly_name == "Owner")
        .expect("owner");
    let expanded = f
        .app
        .get(
            &format!("/v2/Organizations/Roles/{}?Expand=true", owner.sid),
            &f.token,
        )
        .await;
    let want: Vec<String> = expanded.body["permissions"]
        .as_array()
        .expect("perms")
        .iter()
        .map(|p| p["sid"].as_str().expect("sid").to_owned())
        .collect();
    assert!(want.len() > 100, "Owner grants many permissions");
    let mut got = Vec::new();
    let mut url = format!(
        "{}/v1/Roles/{}/Permissions?PageSize=100",
        f.app.base, owner.sid
    );
    let mut pages = 0;
    loop {
        let r = f.app.get_url(&url, &f.token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["meta"]["key"], "permissions");
        for p in r.body["permissions"].as_array().expect("permissions") {
            assert_eq!(
                keys(p),
                [
                    "sid",
                    "namespace",
                    "product",
                    "resource",
                    "action",
                    "externalDescription"
                ]
            );
            got.push(p["sid"].as_str().expect("sid").to_owned());
        }
        pages += 1;
        match r.body["meta"]["next_page_url"].as_str() {
            Some(n) => url = n.to_owned(),
            None => break,
        }
    }
    assert!(pages >= 2);
    assert_eq!(got, want);
    let r = f
        .app
        .get(
            &format!("/v1/Roles/{}/Permissions?PageSize=7", owner.sid),
            &f.token,
        )
        .await;
    let next = r.body["meta"]["next_page_url"].as_str().expect("next");
    let r2 = f.app.get_url(next, &f.token).await;
    let back = f
        .app
        .get_url(
            r2.body["meta"]["previous_page_url"].as_str().expect("prev"),
            &f.token,
        )
        .await;
    assert_eq!(back.body["permissions"], r.body["permissions"]);
    f.app
        .get(
            "/v1/Roles/IX00000000000000000000000000000000/Permissions",
            &f.token,
        )
        .await
        .assert_error(404, 20404, "IX00000000000000000000000000000000");
}

#[tokio::test]
async fn another_organization_can_never_see_or_touch_this_one() {
    let f = fixture().await;
    let role = role_at(Level::SubAccount, false);
    let created = f
        .create(json!({"role_sid": role.sid, "scope": f.account, "identity": f.user}))
        .await;
    let sid = created.body["sid"].as_str().expect("sid").to_owned();

    let org_b: OrgSid = f.app.create_org("B").await;
    let token_b = f.app.token_with(&org_b, &["/*"], &[]).await;
    // v2 endpoints are always the caller's own organization: nothing of A is visible.
    assert_eq!(f.app.get(V2, &token_b).await.body["content"], json!([]));
    assert_eq!(
        f.app
            .get(&format!("{V2}?Identity={}", f.user), &token_b)
            .await
            .body["content"],
        json!([])
    );
    f.app
        .send(Method::DELETE, &format!("{V2}/{sid}"), &token_b, None)
        .await
        .assert_error(404, 20404, &sid);
    f.app
        .send(
            Method::POST,
            V2,
            &token_b,
            Some(json!({"role_sid": role.sid, "scope": f.account, "identity": f.user})),
        )
        .await
        .assert_error(400, 20001, "scope");
    f.app
        .send(
            Method::POST,
            V2,
            &token_b,
            Some(json!({"role_sid": role.sid, "scope": org_b, "identity": f.user})),
        )
        .await
        .assert_error(400, 20001, "identity");
    // Preview paths naming A are 404 for B, whatever the method.
    for (method, path, body) in [
        (Method::GET, f.preview("RoleAssignments"), None),
        (
            Method::POST,
            f.preview("RoleAssignments"),
            Some(json!({"role_sid": role.sid, "scope": f.account, "identity": f.user})),
        ),
        (
            Method::DELETE,
            f.preview(&format!("RoleAssignments/{sid}")),
            None,
        ),
        (Method::GET, f.preview("Accounts"), None),
        (
            Method::GET,
            f.preview(&format!("Accounts/{}", f.account)),
            None,
        ),
    ] {
        f.app
            .send(method.clone(), &path, &token_b, body)
            .await
            .assert_error(404, 20404, f.app.org.as_str());
    }
    // B's own preview paths show none of A's accounts.
    assert_eq!(
        f.app
            .get(&format!("/Organizations/{org_b}/Accounts"), &token_b)
            .await
            .body["content"],
        json!([])
    );
    f.app
        .get(
            &format!("/Organizations/{org_b}/Accounts/{}", f.account),
            &token_b,
        )
        .await
        .assert_error(404, 20404, f.account.as_str());
    // And A's assignment is untouched.
    assert_eq!(
        f.app.get(V2, &f.token).await.body["content"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn paging_while_others_write_skips_and_repeats_nothing() {
    let f = fixture().await;
    let roles: Vec<Role> = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .filter(|r| r.lowest_level == Level::SubAccount && r.resource_types.is_none())
        .collect();
    // Stable rows: many users, each with a few assignments.
    let mut stable = HashSet::new();
    for _ in 0..12 {
        let user = f.app.create_user(&f.app.org).await;
        for role in roles.iter().take(5) {
            let r = f
                .create(json!({"role_sid": role.sid, "scope": f.sub, "identity": user}))
                .await;
            stable.insert(r.body["sid"].as_str().expect("sid").to_owned());
        }
    }
    let churn_user = f.app.create_user(&f.app.org).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (http, base, token, stop) = (
            f.app.http.clone(),
            f.app.base.clone(),
            f.token.clone(),
            stop.clone(),
        );
        let (role_sids, scope, user) = (
            roles.iter().map(|r| r.sid.to_string()).collect::<Vec<_>>(),
            f.sub.to_string(),
            churn_user.to_string(),
        );
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"role_sid": role_sids[i % role_sids.len()], "scope": scope, "identity": user});
                let r = http
                    .post(format!("{base}{V2}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("POST");
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if let Some(sid) = v["sid"].as_str() {
                    let _ = http
                        .delete(format!("{base}{V2}/{sid}"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                }
                i += 1;
            }
        })
    };
    for _ in 0..3 {
        let mut seen = Vec::new();
        let mut url = format!("{}{V2}?PageSize=4", f.app.base);
        loop {
            let r = f.app.get_url(&url, &f.token).await;
            assert_eq!(r.status, 200, "{}", r.body);
            for a in r.body["content"].as_array().expect("content") {
                seen.push(a["sid"].as_str().expect("sid").to_owned());
            }
            match r.body["meta"]["next_page_url"].as_str() {
                Some(n) => url = n.to_owned(),
                None => break,
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no row repeated");
        for s in &stable {
            assert!(unique.contains(s), "stable row {s} skipped");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.expect("writer");
}

#[tokio::test]
async fn twilio_nodes_camel_case_body_is_accepted() {
    let f = fixture().await;
    let typed = Catalog::builtin()
        .expect("catalog")
        .roles
        .into_iter()
        .find(|r| r.friendly_name == "Billing Group Viewer")
        .expect("typed role");
    let r = f.create(json!({"roleSid": typed.sid, "scope": f.app.org, "identity": f.user, "resourceType": "billing_group", "resourceId": "BG9"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["resource_id"], "BG9");
    f.create(json!({"roleSid": 7, "scope": f.app.org, "identity": f.user}))
        .await
        .assert_error(400, 20001, "role_sid");
}
