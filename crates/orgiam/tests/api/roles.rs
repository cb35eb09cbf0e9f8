//! The Role API, end to end.

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::Role;
use serde_json::Value;

use crate::helpers::{keys, spawn_app};

const ROLE_KEYS: [&str; 10] = [
    "sid",
    "friendly_name",
    "external_description",
    "product_group",
    "lowest_level",
    "role_product_group",
    "policy",
    "resource_types",
    "date_created",
    "date_updated",
];
const META_KEYS: [&str; 7] = [
    "page_size",
    "page",
    "key",
    "first_page_url",
    "previous_page_url",
    "next_page_url",
    "url",
];

fn catalog() -> Catalog {
    Catalog::builtin().expect("catalog")
}

/// The catalog in API order.
fn sorted(mut roles: Vec<Role>) -> Vec<String> {
    roles.sort_by(|a, b| {
        (a.friendly_name.to_lowercase(), a.sid.as_str())
            .cmp(&(b.friendly_name.to_lowercase(), b.sid.as_str()))
    });
    roles.into_iter().map(|r| r.sid.to_string()).collect()
}

fn sids(body: &Value) -> Vec<String> {
    body["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| r["sid"].as_str().expect("sid").to_owned())
        .collect()
}

#[tokio::test]
async fn the_seed_pages_three_requests_work_with_the_documented_shape() {
    let app = spawn_app().await;
    let token = app.token().await;
    for (query, expected) in [
        ("", sorted(catalog().roles)),
        (
            "?RoleProductGroup=billing",
            sorted(
                catalog()
                    .roles
                    .into_iter()
                    .filter(|r| r.product_group == "billing")
                    .collect(),
            ),
        ),
        (
            "?Search=billing",
            sorted(
                catalog()
                    .roles
                    .into_iter()
                    .filter(|r| r.friendly_name.to_lowercase().contains("billing"))
                    .collect(),
            ),
        ),
    ] {
        let r = app
            .get(&format!("/v2/Organizations/Roles{query}"), &token)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(
            r.header("twilio-request-id")
                .is_some_and(|id| id.starts_with("RQ") && id.len() == 34)
        );
        assert_eq!(keys(&r.body), ["roles", "meta"]);
        let roles = r.body["roles"].as_array().expect("roles");
        assert!(!roles.is_empty());
        let want: Vec<String> = expected.into_iter().take(50).collect();
        assert_eq!(sids(&r.body), want, "{query}");
        for role in roles {
            assert_eq!(keys(role), ROLE_KEYS);
            assert_eq!(
                keys(&role["role_product_group"]),
                ["product_group", "friendly_name"]
            );
            assert_eq!(keys(&role["policy"]), ["allow", "deny", "format"]);
            assert_eq!(role["policy"]["format"], 1);
            assert_eq!(
                role["role_product_group"]["product_group"],
                role["product_group"]
            );
            assert!(matches!(
                role["lowest_level"].as_str(),
                Some("ORGANIZATION" | "ACCOUNT" | "SUB_ACCOUNT")
            ));
            let date = role["date_created"].as_str().expect("date");
            assert!(date.len() == 20 && date.ends_with('Z'), "{date}");
            assert!(role["resource_types"].is_null() || role["resource_types"].is_array());
        }
        let meta = &r.body["meta"];
        assert_eq!(keys(meta), META_KEYS);
        assert_eq!(meta["page_size"], 50);
        assert_eq!(meta["page"], 0);
        assert_eq!(meta["key"], "roles");
        assert_eq!(meta["previous_page_url"], Value::Null);
        let filter = query.trim_start_matches('?');
        let sep = if filter.is_empty() {
            String::new()
        } else {
            format!("{filter}&")
        };
        let first = format!(
            "{}/v2/Organizations/Roles?{sep}PageSize=50&Page=0",
            app.base
        );
        assert_eq!(meta["first_page_url"], first);
        assert_eq!(meta["url"], first);
    }
    // The seed's example role exists with its exact policy.
    let r = app
        .get("/v2/Organizations/Roles?Search=billing%20viewer", &token)
        .await;
    let viewer = &r.body["roles"][0];
    assert_eq!(viewer["friendly_name"], "Billing Viewer");
    assert_eq!(
        viewer["policy"]["allow"],
        serde_json::json!([
            "/twilio/billing/billing-profile/read",
            "/twilio/billing/payment-methods/list",
            "/twilio/billing/receipts/list",
            "/twilio/billing/invoice.statements/list"
        ])
    );
    assert_eq!(viewer["policy"]["deny"], Value::Null);
}

#[tokio::test]
async fn every_filter_alone_and_combined() {
    let app = spawn_app().await;
    let token = app.token().await;
    let all = catalog().roles;
    let expect =
        |pred: &dyn Fn(&Role) -> bool| sorted(all.iter().filter(|r| pred(r)).cloned().collect());
    let list = |q: String| {
        let (app, token) = (&app, &token);
        async move {
            let r = app
                .get(&format!("/v2/Organizations/Roles?PageSize=1000&{q}"), token)
                .await;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            sids(&r.body)
        }
    };
    let has_type = |r: &Role, t: &str| {
        r.resource_types
            .as_ref()
            .is_some_and(|ts| ts.iter().any(|x| x == t))
    };

    // Search: name substring in any case.
    let got = list("Search=MeSsAgInG".into()).await;
    assert!(!got.is_empty());
    assert_eq!(
        got,
        expect(&|r| r.friendly_name.to_lowercase().contains("messaging"))
    );
    // Search: SID prefix, in any case.
    let owner = all
        .iter()
        .find(|r| r.friendly_name == "Owner")
        .expect("owner");
    let prefix = &owner.sid.as_str()[..12];
    for p in [prefix.to_owned(), prefix.to_uppercase()] {
        let got = list(format!("Search={p}")).await;
        assert!(got.contains(&owner.sid.to_string()), "{p}");
        assert_eq!(
            got,
            expect(&|r| r.sid.as_str().starts_with(prefix)
                || r.friendly_name
                    .to_lowercase()
                    .contains(&prefix.to_lowercase()))
        );
    }
    // LIKE wildcards in the search are literal.
    assert!(list("Search=%25".into()).await.is_empty());
    assert!(list("Search=_".into()).await.is_empty());
    // RoleProductGroup.
    assert_eq!(
        list("RoleProductGroup=voice".into()).await,
        expect(&|r| r.product_group == "voice")
    );
    assert!(
        list("RoleProductGroup=no-such-group".into())
            .await
            .is_empty()
    );
    // ResourceTypes: several values, blanks ignored; roles without types never match.
    let got = list("ResourceTypes=billing_group,%20,,messaging_service".into()).await;
    assert_eq!(
        got,
        expect(&|r| has_type(r, "billing_group") || has_type(r, "messaging_service"))
    );
    assert!(got.len() >= 3);
    assert_eq!(
        list("ResourceTypes=billing_group".into()).await,
        expect(&|r| has_type(r, "billing_group"))
    );
    assert!(list("ResourceTypes=unknown_type".into()).await.is_empty());
    // Combined with AND.
    assert_eq!(
        list("RoleProductGroup=billing&ResourceTypes=billing_group&Search=admin".into()).await,
        expect(&|r| r.product_group == "billing"
            && has_type(r, "billing_group")
            && r.friendly_name.to_lowercase().contains("admin"))
    );
    assert_eq!(
        list("RoleProductGroup=billing&Search=viewer".into()).await,
        expect(
            &|r| r.product_group == "billing" && r.friendly_name.to_lowercase().contains("viewer")
        )
    );
    // Unknown parameters are ignored.
    assert_eq!(list("Foo=bar".into()).await, expect(&|_| true));
}

#[tokio::test]
async fn walking_every_page_size_by_next_and_back_by_previous() {
    let app = spawn_app().await;
    let token = app.token().await;
    let full = app
        .get("/v2/Organizations/Roles?PageSize=1000", &token)
        .await;
    let all = sids(&full.body);
    assert_eq!(all, sorted(catalog().roles));
    assert_eq!(full.body["meta"]["next_page_url"], Value::Null);
    for size in 1..=7 {
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut url = format!("{}/v2/Organizations/Roles?PageSize={size}", app.base);
        let last;
        loop {
            let r = app.get_url(&url, &token).await;
            assert_eq!(r.status, 200, "{url}: {}", r.body);
            assert_eq!(r.body["meta"]["page"], pages.len());
            assert_eq!(r.body["meta"]["page_size"], size);
            pages.push(sids(&r.body));
            match r.body["meta"]["next_page_url"].as_str() {
                Some(next) => url = next.to_owned(),
                None => {
                    last = r.body;
                    break;
                }
            }
            assert!(pages.len() < 1000, "runaway paging");
        }
        let walked: Vec<String> = pages.iter().flatten().cloned().collect();
        assert_eq!(walked, all, "PageSize={size}");
        // And back again by previous_page_url, page by page.
        let mut index = pages.len() - 1;
        let mut body = last;
        while let Some(prev) = body["meta"]["previous_page_url"]
            .as_str()
            .map(str::to_owned)
        {
            let r = app.get_url(&prev, &token).await;
            assert_eq!(r.status, 200, "{}", r.body);
            index -= 1;
            assert_eq!(sids(&r.body), pages[index], "PageSize={size} page {index}");
            assert_eq!(r.body["meta"]["page"], index);
            body = r.body;
        }
        assert_eq!(index, 0, "previous links lead back to the first page");
    }
}

#[tokio::test]
async fn meta_links_keep_every_filter() {
    let app = spawn_app().await;
    let token = app.token().await;
    let q = "Search=a&RoleProductGroup=general&ResourceTypes=&Expand=true&PageSize=2";
    let r = app
        .get(&format!("/v2/Organizations/Roles?{q}"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let next = r.body["meta"]["next_page_url"]
        .as_str()
        .expect("a next page");
    for part in [
        "Search=a",
        "RoleProductGroup=general",
        "ResourceTypes=",
        "Expand=true",
        "PageSize=2",
        "Page=1",
        "PageToken=",
    ] {
        assert!(next.contains(part), "{next} lacks {part}");
    }
    assert!(next.starts_with(&app.base));
    let r2 = app.get_url(next, &token).await;
    assert_eq!(r2.status, 200, "{}", r2.body);
    for role in r2.body["roles"].as_array().expect("roles") {
        assert_eq!(role["product_group"], "general");
        assert!(role["permissions"].is_array(), "Expand is kept");
    }
    let prev = r2.body["meta"]["previous_page_url"]
        .as_str()
        .expect("previous");
    assert_eq!(sids(&app.get_url(prev, &token).await.body), sids(&r.body));
}

#[tokio::test]
async fn page_tokens_are_tamper_evident_and_bound() {
    let app = spawn_app().await;
    let token = app.token().await;
    let r = app
        .get(
            "/v2/Organizations/Roles?PageSize=3&RoleProductGroup=general",
            &token,
        )
        .await;
    let next = r.body["meta"]["next_page_url"]
        .as_str()
        .expect("next")
        .to_owned();
    let (head, page_token) = next.split_once("PageToken=").expect("token");
    // A flipped byte, anywhere.
    for i in [0, page_token.len() / 2, page_token.len() - 1] {
        let mut bytes = page_token.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(bytes).expect("utf8");
        app.get_url(&format!("{head}PageToken={forged}"), &token)
            .await
            .assert_error(400, 20001, "PageToken");
    }
    // Truncated.
    app.get_url(
        &format!("{head}PageToken={}", &page_token[..page_token.len() - 4]),
        &token,
    )
    .await
    .assert_error(400, 20001, "PageToken");
    app.get_url(&format!("{head}PageToken=garbage!!"), &token)
        .await
        .assert_error(400, 20001, "PageToken");
    // Reused with another filter.
    let other = next.replace("RoleProductGroup=general", "RoleProductGroup=voice");
    app.get_url(&other, &token)
        .await
        .assert_error(400, 20001, "PageToken");
    let added = format!("{next}&Search=x");
    app.get_url(&added, &token)
        .await
        .assert_error(400, 20001, "PageToken");
    // By another organization's app.
    let org_b = app.create_org("Other").await;
    let token_b = app.token_with(&org_b, &["/twilio/iam/*"], &[]).await;
    app.get_url(&next, &token_b)
        .await
        .assert_error(400, 20001, "PageToken");
    // The untouched link still works, and the PageSize may change along the way.
    assert_eq!(app.get_url(&next, &token).await.status, 200);
    assert_eq!(
        app.get_url(&next.replace("PageSize=3", "PageSize=5"), &token)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn page_size_rules() {
    let app = spawn_app().await;
    let token = app.token().await;
    for bad in ["0", "-1", "abc", "1.5", ""] {
        app.get(&format!("/v2/Organizations/Roles?PageSize={bad}"), &token)
            .await
            .assert_error(400, 20001, "PageSize");
    }
    let r = app
        .get("/v2/Organizations/Roles?PageSize=5000", &token)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["page_size"], 1000);
    assert_eq!(sids(&r.body).len(), catalog().roles.len());
    app.get("/v2/Organizations/Roles?Page=-2", &token)
        .await
        .assert_error(400, 20001, "Page");
    app.get("/v2/Organizations/Roles?Expand=maybe", &token)
        .await
        .assert_error(400, 20001, "Expand");
    let long = "x".repeat(300);
    app.get(&format!("/v2/Organizations/Roles?Search={long}"), &token)
        .await
        .assert_error(400, 20001, "Search");
}

#[tokio::test]
async fn expand_resolves_wildcards_and_removes_denies() {
    let app = spawn_app().await;
    let token = app.token().await;
    let c = catalog();
    let r = app
        .get("/v2/Organizations/Roles?PageSize=1000&Expand=TRUE", &token)
        .await;
    assert_eq!(r.status, 200);
    let roles = r.body["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), c.roles.len());
    let mut saw_deny = false;
    for role in roles {
        let want = c
            .roles
            .iter()
            .find(|x| x.sid.as_str() == role["sid"])
            .expect("known role");
        let perms = role["permissions"].as_array().expect("permissions");
        assert!(!perms.is_empty());
        let got: Vec<&str> = perms
            .iter()
            .map(|p| p["permission"].as_str().expect("permission"))
            .collect();
        let expected: Vec<String> = c
            .permissions
            .iter()
            .filter(|p| want.policy.allows(&p.permission))
            .map(|p| p.permission.to_string())
            .collect();
        assert_eq!(got, expected, "{}", want.friendly_name);
        for p in perms {
            assert_eq!(
                keys(p),
                [
                    "sid",
                    "permission",
                    "namespace",
                    "product",
                    "resource",
                    "action",
                    "external_description"
                ]
            );
            assert!(
                p["sid"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("IZ") && s.len() == 34)
            );
            let joined = format!(
                "/{}/{}/{}/{}",
                p["namespace"].as_str().unwrap_or(""),
                p["product"].as_str().unwrap_or(""),
                p["resource"].as_str().unwrap_or(""),
                p["action"].as_str().unwrap_or("")
            );
            assert_eq!(joined, p["permission"].as_str().unwrap_or(""));
        }
        if let Some(deny) = &want.policy.deny {
            saw_deny = true;
            for d in deny {
                assert!(perms.iter().all(|p| {
                    !d.matches(
                        &orgiam_domain::policy::Permission::parse(
                            p["permission"].as_str().unwrap_or(""),
                        )
                        .expect("perm"),
                    )
                }));
            }
        }
    }
    assert!(saw_deny);
    let plain = app
        .get("/v2/Organizations/Roles?Expand=false", &token)
        .await;
    assert!(plain.body["roles"][0].get("permissions").is_none());
}

#[tokio::test]
async fn fetch_one_role() {
    let app = spawn_app().await;
    let token = app.token().await;
    let list = app.get("/v2/Organizations/Roles?PageSize=1", &token).await;
    let first = &list.body["roles"][0];
    let sid = first["sid"].as_str().expect("sid");
    let r = app
        .get(&format!("/v2/Organizations/Roles/{sid}"), &token)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body, first);
    let expanded = app
        .get(
            &format!("/v2/Organizations/Roles/{sid}?Expand=true"),
            &token,
        )
        .await;
    assert!(expanded.body["permissions"].is_array());
    app.get(
        "/v2/Organizations/Roles/IX00000000000000000000000000000000",
        &token,
    )
    .await
    .assert_error(404, 20404, "IX00000000000000000000000000000000");
    app.get("/v2/Organizations/Roles/not-a-sid", &token)
        .await
        .assert_error(400, 20001, "RoleSid");
    app.get(
        "/v2/Organizations/Roles/IY00000000000000000000000000000000",
        &token,
    )
    .await
    .assert_error(400, 20001, "RoleSid");
}

#[tokio::test]
async fn role_sids_are_the_same_on_every_install() {
    let (a, b) = (spawn_app().await, spawn_app().await);
    let (ta, tb) = (a.token().await, b.token().await);
    let ra = a.get("/v2/Organizations/Roles?PageSize=1000", &ta).await;
    let rb = b.get("/v2/Organizations/Roles?PageSize=1000", &tb).await;
    assert_eq!(ra.body["roles"], rb.body["roles"]);
}
