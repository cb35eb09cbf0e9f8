//! Roles: the built-in catalog's sync, one role by SID, and what both engines' role listings
//! share. The listing itself (`list_roles_in`) is each engine's own: SQLite finds rare
//! searches through an FTS5 trigram table and merges two ordered walks, PostgreSQL through
//! trigram GIN indexes and per-arm limits.

use crate::sql::Sql;
use orgiam_domain::Result;
use orgiam_domain::model::RoleFilter;
use orgiam_domain::page::Cursor;
use orgiam_domain::sid::OrgSid;

use crate::rows::DbRow;

/// What a role listing asks for: the roles `org` sees (built-in and its own), filtered (the
/// search lower-cased), from the cursor's position, at most `limit`, as `columns` (`sid`
/// first: the engine's role columns, or [`LISTED_COLUMNS`](crate::rows::LISTED_COLUMNS)),
/// each row followed by its `name_key`.
pub(crate) struct RolePage<'a> {
    pub org: &'a OrgSid,
    pub filter: &'a RoleFilter,
    pub cursor: Option<&'a Cursor>,
    pub limit: i64,
    pub columns: &'static str,
}

impl RolePage<'_> {
    /// The columns after `sid`, for arms that take the SID from another table.
    pub fn columns_after_sid(&self) -> &'static str {
        self.columns.strip_prefix("sid, ").unwrap_or(self.columns)
    }
}

/// A listing filtered by at most this many resource types walks the resource-type index, one
/// arm per (owner, type); more are checked row by row on the name-ordered walk.
pub(crate) const TYPED_ARMS_MAX_TYPES: usize = 8;

/// Appends the arms of a name-ordered walk, joined by `UNION ALL`: when the filter asks for
/// a few resource types, one `typed` arm per (owner, type), built-ins (`''`) first; else one
/// `owned` arm per owner (built-in, then the organization's). Returns how many rows the walk
/// fetches for a page: a role with several of the types comes once per type (duplicates are
/// adjacent in the order, dropped by [`page`]).
pub(crate) fn push_arms<'a, Q: Sql<'a>>(
    q: &mut Q,
    p: &RolePage<'a>,
    typed: fn(&mut Q, &RolePage<'a>, &'a str, &'a str),
    owned: fn(&mut Q, &RolePage<'a>, Option<&'a str>),
) -> i64 {
    match p.filter.resource_types.as_deref() {
        Some(types) if !types.is_empty() && types.len() <= TYPED_ARMS_MAX_TYPES => {
            let mut first = true;
            for owner in ["", p.org.as_str()] {
                for t in types {
                    if !first {
                        q.push(" UNION ALL ");
                    }
                    first = false;
                    typed(q, p, owner, t.as_str());
                }
            }
            p.limit.saturating_mul(types.len() as i64)
        }
        _ => {
            owned(q, p, None);
            q.push(" UNION ALL ");
            owned(q, p, Some(p.org.as_str()));
            p.limit
        }
    }
}

/// How an engine tests that `name_key` contains a search (both are lower-cased): the text
/// before the bound parameter, the parameter made from the search, the text after it.
pub(crate) struct NameTest {
    pub before: &'static str,
    pub param: fn(&str) -> String,
    pub after: &'static str,
}

/// A `LIKE`-style pattern for a substring: `%`, the search escaped, `%`.
pub(crate) fn like_pattern(search: &str) -> String {
    format!("%{}%", crate::rows::like_escape(search))
}

/// ` AND (` a name test of `search` ` OR ` the SID range it may begin `)`: how a walk by
/// names tests a search.
pub(crate) fn push_name_search<'a>(q: &mut impl Sql<'a>, test: &NameTest, search: &str) {
    q.push(" AND (")
        .push(test.before)
        .push_bind((test.param)(search))
        .push(test.after);
    crate::rows::push_sid_range_or(q, search);
    q.push(")");
}

/// `SELECT columns, name_key FROM roles WHERE` the owner's rows (`None`: the built-in ones)
/// and, with a search, `scan`'s condition for it.
pub(crate) fn push_owner_rows<'a, Q: Sql<'a>>(
    q: &mut Q,
    columns: &str,
    owner: Option<&'a str>,
    search: Option<&str>,
    scan: fn(&mut Q, &str),
) {
    q.push(format!("SELECT {columns}, name_key FROM roles WHERE "));
    match owner {
        None => q.push("org_sid IS NULL"),
        Some(o) => q.push("org_sid = ").push_bind(o),
    };
    if let Some(search) = search {
        scan(q, search);
    }
}

/// A role listing's rows, decoded by a [`DbRow`] decoder (`rows::role`, or `rows::listed`,
/// which copies each role's JSON and key into the listing's buffer), and whether two decoded
/// rows are the same role (given that buffer).
pub(crate) struct Decoder<T> {
    pub decode: fn(&dyn DbRow, &mut Vec<u8>) -> Result<T>,
    pub same: fn(&T, &T, &[u8]) -> bool,
}

/// The page from a listing's decoded rows: duplicates (the same role, adjacent) dropped, at
/// most `limit`, in name order (the rows of a backward page come descending).
pub(crate) fn page<T>(
    mut roles: Vec<T>,
    limit: i64,
    desc: bool,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    roles.dedup_by(|a, b| same(a, b));
    roles.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    if desc {
        roles.reverse();
    }
    roles
}

/// The inherent `sync_builtin_roles_in`, `role_in` and `list_roles_in` for one engine (see
/// [`crate::store`] for the dialect it uses). The listing asks the engine's search module for
/// three statements: `candidates` (the roles whose names may contain a search of at least
/// [`TRIGRAM`](crate::rows::TRIGRAM) characters, through its trigram index), `rare_roles`
/// (the page among a rare search's candidates) and `walk_roles` (the page by walking names).
macro_rules! roles_impl {
    ($store:ty) => {
        const _: () = {
            use orgiam_domain::Result;
            use orgiam_domain::model::{Role, RoleFilter};
            use orgiam_domain::page::Cursor;
            use orgiam_domain::rendered::{NameKeyAt, RenderedRows};
            use orgiam_domain::role_json::ROLE_JSON_VERSION;
            use orgiam_domain::sid::{OrgSid, RoleSid};

            use $crate::rows::{self, json};
            use $crate::db_error;

            impl $store {
                /// A page of the roles `org` sees (built-in and its own), in name order,
                /// filtered.
                async fn list_roles_in(
                    &self,
                    org: &OrgSid,
                    filter: &RoleFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<Role>> {
                    let p = $crate::roles::RolePage {
                        org, filter, cursor, limit: i64::from(limit), columns: ROLE_COLUMNS,
                    };
                    let decoder = $crate::roles::Decoder { decode: |r, _| rows::role(r), same: |a, b, _| a.sid == b.sid };
                    Ok(self.list_role_rows(&p, &decoder).await?.0)
                }

                /// The same page, each role as the JSON stored with it, copied from the row
                /// into one buffer; a row an older version wrote without it is read whole and
                /// rendered here.
                async fn render_roles_in(
                    &self,
                    org: &OrgSid,
                    filter: &RoleFilter,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<RenderedRows<NameKeyAt>> {
                    let p = $crate::roles::RolePage {
                        org, filter, cursor, limit: i64::from(limit),
                        columns: rows::LISTED_COLUMNS,
                    };
                    let decoder = $crate::roles::Decoder {
                        decode: |r, json| rows::listed(r, json),
                        same: |a, b, json| json[a.key.sid.clone()] == json[b.key.sid.clone()],
                    };
                    let (rows, json) = self.list_role_rows(&p, &decoder).await?;
                    let mut out = RenderedRows { json, rows: Vec::with_capacity(rows.len()) };
                    for mut row in rows {
                        if row.at.is_empty() {
                            let sid = out.role_sid(&row).ok_or_else(|| rows::corrupt("role sid"))?;
                            let Some(role) = self.role_in(org, &sid).await? else {
                                continue; // deleted since
                            };
                            let start = out.json.len();
                            out.json.extend_from_slice(role.to_json().as_bytes());
                            row.at = start..out.json.len();
                        }
                        out.rows.push(row);
                    }
                    Ok(out)
                }

                async fn sync_builtin_roles_in(&self, roles: &[Role]) -> Result<()> {
                    let mut tx = self.write().await?;
                    lock_catalog(&mut tx).await?;
                    let upsert = sql(&format!(
                        "INSERT INTO roles (sid, org_sid, name_key, friendly_name, external_description, \
                         product_group, product_group_name, lowest_level, policy, resource_types, \
                         date_created, date_updated, rendered) \
                         VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?{JSONB}, ?, ?, ?) \
                         ON CONFLICT (sid) DO UPDATE SET name_key = excluded.name_key, \
                         friendly_name = excluded.friendly_name, \
                         external_description = excluded.external_description, \
                         product_group = excluded.product_group, \
                         product_group_name = excluded.product_group_name, \
                         lowest_level = excluded.lowest_level, policy = excluded.policy, \
                         resource_types = excluded.resource_types, \
                         date_created = excluded.date_created, date_updated = excluded.date_updated, \
                         rendered = excluded.rendered"
                    ));
                    for r in roles {
                        sqlx::query(&upsert)
                            .bind(r.sid.as_str())
                            .bind(Role::name_key(&r.friendly_name))
                            .bind(&r.friendly_name)
                            .bind(&r.external_description)
                            .bind(&r.product_group)
                            .bind(&r.product_group_name)
                            .bind(r.lowest_level.as_str())
                            .bind(json(&r.policy)?)
                            .bind(r.resource_types.as_ref().map(json).transpose()?)
                            .bind(r.date_created)
                            .bind(r.date_updated)
                            .bind(r.to_json())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    // Built-in roles dropped from the catalog disappear (all of them for an
                    // empty list).
                    delete_other_builtins(&mut tx, roles).await?;
                    tx.commit().await.map_err(db_error)
                }

                /// Renders the JSON of roles stored without it (written before the column
                /// existed, or by an older version since), and of every role when the stored
                /// JSON's shape is another version's. Runs when the store is opened to
                /// migrate; returns how many roles it rendered.
                pub(crate) async fn render_roles(&self) -> Result<u64> {
                    const KEY: &str = "role_json_version";
                    let version = ROLE_JSON_VERSION.to_string();
                    let stored: Option<Vec<u8>> =
                        sqlx::query_scalar(&sql("SELECT value FROM meta WHERE key = ?"))
                            .bind(KEY)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_error)?;
                    if stored.as_deref().is_some_and(|v| v != version.as_bytes()) {
                        sqlx::query("UPDATE roles SET rendered = NULL")
                            .execute(&self.pool)
                            .await
                            .map_err(db_error)?;
                    }
                    let select = sql(&format!(
                        "SELECT {ROLE_COLUMNS} FROM roles WHERE rendered IS NULL LIMIT 1000"
                    ));
                    let update = sql("UPDATE roles SET rendered = ? WHERE sid = ?");
                    let mut count = 0u64;
                    loop {
                        let rows = sqlx::query(&select)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_error)?;
                        if rows.is_empty() {
                            break;
                        }
                        let mut tx = self.write().await?;
                        for row in &rows {
                            let role = rows::role(row)?;
                            sqlx::query(&update)
                                .bind(role.to_json())
                                .bind(role.sid.as_str())
                                .execute(&mut *tx)
                                .await
                                .map_err(db_error)?;
                        }
                        tx.commit().await.map_err(db_error)?;
                        count += rows.len() as u64;
                        if count % 100_000 < 1000 {
                            tracing::info!(count, "rendering the roles' JSON");
                        }
                    }
                    sqlx::query(&sql(
                        "INSERT INTO meta (key, value) VALUES (?, ?) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    ))
                    .bind(KEY)
                    .bind(version.into_bytes())
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(count)
                }

                async fn role_in(&self, org: &OrgSid, sid: &RoleSid) -> Result<Option<Role>> {
                    let row = sqlx::query(&sql(&format!(
                        "SELECT {ROLE_COLUMNS} FROM roles WHERE sid = ? \
                         AND (org_sid IS NULL OR org_sid = ?)"
                    )))
                    .bind(sid.as_str())
                    .bind(org.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    row.as_ref().map(rows::role).transpose()
                }
            }
        };
    };
}
pub(crate) use roles_impl;
