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

/// Writes the organization into the store: accounts, users, custom roles, and its first
/// `first` assignments.
async fn load(
    store: &dyn Directory,
    org: &Org,
    catalog: &Catalog,
    first: usize,
) -> Result<(), String> {
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
    load_assignments(store, org, catalog, 0..first).await
}

/// Writes the organization's assignments `range` into the store.
async fn load_assignments(
    store: &dyn Directory,
    org: &Org,
    catalog: &Catalog,
    range: std::ops::Range<usize>,
) -> Result<(), String> {
    let actor = Actor::cli();
    let builtin: std::collections::HashSet<_> = catalog.roles.iter().map(|r| &r.sid).collect();
    for a in &org.assignments[range] {
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

    /// From the server's own `/metrics`: the checks answered 200 so far, and how many of them
    /// took at most 1 ms of server time (its latency histogram's `le="0.001"` bucket).
    async fn served_within_1ms(&self) -> (f64, f64) {
        let text = match self.http.get(format!("{}/metrics", self.url)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let (mut total, mut fast) = (0.0, 0.0);
        for line in text.lines().filter(|l| {
            l.contains(r#"route="/v2/Organizations/PermissionChecks""#)
                && l.contains(r#"status="200""#)
        }) {
            let value = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            if line.starts_with("orgiam_http_request_duration_seconds_count") {
                total = value;
            } else if line.starts_with("orgiam_http_request_duration_seconds_bucket")
                && line.contains(r#"le="0.001""#)
            {
                fast = value;
            }
        }
        (total, fast)
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

/// Sends single checks at `rate` per second (open loop) for `duration`; latencies in µs,
/// each from the time its request was due (a request that waited for a free connection counts
/// its wait).
///
/// The send times are kept by a thread sleeping until each one (the kernel's high-resolution
/// timers): tokio's timer wheel has a granularity of one millisecond, and ticking it faster sent
/// the requests in bursts at each millisecond, which measured the bursts' queueing rather than
/// the server's latency. The requests go over `IN_FLIGHT` plain HTTP/1.1 keep-alive
/// connections, written and read here: reqwest's own cost per request, on the client's one
/// core, was more than the server's, and the client fell behind its own schedule.
async fn at_rate(
    client: &Client,
    bodies: &[Vec<u8>],
    rate: f64,
    duration: Duration,
) -> (Vec<u64>, Vec<u64>) {
    const IN_FLIGHT: usize = 32;
    let Some(addr) = client.url.strip_prefix("http://").map(str::to_owned) else {
        return (Vec::new(), Vec::new());
    };
    let requests = Arc::new(raw_requests(client, &addr, bodies));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let pacer = std::thread::spawn(move || {
        let started = Instant::now();
        for i in 0usize.. {
            let due = interval.mul_f64(i as f64);
            if due >= duration {
                break;
            }
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            if tx.send((i, started + due)).is_err() {
                break;
            }
        }
    });
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (rx, requests, addr) = (rx.clone(), requests.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = (Vec::new(), Vec::new());
            let Ok(mut conn) = tokio::net::TcpStream::connect(&addr).await else {
                return out;
            };
            let _ = conn.set_nodelay(true);
            let mut buf = Vec::with_capacity(4096);
            loop {
                let next = rx.lock().await.recv().await;
                let Some((i, due)) = next else { break };
                let sent = Instant::now();
                if raw_exchange(&mut conn, &requests[i % requests.len()], &mut buf).await {
                    out.0.push(due.elapsed().as_micros() as u64);
                    out.1.push(sent.elapsed().as_micros() as u64);
                }
            }
            out
        }));
    }
    let (mut from_due, mut from_send) = (Vec::new(), Vec::new());
    for t in tasks {
        if let Ok((mut d, mut s)) = t.await {
            from_due.append(&mut d);
            from_send.append(&mut s);
        }
    }
    let _ = pacer.join();
    from_due.sort_unstable();
    from_send.sort_unstable();
    (from_due, from_send)
}

/// Each body as a whole HTTP/1.1 request to the checks endpoint.
fn raw_requests(client: &Client, addr: &str, bodies: &[Vec<u8>]) -> Vec<Vec<u8>> {
    bodies
        .iter()
        .map(|b| {
            let mut r = format!(
                "POST /v2/Organizations/PermissionChecks HTTP/1.1\r\nHost: {addr}\r\n\
                 Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                client.token,
                b.len()
            )
            .into_bytes();
            r.extend_from_slice(b);
            r
        })
        .collect()
}

/// Single checks as fast as `connections` plain connections get answers (closed loop), for
/// `duration`: (answered, seconds). The same client as [`at_rate`], so that half of this is a
/// rate that client keeps.
async fn raw_saturate(
    client: &Client,
    bodies: &[Vec<u8>],
    connections: usize,
    duration: Duration,
) -> (usize, f64) {
    let Some(addr) = client.url.strip_prefix("http://").map(str::to_owned) else {
        return (0, 1.0);
    };
    let requests = Arc::new(raw_requests(client, &addr, bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (requests, addr) = (requests.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut conn) = tokio::net::TcpStream::connect(&addr).await else {
                return 0;
            };
            let _ = conn.set_nodelay(true);
            let (mut buf, mut done, mut i) = (Vec::with_capacity(4096), 0, c);
            while started.elapsed() < duration {
                if raw_exchange(&mut conn, &requests[i % requests.len()], &mut buf).await {
                    done += 1;
                }
                i += connections;
            }
            done
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap_or(0);
    }
    (done, started.elapsed().as_secs_f64())
}

/// Writes one request and reads its response (headers, then `Content-Length` bytes); true on
/// a 200.
async fn raw_exchange(conn: &mut tokio::net::TcpStream, request: &[u8], buf: &mut Vec<u8>) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if conn.write_all(request).await.is_err() {
        return false;
    }
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = conn.read(&mut chunk).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return head.starts_with("http/1.1 200");
        }
    }
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

/// utime+stime of a process, in seconds (clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of the PostgreSQL backends serving database `db` (0 for SQLite): they do the
/// store's work for the server, so they count towards its cores.
fn pg_cpu_s(db: Option<&str>) -> f64 {
    let Some(db) = db else { return 0.0 };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let needle = format!(" {db} ");
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.to_owned();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.starts_with("postgres: ") && cmd.contains(&needle))
                .then(|| cpu_s(&pid))
                .flatten()
        })
        .sum()
}

/// The server's CPU seconds so far (its own, plus its PostgreSQL backends').
fn server_cpu_s(pid: Option<&str>, db: Option<&str>) -> f64 {
    pid.and_then(cpu_s).unwrap_or(0.0) + pg_cpu_s(db)
}

/// Median µs of `n` changes as the server sees them, in `org` as loaded so far: create an
/// assignment, check (the check must see it), delete it, check again — so that whatever the
/// server does to follow a change is in the figure.
async fn change_cost(client: &Client, org: &Org, n: usize) -> Result<f64, String> {
    let catalog = Catalog::builtin()?;
    let role = catalog
        .roles
        .iter()
        .find(|r| r.lowest_level == Level::SubAccount && r.resource_types.is_none())
        .ok_or("a sub-account role")?;
    let compiled = orgiam_domain::decision::RolePolicy::new(&role.policy);
    let permission = permissions(&catalog)
        .into_iter()
        .find(|p| compiled.grants(p))
        .ok_or("a permission the role grants")?;
    let scope = org
        .accounts
        .last()
        .map_or(org.org.to_string(), |a| a.0.to_string());
    // An active user without that role there, and with room for one more built-in role.
    let user = org
        .users
        .iter()
        .filter(|(_, active)| *active)
        .map(|(u, _)| u)
        .find(|u| {
            let mine = org.assignments.iter().filter(|a| &a.identity == *u);
            mine.clone().count() < 10 && !mine.clone().any(|a| a.role == role.sid)
        })
        .ok_or("a user for the change")?;
    let check = serde_json::to_vec(&json!({"checks": [
        {"identity": user, "permission": permission.as_str(), "scope": scope}
    ]}))
    .map_err(|e| e.to_string())?;
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
        let seen = client.checks(&check).await?;
        if seen["results"][0]["allowed"] != json!(true) {
            return Err(format!("a check after the change did not see it: {seen}"));
        }
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
        client.checks(&check).await?;
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
    // The PostgreSQL database's name, to find its backends.
    let pg_db: Option<String> = url
        .expose()
        .starts_with("postgres")
        .then(|| {
            url.expose()
                .rsplit('/')
                .next()
                .map(|d| d.split('?').next().unwrap_or(d).to_owned())
        })
        .flatten();
    let pg_db = pg_db.as_deref();
    let catalog = Catalog::builtin()?;
    let perms = permissions(&catalog);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let store = orgiam_store::open(&url, OpenMode::Existing)
        .await
        .map_err(|e| e.to_string())?;

    let rss_before = rss_kb(pid);
    let t = Instant::now();
    let org = generate_in(&mut rng, Shape::large(), &catalog, org_sid.clone());
    // First everything but 500 assignments: an assignment change is measured at 500, then
    // again at all of them, in the same organization on the same server.
    const SMALL: usize = 500;
    let small_n = SMALL.min(org.assignments.len());
    load(store.as_ref(), &org, &catalog, small_n).await?;
    let http = reqwest::Client::new();
    let token_for = |base: String, id: String, secret: String| {
        let http = http.clone();
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
    let (client_id, client_secret) = (
        need(args, "--client-id")?.to_owned(),
        need(args, "--client-secret")?.to_owned(),
    );
    let token = token_for(base.clone(), client_id.clone(), client_secret.clone()).await?;
    let client = Arc::new(Client {
        http: http.clone(),
        url: base.clone(),
        token,
    });

    let change_small = change_cost(&client, &org, 200).await?;
    let change_small_store = store_change_cost(store.as_ref(), &org, 200).await?;
    load_assignments(
        store.as_ref(),
        &org,
        &catalog,
        small_n..org.assignments.len(),
    )
    .await?;
    let load_s = t.elapsed().as_secs_f64();

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
    let cpu0 = server_cpu_s(pid, pg_db);
    let (batches, secs) = saturate(&client, bodies.clone(), connections, duration).await;
    let batch_cpu = server_cpu_s(pid, pg_db) - cpu0;
    let batch_rate = (batches * 1000) as f64 / secs;
    // Decisions per second of one core: per CPU second the server (and its database) spent.
    let batch_per_core = if batch_cpu > 0.0 {
        (batches * 1000) as f64 / batch_cpu
    } else {
        batch_rate
    };
    // Single checks: the maximum, then half of it, open loop.
    let singles: Arc<Vec<Vec<u8>>> = Arc::new(
        asks.iter()
            .take(5000)
            .map(|a| serde_json::to_vec(&json!({"checks": [check_json(a)]})).unwrap_or_default())
            .collect(),
    );
    let cpu0 = server_cpu_s(pid, pg_db);
    let (done, secs) = raw_saturate(&client, &singles, connections, duration).await;
    let single_cpu = server_cpu_s(pid, pg_db) - cpu0;
    let single_max = done as f64 / secs;
    let before = client.served_within_1ms().await;
    let (lat, lat_sent) = at_rate(&client, &singles, single_max / 2.0, duration).await;
    let after = client.served_within_1ms().await;
    let served = after.0 - before.0;
    let within_1ms = if served > 0.0 {
        (after.1 - before.1) / served
    } else {
        0.0
    };
    let rss_peak = rss_kb(pid);

    // The same assignment change, now at all the assignments.
    let change_large = change_cost(&client, &org, 200).await?;
    let change_large_store = store_change_cost(store.as_ref(), &org, 200).await?;

    // The store path, for comparison: a second server over the same database with its
    // decision index off (every check reads the store).
    let mut store_path = json!(null);
    if let Some(store_url) = flag(args, "--store-url") {
        let store_url = store_url.trim_end_matches('/').to_owned();
        let store_pid = flag(args, "--store-pid");
        let token = token_for(store_url.clone(), client_id.clone(), client_secret.clone()).await?;
        let other = Arc::new(Client {
            http: http.clone(),
            url: store_url,
            token,
        });
        let mut differ = 0usize;
        for (chunk, body) in asks.chunks(1000).zip(bodies.iter()) {
            let v = other.checks(body).await?;
            let results = v["results"].as_array().ok_or("results")?;
            for (a, r) in chunk.iter().zip(results) {
                differ += usize::from(r["allowed"].as_bool().unwrap_or(false) != ours.decide(a));
            }
        }
        disagree += differ;
        let cpu0 = server_cpu_s(store_pid, pg_db);
        let (batches, secs) = saturate(&other, bodies.clone(), connections, duration).await;
        let cpu = server_cpu_s(store_pid, pg_db) - cpu0;
        let rate = (batches * 1000) as f64 / secs;
        let per_core = if cpu > 0.0 {
            (batches * 1000) as f64 / cpu
        } else {
            rate
        };
        let (done, secs) = raw_saturate(&other, &singles, connections, duration).await;
        let max = done as f64 / secs;
        let (lat, _) = at_rate(&other, &singles, max / 2.0, duration).await;
        store_path = json!({
            "batch_decisions_per_s": rate.round(),
            "batch_decisions_per_server_core_s": per_core.round(),
            "single_check_max_per_s": max.round(),
            "single_check_at_half_p50_us": pct(&lat, 0.5),
            "single_check_at_half_p99_us": pct(&lat, 0.99),
            "disagreements": differ,
        });
    }

    // Cedar, in this process, on the same requests.
    let cedar = CedarOrg::new(&org)?;
    let sample = asks.len().min(200);
    let reqs = asks[..sample]
        .iter()
        .map(|a| cedar.request(a))
        .collect::<Result<Vec<_>, _>>()?;
    // Timed alone; compared with orgiam's answers afterwards.
    let t = Instant::now();
    let whole: Vec<bool> = reqs.iter().map(|r| cedar.is_authorized(r)).collect();
    let cedar_rate = sample as f64 / t.elapsed().as_secs_f64();
    let mut cedar_disagree = asks
        .iter()
        .zip(&whole)
        .filter(|(a, got)| **got != ours.decide(a))
        .count();
    // Cedar over only the asking user's policies (the best slicing a Cedar deployment could
    // do), on every request.
    let mut by_user: std::collections::HashMap<&str, Vec<orgiam_domain::model::Assignment>> =
        std::collections::HashMap::new();
    for a in &org.assignments {
        by_user
            .entry(a.identity.as_str())
            .or_default()
            .push(a.clone());
    }
    let mut sliced: std::collections::HashMap<&str, cedar_policy::PolicySet> =
        std::collections::HashMap::new();
    for a in &asks {
        if !sliced.contains_key(a.user.as_str()) {
            let text = CedarOrg::policy_text(
                &org,
                by_user.get(a.user.as_str()).map_or(&[][..], Vec::as_slice),
            );
            let set = std::str::FromStr::from_str(&text).map_err(|e| format!("{e:?}"))?;
            sliced.insert(a.user.as_str(), set);
        }
    }
    let sliced_reqs = asks
        .iter()
        .map(|a| {
            Ok((
                sliced.get(a.user.as_str()).ok_or("a sliced policy set")?,
                cedar.request(a)?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let t = Instant::now();
    let per_user: Vec<bool> = sliced_reqs
        .iter()
        .map(|(set, r)| cedar.is_authorized_in(set, r))
        .collect();
    let sliced_rate = asks.len() as f64 / t.elapsed().as_secs_f64();
    cedar_disagree += asks
        .iter()
        .zip(&per_user)
        .filter(|(a, got)| **got != ours.decide(a))
        .count();
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
        "batch_server_cpu_s": (batch_cpu * 100.0).round() / 100.0,
        "batch_decisions_per_server_core_s": batch_per_core.round(),
        "single_check_max_per_s": single_max.round(),
        "single_check_server_cpu_us": if done > 0 { (single_cpu * 1e6 / done as f64).round() } else { 0.0 },
        "single_check_at_half_p50_us": pct(&lat, 0.5),
        "single_check_at_half_p99_us": pct(&lat, 0.99),
        "single_check_at_half_samples": lat.len(),
        "single_check_at_half_p99_from_send_us": pct(&lat_sent, 0.99),
        "single_check_at_half_server_share_within_1ms": (within_1ms * 10000.0).round() / 10000.0,
        "cedar_is_authorized_whole_set_per_s": cedar_rate.round(),
        "cedar_is_authorized_per_user_per_s": sliced_rate.round(),
        "batch_per_core_ratio_to_cedar_whole_set": (batch_per_core / cedar_rate * 10.0).round() / 10.0,
        "batch_per_core_ratio_to_cedar_per_user": (batch_per_core / sliced_rate * 100.0).round() / 100.0,
        "orgiam_in_process_decisions_per_s": inproc_rate.round(),
        "change_assignments_small": small_n,
        "change_http_us_small": change_small,
        "change_http_us_large": change_large,
        "change_ratio_large_to_small": (change_large / change_small.max(1.0) * 100.0).round() / 100.0,
        "change_store_us_small": change_small_store,
        "change_store_us_large": change_large_store,
        "server_rss_kb_before_load": rss_before,
        "server_rss_kb_after_checks": rss_after,
        "server_rss_kb_peak_seen": rss_peak,

    });
    let mut out = out;
    if let (Some(o), Some(sp)) = (out.as_object_mut(), store_path.as_object()) {
        for (k, v) in sp {
            o.insert(format!("store_path_{k}"), v.clone());
        }
    }
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
    let user = org
        .users
        .iter()
        .rev()
        .map(|(u, _)| u)
        .find(|u| {
            let mine = org.assignments.iter().filter(|a| &a.identity == *u);
            mine.clone().count() < 10 && !mine.clone().any(|a| a.role == role.sid)
        })
        .ok_or("a user for the change")?;
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let a = orgiam_domain::model::Assignment {
            sid: orgiam_domain::sid::AssignmentSid::random(),
            org: org.org.clone(),
            role: role.sid.clone(),
            scope: org.org.to_string(),
            identity: user.clone(),
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
