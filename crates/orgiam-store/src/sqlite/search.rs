//! SQLite's role listing: a rare search's few matches through the FTS5 trigram table
//! (`roles_search`), otherwise a merge of two name-ordered walks (built-in roles and the
//! organization's) that stops at the page's limit.

use orgiam_domain::Result;
use orgiam_domain::model::RoleFilter;
use orgiam_domain::page::Cursor;
use orgiam_domain::sid::OrgSid;

use crate::keyset::{push_name_keyset, push_name_order};
use crate::roles::{
    Decoder, NameTest, RolePage, TYPED_ARMS_MAX_TYPES, page, push_arms, push_name_search,
    push_owner_rows,
};
use crate::rows::{RARE_MATCHES, TRIGRAM, covering_trigrams, json, sid_prefix_range};
use crate::sql::{Sql, Stmt};

use super::reader::read_error;

type Builder<'a> = Stmt<'a>;

/// The search condition on `roles` by walking names: the name contains the search, or the
/// SID is in its range. `instr`, not `LIKE`: SQLite compiles a statement again whenever a
/// `LIKE` pattern's parameter is bound anew (the pattern might allow an index range), which
/// was a tenth of every search's cost; both sides are lower-cased, so the two agree.
fn push_search_scan(q: &mut Builder<'_>, search: &str) {
    const TEST: NameTest = NameTest {
        before: "instr(name_key, ",
        param: str::to_owned,
        after: ") > 0",
    };
    push_name_search(q, &TEST, search);
}

/// The product-group and resource-type filters and the keyset position.
fn push_role_conditions<'a>(
    q: &mut Builder<'a>,
    filter: &'a RoleFilter,
    cursor: Option<&'a Cursor>,
) {
    if let Some(group) = &filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    if let Some(types) = &filter.resource_types {
        // A primary-key probe of the resource-type index per type asked for.
        q.push(
            " AND EXISTS (SELECT 1 FROM role_resource_types WHERE rt_org = coalesce(roles.org_sid, '') \
             AND rt_name_key = roles.name_key AND rt_sid = roles.sid AND rt_type IN (",
        );
        for (i, t) in types.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_bind(t.as_str());
        }
        q.push("))");
    }
    push_name_keyset(q, cursor, "name_key", "sid");
}

/// One arm of the name-ordered listing: the rows of one owner (built-in or the organization),
/// unordered: the compound's ORDER BY and LIMIT apply to both arms, which SQLite runs as a merge
/// of two walks of `roles_in_order` that stops at the limit (no temporary B-tree; wrapping each
/// arm in its own ordered, limited subquery sorted each arm again: 345 -> 145 us per query).
fn push_role_arm<'a>(q: &mut Builder<'a>, p: &RolePage<'a>, owner: Option<&'a str>) {
    let search = p.filter.search.as_deref();
    push_owner_rows(q, p.columns, owner, search, push_search_scan);
    push_role_conditions(q, p.filter, p.cursor);
}

/// One arm of a listing filtered by resource type: the rows of one owner (`''` for built-in
/// roles) that have resource type `rtype`, walked in name order through the resource-type
/// index, so a type no role has costs one probe, and a page stops at its limit. The arm's
/// `name_key` and `sid` come from the index, so the compound's ORDER BY needs no sort. Each
/// entry finds its role through `roles_in_order` (owner, name, SID), not the SID's own index:
/// walked in name order, those probes read the same few index pages one after another, where
/// random SIDs scatter them over the whole index (the mixed benchmark's resource-type pages:
/// 49 -> 21 reads of the file a request). (More types than `TYPED_ARMS_MAX_TYPES` are checked
/// row by row, with an index probe each.)
fn push_typed_arm<'a>(q: &mut Builder<'a>, p: &RolePage<'a>, owner: &'a str, rtype: &'a str) {
    q.push(format!(
        "SELECT rt_sid AS sid, {}, rt_name_key AS name_key \
         FROM role_resource_types CROSS JOIN roles INDEXED BY roles_in_order \
         ON roles.org_sid {} AND roles.name_key = rt_name_key AND roles.sid = rt_sid \
         WHERE rt_org = ",
        p.columns_after_sid(),
        if owner.is_empty() {
            "IS NULL"
        } else {
            "= rt_org"
        },
    ));
    q.push_bind(owner).push(" AND rt_type = ").push_bind(rtype);
    if let Some(search) = &p.filter.search {
        push_search_scan(q, search);
    }
    if let Some(group) = &p.filter.product_group {
        q.push(" AND product_group = ").push_bind(group.as_str());
    }
    push_name_keyset(q, p.cursor, "rt_name_key", "rt_sid");
}

/// Terms of the first FTS5 probe: the two rarest trigrams covering the search.
const FIRST_TERMS: usize = 2;
/// Terms of the second probe, asked only when the first finds too many candidates.
const MORE_TERMS: usize = 4;

/// How many leaf pages of the FTS5 index hold each of `keys`' entries (`'0'` and a
/// lower-cased trigram: the keys of FTS5's main index), from the index's own table of leaf
/// pages (`roles_search_idx`: per segment, where each leaf page's first term begins, the page
/// number shifted left by one), a few seeks a key
/// and segment: from the page where the nearest term at or before the key begins to the page
/// where the next one begins, or past the segment's last leaf (leaf pages are the rows of
/// `roles_search_data` numbered `segment << 37 | page`). An estimate: a term that begins no page
/// counts from the nearest one that does. This is FTS5's on-disk format (stable since SQLite
/// 3.9); the unit test `rare_trigrams_are_told_from_common_ones` fails if it ever changes.
const LEAF_PAGES: &str = "WITH RECURSIVE seg(id) AS (SELECT min(segid) FROM roles_search_idx \
     UNION ALL SELECT (SELECT min(segid) FROM roles_search_idx WHERE segid > seg.id) FROM seg \
     WHERE seg.id IS NOT NULL), \
     term(i, k) AS (SELECT key, CAST(value AS BLOB) FROM json_each(?1)) \
     SELECT i, coalesce(sum(\
     coalesce((SELECT pgno >> 1 FROM roles_search_idx x WHERE x.segid = seg.id AND x.term > term.k ORDER BY x.term LIMIT 1), \
       (SELECT max(id) FROM roles_search_data WHERE id BETWEEN seg.id * 137438953472 \
          AND seg.id * 137438953472 + 2147483647) - seg.id * 137438953472 + 1) \
     - (SELECT pgno >> 1 FROM roles_search_idx x WHERE x.segid = seg.id AND x.term <= term.k ORDER BY x.term DESC LIMIT 1)\
     ), 0) FROM term, seg WHERE seg.id IS NOT NULL GROUP BY i";

/// `trigrams` reordered rarest first, by [`LEAF_PAGES`] (ties keep their order). FTS5
/// intersects an AND of terms by seeking each through the others' matches, so its cost
/// follows the terms' sizes: 1M roles, `Ivory Writer 0000777`, four trigrams spread over the
/// search 0.65 ms, its two rarest 0.15 ms. If the estimate cannot be read, the order stays.
fn rarest_first(conn: &rusqlite::Connection, trigrams: Vec<String>) -> Vec<String> {
    let keys: Vec<String> = trigrams
        .iter()
        .map(|t| format!("0{}", t.to_lowercase()))
        .collect();
    let Ok(keys) = json(&keys) else {
        return trigrams;
    };
    let sizes = |conn: &rusqlite::Connection| -> rusqlite::Result<Vec<i64>> {
        let mut sizes = vec![0; trigrams.len()];
        let mut st = conn.prepare_cached(LEAF_PAGES)?;
        let mut rows = st.query([keys])?;
        while let Some(r) = rows.next()? {
            if let Some(size) = sizes.get_mut(r.get::<_, usize>(0)?) {
                *size = r.get(1)?;
            }
        }
        Ok(sizes)
    };
    match sizes(conn) {
        Ok(sizes) => {
            let mut sized: Vec<(i64, String)> = sizes.into_iter().zip(trigrams).collect();
            sized.sort_by_key(|(n, _)| *n);
            sized.into_iter().map(|(_, t)| t).collect()
        }
        Err(e) => {
            tracing::debug!(error = %e, "no trigram sizes from the FTS5 index");
            trigrams
        }
    }
}

/// An FTS5 query for rows whose names contain every one of `terms` (trigrams; trigram
/// tokenizer).
fn fts_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The rowids of the roles whose names may contain the search `s` (at least `TRIGRAM`
/// characters), at most `RARE_MATCHES + 1` of them.
///
/// Candidates: names containing every one of `terms`, trigrams covering the search (an AND
/// of a few trigrams skips through the index faster than a phrase of all of them, and needs
/// no positions; names that hold a search's two rarest trigrams but not the search are few).
/// LIKE keeps the matches among them (in the listing). Only the built-ins' and the caller's
/// ranges of the index's keys are read (keys are `organization number * 2^40 + rowid`,
/// built-ins number 0; see migration 0005), and a role-SID prefix is looked up in the
/// caller's SID range: no other organization's roles are visited.
pub(super) fn candidates<'a>(org: &'a OrgSid, s: &str, terms: &[String]) -> Builder<'a> {
    let mut probe = Builder::new(
        "SELECT rid FROM (SELECT rowid - (rowid / 1099511627776) * 1099511627776 AS rid \
             FROM roles_search WHERE roles_search MATCH ",
    );
    let terms = fts_query(terms);
    probe
        .push_bind(terms.clone())
        .push(" AND rowid BETWEEN 0 AND 1099511627775")
        .push(
            " UNION ALL SELECT rowid - (rowid / 1099511627776) * 1099511627776 \
              FROM roles_search WHERE roles_search MATCH ",
        )
        .push_bind(terms)
        .push(" AND rowid BETWEEN ")
        .push("(SELECT num * 1099511627776 FROM org_numbers WHERE org_sid = ")
        .push_bind(org.as_str())
        .push(") AND (SELECT num * 1099511627776 + 1099511627775 FROM org_numbers WHERE org_sid = ")
        .push_bind(org.as_str())
        .push(")");
    if let Some((low, high)) = sid_prefix_range(s) {
        probe
            .push(" UNION ALL SELECT rowid FROM roles WHERE org_sid IS NULL AND sid >= ")
            .push_bind(low.clone())
            .push(" AND sid < ")
            .push_bind(high.clone())
            .push(" UNION ALL SELECT rowid FROM roles WHERE org_sid = ")
            .push_bind(org.as_str())
            .push(" AND sid >= ")
            .push_bind(low)
            .push(" AND sid < ")
            .push_bind(high);
    }
    probe.push(") LIMIT ").push_bind(RARE_MATCHES + 1);
    probe
}

/// The candidates of [`candidates`], read.
fn probe(conn: &rusqlite::Connection, org: &OrgSid, s: &str, terms: &[String]) -> Result<Vec<i64>> {
    let probe = candidates(org, s, terms);
    let mut st = conn.prepare_cached(probe.sql()).map_err(read_error)?;
    st.query_map(probe.params(), |row| row.get::<_, i64>(0))
        .map_err(read_error)?
        .collect::<rusqlite::Result<Vec<i64>>>()
        .map_err(read_error)
}

/// The page among a rare search's candidates (rowids): CROSS JOIN keeps SQLite driving from
/// the few matches (rowid lookups) rather than walking the organization's rows in name order;
/// LIKE keeps the candidates that match.
pub(super) fn rare_roles<'a>(
    p: &RolePage<'a>,
    s: &str,
    ids: Vec<i64>,
) -> Result<(Builder<'a>, bool)> {
    let mut q = Builder::new(format!(
        "SELECT {}, name_key FROM (SELECT DISTINCT value AS rid FROM json_each(",
        p.columns
    ));
    q.push_bind(json(&ids)?).push(")");
    q.push(") AS m CROSS JOIN roles ON roles.rowid = m.rid WHERE (org_sid IS NULL OR org_sid = ")
        .push_bind(p.org.as_str())
        .push(")");
    push_search_scan(&mut q, s);
    push_role_conditions(&mut q, p.filter, p.cursor);
    let desc = push_name_order(&mut q, p.cursor, "name_key", "sid", p.limit);
    Ok((q, desc))
}

/// The page by walking names: one compound statement whose ORDER BY and LIMIT apply to all
/// its arms (see [`push_role_arm`] and [`push_typed_arm`]).
pub(super) fn walk_roles<'a>(p: &RolePage<'a>) -> (Builder<'a>, bool) {
    let mut q = Builder::new("");
    let fetch = push_arms(&mut q, p, push_typed_arm, push_role_arm);
    let desc = push_name_order(&mut q, p.cursor, "name_key", "sid", fetch);
    (q, desc)
}

impl super::SqliteStore {
    /// A page of `p`'s rows, decoded as they are stepped (with what the decoder wrote in the
    /// buffer), on the calling thread (see
    /// [`super::reader`]). A rare search (at most [`RARE_MATCHES`] candidates from the FTS5
    /// trigram index, asked once) is answered from its candidates, sorted; any other listing
    /// walks each owner's rows in name order until the page is full.
    pub(super) async fn list_role_rows<T>(
        &self,
        p: &RolePage<'_>,
        decoder: &Decoder<T>,
    ) -> Result<(Vec<T>, Vec<u8>)> {
        // The page's statement, run and decoded (in a page cache with room for it).
        let finish = |conn: &rusqlite::Connection, (q, desc): (Builder<'_>, bool)| {
            super::reader::room_for(conn, p.limit)?;
            let mut buf = Vec::new();
            let decoded = super::reader::rows_of(conn, &q, |r| (decoder.decode)(r, &mut buf))?;
            Ok((
                page(decoded, p.limit, desc, |a, b| (decoder.same)(a, b, &buf)),
                buf,
            ))
        };
        let many_types = p
            .filter
            .resource_types
            .as_ref()
            .is_some_and(|t| t.len() > TYPED_ARMS_MAX_TYPES);
        if many_types {
            return self.readers.read_long(|conn| finish(conn, walk_roles(p)));
        }
        let Some(search) = p.filter.search.as_deref() else {
            return self.readers.read(|conn| finish(conn, walk_roles(p)));
        };
        // An organization of few roles is searched by walking its names, a bounded walk on the
        // calling thread: cheaper than FTS5's probe, which opens an iterator on every segment
        // of the index, and than handing the worker's other tasks to another thread.
        let walked = self.readers.read(|conn| {
            if !self.small_orgs.holds(conn, p.org)? {
                return Ok(None);
            }
            finish(conn, walk_roles(p)).map(Some)
        })?;
        if let Some(found) = walked {
            return Ok(found);
        }
        self.readers.read_long(|conn| {
            let rare = if search.chars().count() >= TRIGRAM {
                let mut terms = covering_trigrams(search);
                if terms.len() > FIRST_TERMS {
                    terms = rarest_first(conn, terms);
                }
                let mut found = probe(conn, p.org, search, &terms[..terms.len().min(FIRST_TERMS)])?;
                if found.len() as i64 > RARE_MATCHES && terms.len() > FIRST_TERMS {
                    found = probe(conn, p.org, search, &terms[..terms.len().min(MORE_TERMS)])?;
                }
                (found.len() as i64 <= RARE_MATCHES).then_some(found)
            } else {
                None
            };
            match rare {
                Some(found) => finish(conn, rare_roles(p, search, found)?),
                None => finish(conn, walk_roles(p)),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// FTS5's table of leaf pages tells a trigram in every name from one in a few, on a
    /// contentless trigram table shaped like `roles_search`, in one segment and in several.
    #[test]
    fn rare_trigrams_are_told_from_common_ones() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE roles_search USING fts5(name_key, content = '', tokenize = 'trigram')",
        )
        .unwrap();
        // `wri` and `zzz` are in every name (`zzz` sorts after every other term: its pages
        // run to the end of the segment); `kqx` is in one name in 5,000, among the many other
        // trigrams of pseudo-random words.
        let insert = |from: i64, to: i64| {
            for i in from..to {
                let mut h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let word: String = (0..8)
                    .map(|_| {
                        h = h.rotate_left(5).wrapping_mul(0x2545_F491_4F6C_DD1D);
                        char::from(b'a' + (h % 26) as u8)
                    })
                    .collect();
                let rare = if i % 5000 == 7 { " kqx" } else { "" };
                conn.execute(
                    "INSERT INTO roles_search (rowid, name_key) VALUES (?1, ?2)",
                    rusqlite::params![i, format!("writer {word}{rare} {i:07} zzz")],
                )
                .unwrap();
            }
        };
        insert(0, 20_000);
        conn.execute_batch("INSERT INTO roles_search (roles_search) VALUES ('optimize')")
            .unwrap();
        let terms = rarest_first(&conn, ["zzz", "Wri", "KQX"].map(String::from).to_vec());
        assert_eq!(terms[0], "KQX", "{terms:?}");
        // Rows written after the optimize land in segments of their own.
        insert(20_000, 30_000);
        let terms = rarest_first(&conn, ["zzz", "ter", "kqx"].map(String::from).to_vec());
        assert_eq!(terms[0], "kqx", "{terms:?}");
        // Without the table, the order stays.
        let bare = rusqlite::Connection::open_in_memory().unwrap();
        let terms = rarest_first(&bare, ["ter", "kqx"].map(String::from).to_vec());
        assert_eq!(terms, ["ter", "kqx"]);
    }
}
