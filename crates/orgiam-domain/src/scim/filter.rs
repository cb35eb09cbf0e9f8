//! SCIM filters (RFC 7644 §3.4.2.2): parsing into a typed AST, rendering back to text, and
//! evaluation against a user in memory. The SQL translation is in `scim::sql`.
//!
//! Grammar (whitespace between tokens is free; keywords, operators and attribute names are
//! case-insensitive; `and` binds tighter than `or`; both are left-associative):
//!
//! ```text
//! filter    = and-chain *( "or" and-chain )
//! and-chain = unary *( "and" unary )
//! unary     = "not" "(" filter ")" / "(" filter ")" / attrExp / valuePath
//! valuePath = "emails" "[" valFilter "]" [ "." subName compareOp compValue ]
//!                                           ; valFilter: the same grammar over value,
//!                                           ; type, primary; no nested paths; the tail
//!                                           ; (lenient) joins the bracket with `and`
//! attrExp   = attrPath "pr" / attrPath compareOp compValue
//! attrPath  = [ "urn:ietf:params:scim:schemas:core:2.0:User:" ] name [ "." subName ]
//! compareOp = eq ne co sw ew gt ge lt le
//! compValue = JSON string / true / false
//! ```
//!
//! The attributes are those of the core User the server keeps ([`Attr`]); anything else
//! (extension schemas included) is an `invalidFilter`, as are comparisons that do not fit the
//! attribute's type (`active co "x"`, `meta.created sw "2024"`, numbers, `null`). Limits:
//! [`MAX_FILTER_LEN`] bytes, [`MAX_DEPTH`] levels of `not`/parentheses/brackets and
//! [`MAX_TERMS`] comparisons; beyond them the filter is refused, never evaluated.
//!
//! Semantics: strings compare case-insensitively (by [`fold`]) except `id` and `externalId`,
//! which are case-exact; ordering is by code point. An absent attribute matches nothing except
//! `ne` (which is exactly `not eq`). A condition on an `emails` sub-attribute outside brackets
//! holds when some email satisfies it (`emails.value ne "x"` holds when no email equals `x`);
//! inside brackets all conditions apply to the same email.

pub use super::attr::{Attr, AttrType, USER_SCHEMA, fold, strip_schema};
use super::error::ScimError;
use super::user::{Email, ScimUser};
use crate::time_fmt;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 2048;
/// Deepest nesting of parentheses, `not` and value-path brackets.
pub const MAX_DEPTH: usize = 10;
/// Most comparisons (`attrExp`) in one filter.
pub const MAX_TERMS: usize = 32;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Eq,
        Op::Ne,
        Op::Co,
        Op::Sw,
        Op::Ew,
        Op::Gt,
        Op::Ge,
        Op::Lt,
        Op::Le,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
    fn parse(word: &str) -> Option<Op> {
        Op::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(word))
    }
    /// Whether the operator applies to an attribute of this type.
    pub fn fits(self, kind: AttrType) -> bool {
        match kind {
            AttrType::Text { .. } => true,
            AttrType::Bool => matches!(self, Op::Eq | Op::Ne),
            AttrType::DateTime => !matches!(self, Op::Co | Op::Sw | Op::Ew),
            AttrType::Complex => false,
        }
    }
}

/// A comparison value, typed by its attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Str(String),
    Bool(bool),
    /// Unix seconds (written as an RFC 3339 string).
    Time(i64),
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Filter {
    Compare(Attr, Op, Value),
    Present(Attr),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[...]`: some email satisfies the inner filter (over email sub-attributes only).
    Emails(Box<Filter>),
}

/// Parses a filter.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    crate::text::check("filter", input).map_err(|e| ScimError::invalid_filter(e.to_string()))?;
    let mut p = Parser::new(input);
    let f = p.or_expr(false)?;
    p.skip_ws();
    if p.pos < p.s.len() {
        return Err(p.error("unexpected text"));
    }
    Ok(f)
}

/// Parses a value-path filter (the inside of `emails[...]`) starting at byte `start` of `s`,
/// up to and including its closing `]`; returns the filter and the byte after the `]`.
pub(crate) fn parse_bracket(s: &str, start: usize) -> Result<(Filter, usize), ScimError> {
    let mut p = Parser::new(s);
    p.pos = start;
    p.depth = 1;
    let f = p.or_expr(true)?;
    p.skip_ws();
    if !p.eat(b']') {
        return Err(p.error("expected `]`"));
    }
    Ok((f, p.pos))
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
    terms: usize,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'$')
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s,
            pos: 0,
            depth: 0,
            terms: 0,
        }
    }

    fn error(&self, what: &str) -> ScimError {
        let near: String = self.s[self.pos..].chars().take(20).collect();
        if near.is_empty() {
            ScimError::invalid_filter(format!("filter: {what} at the end"))
        } else {
            ScimError::invalid_filter(format!(
                "filter: {what} at character {} (near `{near}`)",
                self.s[..self.pos].chars().count() + 1
            ))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The name-like word at the cursor (not consumed).
    fn word(&self) -> &'a str {
        let bytes = self.s.as_bytes();
        let mut end = self.pos;
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        &self.s[self.pos..end]
    }

    /// Consumes keyword `kw` (case-insensitive, whole word) after optional whitespace.
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.word().eq_ignore_ascii_case(kw) {
            self.pos += kw.len();
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ScimError::invalid_filter(format!(
                "filter is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn or_expr(&mut self, bracket: bool) -> Result<Filter, ScimError> {
        let mut left = self.and_expr(bracket)?;
        while self.keyword("or") {
            let right = self.and_expr(bracket)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, bracket: bool) -> Result<Filter, ScimError> {
        let mut left = self.unary(bracket)?;
        while self.keyword("and") {
            let right = self.unary(bracket)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn group(&mut self, bracket: bool) -> Result<Filter, ScimError> {
        // The cursor is just after `(`.
        self.enter()?;
        let inner = self.or_expr(bracket)?;
        self.skip_ws();
        if !self.eat(b')') {
            return Err(self.error("expected `)`"));
        }
        self.depth -= 1;
        Ok(inner)
    }

    fn unary(&mut self, bracket: bool) -> Result<Filter, ScimError> {
        self.skip_ws();
        if self.eat(b'(') {
            return self.group(bracket);
        }
        if self.word().eq_ignore_ascii_case("not") {
            let save = self.pos;
            self.pos += 3;
            self.skip_ws();
            if self.eat(b'(') {
                return Ok(Filter::Not(Box::new(self.group(bracket)?)));
            }
            self.pos = save;
        }
        self.attr_expr(bracket)
    }

    fn attr_expr(&mut self, bracket: bool) -> Result<Filter, ScimError> {
        let name = self.word();
        if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
            return Err(self.error("expected an attribute name"));
        }
        let attr = if bracket {
            Attr::resolve_in_bracket(name)
        } else {
            Attr::resolve(name)
        };
        let Some(attr) = attr else {
            let what = if bracket {
                format!("unknown attribute `emails.{name}`")
            } else {
                format!("unknown attribute `{name}`")
            };
            return Err(self.error(&what));
        };
        self.pos += name.len();
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(ScimError::invalid_filter(format!(
                "filter has more than {MAX_TERMS} comparisons"
            )));
        }
        if attr == Attr::Emails && !bracket && self.peek() == Some(b'[') {
            self.pos += 1;
            self.enter()?;
            let inner = self.or_expr(true)?;
            self.skip_ws();
            if !self.eat(b']') {
                return Err(self.error("expected `]`"));
            }
            self.depth -= 1;
            if self.eat(b'.') {
                // Lenient: `emails[type eq "work"].value eq "x"` (a PATCH-style path some
                // clients send in filters) means `emails[type eq "work" and value eq "x"]`.
                let sub = self.word();
                let Some(sub_attr) = Attr::resolve_in_bracket(sub) else {
                    return Err(self.error(&format!("unknown attribute `emails.{sub}`")));
                };
                self.pos += sub.len();
                let tail = self.op_tail(sub_attr, true)?;
                return Ok(Filter::Emails(Box::new(Filter::And(
                    Box::new(inner),
                    Box::new(tail),
                ))));
            }
            return Ok(Filter::Emails(Box::new(inner)));
        }
        self.op_tail(attr, bracket)
    }

    /// The operator and value after an attribute path.
    fn op_tail(&mut self, attr: Attr, bracket: bool) -> Result<Filter, ScimError> {
        if !self.skip_ws() {
            return Err(self.error("expected a space and an operator"));
        }
        let op_word = self.word();
        if op_word.eq_ignore_ascii_case("pr") {
            self.pos += 2;
            return Ok(Filter::Present(attr));
        }
        let Some(op) = Op::parse(op_word) else {
            return Err(self.error("expected an operator (eq ne co sw ew gt ge lt le pr)"));
        };
        self.pos += op_word.len();
        // `emails eq "x"` compares the primary value sub-attribute (RFC 7644 §3.4.2.2).
        let attr = if attr == Attr::Emails {
            Attr::EmailValue
        } else {
            attr
        };
        if !self.skip_ws() {
            return Err(self.error("expected a space and a value"));
        }
        let value_at = self.pos;
        let raw = self.comp_value()?;
        let kind = attr.kind();
        let shown = if bracket {
            attr.in_bracket()
        } else {
            attr.path()
        };
        if !op.fits(kind) {
            return Err(ScimError::invalid_filter(format!(
                "filter: operator `{}` does not apply to `{shown}`",
                op.as_str()
            )));
        }
        let value = match (kind, raw) {
            (AttrType::Text { .. }, Raw::Str(s)) => Value::Str(s),
            (AttrType::Bool, Raw::Bool(b)) => Value::Bool(b),
            (AttrType::DateTime, Raw::Str(s)) => match time_fmt::parse(&s) {
                Some(t) => Value::Time(t),
                None => {
                    self.pos = value_at;
                    return Err(
                        self.error(&format!("`{shown}` needs an RFC 3339 date-time string"))
                    );
                }
            },
            (kind, _) => {
                self.pos = value_at;
                let want = match kind {
                    AttrType::Bool => "true or false",
                    AttrType::DateTime => "an RFC 3339 date-time string",
                    _ => "a string",
                };
                return Err(self.error(&format!("`{shown}` must be compared with {want}")));
            }
        };
        Ok(Filter::Compare(attr, op, value))
    }

    fn comp_value(&mut self) -> Result<Raw, ScimError> {
        let bytes = self.s.as_bytes();
        if self.peek() == Some(b'"') {
            let start = self.pos;
            let mut i = start + 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => {
                        let lit = &self.s[start..=i];
                        let s: String = serde_json::from_str(lit)
                            .map_err(|_| self.error("malformed string value"))?;
                        self.pos = i + 1;
                        return Ok(Raw::Str(s));
                    }
                    _ => i += 1,
                }
            }
            return Err(self.error("unterminated string value"));
        }
        let mut end = self.pos;
        while end < bytes.len()
            && (bytes[end].is_ascii_alphanumeric() || b"+-.".contains(&bytes[end]))
        {
            end += 1;
        }
        let word = &self.s[self.pos..end];
        let raw = if word.eq_ignore_ascii_case("true") {
            Raw::Bool(true)
        } else if word.eq_ignore_ascii_case("false") {
            Raw::Bool(false)
        } else if word.eq_ignore_ascii_case("null")
            || (!word.is_empty() && word.parse::<f64>().is_ok())
        {
            Raw::Other
        } else {
            return Err(self.error("expected a value (a quoted string, true or false)"));
        };
        self.pos = end;
        Ok(raw)
    }
}

enum Raw {
    Str(String),
    Bool(bool),
    /// `null` or a number: no attribute here takes them.
    Other,
}

/// Renders a filter as text that [`parse`] reads back to the same filter.
pub fn render(f: &Filter) -> String {
    let mut out = String::new();
    write(f, &mut out, false);
    out
}

fn prec(f: &Filter) -> u8 {
    match f {
        Filter::Or(..) => 1,
        Filter::And(..) => 2,
        _ => 3,
    }
}

fn write_child(child: &Filter, parent: u8, right: bool, out: &mut String, bracket: bool) {
    let p = prec(child);
    if p < parent || (right && p == parent) {
        out.push('(');
        write(child, out, bracket);
        out.push(')');
    } else {
        write(child, out, bracket);
    }
}

fn write(f: &Filter, out: &mut String, bracket: bool) {
    let name = |a: Attr| if bracket { a.in_bracket() } else { a.path() };
    match f {
        Filter::Compare(a, op, v) => {
            out.push_str(name(*a));
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            match v {
                Value::Str(s) => {
                    out.push_str(&serde_json::Value::String(s.clone()).to_string());
                }
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Time(t) => {
                    out.push('"');
                    out.push_str(&time_fmt::format(*t));
                    out.push('"');
                }
            }
        }
        Filter::Present(a) => {
            out.push_str(name(*a));
            out.push_str(" pr");
        }
        Filter::And(l, r) => {
            write_child(l, 2, false, out, bracket);
            out.push_str(" and ");
            write_child(r, 2, true, out, bracket);
        }
        Filter::Or(l, r) => {
            write_child(l, 1, false, out, bracket);
            out.push_str(" or ");
            write_child(r, 1, true, out, bracket);
        }
        Filter::Not(inner) => {
            out.push_str("not (");
            write(inner, out, bracket);
            out.push(')');
        }
        Filter::Emails(inner) => {
            out.push_str("emails[");
            write(inner, out, true);
            out.push(']');
        }
    }
}

/// Compares an attribute's value with a filter value (`None`: the attribute is absent).
fn compare_text(have: Option<&str>, op: Op, want: &str, case_exact: bool) -> bool {
    let Some(have) = have else {
        return op == Op::Ne;
    };
    let (h, w) = if case_exact {
        (have.to_owned(), want.to_owned())
    } else {
        (fold(have), fold(want))
    };
    match op {
        Op::Eq => h == w,
        Op::Ne => h != w,
        Op::Co => h.contains(&w),
        Op::Sw => h.starts_with(&w),
        Op::Ew => h.ends_with(&w),
        Op::Gt => h > w,
        Op::Ge => h >= w,
        Op::Lt => h < w,
        Op::Le => h <= w,
    }
}

fn compare_ord<T: Ord>(have: &T, op: Op, want: &T) -> bool {
    match op {
        Op::Eq => have == want,
        Op::Ne => have != want,
        Op::Gt => have > want,
        Op::Ge => have >= want,
        Op::Lt => have < want,
        Op::Le => have <= want,
        Op::Co | Op::Sw | Op::Ew => false,
    }
}

fn present(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.is_empty())
}

impl Filter {
    /// Whether `user` matches this filter.
    pub fn matches(&self, user: &ScimUser) -> bool {
        match self {
            Filter::And(l, r) => l.matches(user) && r.matches(user),
            Filter::Or(l, r) => l.matches(user) || r.matches(user),
            Filter::Not(inner) => !inner.matches(user),
            Filter::Emails(inner) => user.attrs.emails.iter().any(|e| inner.matches_email(e)),
            Filter::Present(a) if a.is_email_sub() => user
                .attrs
                .emails
                .iter()
                .any(|e| Filter::Present(*a).matches_email(e)),
            Filter::Compare(a, Op::Ne, v) if a.is_email_sub() => {
                !Filter::Compare(*a, Op::Eq, v.clone()).matches(user)
            }
            Filter::Compare(a, _, _) if a.is_email_sub() => {
                user.attrs.emails.iter().any(|e| self.matches_email(e))
            }
            Filter::Present(a) => {
                let u = &user.attrs;
                match a {
                    Attr::Id => present(Some(&user.id)),
                    Attr::Name => {
                        present(u.name.given_name.as_deref())
                            || present(u.name.family_name.as_deref())
                            || present(u.name.formatted.as_deref())
                    }
                    Attr::Emails => !u.emails.is_empty(),
                    Attr::Active | Attr::Created | Attr::LastModified => true,
                    text => present(user.text(*text)),
                }
            }
            Filter::Compare(a, op, v) => match (a.kind(), v) {
                (AttrType::Text { case_exact }, Value::Str(w)) => {
                    compare_text(user.text(*a), *op, w, case_exact)
                }
                (AttrType::Bool, Value::Bool(w)) => compare_ord(&user.attrs.active, *op, w),
                (AttrType::DateTime, Value::Time(w)) => {
                    let have = if *a == Attr::Created {
                        user.created
                    } else {
                        user.last_modified
                    };
                    compare_ord(&have, *op, w)
                }
                _ => false,
            },
        }
    }

    /// Whether one email matches this (value-path) filter.
    pub fn matches_email(&self, e: &Email) -> bool {
        match self {
            Filter::And(l, r) => l.matches_email(e) && r.matches_email(e),
            Filter::Or(l, r) => l.matches_email(e) || r.matches_email(e),
            Filter::Not(inner) => !inner.matches_email(e),
            Filter::Present(Attr::EmailValue) => present(Some(&e.value)),
            Filter::Present(Attr::EmailType) => present(e.kind.as_deref()),
            Filter::Present(Attr::EmailPrimary) => true,
            Filter::Compare(Attr::EmailValue, op, Value::Str(w)) => {
                compare_text(Some(&e.value), *op, w, false)
            }
            Filter::Compare(Attr::EmailType, op, Value::Str(w)) => {
                compare_text(e.kind.as_deref(), *op, w, false)
            }
            Filter::Compare(Attr::EmailPrimary, op, Value::Bool(w)) => {
                compare_ord(&e.primary, *op, w)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Filter {
        parse(s).unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn identity_provider_filters() {
        assert_eq!(
            ok(r#"userName eq "bjensen@example.com""#),
            Filter::Compare(
                Attr::UserName,
                Op::Eq,
                Value::Str("bjensen@example.com".into())
            )
        );
        assert_eq!(
            ok(r#"externalId EQ "58342554-38d6-4ec8-948c-50044d0a33fd""#),
            Filter::Compare(
                Attr::ExternalId,
                Op::Eq,
                Value::Str("58342554-38d6-4ec8-948c-50044d0a33fd".into())
            )
        );
        assert_eq!(
            ok(r#"urn:ietf:params:scim:schemas:core:2.0:User:UserName eq "x""#),
            Filter::Compare(Attr::UserName, Op::Eq, Value::Str("x".into()))
        );
        assert_eq!(
            ok(r#"emails[type eq "work" and value co "@acme"]"#),
            Filter::Emails(Box::new(Filter::And(
                Box::new(Filter::Compare(
                    Attr::EmailType,
                    Op::Eq,
                    Value::Str("work".into())
                )),
                Box::new(Filter::Compare(
                    Attr::EmailValue,
                    Op::Co,
                    Value::Str("@acme".into())
                )),
            )))
        );
        assert_eq!(
            ok(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
            Filter::Compare(Attr::LastModified, Op::Gt, Value::Time(1305261754))
        );
        assert_eq!(ok("name.GIVENNAME pr"), Filter::Present(Attr::GivenName));
        assert_eq!(
            ok(r#"emails eq "a@b""#),
            Filter::Compare(Attr::EmailValue, Op::Eq, Value::Str("a@b".into()))
        );
        assert_eq!(
            ok(r#"emails[type eq "work"].value eq "a@b""#),
            ok(r#"emails[type eq "work" and value eq "a@b"]"#)
        );
    }

    #[test]
    fn precedence() {
        // and binds tighter than or
        let f = ok(r#"userName eq "a" or userName eq "b" and active eq true"#);
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
        let f = ok(r#"(userName eq "a" or userName eq "b") and active eq true"#);
        assert!(matches!(f, Filter::And(ref l, _) if matches!(**l, Filter::Or(..))));
        let f = ok(r#"not (userName eq "a") and active eq true"#);
        assert!(matches!(f, Filter::And(ref l, _) if matches!(**l, Filter::Not(..))));
    }

    #[test]
    fn refusals_are_invalid_filter() {
        let deep = format!("{}userName pr{}", "(".repeat(50), ")".repeat(50));
        let long = format!("userName eq \"{}\"", "a".repeat(MAX_FILTER_LEN));
        let many = vec!["userName pr"; MAX_TERMS + 1].join(" or ");
        let nots = format!("{}userName pr{}", "not (".repeat(20), ")".repeat(20));
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName xx \"a\"",
            "nickName eq \"a\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"x\"",
            "userName eq \"a",
            "userName eq 1",
            "userName eq null",
            "active eq \"true\"",
            "active co true",
            "meta.created sw \"2024\"",
            "meta.created gt \"yesterday\"",
            "name eq \"x\"",
            "emails[value eq \"a\"",
            "emails[nickName eq \"a\"]",
            "emails[emails[value pr]]",
            "emails[type eq \"work\"].nickName eq \"x\"",
            "emails[type eq \"work\"].value",
            "(userName pr",
            "userName pr)",
            "userName eq \"a\" and",
            "userName eq \"a\"\u{0}",
            "userName eq \"\\x\"",
            &deep,
            &long,
            &many,
            &nots,
        ] {
            let e = parse(bad)
                .err()
                .unwrap_or_else(|| unreachable!("{bad} parsed"));
            assert_eq!(e.status, 400, "{bad}");
            assert_eq!(
                e.scim_type,
                Some(super::super::ScimType::InvalidFilter),
                "{bad}"
            );
        }
    }

    #[test]
    fn render_examples() {
        for s in [
            r#"userName eq "a\"b""#,
            r#"userName eq "a" or displayName co "b" and active eq false"#,
            r#"(userName eq "a" or displayName co "b") and not (emails[type eq "work" or primary eq true])"#,
            r#"meta.created ge "2020-01-01T00:00:00Z""#,
        ] {
            assert_eq!(render(&ok(s)), s);
        }
    }
}
