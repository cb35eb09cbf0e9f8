//! `orgiam-cedar bench [--seed N] [--requests N] [--json]`: one large organization (10,000
//! users, 50,000 assignments over organization, account, subaccount and resource scopes, 200
//! custom roles), the same requests decided by orgiam's decision and by Cedar's
//! `is_authorized` (over the organization's whole policy set, and over only the asking user's
//! policies, the best a Cedar deployment could slice it), on one core, in the same run. The
//! decisions must agree. Prints decisions per second of each.
//!
//! `orgiam-cedar http ...`: loads that organization into a store that a running `orgiam
//! serve` uses (first all but 500 assignments' worth, then the rest), then measures through
//! HTTP: agreement of the batch endpoint with the in-process decision, decisions per second
//! through `POST /v2/Organizations/PermissionChecks` (batches of 1,000) and per CPU second of
//! the server, single-check requests per second and their latency at half that load, the cost
//! of an assignment change (create, check, delete, check) at 500 and at all the assignments,
//! the server's memory, the same on a second server with its decision index off
//! (`--store-url`), and Cedar's `is_authorized` on the same requests.
//! One JSON object on stdout (see bench/run --checks).

use std::collections::HashMap;
use std::time::Instant;

use orgiam_cedar::{Ask, CedarOrg, Org, Orgiam, Shape, generate, permissions};
use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::Assignment;
use rand::SeedableRng;
use serde_json::json;

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orgiam-cedar: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn setup(args: &[String]) -> Result<(Org, Vec<Ask>), String> {
    let seed: u64 = flag(args, "--seed")
        .map_or(Ok(7), str::parse)
        .map_err(|e| format!("--seed: {e}"))?;
    let n: usize = flag(args, "--requests")
        .map_or(Ok(20_000), str::parse)
        .map_err(|e| format!("--requests: {e}"))?;
    let catalog = Catalog::builtin()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let org = generate(&mut rng, Shape::large(), &catalog);
    let asks = org.asks(&mut rng, n, &permissions(&catalog));
    Ok((org, asks))
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("bench") => bench(args),
        Some("http") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(http::run(args)),
        _ => Err(USAGE.into()),
    }
}

const USAGE: &str = "usage:
  orgiam-cedar bench [--seed N] [--requests N]
  orgiam-cedar http --database-url URL --url BASE --org OR --client-id OQ --client-secret S
                    [--server-pid PID] [--store-url BASE --store-pid PID]
                    [--seed N] [--requests N] [--connections C] [--duration S]";

mod http;

fn per_second(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

fn bench(args: &[String]) -> Result<(), String> {
    let (org, asks) = setup(args)?;
    let ours = Orgiam::new(&org);
    let started = Instant::now();
    let cedar = CedarOrg::new(&org)?;
    let cedar_build = started.elapsed().as_secs_f64();
    let requests = asks
        .iter()
        .map(|a| cedar.request(a))
        .collect::<Result<Vec<_>, _>>()?;

    // orgiam: every request, repeated until at least a second has passed.
    let mut ours_answers = Vec::with_capacity(asks.len());
    let t = Instant::now();
    let mut ours_n = 0usize;
    while t.elapsed().as_secs_f64() < 1.0 || ours_n == 0 {
        ours_answers.clear();
        for a in &asks {
            ours_answers.push(ours.decide(a));
        }
        ours_n += asks.len();
    }
    let ours_rate = per_second(ours_n, t.elapsed().as_secs_f64());

    // Cedar over the whole policy set: a sample (it is slow), the same requests.
    let sample = asks.len().min(200);
    let t = Instant::now();
    let mut cedar_answers = Vec::with_capacity(sample);
    for r in &requests[..sample] {
        cedar_answers.push(cedar.is_authorized(r));
    }
    let cedar_rate = per_second(sample, t.elapsed().as_secs_f64());

    // Cedar over the asking user's policies only (same entities).
    let mut by_user: HashMap<String, Vec<Assignment>> = HashMap::new();
    for a in &org.assignments {
        by_user
            .entry(a.identity.to_string())
            .or_default()
            .push(a.clone());
    }
    let mut sliced: HashMap<String, cedar_policy::PolicySet> = HashMap::new();
    for a in &asks {
        let u = a.user.to_string();
        if let std::collections::hash_map::Entry::Vacant(slot) = sliced.entry(u) {
            let text =
                CedarOrg::policy_text(&org, by_user.get(slot.key()).map_or(&[][..], Vec::as_slice));
            let set = std::str::FromStr::from_str(&text).map_err(|e| format!("{e:?}"))?;
            slot.insert(set);
        }
    }
    let sliced_sets: Vec<&cedar_policy::PolicySet> = asks
        .iter()
        .map(|a| sliced.get(a.user.as_str()).ok_or("a sliced policy set"))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    let mut sliced_answers = Vec::with_capacity(asks.len());
    for (set, r) in sliced_sets.iter().zip(&requests) {
        sliced_answers.push(cedar.is_authorized_in(set, r));
    }
    let sliced_rate = per_second(asks.len(), t.elapsed().as_secs_f64());

    let disagree = ours_answers[..sample]
        .iter()
        .zip(&cedar_answers)
        .filter(|(a, b)| a != b)
        .count()
        + ours_answers
            .iter()
            .zip(&sliced_answers)
            .filter(|(a, b)| a != b)
            .count();
    let allowed = ours_answers.iter().filter(|a| **a).count();
    let out = json!({
        "users": org.users.len(),
        "assignments": org.assignments.len(),
        "roles": org.roles.len(),
        "accounts": org.accounts.len(),
        "requests": asks.len(),
        "allowed": allowed,
        "orgiam_decisions_per_s": ours_rate.round(),
        "cedar_whole_set_decisions_per_s": cedar_rate.round(),
        "cedar_per_user_decisions_per_s": sliced_rate.round(),
        "cedar_policy_set_build_s": (cedar_build * 1000.0).round() / 1000.0,
        "ratio_to_cedar_whole_set": (ours_rate / cedar_rate * 10.0).round() / 10.0,
        "ratio_to_cedar_per_user": (ours_rate / sliced_rate * 10.0).round() / 10.0,
        "disagreements": disagree,
    });
    println!("{out}");
    if disagree > 0 {
        return Err(format!("{disagree} decisions differ"));
    }
    Ok(())
}
