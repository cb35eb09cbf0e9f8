//! Living with the binary as an operator: a start that cannot serve writes nothing, stores
//! are only made on purpose, schemas are never changed by surprise, settings are checked where
//! they are read, and logs and metrics are what they say. Listing and looking up every object
//! from the command line is in `operator_listing`.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    TempDir, fresh_database, orgiam, printed_credentials, spawn_app, start_serve, stop,
};

pub(crate) fn postgres() -> bool {
    std::env::var("ORGIAM_TEST_ENGINE").as_deref() == Ok("postgres")
}

pub(crate) fn cli(db_url: &str, args: &[&str]) -> Output {
    orgiam()
        .args(args)
        .env("ORGIAM_DATABASE_URL", db_url)
        .env("ORGIAM_LOG", "warn")
        .output()
        .expect("run orgiam")
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and print one JSON object.
pub(crate) fn ok_json(db_url: &str, args: &[&str]) -> Value {
    let out = cli(db_url, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs SQL against the test database directly (to fake other schema versions).
async fn exec_sql(db_url: &str, sql: &str) {
    use sqlx::Executor;
    if postgres() {
        let pool = sqlx::PgPool::connect(db_url).await.expect("connect");
        pool.execute(sql).await.expect("sql");
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(db_url).await.expect("connect");
        pool.execute(sql).await.expect("sql");
        pool.close().await;
    }
}

/// Tables in the test database (the SQLite file must exist).
async fn table_count(db_url: &str) -> i64 {
    if postgres() {
        let pool = sqlx::PgPool::connect(db_url).await.expect("connect");
        let n = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        pool.close().await;
        n
    } else {
        let pool = sqlx::SqlitePool::connect(db_url).await.expect("connect");
        let n = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        n
    }
}

#[tokio::test]
async fn a_start_on_a_busy_port_writes_nothing_and_the_next_start_prints_the_credentials() {
    let (db_url, dir) = fresh_database().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let out = orgiam()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("ORGIAM_DATABASE_URL", &db_url)
        .env("ORGIAM_LOG", "warn")
        .current_dir(&dir.0)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot listen"), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("client_secret"), "{printed}");
    // The store is untouched: no SQLite file, no PostgreSQL table.
    if postgres() {
        assert_eq!(table_count(&db_url).await, 0);
    } else {
        assert!(!dir.0.join("orgiam.db").exists(), "the store was created");
        assert!(!dir.0.join("orgiam-data").exists());
    }
    drop(busy);

    let served = start_serve(&db_url, &dir, &[]).ready();
    let (org, id, secret) = printed_credentials(&served.lines).expect("credentials printed");
    assert!(org.starts_with("OR") && id.starts_with("OQ") && !secret.is_empty());
    stop(served);
}

#[tokio::test]
async fn only_serve_and_init_create_a_store_and_errors_name_it() {
    let dir = TempDir::new();
    // SQLite: a missing file (in missing folders) is named, and nothing is created.
    let missing = dir.0.join("nonexistent").join("x").join("orgiam.db");
    let url = format!("sqlite://{}", missing.display());
    for args in [
        &["orgs", "list"][..],
        &["orgs", "create", "--name", "Acme"],
        &["keys", "rotate"],
        &["migrate"],
        &["serve", "--no-migrate", "--listen", "127.0.0.1:0"],
    ] {
        let out = cli(&url, args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(&url), "{args:?} names the store: {err}");
        assert!(
            err.contains("orgiam init"),
            "{args:?} says what to run: {err}"
        );
    }
    assert!(!dir.0.join("nonexistent").exists(), "no folder was created");
    // Nor is a ./orgiam-data made where the command runs.
    let out = orgiam()
        .args(["orgs", "list"])
        .env_remove("ORGIAM_DATABASE_URL")
        .current_dir(&dir.0)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sqlite://./orgiam-data/orgiam.db"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.0.join("orgiam-data").exists());

    // `init` makes it; then the other commands work.
    let init = ok_json(&url, &["init", "--json"]);
    assert!(
        init["schema_version"].as_i64().is_some_and(|v| v > 0),
        "{init}"
    );
    assert!(missing.exists());
    let page = ok_json(&url, &["orgs", "list", "--json"]);
    assert_eq!(page["organizations"], serde_json::json!([]));

    // PostgreSQL: an unreachable server is named (without the password) with the cause.
    let pg = "postgres://orgiam:s3cret@127.0.0.1:1/orgiam";
    let out = cli(pg, &["orgs", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("postgres://orgiam:***@127.0.0.1:1/orgiam"),
        "{err}"
    );
    assert!(
        err.contains("127.0.0.1:1") && err.contains("connection refused"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    // An unknown host names DNS.
    let out = cli(
        "postgres://orgiam@no-such-host.invalid:5432/orgiam",
        &["orgs", "list"],
    );
    let err = stderr(&out);
    assert!(err.contains("no-such-host.invalid"), "{err}");
    assert!(err.contains("DNS"), "{err}");
}

#[tokio::test]
async fn other_commands_refuse_a_schema_older_or_newer_than_the_binary() {
    let (db_url, _dir) = fresh_database().await;
    if postgres() {
        // An empty database exists but holds no schema.
        let out = cli(&db_url, &["orgs", "list"]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("orgiam migrate"), "{}", stderr(&out));
        let m = ok_json(&db_url, &["migrate", "--json"]);
        assert!(m["schema_version"].as_i64().is_some());
    } else {
        ok_json(&db_url, &["init", "--json"]);
    }
    ok_json(&db_url, &["orgs", "list", "--json"]);

    // A newer binary migrated it: refused by every command, serve included.
    let checksum = if postgres() {
        "'\\x00'::bytea"
    } else {
        "X'00'"
    };
    exec_sql(
        &db_url,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', TRUE, {checksum}, 0)"
        ),
    )
    .await;
    for args in [
        &["orgs", "list"][..],
        &["migrate"],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = cli(&db_url, args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("newer than this orgiam binary"),
            "{args:?}: {err}"
        );
    }
    exec_sql(
        &db_url,
        "DELETE FROM _sqlx_migrations WHERE version = 99990101000000",
    )
    .await;

    // An older schema: the commands say to run `orgiam migrate`, and change nothing.
    exec_sql(
        &db_url,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .await;
    let out = cli(&db_url, &["orgs", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("older than this orgiam binary") && err.contains("orgiam migrate"),
        "{err}"
    );
    let out = cli(
        &db_url,
        &["serve", "--no-migrate", "--listen", "127.0.0.1:0"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("older than this orgiam binary"));
}

#[test]
fn completions_and_secrets_that_start_with_a_dash() {
    for shell in ["bash", "zsh", "fish"] {
        let out = orgiam().args(["completions", shell]).output().expect("run");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("orgiam") && text.contains("assignments"),
            "{shell}"
        );
    }
    // One secret in 64 starts with '-': it is taken as the value, not as a flag.
    let out = orgiam()
        .args([
            "token",
            "--client-id",
            "OQ00000000000000000000000000000000",
            "--client-secret",
            "-QKKabc",
            "--url",
            "http://127.0.0.1:1",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot reach"), "{err}");
}

#[tokio::test]
async fn settings_are_checked_where_they_are_read_with_the_fix_in_the_message() {
    let (db_url, dir) = fresh_database().await;
    let serve_with = |env: &[(&str, &str)], args: &[&str]| {
        orgiam()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("ORGIAM_DATABASE_URL", &db_url)
            .env("ORGIAM_LOG", "warn")
            .envs(env.iter().copied())
            .output()
            .expect("run")
    };
    // A config path that is a folder, or missing, is refused (not ignored).
    let folder = dir.0.display().to_string();
    let out = serve_with(&[], &["--config", &folder]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a file"), "{}", stderr(&out));
    let out = serve_with(&[], &["--config", "/nonexistent/orgiam.toml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
    // An unknown log level is refused, with the levels named.
    let out = serve_with(&[("ORGIAM_LOG", "verbose")], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("verbose") && err.contains("debug"), "{err}");
    // A permission in the twilio namespace must be in the catalog; the closest are suggested.
    let app = spawn_app().await;
    let out = cli(
        &app.db_url,
        &[
            "apps",
            "create",
            "--org",
            app.org.as_str(),
            "--name",
            "x",
            "--allow",
            "twilio/iam/rolez/lst",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("/twilio/iam/roles/list"), "{err}");
    ok_json(
        &app.db_url,
        &[
            "apps",
            "create",
            "--org",
            app.org.as_str(),
            "--name",
            "x",
            "--allow",
            "/acme/billing/invoices/read",
            "--json",
        ],
    );

    // `serve --help` lists every settings key.
    let help = orgiam().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    for key in [
        "database_url",
        "listen",
        "public_url",
        "log_format",
        "poll_interval_ms",
        "max_body_bytes",
        "max_header_bytes",
        "request_timeout_secs",
        "max_connections",
        "token_rate_per_second",
        "token_burst",
        "api_rate_per_second",
        "api_burst",
        "role_page_cache",
        "--no-migrate",
    ] {
        assert!(help.contains(key), "serve --help names {key}: {help}");
    }

    // database_url may come from the file (when no flag or variable names the store).
    let store = dir.0.join("from-file.db");
    let config = dir.0.join("orgiam.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}\"\nlisten = \"127.0.0.1:0\"\n",
            store.display()
        ),
    )
    .expect("write");
    let mut child = orgiam()
        .args(["serve", "--config", &config.display().to_string()])
        .env_remove("ORGIAM_DATABASE_URL")
        .env("ORGIAM_LOG", "info")
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let listening = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("listening on")))
        .expect("listening")
        .expect("line");
    assert!(listening.contains("from-file.db"), "{listening}");
    assert!(store.exists());
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    // Logs written to a pipe carry no colour codes.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("opening the store"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in piped logs: {log:?}");
}

#[tokio::test]
async fn json_logs_are_json_and_the_start_line_shows_the_address_bound() {
    let (db_url, dir) = fresh_database().await;
    let served = start_serve(
        &db_url,
        &dir,
        &[("ORGIAM_LOG", "info"), ("ORGIAM_LOG_FORMAT", "json")],
    )
    .ready();
    let listening = served.lines.last().expect("line").clone();
    assert!(
        listening.contains("listening on http://127.0.0.1:"),
        "{listening}"
    );
    let log = std::fs::read_to_string(&served.log).expect("log");
    let first = log.lines().next().expect("a log line");
    let v: Value = serde_json::from_str(first).expect("JSON log line");
    assert!(v["fields"]["message"].is_string(), "{v}");
    stop(served);

    // Every interface: the line says so, and how to reach it here.
    let out = orgiam()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("ORGIAM_DATABASE_URL", &db_url)
        .env("ORGIAM_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = out;
    let stdout = child.stdout.take().expect("stdout");
    let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"))
        .expect("listening");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on http://0.0.0.0:"), "{line}");
    assert!(
        line.contains("reach it here at http://127.0.0.1:"),
        "{line}"
    );
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_with_help_on_every_family_and_histograms() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.limits.token_failure_rate = orgiam_server::limits::Rate {
            per_second: 1,
            burst: 2,
        };
    })
    .await;
    let token = app.token().await;
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
    assert_eq!(app.get("/v2/Organizations/Roles", &token).await.status, 200);
    // A bad bearer token, and wrong secrets until the failure budget answers 429.
    assert_eq!(
        app.get("/v2/Organizations/Roles", "not-a-jwt").await.status,
        401
    );
    let client = app.client_id.to_string();
    for _ in 0..4 {
        let _ = app.token_for(&client, "wrong").await;
    }
    // A custom role's permissions, twice (the second expansion comes from memory).
    let line = serde_json::json!({
        "friendly_name": "Metrics Reader",
        "product_group": "custom",
        "lowest_level": "ACCOUNT",
        "policy": {"allow": ["/twilio/iam/*"], "deny": null},
        "resource_types": null,
    })
    .to_string();
    let roles = crate::costs::import_lines(&app, &app.org, &[line]).await;
    let role = roles[0].sid.clone();
    for _ in 0..2 {
        let r = app
            .get(&format!("/v1/Roles/{role}/Permissions"), &token)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Let the revision poll run at least once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text format");

    // Every family that has a TYPE line has a HELP line, and every sample's family is described.
    let typed: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for family in &typed {
        assert!(
            scrape.docs.contains_key(*family),
            "{family} has no HELP:\n{body}"
        );
    }
    for sample in &scrape.samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| sample.metric.strip_suffix(s))
            .filter(|f| typed.contains(f))
            .unwrap_or(&sample.metric);
        assert!(
            scrape.docs.contains_key(family),
            "{} has no HELP",
            sample.metric
        );
    }
    // Latency is a histogram (buckets aggregate across replicas), not a summary.
    let latency: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "orgiam_http_request_duration_seconds")
        .collect();
    assert!(!latency.is_empty(), "{body}");
    for s in &latency {
        match &s.value {
            prometheus_parse::Value::Histogram(buckets) => {
                assert!(buckets.len() >= 10, "{buckets:?}");
            }
            other => panic!("latency is not a histogram: {other:?}"),
        }
    }
    // (The recorder is the test process's: other tests' requests are in it too.)
    assert!(
        latency
            .iter()
            .any(|s| s.labels.get("route") == Some("/v2/Organizations/Roles")
                && s.labels.get("status") == Some("200")),
        "the roles route's latency:\n{body}"
    );
    // Build information, process metrics and the revision poll.
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "orgiam_build_info")
        .expect("build info");
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    // Every family an operator relies on is there, with HELP and TYPE.
    let families = [
        ("orgiam_http_requests_total", "counter"),
        ("orgiam_http_request_duration_seconds", "histogram"),
        ("orgiam_http_rate_limited_total", "counter"),
        ("orgiam_build_info", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds_total", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
        (
            "orgiam_revision_poll_last_success_timestamp_seconds",
            "gauge",
        ),
        ("orgiam_revision_poll_duration_seconds", "histogram"),
        ("orgiam_revision_poll_lag_seconds", "gauge"),
        ("orgiam_store_pool_connections", "gauge"),
        ("orgiam_store_pool_max_connections", "gauge"),
        ("orgiam_store_pool_wait_seconds", "histogram"),
        ("orgiam_cache_requests_total", "counter"),
        ("orgiam_token_failures_total", "counter"),
        ("orgiam_changes_logged_total", "counter"),
    ];
    for (name, kind) in families {
        assert!(
            body.lines().any(|l| l == format!("# TYPE {name} {kind}")),
            "no TYPE {kind} for {name}:\n{body}"
        );
        assert!(
            scrape.docs.get(name).is_some_and(|h| !h.is_empty()),
            "no HELP for {name}"
        );
        assert!(
            scrape.samples.iter().any(|s| s.metric == name),
            "{name} missing:\n{body}"
        );
    }
    let labelled = |name: &str, label: &str, value: &str| {
        scrape
            .samples
            .iter()
            .any(|s| s.metric == name && s.labels.get(label) == Some(value))
    };
    for cache in ["verified_tokens", "apps", "role_pages", "role_expansions"] {
        for result in ["hit", "miss"] {
            assert!(
                scrape
                    .samples
                    .iter()
                    .any(|s| s.metric == "orgiam_cache_requests_total"
                        && s.labels.get("cache") == Some(cache)
                        && s.labels.get("result") == Some(result)),
                "cache {cache} {result}:\n{body}"
            );
        }
    }
    // The role listing was asked twice: its page came from the cache the second time.
    let hits = scrape.samples.iter().find_map(|s| {
        (s.metric == "orgiam_cache_requests_total"
            && s.labels.get("cache") == Some("role_pages")
            && s.labels.get("result") == Some("hit"))
        .then_some(match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
    });
    assert!(hits.is_some_and(|h| h >= 1.0), "{body}");
    assert!(labelled("orgiam_store_pool_connections", "state", "in_use"));
    assert!(labelled("orgiam_store_pool_connections", "state", "idle"));
    assert!(
        labelled("orgiam_token_failures_total", "reason", "invalid_client"),
        "{body}"
    );
    assert!(
        labelled("orgiam_token_failures_total", "kind", "bearer"),
        "{body}"
    );
    assert!(
        labelled("orgiam_http_rate_limited_total", "route", "/v2/token"),
        "{body}"
    );
}

/// The sample settings file names every key `serve --help` lists (the keys of the settings
/// type), and `serve` starts with it.
#[tokio::test]
async fn the_sample_settings_file_has_every_key_and_serves() {
    let help = orgiam().args(["serve", "--help"]).output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let keys: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.contains("Keys (default):"))
        .skip(1)
        .map_while(|l| {
            let l = l.trim();
            let (key, rest) = l.split_once(' ')?;
            rest.starts_with('(').then_some(key)
        })
        .collect();
    assert!(keys.len() >= 20, "{help}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/orgiam.toml");
    let sample = std::fs::read_to_string(path).expect("deploy/orgiam.toml");
    let written: Vec<&str> = sample
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            let (key, _) = l.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then_some(key)
        })
        .collect();
    for key in &keys {
        assert!(written.contains(key), "deploy/orgiam.toml lacks {key}");
    }
    for key in &written {
        assert!(
            keys.contains(key),
            "deploy/orgiam.toml has unknown key {key}"
        );
    }
    // `serve` reads it (the test's store, address and master key override the file's).
    let (db_url, dir) = fresh_database().await;
    let served = start_serve(&db_url, &dir, &[("ORGIAM_CONFIG", path)]).ready();
    assert!(
        served
            .lines
            .last()
            .is_some_and(|l| l.contains("https://iam.example.com")),
        "{:?}",
        served.lines
    );
    stop(served);
}
