//! Revoked access tokens: one implementation for both engines (the statements are written once
//! with `?` placeholders, as in [`crate::directory`]). The engines' `Store` implementations
//! delegate `revoke_token` and `revoked_since` to the methods this macro generates.

/// Inherent `revoke_token_in` and `revoked_since_in` for one engine: `$sql` turns `?` SQL into
/// the engine's, `$begin` opens a write transaction on the pool; `bump` and `insert_event` are
/// the engine module's own.
macro_rules! revocations_impl {
    ($store:ty, $sql:path, $begin:ident ( $($arg:expr),* )) => {
        impl $store {
            async fn revoke_token_in(
                &self,
                token: &orgiam_domain::model::RevokedToken,
                actor: &orgiam_domain::model::Actor,
            ) -> orgiam_domain::Result<bool> {
                let now = orgiam_domain::time_fmt::now();
                let mut tx = self.pool.$begin($($arg),*).await.map_err($crate::db_error)?;
                let rev = bump(&mut tx, orgiam_domain::store::REVOCATIONS_REVISION).await?;
                // Entries of tokens that have expired anyway are not needed any more.
                sqlx::query(&$sql("DELETE FROM revoked_tokens WHERE expires_at < ?"))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::db_error)?;
                let inserted = sqlx::query(&$sql(
                    "INSERT INTO revoked_tokens (jti, org_sid, app_sid, expires_at, rev, date_created) \
                     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING",
                ))
                .bind(&token.jti)
                .bind(token.org.as_str())
                .bind(token.app.as_str())
                .bind(token.expires_at)
                .bind(rev)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err($crate::db_error)?
                .rows_affected();
                if inserted == 0 {
                    // Revoked before: nothing to write (the transaction and its bump roll back).
                    drop(tx);
                    return Ok(false);
                }
                insert_event(&mut tx, &$crate::events::token_revoked_event(token, actor)).await?;
                tx.commit().await.map_err($crate::db_error)?;
                Ok(true)
            }

            async fn revoked_since_in(
                &self,
                since: i64,
                now: i64,
            ) -> orgiam_domain::Result<(Vec<orgiam_domain::model::RevokedToken>, i64)> {
                use sqlx::Row;
                // The counter first: every entry numbered up to it has committed (a bump is its
                // transaction's first write, so they commit in the order of their numbers).
                let upto: i64 =
                    sqlx::query_scalar(&$sql("SELECT value FROM revisions WHERE name = ?"))
                        .bind(orgiam_domain::store::REVOCATIONS_REVISION)
                        .fetch_one(&self.pool)
                        .await
                        .map_err($crate::db_error)?;
                let rows = sqlx::query(&$sql(
                    "SELECT jti, org_sid, app_sid, expires_at FROM revoked_tokens \
                     WHERE rev > ? AND rev <= ? AND expires_at >= ?",
                ))
                .bind(since)
                .bind(upto)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::db_error)?;
                let tokens = rows
                    .iter()
                    .map(|r| {
                        let org: String = r.try_get(1).map_err($crate::db_error)?;
                        let app: String = r.try_get(2).map_err($crate::db_error)?;
                        Ok(orgiam_domain::model::RevokedToken {
                            jti: r.try_get(0).map_err($crate::db_error)?,
                            org: orgiam_domain::sid::OrgSid::parse(&org)
                                .map_err(|_| $crate::rows::corrupt("revoked token org"))?,
                            app: orgiam_domain::sid::AppSid::parse(&app)
                                .map_err(|_| $crate::rows::corrupt("revoked token app"))?,
                            expires_at: r.try_get(3).map_err($crate::db_error)?,
                        })
                    })
                    .collect::<orgiam_domain::Result<Vec<_>>>()?;
                Ok((tokens, upto))
            }
        }
    };
}
pub(crate) use revocations_impl;
