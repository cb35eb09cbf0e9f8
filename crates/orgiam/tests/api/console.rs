//! The web console at `/console`, over real sockets: its headers, its cookie, CSRF and
//! cross-site refusals, sign-out, tokens that stop working, pages that say which permission
//! the app lacks, and escaping of hostile names. SQLite by default; PostgreSQL with
//! ORGIAM_TEST_ENGINE=postgres.

use reqwest::Method;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use orgiam_domain::model::{Actor, User};
use orgiam_domain::sid::UserSid;

use crate::helpers::*;

mod sessions;

/// A browser without a cookie jar: every cookie is handled by hand, and redirects are not
/// followed, so each answer can be looked at.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    async fn from(res: reqwest::Response) -> Self {
        Self {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.text().await.expect("body"),
        }
    }

    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` line for `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).expect("regex");
        re.captures(&self.body)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned())
            .expect("a csrf field")
    }
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

struct Console<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    /// The session cookie's value.
    token: String,
}

impl<'a> Console<'a> {
    async fn sign_in(app: &'a TestApp, client_id: &str, secret: &str) -> Self {
        let http = browser();
        let form = Page::from(
            http.get(format!("{}/console/sign-in", app.base))
                .send()
                .await
                .expect("GET sign-in"),
        )
        .await;
        assert_eq!(form.status, 200, "{}", form.body);
        let nonce = cookie_value(&form.set_cookie("orgiam_console_signin").expect("nonce"));
        let res = Page::from(
            http.post(format!("{}/console/sign-in", app.base))
                .header("cookie", format!("orgiam_console_signin={nonce}"))
                .header("origin", &app.base)
                .header("sec-fetch-site", "same-origin")
                .form(&[
                    ("csrf", form.csrf().as_str()),
                    ("client_id", client_id),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .expect("POST sign-in"),
        )
        .await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.location(), "/console");
        let set = res.set_cookie("orgiam_console").expect("session cookie");
        Self {
            app,
            http,
            token: cookie_value(&set),
        }
    }

    async fn get(&self, path: &str) -> Page {
        Page::from(
            self.http
                .get(format!("{}{path}", self.app.base))
                .header("cookie", format!("orgiam_console={}", self.token))
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    /// A form posted the way a browser posts it from a console page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[("sec-fetch-site", "same-origin")])
            .await
    }

    async fn post_with(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.app.base))
            .header("cookie", format!("orgiam_console={}", self.token))
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Page::from(req.send().await.expect("POST")).await
    }
}

async fn console(app: &TestApp) -> Console<'_> {
    Console::sign_in(app, &app.client_id, &app.client_secret).await
}

#[tokio::test]
async fn console_pages_carry_a_strict_csp_and_refuse_framing() {
    let app = spawn_app().await;
    let c = console(&app).await;
    for path in [
        "/console/sign-in",
        "/console",
        "/console/roles",
        "/console/users",
        "/console/accounts",
        "/console/assignments",
        "/console/apps",
        "/console/audit",
        "/console/check",
        "/console/effective",
        "/console/holders",
    ] {
        let p = c.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        let h = |n: &str| p.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
        let csp = h("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("style-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src"),
            "{path}: no script at all: {csp}"
        );
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert_eq!(h("cache-control"), "no-store", "{path}");
        assert!(h("content-type").starts_with("text/html"), "{path}");
        // No inline script or style anywhere.
        assert!(!p.body.contains("<script"), "{path}");
        assert!(!p.body.contains("<style"), "{path}");
        assert!(!p.body.contains(" style="), "{path}");
        assert!(p.body.contains("<h1>"), "{path}");
    }
    let css = c.get("/console/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_strict() {
    let app = spawn_app().await;
    let http = browser();
    let form = Page::from(
        http.get(format!("{}/console/sign-in", app.base))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    let nonce = cookie_value(&form.set_cookie("orgiam_console_signin").expect("nonce"));
    let res = Page::from(
        http.post(format!("{}/console/sign-in", app.base))
            .header("cookie", format!("orgiam_console_signin={nonce}"))
            .form(&[
                ("csrf", form.csrf().as_str()),
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
            ])
            .send()
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let set = res.set_cookie("orgiam_console").expect("cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Path=/console"), "{set}");
    assert!(!set.contains("Secure"), "plain HTTP: not Secure: {set}");
    // The cookie holds the token the token endpoint would have minted: the API takes it.
    let token = cookie_value(&set);
    let r = app.get("/v2/Organizations/Roles?PageSize=1", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing else carries the token: not the page, not the redirect.
    assert!(!res.location().contains(&token));

    // A wrong secret: back to the form, no session cookie.
    let form = Page::from(
        http.get(format!("{}/console/sign-in", app.base))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    let nonce = cookie_value(&form.set_cookie("orgiam_console_signin").expect("nonce"));
    let bad = Page::from(
        http.post(format!("{}/console/sign-in", app.base))
            .header("cookie", format!("orgiam_console_signin={nonce}"))
            .form(&[
                ("csrf", form.csrf().as_str()),
                ("client_id", app.client_id.as_str()),
                ("client_secret", "not-the-secret"),
            ])
            .send()
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(bad.status, 401, "{}", bad.body);
    assert!(bad.set_cookie("orgiam_console").is_none());
    assert!(bad.body.contains("Sign-in failed"), "{}", bad.body);

    // The sign-in form without its nonce is refused.
    let no_nonce = Page::from(
        http.post(format!("{}/console/sign-in", app.base))
            .form(&[
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
            ])
            .send()
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(no_nonce.status, 403, "{}", no_nonce.body);
    assert!(no_nonce.set_cookie("orgiam_console").is_none());
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure() {
    let app = spawn_app_with(|c| c.public_url = Some("https://iam.example.com".into())).await;
    let http = browser();
    let form = Page::from(
        http.get(format!("{}/console/sign-in", app.base))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    let set = form.set_cookie("orgiam_console_signin").expect("nonce");
    assert!(set.contains("Secure"), "{set}");
    let nonce = cookie_value(&set);
    let res = Page::from(
        http.post(format!("{}/console/sign-in", app.base))
            .header("cookie", format!("orgiam_console_signin={nonce}"))
            .form(&[
                ("csrf", form.csrf().as_str()),
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
            ])
            .send()
            .await
            .expect("POST"),
    )
    .await;
    let set = res.set_cookie("orgiam_console").expect("cookie");
    assert!(set.contains("Secure"), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
}

async fn assignments_of(app: &TestApp, user: &UserSid) -> usize {
    let token = app.token().await;
    let r = app
        .get(
            &format!("/v2/Organizations/RoleAssignments?Identity={user}"),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["content"].as_array().map_or(0, Vec::len)
}

/// A built-in role grantable at the organization.
async fn org_role(app: &TestApp) -> String {
    let token = app.token().await;
    let r = app
        .get("/v2/Organizations/Roles?PageSize=1000", &token)
        .await;
    r.body["roles"]
        .as_array()
        .and_then(|rs| {
            rs.iter()
                .find(|r| r["resource_types"].is_null())
                .and_then(|r| r["sid"].as_str())
        })
        .expect("a role")
        .to_owned()
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_site_changes_nothing() {
    let app = spawn_app().await;
    let c = console(&app).await;
    let user = app.create_user(&app.org).await;
    let role = org_role(&app).await;
    let page = c.get("/console/assignments").await;
    let csrf = page.csrf();
    let fields = |csrf: &str| -> Vec<(String, String)> {
        vec![
            ("csrf".into(), csrf.into()),
            ("role_sid".into(), role.clone()),
            ("identity".into(), user.to_string()),
            ("scope".into(), app.org.to_string()),
        ]
    };
    let send = |f: Vec<(String, String)>, headers: Vec<(&'static str, String)>| {
        let mut req = c
            .http
            .post(format!("{}/console/assignments", app.base))
            .header("cookie", format!("orgiam_console={}", c.token))
            .form(&f);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { Page::from(req.send().await.expect("POST")).await }
    };
    // No token, a wrong one, another session's: refused, nothing written.
    let none = send(
        fields("")
            .into_iter()
            .filter(|(k, _)| k != "csrf")
            .collect(),
        vec![("sec-fetch-site", "same-origin".into())],
    )
    .await;
    assert_eq!(none.status, 403, "{}", none.body);
    let wrong = send(fields("AAAA"), vec![]).await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let other = Console::sign_in(&app, &app.client_id, &app.client_secret).await;
    let theirs = other.get("/console/assignments").await.csrf();
    if theirs != csrf {
        let r = send(fields(&theirs), vec![]).await;
        assert_eq!(r.status, 403, "another session's token: {}", r.body);
    }
    // The right token, from another site: refused.
    let cross = send(fields(&csrf), vec![("sec-fetch-site", "cross-site".into())]).await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(cross.body.contains("another site"), "{}", cross.body);
    let foreign_origin = send(
        fields(&csrf),
        vec![("origin", "http://evil.example".into())],
    )
    .await;
    assert_eq!(foreign_origin.status, 403, "{}", foreign_origin.body);
    assert_eq!(assignments_of(&app, &user).await, 0, "nothing was granted");

    // The same form as the console sends it: granted, then revoked.
    let ok = send(
        fields(&csrf),
        vec![
            ("sec-fetch-site", "same-origin".into()),
            ("origin", app.base.clone()),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(
        ok.location().starts_with("/console/assignments?granted=IY"),
        "{}",
        ok.location()
    );
    assert_eq!(assignments_of(&app, &user).await, 1);
    let sid = ok.location().rsplit('=').next().unwrap_or("").to_owned();
    let shown = c.get(ok.location()).await;
    assert!(shown.body.contains(&sid), "{}", shown.body);
    // Revoking needs the token too.
    let refused = c
        .post(&format!("/console/assignments/{sid}/delete"), &[])
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(assignments_of(&app, &user).await, 1);
    let revoked = c
        .post(
            &format!("/console/assignments/{sid}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(assignments_of(&app, &user).await, 0);

    // Both changes are in the audit trail, made by the signed-in app.
    let audit = c.get(&format!("/console/audit?target={sid}")).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.matches(&sid).count() >= 2, "{}", audit.body);
    assert!(audit.body.contains(&app.client_id));
}

#[tokio::test]
async fn sign_out_clears_the_cookie() {
    let app = spawn_app().await;
    let c = console(&app).await;
    let home = c.get("/console").await;
    assert_eq!(home.status, 200);
    let csrf = home.csrf();
    let token = c.token.clone();
    let before = app
        .send(Method::GET, "/v2/Organizations/Roles", &token, None)
        .await;
    assert_eq!(before.status, 200, "{}", before.body);
    // Without the token, sign-out is refused too (a third-party page cannot sign you out).
    let refused = c.post("/console/sign-out", &[]).await;
    assert_eq!(refused.status, 403);
    let out = c.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(
        out.location().starts_with("/console/sign-in"),
        "{}",
        out.location()
    );
    let set = out.set_cookie("orgiam_console").expect("cleared cookie");
    assert_eq!(cookie_value(&set), "");
    assert!(set.contains("Max-Age=0"), "{set}");
    // The token itself is revoked: a copy of the cookie no longer works, nor over the API.
    let copied = app
        .send(Method::GET, "/v2/Organizations/Roles", &token, None)
        .await;
    assert_eq!(copied.status, 401, "{}", copied.body);
    let replayed = c.get("/console/roles").await;
    assert_eq!(replayed.status, 303);
    assert!(
        replayed.location().starts_with("/console/sign-in"),
        "{}",
        replayed.location()
    );
    // A browser that dropped the cookie is sent to sign-in.
    let after = Page::from(
        browser()
            .get(format!("{}/console/roles", app.base))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(after.status, 303);
    assert_eq!(after.location(), "/console/sign-in");
}
