//! SCIM users beyond the round trip: versions and concurrent changes, inactive users, deletion
//! with assignments, permissions and authentication, discovery, and the command line's users.

use super::*;

#[tokio::test]
async fn versions_if_match_and_concurrent_patches() {
    let s = Scim::new().await;
    let u = s.create_ok("v@example.com").await;
    let id = u["id"].as_str().expect("id").to_owned();
    let r = s
        .patch(
            &id,
            &[("If-Match", "W/\"1\"")],
            json!([{"op": "replace", "path": "displayName", "value": "one"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Stale: 412, nothing changes.
    for method in [Method::PATCH, Method::PUT] {
        let body = if method == Method::PATCH {
            json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "displayName", "value": "stale"}]})
        } else {
            json!({"schemas": [USER_SCHEMA], "userName": "v@example.com", "displayName": "stale"})
        };
        let r = s
            .json(method, &s.user(&id), &[("If-Match", "W/\"1\"")], body)
            .await;
        assert_scim_error(&r, 412, None, "If-Match");
    }
    let r = s
        .raw(
            Method::DELETE,
            &s.user(&id),
            &[("If-Match", "W/\"1\"")],
            None,
        )
        .await;
    assert_scim_error(&r, 412, None, "If-Match");
    let now = s.get(&s.user(&id)).await;
    assert_eq!(now.body["displayName"], "one");
    assert_eq!(now.header("etag"), Some("W/\"2\""));
    // `*` and a strong tag of the current version both match.
    let r = s
        .patch(
            &id,
            &[("If-Match", "\"2\"")],
            json!([{"op": "replace", "path": "displayName", "value": "two"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Two PATCHes made against the same version, at once: exactly one wins, every round.
    for round in 0..8 {
        let current = s.get(&s.user(&id)).await;
        let tag = current.header("etag").expect("etag").to_owned();
        let if_match = [("If-Match", tag.as_str())];
        let a = s.patch(
            &id,
            &if_match,
            json!([{"op": "replace", "path": "displayName", "value": format!("a{round}")}]),
        );
        let b = s.patch(
            &id,
            &if_match,
            json!([{"op": "replace", "path": "displayName", "value": format!("b{round}")}]),
        );
        let (a, b) = tokio::join!(a, b);
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 412],
            "round {round}: {} / {}",
            a.body,
            b.body
        );
        let winner = if a.status == 200 { &a } else { &b };
        let now = s.get(&s.user(&id)).await;
        assert_eq!(now.body["displayName"], winner.body["displayName"]);
        assert_eq!(now.header("etag"), winner.header("etag"));
    }
}

/// A built-in role without resource types and one permission it grants.
fn org_role() -> (String, String) {
    let c = Catalog::builtin().expect("catalog");
    for r in &c.roles {
        if r.resource_types.is_some() || r.lowest_level != Level::SubAccount {
            continue;
        }
        if let Some(p) = c.expand(&r.policy).into_iter().next() {
            return (r.sid.to_string(), p.permission.to_string());
        }
    }
    panic!("the catalog has a role without resource types")
}

#[tokio::test]
async fn inactive_users_keep_assignments_and_deletion_takes_them() {
    let s = Scim::new().await;
    let u = s.create_ok("worker@example.com").await;
    let id = u["id"].as_str().expect("id").to_owned();
    let (role, permission) = org_role();
    let a = s
        .app
        .send(
            Method::POST,
            "/v2/Organizations/RoleAssignments",
            &s.token,
            Some(json!({"role_sid": role, "scope": s.app.org, "identity": id})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let assignment = a.body["sid"].as_str().expect("sid").to_owned();
    let check = || async {
        let r = s
            .app
            .send(
                Method::POST,
                "/v2/Organizations/PermissionChecks",
                &s.token,
                Some(json!({"checks": [{"identity": id, "permission": permission, "scope": s.app.org}]})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["results"][0].clone()
    };
    let assignments = || async {
        let r = s
            .app
            .get(
                &format!("/v2/Organizations/RoleAssignments?Identity={id}"),
                &s.token,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["content"].as_array().expect("list").len()
    };
    assert_eq!(check().await["allowed"], true);

    // Entra's deactivation: a string boolean.
    let r = s
        .patch(
            &id,
            &[],
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = check().await;
    assert_eq!(c["allowed"], false, "{c}");
    assert_eq!(c["reason"], "inactive_user", "{c}");
    assert_eq!(assignments().await, 1, "the assignment stays");
    let r = s
        .patch(
            &id,
            &[],
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(check().await["allowed"], true);

    // Delete: the assignment goes in the same transaction, with its events.
    let d = s.raw(Method::DELETE, &s.user(&id), &[], None).await;
    assert_eq!(d.status, 204, "{}", d.body);
    assert_eq!(assignments().await, 0);
    let events = s
        .app
        .get("/v2/Organizations/AuditEvents?PageSize=50", &s.token)
        .await;
    assert_eq!(events.status, 200, "{}", events.body);
    let list = events.body["events"].as_array().expect("events");
    let has = |action: &str, target: &str| {
        list.iter()
            .any(|e| e["action"] == action && e["target"] == target)
    };
    assert!(has("user.deleted", &id), "{list:?}");
    assert!(has("role_assignment.deleted", &assignment), "{list:?}");
    assert!(has("user.updated", &id), "{list:?}");
    assert!(has("user.created", &id), "{list:?}");
}

#[tokio::test]
async fn organization_permissions_and_authentication() {
    let s = Scim::new().await;
    let u = s.create_ok("p@example.com").await;
    let id = u["id"].as_str().expect("id").to_owned();
    // Another organization's path: 404, even with the user's SID.
    let other = s.app.create_org("other").await;
    let foreign = format!("/Organizations/{other}/scim/Users");
    let r = s.get(&foreign).await;
    assert_scim_error(&r, 404, None, other.as_str());
    let r = s.get(&format!("{foreign}/{id}")).await;
    assert_scim_error(&r, 404, None, other.as_str());
    let r = s.get("/Organizations/ORnope/scim/Users").await;
    assert_scim_error(&r, 400, Some("invalidValue"), "OrganizationSid");
    let r = s.get(&format!("{}/USnope", s.users())).await;
    assert_scim_error(&r, 404, None, "UserSid");
    // An app of the other organization sees only its own (empty) directory.
    let other_token = s.app.token_with(&other, &["/twilio/iam/*"], &[]).await;
    let r = s.app.get(&format!("{foreign}/{id}"), &other_token).await;
    assert_scim_error(&r, 404, None, &id);

    // No token: 401 with WWW-Authenticate.
    let r = Reply::from(
        s.app
            .http
            .get(format!("{}{}", s.app.base, s.users()))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_scim_error(&r, 401, None, "Bearer");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    // Each endpoint's permission.
    let reader = s
        .app
        .token_with(&s.app.org, &["/twilio/iam/users/list"], &[])
        .await;
    let r = s.app.get(&s.users(), &reader).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .app
        .send(
            Method::POST,
            &s.users(),
            &reader,
            Some(json!({"schemas": [USER_SCHEMA], "userName": "n@example.com"})),
        )
        .await;
    assert_scim_error(&r, 403, None, "twilio/iam/users/create");
    let r = s
        .app
        .send(
            Method::PATCH,
            &s.user(&id),
            &reader,
            Some(json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_scim_error(&r, 403, None, "twilio/iam/users/update");
    let r = s
        .app
        .send(Method::DELETE, &s.user(&id), &reader, None)
        .await;
    assert_scim_error(&r, 403, None, "twilio/iam/users/delete");
    let nobody = s
        .app
        .token_with(&s.app.org, &["/twilio/iam/roles/create"], &[])
        .await;
    let r = s.app.get(&s.users(), &nobody).await;
    assert_scim_error(&r, 403, None, "twilio/iam/users/list");
    // A wrong method on a SCIM path: the SCIM body too.
    let r = s.raw(Method::PUT, &s.users(), &[], None).await;
    assert_scim_error(&r, 405, None, "PUT");
}

#[tokio::test]
async fn discovery_documents() {
    let s = Scim::new().await;
    let base = format!("/Organizations/{}/scim", s.app.org);
    let r = s.get(&format!("{base}/ServiceProviderConfig")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(
        r.body["filter"],
        json!({"supported": true, "maxResults": 1000})
    );
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["sort"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["changePassword"]["supported"], false);
    let r = s.get(&format!("{base}/ResourceTypes")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["endpoint"], "/Users");
    assert_eq!(r.body["Resources"][0]["schema"], USER_SCHEMA);
    let r = s.get(&format!("{base}/Schemas")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], USER_SCHEMA);
    let names: Vec<&str> = r.body["Resources"][0]["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    for a in [
        "id",
        "externalId",
        "userName",
        "name",
        "displayName",
        "emails",
        "active",
    ] {
        assert!(names.contains(&a), "{names:?} lacks {a}");
    }
}

#[tokio::test]
async fn command_line_users_are_scim_users() {
    let s = Scim::new().await;
    let org = s.app.org.to_string();
    // A user made by the command line is found and shown by SCIM.
    let out = s.app.cli(&[
        "users",
        "create",
        "--org",
        &org,
        "--email",
        "Cli@Example.com",
        "--name",
        "Cli User",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let cli_id = created["sid"].as_str().expect("sid").to_owned();
    let r = s.filter("userName eq \"cli@example.com\"").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    let u = &r.body["Resources"][0];
    assert_eq!(u["id"], cli_id.as_str());
    assert_eq!(u["displayName"], "Cli User");
    // The command line stores emails lower-cased.
    assert_eq!(u["emails"][0]["value"], "cli@example.com");
    assert_eq!(u["emails"][0]["primary"], true);
    // Its userName is taken for SCIM, in any case.
    let r = s
        .create(json!({"schemas": [USER_SCHEMA], "userName": "CLI@example.com"}))
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"), "CLI@example.com");

    // A SCIM user is listed by the command line, and deactivated by it.
    let scim = s.create_ok("scim@example.com").await;
    let scim_id = scim["id"].as_str().expect("id").to_owned();
    let out = s.app.cli(&["users", "list", "--org", &org, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&scim_id) && listed.contains(&cli_id),
        "{listed}"
    );
    let out = s.app.cli(&[
        "users",
        "deactivate",
        "--org",
        &org,
        "--user",
        &scim_id,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = s.get(&s.user(&scim_id)).await;
    assert_eq!(r.body["active"], false, "{}", r.body);
    assert_eq!(r.header("etag"), Some("W/\"2\""), "the version moved");

    // `orgiam users delete` is SCIM's DELETE.
    let out = s.app.cli(&[
        "users", "delete", "--org", &org, "--user", &scim_id, "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = s.get(&s.user(&scim_id)).await;
    assert_scim_error(&r, 404, None, &scim_id);
    let out = s.app.cli(&[
        "users", "delete", "--org", &org, "--user", &scim_id, "--json",
    ]);
    assert!(!out.status.success());
}
