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
use orgiam_domain::store::{APPS_REVISION, KEYS_REVISION, Store};
use orgiam_domain::{Error, Result};

use crate::config::ServerConfig;
use crate::keys::KeyRing;

pub type AppState = Arc<State>;

pub struct State {
    pub store: Arc<dyn Store>,
    pub config: ServerConfig,
    pub catalog: Catalog,
    /// The expanded permissions of each built-in role, computed once.
    pub builtin_permissions: HashMap<RoleSid, Arc<[CatalogPermission]>>,
    pub pages: PageTokenCodec,
    pub hasher: SecretHasher,
    keys: RwLock<Arc<KeyRing>>,
    apps: RwLock<HashMap<AppSid, Arc<App>>>,
    apps_rev: AtomicI64,
    keys_rev: AtomicI64,
}

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
        let keys = store.server_keys().await?;
        let builtin_permissions = catalog
            .roles
            .iter()
            .map(|r| (r.sid.clone(), catalog.expand(&r.policy).into()))
            .collect();
        let state = Self {
            pages: PageTokenCodec::new(&keys.page_key),
            hasher: SecretHasher::new(&keys.secret_key),
            keys: RwLock::new(Arc::new(KeyRing::new(config.issuer(), &[]))),
            apps: RwLock::new(HashMap::new()),
            apps_rev: AtomicI64::new(-1),
            keys_rev: AtomicI64::new(-1),
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

    /// Brings apps and keys up to date with the store: one cheap read of each revision
    /// counter, and a reload of only what changed.
    pub async fn refresh(&self) -> Result<()> {
        let keys_rev = self.store.revision(KEYS_REVISION).await?;
        if keys_rev != self.keys_rev.load(Ordering::Acquire) {
            let ring = KeyRing::new(self.config.issuer(), &self.store.signing_keys().await?);
            *self.keys.write().map_err(|_| poisoned())? = Arc::new(ring);
            self.keys_rev.store(keys_rev, Ordering::Release);
        }
        let since = self.apps_rev.load(Ordering::Acquire);
        if self.store.revision(APPS_REVISION).await? != since {
            let (changed, rev) = self.store.apps_since(since.max(0)).await?;
            let mut apps = self.apps.write().map_err(|_| poisoned())?;
            for app in changed {
                apps.insert(app.sid.clone(), Arc::new(app));
            }
            self.apps_rev.store(rev, Ordering::Release);
        }
        Ok(())
    }

    /// An app from memory; on a miss (one created moments ago by another process), from the store.
    pub async fn app(&self, sid: &AppSid) -> Result<Option<Arc<App>>> {
        if let Some(app) = self.apps.read().map_err(|_| poisoned())?.get(sid) {
            return Ok(Some(app.clone()));
        }
        let Some(app) = self.store.app(sid).await? else {
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
