//! `orgiam-cedar http`: the batch endpoint measured beside Cedar (see the crate's binary doc).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orgiam_cedar::{Ask, CedarOrg, Org, Orgiam, Shape, generate_in, permissions};
use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::{Account, Actor, Level, Role, User};
use orgiam_domain::sid::OrgSid;
use orgiam_store::{DatabaseUrl, Directory, OpenMode};
use rand::SeedableRng;
use serde_json::{Value, json};

use crate::flag;

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    flag(args, name).map_or(Ok(default), |v| {
        v.parse().map_err(|_| format!("{name}: not a number"))
    })
}

fn need<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    flag(args, name).ok_or_else(|| format!("{name} is required"))
}

/// Writes the organization into the store: accounts, users, custom roles, assignments.
async fn load(store: &dyn Directory, org: &Org, catalog: &Catalog) -> Result<(), String> {
    let actor = Actor::cli();
    let err = |e: orgiam_domain::Error| e.to_string();
    for (i, (u, _)) in org.users.iter().enumerate() {
        let user = User {
            sid: u.clone(),
            org: org.org.clone(),
            email: format!("bench{i}-{}@example.com", &u.as_str()[26..]),
            friendly_name: format!("bench user {i}"),
            date_created: 0,
        };
        store.create_user(&user, &actor).await.map_err(err)?;
    }
    for (u, active) in &org.users {
        if !active {
            store
                .access()
                .set_user_active(&org.org, u, false, &actor)
                .await
                .map_err(err)?;
        }
    }
    for (sid, parent) in &org.accounts {
        let account = Account {
            sid: sid.clone(),
            org: org.org.clone(),
            parent: parent.map(|i| org.accounts[i].0.clone()),
            friendly_name: format!("bench account {sid}"),
            status: "active".into(),
            owner: org.users.first().map(|u| u.0.clone()),
            date_created: 0,
        };
        store.create_account(&account, &actor).await.map_err(err)?;
    }
    let (group, group_name) = catalog
        .groups
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .ok_or("the catalog has product groups")?;
    let builtin: std::collections::HashSet<_> = catalog.roles.iter().map(|r| &r.sid).collect();
    let custom: Vec<Role> = org
        .roles
        .iter()
        .filter(|(sid, _)| !builtin.contains(sid))
        .enumerate()
        .map(|(i, (sid, policy))| Role {
            sid: sid.clone(),
            org: Some(org.org.clone()),
            friendly_name: format!("bench role {i}"),
            external_description: String::new(),
            product_group: group.clone(),
            product_group_name: group_name.clone(),
            lowest_level: Level::SubAccount,
            policy: policy.clone(),
            resource_types: Some(vec!["billing_group".into()]),
            date_created: 0,
            date_updated: 0,
        })
        .collect();
    let mut once = Some(custom);
    store
        .import_roles(&org.org, &mut || Ok(once.take()), &actor)
        .await
        .map_err(err)?;
    for a in &org.assignments {
        match store
            .create_assignment(a, builtin.contains(&a.role), &actor)
            .await
        {
            Ok(()) | Err(orgiam_domain::Error::Conflict(_)) => {}
            Err(orgiam_domain::Error::BadRequest(_)) => {} // a user's 25 built-in roles
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn check_json(a: &Ask) -> Value {
    let mut v = json!({"identity": a.user, "permission": a.permission.as_str(), "scope": a.scope});
    if let Some((t, i)) = &a.resource {
        v["resource_type"] = json!(t);
        v["resource_id"] = json!(i);
    }
    v
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    async fn checks(&self, body: &[u8]) -> Result<Value, String> {
        let r = self
            .http
            .post(format!("{}/v2/Organizations/PermissionChecks", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("status {}", r.status()));
        }
        r.json().await.map_err(|e| e.to_string())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<u16, String> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        Ok(r.status().as_u16())
    }
}

/// Runs `bodies` round-robin on `connections` tasks for `duration`; requests completed.
async fn saturate(
    client: &Arc<Client>,
    bodies: Arc<Vec<Vec<u8>>>,
    connections: usize,
    duration: Duration,
) -> (usize, f64) {
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (client, bodies, done, stop) =
            (client.clone(), bodies.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                if client.checks(&bodies[i % bodies.len()]).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += connections;
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (
        done.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    )
}

/// Sends single checks at `rate` per second (open loop) for `duration`; latencies in µs.
async fn at_rate(
    client: &Arc<Client>,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: f64,
    duration: Duration,
) -> Vec<u64> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut i = 0;
    while started.elapsed() < duration {
        tick.tick().await;
        let (client, bodies) = (client.clone(), bodies.clone());
        let body = i % bodies.len();
        i += 1;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let ok = client.checks(&bodies[body]).await.is_ok();
            ok.then(|| t.elapsed().as_micros() as u64)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(Some(us)) = t.await {
            out.push(us);
        }
    }
    out.sort_unstable();
    out
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_kb(pid: Option<&str>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Median µs of `n` changes (create an assignment, then delete it) in `org`.
async fn change_cost(client: &Client, org: &Org, n: usize) -> Result<f64, String> {
    let user = &org.users[0].0;
    let role = Catalog::builtin()?
        .roles
        .into_iter()
        .find(|r| r.lowest_level == Level::SubAccount && r.resource_types.is_none())
        .ok_or("a sub-account role")?;
    let scope = org
        .accounts
        .last()
        .map_or(org.org.to_string(), |a| a.0.to_string());
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = client
            .http
            .post(format!("{}/v2/Organizations/RoleAssignments", client.url))
            .bearer_auth(&client.token)
            .json(&json!({"role_sid": role.sid, "scope": scope, "identity": user}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        let sid = v["sid"].as_str().ok_or(format!("create: {v}"))?.to_owned();
        let status = client
            .send(
                reqwest::Method::DELETE,
                &format!("/v2/Organizations/RoleAssignments/{sid}"),
                None,
            )
            .await?;
        if status != 204 {
            return Err(format!("delete: {status}"));
        }
        took.push(t.elapsed().as_micros() as u64);
    }
    took.sort_unstable();
    Ok(pct(&took, 0.5) as f64)
}

pub async fn run(args: &[String]) -> Result<(), String> {
    let seed: u64 = num(args, "--seed", 7)?;
    let n: usize = num(args, "--requests", 20_000)?;
    let connections: usize = num(args, "--connections", 8)?;
    let duration = Duration::from_secs(num(args, "--duration", 4)?);
    let url = DatabaseUrl::new(need(args, "--database-url")?);
    let org_sid = OrgSid::parse(need(args, "--org")?).map_err(|e| format!("--org {e}"))?;
    let base = need(args, "--url")?.trim_end_matches('/').to_owned();
    let pid = flag(args, "--server-pid");
    let catalog = Catalog::builtin()?;
    let perms = permissions(&catalog);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let store = orgiam_store::open(&url, OpenMode::Existing)
        .await
        .map_err(|e| e.to_string())?;

    let rss_before = rss_kb(pid);
    let t = Instant::now();
    let org = generate_in(&mut rng, Shape::large(), &catalog, org_sid.clone());
    load(store.as_ref(), &org, &catalog).await?;
    let load_s = t.elapsed().as_secs_f64();
    let small_sid = OrgSid::random();
    store
        .create_org(
            &orgiam_domain::model::Org {
                sid: small_sid.clone(),
                friendly_name: "bench small".into(),
                date_created: 0,
            },
            &Actor::cli(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let small_shape = Shape {
        accounts: 20,
        users: 100,
        custom_roles: 10,
        builtin_roles: 10,
        assignments: 500,
        resources: 4,
        inactive: 0.0,
        on_resource: 0.1,
    };
    let small = generate_in(&mut rng, small_shape, &catalog, small_sid.clone());
    load(store.as_ref(), &small, &catalog).await?;

    let http = reqwest::Client::new();
    let token_for = |id: String, secret: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/v2/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id.as_str()),
                    ("client_secret", secret.as_str()),
                ])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            v["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("token: {v}"))
        }
    };
    let token = token_for(
        need(args, "--client-id")?.to_owned(),
        need(args, "--client-secret")?.to_owned(),
    )
    .await?;
    let client = Arc::new(Client {
        http: http.clone(),
        url: base.clone(),
        token,
    });

    // Agreement: every request through the batch endpoint against the in-process decision.
    let asks = org.asks(&mut rng, n, &perms);
    let ours = Orgiam::new(&org);
    let bodies: Vec<Vec<u8>> = asks
        .chunks(1000)
        .map(|c| {
            serde_json::to_vec(&json!({"checks": c.iter().map(check_json).collect::<Vec<_>>()}))
                .unwrap_or_default()
        })
        .collect();
    let mut disagree = 0usize;
    let mut allowed = 0usize;
    for (chunk, body) in asks.chunks(1000).zip(&bodies) {
        let v = client.checks(body).await?;
        let results = v["results"].as_array().ok_or("results")?;
        for (a, r) in chunk.iter().zip(results) {
            let got = r["allowed"].as_bool().unwrap_or(false);
            allowed += usize::from(got);
            disagree += usize::from(got != ours.decide(a));
        }
    }
    let rss_after = rss_kb(pid);

    // Throughput through the batch endpoint.
    let bodies = Arc::new(bodies);
    let (batches, secs) = saturate(&client, bodies.clone(), connections, duration).await;
    let batch_rate = (batches * 1000) as f64 / secs;
    // Single checks: the maximum, then half of it, open loop.
    let singles: Arc<Vec<Vec<u8>>> = Arc::new(
        asks.iter()
            .take(5000)
            .map(|a| serde_json::to_vec(&json!({"checks": [check_json(a)]})).unwrap_or_default())
            .collect(),
    );
    let (done, secs) = saturate(&client, singles.clone(), connections, duration).await;
    let single_max = done as f64 / secs;
    let lat = at_rate(&client, singles, single_max / 2.0, duration).await;
    let rss_peak = rss_kb(pid);

    // An assignment change in the large organization and in the small one.
    let change_large = change_cost(&client, &org, 200).await?;
    // The same change through the store in the small organization and the large one.
    let change_small = store_change_cost(store.as_ref(), &small, 200).await?;
    let change_large_store = store_change_cost(store.as_ref(), &org, 200).await?;

    // Cedar, in this process, on the same requests.
    let cedar = CedarOrg::new(&org)?;
    let sample = asks.len().min(200);
    let reqs = asks[..sample]
        .iter()
        .map(|a| cedar.request(a))
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    let mut cedar_disagree = 0usize;
    for (a, r) in asks.iter().zip(&reqs) {
        cedar_disagree += usize::from(cedar.is_authorized(r) != ours.decide(a));
    }
    let cedar_rate = sample as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut k = 0usize;
    while t.elapsed().as_secs_f64() < 1.0 {
        for a in &asks {
            std::hint::black_box(ours.decide(a));
        }
        k += asks.len();
    }
    let inproc_rate = k as f64 / t.elapsed().as_secs_f64();

    let out = json!({
        "users": org.users.len(),
        "assignments": org.assignments.len(),
        "roles": org.roles.len(),
        "accounts": org.accounts.len(),
        "load_s": (load_s * 10.0).round() / 10.0,
        "requests": asks.len(),
        "allowed": allowed,
        "http_disagreements": disagree,
        "cedar_disagreements": cedar_disagree,
        "batch_decisions_per_s": batch_rate.round(),
        "single_check_max_per_s": single_max.round(),
        "single_check_at_half_p50_us": pct(&lat, 0.5),
        "single_check_at_half_p99_us": pct(&lat, 0.99),
        "single_check_at_half_samples": lat.len(),
        "cedar_is_authorized_per_s": cedar_rate.round(),
        "batch_ratio_to_cedar": (batch_rate / cedar_rate * 10.0).round() / 10.0,
        "orgiam_in_process_decisions_per_s": inproc_rate.round(),
        "change_http_us_large": change_large,
        "change_store_us_large": change_large_store,
        "change_store_us_small": change_small,
        "change_ratio_large_to_small": (change_large_store / change_small.max(1.0) * 100.0).round() / 100.0,
        "server_rss_kb_before_load": rss_before,
        "server_rss_kb_after_checks": rss_after,
        "server_rss_kb_peak_seen": rss_peak,
    });
    println!("{out}");
    if disagree > 0 || cedar_disagree > 0 {
        return Err(format!(
            "{disagree} HTTP and {cedar_disagree} Cedar decisions differ"
        ));
    }
    Ok(())
}

/// Median µs of `n` changes (create then delete one assignment) through the store.
async fn store_change_cost(store: &dyn Directory, org: &Org, n: usize) -> Result<f64, String> {
    let role = Catalog::builtin()?
        .roles
        .into_iter()
        .find(|r| r.lowest_level == Level::SubAccount && r.resource_types.is_none())
        .ok_or("a sub-account role")?;
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let a = orgiam_domain::model::Assignment {
            sid: orgiam_domain::sid::AssignmentSid::random(),
            org: org.org.clone(),
            role: role.sid.clone(),
            scope: org.org.to_string(),
            identity: org.users[org.users.len() - 1].0.clone(),
            resource_type: None,
            resource_id: None,
            date_created: 0,
        };
        let t = Instant::now();
        store
            .create_assignment(&a, true, &Actor::cli())
            .await
            .map_err(|e| e.to_string())?;
        store
            .delete_assignment(&org.org, &a.sid, &Actor::cli())
            .await
            .map_err(|e| e.to_string())?;
        took.push(t.elapsed().as_micros() as u64);
    }
    took.sort_unstable();
    Ok(pct(&took, 0.5) as f64)
}
