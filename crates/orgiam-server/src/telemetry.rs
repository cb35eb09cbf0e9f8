//! One tracing span per request (request id, method, matched route, status, latency, client),
//! the `Twilio-Request-Id` header, and Prometheus metrics.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use orgiam_domain::sid::RequestSid;

use crate::limits::{Limits, PathRules};

/// The response header carrying the request's id (HTTP header names are case-insensitive; HTTP/1
/// writes them as given, lower-case here).
const REQUEST_ID: HeaderName = HeaderName::from_static("twilio-request-id");

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets in seconds: histograms (not summaries) so replicas aggregate.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The process-wide Prometheus recorder (installed on first use), with every family described.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// HELP text (and so TYPE) for every family, and the constant ones.
fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(
        "orgiam_http_requests_total",
        "HTTP requests answered, by method, route pattern and status"
    );
    metrics::describe_histogram!(
        "orgiam_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its response, by method, route pattern and status"
    );
    metrics::describe_counter!(
        "orgiam_http_rate_limited_total",
        "Requests refused with 429 by a rate limit, by route pattern"
    );
    metrics::describe_gauge!(
        "orgiam_build_info",
        "Always 1; the labels name the running build"
    );
    metrics::describe_histogram!(
        "orgiam_revision_poll_duration_seconds",
        Unit::Seconds,
        "Time one poll of the store's revision counters (and any reload it caused) took"
    );
    metrics::describe_gauge!(
        "orgiam_revision_poll_last_success_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the last successful revision poll (lag = now - this)"
    );
    metrics::describe_counter!(
        "orgiam_revision_poll_failures_total",
        "Revision polls that failed (the store did not answer)"
    );
    metrics::describe_gauge!(
        "orgiam_revision_poll_lag_seconds",
        Unit::Seconds,
        "Seconds since the last successful revision poll: how stale this server's view of apps, keys and roles may be"
    );
    metrics::describe_gauge!(
        "orgiam_store_pool_connections",
        "Store connections open, by state (in_use, idle)"
    );
    metrics::describe_gauge!(
        "orgiam_store_pool_max_connections",
        "The most connections the store pool opens"
    );
    metrics::describe_histogram!(
        "orgiam_store_pool_wait_seconds",
        Unit::Seconds,
        "Time taken to get a connection from the store pool, probed at every revision poll"
    );
    metrics::describe_counter!(
        "orgiam_cache_requests_total",
        "Look-ups in the in-memory caches, by cache and result (hit, miss)"
    );
    metrics::describe_counter!(
        "orgiam_token_failures_total",
        "Token requests (kind token_request, reason the OAuth error) and bearer tokens (kind bearer) refused, by reason"
    );
    metrics::describe_counter!(
        "orgiam_changes_logged_total",
        "Changes recorded in the store (audit events) this server has logged"
    );
    metrics::describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory size in bytes"
    );
    metrics::describe_gauge!(
        "process_cpu_seconds_total",
        Unit::Seconds,
        "User and system CPU time spent, in seconds"
    );
    metrics::describe_gauge!("process_open_fds", "Open file descriptors");
    metrics::describe_gauge!(
        "process_start_time_seconds",
        Unit::Seconds,
        "Start time of the process since the Unix epoch, in seconds"
    );
    metrics::gauge!(
        "orgiam_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
    )
    .set(1.0);
    // Counters that read 0 until something happens are shown from the start.
    LazyLock::force(&CACHE_COUNTERS);
    metrics::counter!("orgiam_changes_logged_total").increment(0);
    if let Some(start) = process_start_time() {
        metrics::gauge!("process_start_time_seconds").set(start);
    }
}

/// The Prometheus text of every family, with the process gauges read now.
pub fn render() -> String {
    let Some(handle) = prometheus() else {
        return String::new();
    };
    process_metrics();
    let last = f64::from_bits(LAST_POLL.load(std::sync::atomic::Ordering::Relaxed));
    if last > 0.0 {
        metrics::gauge!("orgiam_revision_poll_lag_seconds").set((unix_now() - last).max(0.0));
    }
    handle.render()
}

/// Records one revision poll: its duration, and on success the time it ended.
pub fn record_poll(took: std::time::Duration, ok: bool) {
    metrics::histogram!("orgiam_revision_poll_duration_seconds").record(took.as_secs_f64());
    if ok {
        let now = unix_now();
        LAST_POLL.store(now.to_bits(), std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!("orgiam_revision_poll_last_success_timestamp_seconds").set(now);
    } else {
        metrics::counter!("orgiam_revision_poll_failures_total").increment(1);
    }
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The Unix time of the last successful poll (0.0 before the first), as `f64` bits.
static LAST_POLL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The pool's connections (in use, idle, the most) and a probe of how long taking one waits.
pub async fn record_pool(store: &dyn orgiam_domain::store::Store) {
    let pool = store.pool_status();
    let idle = pool.idle.min(pool.size);
    metrics::gauge!("orgiam_store_pool_connections", "state" => "in_use")
        .set(f64::from(pool.size - idle));
    metrics::gauge!("orgiam_store_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("orgiam_store_pool_max_connections").set(f64::from(pool.max));
    if let Ok(waited) = store.pool_wait().await {
        metrics::histogram!("orgiam_store_pool_wait_seconds").record(waited.as_secs_f64());
    }
}

/// The caches whose look-ups are counted.
#[derive(Clone, Copy, Debug)]
pub enum Cache {
    /// Bearer tokens already verified.
    VerifiedTokens,
    /// Apps held in memory (by client id).
    Apps,
    /// Rendered role pages.
    RolePages,
    /// Custom roles' expanded permissions.
    RoleExpansions,
}

impl Cache {
    const ALL: [Cache; 4] = [
        Cache::VerifiedTokens,
        Cache::Apps,
        Cache::RolePages,
        Cache::RoleExpansions,
    ];

    fn label(self) -> &'static str {
        match self {
            Cache::VerifiedTokens => "verified_tokens",
            Cache::Apps => "apps",
            Cache::RolePages => "role_pages",
            Cache::RoleExpansions => "role_expansions",
        }
    }
}

/// Registered (hit, miss) counters of every cache: a look-up costs an atomic add, not a
/// registry look-up.
static CACHE_COUNTERS: LazyLock<Vec<(metrics::Counter, metrics::Counter)>> = LazyLock::new(|| {
    Cache::ALL
        .iter()
        .map(|c| {
            (
                metrics::counter!("orgiam_cache_requests_total", "cache" => c.label(), "result" => "hit"),
                metrics::counter!("orgiam_cache_requests_total", "cache" => c.label(), "result" => "miss"),
            )
        })
        .collect()
});

/// Counts one look-up in `cache`.
pub fn cache_lookup(cache: Cache, hit: bool) {
    if let Some((hits, misses)) = CACHE_COUNTERS.get(cache as usize) {
        if hit { hits } else { misses }.increment(1);
    }
}

/// Counts one refused token request (`kind` `token_request`, `reason` its OAuth error code)
/// or bearer token (`kind` `bearer`); `reason` is one of a fixed few words.
pub fn token_failure(kind: &'static str, reason: &'static str) {
    metrics::counter!("orgiam_token_failures_total", "kind" => kind, "reason" => reason)
        .increment(1);
}

/// Counts changes logged.
pub fn changes_logged(n: usize) {
    if n > 0 {
        metrics::counter!("orgiam_changes_logged_total").increment(n as u64);
    }
}

/// Clock ticks per second of `/proc/self/stat` times (USER_HZ, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// `/proc/self/stat` fields after the command name (which may hold spaces).
fn proc_stat() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn process_start_time() -> Option<f64> {
    // Field 22 (starttime, ticks after boot); after the name, index 19.
    let start_ticks: f64 = proc_stat()?.get(19)?.parse().ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: f64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(btime + start_ticks / CLOCK_TICKS)
}

/// Resident memory, CPU time and open descriptors, from `/proc` (Linux; elsewhere absent).
fn process_metrics() {
    if let Some(fields) = proc_stat() {
        // utime and stime are fields 14 and 15 (indices 11 and 12 after the name).
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(u), Some(s)) = (ticks(11), ticks(12)) {
            metrics::gauge!("process_cpu_seconds_total").set((u + s) / CLOCK_TICKS);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    {
        metrics::gauge!("process_resident_memory_bytes").set(kb * 1024.0);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(dir.count() as f64);
    }
}

/// What a request's log line needs from inside it: its id, and the app that made it.
#[derive(Debug)]
pub struct RequestContext {
    /// The request id (`RQ…`), kept as the response header's value: one buffer serves the
    /// header, the log line and audit events.
    id: HeaderValue,
    pub client: OnceLock<Arc<orgiam_domain::model::App>>,
}

impl RequestContext {
    fn new() -> Self {
        let id = axum::body::Bytes::from(RequestSid::random().into_string());
        Self {
            // A SID is visible ASCII, which a header value always accepts.
            id: HeaderValue::from_maybe_shared(id).unwrap_or(HeaderValue::from_static("")),
            client: OnceLock::new(),
        }
    }

    /// The request id.
    pub fn id(&self) -> &str {
        self.id.to_str().unwrap_or_default()
    }
}

pub use crate::error::ErrorCause;

/// The middleware around every route: [`trace`], as a tower layer. A hand-written service
/// rather than `axum::middleware::from_fn`, which boxes the inner service again for each
/// request; this one only boxes the future.
#[derive(Clone)]
pub struct TraceLayer {
    pub limits: Arc<Limits>,
    pub rules: PathRules,
}

impl<S> tower_layer::Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService {
            inner,
            limits: self.limits.clone(),
            rules: self.rules,
        }
    }
}

/// See [`TraceLayer`].
#[derive(Clone)]
pub struct TraceService<S> {
    inner: S,
    limits: Arc<Limits>,
    rules: PathRules,
}

impl<S> tower_service::Service<Request> for TraceService<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The service that was polled ready answers; a clone takes its place (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limits = self.limits.clone();
        let rules = self.rules;
        Box::pin(async move {
            let run = |req| async move {
                match inner.call(req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                }
            };
            Ok(trace(&limits, &rules, req, run).await)
        })
    }
}

/// Wraps every request. One log line per request, written here and only here: failures (5xx)
/// at `error`, everything else at `debug` (so at the default `info` level a healthy server
/// writes nothing per request). No header value, and so no token or secret, is ever logged.
/// Inside it, [`crate::limits::guard`] applies the request limits.
pub async fn trace<F>(
    limits: &Limits,
    rules: &PathRules,
    mut req: Request,
    run: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let ctx = Arc::new(RequestContext::new());
    req.extensions_mut().insert(ctx.clone());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let start = Instant::now();
    let mut res = crate::limits::guard(limits, rules, req, run).await;
    let latency = start.elapsed();
    let status = res.status().as_u16();
    let cause = res.extensions_mut().remove::<ErrorCause>();
    let client = ctx.client.get().map_or("-", |app| app.sid.as_str());
    let latency_us = latency.as_micros() as u64;
    if status >= 500 {
        tracing::error!(
            request_id = %ctx.id(), method = %method, route = %route, status, latency_us,
            client = %client,
            cause = cause.as_ref().map_or("", |c| c.0.as_str()),
            "request failed"
        );
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            request_id = %ctx.id(), method = %method, route = %route, status, latency_us,
            client = %client,
            refused = cause.as_ref().map_or("", |c| c.0.as_str()),
            "request finished"
        );
    }
    res.headers_mut().insert(REQUEST_ID, ctx.id.clone());
    let (requests, duration) = request_metrics(route, &method, status);
    requests.increment(1);
    duration.record(latency.as_secs_f64());
    if status == 429 {
        metrics::counter!("orgiam_http_rate_limited_total", "route" => route.to_owned())
            .increment(1);
    }
    res
}

type RequestMetrics = (metrics::Counter, metrics::Histogram);

/// Registered metric handles by route, then method and status.
type MetricsByRoute = HashMap<String, HashMap<(&'static str, u16), RequestMetrics>>;
static REQUEST_METRICS: LazyLock<RwLock<MetricsByRoute>> = LazyLock::new(Default::default);

/// The request counter and latency histogram for one (route, method, status), registered on
/// first use: a request then costs a map lookup, not a registry lookup with three freshly
/// allocated labels. Routes are the router's patterns and methods outside the standard ones
/// are counted as `OTHER`, so the label sets (and the map) stay bounded whatever clients send.
fn request_metrics(route: &str, method: &Method, status: u16) -> RequestMetrics {
    let method = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    };
    let key = (method, status);
    if let Ok(map) = REQUEST_METRICS.read()
        && let Some(handles) = map.get(route).and_then(|m| m.get(&key))
    {
        return handles.clone();
    }
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    let handles = (
        metrics::counter!("orgiam_http_requests_total", &labels),
        metrics::histogram!("orgiam_http_request_duration_seconds", &labels),
    );
    if let Ok(mut map) = REQUEST_METRICS.write() {
        map.entry(route.to_owned())
            .or_default()
            .insert(key, handles.clone());
    }
    handles
}
