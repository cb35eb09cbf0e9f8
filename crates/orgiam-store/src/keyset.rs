//! Keyset paging, rendered for either engine (through sqlx's `QueryBuilder`, or [`Sql`]): the
//! position a cursor names, and the order and limit of a page.

use crate::sql::Sql;
use orgiam_domain::page::{Cursor, Direction};

/// Whether a cursor pages back (the rows then come in descending order and are reversed).
pub(crate) fn backward(cursor: Option<&Cursor>) -> bool {
    cursor.is_some_and(|c| c.direction == Direction::Previous)
}

/// Appends the keyset condition on `sid` and the order for a cursor; returns whether the
/// rows come back descending.
pub(crate) fn push_sid_keyset<'a>(
    q: &mut impl Sql<'a>,
    cursor: Option<&Cursor>,
    limit: u32,
) -> bool {
    let desc = backward(cursor);
    if let Some(c) = cursor {
        q.push(if desc { " AND sid < " } else { " AND sid > " });
        q.push_bind(c.key.first().cloned().unwrap_or_default());
    }
    q.push(if desc {
        " ORDER BY sid DESC"
    } else {
        " ORDER BY sid"
    });
    q.push(" LIMIT ").push_bind(i64::from(limit));
    desc
}

/// Appends ` AND (name, sid) > (key[0], key[1])` (`<` when paging back) for a cursor over
/// a name-ordered listing, with the two columns named as the statement has them.
pub(crate) fn push_name_keyset<'a>(
    q: &mut impl Sql<'a>,
    cursor: Option<&'a Cursor>,
    name: &str,
    sid: &str,
) {
    if let Some(c) = cursor {
        let op = if backward(cursor) { "<" } else { ">" };
        q.push(format!(" AND ({name}, {sid}) {op} ("));
        q.push_bind(c.key.first().map_or("", String::as_str));
        q.push(", ");
        q.push_bind(c.key.get(1).map_or("", String::as_str));
        q.push(")");
    }
}

/// Appends the name order (reversed when paging back) and the limit; whether the order is
/// descending.
pub(crate) fn push_name_order<'a>(
    q: &mut impl Sql<'a>,
    cursor: Option<&Cursor>,
    name: &str,
    sid: &str,
    limit: i64,
) -> bool {
    let desc = backward(cursor);
    q.push(if desc {
        format!(" ORDER BY {name} DESC, {sid} DESC")
    } else {
        format!(" ORDER BY {name}, {sid}")
    });
    q.push(" LIMIT ").push_bind(limit);
    desc
}
