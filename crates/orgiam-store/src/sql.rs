//! Statements written once for either way of running them: the role listing's builders push
//! SQL and parameters through [`Sql`], which sqlx's `QueryBuilder` implements (PostgreSQL runs
//! them through sqlx) and so does [`Stmt`], a statement text with `?` placeholders and its
//! parameters, which SQLite runs on the calling thread (see `sqlite::reader`).

use std::fmt::{Display, Write as _};

use sqlx::QueryBuilder;

/// A statement parameter.
#[derive(Clone, Debug)]
pub(crate) enum Value<'a> {
    Str(&'a str),
    Text(String),
    Int(i64),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Self::Str(v)
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

/// What a statement builder does: append SQL, append a parameter's placeholder.
pub(crate) trait Sql<'a> {
    fn push(&mut self, sql: impl Display) -> &mut Self;
    fn push_bind(&mut self, value: impl Into<Value<'a>>) -> &mut Self;
}

macro_rules! sql_for_query_builder {
    ($db:ty) => {
        impl<'a> Sql<'a> for QueryBuilder<'a, $db> {
            fn push(&mut self, sql: impl Display) -> &mut Self {
                QueryBuilder::push(self, sql)
            }

            fn push_bind(&mut self, value: impl Into<Value<'a>>) -> &mut Self {
                match value.into() {
                    Value::Str(v) => QueryBuilder::push_bind(self, v),
                    Value::Text(v) => QueryBuilder::push_bind(self, v),
                    Value::Int(v) => QueryBuilder::push_bind(self, v),
                }
            }
        }
    };
}
sql_for_query_builder!(sqlx::Postgres);
sql_for_query_builder!(sqlx::Sqlite);

/// A statement with `?` placeholders, and its parameters in order.
#[derive(Debug, Default)]
pub(crate) struct Stmt<'a> {
    sql: String,
    values: Vec<Value<'a>>,
}

impl Stmt<'_> {
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The parameters, for `rusqlite`.
    pub(crate) fn params(&self) -> rusqlite::ParamsFromIter<std::slice::Iter<'_, Value<'_>>> {
        rusqlite::params_from_iter(self.values.iter())
    }
}

impl<'a> Sql<'a> for Stmt<'a> {
    fn push(&mut self, sql: impl Display) -> &mut Self {
        let _ = write!(self.sql, "{sql}");
        self
    }

    fn push_bind(&mut self, value: impl Into<Value<'a>>) -> &mut Self {
        self.sql.push('?');
        self.values.push(value.into());
        self
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Self::Str(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Self::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Self::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
        })
    }
}
