//! Server settings (the CLI layers defaults, a file, `ORGIAM_*` and flags into these).

use std::net::SocketAddr;
use std::time::Duration;

use crate::limits::Limits;
use crate::master_key::MasterKeys;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The absolute base URL clients use (behind a proxy or load balancer); links and the token
    /// issuer use it. Without it, links use the request's `Host`.
    pub public_url: Option<String>,
    /// How often the store's revision counters are polled (changes made by other replicas or
    /// by the CLI are honoured within this).
    pub poll_interval: Duration,
    pub limits: Limits,
    /// Keep rendered role pages in memory (dropped whenever custom roles change). Turn off
    /// to measure the store's own query cost.
    pub role_page_cache: bool,
    /// Keep permission checks' decision data in memory, following the store's changes. Turn
    /// off to measure (or use) the store path: every check reads the store.
    pub decision_index: bool,
    /// Serve `GET /metrics` on this address only (not on `listen`); `None`: on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// The keys the store's private keys and MAC keys are sealed with (the first seals; the
    /// others only open, during a rotation of the master key). `Debug` shows their ids only.
    pub master_keys: MasterKeys,
    /// The browser origins allowed to call the API cross-origin (CORS); empty: CORS is off.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            poll_interval: Duration::from_millis(250),
            limits: Limits::default(),
            role_page_cache: true,
            decision_index: true,
            metrics_listen: None,
            master_keys: MasterKeys::default(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// The `iss` of access tokens: the public URL when one is configured, else `orgiam`, so
    /// that every replica of one install agrees.
    pub fn issuer(&self) -> String {
        self.public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| "orgiam".to_owned())
    }
}
