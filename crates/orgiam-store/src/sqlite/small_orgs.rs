//! Which organizations' searches walk their names instead of asking the FTS5 index: those
//! holding few custom roles (see [`super::search`]).

use orgiam_domain::Result;
use orgiam_domain::sid::OrgSid;

use super::reader::read_error;

/// Organizations searched by walking their names: those holding at most `most` custom roles.
/// Each answer is remembered as of the roles revision it was counted at (the counter every
/// change of a role bumps, in the same transaction): while the revision stays, an
/// organization's searches skip the count (a fifth of a small organization's search).
#[derive(Debug)]
pub(super) struct SmallOrgs {
    most: i64,
    known: std::sync::Mutex<Counted>,
}

/// The organizations counted as of `revision`, and whether each was small.
#[derive(Debug, Default)]
struct Counted {
    revision: i64,
    small: std::collections::HashMap<String, bool>,
}

/// How many custom roles organization `?1` holds, counting no further than `?2`.
pub(super) const ORG_ROLES_UP_TO: &str =
    "SELECT count(*) FROM (SELECT 1 FROM roles WHERE org_sid = ?1 LIMIT ?2)";

/// Organizations remembered at most (the memo starts over beyond it).
const ORGS_KEPT: usize = 10_000;

impl SmallOrgs {
    pub(super) fn new(most: u32) -> Self {
        Self {
            most: most.into(),
            known: Default::default(),
        }
    }

    /// The most custom roles an organization may hold and be searched by walking its names.
    pub(super) fn most(&self) -> i64 {
        self.most
    }

    /// Whether `org` holds at most `most` custom roles: remembered, if counted since the
    /// roles last changed; else a count that stops there (with the default bound, a few index
    /// pages). The revision is read before the count, so what is remembered is never older
    /// than the revision it is filed under.
    pub(super) fn holds(&self, conn: &rusqlite::Connection, org: &OrgSid) -> Result<bool> {
        let revision: i64 = conn
            .prepare_cached("SELECT value FROM revisions WHERE name = ?1")
            .and_then(|mut st| st.query_row([orgiam_domain::store::ROLES_REVISION], |r| r.get(0)))
            .map_err(read_error)?;
        if let Ok(mut known) = self.known.lock() {
            if known.revision != revision {
                known.small.clear();
                known.revision = revision;
            }
            if let Some(&small) = known.small.get(org.as_str()) {
                return Ok(small);
            }
        }
        let n: i64 = conn
            .prepare_cached(ORG_ROLES_UP_TO)
            .and_then(|mut st| {
                st.query_row(rusqlite::params![org.as_str(), self.most + 1], |r| r.get(0))
            })
            .map_err(read_error)?;
        let small = n <= self.most;
        if let Ok(mut known) = self.known.lock()
            && known.revision == revision
        {
            if known.small.len() >= ORGS_KEPT {
                known.small.clear();
            }
            known.small.insert(org.as_str().to_owned(), small);
        }
        Ok(small)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An organization is small up to the bound; the answer is remembered while the roles
    /// revision stays, and counted again once it moves.
    #[test]
    fn small_organizations_are_counted_and_remembered_until_the_roles_change() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE roles (sid TEXT, org_sid TEXT); \
             CREATE TABLE revisions (name TEXT PRIMARY KEY, value INTEGER NOT NULL); \
             INSERT INTO revisions VALUES ('roles', 0)",
        )
        .unwrap();
        let org = OrgSid::random();
        let add = |n: i64| {
            conn.execute(
                "INSERT INTO roles VALUES (?1, ?2)",
                rusqlite::params![n.to_string(), org.as_str()],
            )
            .unwrap();
        };
        let bump = || {
            conn.execute("UPDATE revisions SET value = value + 1", [])
                .unwrap();
        };
        let small = SmallOrgs::new(2);
        assert!(small.holds(&conn, &org).unwrap());
        add(1);
        add(2);
        add(3);
        assert!(
            small.holds(&conn, &org).unwrap(),
            "remembered: the revision stayed"
        );
        bump();
        assert!(!small.holds(&conn, &org).unwrap(), "counted again");
        conn.execute("DELETE FROM roles WHERE sid <> '1'", [])
            .unwrap();
        assert!(!small.holds(&conn, &org).unwrap(), "remembered as large");
        bump();
        assert!(small.holds(&conn, &org).unwrap(), "small again");
        assert!(SmallOrgs::new(2).holds(&conn, &org).unwrap());
    }
}
