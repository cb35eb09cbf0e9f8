//! Effective permissions: `PermissionChecks`, `EffectivePermissions`, `PermissionHolders`,
//! `orgiam check`, inactive users, bad input, and freshness across replicas.

use std::time::Duration;

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::{Actor, Level, Role};
use orgiam_domain::policy::Permission;
use orgiam_domain::sid::{AccountSid, UserSid};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, fresh_database, keys, printed_credentials, serve, spawn_app};

mod freshness;

const CHECKS: &str = "/v2/Organizations/PermissionChecks";

/// A built-in role assignable anywhere, without resource types, whose policy has a deny; a
/// permission it grants and one its deny removes.
fn role_with_deny() -> (Role, Permission, Permission) {
    let c = Catalog::builtin().expect("catalog");
    for r in &c.roles {
        if r.lowest_level != Level::SubAccount || r.resource_types.is_some() {
            continue;
        }
        let Some(deny) = &r.policy.deny else { continue };
        let granted = c.expand(&r.policy).into_iter().next();
        let removed = c.permissions.iter().find(|p| {
            r.policy.allow.iter().any(|a| a.matches(&p.permission))
                && deny.iter().any(|d| d.matches(&p.permission))
        });
        if let (Some(g), Some(d)) = (granted, removed) {
            return (r.clone(), g.permission, d.permission.clone());
        }
    }
    panic!("the catalog has a sub-account role with a deny")
}

struct Fixture {
    app: TestApp,
    token: String,
    user: UserSid,
    account: AccountSid,
    sub: AccountSid,
    role: Role,
    granted: Permission,
    removed: Permission,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let token = app.token().await;
    let user = app.create_user(&app.org).await;
    let account = app.create_account(&app.org, None).await;
    let sub = app.create_account(&app.org, Some(&account)).await;
    let (role, granted, removed) = role_with_deny();
    Fixture {
        app,
        token,
        user,
        account,
        sub,
        role,
        granted,
        removed,
    }
}

impl Fixture {
    async fn checks(&self, body: Value) -> Reply {
        self.app
            .send(Method::POST, CHECKS, &self.token, Some(body))
            .await
    }

    async fn one(&self, identity: &str, permission: &str, scope: &str, explain: bool) -> Value {
        let r = self
            .checks(json!({"checks": [{"identity": identity, "permission": permission, "scope": scope}], "explain": explain}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["results"][0].clone()
    }

    async fn assign(&self, scope: &str) -> String {
        let r = self
            .app
            .send(
                Method::POST,
                "/v2/Organizations/RoleAssignments",
                &self.token,
                Some(json!({"role_sid": self.role.sid, "scope": scope, "identity": self.user})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["sid"].as_str().expect("sid").to_owned()
    }
}

#[tokio::test]
async fn checks_follow_scope_inheritance_denies_and_explain() {
    let f = fixture().await;
    let (user, granted) = (f.user.to_string(), f.granted.to_string());
    // Nothing assigned yet.
    let r = f.one(&user, &granted, f.sub.as_str(), false).await;
    assert_eq!(r, json!({"allowed": false, "reason": "no_assignment"}));

    let sid = f.assign(f.account.as_str()).await;
    // The account's assignment applies to the account and its subaccount, not above.
    for (scope, allowed) in [
        (f.account.as_str(), true),
        (f.sub.as_str(), true),
        (f.app.org.as_str(), false),
    ] {
        let r = f.one(&user, &granted, scope, false).await;
        assert_eq!(r["allowed"], allowed, "{scope}: {r}");
    }

    // Explained: the grant, with its pattern; a denial names the nearest grant.
    let r = f.one(&user, &granted, f.sub.as_str(), true).await;
    assert_eq!(
        keys(&r),
        ["allowed", "reason", "grants", "denials", "nearest_grant"]
    );
    assert_eq!(r["reason"], "granted");
    assert_eq!(r["grants"][0]["assignment_sid"], sid.as_str());
    assert_eq!(r["grants"][0]["role_sid"], f.role.sid.as_str());
    assert_eq!(r["grants"][0]["scope"], f.account.as_str());
    assert!(
        r["grants"][0]["pattern"]
            .as_str()
            .is_some_and(|p| p.starts_with('/'))
    );
    let r = f.one(&user, &granted, f.app.org.as_str(), true).await;
    assert_eq!(r["reason"], "no_assignment");
    assert_eq!(r["nearest_grant"]["assignment_sid"], sid.as_str());
    assert_eq!(r["nearest_grant"]["scope"], f.account.as_str());

    // What the role's deny removes.
    let r = f.one(&user, f.removed.as_str(), f.sub.as_str(), true).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["reason"], "denied_by_role");
    assert_eq!(r["denials"][0]["assignment_sid"], sid.as_str());
    assert_eq!(r["nearest_grant"], Value::Null);

    // Acknowledged changes are seen at once: delete, then check.
    let del = f
        .app
        .send(
            Method::DELETE,
            &format!("/v2/Organizations/RoleAssignments/{sid}"),
            &f.token,
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    let r = f.one(&user, &granted, f.sub.as_str(), false).await;
    assert_eq!(r["reason"], "no_assignment");
}

#[tokio::test]
async fn unknown_inactive_and_foreign_are_reasons_in_request_order() {
    let f = fixture().await;
    f.assign(f.app.org.as_str()).await;
    let other_org = f.app.create_org("other").await;
    let foreign_account = f.app.create_account(&other_org, None).await;
    let stranger = f.app.create_user(&other_org).await;
    let (user, granted) = (f.user.to_string(), f.granted.to_string());
    let check = |identity: &str, scope: &str| json!({"identity": identity, "permission": granted, "scope": scope});
    let body = json!({"checks": [
        check(&user, f.sub.as_str()),
        check(stranger.as_str(), f.sub.as_str()),
        check(&user, foreign_account.as_str()),
        check(&user, other_org.as_str()),
        check(&user, AccountSid::random().as_str()),
        check(&user, f.sub.as_str()),
    ]});
    let r = f.checks(body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let reasons: Vec<&str> = r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| x["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(
        reasons,
        [
            "granted",
            "unknown_identity",
            "scope_outside_organization",
            "scope_outside_organization",
            "scope_outside_organization",
            "granted"
        ]
    );

    // An inactive user may do nothing; active again, the assignments apply again.
    let before = f
        .app
        .store
        .access()
        .set_user_active(&f.app.org, &f.user, false, &Actor::cli())
        .await
        .expect("deactivate");
    assert_eq!(before, Some(true));
    let r = f.one(&user, &granted, f.sub.as_str(), true).await;
    assert_eq!(r["reason"], "inactive_user");
    assert_eq!(r["allowed"], false);
    let holders = f
        .app
        .get(
            &format!(
                "/v2/Organizations/PermissionHolders?Permission={granted}&Scope={}",
                f.app.org
            ),
            &f.token,
        )
        .await;
    assert_eq!(holders.body["holders"], json!([]), "{}", holders.body);
    f.app
        .store
        .access()
        .set_user_active(&f.app.org, &f.user, true, &Actor::cli())
        .await
        .expect("activate");
    let r = f.one(&user, &granted, f.sub.as_str(), false).await;
    assert_eq!(r["reason"], "granted");
    // Both changes are in the audit trail.
    let events = f
        .app
        .get(
            &format!("/v2/Organizations/AuditEvents?Target={}", f.user),
            &f.token,
        )
        .await;
    let actions: Vec<&str> = events.body["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"user.deactivated"), "{actions:?}");
    assert!(actions.contains(&"user.activated"), "{actions:?}");
}

#[tokio::test]
async fn bad_batches_are_400s_naming_the_field() {
    let f = fixture().await;
    let (user, granted, sub) = (f.user.to_string(), f.granted.to_string(), f.sub.to_string());
    let good = json!({"identity": user, "permission": granted, "scope": sub});
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "checks"),
        (json!({"checks": []}), "checks"),
        (json!({"checks": "x"}), "checks"),
        (json!({"checks": [good, 5]}), "checks[1]"),
        (
            json!({"checks": [{"permission": granted, "scope": sub}]}),
            "checks[0].identity",
        ),
        (
            json!({"checks": [{"identity": "US123", "permission": granted, "scope": sub}]}),
            "checks[0].identity",
        ),
        (
            json!({"checks": [{"identity": user, "permission": "/twilio/*/x/y", "scope": sub}]}),
            "checks[0].permission",
        ),
        (
            json!({"checks": [{"identity": user, "permission": "twilio", "scope": sub}]}),
            "checks[0].permission",
        ),
        (
            json!({"checks": [{"identity": user, "permission": granted, "scope": "US123"}]}),
            "checks[0].scope",
        ),
        (
            json!({"checks": [{"identity": user, "permission": granted, "scope": sub, "resource_id": "x"}]}),
            "checks[0].resource_type",
        ),
        (json!({"checks": [good], "explain": "yes"}), "explain"),
        (
            json!({"checks": [{"identity": user, "permission": format!("{granted}\u{0}"), "scope": sub}]}),
            "permission",
        ),
        (
            json!({"checks": [{"identity": user, "permission": granted, "scope": sub, "resource_type": "a\u{1}", "resource_id": "x"}]}),
            "resource_type",
        ),
    ];
    for (body, needle) in cases {
        let r = f.checks(body.clone()).await;
        r.assert_error(400, 20001, needle);
    }
    let over: Vec<Value> = (0..1001).map(|_| good.clone()).collect();
    f.checks(json!({"checks": over}))
        .await
        .assert_error(400, 20001, "1000");
    // A full batch, duplicates and all, is answered in order.
    f.assign(sub.as_str()).await;
    let full: Vec<Value> = (0..1000).map(|_| good.clone()).collect();
    let r = f.checks(json!({"checks": full, "explain": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(|x| x["allowed"] == true));
    // An app without the permission is refused, naming it.
    let weak = f
        .app
        .token_with(&f.app.org, &["/twilio/iam/role-assignments/list"], &[])
        .await;
    let r = f
        .app
        .send(Method::POST, CHECKS, &weak, Some(json!({"checks": [good]})))
        .await;
    r.assert_error(403, 20003, "twilio/iam/permission-checks/create");
}

#[tokio::test]
async fn effective_permissions_and_holders_page_and_refuse_bad_input() {
    let f = fixture().await;
    let sid = f.assign(f.account.as_str()).await;
    let second = f.app.create_user(&f.app.org).await;
    let c = Catalog::builtin().expect("catalog");
    let expected: Vec<String> = c
        .expand(&f.role.policy)
        .into_iter()
        .map(|p| p.permission.to_string())
        .collect();
    // Every page of the user's permissions at the subaccount, following next_page_url.
    let mut url = format!(
        "{}/v2/Organizations/EffectivePermissions?Identity={}&Scope={}&PageSize=7",
        f.app.base, f.user, f.sub
    );
    let mut got: Vec<String> = Vec::new();
    loop {
        let r = f.app.get_url(&url, &f.token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["meta"]["key"], "permissions");
        for p in r.body["permissions"].as_array().expect("permissions") {
            assert_eq!(keys(p), ["sid", "permission", "grants"]);
            assert_eq!(p["grants"][0]["assignment_sid"], sid.as_str());
            got.push(p["permission"].as_str().expect("permission").to_owned());
        }
        match r.body["meta"]["next_page_url"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(got, expected);
    // Above the assignment's scope: nothing.
    let r = f
        .app
        .get(
            &format!(
                "/v2/Organizations/EffectivePermissions?Identity={}&Scope={}",
                f.user, f.app.org
            ),
            &f.token,
        )
        .await;
    assert_eq!(r.body["permissions"], json!([]));

    // Holders: the user at the subaccount, nobody at the organization.
    let holders = |scope: String| {
        let (app, token, p) = (&f.app, &f.token, f.granted.to_string());
        async move {
            app.get(
                &format!("/v2/Organizations/PermissionHolders?Permission={p}&Scope={scope}"),
                token,
            )
            .await
        }
    };
    let r = holders(f.sub.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["meta"]["key"], "holders");
    assert_eq!(r.body["holders"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["holders"][0]["identity"], f.user.as_str());
    assert_eq!(
        r.body["holders"][0]["grants"][0]["assignment_sid"],
        sid.as_str()
    );
    assert_eq!(
        holders(f.app.org.to_string()).await.body["holders"],
        json!([])
    );
    // Two holders, one per page.
    let r2 = f
        .app
        .send(
            Method::POST,
            "/v2/Organizations/RoleAssignments",
            &f.token,
            Some(json!({"role_sid": f.role.sid, "scope": f.app.org, "identity": second})),
        )
        .await;
    assert_eq!(r2.status, 201);
    let first = f
        .app
        .get(
            &format!(
                "/v2/Organizations/PermissionHolders?Permission={}&Scope={}&PageSize=1",
                f.granted, f.sub
            ),
            &f.token,
        )
        .await;
    let next = first.body["meta"]["next_page_url"].as_str().expect("next");
    let page2 = f.app.get_url(next, &f.token).await;
    let mut ids = vec![
        first.body["holders"][0]["identity"].clone(),
        page2.body["holders"][0]["identity"].clone(),
    ];
    ids.sort_by_key(|v| v.as_str().unwrap_or_default().to_owned());
    let mut want = vec![json!(f.user.as_str()), json!(second.as_str())];
    want.sort_by_key(|v| v.as_str().unwrap_or_default().to_owned());
    assert_eq!(ids, want);
    assert_eq!(page2.body["meta"]["next_page_url"], Value::Null);

    // Bad input: 400 naming the parameter.
    let other_org = f.app.create_org("other").await;
    let stranger = f.app.create_user(&other_org).await;
    let base_e = "/v2/Organizations/EffectivePermissions";
    let base_h = "/v2/Organizations/PermissionHolders";
    for (path, needle) in [
        (format!("{base_e}?Scope={}", f.sub), "Identity"),
        (format!("{base_e}?Identity=US1&Scope={}", f.sub), "Identity"),
        (
            format!("{base_e}?Identity={stranger}&Scope={}", f.sub),
            "Identity",
        ),
        (format!("{base_e}?Identity={}", f.user), "Scope"),
        (
            format!("{base_e}?Identity={}&Scope={other_org}", f.user),
            "Scope",
        ),
        (
            format!(
                "{base_e}?Identity={}&Scope={}&ResourceType=x",
                f.user, f.sub
            ),
            "ResourceId",
        ),
        (format!("{base_h}?Scope={}", f.sub), "Permission"),
        (
            format!("{base_h}?Permission=/a/*/c/d&Scope={}", f.sub),
            "Permission",
        ),
        (
            format!("{base_h}?Permission={}&Scope=AC1", f.granted),
            "Scope",
        ),
        (
            format!("{base_h}?Permission={}&Scope=%00", f.granted),
            "Scope",
        ),
        (
            format!(
                "{base_h}?Permission={}&Scope={}&PageSize=0",
                f.granted, f.sub
            ),
            "PageSize",
        ),
    ] {
        f.app
            .get(&path, &f.token)
            .await
            .assert_error(400, 20001, needle);
    }
    // A page token is bound to its filters.
    let token_url = format!(
        "{base_h}?Permission={}&Scope={}&PageToken={}",
        f.removed,
        f.sub,
        next.split("PageToken=").nth(1).unwrap_or_default()
    );
    f.app
        .get(&token_url, &f.token)
        .await
        .assert_error(400, 20001, "PageToken");
}

#[tokio::test]
async fn orgiam_check_explains_for_a_person_and_in_json() {
    let f = fixture().await;
    let sid = f.assign(f.account.as_str()).await;
    let org = f.app.org.to_string();
    let (user, granted) = (f.user.to_string(), f.granted.to_string());
    let out = f.app.cli(&[
        "check",
        "--org",
        &org,
        "--user",
        &user,
        "--permission",
        &granted,
        "--scope",
        f.sub.as_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("ALLOWED"), "{text}");
    assert!(text.contains(&sid), "{text}");
    let out = f.app.cli(&[
        "check",
        "--org",
        &org,
        "--user",
        &user,
        "--permission",
        &granted,
        "--json",
    ]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["reason"], "no_assignment");
    assert_eq!(v["nearest_grant"]["assignment_sid"], sid.as_str());
    let out = f.app.cli(&[
        "users",
        "deactivate",
        "--org",
        &org,
        "--user",
        &user,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v, json!({"sid": user, "active": false, "changed": true}));
    let out = f.app.cli(&[
        "check",
        "--org",
        &org,
        "--user",
        &user,
        "--permission",
        &granted,
        "--scope",
        f.sub.as_str(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("DENIED") && text.contains("inactive_user"),
        "{text}"
    );
    let out = f.app.cli(&[
        "check",
        "--org",
        &org,
        "--user",
        &user,
        "--permission",
        "/nope",
        "--json",
    ]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("--permission")),
        "{v}"
    );
}
