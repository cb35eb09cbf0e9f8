//! First start: the install's keys, and on an empty store one organization and one app
//! allowed everything.

use orgiam_domain::model::{App, AppStatus, DEFAULT_TOKEN_TTL, Org, SecretRecord, ServerKeys};
use orgiam_domain::policy::Policy;
use orgiam_domain::secret::{self, SecretHasher};
use orgiam_domain::sid::{AppSid, OrgSid};
use orgiam_domain::store::Store;
use orgiam_domain::{Result, time_fmt};

use crate::keys::generate_signing_key;

/// Makes sure the store has its keys (racing processes agree on one set).
pub async fn ensure_keys(store: &dyn Store) -> Result<SecretHasher> {
    let candidate = ServerKeys {
        page_key: secret::random_bytes::<32>().to_vec(),
        secret_key: secret::random_bytes::<32>().to_vec(),
    };
    store
        .init_keys(&candidate, &generate_signing_key()?)
        .await?;
    Ok(SecretHasher::new(&store.server_keys().await?.secret_key))
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
    };
    (app, client_secret)
}

/// Keys, then (on an empty store) the bootstrap organization and app. Of racing replicas,
/// exactly one gets `Some`.
pub async fn bootstrap(store: &dyn Store) -> Result<Option<Bootstrapped>> {
    let hasher = ensure_keys(store).await?;
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
