//! SQLite's role import: one `BEGIN IMMEDIATE` transaction on a connection with a large page
//! cache, the rows staged in a temporary table, moved into `roles` by one statement and
//! indexed for search by another.

use orgiam_domain::Result;
use orgiam_domain::model::Actor;
use orgiam_domain::sid::OrgSid;
use orgiam_domain::store::{ROLES_REVISION, RoleBatches};

use super::{Conn, SqliteStore, bump, insert_event};
use crate::db_error;
use crate::events::roles_imported_event;

impl SqliteStore {
    pub(super) async fn import_roles_in(
        &self,
        org: &OrgSid,
        batches: &mut RoleBatches<'_>,
        actor: &Actor,
    ) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        // A big import touches many index pages at random: a large page cache for this one
        // transaction keeps them from spilling to the WAL again and again. Put back afterwards;
        // a connection that cannot be put back is not returned to the pool.
        sqlx::query("PRAGMA cache_size = -262144")
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let walked = self.small_orgs.most();
        let result = Self::import_roles_on(&mut conn, org, batches, actor, walked).await;
        if result.is_ok() {
            // Merge the search index's segments into one (an import leaves a dozen or more,
            // and every search visits each): under a second for a million roles, and a rare
            // search at that size costs about a third less. It changes no rows, and a failure
            // leaves a correct, merely slower index.
            if let Err(e) =
                sqlx::query("INSERT INTO roles_search (roles_search) VALUES ('optimize')")
                    .execute(&mut *conn)
                    .await
            {
                tracing::warn!(error = %e, "could not merge the role search index");
            }
            // Fold the import's WAL into the database now: otherwise the next process to open
            // the file (a server starting) first reads the whole WAL back.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await;
        }
        let reset = sqlx::query("PRAGMA cache_size = -2000")
            .execute(&mut *conn)
            .await;
        if reset.is_err() {
            conn.detach();
        }
        result
    }

    /// The import's transaction, on the connection given its large page cache. `walked`: the
    /// most custom roles an organization may hold and still be searched by walking its names.
    async fn import_roles_on(
        conn: &mut Conn,
        org: &OrgSid,
        batches: &mut RoleBatches<'_>,
        actor: &Actor,
        walked: i64,
    ) -> Result<u64> {
        use sqlx::Connection;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        // A statement that writes many rows and may fail halfway first copies each page it is
        // about to change into a statement journal, to undo just that statement. Imported rows
        // land on random pages of three indexes, so INSERTs of 1,000 rows each copied nearly every
        // index page again and again (with its allocations, a third of an import). Instead the
        // rows are staged in a temporary table (appends; a temporary file, not memory, holds it)
        // and moved into `roles` by one INSERT … SELECT, which copies each page once; the search
        // index's insert trigger stands aside while a marker row in `meta` exists, which this
        // transaction writes first and deletes before committing (no other writer can start, and
        // readers never see it), and the new rows are indexed by one statement too.
        let last_rowid: i64 = sqlx::query_scalar("SELECT coalesce(max(rowid), 0) FROM roles")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('import_defers_search_index', x'') \
             ON CONFLICT DO NOTHING",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        bump(&mut tx, ROLES_REVISION).await?;
        sqlx::query(&format!(
            "CREATE TEMP TABLE import_staging AS SELECT {STAGED_COLUMNS} FROM roles WHERE 0"
        ))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut count = 0u64;
        while let Some(batch) = batches()? {
            Self::insert_role_rows(&mut tx, "temp.import_staging", Some(org), &batch).await?;
            count += batch.len() as u64;
        }
        // An organization that stays small enough to be searched by walking its names (see
        // `SmallOrgs`) gets its rows in name order: their rowids, and so their places in the
        // table, follow the order a listing reads them in, so a page of them lies on a few
        // neighbouring table pages (each read finds the next row where the last one ended)
        // instead of one page a row scattered over the import. A larger one keeps the file's
        // order: its searches go through the FTS5 index, whose keys are the rowids, and an
        // AND of two trigrams costs more when their documents' rowids share no locality
        // (1M roles in name order: a rare search 346-440 -> 555-661 us).
        let existing_in_org: i64 = sqlx::query_scalar(super::small_orgs::ORG_ROLES_UP_TO)
            .bind(org.as_str())
            .bind(walked + 1)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let in_name_order = existing_in_org.saturating_add(count as i64) <= walked;
        // Moving the rows into `roles` updates its secondary indexes one random row at a time
        // (a million roles: ~30 s of the import). When the import at least doubles the table,
        // those indexes are dropped and built again afterwards from their own definitions
        // (a sort each: ~20 s in all). Readers keep their snapshot, indexes included, until
        // this transaction commits. Rows in name order keep the name-ordered indexes, whose
        // inserts then land one after another on the same few pages.
        let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM roles")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        // The partial index of unrendered rows is kept either way: imported rows never enter
        // it, and building it again would read the whole table once more.
        let kept = if in_name_order {
            "('roles_in_order', 'roles_by_group', 'roles_unrendered')"
        } else {
            "('roles_unrendered')"
        };
        let rebuilt: Vec<(String, String)> = if count as i64 >= existing {
            sqlx::query_as(&format!(
                "SELECT name, sql FROM sqlite_schema \
                 WHERE type = 'index' AND tbl_name = 'roles' AND sql IS NOT NULL \
                 AND name NOT IN {kept}"
            ))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?
        } else {
            Vec::new()
        };
        for (name, _) in &rebuilt {
            sqlx::query(&format!("DROP INDEX \"{name}\""))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let order = if in_name_order {
            " ORDER BY name_key, sid"
        } else {
            ""
        };
        sqlx::query(&format!(
            "INSERT INTO roles ({STAGED_COLUMNS}) SELECT {STAGED_COLUMNS} FROM temp.import_staging{order}"
        ))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        for (_, sql) in &rebuilt {
            sqlx::query(sql).execute(&mut *tx).await.map_err(db_error)?;
        }
        sqlx::query("DROP TABLE temp.import_staging")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO roles_search (rowid, name_key) \
             SELECT (SELECT num FROM org_numbers WHERE org_sid = ?) * 1099511627776 + rowid, name_key \
             FROM roles WHERE rowid > ?",
        )
        .bind(org.as_str())
        .bind(last_rowid)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query("DELETE FROM meta WHERE key = 'import_defers_search_index'")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_event(&mut tx, &roles_imported_event(org, count, actor)).await?;
        tx.commit()
            .await
            .map_err(db_error)
            .inspect(crate::revisions::access_committed)?;
        Ok(count)
    }
}

/// The columns an import writes.
const STAGED_COLUMNS: &str = "sid, org_sid, name_key, friendly_name, external_description, \
    product_group, product_group_name, lowest_level, policy, resource_types, date_created, \
    date_updated, rendered";
