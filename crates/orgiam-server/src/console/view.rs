//! The console's page frame and small pieces shared by pages. maud escapes every value
//! interpolated with `( )`: names, descriptions and messages from the store are text, never
//! markup.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::{Answer, BASE, Session};

/// A page of the console: its path, its label, and the permission reading it needs.
pub struct Nav {
    pub path: &'static str,
    pub label: &'static str,
    pub needs: &'static str,
    pub about: &'static str,
}

pub const PAGES: &[Nav] = &[
    Nav {
        path: "/console/roles",
        label: "Roles",
        needs: "/twilio/iam/role-assignments/list",
        about: "Search built-in and custom roles; a role's permissions.",
    },
    Nav {
        path: "/console/users",
        label: "Users",
        needs: "/twilio/iam/users/list",
        about: "The organization's users.",
    },
    Nav {
        path: "/console/accounts",
        label: "Accounts",
        needs: "/twilio/iam/accounts/list",
        about: "The organization's accounts and subaccounts.",
    },
    Nav {
        path: "/console/assignments",
        label: "Assignments",
        needs: "/twilio/iam/role-assignments/list",
        about: "Who holds which role where; grant and revoke.",
    },
    Nav {
        path: "/console/apps",
        label: "OAuth apps",
        needs: "/twilio/iam/oauth-apps/list",
        about: "Create, disable and rotate OAuth apps.",
    },
    Nav {
        path: "/console/audit",
        label: "Audit trail",
        needs: "/twilio/iam/audit-events/list",
        about: "Every change, newest first.",
    },
    Nav {
        path: "/console/check",
        label: "Check",
        needs: "/twilio/iam/permission-checks/create",
        about: "Can this user do that here? With the explanation.",
    },
    Nav {
        path: "/console/effective",
        label: "Effective permissions",
        needs: "/twilio/iam/role-assignments/list",
        about: "Everything a user may do at a scope, and where each grant comes from.",
    },
    Nav {
        path: "/console/holders",
        label: "Who can",
        needs: "/twilio/iam/role-assignments/list",
        about: "Who can do this here? The users holding a permission at a scope.",
    },
];

/// An HTML response.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// The frame of every page: skip link, navigation (the current page marked), the signed-in
/// app and sign-out, then the page's own content under one `h1`.
pub fn page(session: Option<&Session>, current: &str, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · orgiam console" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href=(BASE) { "orgiam console" }
                    @if let Some(s) = session {
                        nav aria-label="Console" {
                            ul {
                                @for p in PAGES {
                                    li {
                                        a href=(p.path) aria-current=[(p.path == current).then_some("page")] { (p.label) }
                                    }
                                }
                            }
                        }
                        span.who { "App " code { (s.app_sid()) } }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page that refuses a request (a form from another site, a missing CSRF token).
pub fn refused(status: StatusCode, message: &str) -> Response {
    html_response(
        status,
        page(
            None,
            "",
            "Request refused",
            html! {
                p.error role="alert" { (message) }
                p { a href=(BASE) { "Back to the console" } }
            },
        ),
    )
}

/// Says that the signed-in app lacks `permission`, which this page (or an action on it) needs.
pub fn lacks(app: &str, permission: &str, what: &str) -> Markup {
    html! {
        p.error role="alert" {
            "The signed-in app " code { (app) } " lacks the permission "
            code { (permission.trim_start_matches('/')) } ", which " (what) " needs."
        }
    }
}

/// An API error as a message on the page (a missing permission says which).
pub fn api_error(answer: &Answer) -> Markup {
    html! {
        p.error role="alert" {
            @if answer.status == StatusCode::FORBIDDEN {
                "Not permitted: "
            } @else {
                "Error: "
            }
            (answer.message())
        }
    }
}

/// A notice (a change made).
pub fn notice(text: Markup) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// A JSON value as text (`null` and missing as an em dash).
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A text field with its label.
pub fn field(label: &str, name: &str, value: &str, placeholder: &str) -> Markup {
    html! {
        label {
            (label)
            input type="text" name=(name) value=(value) placeholder=(placeholder);
        }
    }
}

/// Previous/next links of a listing.
pub fn pager(prev: Option<String>, next: Option<String>) -> Markup {
    html! {
        @if prev.is_some() || next.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(p) = prev { a href=(p) rel="prev" { "← Previous page" } }
                @if let Some(n) = next { a href=(n) rel="next" { "Next page →" } }
            }
        }
    }
}
