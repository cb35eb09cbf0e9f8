//! List and search parameters (RFC 7644 §3.4.2 and §3.4.3): `filter`, `startIndex`, `count`,
//! `sortBy`, `sortOrder` from a query string or a `.search` body, and the `ListResponse`.
//!
//! As the RFC says, a `startIndex` below 1 is read as 1 and a negative `count` as 0; a `count`
//! above [`MAX_COUNT`] is clamped to it (as the rest of the API clamps page sizes). A value that
//! is not an integer, an unknown `sortBy` attribute or a `sortOrder` other than
//! `ascending`/`descending` is a 400 naming the parameter. A blank `filter` is no filter.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::{self, Attr, Filter};
use super::sql::sort_column;

/// `count` when the client sends none.
pub const DEFAULT_COUNT: u32 = 50;
/// The largest `count` served (`filter.maxResults` in the ServiceProviderConfig).
pub const MAX_COUNT: u32 = 1000;
/// The schema URN of a list response.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The schema URN of a `.search` request.
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// A parsed list or search request.
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: u64,
    pub count: u32,
    /// The attribute and its column (`scim::sql::sort_column`), and the order.
    pub sort: Option<(Attr, &'static str, SortOrder)>,
}

/// The raw parameters, as strings from a query (`None`: absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct RawParams<'a> {
    pub filter: Option<&'a str>,
    pub start_index: Option<&'a str>,
    pub count: Option<&'a str>,
    pub sort_by: Option<&'a str>,
    pub sort_order: Option<&'a str>,
}

fn integer(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
}

/// Parses query-string parameters.
pub fn parse_query(p: RawParams<'_>) -> Result<ListQuery, ScimError> {
    let start = match p.start_index {
        Some(v) if !v.trim().is_empty() => integer("startIndex", v)?,
        _ => 1,
    };
    let count = match p.count {
        Some(v) if !v.trim().is_empty() => Some(integer("count", v)?),
        _ => None,
    };
    build(p.filter, start, count, p.sort_by, p.sort_order)
}

/// Parses a `POST .../Users/.search` body. `attributes`/`excludedAttributes` are accepted and
/// not applied (every attribute is returned).
pub fn parse_search(body: &Value) -> Result<ListQuery, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    };
    let mut schemas_ok = false;
    let (mut filter, mut start, mut count, mut sort_by, mut sort_order) =
        (None, 1, None, None, None);
    let string = |name: &str, v: &Value| match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::invalid_value(format!("{name} must be a string"))),
    };
    let int = |name: &str, v: &Value| match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer"))),
        Value::String(s) => integer(name, s),
        _ => Err(ScimError::invalid_value(format!(
            "{name} must be an integer"
        ))),
    };
    for (key, v) in obj {
        match key.to_ascii_lowercase().as_str() {
            "schemas" => {
                schemas_ok = v.as_array().is_some_and(|a| {
                    a.iter().any(|s| {
                        s.as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_SCHEMA))
                    })
                })
            }
            "filter" => filter = string("filter", v)?,
            "startindex" if !v.is_null() => start = int("startIndex", v)?,
            "count" if !v.is_null() => count = Some(int("count", v)?),
            "sortby" => sort_by = string("sortBy", v)?,
            "sortorder" => sort_order = string("sortOrder", v)?,
            _ => {}
        }
    }
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must be an array that includes \"{SEARCH_SCHEMA}\""
        )));
    }
    build(
        filter.as_deref(),
        start,
        count,
        sort_by.as_deref(),
        sort_order.as_deref(),
    )
}

fn build(
    filter_text: Option<&str>,
    start: i64,
    count: Option<i64>,
    sort_by: Option<&str>,
    sort_order: Option<&str>,
) -> Result<ListQuery, ScimError> {
    let filter = match filter_text {
        Some(f) if !f.trim().is_empty() => Some(filter::parse(f)?),
        _ => None,
    };
    let start_index = u64::try_from(start.max(1)).unwrap_or(1);
    let count = match count {
        None => DEFAULT_COUNT,
        Some(c) => u32::try_from(c.clamp(0, i64::from(MAX_COUNT))).unwrap_or(MAX_COUNT),
    };
    let order = match sort_order.map(str::trim) {
        None | Some("") => SortOrder::Ascending,
        Some(o) if o.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
        Some(o) if o.eq_ignore_ascii_case("descending") => SortOrder::Descending,
        Some(_) => {
            return Err(ScimError::invalid_value(
                "sortOrder must be ascending or descending",
            ));
        }
    };
    let sort = match sort_by.map(str::trim) {
        None | Some("") => None,
        Some(name) => {
            crate::text::check("sortBy", name)?;
            let attr = Attr::resolve(name).ok_or_else(|| {
                ScimError::invalid_value(format!("sortBy: unknown attribute `{name}`"))
            })?;
            let col = sort_column(attr).ok_or_else(|| {
                ScimError::invalid_value(format!("sortBy: `{}` is not sortable", attr.path()))
            })?;
            Some((attr, col, order))
        }
    };
    Ok(ListQuery {
        filter,
        start_index,
        count,
        sort,
    })
}

impl ListQuery {
    /// The `ORDER BY` list (no values in it): the `sortBy` column with absent values last in
    /// either order, then the SID; without `sortBy`, creation time then SID. Identical on both
    /// engines (`(col IS NULL)` orders false before true on each).
    pub fn order_by(&self) -> String {
        match self.sort {
            Some((_, col, order)) => {
                let dir = if order == SortOrder::Ascending {
                    "ASC"
                } else {
                    "DESC"
                };
                format!("({col} IS NULL) ASC, {col} {dir}, u.sid ASC")
            }
            None => "u.date_created ASC, u.sid ASC".to_owned(),
        }
    }
}

/// The `ListResponse` body: `Resources, schemas, totalResults, startIndex, itemsPerPage`.
/// `Resources` comes first, as in Twilio's `ScimUserPage`: twilio-node's `Page` takes the first
/// array-valued member as the records, and `schemas` is an array too.
pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    let mut m = Map::new();
    let items = resources.len();
    m.insert("Resources".into(), Value::Array(resources));
    m.insert("schemas".into(), json!([LIST_SCHEMA]));
    m.insert("totalResults".into(), json!(total));
    m.insert("startIndex".into(), json!(start_index));
    m.insert("itemsPerPage".into(), json!(items));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;

    #[test]
    fn okta_and_entra_lookups() {
        // Okta: GET /Users?filter=userName%20eq%20%22x%22&startIndex=1&count=100
        let q = parse_query(RawParams {
            filter: Some(r#"userName eq "isaac.brock@example.com""#),
            start_index: Some("1"),
            count: Some("100"),
            ..RawParams::default()
        })
        .expect("parses");
        assert!(q.filter.is_some());
        assert_eq!((q.start_index, q.count, q.sort), (1, 100, None));
        // Entra: no startIndex/count.
        let q = parse_query(RawParams {
            filter: Some(r#"externalId eq "0a21f0f2""#),
            ..RawParams::default()
        })
        .expect("parses");
        assert_eq!((q.start_index, q.count), (1, DEFAULT_COUNT));
    }

    #[test]
    fn clamps_as_the_rfc_says() {
        let q = |s: &str, c: &str| {
            parse_query(RawParams {
                start_index: Some(s),
                count: Some(c),
                ..RawParams::default()
            })
            .map(|q| (q.start_index, q.count))
        };
        assert_eq!(q("0", "-5").ok(), Some((1, 0)));
        assert_eq!(q("-9", "5000").ok(), Some((1, MAX_COUNT)));
        assert_eq!(q("7", "0").ok(), Some((7, 0)));
        for (s, c) in [("x", "1"), ("1", "1.5"), ("1", "ten")] {
            let e = q(s, c).err().unwrap_or_else(|| unreachable!("{s} {c}"));
            assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
        }
    }

    #[test]
    fn sorting() {
        let q = parse_query(RawParams {
            sort_by: Some("name.familyName"),
            sort_order: Some("Descending"),
            ..RawParams::default()
        })
        .expect("parses");
        assert_eq!(
            q.sort,
            Some((Attr::FamilyName, "u.family_name_key", SortOrder::Descending))
        );
        assert_eq!(
            q.order_by(),
            "(u.family_name_key IS NULL) ASC, u.family_name_key DESC, u.sid ASC"
        );
        for (by, order) in [
            ("nickName", "ascending"),
            ("emails", ""),
            ("userName", "up"),
        ] {
            let e = parse_query(RawParams {
                sort_by: Some(by),
                sort_order: Some(order),
                ..RawParams::default()
            })
            .err()
            .unwrap_or_else(|| unreachable!("{by} {order}"));
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn search_body() {
        let q = parse_search(&json!({
            "schemas": [SEARCH_SCHEMA],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        }))
        .expect("parses");
        assert_eq!((q.start_index, q.count), (1, 10));
        assert!(q.filter.is_some());
        let e = parse_search(&json!({"filter": "userName pr"})).err();
        assert_eq!(e.map(|e| e.scim_type), Some(Some(ScimType::InvalidSyntax)));
        let e = parse_search(&json!({"schemas": [SEARCH_SCHEMA], "filter": "bogus pr"})).err();
        assert_eq!(e.map(|e| e.scim_type), Some(Some(ScimType::InvalidFilter)));
    }

    #[test]
    fn response_keys_in_order() {
        let s =
            serde_json::to_string(&list_response(3, 1, vec![json!({"id": "US1"})])).expect("json");
        assert_eq!(
            s,
            r#"{"Resources":[{"id":"US1"}],"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":3,"startIndex":1,"itemsPerPage":1}"#
        );
    }
}
