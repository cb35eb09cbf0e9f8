//! PostgreSQL's role listing: a rare search's few matches through the trigram GIN indexes,
//! otherwise one name-ordered, limited walk per owner (built-in roles and the organization's,
//! or per owner and resource type), merged.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Postgres, QueryBuilder, Row};

use orgiam_domain::Result;
use orgiam_domain::model::RoleFilter;
use orgiam_domain::page::Cursor;
use orgiam_domain::sid::OrgSid;

use crate::db_error;
use crate::keyset::{push_name_keyset, push_name_order};
use crate::roles::{
    Decoder, NameTest, RolePage, like_pattern, page, push_arms, push_name_search, push_owner_rows,
};
use crate::rows::{
    RARE_MATCHES, TRIGRAM, covering_trigrams, like_escape, sid_prefix_range, spread,
};

/// The search condition by walking names: a case-insensitive substring of the name (LIKE
/// metacharacters escaped, written `E'\\'` whatever `standard_conforming_strings` says), or
/// the SID range.
///
/// `(name_key || '')` rather than `name_key`: this runs for short and common searches, for
/// which the trigram index is always the wrong plan, yet a generic plan (PostgreSQL switches
/// to one after five executions of a prepared statement) cannot see the pattern and picked it:
/// a two-letter search walked the whole index, 1,000,000 rows (0.5-0.7 s at 1M roles).
fn push_search_scan(q: &mut QueryBuilder<'_, Postgres>, search: &str) {
    const TEST: NameTest = NameTest {
        before: "(name_key || '') ILIKE ",
        param: like_pattern,
        after: " ESCAPE E'\\\\'",
    };
    push_name_search(q, &TEST, search);
}

/// The product-group and resource-type filters.
fn push_role_filters<'a>(q: &mut QueryBuilder<'a, Postgres>, filter: &'a RoleFilter) {
    if let Some(group) = &filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    if let Some(types) = &filter.resource_types {
        // Any of them; a NULL `resource_types` never matches.
        q.push(" AND resource_types ?| ")
            .push_bind(types.clone())
            .push("::text[]");
    }
}

/// The keyset position and the order; whether the order is descending.
fn push_role_page<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    cursor: Option<&'a Cursor>,
    limit: i64,
) -> bool {
    push_name_keyset(q, cursor, "name_key", "sid");
    push_name_order(q, cursor, "name_key", "sid", limit)
}

/// One arm of the name-ordered listing: the rows of one owner (built-in or the organization),
/// ordered and limited on its own.
fn push_role_arm<'a>(q: &mut QueryBuilder<'a, Postgres>, p: &RolePage<'a>, owner: Option<&'a str>) {
    q.push("(");
    let search = p.filter.search.as_deref();
    push_owner_rows(q, p.columns, owner, search, push_search_scan);
    push_role_filters(q, p.filter);
    push_role_page(q, p.cursor, p.limit);
    q.push(")");
}

/// One arm of a listing filtered by resource type: the rows of one owner (`''` for built-in
/// roles) that have resource type `rtype`, walked in name order through the resource-type
/// index, so a type no role has costs one probe and a page stops at its limit. (More types
/// than `TYPED_ARMS_MAX_TYPES` are tested row by row, `?|`, on the name-ordered walk.)
fn push_typed_arm<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    p: &RolePage<'a>,
    owner: &'a str,
    rtype: &'a str,
) {
    let filter = p.filter;
    q.push(format!(
        "(SELECT roles.sid, {}, rt_name_key AS name_key \
         FROM role_resource_types JOIN roles ON roles.sid = rt_sid WHERE rt_org = ",
        p.columns_after_sid()
    ));
    q.push_bind(owner).push(" AND rt_type = ").push_bind(rtype);
    if let Some(search) = &filter.search {
        q.push(" AND ((roles.name_key || '') ILIKE ")
            .push_bind(format!("%{}%", like_escape(search)))
            .push(" ESCAPE E'\\\\'");
        if let Some((low, high)) = sid_prefix_range(search) {
            q.push(" OR (roles.sid >= ")
                .push_bind(low)
                .push(" AND roles.sid < ")
                .push_bind(high)
                .push(")");
        }
        q.push(")");
    }
    if let Some(group) = &filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    push_name_keyset(q, p.cursor, "rt_name_key", "rt_sid");
    push_name_order(q, p.cursor, "rt_name_key", "rt_sid", p.limit);
    q.push(")");
}

/// The page among a rare search's candidates (SIDs), each checked. Its SID range is on
/// `(sid || '')`, which no index serves: the plan must start from the candidates, never from
/// every organization's SID range.
pub(super) fn rare_roles<'a>(
    p: &RolePage<'a>,
    search: &str,
    sids: Vec<String>,
) -> Result<(QueryBuilder<'a, Postgres>, bool)> {
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "SELECT {}, name_key FROM roles WHERE (org_sid IS NULL OR org_sid = ",
        p.columns
    ));
    q.push_bind(p.org.as_str())
        .push(") AND sid = ANY(")
        .push_bind(sids)
        .push(")");
    q.push(" AND ((name_key || '') ILIKE ")
        .push_bind(format!("%{}%", like_escape(search)))
        .push(" ESCAPE E'\\\\'");
    if let Some((low, high)) = sid_prefix_range(search) {
        q.push(" OR ((sid || '') COLLATE \"C\" >= ")
            .push_bind(low)
            .push(" AND (sid || '') COLLATE \"C\" < ")
            .push_bind(high)
            .push(")");
    }
    q.push(")");
    push_role_filters(&mut q, p.filter);
    let desc = push_role_page(&mut q, p.cursor, p.limit);
    Ok((q, desc))
}

/// The page by walking names: each arm ordered and limited on its own (see
/// [`push_role_arm`] and [`push_typed_arm`]), then merged, ordered and limited again.
pub(super) fn walk_roles<'a>(p: &RolePage<'a>) -> (QueryBuilder<'a, Postgres>, bool) {
    let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM (");
    let fetch = push_arms(&mut q, p, push_typed_arm, push_role_arm);
    q.push(") AS visible");
    let desc = push_name_order(&mut q, p.cursor, "name_key", "sid", fetch);
    (q, desc)
}

/// The SIDs of the roles whose names may contain the search `s` (at least `TRIGRAM`
/// characters), at most `RARE_MATCHES + 1` of them: names that contain the probe's trigrams
/// (see [`Probe`]; the probe itself is a bitmap scan of the trigram index), and SIDs it begins.
///
/// Each arm is scoped to one owner: the caller's, the built-ins' through roles_in_order; and
/// a role-SID prefix is looked up in each owner's SID range. Only an organization holding
/// most roles has its candidates looked up by their trigrams alone (see [`Scope`]).
pub(super) fn candidates<'a>(
    org: &'a OrgSid,
    s: &str,
    probe: &Probe,
) -> QueryBuilder<'a, Postgres> {
    let trigrams: Vec<String> = probe
        .trigrams
        .iter()
        .map(|t| format!("%{}%", like_escape(t)))
        .collect();
    let mut q = QueryBuilder::<Postgres>::new("SELECT sid FROM (");
    for (i, owner) in [None, Some(org.as_str())].into_iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        q.push("(SELECT sid FROM roles WHERE ");
        match (owner, probe.scope) {
            (None, _) => q.push("org_sid IS NULL"),
            (Some(o), Scope::Organization) => q.push("org_sid = ").push_bind(o),
            (Some(o), Scope::Names) => q.push("(org_sid || '') = ").push_bind(o),
        };
        // The built-ins' arm tests `(name_key || '')`, which no index serves: else a generic
        // plan may AND the organization-less trigram lookup (every organization's names)
        // with `org_sid IS NULL`.
        let column = match owner {
            None => " AND (name_key || '') ILIKE ",
            Some(_) => " AND name_key ILIKE ",
        };
        for t in &trigrams {
            q.push(column).push_bind(t.clone()).push(" ESCAPE E'\\\\'");
        }
        q.push(")");
        if let Some((low, high)) = sid_prefix_range(s) {
            q.push(" UNION ALL (SELECT sid FROM roles WHERE ");
            match owner {
                None => q.push("org_sid IS NULL"),
                Some(o) => q.push("org_sid = ").push_bind(o),
            };
            q.push(" AND sid >= ")
                .push_bind(low)
                .push(" AND sid < ")
                .push_bind(high)
                .push(")");
        }
    }
    q.push(") AS candidates LIMIT ").push_bind(RARE_MATCHES + 1);
    q
}

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

    /// The rows of a listing's statement, decoded.
    pub(super) async fn fetch_rows<T>(
        &self,
        mut q: QueryBuilder<'_, Postgres>,
        decode: fn(&dyn crate::rows::DbRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let (rows, lent) = self.listings.first(&mut q).await?;
        lent.give_back();
        rows.iter().map(|r| decode(r)).collect()
    }

    /// Hands each row of a listing's statement to `visit`.
    pub(super) async fn visit_rows(
        &self,
        mut q: QueryBuilder<'_, Postgres>,
        visit: &mut (dyn FnMut(&dyn crate::rows::DbRow) -> Result<()> + Send),
    ) -> Result<()> {
        let (rows, lent) = self.listings.first(&mut q).await?;
        lent.give_back();
        rows.iter().try_for_each(|r| visit(r))
    }

    /// A page of `p`'s rows, decoded (with what the decoder wrote in the buffer). A rare
    /// search (at most [`RARE_MATCHES`] candidates from the trigram index, asked once) is
    /// answered from its candidates, sorted; any other listing walks each owner's rows in name
    /// order until the page is full.
    pub(super) async fn list_role_rows<T>(
        &self,
        p: &RolePage<'_>,
        decoder: &Decoder<T>,
    ) -> Result<(Vec<T>, Vec<u8>)> {
        let (rare, lent) = match p.filter.search.as_deref() {
            Some(s) if s.chars().count() >= TRIGRAM => {
                let probe = self.search_probe(p.org, s).await;
                let (rows, lent) = self
                    .listings
                    .first(&mut candidates(p.org, s, &probe))
                    .await?;
                let found = rows
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(db_error)?;
                (
                    (found.len() as i64 <= RARE_MATCHES).then_some((s, found)),
                    Some(lent),
                )
            }
            _ => (None, None),
        };
        let (mut q, desc) = match rare {
            Some((search, found)) => rare_roles(p, search, found)?,
            None => walk_roles(p),
        };
        let (rows, lent) = match lent {
            Some(mut lent) => (
                q.build().fetch_all(lent.conn()).await.map_err(db_error)?,
                lent,
            ),
            None => self.listings.first(&mut q).await?,
        };
        lent.give_back();
        let mut buf = Vec::new();
        let decoded = rows
            .iter()
            .map(|r| (decoder.decode)(r, &mut buf))
            .collect::<Result<Vec<_>>>()?;
        Ok((
            page(decoded, p.limit, desc, |a, b| (decoder.same)(a, b, &buf)),
            buf,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::postgres::PgStore;
    use orgiam_testkit::{PgDatabase, pg_admin_url};

    /// An organization holding most roles is searched by its rarest trigrams alone (as
    /// PostgreSQL's statistics tell them), and its candidates are still its own; a small one
    /// keeps the organization as a key and a spread of the trigrams.
    #[tokio::test]
    async fn an_organization_holding_most_roles_is_searched_by_its_rarest_trigrams() {
        let admin = pg_admin_url();
        if admin == "off" {
            return;
        }
        let db = PgDatabase::create(&admin, false).await.unwrap();
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
