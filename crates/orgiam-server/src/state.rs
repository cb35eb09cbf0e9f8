//! Shared server state: the store, the catalog, and in-memory views of apps and keys that
//! follow the store's revision counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::{App, CatalogPermission};
use orgiam_domain::page::PageTokenCodec;
use orgiam_domain::secret::SecretHasher;
use orgiam_domain::sid::{AppSid, RoleSid};
use orgiam_domain::store::{APPS_REVISION, KEYS_REVISION, ROLES_REVISION, Store};
use orgiam_domain::{Error, Result};

use crate::config::ServerConfig;
use crate::keys::{KeyRing, LEEWAY_SECS, Verified};
use crate::limits::RateLimiters;

pub type AppState = Arc<State>;

pub struct State {
    pub store: Arc<dyn Store>,
    pub config: ServerConfig,
    pub catalog: Catalog,
    /// The expanded permissions of each built-in role, computed once.
    pub builtin_permissions: HashMap<RoleSid, Arc<[CatalogPermission]>>,
    pub pages: PageTokenCodec,
    pub hasher: SecretHasher,
    pub rate: RateLimiters,
    keys: RwLock<Arc<KeyRing>>,
    /// Tokens already verified: a hit skips the signature check. Expiry is re-checked on every
    /// hit, the app's status is checked from `apps` on every request, and a key change
    /// empties it. Bounded by count only: an idle-time policy would cost a clock read and a
    /// timer-wheel update on every hit.
    verified: moka::sync::Cache<String, Arc<Verified>, FastHash>,
    /// Rendered role pages, keyed by the roles revision they were read at, the organization,
    /// the link base and the query: a repeated listing touches no database.
    pub role_pages: moka::sync::Cache<String, axum::body::Bytes, FastHash>,
    roles_rev: AtomicI64,
    apps: RwLock<HashMap<AppSid, Arc<App>>>,
    /// Client ids looked up in the store and not found: a flood of made-up ids costs one
    /// store read per id, not per request. Emptied whenever apps change.
    unknown_apps: moka::sync::Cache<AppSid, ()>,
    apps_rev: AtomicI64,
    keys_rev: AtomicI64,
    /// The listen address as a Host, for links when a request has no usable `Host` header.
    pub(crate) listen_host: String,
}

/// The hasher of the per-request caches: foldhash with a per-process random seed, several
/// times cheaper than the default SipHash over a ~350-byte token. Keys are whole tokens and
/// page keys, compared in full on a hit, so a collision costs time, never a wrong answer.
type FastHash = foldhash::fast::RandomState;

fn poisoned() -> Error {
    Error::internal("a lock was poisoned")
}

impl State {
    /// Loads keys, apps and the catalog's expansions from the store.
    pub async fn load(
        store: Arc<dyn Store>,
        config: ServerConfig,
        catalog: Catalog,
    ) -> Result<Self> {
        // Every stored key must open: a server that cannot sign must not start.
        let keys = config.master_keys.server_keys(store.as_ref()).await?;
        config.master_keys.signing_keys(store.as_ref()).await?;
        let builtin_permissions = catalog
            .roles
            .iter()
            .map(|r| (r.sid.clone(), catalog.expand(&r.policy).into()))
            .collect();
        let state = Self {
            pages: PageTokenCodec::new(&keys.page_key),
            hasher: SecretHasher::new(&keys.secret_key),
            rate: RateLimiters::new(&config.limits),
            keys: RwLock::new(Arc::new(KeyRing::new(config.issuer(), &[])?)),
            apps: RwLock::new(HashMap::new()),
            unknown_apps: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(5))
                .build(),
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .build_with_hasher(FastHash::default()),
            role_pages: moka::sync::Cache::builder()
                .max_capacity(64 * 1024 * 1024)
                .weigher(|k: &String, v: &axum::body::Bytes| {
                    u32::try_from(k.len() + v.len()).unwrap_or(u32::MAX)
                })
                .build_with_hasher(FastHash::default()),
            roles_rev: AtomicI64::new(-1),
            apps_rev: AtomicI64::new(-1),
            keys_rev: AtomicI64::new(-1),
            listen_host: config.listen.to_string(),
            store,
            config,
            catalog,
            builtin_permissions,
        };
        state.refresh().await?;
        Ok(state)
    }

    pub fn keys(&self) -> Result<Arc<KeyRing>> {
        Ok(self.keys.read().map_err(|_| poisoned())?.clone())
    }

    /// Verifies a bearer token, from the cache when it was verified before.
    pub fn verify_token(&self, token: &str) -> Result<Arc<Verified>> {
        if let Some(v) = self.verified.get(token) {
            if v.exp + LEEWAY_SECS as i64 >= orgiam_domain::time_fmt::now() {
                return Ok(v);
            }
            self.verified.invalidate(token);
        }
        let v = Arc::new(self.keys()?.verify(token)?);
        self.verified.insert(token.to_owned(), v.clone());
        Ok(v)
    }

    /// Brings apps and keys up to date with the store: one cheap read of each revision
    /// counter, and a reload of only what changed.
    pub async fn refresh(&self) -> Result<()> {
        let revisions = self.store.revisions().await?;
        let rev = |name: &str| revisions.get(name).copied().unwrap_or(0);
        let keys_rev = rev(KEYS_REVISION);
        if keys_rev != self.keys_rev.load(Ordering::Acquire) {
            let stored = self.store.signing_keys().await?;
            let ring = match self.config.master_keys.open_signing_keys(stored.clone()) {
                Ok(opened) => KeyRing::new(self.config.issuer(), &opened)?,
                Err(e) => {
                    // Another process sealed keys with a master key this one lacks (a rotation
                    // of the master key is under way): keep signing with the key in hand and
                    // verify the new keys' tokens; said once per change.
                    tracing::error!(
                        error = %e,
                        "the store's signing keys changed, but this server's master key cannot                          open them: it goes on signing with the key it has; restart it with the                          current master key"
                    );
                    self.keys()?.with_public_keys(&stored)?
                }
            };
            *self.keys.write().map_err(|_| poisoned())? = Arc::new(ring);
            self.verified.invalidate_all();
            self.keys_rev.store(keys_rev, Ordering::Release);
        }
        let since = self.apps_rev.load(Ordering::Acquire);
        if rev(APPS_REVISION) != since {
            let (changed, rev) = self.store.apps_since(since.max(0)).await?;
            let mut apps = self.apps.write().map_err(|_| poisoned())?;
            for app in changed {
                apps.insert(app.sid.clone(), Arc::new(app));
            }
            self.unknown_apps.invalidate_all();
            self.apps_rev.store(rev, Ordering::Release);
        }
        let roles_rev = rev(ROLES_REVISION);
        if roles_rev != self.roles_rev.swap(roles_rev, Ordering::AcqRel) {
            self.role_pages.invalidate_all();
        }
        Ok(())
    }

    /// The roles revision this server has seen (part of every cached page's key).
    pub fn roles_revision(&self) -> i64 {
        self.roles_rev.load(Ordering::Acquire)
    }

    /// An app from memory; on a miss (one created moments ago by another process), from the store.
    pub async fn app(&self, sid: &AppSid) -> Result<Option<Arc<App>>> {
        if let Some(app) = self.apps.read().map_err(|_| poisoned())?.get(sid) {
            return Ok(Some(app.clone()));
        }
        if self.unknown_apps.contains_key(sid) {
            return Ok(None);
        }
        let Some(app) = self.store.app(sid).await? else {
            self.unknown_apps.insert(sid.clone(), ());
            return Ok(None);
        };
        let app = Arc::new(app);
        self.apps
            .write()
            .map_err(|_| poisoned())?
            .entry(sid.clone())
            .or_insert_with(|| app.clone());
        Ok(Some(app))
    }
}
