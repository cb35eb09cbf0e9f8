//! Row decoding shared by both engines: the column lists select the same columns in the same
//! order on SQLite and PostgreSQL, so one decoder per record serves both.

use sqlx::Row;

use orgiam_domain::model::{Account, App, AppStatus, Assignment, AuditEvent, Level, Role};
use orgiam_domain::policy::Policy;
use orgiam_domain::rendered::{AccountColumns, AssignmentColumns, NameKeyAt, RenderedRow};
use orgiam_domain::sid::{AccountSid, AppSid, AssignmentSid, AuditSid, OrgSid, RoleSid, UserSid};
use orgiam_domain::{Error, Result};

use crate::db_error;

/// The three column types the decoders read, for each engine's row type (sqlx's here, and
/// `rusqlite`'s for SQLite's reads on the calling thread in [`crate::sqlite::reader`]).
pub(crate) trait DbRow {
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<i64>;
    /// A text column, borrowed from the row.
    fn str_at(&self, i: usize) -> Result<&str>;
    /// A nullable text column, borrowed from the row.
    fn opt_str_at(&self, i: usize) -> Result<Option<&str>>;
    /// A nullable text column's bytes, borrowed from the row.
    fn opt_bytes_at(&self, i: usize) -> Result<Option<&[u8]>> {
        Ok(self.opt_str_at(i)?.map(str::as_bytes))
    }
}

macro_rules! db_row {
    ($row:ty) => {
        impl DbRow for $row {
            fn text(&self, i: usize) -> Result<String> {
                self.try_get(i).map_err(db_error)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>> {
                self.try_get(i).map_err(db_error)
            }
            fn int(&self, i: usize) -> Result<i64> {
                self.try_get(i).map_err(db_error)
            }
            fn str_at(&self, i: usize) -> Result<&str> {
                self.try_get(i).map_err(db_error)
            }
            fn opt_str_at(&self, i: usize) -> Result<Option<&str>> {
                self.try_get(i).map_err(db_error)
            }
        }
    };
}
db_row!(sqlx::sqlite::SqliteRow);
db_row!(sqlx::postgres::PgRow);

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(Error::internal)
}

pub(crate) fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored {what} is malformed"))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The SID range a search matches as a case-insensitive SID prefix (`ix0e2` matches every
/// SID from `IX0e2` to `IX0e2~`), or `None` when the (lower-cased) search cannot begin a
/// role SID.
pub(crate) fn sid_prefix_range(search: &str) -> Option<(String, String)> {
    let shaped = !search.is_empty()
        && search.len() <= 34
        && search.char_indices().all(|(i, c)| match i {
            0 => c == 'i',
            1 => c == 'x',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    if !shaped {
        return None;
    }
    let (head, tail) = search.split_at(search.len().min(2));
    let low = format!("{}{tail}", head.to_ascii_uppercase());
    let high = format!("{low}~");
    Some((low, high))
}

/// Appends ` OR (sid >= low AND sid < high)` when `search` could begin a role SID (see
/// [`sid_prefix_range`]); both engines' search conditions end with it.
pub(crate) fn push_sid_range_or<'a>(q: &mut impl crate::sql::Sql<'a>, search: &str) {
    if let Some((low, high)) = sid_prefix_range(search) {
        q.push(" OR (sid >= ")
            .push_bind(low)
            .push(" AND sid < ")
            .push_bind(high)
            .push(")");
    }
}

/// The audit listing's statement, for either engine: `org`'s events (and, with
/// `filter.install_wide`, the install-wide ones), filtered, newest first, after (or, going back,
/// before) the cursor. Returns whether it goes back (the rows then come oldest first).
pub(crate) fn push_audit_query<'a, DB>(
    q: &mut sqlx::QueryBuilder<'a, DB>,
    org: &OrgSid,
    filter: &orgiam_domain::model::AuditFilter,
    cursor: Option<&orgiam_domain::page::Cursor>,
    limit: u32,
) -> bool
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE (org_sid = "
    ));
    q.push_bind(org.as_str().to_owned());
    q.push(if filter.install_wide {
        " OR org_sid IS NULL)"
    } else {
        ")"
    });
    for (column, value) in [
        ("action", &filter.action),
        ("actor", &filter.actor),
        ("target", &filter.target),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(t) = filter.since {
        q.push(" AND date_created >= ").push_bind(t);
    }
    if let Some(t) = filter.until {
        q.push(" AND date_created < ").push_bind(t);
    }
    // Newest first: "after" the cursor means older (a smaller seq).
    let back = cursor.is_some_and(|c| c.direction == orgiam_domain::page::Direction::Previous);
    if let Some(c) = cursor {
        let seq: i64 = c.key.first().and_then(|k| k.parse().ok()).unwrap_or(0);
        q.push(if back { " AND seq > " } else { " AND seq < " })
            .push_bind(seq);
    }
    q.push(if back {
        " ORDER BY seq ASC"
    } else {
        " ORDER BY seq DESC"
    });
    q.push(" LIMIT ").push_bind(i64::from(limit));
    back
}

/// Searches this long or longer can use a trigram index.
pub(crate) const TRIGRAM: usize = 3;

/// Trigrams of `search` (by characters) that between them cover every character of it: every
/// third one, and the last. A name containing `search` contains all of them; few names that do
/// not contain it contain them all. Asking a trigram index for these, rather than for every
/// trigram of the search, does a third of the work for the same candidates.
pub(crate) fn covering_trigrams(search: &str) -> Vec<String> {
    let chars: Vec<char> = search.chars().collect();
    let Some(last) = chars.len().checked_sub(TRIGRAM) else {
        return Vec::new();
    };
    let mut starts: Vec<usize> = (0..=last).step_by(TRIGRAM).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    let mut out: Vec<String> = Vec::with_capacity(starts.len());
    for i in starts {
        let t: String = chars[i..i + TRIGRAM].iter().collect();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// At most `n` of `trigrams`: the first, the last, and evenly between.
pub(crate) fn spread(trigrams: Vec<String>, n: usize) -> Vec<String> {
    if trigrams.len() <= n || n < 2 {
        return trigrams;
    }
    (0..n)
        .map(|i| trigrams[i * (trigrams.len() - 1) / (n - 1)].clone())
        .collect()
}

/// A search matched by at most this many names is "rare": its matches are fetched through the
/// trigram index and sorted. More, and walking the name-ordered index finds a page sooner.
pub(crate) const RARE_MATCHES: i64 = 2000;

fn sid<T>(
    raw: String,
    parse: fn(&str) -> std::result::Result<T, orgiam_domain::sid::SidError>,
    what: &str,
) -> Result<T> {
    parse(&raw).map_err(|_| corrupt(what))
}

fn opt_json<T: serde::de::DeserializeOwned>(raw: Option<String>, what: &str) -> Result<Option<T>> {
    raw.map(|r| serde_json::from_str(&r).map_err(|_| corrupt(what)))
        .transpose()
}

/// Columns: sid, org_sid, friendly_name, external_description, product_group,
/// product_group_name, lowest_level, policy, resource_types (JSON text), date_created, date_updated.
pub(crate) fn role<R: DbRow + ?Sized>(row: &R) -> Result<Role> {
    Ok(Role {
        sid: sid(row.text(0)?, RoleSid::parse, "role sid")?,
        org: row
            .opt_text(1)?
            .map(|o| sid(o, OrgSid::parse, "role org"))
            .transpose()?,
        friendly_name: row.text(2)?,
        external_description: row.text(3)?,
        product_group: row.text(4)?,
        product_group_name: row.text(5)?,
        lowest_level: Level::parse(&row.text(6)?).ok_or_else(|| corrupt("role level"))?,
        policy: serde_json::from_str(&row.text(7)?).map_err(|_| corrupt("role policy"))?,
        resource_types: opt_json(row.opt_text(8)?, "role resource types")?,
        date_created: row.int(9)?,
        date_updated: row.int(10)?,
    })
}

/// What a role listing reads when it shows roles as stored: `sid`, the JSON rendered when the
/// role was written (`NULL` for a row an older version wrote, until it is rendered), and the
/// listings' `name_key` after them (see [`crate::roles::push_owner_rows`]).
pub(crate) const LISTED_COLUMNS: &str = "sid, rendered";

/// Columns: [`LISTED_COLUMNS`]; the role's stored JSON copied to the end of `json` (an empty
/// range: the row has none), then its `name_key` and SID (its place in the order).
pub(crate) fn listed<R: DbRow + ?Sized>(
    row: &R,
    json: &mut Vec<u8>,
) -> Result<RenderedRow<NameKeyAt>> {
    let mut copy = |bytes: &[u8]| {
        let start = json.len();
        json.extend_from_slice(bytes);
        start..json.len()
    };
    let at = copy(row.opt_bytes_at(1)?.unwrap_or_default());
    let name_key = copy(row.str_at(2)?.as_bytes());
    let sid = copy(row.str_at(0)?.as_bytes());
    Ok(RenderedRow {
        at,
        key: NameKeyAt { name_key, sid },
    })
}

pub(crate) const APP_COLUMNS: &str = "sid, org_sid, friendly_name, description, status, policy, \
    access_token_ttl, date_created, date_updated, tokens_valid_after, audiences";

/// Columns: [`APP_COLUMNS`]. Secrets are attached separately.
pub(crate) fn app<R: DbRow + ?Sized>(row: &R) -> Result<App> {
    Ok(App {
        sid: sid(row.text(0)?, AppSid::parse, "app sid")?,
        org: sid(row.text(1)?, OrgSid::parse, "app org")?,
        friendly_name: row.text(2)?,
        description: row.text(3)?,
        status: AppStatus::parse(&row.text(4)?).ok_or_else(|| corrupt("app status"))?,
        policy: serde_json::from_str::<Policy>(&row.text(5)?).map_err(|_| corrupt("app policy"))?,
        access_token_ttl: row.int(6)?,
        date_created: row.int(7)?,
        date_updated: row.int(8)?,
        tokens_valid_after: row.int(9)?,
        secrets: Vec::new(),
        audiences: serde_json::from_str(&row.text(10)?).map_err(|_| corrupt("app audiences"))?,
    })
}

pub(crate) const ACCOUNT_COLUMNS: &str =
    "sid, org_sid, parent_sid, friendly_name, status, owner_sid, date_created";

/// Columns: [`ACCOUNT_COLUMNS`], borrowed.
pub(crate) fn account_columns<R: DbRow + ?Sized>(row: &R) -> Result<AccountColumns<'_>> {
    Ok(AccountColumns {
        sid: row.str_at(0)?,
        friendly_name: row.str_at(3)?,
        status: row.str_at(4)?,
        owner: row.opt_str_at(5)?,
        date_created: row.int(6)?,
    })
}

pub(crate) fn account<R: DbRow + ?Sized>(row: &R) -> Result<Account> {
    Ok(Account {
        sid: sid(row.text(0)?, AccountSid::parse, "account sid")?,
        org: sid(row.text(1)?, OrgSid::parse, "account org")?,
        parent: row
            .opt_text(2)?
            .map(|p| sid(p, AccountSid::parse, "account parent"))
            .transpose()?,
        friendly_name: row.text(3)?,
        status: row.text(4)?,
        owner: row
            .opt_text(5)?
            .map(|o| sid(o, UserSid::parse, "account owner"))
            .transpose()?,
        date_created: row.int(6)?,
    })
}

pub(crate) const ASSIGNMENT_COLUMNS: &str =
    "sid, org_sid, role_sid, scope, identity, resource_type, resource_id, date_created";

pub(crate) fn assignment<R: DbRow + ?Sized>(row: &R) -> Result<Assignment> {
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Ok(Assignment {
        sid: sid(row.text(0)?, AssignmentSid::parse, "assignment sid")?,
        org: sid(row.text(1)?, OrgSid::parse, "assignment org")?,
        role: sid(row.text(2)?, RoleSid::parse, "assignment role")?,
        scope: row.text(3)?,
        identity: sid(row.text(4)?, UserSid::parse, "assignment identity")?,
        resource_type: non_empty(row.text(5)?),
        resource_id: non_empty(row.text(6)?),
        date_created: row.int(7)?,
    })
}

/// Columns: [`ASSIGNMENT_COLUMNS`], borrowed.
pub(crate) fn assignment_columns<R: DbRow + ?Sized>(row: &R) -> Result<AssignmentColumns<'_>> {
    Ok(AssignmentColumns {
        sid: row.str_at(0)?,
        role: row.str_at(2)?,
        scope: row.str_at(3)?,
        identity: row.str_at(4)?,
        resource_type: Some(row.str_at(5)?).filter(|s| !s.is_empty()),
        resource_id: Some(row.str_at(6)?).filter(|s| !s.is_empty()),
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "seq, sid, org_sid, date_created, actor, action, target, request_id, before, after";

/// The change feed: events after a position, oldest first (`?` placeholders).
pub(crate) const EVENTS_AFTER: &str = "SELECT seq, sid, org_sid, date_created, actor, action, \
    target, request_id, before, after FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?";

/// The newest event's position.
pub(crate) const LAST_EVENT: &str = "SELECT COALESCE(MAX(seq), 0) FROM audit_events";

/// Columns: [`EVENT_COLUMNS`]; the event with its position.
pub(crate) fn event<R: DbRow + ?Sized>(row: &R) -> Result<(i64, AuditEvent)> {
    Ok((
        row.int(0)?,
        AuditEvent {
            sid: sid(row.text(1)?, AuditSid::parse, "audit sid")?,
            org: row
                .opt_text(2)?
                .map(|o| sid(o, OrgSid::parse, "audit org"))
                .transpose()?,
            date_created: row.int(3)?,
            actor: row.text(4)?,
            action: row.text(5)?,
            target: row.text(6)?,
            request_id: row.opt_text(7)?,
            before: opt_json(row.opt_text(8)?, "audit value")?,
            after: opt_json(row.opt_text(9)?, "audit value")?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::{covering_trigrams, like_escape, sid_prefix_range, spread};

    #[test]
    fn sid_prefixes() {
        assert_eq!(
            sid_prefix_range("ix0e"),
            Some(("IX0e".into(), "IX0e~".into()))
        );
        assert_eq!(sid_prefix_range("i"), Some(("I".into(), "I~".into())));
        assert_eq!(sid_prefix_range("billing"), None);
        assert_eq!(sid_prefix_range("ixg"), None);
        assert_eq!(sid_prefix_range(""), None);
    }

    #[test]
    fn covering_trigrams_cover_every_character_once_each() {
        assert_eq!(covering_trigrams("ab"), Vec::<String>::new());
        assert_eq!(covering_trigrams("abc"), ["abc"]);
        assert_eq!(covering_trigrams("abcd"), ["abc", "bcd"]);
        assert_eq!(covering_trigrams("abcdef"), ["abc", "def"]);
        assert_eq!(
            covering_trigrams("writer 0000777"),
            ["wri", "ter", " 00", "007", "777"]
        );
        // Repeats are asked once; characters, not bytes.
        assert_eq!(covering_trigrams("0000000"), ["000"]);
        assert_eq!(covering_trigrams("éèêë"), ["éèê", "èêë"]);
    }

    #[test]
    fn spread_keeps_the_ends_and_evenly_between() {
        let t = covering_trigrams("ivory writer 0000777");
        assert_eq!(t, ["ivo", "ry ", "wri", "ter", " 00", "007", "777"]);
        assert_eq!(spread(t.clone(), 4), ["ivo", "wri", " 00", "777"]);
        assert_eq!(spread(t.clone(), 2), ["ivo", "777"]);
        assert_eq!(spread(t.clone(), 7), t);
        assert_eq!(spread(t[..3].to_vec(), 4), ["ivo", "ry ", "wri"]);
    }

    #[test]
    fn escapes_like_metacharacters() {
        assert_eq!(like_escape(r"100%_a\b"), r"100\%\_a\\b");
        assert_eq!(like_escape("plain"), "plain");
    }
}
