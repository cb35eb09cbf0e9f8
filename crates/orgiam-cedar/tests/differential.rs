//! orgiam and Cedar give the same decision on random organizations and requests.

use orgiam_cedar::{CedarOrg, Orgiam, Shape, generate, permissions};
use orgiam_domain::catalog::Catalog;
use rand::SeedableRng;

#[test]
fn orgiam_and_cedar_agree_on_random_organizations() {
    let catalog = Catalog::builtin().expect("catalog");
    let perms = permissions(&catalog);
    let seed: u64 = std::env::var("ORGIAM_CEDAR_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut allowed, mut denied) = (0usize, 0usize);
    for round in 0..60 {
        let org = generate(&mut rng, Shape::small(), &catalog);
        let ours = Orgiam::new(&org);
        let cedar = CedarOrg::new(&org).expect("the policy set parses");
        for ask in org.asks(&mut rng, 100, &perms) {
            let a = ours.decide(&ask);
            let b = cedar.decide(&ask).expect("a Cedar request");
            assert_eq!(
                a,
                b,
                "seed {seed}, round {round}: {ask:?}\npolicies:\n{}",
                CedarOrg::policy_text(&org, &org.assignments)
            );
            if a {
                allowed += 1;
            } else {
                denied += 1;
            }
        }
    }
    eprintln!(
        "seed {seed}: orgiam and Cedar agree on {allowed} allowed and {denied} denied requests"
    );
    assert!(
        allowed > 500 && denied > 500,
        "allowed {allowed}, denied {denied} (seed {seed})"
    );
}
