//! orgiam's HTTP server. `Application::build` binds the listener first, so tests serve on
//! `127.0.0.1:0` and read the port back.

pub mod assign;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod conn;
pub mod console;
pub mod cors;
pub mod effective;
pub mod error;
pub mod import;
pub mod input;
pub mod keys;
pub mod limits;
pub mod list;
pub mod manage;
pub mod master_key;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::Uri;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use orgiam_domain::catalog::Catalog;
use orgiam_domain::{Error, Result};
use orgiam_store::Directory;

pub use config::ServerConfig;
use error::ApiError;
use state::{AppState, State};

async fn not_found(uri: Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let e = Error::not_found(format!("The resource {} was not found", uri.path()));
    if routes::scim::is_path(uri.path()) {
        return routes::scim::error_from(e);
    }
    ApiError(e).into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let e = Error::MethodNotAllowed(format!("Method {method} is not allowed on {}", uri.path()));
    if routes::scim::is_path(uri.path()) {
        return routes::scim::error_from(e);
    }
    ApiError(e).into_response()
}

/// Every described route (see `openapi`): each handler's `#[utoipa::path]` annotation and its
/// `routes!` registration are all it takes to serve and describe an endpoint. Handlers of one
/// path go in one `routes!`. `max_body_bytes` caps the routes that read a body (a layer on
/// every route would cost each GET a request extension for nothing); `metrics` serves
/// `GET /metrics` here (not when it has its own address).
pub(crate) fn api_routes(max_body_bytes: usize, metrics: bool) -> OpenApiRouter<AppState> {
    let capped = axum::extract::DefaultBodyLimit::max(max_body_bytes);
    use routes::{
        accounts, assignments, audit, checks, oauth, oauth_apps, ops, permissions, role_admin,
        roles, scim, tokens,
    };
    // A batch of checks may be larger than other bodies.
    let batch_capped =
        axum::extract::DefaultBodyLimit::max(max_body_bytes.max(limits::BATCH_BODY_BYTES));
    let with_body = OpenApiRouter::new()
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::token_v1))
        .routes(routes!(tokens::introspect))
        .routes(routes!(tokens::introspect_v1))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::revoke_v1))
        .routes(routes!(role_admin::create))
        .routes(routes!(
            role_admin::update,
            role_admin::patch,
            role_admin::delete
        ))
        .routes(routes!(oauth_apps::list, oauth_apps::create))
        .routes(routes!(
            oauth_apps::fetch,
            oauth_apps::update,
            oauth_apps::delete
        ))
        .routes(routes!(oauth_apps::rotate))
        .routes(routes!(assignments::v2_list, assignments::v2_create))
        .routes(routes!(
            assignments::preview_list,
            assignments::preview_create
        ))
        .routes(routes!(scim::list, scim::create))
        .routes(routes!(scim::search))
        .routes(routes!(
            scim::fetch,
            scim::replace,
            scim::patch,
            scim::delete
        ))
        .layer(capped);
    let router = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(with_body)
        .routes(routes!(oauth::jwks))
        .routes(routes!(oauth::metadata))
        .routes(routes!(roles::list))
        .routes(routes!(roles::fetch))
        .routes(routes!(assignments::v2_delete))
        .routes(routes!(assignments::preview_delete))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::fetch))
        .routes(routes!(permissions::list))
        .routes(routes!(audit::list))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(openapi::serve))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(checks::create))
                .layer(batch_capped),
        )
        .routes(routes!(checks::effective_permissions))
        .routes(routes!(checks::permission_holders))
        .routes(routes!(scim::service_provider))
        .routes(routes!(scim::resource_types))
        .routes(routes!(scim::schemas));
    if metrics {
        router.routes(routes!(ops::metrics))
    } else {
        router
    }
}

/// What the limits (applied before routing) need to know about the routes.
const PATH_RULES: limits::PathRules = limits::PathRules {
    batch_paths: &[routes::checks::CHECKS_PATH],
    too_large: too_large_body,
};

/// A declared body beyond the limit: introspection and revocation answer with RFC error bodies
/// (which carry the same Twilio fields), SCIM with the SCIM error body, every other path with
/// the SPEC's 413.
fn too_large_body(path: &str, max: usize) -> axum::response::Response {
    if routes::tokens::is_endpoint(path) {
        routes::tokens::too_large(max)
    } else if routes::scim::is_path(path) {
        routes::scim::error_from(Error::PayloadTooLarge(format!(
            "The request body is too large: at most {max} bytes"
        )))
    } else {
        limits::too_large(max)
    }
}

/// Every route. Middleware order (outermost first): CORS (when configured), the request span
/// and id, then, in the same middleware, the limits (header size, declared body size,
/// timeout); then the text guard (the query string, see `input`); on routes that read a body,
/// the body-size cap; then the routes, where the `Caller` extractor authenticates and
/// rate-limits per app.
pub fn router(state: AppState) -> Router {
    let limits = Arc::new(state.config.limits.clone());
    let (router, _) =
        api_routes(limits.max_body_bytes, state.config.metrics_listen.is_none()).split_for_parts();
    let cors = cors::layer(&state.config.cors_allowed_origins);
    // The console calls the API's routes in-process, with the API's own checks.
    let api = router
        .clone()
        .layer(input::TextGuardLayer)
        .with_state(state.clone());
    let router = router
        .merge(console::router(state.clone(), api))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(input::TextGuardLayer)
        .layer(telemetry::TraceLayer {
            limits,
            rules: PATH_RULES,
        })
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Binds a listener on `addr`.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Unavailable(format!("cannot listen on {addr}: {e}")))
}

/// The router of `metrics_listen`: `GET /metrics` and nothing else.
fn metrics_router() -> Router {
    Router::new()
        .route("/metrics", get(routes::ops::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// A bound, ready-to-serve server.
pub struct Application {
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    state: AppState,
}

impl Application {
    /// Loads the catalog into the store, the keys and apps into memory, and binds the listener.
    pub async fn build(config: ServerConfig, store: Arc<dyn Directory>) -> Result<Self> {
        let listener = bind(config.listen).await?;
        Self::build_on(listener, config, store).await
    }

    /// [`Application::build`] on a listener bound beforehand (`orgiam serve` binds before it
    /// opens the store, so a start that cannot serve writes nothing).
    pub async fn build_on(
        listener: tokio::net::TcpListener,
        mut config: ServerConfig,
        store: Arc<dyn Directory>,
    ) -> Result<Self> {
        let catalog = Catalog::builtin().map_err(Error::internal)?;
        store.sync_builtin_roles(&catalog.roles).await?;
        config.listen = listener.local_addr().map_err(Error::internal)?;
        let metrics_listener = match config.metrics_listen {
            None => None,
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    Error::Unavailable(format!("cannot listen on {addr} (metrics_listen): {e}"))
                })?;
                config.metrics_listen = Some(l.local_addr().map_err(Error::internal)?);
                Some(l)
            }
        };
        let _ = telemetry::prometheus();
        let state = Arc::new(State::load(store, config, catalog).await?);
        Ok(Self {
            listener,
            metrics_listener,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.config.listen
    }

    /// The routes over this server's state, to drive in-process (the HTTP-to-store fuzz
    /// target sends requests through it without a socket).
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Where `GET /metrics` is served when it has its own address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.state.config.metrics_listen
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let state = self.state.clone();
        let poller = tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.config.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for n in 0u64.. {
                tick.tick().await;
                if n % 64 == 0 {
                    state.rate.housekeeping();
                }
                let started = std::time::Instant::now();
                let refreshed = state.refresh().await;
                telemetry::record_poll(started.elapsed(), refreshed.is_ok());
                if let Err(e) = refreshed {
                    tracing::warn!(error = %e, "refreshing apps and keys from the store failed");
                }
                match state.log_changes().await {
                    Ok(n) => telemetry::changes_logged(n),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "reading the changes recorded in the store failed"
                    ),
                }
                telemetry::record_pool(&*state.store).await;
            }
        });
        let limits = self.state.config.limits.connections();
        let metrics = self.metrics_listener.map(|listener| {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let served = tokio::spawn(conn::serve(
                listener,
                metrics_router(),
                limits.clone(),
                async {
                    let _ = stopped.await;
                },
            ));
            (stop, served)
        });
        let app = router(self.state);
        conn::serve(self.listener, app, limits, shutdown).await;
        if let Some((stop, served)) = metrics {
            let _ = stop.send(());
            let _ = served.await;
        }
        poller.abort();
        Ok(())
    }
}
