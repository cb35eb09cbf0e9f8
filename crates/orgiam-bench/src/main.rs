//! `orgiam-bench`: helpers for `bench/run`.
//!
//! - `orgiam-bench ceiling --body FILE [--content-type CT] [--listen ADDR]`: the ceiling, a
//!   minimal hyper 1 server that answers every request with the bytes of FILE (captured from
//!   orgiam) and the given `Content-Type`. It prints `listening on http://ADDR` once bound.
//! - `orgiam-bench roles --count N [--start I]`: custom roles as JSON lines for
//!   `orgiam roles import`, with varied, deterministic names: line `i` is the same in every
//!   file, so a file of 1,000 roles is the prefix of one of 1,000,000. A common substring
//!   (`er`) matches most names; a full name (`orgiam-bench rare-name`) matches exactly one.
//! - `orgiam-bench rare-name [--index I]`: the friendly name of role `I` (default 777).
//! - `orgiam-bench scim-users --url URL --org OR... --token T --count N [--start I]
//!   [--connections C]`: creates users `I..I+N` through `POST /Organizations/{OR}/scim/Users`
//!   over C keep-alive connections (default 8), each answer checked to be a 201. User `i` is
//!   the same in every run: `userName` `user-{i:07}@bench.example`, `externalId` `ext-{i:07}`, one work
//!   email `mail-{i:07}@bench.example`. Prints what it did as one JSON object.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const USAGE: &str = "usage:
  orgiam-bench ceiling --body FILE [--content-type CT] [--listen 127.0.0.1:0]
  orgiam-bench roles --count N [--start I]     # JSON lines on stdout
  orgiam-bench rare-name [--index I]           # the name of role I (default 777)
  orgiam-bench scim-users --url URL --org OR... --token T --count N [--start I] [--connections 8]";

/// `--name value` from `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn number(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    flag(args, name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| format!("{name} must be a non-negative integer, not '{v}'"))
    })
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ceiling") => ceiling(&args[1..]),
        Some("roles") => roles(&args[1..]),
        Some("rare-name") => number(&args[1..], "--index", 777).map(|i| println!("{}", name(i))),
        Some("scim-users") => scim_users(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orgiam-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ceiling server.

fn ceiling(args: &[String]) -> Result<(), String> {
    let path = flag(args, "--body").ok_or("ceiling needs --body FILE")?;
    let body = Bytes::from(std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?);
    let content_type =
        HeaderValue::from_str(flag(args, "--content-type").unwrap_or("application/json"))
            .map_err(|_| "--content-type is not a valid header value")?;
    let listen: SocketAddr = flag(args, "--listen")
        .unwrap_or("127.0.0.1:0")
        .parse()
        .map_err(|_| "--listen must be an address like 127.0.0.1:0")?;
    // The same runtime as orgiam's `#[tokio::main]`: multi-threaded, one worker per core the
    // process may run on (one, when pinned with taskset).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(listen, body, content_type))
}

async fn serve(listen: SocketAddr, body: Bytes, content_type: HeaderValue) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let content_type = content_type.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<Incoming>| {
                let mut res = Response::new(Full::new(body.clone()));
                res.headers_mut().insert(CONTENT_TYPE, content_type.clone());
                async move { Ok::<_, Infallible>(res) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Custom roles.

const ADJECTIVES: &[&str] = &[
    "Amber", "Silver", "Copper", "Cobalt", "Crimson", "Golden", "Ivory", "Jade", "Lunar", "Marble",
    "Onyx", "Polar", "Quartz", "Rapid", "Scarlet", "Solar", "Tidal", "Umber", "Velvet", "Winter",
    "Zephyr", "Northern", "Eastern", "Hidden",
];

const NOUNS: &[&str] = &[
    "Reader",
    "Writer",
    "Viewer",
    "Manager",
    "Operator",
    "Auditor",
    "Editor",
    "Approver",
    "Observer",
    "Developer",
    "Engineer",
    "Analyst",
    "Owner",
    "Admin",
    "Support",
    "Billing Clerk",
    "Number Porter",
    "Flow Builder",
    "Queue Agent",
    "Sync Keeper",
    "Voice Dialer",
    "Studio Lead",
    "Verify Checker",
    "Video Host",
    "Lookup Agent",
    "Segment Steward",
    "Monitor",
    "Steward",
    "Trainee",
    "Contractor",
    "Partner",
    "Guest",
];

/// (product group, an allow pattern in it).
const GROUPS: &[(&str, &str)] = &[
    ("billing", "/twilio/billing/*"),
    ("conversations", "/twilio/conversations/*"),
    ("flex", "/twilio/flex/*"),
    ("iam", "/twilio/iam/role-assignments/list"),
    ("lookup", "/twilio/lookup/*"),
    ("messaging", "/twilio/messaging/*"),
    ("monitor", "/twilio/monitor/*"),
    ("organization", "/twilio/organization/profile/read"),
    ("phone-numbers", "/twilio/phone-numbers/*"),
    ("segment", "/twilio/segment/*"),
    ("serverless", "/twilio/serverless/*"),
    ("studio", "/twilio/studio/*"),
    ("sync", "/twilio/sync/*"),
    ("taskrouter", "/twilio/taskrouter/*"),
    ("verify", "/twilio/verify/*"),
    ("video", "/twilio/video/*"),
    ("voice", "/twilio/voice/*"),
];

const LEVELS: &[&str] = &["ORGANIZATION", "ACCOUNT", "SUB_ACCOUNT"];

/// A cheap, fixed mix of the index (SplitMix64's finalizer), so neighbouring roles differ.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(list: &[&'a str], n: u64) -> &'a str {
    list.get((n % list.len() as u64) as usize)
        .copied()
        .unwrap_or("")
}

/// The friendly name of role `i`: two words and the index (unique, so a full name is rare).
fn name(i: u64) -> String {
    let h = mix(i);
    format!("{} {} {:07}", pick(ADJECTIVES, h), pick(NOUNS, h >> 16), i)
}

fn roles(args: &[String]) -> Result<(), String> {
    let count = number(args, "--count", 1000)?;
    let start = number(args, "--start", 0)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    for i in start..start + count {
        let h = mix(i);
        let (group, allow) = GROUPS
            .get((h >> 32) as usize % GROUPS.len())
            .copied()
            .unwrap_or(("iam", "/twilio/iam/role-assignments/list"));
        let level = pick(LEVELS, h >> 40);
        let types = match (h >> 44) % 4 {
            0 => r#"["account"]"#,
            1 => r#"["account","subaccount"]"#,
            _ => "null",
        };
        writeln!(
            out,
            r#"{{"friendly_name":"{name}","external_description":"Generated role {i} for the orgiam benchmark","product_group":"{group}","lowest_level":"{level}","policy":{{"allow":["{allow}"],"deny":null}},"resource_types":{types}}}"#,
            name = name(i),
        )
        .map_err(|e| format!("cannot write: {e}"))?;
    }
    out.flush().map_err(|e| format!("cannot write: {e}"))
}

// ---------------------------------------------------------------------------------------------
// SCIM users, created over HTTP/1.1 keep-alive connections (no client library: a request is a
// few lines of bytes, and the answer is read to its Content-Length).

/// The `userName` of SCIM user `i`.
fn scim_user_name(i: u64) -> String {
    format!("user-{i:07}@bench.example")
}

fn scim_user_body(i: u64) -> String {
    let h = mix(i);
    format!(
        concat!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{}","#,
            r#""externalId":"ext-{:07}","displayName":"{} {} {:07}","#,
            r#""name":{{"givenName":"{}","familyName":"{:07}"}},"#,
            r#""emails":[{{"value":"mail-{:07}@bench.example","type":"work","primary":true}}],"active":true}}"#
        ),
        scim_user_name(i),
        i,
        pick(ADJECTIVES, h),
        pick(NOUNS, h >> 16),
        i,
        pick(ADJECTIVES, h),
        i,
        i,
    )
}

fn scim_users(args: &[String]) -> Result<(), String> {
    let url = flag(args, "--url").ok_or("scim-users needs --url http://HOST:PORT")?;
    let org = flag(args, "--org").ok_or("scim-users needs --org OR...")?;
    let token = flag(args, "--token").ok_or("scim-users needs --token")?;
    let count = number(args, "--count", 1000)?;
    let start = number(args, "--start", 0)?;
    let connections = number(args, "--connections", 8)?.max(1);
    let authority = url
        .strip_prefix("http://")
        .ok_or("--url must start with http://")?
        .trim_end_matches('/')
        .to_owned();
    let addr: SocketAddr = authority
        .parse()
        .map_err(|_| format!("--url must be http://IP:PORT, not {url}"))?;
    let path = format!("/Organizations/{org}/scim/Users");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let t0 = std::time::Instant::now();
    runtime.block_on(async {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(start));
        let end = start.saturating_add(count);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let next = next.clone();
            let (authority, path, token) = (authority.clone(), path.clone(), token.to_owned());
            tasks.push(tokio::spawn(async move {
                post_users(addr, &authority, &path, &token, &next, end).await
            }));
        }
        for t in tasks {
            t.await
                .map_err(|e| format!("a loader task failed: {e}"))??;
        }
        Ok::<(), String>(())
    })?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"created\":{count},\"seconds\":{secs:.1},\"users_per_second\":{:.0}}}",
        count as f64 / secs.max(1e-9)
    );
    Ok(())
}

async fn post_users(
    addr: SocketAddr,
    authority: &str,
    path: &str,
    token: &str,
    next: &std::sync::atomic::AtomicU64,
    end: u64,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if i >= end {
            return Ok(());
        }
        let body = scim_user_body(i);
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("user {i}: write: {e}"))?;
        // Read the head, then the body to its Content-Length.
        buf.clear();
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("user {i}: read: {e}"))?;
            if n == 0 {
                return Err(format!("user {i}: the server closed the connection"));
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
        let status = head.split(' ').nth(1).unwrap_or("");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or_else(|| format!("user {i}: an answer without Content-Length: {head}"))?;
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("user {i}: read: {e}"))?;
            if n == 0 {
                return Err(format!("user {i}: the server closed the connection"));
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        if status != "201" {
            let body = String::from_utf8_lossy(buf.get(head_end..).unwrap_or_default());
            return Err(format!("user {i}: HTTP {status}: {body}"));
        }
    }
}
