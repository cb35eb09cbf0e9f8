//! First start: the install's keys, and on an empty store one organization and one app
//! allowed everything.

use orgiam_domain::model::{
    App, AppStatus, DEFAULT_TOKEN_TTL, Org, SecretRecord, ServerKeys, key_slots,
};
use orgiam_domain::policy::Policy;
use orgiam_domain::secret::{self, SecretHasher};
use orgiam_domain::sid::{AppSid, OrgSid};
use orgiam_domain::store::Store;
use orgiam_domain::{Result, time_fmt};

use crate::keys::generate_signing_key;
use crate::master_key::MasterKeys;

/// Makes sure the store has its keys, sealed with the master key (racing processes agree on
/// one set): a new store gets sealed keys, a store written before keys were sealed has its
/// plain keys sealed (in one transaction), and every stored key must open with the configured
/// master keys, else this fails naming the key the store needs.
pub async fn ensure_keys(store: &dyn Store, master: &MasterKeys) -> Result<SecretHasher> {
    let candidate = ServerKeys {
        page_key: master.seal(key_slots::PAGE_KEY, &secret::random_bytes::<32>())?,
        secret_key: master.seal(key_slots::SECRET_KEY, &secret::random_bytes::<32>())?,
    };
    let signing_key = master.seal_signing_key(&generate_signing_key()?)?;
    store.init_keys(&candidate, &signing_key).await?;
    let sealed = master.seal_plain_values(store).await?;
    if sealed > 0 {
        tracing::info!(
            values = sealed,
            master_key = master.primary_id().unwrap_or_default(),
            "sealed the keys the store held in plain with the master key"
        );
    }
    let keys = master.server_keys(store).await?;
    master.signing_keys(store).await?;
    Ok(SecretHasher::new(&keys.secret_key))
}

/// The credentials of the bootstrap app, shown once.
pub struct Bootstrapped {
    pub org: OrgSid,
    pub client_id: AppSid,
    pub client_secret: String,
}

/// A new app with a fresh secret; returns the app and the secret to show once.
pub fn new_app(
    hasher: &SecretHasher,
    org: &OrgSid,
    name: &str,
    policy: Policy,
    ttl: i64,
) -> (App, String) {
    let now = time_fmt::now();
    let client_secret = secret::generate();
    let app = App {
        sid: AppSid::random(),
        org: org.clone(),
        friendly_name: name.to_owned(),
        description: String::new(),
        status: AppStatus::Active,
        policy,
        access_token_ttl: ttl,
        date_created: now,
        date_updated: now,
        tokens_valid_after: 0,
        secrets: vec![SecretRecord {
            hash: hasher.hash(&client_secret),
            expires_at: None,
        }],
        audiences: Vec::new(),
    };
    (app, client_secret)
}

/// Keys, then (on an empty store) the bootstrap organization and app. Of racing replicas,
/// exactly one gets `Some`.
pub async fn bootstrap(store: &dyn Store, master: &MasterKeys) -> Result<Option<Bootstrapped>> {
    let hasher = ensure_keys(store, master).await?;
    let org = Org {
        sid: OrgSid::random(),
        friendly_name: "Default organization".to_owned(),
        date_created: time_fmt::now(),
    };
    let (app, client_secret) = new_app(
        &hasher,
        &org.sid,
        "Bootstrap app",
        Policy::everything(),
        DEFAULT_TOKEN_TTL,
    );
    if store.bootstrap(&org, &app).await? {
        Ok(Some(Bootstrapped {
            org: org.sid,
            client_id: app.sid,
            client_secret,
        }))
    } else {
        Ok(None)
    }
}
