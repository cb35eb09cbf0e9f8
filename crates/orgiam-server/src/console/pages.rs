//! The console's pages. Reading pages are GETs whose filters live in the query string (they
//! work without JavaScript and can be bookmarked); changes are POSTed forms carrying the
//! session's CSRF token, answered with a redirect (or, for a new secret, a page shown once).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::view::{PAGES, api_error, field, html_response, lacks, notice, page, pager, text};
use super::{
    Answer, BASE, ConsoleState, Ctx, Form, Payload, Session, same_site_post, see_other,
    session_cookie,
};
use orgiam_domain::sid::{OrgSid, UserSid};

const PAGE_SIZE: &str = "50";
const ASSIGN_LIST: &str = "/twilio/iam/role-assignments/list";
const ASSIGN_CREATE: &str = "/twilio/iam/role-assignments/create";
const ASSIGN_DELETE: &str = "/twilio/iam/role-assignments/delete";
const USERS_LIST: &str = "/twilio/iam/users/list";
const ACCOUNTS_LIST: &str = "/twilio/iam/accounts/list";
const APPS_LIST: &str = "/twilio/iam/oauth-apps/list";
const APPS_CREATE: &str = "/twilio/iam/oauth-apps/create";
const APPS_UPDATE: &str = "/twilio/iam/oauth-apps/update";
const AUDIT_LIST: &str = "/twilio/iam/audit-events/list";
const CHECKS_CREATE: &str = "/twilio/iam/permission-checks/create";

/// A query string's fields.
fn query(raw: Option<String>) -> Form {
    Form::parse(&Bytes::from(raw.unwrap_or_default()))
}

/// `path?k=v&...` with the non-empty pairs.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if !v.trim().is_empty() {
            s.append_pair(k, v.trim());
            any = true;
        }
    }
    if any {
        format!("{path}?{}", s.finish())
    } else {
        path.to_owned()
    }
}

/// The console link to the page an API `meta` URL (`next_page_url`, `previous_page_url`)
/// points at: this page's filters, and the API link's page token and index.
fn page_link(meta_url: &Value, console_path: &str, filters: &[(&str, &str)]) -> Option<String> {
    let url = url::Url::parse(meta_url.as_str()?).ok()?;
    let mut token = String::new();
    let mut index = String::new();
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "PageToken" => token = v.into_owned(),
            "Page" => index = v.into_owned(),
            _ => {}
        }
    }
    let mut pairs = filters.to_vec();
    pairs.push(("page_token", &token));
    pairs.push(("page", &index));
    Some(with_query(console_path, &pairs))
}

fn pager_of(answer: &Answer, console_path: &str, filters: &[(&str, &str)]) -> Markup {
    let meta = &answer.body["meta"];
    pager(
        page_link(&meta["previous_page_url"], console_path, filters),
        page_link(&meta["next_page_url"], console_path, filters),
    )
}

/// The answer of a page that calls the API: 401 sends the browser to sign-in.
fn signed_out(console: &ConsoleState, headers: &HeaderMap, a: &Answer) -> Option<Response> {
    (a.status == StatusCode::UNAUTHORIZED)
        .then(|| super::to_sign_in(console, headers, Some("expired")))
}

fn status_of(a: &Answer) -> StatusCode {
    if a.ok() { StatusCode::OK } else { a.status }
}

/// The 403 page of `path` when the signed-in app lacks `needs`, saying what it is needed for.
fn lacking(
    session: &Session,
    path: &str,
    title: &str,
    needs: &str,
    doing: &str,
) -> Option<Response> {
    (!session.may(needs)).then(|| {
        let body = html! { (lacks(session.app_sid(), needs, doing)) };
        html_response(
            StatusCode::FORBIDDEN,
            page(Some(session), path, title, body),
        )
    })
}

/// A page of an API listing as the signed-in app: `pairs`, then `PageSize` and the console's
/// `page_token`/`page` as the API's `PageToken`/`Page`. A 401 is the way back to sign-in.
async fn get_page(
    console: &ConsoleState,
    session: &Session,
    headers: &HeaderMap,
    api_path: &str,
    pairs: &[(&str, &str)],
    (size, q): (&str, &Form),
) -> Result<Answer, Response> {
    let mut all = pairs.to_vec();
    all.extend([
        ("PageSize", size),
        ("PageToken", q.get("page_token")),
        ("Page", q.get("page")),
    ]);
    let path = with_query(api_path, &all);
    let a = console
        .as_app(session, Method::GET, &path, Payload::None)
        .await;
    signed_out(console, headers, &a).map_or(Ok(a), Err)
}

/// A page showing an API answer: its status (200 unless the API refused).
fn answered(session: &Session, a: &Answer, path: &str, title: &str, body: Markup) -> Response {
    html_response(status_of(a), page(Some(session), path, title, body))
}

fn rows<'a>(a: &'a Answer, key: &str) -> &'a [Value] {
    a.body[key].as_array().map_or(&[], Vec::as_slice)
}

fn sid_link(kind: &str, v: &Value) -> Markup {
    let s = text(v);
    html! {
        @match kind {
            "role" => { a href=(format!("{BASE}/roles/{s}")) { code { (s) } } }
            "user" => { a href=(with_query("/console/effective", &[("identity", &s)])) { code { (s) } } }
            _ => { code { (s) } }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sign-in, sign-out, home

/// The pre-session CSRF cookie of the sign-in form (double submit: the form and the cookie
/// must carry the same random value).
const SIGNIN_COOKIE: &str = "orgiam_console_signin";

fn signin_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie::Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == SIGNIN_COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

fn sign_in_page(
    console: &ConsoleState,
    headers: &HeaderMap,
    status: StatusCode,
    message: Option<Markup>,
    client_id: &str,
) -> Response {
    let nonce = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        orgiam_domain::secret::random_bytes::<24>(),
    );
    let body = html! {
        div.signin {
            p { "Sign in with an OAuth app's client id and secret. The console then acts as that app, with exactly its permissions." }
            @if let Some(m) = message { (m) }
            form.stack method="post" action="/console/sign-in" {
                input type="hidden" name="csrf" value=(nonce);
                label { "Client id" input type="text" name="client_id" value=(client_id) autocomplete="username" required placeholder="OQ…"; }
                label { "Client secret" input type="password" name="client_secret" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut res = html_response(status, page(None, "", "Sign in", body));
    let c = cookie::Cookie::build((SIGNIN_COOKIE, nonce))
        .path("/console/sign-in")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(super::secure(console, headers))
        .max_age(cookie::time::Duration::minutes(30))
        .build();
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    res
}

pub async fn sign_in_form(
    State(console): State<ConsoleState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    let message = match q.get("why") {
        "expired" => Some(
            html! { p.error role="alert" { "Your session ended (the token expired or was revoked, or the app was disabled). Sign in again." } },
        ),
        "signed-out" => Some(notice(html! { "You are signed out." })),
        _ => None,
    };
    sign_in_page(&console, &headers, StatusCode::OK, message, "")
}

pub async fn sign_in(
    State(console): State<ConsoleState>,
    headers: HeaderMap,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    if let Err(r) = same_site_post(&headers) {
        return *r;
    }
    let form = Form::parse(&body);
    let client_id = form.get("client_id").trim().to_owned();
    let nonce_ok = signin_cookie(&headers)
        .is_some_and(|c| super::same_bytes(c.as_bytes(), form.get("csrf").as_bytes()));
    if !nonce_ok {
        let m = html! { p.error role="alert" { "The sign-in form expired or was not sent from this page. Try again." } };
        return sign_in_page(
            &console,
            &headers,
            StatusCode::FORBIDDEN,
            Some(m),
            &client_id,
        );
    }
    // (The serializer is not `Send`: finished before the call.)
    let credentials = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &client_id)
        .append_pair("client_secret", form.get("client_secret"))
        .finish();
    let a = console
        .call(
            Method::POST,
            "/v2/token",
            None,
            Payload::Form(credentials),
            &ctx,
        )
        .await;
    let token = a.body["access_token"].as_str().filter(|_| a.ok());
    let Some(token) = token else {
        let why = a.body["error_description"]
            .as_str()
            .map_or_else(|| a.message(), str::to_owned);
        let m = html! { p.error role="alert" { "Sign-in failed: " (why) } };
        let status = if a.status.is_client_error() {
            a.status
        } else {
            StatusCode::BAD_GATEWAY
        };
        return sign_in_page(&console, &headers, status, Some(m), &client_id);
    };
    let ttl = a.body["expires_in"].as_i64().unwrap_or(3600);
    let mut res = see_other(BASE);
    res.headers_mut().append(
        SET_COOKIE,
        session_cookie(Some(token), ttl, super::secure(&console, &headers)),
    );
    res
}

pub async fn sign_out(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = session.check_form(&headers, &form) {
        return *r;
    }
    // The token stops working everywhere (a copy of the cookie is worth nothing after this).
    let request_id = session.ctx.request.as_ref().map(|c| c.id().to_owned());
    if let Err(e) =
        crate::routes::tokens::revoke_own(&console.state, &session.token, request_id).await
    {
        tracing::warn!(error = %e, "console sign-out: the token could not be revoked");
    }
    super::to_sign_in(&console, &headers, Some("signed-out"))
}

pub async fn home(session: Session) -> Response {
    let body = html! {
        p { "Signed in as the OAuth app " code { (session.app_sid()) } " of the organization " code { (session.org()) } ". Each page needs the permission it names; the app's policy decides what you can see and change here, exactly as over the API." }
        ul.cards {
            @for p in PAGES {
                li {
                    h2 { a href=(p.path) { (p.label) } }
                    p { (p.about) }
                    p.muted {
                        "Needs " code { (p.needs.trim_start_matches('/')) } ": "
                        @if session.may(p.needs) { span.allowed { "granted" } } @else { span.denied { "not granted to this app" } }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page(Some(&session), BASE, "Console", body))
}

// ---------------------------------------------------------------------------------------------
// Roles

pub async fn roles(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    let (search, group, types) = (q.get("search"), q.get("group"), q.get("resource_types"));
    let filters = [
        ("search", search),
        ("group", group),
        ("resource_types", types),
    ];
    let groups = &console.state.catalog.groups;
    let form = html! {
        form.filters method="get" action="/console/roles" role="search" {
            (field("Search (name or SID)", "search", search, "e.g. admin"))
            label {
                "Product group"
                select name="group" {
                    option value="" selected[group.is_empty()] { "Any" }
                    @for (slug, name) in groups.iter() {
                        option value=(slug) selected[group == slug.as_str()] { (name) }
                    }
                }
            }
            (field("Resource types (comma-separated)", "resource_types", types, ""))
            button type="submit" { "Search" }
        }
    };
    let (path, title) = ("/console/roles", "Roles");
    if let Some(r) = lacking(&session, path, title, ASSIGN_LIST, "listing roles") {
        return r;
    }
    let pairs = [
        ("Search", search),
        ("RoleProductGroup", group),
        ("ResourceTypes", types),
    ];
    let api = "/v2/Organizations/Roles";
    let a = match get_page(&console, &session, &headers, api, &pairs, (PAGE_SIZE, &q)).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let body = html! {
        (form)
        @if !a.ok() { (api_error(&a)) } @else {
            table {
                caption.muted { "Roles, by name" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Product group" } th scope="col" { "Lowest level" } th scope="col" { "Resource types" } th scope="col" { "SID" } } }
                tbody {
                    @for r in rows(&a, "roles") {
                        tr {
                            td { a href=(format!("{BASE}/roles/{}", text(&r["sid"]))) { (text(&r["friendly_name"])) } }
                            td { (text(&r["role_product_group"]["friendly_name"])) }
                            td { (text(&r["lowest_level"])) }
                            td { (r["resource_types"].as_array().map(|v| v.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| "—".into())) }
                            td { code { (text(&r["sid"])) } }
                        }
                    }
                }
            }
            @if rows(&a, "roles").is_empty() { p { "No role matches." } }
            (pager_of(&a, "/console/roles", &filters))
        }
    };
    answered(&session, &a, path, title, body)
}

pub async fn role(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    Path(sid): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    if let Some(r) = lacking(
        &session,
        "/console/roles",
        "Role",
        ASSIGN_LIST,
        "reading a role",
    ) {
        return r;
    }
    let enc = url::form_urlencoded::byte_serialize(sid.as_bytes()).collect::<String>();
    let r = console
        .as_app(
            &session,
            Method::GET,
            &format!("/v2/Organizations/Roles/{enc}"),
            Payload::None,
        )
        .await;
    if let Some(res) = signed_out(&console, &headers, &r) {
        return res;
    }
    if !r.ok() {
        return html_response(
            r.status,
            page(
                Some(&session),
                "/console/roles",
                "Role",
                html! { (api_error(&r)) },
            ),
        );
    }
    let perms_path = format!("/v1/Roles/{enc}/Permissions");
    let p = match get_page(&console, &session, &headers, &perms_path, &[], ("100", &q)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let title = format!("Role: {}", text(&r.body["friendly_name"]));
    let policy = &r.body["policy"];
    let list = |v: &Value| {
        v.as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|| "—".into())
    };
    let body = html! {
        dl {
            dt { "SID" } dd { code { (text(&r.body["sid"])) } }
            dt { "Description" } dd { (text(&r.body["external_description"])) }
            dt { "Product group" } dd { (text(&r.body["role_product_group"]["friendly_name"])) }
            dt { "Lowest level" } dd { (text(&r.body["lowest_level"])) }
            dt { "Resource types" } dd { (list(&r.body["resource_types"])) }
            dt { "Policy allows" } dd { code { (list(&policy["allow"])) } }
            dt { "Policy denies" } dd { code { (list(&policy["deny"])) } }
        }
        p { a href=(with_query("/console/assignments", &[("role_sid", &text(&r.body["sid"]))])) { "Grant this role to a user" } }
        h2 { "Permissions it grants" }
        @if !p.ok() { (api_error(&p)) } @else {
            table {
                thead { tr { th scope="col" { "Permission" } th scope="col" { "Description" } } }
                tbody {
                    @for x in rows(&p, "permissions") {
                        tr {
                            td { code { "/" (text(&x["namespace"])) "/" (text(&x["product"])) "/" (text(&x["resource"])) "/" (text(&x["action"])) } }
                            td { (text(&x["externalDescription"])) }
                        }
                    }
                }
            }
            @if rows(&p, "permissions").is_empty() { p { "This role grants no catalog permission." } }
            (pager_of(&p, &format!("{BASE}/roles/{enc}"), &[]))
        }
    };
    html_response(
        StatusCode::OK,
        page(Some(&session), "/console/roles", &title, body),
    )
}

// ---------------------------------------------------------------------------------------------
// Users (no HTTP listing of users exists: the store, behind the SCIM permission)

pub async fn users(
    State(console): State<ConsoleState>,
    session: Session,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    if let Some(r) = lacking(
        &session,
        "/console/users",
        "Users",
        USERS_LIST,
        "listing users",
    ) {
        return r;
    }
    let org: &OrgSid = &session.caller.org;
    let email = q.get("email").trim();
    let after = q.get("after").trim();
    let store = console.state.directory();
    let listed = if !email.is_empty() {
        match orgiam_domain::text::check("email", email) {
            Ok(()) => store
                .user_by_email(org, email)
                .await
                .map(|u| (u.into_iter().collect::<Vec<_>>(), false)),
            Err(e) => Err(e),
        }
    } else {
        let after = if after.is_empty() {
            Ok(None)
        } else {
            UserSid::parse(after)
                .map(Some)
                .map_err(|e| orgiam_domain::Error::bad_request(format!("after {e}")))
        };
        match after {
            Ok(after) => store
                .list_users(org, after.as_ref().map(|u| u.as_str()), 51)
                .await
                .map(|mut v| {
                    let more = v.len() > 50;
                    v.truncate(50);
                    (v, more)
                }),
            Err(e) => Err(e),
        }
    };
    let (status, body) = match listed {
        Err(e) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            html! { p.error role="alert" { "Error: " (e.public_message()) } },
        ),
        Ok((users, more)) => (
            StatusCode::OK,
            html! {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "SID" } th scope="col" { "Look into" } } }
                    tbody {
                        @for u in &users {
                            tr {
                                td { (u.friendly_name) }
                                td { (u.email) }
                                td { code { (u.sid.as_str()) } }
                                td {
                                    a href=(with_query("/console/effective", &[("identity", u.sid.as_str()), ("scope", org.as_str())])) { "Effective permissions" }
                                    " · "
                                    a href=(with_query("/console/assignments", &[("identity", u.sid.as_str())])) { "Assignments" }
                                }
                            }
                        }
                    }
                }
                @if users.is_empty() { p { "No user found." } }
                @if more {
                    @if let Some(last) = users.last() {
                        nav.pager aria-label="Pages" { a href=(with_query("/console/users", &[("after", last.sid.as_str())])) rel="next" { "Next page →" } }
                    }
                }
            },
        ),
    };
    let body = html! {
        form.filters method="get" action="/console/users" role="search" {
            (field("Email", "email", email, "someone@example.com"))
            button type="submit" { "Find" }
        }
        (body)
    };
    html_response(
        status,
        page(Some(&session), "/console/users", "Users", body),
    )
}

// ---------------------------------------------------------------------------------------------
// Accounts

pub async fn accounts(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    let (path, title) = ("/console/accounts", "Accounts");
    if let Some(r) = lacking(&session, path, title, ACCOUNTS_LIST, "listing accounts") {
        return r;
    }
    let api = format!("/Organizations/{}/Accounts", session.org());
    let a = match get_page(&console, &session, &headers, &api, &[], (PAGE_SIZE, &q)).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let body = html! {
        @if !a.ok() { (api_error(&a)) } @else {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Status" } th scope="col" { "Parent" } th scope="col" { "SID" } th scope="col" { "Created" } } }
                tbody {
                    @for x in rows(&a, "content") {
                        tr {
                            td { (text(&x["friendly_name"])) }
                            td { (text(&x["status"])) }
                            td { (text(&x["owner_sid"])) }
                            td { code { (text(&x["account_sid"])) } }
                            td { (text(&x["date_created"])) }
                        }
                    }
                }
            }
            @if rows(&a, "content").is_empty() { p { "No account." } }
            (pager_of(&a, "/console/accounts", &[]))
        }
    };
    answered(&session, &a, path, title, body)
}

// ---------------------------------------------------------------------------------------------
// Role assignments

async fn assignments_page(
    console: &ConsoleState,
    session: &Session,
    headers: &HeaderMap,
    q: &Form,
    outcome: Option<(StatusCode, Markup)>,
) -> Response {
    let (identity, scope, rtype, rid) = (
        q.get("identity"),
        q.get("scope"),
        q.get("resource_type"),
        q.get("resource_id"),
    );
    let filters = [
        ("identity", identity),
        ("scope", scope),
        ("resource_type", rtype),
        ("resource_id", rid),
    ];
    let listing = if session.may(ASSIGN_LIST) {
        let pairs = [
            ("Identity", identity),
            ("Scope", scope),
            ("ResourceType", rtype),
            ("ResourceId", rid),
        ];
        let api = "/v2/Organizations/RoleAssignments";
        match get_page(console, session, headers, api, &pairs, (PAGE_SIZE, q)).await {
            Ok(a) => Some(a),
            Err(r) => return r,
        }
    } else {
        None
    };
    let may_delete = session.may(ASSIGN_DELETE);
    let (status, outcome_markup) = match outcome {
        Some((s, m)) => (s, Some(m)),
        None => (
            listing.as_ref().map_or(StatusCode::FORBIDDEN, status_of),
            None,
        ),
    };
    let body = html! {
        @if let Some(m) = outcome_markup { (m) }
        h2 #grant { "Grant a role" }
        @if session.may(ASSIGN_CREATE) {
            form.inline-form method="post" action="/console/assignments" {
                input type="hidden" name="csrf" value=(session.csrf);
                (field("Role SID", "role_sid", q.get("role_sid"), "IX…"))
                (field("User SID (identity)", "identity", q.get("grant_identity"), "US…"))
                (field("Scope (organization or account SID)", "scope", q.get("grant_scope"), "OR… or AC…"))
                (field("Resource type (optional)", "resource_type", "", ""))
                (field("Resource id (optional)", "resource_id", "", ""))
                button type="submit" { "Grant" }
            }
        } @else {
            (lacks(session.app_sid(), ASSIGN_CREATE, "granting a role"))
        }
        h2 { "Assignments" }
        form.filters method="get" action="/console/assignments" role="search" {
            (field("User SID", "identity", identity, "US…"))
            (field("Scope", "scope", scope, "OR… or AC…"))
            (field("Resource type", "resource_type", rtype, ""))
            (field("Resource id", "resource_id", rid, ""))
            button type="submit" { "Filter" }
        }
        @match &listing {
            None => (lacks(session.app_sid(), ASSIGN_LIST, "listing role assignments")),
            Some(a) if !a.ok() => (api_error(a)),
            Some(a) => {
                table {
                    thead { tr { th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "Scope" } th scope="col" { "Resource" } th scope="col" { "SID" } th scope="col" { "Revoke" } } }
                    tbody {
                        @for x in rows(a, "content") {
                            tr {
                                td { (sid_link("user", &x["identity"])) }
                                td { (sid_link("role", &x["role_sid"])) }
                                td { code { (text(&x["scope"])) } }
                                td { @if x["resource_type"].is_null() { "—" } @else { (text(&x["resource_type"])) " " code { (text(&x["resource_id"])) } } }
                                td { code { (text(&x["sid"])) } }
                                td {
                                    @if may_delete {
                                        form method="post" action=(format!("{BASE}/assignments/{}/delete", text(&x["sid"]))) {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button.danger type="submit" aria-label=(format!("Revoke assignment {}", text(&x["sid"]))) { "Revoke" }
                                        }
                                    } @else { span.muted { "needs role-assignments/delete" } }
                                }
                            }
                        }
                    }
                }
                @if rows(a, "content").is_empty() { p { "No assignment matches." } }
                (pager_of(a, "/console/assignments", &filters))
            }
        }
    };
    html_response(
        status,
        page(
            Some(session),
            "/console/assignments",
            "Role assignments",
            body,
        ),
    )
}

pub async fn assignments(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let mut q = query(q);
    let done = match (q.get("granted"), q.get("revoked")) {
        (g, _) if !g.is_empty() => Some(notice(
            html! { "Granted: assignment " code { (g) } " created." },
        )),
        (_, r) if !r.is_empty() => Some(notice(
            html! { "Revoked: assignment " code { (r) } " deleted." },
        )),
        _ => None,
    };
    // A "grant this role" link fills the grant form, not the filter.
    q.0.retain(|(k, _)| k != "granted" && k != "revoked");
    assignments_page(
        &console,
        &session,
        &headers,
        &q,
        done.map(|m| (StatusCode::OK, m)),
    )
    .await
}

pub async fn create_assignment(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = session.check_form(&headers, &form) {
        return *r;
    }
    let mut req = serde_json::Map::new();
    for k in [
        "role_sid",
        "scope",
        "identity",
        "resource_type",
        "resource_id",
    ] {
        let v = form.get(k).trim();
        if !v.is_empty() {
            req.insert(k.to_owned(), json!(v));
        }
    }
    for k in ["role_sid", "scope", "identity"] {
        req.entry(k.to_owned()).or_insert(json!(""));
    }
    let a = console
        .as_app(
            &session,
            Method::POST,
            "/v2/Organizations/RoleAssignments",
            Payload::Json(Value::Object(req)),
        )
        .await;
    if let Some(r) = signed_out(&console, &headers, &a) {
        return r;
    }
    if a.ok() {
        return see_other(&with_query(
            "/console/assignments",
            &[("granted", &text(&a.body["sid"]))],
        ));
    }
    // Keep what was typed, for another try.
    let q = Form(vec![
        ("role_sid".into(), form.get("role_sid").into()),
        ("grant_identity".into(), form.get("identity").into()),
        ("grant_scope".into(), form.get("scope").into()),
    ]);
    assignments_page(
        &console,
        &session,
        &headers,
        &q,
        Some((a.status, api_error(&a))),
    )
    .await
}

pub async fn delete_assignment(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    Path(sid): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = session.check_form(&headers, &form) {
        return *r;
    }
    let enc = url::form_urlencoded::byte_serialize(sid.as_bytes()).collect::<String>();
    let a = console
        .as_app(
            &session,
            Method::DELETE,
            &format!("/v2/Organizations/RoleAssignments/{enc}"),
            Payload::None,
        )
        .await;
    if let Some(r) = signed_out(&console, &headers, &a) {
        return r;
    }
    if a.ok() {
        return see_other(&with_query("/console/assignments", &[("revoked", &sid)]));
    }
    assignments_page(
        &console,
        &session,
        &headers,
        &Form(Vec::new()),
        Some((a.status, api_error(&a))),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// OAuth apps

async fn apps_page(
    console: &ConsoleState,
    session: &Session,
    headers: &HeaderMap,
    q: &Form,
    outcome: Option<(StatusCode, Markup)>,
) -> Response {
    let listing = if session.may(APPS_LIST) {
        let api = "/v1/Account/OAuthApps";
        match get_page(console, session, headers, api, &[], (PAGE_SIZE, q)).await {
            Ok(a) => Some(a),
            Err(r) => return r,
        }
    } else {
        None
    };
    let may_update = session.may(APPS_UPDATE);
    let (status, outcome_markup) = match outcome {
        Some((s, m)) => (s, Some(m)),
        None => (
            listing.as_ref().map_or(StatusCode::FORBIDDEN, status_of),
            None,
        ),
    };
    let body = html! {
        @if let Some(m) = outcome_markup { (m) }
        h2 { "Create an app" }
        @if session.may(APPS_CREATE) {
            form.stack method="post" action="/console/apps" {
                input type="hidden" name="csrf" value=(session.csrf);
                (field("Name", "friendly_name", "", ""))
                (field("Description", "description", "", ""))
                label { "Allowed permissions (one per line)" textarea name="allow" {} }
                label { "Denied permissions (one per line, optional)" textarea name="deny" {} }
                label { "Token lifetime in seconds (optional)" input type="number" name="access_token_ttl" min="60"; }
                button type="submit" { "Create app" }
            }
        } @else {
            (lacks(session.app_sid(), APPS_CREATE, "creating an app"))
        }
        h2 { "Apps" }
        @match &listing {
            None => (lacks(session.app_sid(), APPS_LIST, "listing apps")),
            Some(a) if !a.ok() => (api_error(a)),
            Some(a) => {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Client id" } th scope="col" { "Status" } th scope="col" { "Allows" } th scope="col" { "Actions" } } }
                    tbody {
                        @for x in rows(a, "apps") {
                            @let sid = text(&x["sid"]);
                            @let active = x["status"].as_str() == Some("active");
                            tr {
                                td { (text(&x["friendly_name"])) }
                                td { code { (sid) } }
                                td { (text(&x["status"])) }
                                td { code { (x["policy"]["allow"].as_array().map(|v| v.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) } }
                                td {
                                    @if may_update && sid != session.app_sid() {
                                        form method="post" action=(format!("{BASE}/apps/{sid}/status")) {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            input type="hidden" name="status" value=(if active { "disabled" } else { "active" });
                                            button.secondary type="submit" aria-label=(format!("{} app {sid}", if active { "Disable" } else { "Enable" })) { (if active { "Disable" } else { "Enable" }) }
                                        }
                                        form method="post" action=(format!("{BASE}/apps/{sid}/rotate")) {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button.secondary type="submit" aria-label=(format!("Rotate the secret of app {sid}")) { "Rotate secret" }
                                        }
                                    } @else if sid == session.app_sid() {
                                        span.muted { "this app (signed in)" }
                                    } @else {
                                        span.muted { "needs oauth-apps/update" }
                                    }
                                }
                            }
                        }
                    }
                }
                (pager_of(a, "/console/apps", &[]))
            }
        }
    };
    html_response(
        status,
        page(Some(session), "/console/apps", "OAuth apps", body),
    )
}

pub async fn apps(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    let done = match q.get("changed") {
        "" => None,
        sid => Some((
            StatusCode::OK,
            notice(html! { "App " code { (sid) } " changed." }),
        )),
    };
    apps_page(&console, &session, &headers, &q, done).await
}

/// The page that shows a new secret, this once.
fn secret_page(session: &Session, what: &str, a: &Answer) -> Response {
    let body = html! {
        (notice(html! { (what) }))
        p { "Client id: " code { (text(&a.body["sid"])) } }
        p { "Client secret (shown this once; copy it now): " }
        p { output.secret.mono aria-label="Client secret" { (text(&a.body["secret"])) } }
        p { a href="/console/apps" { "Back to the apps" } }
    };
    html_response(
        StatusCode::OK,
        page(Some(session), "/console/apps", "New client secret", body),
    )
}

fn lines(v: &str) -> Vec<Value> {
    v.split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| json!(s))
        .collect()
}

/// A change to an app through the API, from a checked form: the API's answer when it succeeded;
/// otherwise the way back to sign-in (401) or the apps page showing the API's error.
async fn app_call(
    console: &ConsoleState,
    session: &Session,
    headers: &HeaderMap,
    (method, path, payload): (Method, String, Payload),
) -> Result<Answer, Response> {
    let a = console.as_app(session, method, &path, payload).await;
    if let Some(r) = signed_out(console, headers, &a) {
        return Err(r);
    }
    if a.ok() {
        return Ok(a);
    }
    let error = Some((a.status, api_error(&a)));
    Err(apps_page(console, session, headers, &Form(Vec::new()), error).await)
}

pub async fn create_app(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = session.check_form(&headers, &form) {
        return *r;
    }
    let mut req = json!({
        "type": "client_credentials",
        "friendly_name": form.get("friendly_name"),
        "policy": {"allow": lines(form.get("allow"))},
    });
    if !form.get("description").trim().is_empty() {
        req["description"] = json!(form.get("description"));
    }
    let deny = lines(form.get("deny"));
    if !deny.is_empty() {
        req["policy"]["deny"] = json!(deny);
    }
    let ttl = form.get("access_token_ttl").trim();
    if !ttl.is_empty() {
        req["access_token_ttl"] = ttl.parse::<i64>().map_or_else(|_| json!(ttl), |n| json!(n));
    }
    let call = (
        Method::POST,
        "/v1/Account/OAuthApps".to_owned(),
        Payload::Json(req),
    );
    match app_call(&console, &session, &headers, call).await {
        Ok(a) => secret_page(&session, "App created.", &a),
        Err(r) => r,
    }
}

pub async fn app_status(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    Path(sid): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = session.check_form(&headers, &form) {
        return *r;
    }
    let enc = url::form_urlencoded::byte_serialize(sid.as_bytes()).collect::<String>();
    let status = Payload::Json(json!({"status": form.get("status")}));
    let call = (Method::PUT, format!("/v1/Account/OAuthApps/{enc}"), status);
    match app_call(&console, &session, &headers, call).await {
        Ok(_) => see_other(&with_query("/console/apps", &[("changed", &sid)])),
        Err(r) => r,
    }
}

pub async fn rotate_app(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    Path(sid): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = session.check_form(&headers, &form) {
        return *r;
    }
    let enc = url::form_urlencoded::byte_serialize(sid.as_bytes()).collect::<String>();
    let secret = format!("/v1/Account/OAuthApps/{enc}/Secret");
    let call = (Method::POST, secret, Payload::Json(json!({})));
    match app_call(&console, &session, &headers, call).await {
        Ok(a) => secret_page(
            &session,
            "Secret rotated; the old one keeps working for the grace period.",
            &a,
        ),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Audit trail

pub async fn audit(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    let (action, actor, target, start, end) = (
        q.get("action"),
        q.get("actor"),
        q.get("target"),
        q.get("start"),
        q.get("end"),
    );
    let filters = [
        ("action", action),
        ("actor", actor),
        ("target", target),
        ("start", start),
        ("end", end),
    ];
    let (path, title) = ("/console/audit", "Audit trail");
    if let Some(r) = lacking(&session, path, title, AUDIT_LIST, "reading the audit trail") {
        return r;
    }
    let pairs = [
        ("Action", action),
        ("Actor", actor),
        ("Target", target),
        ("StartDate", start),
        ("EndDate", end),
    ];
    let api = "/v2/Organizations/AuditEvents";
    let a = match get_page(&console, &session, &headers, api, &pairs, (PAGE_SIZE, &q)).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let body = html! {
        form.filters method="get" action="/console/audit" role="search" {
            (field("Action", "action", action, "e.g. role_assignment.create"))
            (field("Actor", "actor", actor, "OQ…"))
            (field("Target", "target", target, "IY…"))
            (field("From (UTC)", "start", start, "2025-01-15T10:30:00Z"))
            (field("Until (UTC)", "end", end, ""))
            button type="submit" { "Filter" }
        }
        @if !a.ok() { (api_error(&a)) } @else {
            table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Actor" } th scope="col" { "Request" } } }
                tbody {
                    @for x in rows(&a, "events") {
                        tr {
                            td { (text(&x["date_created"])) }
                            td { (text(&x["action"])) }
                            td { code { (text(&x["target"])) } }
                            td { code { (text(&x["actor"])) } }
                            td { code { (text(&x["request_id"])) } }
                        }
                    }
                }
            }
            @if rows(&a, "events").is_empty() { p { "No event matches." } }
            (pager_of(&a, "/console/audit", &filters))
        }
    };
    answered(&session, &a, path, title, body)
}

// ---------------------------------------------------------------------------------------------
// Check, effective permissions, holders

fn grants_table(grants: &Value) -> Markup {
    html! {
        @if let Some(gs) = grants.as_array().filter(|g| !g.is_empty()) {
            ul {
                @for g in gs {
                    li {
                        "role " (sid_link("role", &g["role_sid"]))
                        " at " code { (text(&g["scope"])) }
                        " (assignment " code { (text(&g["assignment_sid"])) } ", pattern " code { (text(&g["pattern"])) } ")"
                    }
                }
            }
        }
    }
}

pub async fn check(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    let (identity, permission, scope, rtype, rid) = (
        q.get("identity"),
        q.get("permission"),
        q.get("scope"),
        q.get("resource_type"),
        q.get("resource_id"),
    );
    let form = html! {
        form.filters method="get" action="/console/check" {
            (field("User SID", "identity", identity, "US…"))
            (field("Permission", "permission", permission, "/twilio/voice/calls/create"))
            (field("Scope", "scope", scope, "OR… or AC…"))
            (field("Resource type (optional)", "resource_type", rtype, ""))
            (field("Resource id (optional)", "resource_id", rid, ""))
            button type="submit" { "Check" }
        }
    };
    let title = "Can this user do that here?";
    if let Some(r) = lacking(
        &session,
        "/console/check",
        title,
        CHECKS_CREATE,
        "checking permissions",
    ) {
        return r;
    }
    let asked = !(identity.is_empty() && permission.is_empty() && scope.is_empty());
    let mut status = StatusCode::OK;
    let result = if asked {
        let mut c = json!({"identity": identity.trim(), "permission": permission.trim(), "scope": scope.trim()});
        if !rtype.trim().is_empty() || !rid.trim().is_empty() {
            c["resource_type"] = json!(rtype.trim());
            c["resource_id"] = json!(rid.trim());
        }
        let a = console
            .as_app(
                &session,
                Method::POST,
                "/v2/Organizations/PermissionChecks",
                Payload::Json(json!({"checks": [c], "explain": true})),
            )
            .await;
        if let Some(r) = signed_out(&console, &headers, &a) {
            return r;
        }
        status = status_of(&a);
        Some(if !a.ok() {
            api_error(&a)
        } else {
            let r = &a.body["results"][0];
            let allowed = r["allowed"].as_bool() == Some(true);
            html! {
                section aria-labelledby="answer" {
                    h2 #answer {
                        @if allowed { span.allowed { "Allowed" } } @else { span.denied { "Not allowed" } }
                    }
                    p { "Reason: " code { (text(&r["reason"])) } }
                    @if r["grants"].as_array().is_some_and(|g| !g.is_empty()) {
                        p { "Granted by:" } (grants_table(&r["grants"]))
                    }
                    @if let Some(ds) = r["denials"].as_array().filter(|d| !d.is_empty()) {
                        p { "Removed by a deny of:" }
                        ul { @for d in ds { li { "role " (sid_link("role", &d["role_sid"])) " (assignment " code { (text(&d["assignment_sid"])) } ", pattern " code { (text(&d["pattern"])) } ")" } } }
                    }
                    @if !r["nearest_grant"].is_null() {
                        p { "Nearest grant elsewhere: role " (sid_link("role", &r["nearest_grant"]["role_sid"])) " at " code { (text(&r["nearest_grant"]["scope"])) } }
                    }
                }
            }
        })
    } else {
        None
    };
    let body = html! { (form) @if let Some(r) = result { (r) } };
    html_response(
        status,
        page(
            Some(&session),
            "/console/check",
            "Can this user do that here?",
            body,
        ),
    )
}

/// A page that asks the API one question about a scope: "what may this user do here?" or
/// "who may do this here?".
struct Question {
    path: &'static str,
    title: &'static str,
    doing: &'static str,
    /// The question's own field: console name, label, placeholder, API parameter.
    field: (&'static str, &'static str, &'static str, &'static str),
    submit: &'static str,
    api: &'static str,
    /// The answer's array, the columns' headers, the first column's cell, and what an empty
    /// answer says.
    rows: &'static str,
    first: &'static str,
    second: &'static str,
    cell: fn(&Value) -> Markup,
    none: &'static str,
}

const EFFECTIVE: Question = Question {
    path: "/console/effective",
    title: "Effective permissions",
    doing: "reading effective permissions",
    field: ("identity", "User SID", "US…", "Identity"),
    submit: "Show",
    api: "/v2/Organizations/EffectivePermissions",
    rows: "permissions",
    first: "Permission",
    second: "Where it comes from",
    cell: |x| html! { code { (text(&x["permission"])) } },
    none: "This user holds no permission at this scope.",
};

const HOLDERS: Question = Question {
    path: "/console/holders",
    title: "Who can do this here?",
    doing: "listing permission holders",
    field: (
        "permission",
        "Permission",
        "/twilio/voice/calls/create",
        "Permission",
    ),
    submit: "Who can",
    api: "/v2/Organizations/PermissionHolders",
    rows: "holders",
    first: "User",
    second: "Granted by",
    cell: |x| sid_link("user", &x["identity"]),
    none: "Nobody holds this permission at this scope.",
};

async fn ask(
    console: &ConsoleState,
    session: &Session,
    headers: &HeaderMap,
    raw: Option<String>,
    question: &Question,
) -> Response {
    let q = query(raw);
    let (name, label, placeholder, param) = question.field;
    let (asked, scope) = (q.get(name), q.get("scope"));
    let scope = if scope.is_empty() && !asked.is_empty() {
        session.org()
    } else {
        scope
    };
    let (path, title) = (question.path, question.title);
    let form = html! {
        form.filters method="get" action=(path) {
            (field(label, name, asked, placeholder))
            (field("Scope", "scope", scope, "OR… or AC…"))
            button type="submit" { (question.submit) }
        }
    };
    if let Some(r) = lacking(session, path, title, ASSIGN_LIST, question.doing) {
        return r;
    }
    if asked.is_empty() {
        return html_response(StatusCode::OK, page(Some(session), path, title, form));
    }
    let pairs = [(param, asked), ("Scope", scope)];
    let a = match get_page(console, session, headers, question.api, &pairs, ("100", &q)).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let body = html! {
        (form)
        @if !a.ok() { (api_error(&a)) } @else {
            table {
                thead { tr { th scope="col" { (question.first) } th scope="col" { (question.second) } } }
                tbody {
                    @for x in rows(&a, question.rows) {
                        tr { td { ((question.cell)(x)) } td { (grants_table(&x["grants"])) } }
                    }
                }
            }
            @if rows(&a, question.rows).is_empty() { p { (question.none) } }
            (pager_of(&a, path, &[(name, asked), ("scope", scope)]))
        }
    };
    answered(session, &a, path, title, body)
}

pub async fn effective(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    ask(&console, &session, &headers, q, &EFFECTIVE).await
}

pub async fn holders(
    State(console): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    ask(&console, &session, &headers, q, &HOLDERS).await
}
