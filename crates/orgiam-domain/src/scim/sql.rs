//! Filters as SQL: a [`Filter`] becomes a `WHERE` fragment with `?` placeholders and its
//! bound parameters, in order; no value is ever spliced into the text. The same fragment runs
//! on SQLite and on PostgreSQL (after the store's `?` → `$n` rewrite).
//!
//! The table layout the fragment assumes (aliases `u` and `e`):
//!
//! ```text
//! users u                              user_emails e
//!   sid            TEXT PK (US...)       org_sid     TEXT NOT NULL
//!   org_sid        TEXT NOT NULL         user_sid    TEXT NOT NULL → users(sid) ON DELETE CASCADE
//!   user_name      TEXT NOT NULL         position    INTEGER NOT NULL  (order of the array)
//!   user_name_key  TEXT NOT NULL         value       TEXT NOT NULL
//!   external_id    TEXT                  value_key   TEXT NOT NULL
//!   display_name(_key)   TEXT            type        TEXT
//!   given_name(_key)     TEXT            type_key    TEXT
//!   family_name(_key)    TEXT            is_primary  BOOLEAN NOT NULL
//!   formatted(_key)      TEXT            PRIMARY KEY (user_sid, position)
//!   locale(_key)         TEXT            INDEX (org_sid, value_key)
//!   timezone(_key)       TEXT
//!   active         BOOLEAN NOT NULL
//!   date_created   BIGINT NOT NULL (Unix seconds; meta.created)
//!   date_updated   BIGINT NOT NULL (meta.lastModified)
//!   version        BIGINT NOT NULL (meta.version)
//!   UNIQUE (org_sid, user_name_key); INDEX (org_sid, external_id); UNIQUE (org_sid, sid)
//! ```
//!
//! Every case-insensitive attribute has a `*_key` column holding [`fold`] of the value (NULL
//! when the value is absent); filters compare those columns with folded parameters, so
//! `userName eq "X"` is the equality `u.user_name_key = ?` on the unique index, and both
//! engines fold alike (neither engine's `lower()` is used). `id` and `externalId` are
//! case-exact and compared on their own columns. On PostgreSQL every text column used here is
//! declared `COLLATE "C"`, so ordering (`gt`, `lt`, ...) is by code point as in SQLite and in
//! memory, and `LIKE 'abc%'` may use the btree index.
//!
//! `co`, `sw` and `ew` use `LIKE ... ESCAPE '\'` with `%`, `_` and `\` escaped. SQLite's LIKE
//! ignores ASCII case, which is harmless on folded columns; on the case-exact columns an exact
//! test (`substr`, `replace`) follows the LIKE. Every predicate is two-valued (never NULL), so
//! `not (...)` means what it says.
//!
//! `emails.value eq "X"` finds the emails by `(org_sid, value_key)` and then the users by SID;
//! without statistics SQLite's planner does the latter through `UNIQUE (org_sid, sid)` (which
//! the users table has) and would otherwise walk every user of the organization.

use super::filter::{Attr, AttrType, Filter, Op, Value, fold};

/// A bound parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// A `WHERE` fragment and its parameters, in placeholder order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Where {
    pub sql: String,
    pub params: Vec<Param>,
}

/// The users table and its alias, as the fragment names them.
pub const USERS: &str = "users";
/// The emails table.
pub const EMAILS: &str = "user_emails";

/// Translates `filter` for the users of organization `org_sid` (the caller adds
/// `u.org_sid = ?` itself; the organization is bound again inside email subqueries so that they
/// use the `(org_sid, value_key)` index).
pub fn translate(filter: &Filter, org_sid: &str) -> Where {
    let mut w = Where {
        sql: String::new(),
        params: Vec::new(),
    };
    user_pred(filter, org_sid, &mut w);
    w
}

/// The column a user attribute is filtered on, and whether it is NOT NULL.
fn user_column(a: Attr) -> Option<(&'static str, bool)> {
    Some(match a {
        Attr::Id => ("u.sid", true),
        Attr::ExternalId => ("u.external_id", false),
        Attr::UserName => ("u.user_name_key", true),
        Attr::DisplayName => ("u.display_name_key", false),
        Attr::GivenName => ("u.given_name_key", false),
        Attr::FamilyName => ("u.family_name_key", false),
        Attr::Formatted => ("u.formatted_key", false),
        Attr::Locale => ("u.locale_key", false),
        Attr::Timezone => ("u.timezone_key", false),
        Attr::Active => ("u.active", true),
        Attr::Created => ("u.date_created", true),
        Attr::LastModified => ("u.date_updated", true),
        _ => return None,
    })
}

fn email_column(a: Attr) -> Option<(&'static str, bool)> {
    Some(match a {
        Attr::EmailValue => ("e.value_key", true),
        Attr::EmailType => ("e.type_key", false),
        Attr::EmailPrimary => ("e.is_primary", true),
        _ => return None,
    })
}

/// The column a `sortBy` attribute orders by (`None`: not sortable).
pub fn sort_column(a: Attr) -> Option<&'static str> {
    match a {
        Attr::Name | Attr::Emails | Attr::EmailType | Attr::EmailPrimary => None,
        Attr::EmailValue => None,
        other => user_column(other).map(|(c, _)| c),
    }
}

fn user_pred(f: &Filter, org: &str, w: &mut Where) {
    match f {
        Filter::And(l, r) => binary(w, "AND", |w| user_pred(l, org, w), |w| user_pred(r, org, w)),
        Filter::Or(l, r) => binary(w, "OR", |w| user_pred(l, org, w), |w| user_pred(r, org, w)),
        Filter::Not(inner) => {
            w.sql.push_str("NOT (");
            user_pred(inner, org, w);
            w.sql.push(')');
        }
        Filter::Emails(inner) => email_exists(org, w, |w| email_pred(inner, w)),
        Filter::Present(Attr::Emails) => email_exists(org, w, |w| w.sql.push_str("1 = 1")),
        Filter::Present(Attr::Name) => w.sql.push_str(
            "(u.given_name_key IS NOT NULL OR u.family_name_key IS NOT NULL \
             OR u.formatted_key IS NOT NULL)",
        ),
        Filter::Compare(a, Op::Ne, v) if a.is_email_sub() => {
            w.sql.push_str("NOT (");
            let eq = Filter::Compare(*a, Op::Eq, v.clone());
            email_exists(org, w, |w| email_pred(&eq, w));
            w.sql.push(')');
        }
        Filter::Present(a) | Filter::Compare(a, _, _) if a.is_email_sub() => {
            email_exists(org, w, |w| email_pred(f, w))
        }
        Filter::Present(a) => match user_column(*a) {
            Some((_, true)) => w.sql.push_str("1 = 1"),
            Some((col, false)) => {
                w.sql.push_str(col);
                w.sql.push_str(" IS NOT NULL");
            }
            None => w.sql.push_str("1 = 0"),
        },
        Filter::Compare(a, op, v) => match user_column(*a) {
            Some((col, not_null)) => compare(col, not_null, a.kind(), *op, v, w),
            None => w.sql.push_str("1 = 0"),
        },
    }
}

fn email_pred(f: &Filter, w: &mut Where) {
    match f {
        Filter::And(l, r) => binary(w, "AND", |w| email_pred(l, w), |w| email_pred(r, w)),
        Filter::Or(l, r) => binary(w, "OR", |w| email_pred(l, w), |w| email_pred(r, w)),
        Filter::Not(inner) => {
            w.sql.push_str("NOT (");
            email_pred(inner, w);
            w.sql.push(')');
        }
        Filter::Present(a) => match email_column(*a) {
            Some((_, true)) => w.sql.push_str("1 = 1"),
            Some((col, false)) => {
                w.sql.push_str(col);
                w.sql.push_str(" IS NOT NULL");
            }
            None => w.sql.push_str("1 = 0"),
        },
        Filter::Compare(a, op, v) => match email_column(*a) {
            Some((col, not_null)) => compare(col, not_null, a.kind(), *op, v, w),
            None => w.sql.push_str("1 = 0"),
        },
        // The parser allows no value path inside a value path.
        Filter::Emails(_) => w.sql.push_str("1 = 0"),
    }
}

fn binary(w: &mut Where, op: &str, l: impl FnOnce(&mut Where), r: impl FnOnce(&mut Where)) {
    w.sql.push('(');
    l(w);
    w.sql.push(' ');
    w.sql.push_str(op);
    w.sql.push(' ');
    r(w);
    w.sql.push(')');
}

fn email_exists(org: &str, w: &mut Where, cond: impl FnOnce(&mut Where)) {
    w.sql.push_str("u.sid IN (SELECT e.user_sid FROM ");
    w.sql.push_str(EMAILS);
    w.sql.push_str(" e WHERE e.org_sid = ? AND ");
    w.params.push(Param::Text(org.to_owned()));
    cond(w);
    w.sql.push(')');
}

/// Escapes `%`, `_` and `\` for `LIKE ... ESCAPE '\'`.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn compare(col: &str, not_null: bool, kind: AttrType, op: Op, v: &Value, w: &mut Where) {
    let param = match (kind, v) {
        (AttrType::Text { case_exact }, Value::Str(s)) => {
            let s = if case_exact { s.clone() } else { fold(s) };
            if matches!(op, Op::Co | Op::Sw | Op::Ew) {
                return like(col, case_exact, op, &s, w);
            }
            Param::Text(s)
        }
        (AttrType::Bool, Value::Bool(b)) => Param::Bool(*b),
        (AttrType::DateTime, Value::Time(t)) => Param::Int(*t),
        _ => {
            // The parser types every comparison; a mismatch matches nothing.
            w.sql.push_str("1 = 0");
            return;
        }
    };
    let sym = match op {
        Op::Eq => "=",
        Op::Ne => "<>",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Co | Op::Sw | Op::Ew => {
            w.sql.push_str("1 = 0");
            return;
        }
    };
    w.params.push(param);
    if not_null {
        w.sql.push_str(&format!("{col} {sym} ?"));
    } else if op == Op::Ne {
        w.sql.push_str(&format!("({col} IS NULL OR {col} <> ?)"));
    } else {
        w.sql
            .push_str(&format!("({col} IS NOT NULL AND {col} {sym} ?)"));
    }
}

fn like(col: &str, case_exact: bool, op: Op, s: &str, w: &mut Where) {
    if s.is_empty() {
        // Every present string contains, starts and ends with "".
        w.sql.push_str(&format!("{col} IS NOT NULL"));
        return;
    }
    let esc = like_escape(s);
    let pattern = match op {
        Op::Co => format!("%{esc}%"),
        Op::Sw => format!("{esc}%"),
        _ => format!("%{esc}"),
    };
    w.sql
        .push_str(&format!("({col} IS NOT NULL AND {col} LIKE ? ESCAPE '\\'"));
    w.params.push(Param::Text(pattern));
    if case_exact {
        // SQLite's LIKE ignores ASCII case: test the exact text as well.
        let len = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
        match op {
            Op::Co => {
                w.sql
                    .push_str(&format!(" AND replace({col}, ?, '') <> {col}"));
                w.params.push(Param::Text(s.to_owned()));
            }
            Op::Sw => {
                w.sql
                    .push_str(&format!(" AND substr({col}, 1, CAST(? AS INTEGER)) = ?"));
                w.params.push(Param::Int(len));
                w.params.push(Param::Text(s.to_owned()));
            }
            _ => {
                w.sql.push_str(&format!(
                    " AND substr({col}, length({col}) - CAST(? AS INTEGER) + 1) = ?"
                ));
                w.params.push(Param::Int(len));
                w.params.push(Param::Text(s.to_owned()));
            }
        }
    }
    w.sql.push(')');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse;

    fn t(s: &str) -> Where {
        translate(&parse(s).unwrap_or_else(|e| unreachable!("{e}")), "ORx")
    }

    #[test]
    fn lookups_are_key_equalities() {
        assert_eq!(
            t(r#"userName eq "BJensen@Example.com""#),
            Where {
                sql: "u.user_name_key = ?".into(),
                params: vec![Param::Text("bjensen@example.com".into())]
            }
        );
        assert_eq!(
            t(r#"externalId eq "AbC""#),
            Where {
                sql: "(u.external_id IS NOT NULL AND u.external_id = ?)".into(),
                params: vec![Param::Text("AbC".into())]
            }
        );
        assert_eq!(
            t(r#"emails.value eq "A@B.example""#),
            Where {
                sql: "u.sid IN (SELECT e.user_sid FROM user_emails e WHERE e.org_sid = ? \
                      AND e.value_key = ?)"
                    .into(),
                params: vec![Param::Text("ORx".into()), Param::Text("a@b.example".into())]
            }
        );
    }

    #[test]
    fn values_are_bound_and_like_is_escaped() {
        let w = t(r#"displayName co "50%_off\\ ' OR 1=1 --""#);
        assert!(!w.sql.contains("OR 1=1"));
        assert_eq!(
            w.params,
            vec![Param::Text("%50\\%\\_off\\\\ ' or 1=1 --%".into())]
        );
    }
}
