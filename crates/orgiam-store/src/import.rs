//! Role imports: the rows of a batch written by multi-row INSERTs. Each engine runs the
//! import's transaction its own way (`import_roles_in`: SQLite stages the rows in a
//! temporary table and indexes them for search once, PostgreSQL inserts them directly and
//! cleans its indexes afterwards); the statement that writes the rows is this one.

/// Rows per multi-row INSERT (13 parameters each: well under SQLite's limit and
/// PostgreSQL's 65535).
pub(crate) const IMPORT_CHUNK: usize = 1000;

/// The inherent `insert_role_rows` for one engine (see [`crate::store`] for the dialect it
/// uses).
macro_rules! import_impl {
    ($store:ty) => {
        const _: () = {
            use orgiam_domain::Result;
            use orgiam_domain::model::Role;
            use orgiam_domain::sid::OrgSid;

            use $crate::rows::json;
            use $crate::db_error;

            impl $store {
                /// Writes `roles` (of `org`, or built-in) into `table` (`roles`, or an
                /// import's staging table with the same columns).
                async fn insert_role_rows(
                    tx: &mut Conn,
                    table: &str,
                    org: Option<&OrgSid>,
                    roles: &[Role],
                ) -> Result<()> {
                    for chunk in roles.chunks($crate::import::IMPORT_CHUNK) {
                        let mut q = sqlx::QueryBuilder::<Db>::new(format!(
                            "INSERT INTO {table} (sid, org_sid, name_key, friendly_name, \
                             external_description, product_group, product_group_name, \
                             lowest_level, policy, resource_types, date_created, date_updated, \
                             rendered) "
                        ));
                        let mut rows = Vec::with_capacity(chunk.len());
                        for r in chunk {
                            rows.push((
                                r,
                                json(&r.policy)?,
                                r.resource_types.as_ref().map(json).transpose()?,
                                r.to_json(),
                            ));
                        }
                        q.push_values(rows, |mut b, (r, policy, types, rendered)| {
                            b.push_bind(r.sid.as_str())
                                .push_bind(org.map(OrgSid::as_str))
                                .push_bind(Role::name_key(&r.friendly_name))
                                .push_bind(r.friendly_name.as_str())
                                .push_bind(r.external_description.as_str())
                                .push_bind(r.product_group.as_str())
                                .push_bind(r.product_group_name.as_str())
                                .push_bind(r.lowest_level.as_str())
                                .push_bind(policy)
                                .push_bind(types)
                                .push_unseparated(JSONB)
                                .push_bind(r.date_created)
                                .push_bind(r.date_updated)
                                .push_bind(rendered);
                        });
                        q.build().execute(&mut *tx).await.map_err(db_error)?;
                    }
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use import_impl;
