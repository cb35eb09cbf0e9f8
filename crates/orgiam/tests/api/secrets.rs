//! No secret in any log line: a full flow with trace logging, every line captured.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::{fresh_database, orgiam, printed_credentials, start_serve, stop};

#[tokio::test]
async fn a_full_flow_at_trace_level_logs_no_secret() {
    let (db_url, dir) = fresh_database().await;
    let served = start_serve(
        &db_url,
        &dir,
        &[("ORGIAM_LOG", "trace"), ("ORGIAM_LOG_FORMAT", "json")],
    )
    .ready();
    let (org, id, secret) = printed_credentials(&served.lines).expect("bootstrap");
    let base = served.base.clone();
    let http = reqwest::Client::new();
    let mut secrets = vec![secret.clone()];
    let run = |args: &[&str]| {
        let out = orgiam()
            .args(args)
            .env("ORGIAM_DATABASE_URL", &db_url)
            .env("ORGIAM_LOG", "trace")
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}");
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };
    let app = run(&[
        "apps", "create", "--org", &org, "--name", "logged", "--allow", "/*", "--json",
    ]);
    let app_id = app["client_id"].as_str().expect("id").to_owned();
    secrets.push(app["client_secret"].as_str().expect("secret").to_owned());
    let rotated = run(&[
        "apps",
        "rotate-secret",
        "--app",
        &app_id,
        "--grace",
        "60",
        "--json",
    ]);
    secrets.push(
        rotated["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    );
    // The server sees changes made by the CLI within its poll interval (250 ms).
    tokio::time::sleep(std::time::Duration::from_millis(750)).await;

    // The server sees CLI changes within its poll interval: wait until the rotated secret works.
    let rotated_ok = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        http.post(format!("{base}/v2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app_id.as_str()),
                ("client_secret", secrets[2].as_str()),
            ])
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(rotated_ok.is_some(), "the rotated secret works");
    let mut tokens = Vec::new();
    let mut headers = Vec::new();
    for (cid, sec) in [
        (&id, &secrets[0]),
        (&app_id, &secrets[1]),
        (&app_id, &secrets[2]),
    ] {
        let r = http
            .post(format!("{base}/v2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", cid),
                ("client_secret", sec),
            ])
            .send()
            .await
            .expect("token");
        let v: Value = r.json().await.expect("json");
        tokens.push(v["access_token"].as_str().expect("token").to_owned());
    }
    // client_secret_basic too, and failures that carry secrets and tokens.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    );
    headers.push(basic.clone());
    http.post(format!("{base}/v2/token"))
        .header("Authorization", &basic)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("basic");
    http.post(format!("{base}/v2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", "wrong-secret-value-1234567890"),
        ])
        .send()
        .await
        .expect("bad");
    secrets.push("wrong-secret-value-1234567890".into());
    let page = http
        .get(format!("{base}/v2/Organizations/Roles?PageSize=2"))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .expect("GET")
        .json::<Value>()
        .await
        .expect("json");
    let next = page["meta"]["next_page_url"]
        .as_str()
        .expect("next")
        .to_owned();
    http.get(&next)
        .bearer_auth(&tokens[1])
        .send()
        .await
        .expect("GET");
    http.get(format!("{base}/v2/Organizations/Roles"))
        .bearer_auth(format!("{}x", tokens[2]))
        .send()
        .await
        .expect("bad token");
    http.post(format!("{base}/v2/Organizations/RoleAssignments"))
        .bearer_auth(&tokens[0])
        .json(&json!({"role_sid": "IXbad"}))
        .send()
        .await
        .expect("POST");
    for t in &tokens {
        headers.push(format!("Bearer {t}"));
    }
    let log = served.log.clone();
    stop(served);

    let logs = std::fs::read_to_string(log).expect("logs");
    assert!(logs.lines().count() > 20, "trace logging produced lines");
    assert!(logs.contains("request finished"), "requests were logged");
    // Keys from the store: page-token key, secret-hash key, signing key.
    let store = orgiam_store::connect(&orgiam_store::DatabaseUrl::new(&db_url))
        .await
        .expect("store");
    // The opened keys (what the sealed ones hide), and the master key itself.
    let master = crate::helpers::test_master_keys();
    let keys = master.server_keys(store.as_ref()).await.expect("keys");
    let signing = master.signing_keys(store.as_ref()).await.expect("signing");
    let mut forbidden: Vec<String> = Vec::new();
    forbidden.extend(secrets.iter().cloned());
    for t in &tokens {
        forbidden.push(t.clone());
        forbidden.extend(t.split('.').filter(|p| p.len() > 20).map(str::to_owned));
    }
    forbidden.extend(headers);
    forbidden.push(crate::helpers::TEST_MASTER_KEY.to_owned());
    for bytes in [&keys.page_key, &keys.secret_key]
        .into_iter()
        .chain(signing.iter().map(|k| &k.private_der))
    {
        forbidden.push(base64::engine::general_purpose::STANDARD.encode(bytes));
        forbidden.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        forbidden.push(bytes.iter().map(|b| format!("{b:02x}")).collect());
        forbidden.push(format!("{bytes:?}"));
    }
    for f in &forbidden {
        assert!(
            !logs.contains(f.as_str()),
            "a secret leaked into the logs: {}...",
            &f[..f.len().min(12)]
        );
    }
    assert!(
        !logs.to_ascii_lowercase().contains("authorization: "),
        "no Authorization header in logs"
    );
}
