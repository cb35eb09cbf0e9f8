//! PostgreSQL's role listing: a rare search's few matches through the trigram GIN indexes,
//! otherwise one name-ordered, limited walk per owner (built-in roles and the organization's,
//! or per owner and resource type), merged.

use sqlx::{Postgres, QueryBuilder, Row};

use orgiam_domain::Result;
use orgiam_domain::model::RoleFilter;
use orgiam_domain::page::Cursor;
use orgiam_domain::sid::OrgSid;

use super::probe::{Probe, Scope};
use crate::db_error;
use crate::keyset::{push_name_keyset, push_name_order};
use crate::roles::{
    Decoder, NameTest, RolePage, like_pattern, page, push_arms, push_name_search, push_owner_rows,
};
use crate::rows::{RARE_MATCHES, TRIGRAM, like_escape, sid_prefix_range};

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

impl super::PgStore {
    /// The rows of a listing's statement, decoded.
    pub(super) async fn fetch_rows<T>(
        &self,
        mut q: QueryBuilder<'_, Postgres>,
        decode: fn(&dyn crate::rows::DbRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self.listings.rows(&mut q).await?;
        rows.iter().map(|r| decode(r)).collect()
    }

    /// Hands each row of a listing's statement to `visit`.
    pub(super) async fn visit_rows(
        &self,
        mut q: QueryBuilder<'_, Postgres>,
        visit: &mut (dyn FnMut(&dyn crate::rows::DbRow) -> Result<()> + Send),
    ) -> Result<()> {
        let rows = self.listings.rows(&mut q).await?;
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
