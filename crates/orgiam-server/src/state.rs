//! Shared server state: the store, the catalog, and in-memory views of apps and keys that
//! follow the store's revision counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::App;
use orgiam_domain::page::PageTokenCodec;
use orgiam_domain::secret::SecretHasher;
use orgiam_domain::sid::{AppSid, RoleSid};
use orgiam_domain::store::{APPS_REVISION, KEYS_REVISION, REVOCATIONS_REVISION, ROLES_REVISION};
use orgiam_domain::{Error, Result};
use orgiam_store::Directory;

use crate::config::ServerConfig;
use crate::keys::{KeyRing, LEEWAY_SECS, Verified};
use crate::limits::RateLimiters;
use crate::views::roles::Expansion;

pub type AppState = Arc<State>;

/// A custom role's JSON (as stored; its policy is in it) and the permissions it grants.
pub type CustomExpansion = (Arc<[u8]>, Arc<Expansion>);

pub struct State {
    pub store: Arc<dyn Directory>,
    pub config: ServerConfig,
    pub catalog: Catalog,
    /// The expanded permissions of each built-in role, computed once.
    pub builtin_permissions: HashMap<RoleSid, Arc<Expansion>>,
    pub pages: PageTokenCodec,
    pub hasher: SecretHasher,
    pub rate: RateLimiters,
    keys: RwLock<Arc<KeyRing>>,
    /// Tokens already verified: a hit skips the signature check.
    verified: TokenCache,
    /// Rendered role pages, keyed by the roles revision they were read at, the organization,
    /// the link base and the query: a repeated listing touches no database.
    pub role_pages: moka::sync::Cache<String, axum::body::Bytes, FastHash>,
    /// The expanded permissions of custom roles, computed once per roles revision (emptied
    /// with the role pages whenever custom roles change), as the built-ins' are at start. Each
    /// entry keeps the role's JSON it expands: an expansion of a role's old version, stored by
    /// a request that read the role before it changed, is never served for the new one.
    pub custom_permissions: moka::sync::Cache<RoleSid, CustomExpansion, FastHash>,
    roles_rev: AtomicI64,
    /// Permission checks' decision data and custom roles' compiled policies, following the
    /// store's `access` and `roles` revisions (see [`crate::effective::DecisionIndex`]).
    pub decisions: crate::effective::DecisionIndex,
    apps: RwLock<HashMap<AppSid, Arc<App>>>,
    /// Client ids looked up in the store and not found: a flood of made-up ids costs one
    /// store read per id, not per request. Emptied whenever apps change.
    unknown_apps: moka::sync::Cache<AppSid, ()>,
    /// The token endpoint's store reads after a failed secret check, known client id or not
    /// (the same work either way): at most one per client id a second. Emptied whenever apps
    /// change.
    token_reads: moka::sync::Cache<AppSid, Option<Arc<App>>>,
    apps_rev: AtomicI64,
    keys_rev: AtomicI64,
    /// Revoked tokens by `jti`, with the instant after which they are refused anyway (kept
    /// until then), as of the revocations revision `revoked_rev`.
    revoked: RwLock<HashMap<String, i64>>,
    revoked_rev: AtomicI64,
    /// This server's own audience (its issuer): its APIs accept only tokens naming it.
    pub audience: String,
    /// One refresh at a time: the poller's and those a change this replica made waits for
    /// (see `refresh`) never interleave, so a slower one cannot put back what it read first.
    refreshing: tokio::sync::Mutex<()>,
    /// The position of the last audit event this server logged (see [`State::log_changes`]).
    audit_pos: AtomicI64,
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
        store: Arc<dyn Directory>,
        config: ServerConfig,
        catalog: Catalog,
    ) -> Result<Self> {
        // Every stored key must open: a server that cannot sign must not start.
        let keys = config.master_keys.server_keys(store.as_ref()).await?;
        config.master_keys.signing_keys(store.as_ref()).await?;
        let builtin_permissions = catalog
            .roles
            .iter()
            .map(|r| {
                (
                    r.sid.clone(),
                    Arc::new(Expansion::new(catalog.expand(&r.policy))),
                )
            })
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
            token_reads: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(1))
                .build(),
            verified: TokenCache::new(100_000),
            role_pages: moka::sync::Cache::builder()
                .max_capacity(64 * 1024 * 1024)
                .weigher(|k: &String, v: &axum::body::Bytes| {
                    u32::try_from(k.len() + v.len()).unwrap_or(u32::MAX)
                })
                .build_with_hasher(FastHash::default()),
            custom_permissions: moka::sync::Cache::builder()
                // Weighed in bytes, roughly: the role's JSON, the permissions' JSON and the
                // permissions themselves (about as long again).
                .max_capacity(128 << 20)
                .weigher(|_: &RoleSid, v: &CustomExpansion| {
                    u32::try_from(v.0.len() + 2 * v.1.json.len()).unwrap_or(u32::MAX)
                })
                .build_with_hasher(FastHash::default()),
            roles_rev: AtomicI64::new(-1),
            decisions: crate::effective::DecisionIndex::new(config.decision_index),
            apps_rev: AtomicI64::new(-1),
            keys_rev: AtomicI64::new(-1),
            revoked: RwLock::new(HashMap::new()),
            revoked_rev: AtomicI64::new(-1),
            audience: config.issuer(),
            refreshing: tokio::sync::Mutex::new(()),
            // Changes made before this server started are not its news.
            audit_pos: AtomicI64::new(store.last_audit_position().await?),
            listen_host: config.listen.to_string(),
            store,
            config,
            catalog,
            builtin_permissions,
        };
        state.refresh().await?;
        Ok(state)
    }

    /// The store, with what the management service writes.
    pub fn directory(&self) -> &dyn Directory {
        self.store.as_ref()
    }

    pub fn keys(&self) -> Result<Arc<KeyRing>> {
        Ok(self.keys.read().map_err(|_| poisoned())?.clone())
    }

    /// Verifies a bearer token, from the cache when this key ring verified it before.
    pub fn verify_token(&self, token: &str) -> Result<Arc<Verified>> {
        let ring = self.keys()?;
        let hit = self
            .verified
            .get(token, &ring, orgiam_domain::time_fmt::now());
        crate::telemetry::cache_lookup(crate::telemetry::Cache::VerifiedTokens, hit.is_some());
        if let Some(v) = hit {
            return Ok(v);
        }
        let v = match ring.verify(token) {
            Ok(v) => Arc::new(v),
            Err(e) => {
                let reason = if e.to_string().contains("expired") {
                    "expired"
                } else {
                    "invalid"
                };
                crate::telemetry::token_failure("bearer", reason);
                return Err(e);
            }
        };
        self.verified.insert(token, v.clone());
        Ok(v)
    }

    /// Brings apps and keys up to date with the store: one cheap read of each revision
    /// counter, and a reload of only what changed.
    pub async fn refresh(&self) -> Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        let revisions = self.store.revisions().await?;
        self.decisions.polled(&revisions);
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
            }
            .with_generation(keys_rev);
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
            self.token_reads.invalidate_all();
            self.apps_rev.store(rev, Ordering::Release);
        }
        let revoked_rev = rev(REVOCATIONS_REVISION);
        let seen = self.revoked_rev.load(Ordering::Acquire);
        if revoked_rev != seen {
            let now = orgiam_domain::time_fmt::now();
            let (tokens, upto) = self.store.revoked_since(seen.max(0), now).await?;
            let mut revoked = self.revoked.write().map_err(|_| poisoned())?;
            revoked.retain(|_, expires_at| *expires_at >= now);
            for t in tokens {
                revoked.insert(t.jti, t.expires_at);
            }
            self.revoked_rev.store(upto, Ordering::Release);
        }
        let roles_rev = rev(ROLES_REVISION);
        if roles_rev != self.roles_rev.swap(roles_rev, Ordering::AcqRel) {
            self.role_pages.invalidate_all();
            self.custom_permissions.invalidate_all();
        }
        Ok(())
    }

    /// Whether the token `jti` was revoked (as of the last poll, or by this server).
    pub fn is_revoked(&self, jti: &str) -> Result<bool> {
        Ok(self
            .revoked
            .read()
            .map_err(|_| poisoned())?
            .contains_key(jti))
    }

    /// Records a revocation this server made (the store has it; the other replicas read it
    /// at their next poll).
    pub fn mark_revoked(&self, jti: &str, expires_at: i64) -> Result<()> {
        self.revoked
            .write()
            .map_err(|_| poisoned())?
            .insert(jti.to_owned(), expires_at);
        Ok(())
    }

    /// Logs every change recorded since the last call, one line each, oldest first: those
    /// made through this server and those made by other processes (the command line, other
    /// replicas) alike, so each server's log shows what changed under it. Called by the
    /// revision poll; returns how many it logged.
    pub async fn log_changes(&self) -> Result<usize> {
        /// Events read at once; a poll reads at most `BATCHES` of them and leaves the rest
        /// to the next one.
        const BATCH: u32 = 500;
        const BATCHES: usize = 8;
        let mut logged = 0;
        for _ in 0..BATCHES {
            let after = self.audit_pos.load(Ordering::Acquire);
            let events = self.store.audit_events_after(after, BATCH).await?;
            let Some((last, _)) = events.last() else {
                break;
            };
            let last = *last;
            let full = events.len() == BATCH as usize;
            for (_, e) in &events {
                log_change(e);
            }
            logged += events.len();
            self.audit_pos.store(last, Ordering::Release);
            if !full {
                break;
            }
        }
        Ok(logged)
    }

    /// The roles revision this server has seen (part of every cached page's key).
    pub fn roles_revision(&self) -> i64 {
        self.roles_rev.load(Ordering::Acquire)
    }

    /// An app from memory only (as of the last poll).
    pub fn cached_app(&self, sid: &AppSid) -> Result<Option<Arc<App>>> {
        Ok(self.apps.read().map_err(|_| poisoned())?.get(sid).cloned())
    }

    /// An app as the store has it now, for the token endpoint after a failed secret check (an
    /// app created, or a secret rotated, moments ago by another process): one store read per
    /// client id a second, whether the app exists or not.
    pub async fn app_for_token(&self, sid: &AppSid) -> Result<Option<Arc<App>>> {
        if let Some(read) = self.token_reads.get(sid) {
            return Ok(read);
        }
        let app = self.store.app(sid).await?.map(Arc::new);
        self.token_reads.insert(sid.clone(), app.clone());
        Ok(app)
    }

    /// An app as of now, for the token endpoint before it issues a token: one read of the
    /// store's apps revision; when this server has seen that revision, the app in memory,
    /// otherwise (a change the revision poll has not brought in yet, such as a secret
    /// rotated with no grace a moment ago by another process) the app read from the store.
    pub async fn current_app(&self, sid: &AppSid) -> Result<Option<Arc<App>>> {
        let stored = self.store.revision(APPS_REVISION).await?;
        // The map is written before the revision it reflects is stored (release), so after
        // this (acquire) load it holds that revision's apps, or newer.
        if stored == self.apps_rev.load(Ordering::Acquire)
            && let Some(app) = self.cached_app(sid)?
        {
            return Ok(Some(app));
        }
        let app = self.store.app(sid).await?.map(Arc::new);
        // What the next failed check would read from the store, read now.
        self.token_reads.insert(sid.clone(), app.clone());
        Ok(app)
    }

    /// An app from memory; on a miss (one created moments ago by another process), from the store.
    pub async fn app(&self, sid: &AppSid) -> Result<Option<Arc<App>>> {
        let held = self.apps.read().map_err(|_| poisoned())?.get(sid).cloned();
        crate::telemetry::cache_lookup(crate::telemetry::Cache::Apps, held.is_some());
        if let Some(app) = held {
            return Ok(Some(app));
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

/// One change's log line: plain values (the audit event's SID, action, target, actor,
/// organization and request id), never the before and after values.
fn log_change(e: &orgiam_domain::model::AuditEvent) {
    let org = e.org.as_ref().map_or("-", |o| o.as_str());
    let request_id = e.request_id.as_deref().unwrap_or("-");
    // `%`: the values as they are; a `&str` field would be written as quoted Rust text.
    tracing::info!(
        event = %e.sid,
        action = %e.action,
        target = %e.target,
        actor = %e.actor,
        org = %org,
        request_id = %request_id,
        "change recorded"
    );
}

/// Verified tokens. A hit counts only while the key ring in use is the one that verified the
/// entry (same generation) and the token has not expired: a request that verified a token
/// with the old ring and stores it after a key change emptied the cache leaves an entry that
/// no later request accepts. The app's status is checked from `apps` on every request. Bounded
/// by count only: an idle-time policy would cost a clock read and a timer-wheel update on
/// every hit.
pub struct TokenCache(moka::sync::Cache<String, Arc<Verified>, FastHash>);

impl TokenCache {
    pub fn new(capacity: u64) -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .build_with_hasher(FastHash::default()),
        )
    }

    /// The entry for `token` if `ring` verified it and it is still valid at `now`.
    pub fn get(&self, token: &str, ring: &KeyRing, now: i64) -> Option<Arc<Verified>> {
        let v = self.0.get(token)?;
        if v.generation == ring.generation() && v.exp + LEEWAY_SECS as i64 >= now {
            return Some(v);
        }
        self.0.invalidate(token);
        None
    }

    pub fn insert(&self, token: &str, v: Arc<Verified>) {
        self.0.insert(token.to_owned(), v);
    }

    pub fn invalidate_all(&self) {
        self.0.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_signing_key;
    use orgiam_domain::sid::OrgSid;

    /// A request verifies a token with the old key ring; `keys rotate --revoke-old` swaps the
    /// ring and empties the cache; then the request stores its verification. The entry is
    /// there, but no later request accepts it.
    #[test]
    fn a_verification_stored_after_a_key_change_is_not_a_hit() -> Result<()> {
        let old = KeyRing::new("orgiam".into(), &[generate_signing_key()?])?.with_generation(1);
        let token = old.mint(&AppSid::random(), &OrgSid::random(), 600, None)?;
        let cache = TokenCache::new(10);
        let now = orgiam_domain::time_fmt::now();

        // Step 1 of the request: verified with the ring it picked up.
        let verified = Arc::new(old.verify(&token)?);
        // Meanwhile: the old key is revoked, a new ring is swapped in, the cache is emptied.
        let new = KeyRing::new("orgiam".into(), &[generate_signing_key()?])?.with_generation(2);
        cache.invalidate_all();
        // Step 2 of the request: its verification is stored, late.
        cache.insert(&token, verified);
        assert!(cache.0.contains_key(&token), "the late entry is stored");

        // Every later request uses the new ring: the entry is not a hit, and the token fails.
        assert!(cache.get(&token, &new, now).is_none());
        assert!(new.verify(&token).is_err());
        // With the ring that verified it, the same entry would have been a hit.
        cache.insert(&token, Arc::new(old.verify(&token)?));
        assert!(cache.get(&token, &old, now).is_some());
        Ok(())
    }

    #[test]
    fn an_expired_entry_is_not_a_hit() -> Result<()> {
        let ring = KeyRing::new("orgiam".into(), &[generate_signing_key()?])?.with_generation(1);
        let token = ring.mint(&AppSid::random(), &OrgSid::random(), 60, None)?;
        let cache = TokenCache::new(10);
        let v = Arc::new(ring.verify(&token)?);
        let exp = v.exp;
        cache.insert(&token, v);
        assert!(cache.get(&token, &ring, exp).is_some());
        assert!(
            cache
                .get(&token, &ring, exp + LEEWAY_SECS as i64 + 1)
                .is_none()
        );
        Ok(())
    }
}
