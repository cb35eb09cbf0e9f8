//! `serve`'s settings: every key, its default, and the variables that set it (read by
//! `commands`; listed in `serve --help`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use orgiam_server::limits::{Limits, Rate};

/// Serve settings: defaults, then the TOML file, then `ORGIAM_*` and flags (clap reads both).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// The store, when neither `--database-url` nor `ORGIAM_DATABASE_URL` names one.
    pub(crate) database_url: Option<String>,
    pub(crate) listen: String,
    pub(crate) public_url: Option<String>,
    pub(crate) log_format: String,
    pub(crate) poll_interval_ms: u64,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) request_timeout_secs: u64,
    pub(crate) max_connections: usize,
    /// Open connections per source address (0 = no cap).
    pub(crate) max_connections_per_source: usize,
    /// A request head must arrive within this many seconds of its first byte.
    pub(crate) header_read_timeout_secs: u64,
    /// A connection waiting this long for its next request (or not reading its answer) is closed.
    pub(crate) idle_timeout_secs: u64,
    /// Token requests per second per client id (0 = unlimited), and the burst.
    pub(crate) token_rate_per_second: u32,
    pub(crate) token_burst: u32,
    /// Token requests with wrong credentials per second, per client id and per source
    /// address (0 = unlimited), and the burst.
    pub(crate) token_failure_rate_per_second: u32,
    pub(crate) token_failure_burst: u32,
    /// API requests per second per app (0 = unlimited), and the burst.
    pub(crate) api_rate_per_second: u32,
    pub(crate) api_burst: u32,
    /// Keep rendered role pages in memory.
    pub(crate) role_page_cache: bool,
    /// Keep permission checks' decision data in memory.
    pub(crate) decision_index: bool,
    /// The most time one request's queries may run (0 = no bound); over it: 503, code 20503.
    pub(crate) statement_timeout_ms: u64,
    /// Serve `/metrics` on this address only, not on `listen`.
    pub(crate) metrics_listen: Option<String>,
    /// The master key itself (base64 or hex), or a file holding it; and, during a rotation of
    /// the master key, the previous one. `ORGIAM_MASTER_KEY`/`--master-key-file` win.
    pub(crate) master_key: Option<Redacted>,
    pub(crate) master_key_file: Option<PathBuf>,
    pub(crate) previous_master_key: Option<Redacted>,
    pub(crate) previous_master_key_file: Option<PathBuf>,
    /// Browser origins allowed to call the API (CORS), e.g. ["https://console.example.com"];
    /// empty: CORS is off. `ORGIAM_CORS_ALLOWED_ORIGINS` takes them comma-separated.
    pub(crate) cors_allowed_origins: Vec<String>,
}

/// A setting whose value is secret: `Debug` never shows it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Redacted(pub(crate) String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Settings read from `ORGIAM_<NAME>` besides the flags' own variables.
pub(crate) const ENV_SETTINGS: &[&str] = &[
    "poll_interval_ms",
    "max_body_bytes",
    "max_header_bytes",
    "request_timeout_secs",
    "max_connections",
    "max_connections_per_source",
    "header_read_timeout_secs",
    "idle_timeout_secs",
    "token_rate_per_second",
    "token_burst",
    "token_failure_rate_per_second",
    "token_failure_burst",
    "api_rate_per_second",
    "api_burst",
    "role_page_cache",
    "decision_index",
    "statement_timeout_ms",
    "metrics_listen",
];

impl Default for Settings {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            log_format: "text".into(),
            poll_interval_ms: 250,
            max_body_bytes: l.max_body_bytes,
            max_header_bytes: l.max_header_bytes,
            request_timeout_secs: l.request_timeout.as_secs(),
            max_connections: l.max_connections,
            max_connections_per_source: l.max_connections_per_source,
            header_read_timeout_secs: l.header_read_timeout.as_secs(),
            idle_timeout_secs: l.idle_timeout.as_secs(),
            token_rate_per_second: l.token_rate.per_second,
            token_burst: l.token_rate.burst,
            token_failure_rate_per_second: l.token_failure_rate.per_second,
            token_failure_burst: l.token_failure_rate.burst,
            api_rate_per_second: l.api_rate.per_second,
            api_burst: l.api_rate.burst,
            role_page_cache: true,
            decision_index: true,
            statement_timeout_ms: orgiam_store::DEFAULT_STATEMENT_TIMEOUT.as_millis() as u64,
            metrics_listen: None,
            master_key: None,
            master_key_file: None,
            previous_master_key: None,
            previous_master_key_file: None,
            cors_allowed_origins: Vec::new(),
        }
    }
}

impl Settings {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            max_header_bytes: self.max_header_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
            max_connections_per_source: self.max_connections_per_source,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            token_rate: Rate {
                per_second: self.token_rate_per_second,
                burst: self.token_burst,
            },
            api_rate: Rate {
                per_second: self.api_rate_per_second,
                burst: self.api_burst,
            },
            token_failure_rate: Rate {
                per_second: self.token_failure_rate_per_second,
                burst: self.token_failure_burst,
            },
        }
    }
}

/// Every key of the settings file with its default, for `serve --help` (generated from the
/// settings type, so it cannot fall behind).
pub fn settings_help() -> String {
    let mut text = String::from(
        "A TOML file of settings; flags and ORGIAM_* variables override it. Unknown keys are refused.\nKeys (default):",
    );
    if let Ok(serde_json::Value::Object(keys)) = serde_json::to_value(Settings::default()) {
        for (key, default) in keys {
            let default = match default {
                serde_json::Value::Null => "none".to_owned(),
                other => other.to_string(),
            };
            text.push_str(&format!("\n  {key} ({default})"));
        }
    }
    text
}
