//! OAuth apps and their secrets: creation, status changes (disable, delete), secret
//! rotation, and the feed of changed apps the token endpoint's cache reloads from. Both
//! engines, one definition.

/// The inherent `insert_app`, `create_app_in`, `app_in`, `set_app_status_in`,
/// `rotate_app_secret_in` and `apps_since_in` for one engine (see [`crate::store`] for the
/// dialect it uses).
macro_rules! apps_impl {
    ($store:ty) => {
        const _: () = {
            use orgiam_domain::model::{Actor, App, AppStatus};
            use orgiam_domain::sid::{AppSid, OrgSid};
            use orgiam_domain::store::APPS_REVISION;
            use orgiam_domain::{Error, Result, time_fmt};

            use $crate::events::{app_created_event, rotation_event, status_event};
            use $crate::rows::{self, APP_COLUMNS, corrupt, json};
            use $crate::db_error;

            fn not_found(sid: &AppSid) -> Error {
                Error::not_found(format!("OAuth app {sid} was not found"))
            }

            impl $store {
                /// Inserts an app and its secrets, bumping the apps revision.
                async fn insert_app(tx: &mut Conn, app: &App) -> Result<()> {
                    let rev = bump(tx, APPS_REVISION).await?;
                    sqlx::query(&sql(
                        "INSERT INTO apps (sid, org_sid, friendly_name, description, status, policy, \
                         access_token_ttl, date_created, date_updated, rev, audiences) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ))
                    .bind(app.sid.as_str())
                    .bind(app.org.as_str())
                    .bind(&app.friendly_name)
                    .bind(&app.description)
                    .bind(app.status.as_str())
                    .bind(json(&app.policy)?)
                    .bind(app.access_token_ttl)
                    .bind(app.date_created)
                    .bind(app.date_updated)
                    .bind(rev)
                    .bind(json(&app.audiences)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    for s in &app.secrets {
                        sqlx::query(&sql(
                            "INSERT INTO app_secrets (app_sid, hash, expires_at, created_at) \
                             VALUES (?, ?, ?, ?)",
                        ))
                        .bind(app.sid.as_str())
                        .bind(&s.hash)
                        .bind(s.expires_at)
                        .bind(app.date_created)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                    Ok(())
                }

                async fn create_app_in(&self, app: &App, actor: &Actor) -> Result<()> {
                    let mut tx = self.write().await?;
                    Self::insert_app(&mut tx, app).await?;
                    insert_event(&mut tx, &app_created_event(app, actor)).await?;
                    tx.commit().await.map_err(db_error)
                }

                async fn app_in(&self, sid: &AppSid) -> Result<Option<App>> {
                    let mut conn = self.read().await?;
                    let row = sqlx::query(&sql(&format!(
                        "SELECT {APP_COLUMNS} FROM apps WHERE sid = ?"
                    )))
                    .bind(sid.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let mut apps = [rows::app(&row)?];
                    attach_secrets(&mut conn, &mut apps).await?;
                    end_read(conn).await?;
                    let [app] = apps;
                    Ok(Some(app))
                }

                async fn set_app_status_in(
                    &self,
                    sid: &AppSid,
                    status: AppStatus,
                    actor: &Actor,
                ) -> Result<App> {
                    let mut tx = self.write().await?;
                    let rev = bump(&mut tx, APPS_REVISION).await?;
                    let before: Option<(String, String)> = sqlx::query_as(&sql(&format!(
                        "SELECT status, org_sid FROM apps WHERE sid = ? AND status <> 'deleted'\
                         {FOR_UPDATE}"
                    )))
                    .bind(sid.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let Some((before, org)) = before else {
                        return Err(not_found(sid));
                    };
                    if before == status.as_str() {
                        // Already so: nothing changes, so no event and no revision bump (the
                        // transaction rolls back).
                        drop(tx);
                        return self.app_in(sid).await?.ok_or_else(|| not_found(sid));
                    }
                    let now = time_fmt::now();
                    let changed = sqlx::query(&sql(&format!(
                        "UPDATE apps SET status = ?, date_updated = ?, rev = ?, \
                         tokens_valid_after = {GREATEST}(tokens_valid_after, ?) \
                         WHERE sid = ? AND status <> 'deleted'"
                    )))
                    .bind(status.as_str())
                    .bind(now)
                    .bind(rev)
                    .bind($crate::tokens_valid_after(status, now))
                    .bind(sid.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if changed.rows_affected() == 0 {
                        return Err(not_found(sid));
                    }
                    if status == AppStatus::Deleted {
                        sqlx::query(&sql("DELETE FROM app_secrets WHERE app_sid = ?"))
                            .bind(sid.as_str())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    let org = OrgSid::parse(&org).map_err(|_| corrupt("app org"))?;
                    insert_event(&mut tx, &status_event(&org, sid, &before, status, actor)).await?;
                    tx.commit().await.map_err(db_error)?;
                    self.app_in(sid).await?.ok_or_else(|| not_found(sid))
                }

                async fn rotate_app_secret_in(
                    &self,
                    sid: &AppSid,
                    new_hash: &[u8],
                    old_expires_at: Option<i64>,
                    actor: &Actor,
                ) -> Result<App> {
                    let now = time_fmt::now();
                    let mut tx = self.write().await?;
                    let rev = bump(&mut tx, APPS_REVISION).await?;
                    let changed = sqlx::query(&sql(&format!(
                        "UPDATE apps SET date_updated = ?, rev = ?, \
                         tokens_valid_after = {GREATEST}(tokens_valid_after, ?) \
                         WHERE sid = ? AND status <> 'deleted'"
                    )))
                    .bind(now)
                    .bind(rev)
                    .bind(if old_expires_at.is_none() { now + 1 } else { 0 })
                    .bind(sid.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if changed.rows_affected() == 0 {
                        return Err(not_found(sid));
                    }
                    // Only the current secret survives into the overlap window: at most two
                    // stay live.
                    sqlx::query(&sql(&format!(
                        "DELETE FROM app_secrets WHERE app_sid = ? \
                         AND (expires_at IS NOT NULL OR ?{BIGINT} IS NULL)"
                    )))
                    .bind(sid.as_str())
                    .bind(old_expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query(&sql("UPDATE app_secrets SET expires_at = ? WHERE app_sid = ?"))
                        .bind(old_expires_at)
                        .bind(sid.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    sqlx::query(&sql(
                        "INSERT INTO app_secrets (app_sid, hash, expires_at, created_at) \
                         VALUES (?, ?, NULL, ?)",
                    ))
                    .bind(sid.as_str())
                    .bind(new_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let org: String = sqlx::query_scalar(&sql("SELECT org_sid FROM apps WHERE sid = ?"))
                        .bind(sid.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let org = OrgSid::parse(&org).map_err(|_| corrupt("app org"))?;
                    insert_event(&mut tx, &rotation_event(&org, sid, old_expires_at, actor)).await?;
                    tx.commit().await.map_err(db_error)?;
                    self.app_in(sid).await?.ok_or_else(|| not_found(sid))
                }

                /// Apps changed after revision `since`, and the revision they bring the reader
                /// to. One snapshot: every change numbered up to the counter it shows has
                /// committed (bumps order the commits), and the secrets match the app rows.
                async fn apps_since_in(&self, since: i64) -> Result<(Vec<App>, i64)> {
                    let mut tx = self.snapshot().await?;
                    let now: i64 =
                        sqlx::query_scalar(&sql("SELECT value FROM revisions WHERE name = ?"))
                            .bind(APPS_REVISION)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    let rows = sqlx::query(&sql(&format!(
                        "SELECT {APP_COLUMNS} FROM apps WHERE rev > ? AND rev <= ? ORDER BY rev, sid"
                    )))
                    .bind(since)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let mut apps = rows.iter().map(rows::app).collect::<Result<Vec<_>>>()?;
                    attach_secrets(&mut tx, &mut apps).await?;
                    tx.commit().await.map_err(db_error)?;
                    Ok((apps, now))
                }
            }
        };
    };
}
pub(crate) use apps_impl;
