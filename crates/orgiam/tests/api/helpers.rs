//! Test harness: `spawn_app()` gives each test its own store and server.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
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
use serde_json::Value;

/// The master key every test server and command uses (as `ORGIAM_MASTER_KEY`), on both
/// engines; the tests of the zero-setup key file remove it from their commands' environment.
pub const TEST_MASTER_KEY: &str =
    "6f726769616d2074657374206d6173746572206b657920303132333435363738";

pub fn test_master_keys() -> MasterKeys {
    MasterKeys::new(
        MasterKey::parse(TEST_MASTER_KEY, "TEST_MASTER_KEY").expect("test key"),
        [],
    )
}

/// A folder removed when dropped; and, for PostgreSQL runs, the test database dropped with it.
pub struct TempDir(pub PathBuf, Option<(String, String)>);

impl TempDir {
    pub fn new() -> Self {
        let p =
            std::env::temp_dir().join(format!("orgiam-test-{}", orgiam_domain::sid::random_body()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p, None)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if let Some((admin, name)) = &self.1 {
            let _ = std::process::Command::new("psql")
                .args([
                    admin.as_str(),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

/// The engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine under test: PostgreSQL with `ORGIAM_TEST_ENGINE=postgres`, else SQLite.
    pub fn under_test() -> Self {
        if std::env::var("ORGIAM_TEST_ENGINE").as_deref() == Ok("postgres") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// A fresh database URL for the engine under test, and what keeps it alive.
pub async fn fresh_database() -> (String, TempDir) {
    fresh_database_on(Engine::under_test()).await
}

/// A fresh database URL on `engine`, and what keeps it alive.
pub async fn fresh_database_on(engine: Engine) -> (String, TempDir) {
    let mut dir = TempDir::new();
    if engine == Engine::Postgres {
        let admin = std::env::var("ORGIAM_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("orgiam_t_{}", orgiam_domain::sid::random_body());
        let out = std::process::Command::new("psql")
            .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "create database: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin)
            .to_owned();
        dir.1 = Some((admin.clone(), name.clone()));
        (format!("{base}/{name}"), dir)
    } else {
        let url = format!("sqlite://{}", dir.0.join("orgiam.db").display());
        (url, dir)
    }
}

/// Whether the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("ORGIAM_TEST_ENGINE").as_deref() == Ok("postgres")
}

/// A copy of a database no process is using: the SQLite file (and its WAL, if any) in a new
/// folder, or a PostgreSQL database made from it as a template.
pub fn copy_database(db_url: &str) -> (String, TempDir) {
    let mut dir = TempDir::new();
    if let Some(path) = db_url.strip_prefix("sqlite://") {
        let src = std::path::Path::new(path);
        let name = src.file_name().expect("file name");
        std::fs::copy(src, dir.0.join(name)).expect("copy the database");
        let mut wal = src.as_os_str().to_owned();
        wal.push("-wal");
        if std::path::Path::new(&wal).exists() {
            let mut to = dir.0.join(name).into_os_string();
            to.push("-wal");
            std::fs::copy(&wal, &to).expect("copy the WAL");
        }
        return (format!("sqlite://{}", dir.0.join(name).display()), dir);
    }
    let (base, source) = db_url.rsplit_once('/').expect("database name");
    let admin = std::env::var("ORGIAM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("orgiam_t_{}", orgiam_domain::sid::random_body());
    // A pool dropped by the test may not have closed its sessions yet.
    let _ = std::process::Command::new("psql")
        .args([
            admin.as_str(),
            "-qc",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{source}' AND pid <> pg_backend_pid()"
            ),
        ])
        .output();
    let out = std::process::Command::new("psql")
        .args([
            admin.as_str(),
            "-qc",
            &format!("CREATE DATABASE {name} TEMPLATE {source}"),
        ])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "copy database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.1 = Some((admin, name.clone()));
    (format!("{base}/{name}"), dir)
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

/// A response's status, headers and JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the SPEC's error body: exactly four keys, this status and code, and a message
    /// containing `needle`.
    pub fn assert_error(&self, status: u16, code: u64, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let keys: Vec<&str> = self
            .body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["code", "message", "more_info", "status"],
            "{}",
            self.body
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(
            self.body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        let msg = self.body["message"].as_str().expect("message");
        assert!(
            msg.contains(needle),
            "message {msg:?} should mention {needle:?}"
        );
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

/// Keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// Polls `check` every 50 ms for up to `within`; the elapsed time when it first held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() <= within {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// The `orgiam` binary, with the tests' master key.
pub fn orgiam() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgiam"));
    cmd.env("ORGIAM_MASTER_KEY", TEST_MASTER_KEY);
    cmd
}

/// A running `orgiam serve` and the lines it printed up to "listening on".
pub struct Served {
    pub child: Child,
    pub lines: Vec<String>,
    pub base: String,
    /// Where its stderr (the logs) goes.
    pub log: PathBuf,
}

/// A started `orgiam serve` whose output is still to be read.
pub struct Starting {
    child: Child,
    rx: mpsc::Receiver<String>,
    log: PathBuf,
}

/// Starts `orgiam serve` on 127.0.0.1:0 with extra environment.
pub fn start_serve(db_url: &str, dir: &TempDir, env: &[(&str, &str)]) -> Starting {
    let log = dir
        .0
        .join(format!("serve-{}.log", orgiam_domain::sid::random_body()));
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut child = orgiam()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ORGIAM_DATABASE_URL", db_url)
        .env("ORGIAM_LOG", "warn")
        .envs(env.iter().copied())
        .current_dir(&dir.0)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("spawn orgiam serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Starting { child, rx, log }
}

impl Starting {
    /// Waits for "listening on" and returns the server with what it printed.
    pub fn ready(self) -> Served {
        let mut lines = Vec::new();
        loop {
            let line = match self.rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => line,
                Err(e) => {
                    panic!("serve did not print 'listening on' ({e}); it printed: {lines:#?}")
                }
            };
            let done = line.contains("listening on");
            lines.push(line);
            if done {
                break;
            }
        }
        let last = lines.last().cloned().unwrap_or_default();
        let base = last
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .expect("base url")
            .to_owned();
        Served {
            child: self.child,
            lines,
            base,
            log: self.log,
        }
    }
}

/// A server a failed test leaves behind is killed, not leaked.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(db_url: &str, dir: &TempDir) -> Served {
    start_serve(db_url, dir, &[]).ready()
}

/// The bootstrap credentials a first start printed: (org, client id, client secret).
pub fn printed_credentials(lines: &[String]) -> Option<(String, String, String)> {
    let after = |marker: &str| {
        lines.iter().find_map(|l| {
            l.split(marker)
                .nth(1)
                .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        })
    };
    Some((
        after("bootstrapped organization ")?,
        after("client_id:")?,
        after("client_secret:")?,
    ))
}

pub fn stop(mut s: Served) {
    let pid = s.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = s.child.wait().expect("wait");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

pub fn bash(cmd: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", cmd])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}
