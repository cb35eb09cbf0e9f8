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
  orgiam-bench rare-name [--index I]           # the name of role I (default 777)";

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
