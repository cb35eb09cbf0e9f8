//! Test harness: `spawn_app()` gives each test its own store and server.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use orgiam_domain::model::{Account, Actor, Org, SigningKey, User};
use orgiam_domain::policy::{Pattern, Policy};
use orgiam_domain::secret::SecretHasher;
use orgiam_domain::sid::{AccountSid, AppSid, OrgSid, UserSid};
use orgiam_domain::store::Store;
use orgiam_server::bootstrap;
use orgiam_server::master_key::{MasterKey, MasterKeys};
use orgiam_server::{Application, ServerConfig};
use orgiam_store::DatabaseUrl;

// The shared test kit; these names stay importable from `crate::helpers`.
pub use orgiam_testkit::{
    Engine, PgDatabase, Reply, Served, Starting, TEST_MASTER_KEY, TempDir, access_token, bash,
    copy_database, eventually, fresh_database, fresh_database_on, keys, on_postgres, pg_admin_url,
    printed_credentials, stop, token_reply, try_token,
};

pub fn test_master_keys() -> MasterKeys {
    MasterKeys::new(
        MasterKey::parse(TEST_MASTER_KEY, "TEST_MASTER_KEY").expect("test key"),
        [],
    )
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// Where `/metrics` is served, when `metrics_listen` was set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub base: String,
    pub db_url: String,
    pub store: Arc<dyn Store>,
    pub hasher: SecretHasher,
    pub master_keys: MasterKeys,
    pub org: OrgSid,
    pub client_id: String,
    pub client_secret: String,
    pub http: reqwest::Client,
    _dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose configuration `tune` adjusts first.
pub async fn spawn_app_with(tune: impl FnOnce(&mut ServerConfig)) -> TestApp {
    spawn_app_on(Engine::under_test(), tune).await
}

/// A server on `engine`, whatever the engine under test (for tests that compare engines).
pub async fn spawn_app_on(engine: Engine, tune: impl FnOnce(&mut ServerConfig)) -> TestApp {
    orgiam_testkit::logs::init();
    let (db_url, dir) = fresh_database_on(engine).await;
    let store = orgiam_store::connect(&DatabaseUrl::new(&db_url))
        .await
        .expect("open store");
    let master_keys = test_master_keys();
    let boot = bootstrap::bootstrap(store.as_ref(), &master_keys)
        .await
        .expect("bootstrap")
        .expect("fresh store bootstraps");
    let hasher = bootstrap::ensure_keys(store.as_ref(), &master_keys)
        .await
        .expect("keys");
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        public_url: None,
        poll_interval: Duration::from_millis(100),
        master_keys: master_keys.clone(),
        ..Default::default()
    };
    let mut config = config;
    tune(&mut config);
    let app = Application::build(config, store.clone())
        .await
        .expect("build app");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        metrics_addr,
        base: format!("http://{addr}"),
        db_url,
        store,
        hasher,
        master_keys,
        org: boot.org,
        client_id: boot.client_id.to_string(),
        client_secret: boot.client_secret,
        http: reqwest::Client::new(),
        _dir: dir,
        shutdown: Some(tx),
    }
}

impl TestApp {
    /// A token for the given credentials.
    pub async fn token_for(&self, client_id: &str, client_secret: &str) -> Reply {
        let res = self
            .http
            .post(format!("{}/v2/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ])
            .send()
            .await
            .expect("token request");
        Reply::from(res).await
    }

    /// A token of the bootstrap app.
    pub async fn token(&self) -> String {
        let r = self.token_for(&self.client_id, &self.client_secret).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// GET a path (with query) with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.get_url(&format!("{}{path}", self.base), token).await
    }

    pub async fn get_url(&self, url: &str, token: &str) -> Reply {
        let res = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        Reply::from(res).await
    }

    /// Creates an app directly in the store (as `orgiam apps create` does); returns id, secret.
    pub async fn create_app(
        &self,
        org: &OrgSid,
        allow: &[&str],
        deny: &[&str],
        ttl: i64,
    ) -> (AppSid, String) {
        let parse = |v: &[&str]| {
            v.iter()
                .map(|p| Pattern::parse(p).expect("pattern"))
                .collect::<Vec<_>>()
        };
        let policy = Policy {
            allow: parse(allow),
            deny: (!deny.is_empty()).then(|| parse(deny)),
        };
        let (app, secret) = bootstrap::new_app(&self.hasher, org, "test app", policy, ttl);
        self.store
            .create_app(&app, &orgiam_domain::model::Actor::cli())
            .await
            .expect("create app");
        (app.sid, secret)
    }

    /// A token for a new app of `org` with the given policy.
    pub async fn token_with(&self, org: &OrgSid, allow: &[&str], deny: &[&str]) -> String {
        let (id, secret) = self.create_app(org, allow, deny, 3600).await;
        let r = self.token_for(id.as_str(), &secret).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn create_org(&self, name: &str) -> OrgSid {
        let org = Org {
            sid: OrgSid::random(),
            friendly_name: name.into(),
            date_created: 0,
        };
        self.store
            .create_org(&org, &Actor::cli())
            .await
            .expect("create org");
        org.sid
    }

    pub async fn create_user(&self, org: &OrgSid) -> UserSid {
        let sid = UserSid::random();
        let user = User {
            sid: sid.clone(),
            org: org.clone(),
            email: format!("{sid}@example.com"),
            friendly_name: "u".into(),
            date_created: 0,
        };
        self.store
            .create_user(&user, &Actor::cli())
            .await
            .expect("create user");
        sid
    }

    pub async fn create_account(&self, org: &OrgSid, parent: Option<&AccountSid>) -> AccountSid {
        let sid = AccountSid::random();
        let account = Account {
            sid: sid.clone(),
            org: org.clone(),
            parent: parent.cloned(),
            friendly_name: format!("account {sid}"),
            status: "active".into(),
            owner: None,
            date_created: 1_700_000_000,
        };
        self.store
            .create_account(&account, &Actor::cli())
            .await
            .expect("create account");
        sid
    }

    /// A request with a bearer token and an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    /// The current signing key, opened (for forging tokens in tests).
    pub async fn signing_key(&self) -> SigningKey {
        self.master_keys
            .signing_keys(self.store.as_ref())
            .await
            .expect("keys")
            .into_iter()
            .next()
            .expect("a key")
    }

    /// Runs the `orgiam` binary against this app's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        orgiam()
            .args(args)
            .env("ORGIAM_DATABASE_URL", &self.db_url)
            .output()
            .expect("run orgiam")
    }
}

/// The `orgiam` binary of this build.
pub fn orgiam_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orgiam"))
}

/// The `orgiam` binary, with the tests' master key.
pub fn orgiam() -> Command {
    orgiam_testkit::serve::orgiam_at(orgiam_bin())
}

/// Starts `orgiam serve` on 127.0.0.1:0 with extra environment.
pub fn start_serve(db_url: &str, dir: &TempDir, env: &[(&str, &str)]) -> Starting {
    orgiam_testkit::start_serve(orgiam_bin(), db_url, dir, env)
}

pub fn serve(db_url: &str, dir: &TempDir) -> Served {
    start_serve(db_url, dir, &[]).ready()
}
