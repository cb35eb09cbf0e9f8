//! The server's keys: the page-token and secret-sealing keys in `meta`, the token signing
//! keys, their rotation, and re-sealing them under a new master key. Both engines, one
//! definition (each engine wraps [`reseal_rows`](crate::store) in its own transaction and
//! clean-up).

/// The inherent `init_keys_in`, `server_keys_in`, `signing_keys_in`,
/// `rotate_signing_key_in`, `insert_signing_key` and `reseal_rows` for one engine (see
/// [`crate::store`] for the dialect it uses).
macro_rules! keys_impl {
    ($store:ty) => {
        const _: () = {
            use orgiam_domain::model::{
                Actor, MAX_TOKEN_TTL, ServerKeys, SigningKey, key_slots,
            };
            use orgiam_domain::sid::KeySid;
            use orgiam_domain::store::{KEYS_REVISION, Resealer};
            use orgiam_domain::{Error, Result, time_fmt};
            use sqlx::Row;

            use $crate::events::key_event;
            use $crate::rows::corrupt;
            use $crate::db_error;

            impl $store {
                async fn insert_signing_key(tx: &mut Conn, k: &SigningKey) -> Result<()> {
                    sqlx::query(&sql(
                        "INSERT INTO signing_keys (kid, private_der, public_raw, created_at, \
                         retired_at) VALUES (?, ?, ?, ?, ?)",
                    ))
                    .bind(k.kid.as_str())
                    .bind(&k.private_der)
                    .bind(&k.public_raw)
                    .bind(k.created_at)
                    .bind(k.retired_at)
                    .execute(tx)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn init_keys_in(&self, keys: &ServerKeys, key: &SigningKey) -> Result<()> {
                    let mut tx = self.write().await?;
                    // The gate: on PostgreSQL a racing caller blocks on the unique index until
                    // the winner commits, then inserts nothing and leaves (its transaction
                    // rolls back unused).
                    let fresh = sqlx::query(&sql(
                        "INSERT INTO meta (key, value) VALUES ('page_key', ?) ON CONFLICT DO NOTHING",
                    ))
                    .bind(&keys.page_key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if fresh.rows_affected() == 0 {
                        return Ok(());
                    }
                    sqlx::query(&sql("INSERT INTO meta (key, value) VALUES ('secret_key', ?)"))
                        .bind(&keys.secret_key)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    bump(&mut tx, KEYS_REVISION).await?;
                    Self::insert_signing_key(&mut tx, key).await?;
                    tx.commit().await.map_err(db_error)
                }

                async fn server_keys_in(&self) -> Result<ServerKeys> {
                    let get = |key: &'static str| async move {
                        sqlx::query_scalar::<_, Vec<u8>>(&sql("SELECT value FROM meta WHERE key = ?"))
                            .bind(key)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_error)?
                            .ok_or_else(|| {
                                Error::internal(format!("the store has no {key}: not initialized"))
                            })
                    };
                    Ok(ServerKeys {
                        page_key: get("page_key").await?,
                        secret_key: get("secret_key").await?,
                    })
                }

                async fn signing_keys_in(&self) -> Result<Vec<SigningKey>> {
                    let rows = sqlx::query(
                        "SELECT kid, private_der, public_raw, created_at, retired_at FROM signing_keys \
                         ORDER BY created_at DESC, kid",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    rows.iter()
                        .map(|r| {
                            Ok(SigningKey {
                                kid: KeySid::parse(&r.try_get::<String, _>(0).map_err(db_error)?)
                                    .map_err(|_| corrupt("key id"))?,
                                private_der: r.try_get(1).map_err(db_error)?,
                                public_raw: r.try_get(2).map_err(db_error)?,
                                created_at: r.try_get(3).map_err(db_error)?,
                                retired_at: r.try_get(4).map_err(db_error)?,
                            })
                        })
                        .collect()
                }

                async fn rotate_signing_key_in(
                    &self,
                    key: &SigningKey,
                    revoke_old: bool,
                    actor: &Actor,
                ) -> Result<()> {
                    let now = time_fmt::now();
                    let mut tx = self.write().await?;
                    bump(&mut tx, KEYS_REVISION).await?;
                    let old: Vec<String> = sqlx::query_scalar(if revoke_old {
                        "SELECT kid FROM signing_keys ORDER BY kid"
                    } else {
                        "SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY kid"
                    })
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if revoke_old {
                        sqlx::query("DELETE FROM signing_keys")
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    } else {
                        sqlx::query(&sql(
                            "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL",
                        ))
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        sqlx::query(&sql("DELETE FROM signing_keys WHERE retired_at < ?"))
                            .bind(now - MAX_TOKEN_TTL - 60)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    Self::insert_signing_key(&mut tx, key).await?;
                    insert_event(&mut tx, &key_event(key, &old, revoke_old, actor)).await?;
                    tx.commit().await.map_err(db_error)
                }

                /// Re-seals the keys in `meta` and the signing keys with `f`, in the caller's
                /// write transaction (rows locked on PostgreSQL); how many changed.
                async fn reseal_rows(tx: &mut Conn, f: &Resealer<'_>) -> Result<usize> {
                    let mut changed = 0;
                    for (slot, name) in [
                        (key_slots::PAGE_KEY, "page_key"),
                        (key_slots::SECRET_KEY, "secret_key"),
                    ] {
                        let value: Option<Vec<u8>> = sqlx::query_scalar(&sql(&format!(
                            "SELECT value FROM meta WHERE key = ?{FOR_UPDATE}"
                        )))
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        if let Some(new) = value.map(|v| f(slot, &v)).transpose()?.flatten() {
                            sqlx::query(&sql("UPDATE meta SET value = ? WHERE key = ?"))
                                .bind(new)
                                .bind(name)
                                .execute(&mut *tx)
                                .await
                                .map_err(db_error)?;
                            changed += 1;
                        }
                    }
                    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(&format!(
                        "SELECT kid, private_der FROM signing_keys ORDER BY kid{FOR_UPDATE}"
                    ))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    for (kid, value) in rows {
                        if let Some(new) = f(&key_slots::signing_key(&kid), &value)? {
                            sqlx::query(&sql("UPDATE signing_keys SET private_der = ? WHERE kid = ?"))
                                .bind(new)
                                .bind(&kid)
                                .execute(&mut *tx)
                                .await
                                .map_err(db_error)?;
                            changed += 1;
                        }
                    }
                    Ok(changed)
                }
            }
        };
    };
}
pub(crate) use keys_impl;
