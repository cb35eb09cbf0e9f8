//! What PostgreSQL's trigram index is asked for a search: which trigrams, and whether the
//! organization is one of the index's keys, chosen from PostgreSQL's statistics of the roles.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgiam_domain::sid::OrgSid;

use crate::rows::{covering_trigrams, spread};

/// How the trigram index is asked for an organization's candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// The organization and the trigrams, all keys of the index (it leads with the
    /// organization, `btree_gin`): no other organization's names are visited.
    Organization,
    /// The trigrams alone, the organization checked on each candidate's row
    /// (`(org_sid || '')`, which no index serves). For an organization holding at least half
    /// of all roles: its key would have the scan walk its entry, one per role, while the
    /// other organizations' names add fewer candidates than its own.
    Names,
}

/// What the trigram index is asked for a search.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Probe {
    pub(super) scope: Scope,
    pub(super) trigrams: Vec<String>,
}

/// At most this many of a search's covering trigrams are asked of the trigram index when
/// their sizes are unknown, spread over the search: each adds a scan of its entries to the
/// bitmap scan (1M roles, `Ivory Writer 0000777`: all seven 2.7 ms, four spread 1.4 ms).
const SPREAD_TERMS: usize = 4;

/// This many of the rarest covering trigrams are asked when PostgreSQL's statistics tell
/// their sizes (1M roles, `Ivory Writer 0000777`, by the trigrams alone: four spread 2.0 ms,
/// the three rarest 1.0-1.1 ms, the two rarest 1.0-1.2 ms with 130 rows to check).
const RAREST_TERMS: usize = 3;

/// How long PostgreSQL's statistics of the roles are trusted before they are read again.
const STATS_TTL: Duration = Duration::from_secs(60);

/// What PostgreSQL's statistics (refreshed by `ANALYZE`, which autovacuum and every import
/// run) say about the roles: the organizations holding at least half of them (the most
/// common values of `roles.org_sid`), and the most common trigrams of their names with the
/// share of names holding each (the most common elements of `show_trgm(name_key)`, kept by
/// the extended statistics `roles_name_trigrams`). A trigram missing from that list is rarer
/// than any in it.
const STATS: &str = "SELECT ARRAY(SELECT org FROM (SELECT unnest(most_common_vals::text::text[]) \
     AS org, unnest(most_common_freqs) AS freq FROM pg_stats WHERE schemaname = current_schema() \
     AND tablename = 'roles' AND attname = 'org_sid') AS common WHERE freq >= 0.5), \
     (SELECT most_common_elems::text::text[] FROM pg_stats_ext_exprs \
     WHERE statistics_schemaname = current_schema() AND statistics_name = 'roles_name_trigrams' \
     LIMIT 1), \
     (SELECT most_common_elem_freqs FROM pg_stats_ext_exprs \
     WHERE statistics_schemaname = current_schema() AND statistics_name = 'roles_name_trigrams' \
     LIMIT 1)";

/// The roles' statistics as last read (see [`STATS`]).
#[derive(Default)]
struct Stats {
    majority: HashSet<String>,
    trigrams: HashMap<String, f32>,
}

impl Stats {
    /// The probe for `org`'s search `s`: the rarest covering trigrams by the names alone for
    /// an organization holding most roles, when the trigrams' sizes are known; else up to
    /// [`SPREAD_TERMS`] covering trigrams, spread, with the organization as a key.
    fn probe(&self, org: &OrgSid, s: &str) -> Probe {
        let covering = covering_trigrams(s);
        if self.majority.contains(org.as_str()) && !self.trigrams.is_empty() {
            // A trigram pg_trgm indexes is the statistics' if it is common, else rare; one it
            // does not (a space or punctuation inside) cannot narrow the scan.
            let mut sized: Vec<(f32, &String)> = covering
                .iter()
                .filter_map(|t| match self.trigrams.get(&t.to_lowercase()) {
                    Some(share) => Some((*share, t)),
                    None if t.chars().all(char::is_alphanumeric) => Some((0.0, t)),
                    None => None,
                })
                .collect();
            if !sized.is_empty() {
                sized.sort_by(|a, b| a.0.total_cmp(&b.0));
                return Probe {
                    scope: Scope::Names,
                    trigrams: sized
                        .into_iter()
                        .take(RAREST_TERMS)
                        .map(|(_, t)| t.clone())
                        .collect(),
                };
            }
        }
        Probe {
            scope: Scope::Organization,
            trigrams: spread(covering, SPREAD_TERMS),
        }
    }
}

/// The roles' statistics, and when they were read.
#[derive(Default)]
pub(super) struct SearchStats(Mutex<Option<(Instant, Arc<Stats>)>>);

impl super::PgStore {
    /// The probe for `org`'s search `s` (see [`Stats::probe`]). The statistics only steer
    /// the plan: when they cannot be read, the organization is a key of the lookup.
    pub(super) async fn search_probe(&self, org: &OrgSid, s: &str) -> Probe {
        let cached = self
            .stats
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((at, stats)) = cached
            && at.elapsed() < STATS_TTL
        {
            return stats.probe(org, s);
        }
        type Row = (Vec<String>, Option<Vec<String>>, Option<Vec<f32>>);
        let stats = match sqlx::query_as::<_, Row>(STATS).fetch_one(&self.pool).await {
            Ok((majority, elems, shares)) => Stats {
                majority: majority.into_iter().collect(),
                // The shares run three longer than the elements (their minimum, maximum and
                // the share of NULLs); `zip` stops at the elements.
                trigrams: elems
                    .unwrap_or_default()
                    .into_iter()
                    .zip(shares.unwrap_or_default())
                    .collect(),
            },
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the roles' statistics");
                Stats::default()
            }
        };
        let stats = Arc::new(stats);
        *self.stats.0.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), stats.clone()));
        stats.probe(org, s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::postgres::PgStore;
    use crate::postgres::search::candidates;
    use orgiam_testkit::PgDatabase;

    /// An organization holding most roles is searched by its rarest trigrams alone (as
    /// PostgreSQL's statistics tell them), and its candidates are still its own; a small one
    /// keeps the organization as a key and a spread of the trigrams.
    #[tokio::test]
    async fn an_organization_holding_most_roles_is_searched_by_its_rarest_trigrams() {
        let Some(db) = PgDatabase::scratch(false).await else {
            return;
        };
        let url = crate::DatabaseUrl::new(db.url().to_owned());
        let store = PgStore::open(&url, crate::OpenMode::Create, &Default::default())
            .await
            .unwrap();
        // Roles 1 to 3,000 are one organization's, 3,001 to 4,000 another's. Every name has
        // `writer`; one in two `alpha`, one in ten `kqx`, one in a hundred `zzv`.
        sqlx::raw_sql(
            "INSERT INTO orgs VALUES ('OR' || md5('big'), 'big', 0), ('OR' || md5('small'), 'small', 0);
             INSERT INTO roles (sid, org_sid, name_key, friendly_name, external_description,
                 product_group, product_group_name, lowest_level, policy, date_created,
                 date_updated)
             SELECT 'IX' || md5(i::text),
                 'OR' || md5(CASE WHEN i <= 3000 THEN 'big' ELSE 'small' END),
                 name, name, '', 'custom', 'Custom', 'ORGANIZATION', '{}', 0, 0
             FROM generate_series(1, 4000) AS i,
                 LATERAL (SELECT 'writer'
                     || CASE WHEN i % 2 = 0 THEN ' alpha' ELSE '' END
                     || CASE WHEN i % 10 = 0 THEN ' kqx' ELSE '' END
                     || CASE WHEN i % 100 = 0 THEN ' zzv' ELSE '' END AS name) AS n;
             ANALYZE roles;",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let org = |name: &'static str| {
            let pool = store.pool.clone();
            async move {
                let sid: String =
                    sqlx::query_scalar("SELECT sid FROM orgs WHERE friendly_name = $1")
                        .bind(name)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                OrgSid::parse(&sid).unwrap()
            }
        };
        let (big, small) = (org("big").await, org("small").await);
        // Covered by `wri`, `ter`, ` al`, `pha`, ` kq`, `x z` (not a trigram pg_trgm keeps)
        // and `zzv`: the rarest first, none of those in every name.
        let search = "writer alpha kqx zzv";
        let probe = store.search_probe(&big, search).await;
        assert_eq!(probe.scope, Scope::Names, "{probe:?}");
        assert_eq!(probe.trigrams.len(), RAREST_TERMS, "{probe:?}");
        assert_eq!(probe.trigrams[0], "zzv", "{probe:?}");
        for common in ["wri", "ter", "x z"] {
            assert!(!probe.trigrams.iter().any(|t| t == common), "{probe:?}");
        }
        let spread_probe = |s: &str| Probe {
            scope: Scope::Organization,
            trigrams: spread(covering_trigrams(s), SPREAD_TERMS),
        };
        assert_eq!(
            store.search_probe(&small, search).await,
            spread_probe(search)
        );

        // The same candidates either way: the 300 names of the first organization with `kqx`,
        // none of the other's 100.
        let found = |probe: Probe| {
            let pool = store.pool.clone();
            let big = big.clone();
            async move {
                let mut q = candidates(&big, "alpha kqx", &probe);
                let mut sids: Vec<String> = q.build_query_scalar().fetch_all(&pool).await.unwrap();
                sids.sort();
                sids
            }
        };
        let rarest = store.search_probe(&big, "alpha kqx").await;
        assert_eq!(rarest.scope, Scope::Names, "{rarest:?}");
        let by_names = found(rarest).await;
        assert_eq!(by_names.len(), 300);
        assert_eq!(by_names, found(spread_probe("alpha kqx")).await);
    }
}
