//! Keys at rest: the store's private and MAC keys are sealed with a master key kept outside
//! the database; a copy of the database alone cannot start a server, sign a token or check a
//! secret; the master key rotates under running replicas; the SQLite files are private.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orgiam_domain::model::ServerKeys;
use orgiam_domain::policy::Policy;
use orgiam_domain::secret::{self, SecretHasher};
use orgiam_domain::sid::OrgSid;
use orgiam_domain::store::Store;
use orgiam_server::master_key::{MasterKey, MasterKeys, is_sealed, sealed_with};
use orgiam_store::DatabaseUrl;
use serde_json::Value;

use crate::helpers::{
    Reply, TempDir, access_token, copy_database, eventually, fresh_database, on_postgres, orgiam,
    printed_credentials, start_serve, stop, token_reply as token,
};

/// The environment that leaves the master key unconfigured (an empty value is unset).
const NO_KEY: (&str, &str) = ("ORGIAM_MASTER_KEY", "");

async fn roles(http: &reqwest::Client, base: &str, token: &str) -> Reply {
    Reply::from(
        http.get(format!("{base}/v2/Organizations/Roles?PageSize=1"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET"),
    )
    .await
}

/// Waits for an answer from a server just started (its signal handler is then in place).
async fn healthy(base: &str) {
    let r = reqwest::get(format!("{base}/healthz")).await.expect("GET");
    assert_eq!(r.status(), 200);
}

/// `orgiam serve` that must refuse to start; its stderr.
fn serve_refuses(db_url: &str, dir: &TempDir, env: &[(&str, &str)]) -> String {
    let out = orgiam()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ORGIAM_DATABASE_URL", db_url)
        .env("ORGIAM_LOG", "warn")
        .envs(env.iter().copied())
        .current_dir(&dir.0)
        .output()
        .expect("run orgiam serve");
    assert!(
        !out.status.success(),
        "serve started: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A new key file (mode 0600) in `dir`.
fn key_file(dir: &TempDir, name: &str) -> (PathBuf, MasterKey) {
    let path = dir.0.join(name);
    let key = MasterKey::generate();
    key.write_new_file(&path).expect("write key file");
    (path, key)
}

/// The master key environment of the engine's "original" server: the zero-setup key file on
/// SQLite (nothing configured), a configured key on PostgreSQL.
fn original_key_env(dir: &TempDir) -> (Vec<(String, String)>, Option<MasterKey>) {
    if on_postgres() {
        let (path, key) = key_file(dir, "pg-master.key");
        let env = vec![
            ("ORGIAM_MASTER_KEY".to_owned(), String::new()),
            (
                "ORGIAM_MASTER_KEY_FILE".to_owned(),
                path.display().to_string(),
            ),
        ];
        (env, Some(key))
    } else {
        (vec![(NO_KEY.0.to_owned(), String::new())], None)
    }
}

fn as_env(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn sqlite_dir(db_url: &str) -> Option<PathBuf> {
    orgiam_store::sqlite_file(db_url).and_then(|p| p.parent().map(Path::to_path_buf))
}

#[tokio::test]
async fn a_copy_of_the_database_cannot_start_sign_or_check_a_secret() {
    let (db_url, dir) = fresh_database().await;
    let (env, configured) = original_key_env(&dir);
    let original = start_serve(&db_url, &dir, &as_env(&env)).ready();
    let (org, id, secret) = printed_credentials(&original.lines).expect("bootstrap");
    let key = match configured {
        Some(k) => k,
        None => {
            // Zero-setup: the key file beside the database, announced once, never printed.
            let path = sqlite_dir(&db_url).expect("dir").join("master.key");
            let key = MasterKey::read_file(&path).expect("zero-setup key file");
            let log = std::fs::read_to_string(&original.log).expect("log");
            assert!(log.contains("created the master key file"), "{log}");
            assert!(
                !log.contains(key.encode().trim()),
                "the key is never printed"
            );
            key
        }
    };
    let http = reqwest::Client::new();
    let good = access_token(&http, &original.base, &id, &secret).await;
    assert_eq!(roles(&http, &original.base, &good).await.status, 200);
    stop(original);

    // Everything secret in the store is sealed with that key.
    let store = orgiam_store::connect(&DatabaseUrl::new(&db_url))
        .await
        .expect("store");
    assert_eq!(
        MasterKeys::ids_in_store(store.as_ref()).await.expect("ids"),
        vec![key.id()]
    );
    drop(store);

    let (copy_url, copy_dir) = copy_database(&db_url);
    // Without the key: refused, naming the key it needs and how to give it.
    let err = serve_refuses(&copy_url, &copy_dir, &[NO_KEY]);
    assert!(err.contains(&key.id()), "{err}");
    assert!(err.contains("ORGIAM_MASTER_KEY"), "{err}");
    // With a wrong key: refused the same way.
    let wrong = MasterKey::generate();
    let err = serve_refuses(
        &copy_url,
        &copy_dir,
        &[("ORGIAM_MASTER_KEY", &wrong.encode())],
    );
    assert!(
        err.contains(&key.id()) && err.contains("not configured"),
        "{err}"
    );
    assert!(
        !err.contains(wrong.encode().trim()),
        "the key is never echoed"
    );
    // Administrative commands too.
    let out = orgiam()
        .args([
            "apps", "create", "--org", &org, "--name", "x", "--allow", "/*",
        ])
        .env("ORGIAM_DATABASE_URL", &copy_url)
        .env(NO_KEY.0, NO_KEY.1)
        .current_dir(&copy_dir.0)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&key.id()));
    if !on_postgres() {
        assert!(
            !copy_dir.0.join("master.key").exists(),
            "no key file is made up for a sealed store"
        );
    }

    // The copy's bytes are no keys: the private keys do not parse, the MAC keys are not keys.
    let copy = orgiam_store::connect(&DatabaseUrl::new(&copy_url))
        .await
        .expect("copy");
    for k in copy.signing_keys().await.expect("keys") {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        assert!(ed25519_dalek::SigningKey::from_pkcs8_der(&k.private_der).is_err());
        assert!(is_sealed(&k.private_der));
    }
    let sealed = copy.server_keys().await.expect("keys");
    assert!(is_sealed(&sealed.page_key) && is_sealed(&sealed.secret_key));

    // Whoever holds the copy can only start it on keys of their own: its tokens are refused
    // by the original, and the original's secret is no use to it.
    wipe_keys(&copy_url).await;
    drop(copy);
    let (attacker_env, _) = original_key_env(&copy_dir);
    let attacker = start_serve(&copy_url, &copy_dir, &as_env(&attacker_env)).ready();
    assert_eq!(
        token(&http, &attacker.base, &id, &secret).await.status,
        401,
        "the original secret does not verify on the copy"
    );
    let made = orgiam()
        .args([
            "apps", "create", "--org", &org, "--name", "forged", "--allow", "/*", "--json",
        ])
        .env("ORGIAM_DATABASE_URL", &copy_url)
        .envs(as_env(&attacker_env))
        .current_dir(&copy_dir.0)
        .output()
        .expect("run");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let app: Value = serde_json::from_slice(&made.stdout).expect("json");
    let forged = access_token(
        &http,
        &attacker.base,
        app["client_id"].as_str().expect("id"),
        app["client_secret"].as_str().expect("secret"),
    )
    .await;
    stop(attacker);
    let original = start_serve(&db_url, &dir, &as_env(&env)).ready();
    roles(&http, &original.base, &forged).await.assert_error(
        401,
        20003,
        "not signed by this server",
    );
    assert_eq!(roles(&http, &original.base, &good).await.status, 200);
    stop(original);
}

/// Deletes the copy's keys (all an attacker can do with them).
async fn wipe_keys(url: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        sqlx::query("DELETE FROM meta WHERE key IN ('page_key', 'secret_key')")
            .execute(&pool)
            .await
            .expect("delete");
        sqlx::query("DELETE FROM signing_keys")
            .execute(&pool)
            .await
            .expect("delete");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("pg");
        sqlx::query("DELETE FROM meta WHERE key IN ('page_key', 'secret_key')")
            .execute(&pool)
            .await
            .expect("delete");
        sqlx::query("DELETE FROM signing_keys")
            .execute(&pool)
            .await
            .expect("delete");
        pool.close().await;
    }
}

/// What a store written before keys were sealed holds: plain keys, an app whose secret hash
/// uses the plain secret key, and a token signed with the plain signing key.
struct Legacy {
    keys: ServerKeys,
    private_der: Vec<u8>,
    client_id: String,
    client_secret: String,
    token: String,
}

async fn write_legacy_store(store: &dyn Store) -> Legacy {
    let keys = ServerKeys {
        page_key: secret::random_bytes::<32>().to_vec(),
        secret_key: secret::random_bytes::<32>().to_vec(),
    };
    let signing = orgiam_server::keys::generate_signing_key().expect("key");
    store.init_keys(&keys, &signing).await.expect("init keys");
    let org = orgiam_domain::model::Org {
        sid: OrgSid::random(),
        friendly_name: "legacy".into(),
        date_created: 0,
    };
    let (app, client_secret) = orgiam_server::bootstrap::new_app(
        &SecretHasher::new(&keys.secret_key),
        &org.sid,
        "legacy app",
        Policy::everything(),
        3600,
    );
    assert!(store.bootstrap(&org, &app).await.expect("bootstrap"));
    let ring = orgiam_server::keys::KeyRing::new("orgiam".into(), std::slice::from_ref(&signing))
        .expect("ring");
    let token = ring.mint(&app.sid, &org.sid, 3600, None).expect("mint");
    Legacy {
        keys,
        private_der: signing.private_der.clone(),
        client_id: app.sid.to_string(),
        client_secret,
        token,
    }
}

#[tokio::test]
async fn plain_keys_of_an_older_version_are_sealed_on_first_start_and_keep_working() {
    let (db_url, dir) = fresh_database().await;
    let store = orgiam_store::connect(&DatabaseUrl::new(&db_url))
        .await
        .expect("store");
    let legacy = write_legacy_store(store.as_ref()).await;
    drop(store);

    let (env, configured) = original_key_env(&dir);
    let served = start_serve(&db_url, &dir, &as_env(&env)).ready();
    let key = configured.unwrap_or_else(|| {
        MasterKey::read_file(&sqlite_dir(&db_url).expect("dir").join("master.key"))
            .expect("the key file made on the upgrade")
    });
    let http = reqwest::Client::new();
    // Same keys, now sealed: old tokens verify, old secrets check, new tokens are signed.
    assert_eq!(roles(&http, &served.base, &legacy.token).await.status, 200);
    let fresh = access_token(
        &http,
        &served.base,
        &legacy.client_id,
        &legacy.client_secret,
    )
    .await;
    assert_eq!(roles(&http, &served.base, &fresh).await.status, 200);
    // Page links work (the page key opened from its sealed form).
    let page = roles(&http, &served.base, &fresh).await;
    let next = page.body["meta"]["next_page_url"]
        .as_str()
        .expect("next")
        .to_owned();
    let r = Reply::from(
        http.get(&next)
            .bearer_auth(&fresh)
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Nothing plain is left: every value is sealed with the key...
    let store = orgiam_store::connect(&DatabaseUrl::new(&db_url))
        .await
        .expect("store");
    let stored = store.server_keys().await.expect("keys");
    let signing = store.signing_keys().await.expect("signing");
    assert_eq!(sealed_with(&stored.page_key), Some(key.id()));
    assert_eq!(sealed_with(&stored.secret_key), Some(key.id()));
    assert!(
        signing
            .iter()
            .all(|k| sealed_with(&k.private_der) == Some(key.id()))
    );
    let opened = MasterKeys::new(key.clone(), []);
    assert_eq!(
        opened
            .server_keys(store.as_ref())
            .await
            .expect("open")
            .page_key,
        legacy.keys.page_key
    );
    drop(store);
    // ...and on SQLite, not one plain byte string remains in any of the database's files.
    if let Some(data) = sqlite_dir(&db_url) {
        // PKCS#8: a 16-byte prefix, then the 32-byte seed (then, in v2, the public key).
        let seed = &legacy.private_der[16..48];
        let needles: [&[u8]; 4] = [
            &legacy.keys.page_key,
            &legacy.keys.secret_key,
            &legacy.private_der,
            seed,
        ];
        for entry in std::fs::read_dir(&data).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "log") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            for (i, n) in needles.iter().enumerate() {
                let at = bytes.windows(n.len()).position(|w| w == *n);
                assert!(
                    at.is_none(),
                    "plain key {i} is left in {} at {at:?}",
                    path.display()
                );
            }
        }
    }
    stop(served);
}

#[tokio::test]
async fn rotating_the_master_key_under_two_replicas() {
    let (db_url, dir) = fresh_database().await;
    let (old_path, old) = key_file(&dir, "old.key");
    let (new_path, new) = key_file(&dir, "new.key");
    let old_file = old_path.display().to_string();
    let new_file = new_path.display().to_string();
    let only = |file: &str| {
        vec![
            ("ORGIAM_MASTER_KEY".to_owned(), String::new()),
            ("ORGIAM_MASTER_KEY_FILE".to_owned(), file.to_owned()),
        ]
    };
    let both = {
        let mut e = only(&new_file);
        e.push((
            "ORGIAM_PREVIOUS_MASTER_KEY_FILE".to_owned(),
            old_file.clone(),
        ));
        e
    };
    // Replica 1 still has only the old key; replica 2 already has both (new first).
    let r1 = start_serve(&db_url, &dir, &as_env(&only(&old_file))).ready();
    let r2 = start_serve(&db_url, &dir, &as_env(&both)).ready();
    let (_, id, secret) = printed_credentials(&r1.lines)
        .or_else(|| printed_credentials(&r2.lines))
        .expect("bootstrap");
    let http = reqwest::Client::new();
    let t1 = access_token(&http, &r1.base, &id, &secret).await;

    let run = |args: &[&str], env: &[(String, String)]| {
        orgiam()
            .args(args)
            .env("ORGIAM_DATABASE_URL", &db_url)
            .envs(as_env(env))
            .current_dir(&dir.0)
            .output()
            .expect("run")
    };
    let out = run(
        &[
            "keys",
            "rotate-master",
            "--new-key-file",
            &new_file,
            "--json",
        ],
        &only(&old_file),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["master_key"], new.id());
    assert_eq!(
        report["resealed"], 3,
        "page key, secret key, one signing key"
    );
    let store = orgiam_store::connect(&DatabaseUrl::new(&db_url))
        .await
        .expect("store");
    assert_eq!(
        MasterKeys::ids_in_store(store.as_ref()).await.expect("ids"),
        vec![new.id()]
    );
    // Running it again changes nothing.
    let again = run(
        &[
            "keys",
            "rotate-master",
            "--new-key-file",
            &new_file,
            "--json",
        ],
        &only(&new_file),
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again: Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(again["resealed"], 0);

    // Both replicas keep working: secrets check, tokens are signed and cross-verify.
    let t2 = access_token(&http, &r2.base, &id, &secret).await;
    let t1b = access_token(&http, &r1.base, &id, &secret).await;
    for (base, t) in [
        (&r1.base, &t1),
        (&r1.base, &t2),
        (&r2.base, &t1),
        (&r2.base, &t1b),
    ] {
        assert_eq!(roles(&http, base, t).await.status, 200);
    }
    // A process with only the old key can no longer start; with the new one it can.
    let err = serve_refuses(&db_url, &dir, &as_env(&only(&old_file)));
    assert!(err.contains(&new.id()) && err.contains(&old.id()), "{err}");
    let r3 = start_serve(&db_url, &dir, &as_env(&only(&new_file))).ready();
    assert_eq!(roles(&http, &r3.base, &t1).await.status, 200);

    // A new signing key (sealed with the new master key) reaches the replicas that can open
    // it; the one with only the old key keeps serving with the keys it has.
    let out = run(&["keys", "rotate", "--json"], &only(&new_file));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid = serde_json::from_slice::<Value>(&out.stdout).expect("json")["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let signed_with = |t: &str| {
        let header = t.split('.').next().unwrap_or_default().to_owned();
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap_or_default();
        serde_json::from_slice::<Value>(&raw).unwrap_or_default()["kid"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let switched = eventually(Duration::from_secs(10), || async {
        let t = access_token(&http, &r2.base, &id, &secret).await;
        signed_with(&t) == kid
    })
    .await;
    assert!(switched.is_some(), "replica 2 signs with the new key");
    // Replica 1 cannot open the new key, but verifies its tokens.
    let t2new = access_token(&http, &r2.base, &id, &secret).await;
    let verified = eventually(Duration::from_secs(10), || async {
        roles(&http, &r1.base, &t2new).await.status == 200
    })
    .await;
    assert!(
        verified.is_some(),
        "replica 1 verifies the new key's tokens"
    );
    let t1c = access_token(&http, &r1.base, &id, &secret).await;
    assert_eq!(roles(&http, &r1.base, &t1c).await.status, 200);
    assert_eq!(roles(&http, &r1.base, &t1).await.status, 200);
    stop(r1);
    stop(r2);
    stop(r3);
}

#[tokio::test]
async fn postgres_without_a_master_key_refuses_with_the_fix() {
    // Always on PostgreSQL: a database made for this test (dropped with `dir`).
    let (url, dir) = crate::helpers::fresh_database_on(crate::helpers::Engine::Postgres).await;
    let err = serve_refuses(&url, &dir, &[NO_KEY]);
    assert!(err.contains("PostgreSQL needs one"), "{err}");
    assert!(err.contains("orgiam keys new-master-key"), "{err}");
    assert!(err.contains("--master-key-file"), "{err}");
    // The fix works.
    let key = dir.0.join("master.key");
    let out = orgiam()
        .args(["keys", "new-master-key", "--out"])
        .arg(&key)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = MasterKey::read_file(&key).expect("key file");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains(&written.id()));
    assert!(
        !shown.contains(written.encode().trim()),
        "the key is never printed"
    );
    let s = start_serve(
        &url,
        &dir,
        &[
            NO_KEY,
            ("ORGIAM_MASTER_KEY_FILE", &key.display().to_string()),
        ],
    )
    .ready();
    healthy(&s.base).await;
    stop(s);
}

#[tokio::test]
async fn key_files_open_to_others_are_refused_and_keys_never_echoed() {
    let (db_url, dir) = fresh_database().await;
    let (path, key) = key_file(&dir, "loose.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let err = serve_refuses(
        &db_url,
        &dir,
        &[
            NO_KEY,
            ("ORGIAM_MASTER_KEY_FILE", &path.display().to_string()),
        ],
    );
    assert!(err.contains("chmod 600") && err.contains("0644"), "{err}");
    assert!(!err.contains(key.encode().trim()));
    // A value that is no key: refused, not echoed.
    let bogus = "not-a-key-but-a-secret-looking-value";
    let err = serve_refuses(&db_url, &dir, &[("ORGIAM_MASTER_KEY", bogus)]);
    assert!(
        err.contains("ORGIAM_MASTER_KEY is not a master key"),
        "{err}"
    );
    assert!(!err.contains(bogus), "{err}");
    // Both a value and a file: refused.
    let err = serve_refuses(
        &db_url,
        &dir,
        &[
            ("ORGIAM_MASTER_KEY", crate::helpers::TEST_MASTER_KEY),
            ("ORGIAM_MASTER_KEY_FILE", &path.display().to_string()),
        ],
    );
    assert!(err.contains("configure the key once"), "{err}");
    assert!(!err.contains(crate::helpers::TEST_MASTER_KEY));
    // --help never shows the key, even when it is in the environment.
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "rotate-master", "--help"],
        vec!["keys", "new-master-key", "--help"],
    ] {
        let out = orgiam().args(&args).output().expect("help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(
            !text.contains(crate::helpers::TEST_MASTER_KEY),
            "{args:?} shows the key"
        );
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private_whatever_the_umask_and_open_ones_are_reported() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let data = dir.0.join("orgiam-data");
    let db = data.join("orgiam.db");
    // A permissive umask, and the zero-setup path (no key configured).
    let mut child = std::process::Command::new("bash")
        .args([
            "-c",
            "umask 000 && exec \"$0\" serve --listen 127.0.0.1:0",
            env!("CARGO_BIN_EXE_orgiam"),
        ])
        .env("ORGIAM_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("ORGIAM_LOG", "warn")
        .env_remove("ORGIAM_MASTER_KEY")
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let up = lines.any(|l| l.is_ok_and(|l| l.contains("listening on")));
    assert!(up, "serve started");
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&db), 0o600, "database");
    for suffix in ["-wal", "-shm"] {
        let p = data.join(format!("orgiam.db{suffix}"));
        assert!(p.exists(), "{} exists while serving", p.display());
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    assert_eq!(mode(&data.join("master.key")), 0o600, "master key file");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Said once, with the file's name, never the key.
    assert_eq!(
        stderr.matches("created the master key file").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("master.key"));
    let key = MasterKey::read_file(&data.join("master.key")).expect("key");
    assert!(!stderr.contains(key.encode().trim()));

    // An install whose files are open to others: served, with a warning naming each.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let url = format!("sqlite://{}", db.display());
    let s = start_serve(&url, &dir, &[NO_KEY]).ready();
    assert!(
        s.lines
            .iter()
            .all(|l| !l.contains("created the master key")),
        "the key file is made once"
    );
    let log = s.log.clone();
    healthy(&s.base).await;
    stop(s);
    let log = std::fs::read_to_string(log).expect("log");
    assert!(
        log.contains("data directory is open to other users") && log.contains("chmod 700"),
        "{log}"
    );
    assert!(
        log.contains("database file is open to other users") && log.contains("chmod 600"),
        "{log}"
    );
}
