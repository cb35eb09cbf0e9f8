//! The API's own description, `GET /openapi.json` (OpenAPI 3.1).
//!
//! Every handler carries a `#[utoipa::path]` annotation and is registered in `crate::router`
//! with `utoipa_axum::routes!`, which both routes the requests and adds the operation to this
//! document: a route cannot be served without being described. What every operation shares
//! is added here once: the security schemes, and the error responses of the bearer-token
//! endpoints (400, 401, 403, 429), each with the error body.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{self, RefOr};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::error::json_bytes;

/// The security scheme of the organization APIs: an OAuth access token.
pub const BEARER: &str = "bearer";
/// HTTP Basic with an OAuth app's `client_id:client_secret` (the token endpoints only).
pub const BASIC: &str = "basic";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgiam",
        description = "A self-hosted Organization IAM server, wire-compatible with Twilio's \
Organizations IAM APIs. Every organization API takes an OAuth 2.0 access token \
(`Authorization: Bearer ...`) from `POST /v2/token`; HTTP Basic with an Account SID and Auth \
Token is refused. Errors are `{code, message, more_info, status}`. Lists are pages: \
`PageSize` (clamped to the endpoint's maximum), `Page` (0-based, echoed) and `PageToken` \
(opaque, from `meta.next_page_url` / `meta.previous_page_url`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorBody, Meta)),
    tags(
        (name = "OAuth", description = "Client-credentials tokens and their signing keys"),
        (name = "Roles", description = "Built-in and custom roles"),
        (name = "OAuthApps", description = "The organization's OAuth apps (API clients)"),
        (name = "RoleAssignments", description = "Who holds which role where"),
        (name = "EffectivePermissions", description = "What a user may do where, and who may do what"),
        (name = "Accounts", description = "The organization's accounts"),
        (name = "ScimUsers", description = "The organization's users over SCIM 2.0 (RFC 7643/7644), for identity providers; errors are SCIM error bodies (application/scim+json)"),
        (name = "AuditEvents", description = "Every change to access, newest first"),
        (name = "Operations", description = "Health, readiness, metrics and this document")
    )
)]
pub struct ApiDoc;

/// Every error body: exactly these four keys, in this order.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "code": 20001,
    "message": "PageSize must be an integer between 1 and 1000",
    "more_info": "https://www.twilio.com/docs/errors/20001",
    "status": 400
}))]
pub struct ErrorBody {
    /// Twilio's error code: 20001 bad request, 20003 unauthenticated or forbidden, 20404 not
    /// found, 20004 method not allowed, 20409 conflict, 20429 too many requests, 20500
    /// internal, 20503 unavailable.
    pub code: u32,
    /// What went wrong, naming the offending parameter or field.
    pub message: String,
    /// `https://www.twilio.com/docs/errors/<code>`.
    pub more_info: String,
    /// The HTTP status, again.
    pub status: u16,
}

/// The links of a page (every list endpoint's `meta`).
#[derive(Serialize, ToSchema)]
pub struct Meta {
    pub page_size: u32,
    /// The 0-based page index, as the request gave it.
    pub page: u32,
    /// The name of the array beside `meta`.
    pub key: String,
    pub first_page_url: String,
    /// `null` on page 0.
    #[schema(required = true)]
    pub previous_page_url: Option<String>,
    /// `null` on the last page.
    #[schema(required = true)]
    pub next_page_url: Option<String>,
    pub url: String,
}

/// The paging parameters of every list endpoint. Unknown parameters are ignored.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Rows per page (default 50); a value above the endpoint's maximum is clamped to it.
    #[param(rename = "PageSize", minimum = 1, maximum = 9223372036854775807_i64)]
    page_size: Option<i64>,
    /// The 0-based page index, echoed in `meta.page`.
    #[param(rename = "Page", minimum = 0, maximum = 4294967295_i64)]
    page: Option<i64>,
    /// The opaque position from `meta.next_page_url` or `meta.previous_page_url`; bound to the
    /// endpoint, the organization and the filters (anything else is a 400).
    #[param(rename = "PageToken")]
    page_token: Option<String>,
}

/// The organization in a preview path: the caller's own (another's is a 404).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct OrgPath {
    /// The organization's SID: the caller's own.
    #[param(pattern = "^OR[0-9a-f]{32}$")]
    org: String,
}

/// The shared parts: security schemes, and the error responses of the bearer endpoints.
struct Shared;

fn error_response(description: &str, header: Option<(&str, &str)>) -> openapi::Response {
    error_response_as(description, header, "application/json", "ErrorBody")
}

/// An error response whose body is `schema` as `content_type`.
fn error_response_as(
    description: &str,
    header: Option<(&str, &str)>,
    content_type: &str,
    schema: &str,
) -> openapi::Response {
    let mut b = openapi::ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            openapi::ContentBuilder::new()
                .schema(Some(openapi::Ref::from_schema_name(schema)))
                .build(),
        );
    if let Some((name, what)) = header {
        b = b.header(
            name,
            openapi::HeaderBuilder::new()
                .schema(openapi::ObjectBuilder::new().schema_type(openapi::Type::String))
                .description(Some(what))
                .build(),
        );
    }
    b.build()
}

impl Modify for Shared {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /v2/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            BASIC,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An OAuth app's client_id and client_secret (client_secret_basic)",
                    ))
                    .build(),
            ),
        );
        let shared = [
            (
                "400",
                error_response("A malformed parameter, body or SID (code 20001)", None),
            ),
            (
                "401",
                error_response(
                    "No, a malformed, expired or revoked token, or HTTP Basic (code 20003)",
                    Some((
                        "WWW-Authenticate",
                        "Bearer, with error=\"invalid_token\" when a token was sent",
                    )),
                ),
            ),
            (
                "403",
                error_response(
                    "The app's policy lacks the endpoint's permission (code 20003)",
                    None,
                ),
            ),
            (
                "429",
                error_response(
                    "Too many requests from this app (code 20429)",
                    Some(("Retry-After", "Seconds to wait")),
                ),
            ),
        ];
        // The SCIM endpoints answer errors with the SCIM error body.
        let scim_shared = [
            ("400", "A malformed parameter, body or SID (code 20001)", None),
            (
                "401",
                "No, a malformed, expired or revoked token, or HTTP Basic (code 20003)",
                Some((
                    "WWW-Authenticate",
                    "Bearer, with error=\"invalid_token\" when a token was sent",
                )),
            ),
            (
                "403",
                "The app's policy lacks the endpoint's permission (code 20003)",
                None,
            ),
            (
                "429",
                "Too many requests from this app (code 20429)",
                Some(("Retry-After", "Seconds to wait")),
            ),
        ]
        .map(|(status, what, header)| {
            (
                status,
                error_response_as(what, header, crate::routes::scim::SCIM_JSON, "ScimError"),
            )
        });
        for (path, item) in doc.paths.paths.iter_mut() {
            let shared = if crate::routes::scim::is_path(path) {
                &scim_shared
            } else {
                &shared
            };
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let bearer = op.security.as_ref().is_some_and(|reqs| {
                    serde_json::to_value(reqs)
                        .map(|v| v.to_string().contains(&format!("\"{BEARER}\"")))
                        .unwrap_or(false)
                });
                if !bearer {
                    continue;
                }
                for (status, response) in shared {
                    op.responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| RefOr::T(response.clone()));
                }
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static openapi::OpenApi {
    static DOC: OnceLock<openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = crate::api_routes(0, true).split_for_parts().1;
        // After the routes are in: the shared parts apply to every operation.
        Shared.modify(&mut doc);
        doc
    })
}

/// The document as served and as committed (`docs/openapi.json`): pretty JSON, one newline.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut s = document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Operations",
    operation_id = "FetchOpenApi",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn serve() -> Response {
    json_bytes(StatusCode::OK, document_json())
}
