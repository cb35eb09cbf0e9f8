//! Organizations, their accounts and their users: creation (with the audit event), look-ups,
//! the accounts listing, and the first start's bootstrap. Both engines, one definition.

/// The inherent `insert_org`, `bootstrap_in`, `create_org_in`, `org_in`,
/// `create_account_in`, `account_in`, `list_accounts_in`, `render_accounts_in`,
/// `create_user_in` and `user_in` for one engine (see [`crate::store`] for the dialect it uses).
macro_rules! accounts_impl {
    ($store:ty) => {
        const _: () = {
            use orgiam_domain::model::{Account, Actor, App, Org, User};
            use orgiam_domain::page::Cursor;
            use orgiam_domain::rendered::{RenderAccount, RenderedRows};
            use orgiam_domain::sid::{AccountSid, OrgSid, UserSid};
            use orgiam_domain::{Error, Result};
            use sqlx::Row;

            use $crate::db_error;
            use $crate::events::{
                account_created_event, app_created_event, org_created_event, user_created_event,
            };
            use $crate::rows::{self, ACCOUNT_COLUMNS};

            impl $store {
                async fn insert_org(conn: &mut Conn, org: &Org) -> Result<()> {
                    sqlx::query(&sql(
                        "INSERT INTO orgs (sid, friendly_name, date_created) VALUES (?, ?, ?)",
                    ))
                    .bind(org.sid.as_str())
                    .bind(&org.friendly_name)
                    .bind(org.date_created)
                    .execute(conn)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn bootstrap_in(&self, org: &Org, app: &App) -> Result<bool> {
                    let mut tx = self.write().await?;
                    // Racing bootstrappers queue on the marker's unique index (or SQLite's
                    // write lock); only the first gets past.
                    let first = sqlx::query(&sql(
                        "INSERT INTO meta (key, value) VALUES ('bootstrapped', ?) \
                         ON CONFLICT DO NOTHING",
                    ))
                    .bind(org.sid.as_str().as_bytes())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if first.rows_affected() == 0 {
                        tx.commit().await.map_err(db_error)?;
                        return Ok(false);
                    }
                    // "No organization exists" must also hold against `create_org` running
                    // elsewhere (see `lock_orgs`).
                    lock_orgs(&mut tx).await?;
                    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM orgs")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if orgs > 0 {
                        // The marker stays, so this store is never bootstrapped later.
                        tx.commit().await.map_err(db_error)?;
                        return Ok(false);
                    }
                    Self::insert_org(&mut tx, org).await?;
                    Self::insert_app(&mut tx, app).await?;
                    let actor = Actor {
                        sid: "bootstrap".into(),
                        request_id: None,
                    };
                    insert_event(&mut tx, &org_created_event(org, &actor)).await?;
                    insert_event(&mut tx, &app_created_event(app, &actor)).await?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(true)
                }

                async fn create_org_in(&self, org: &Org, actor: &Actor) -> Result<()> {
                    let mut tx = self.write().await?;
                    Self::insert_org(&mut tx, org).await?;
                    insert_event(&mut tx, &org_created_event(org, actor)).await?;
                    tx.commit().await.map_err(db_error)
                }

                async fn org_in(&self, sid: &OrgSid) -> Result<Option<Org>> {
                    let row = sqlx::query(&sql(
                        "SELECT sid, friendly_name, date_created FROM orgs WHERE sid = ?",
                    ))
                    .bind(sid.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    row.map(|r| {
                        Ok(Org {
                            sid: sid.clone(),
                            friendly_name: r.try_get(1).map_err(db_error)?,
                            date_created: r.try_get(2).map_err(db_error)?,
                        })
                    })
                    .transpose()
                }

                async fn create_account_in(&self, account: &Account, actor: &Actor) -> Result<()> {
                    let mut tx = self.write().await?;
                    bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                    sqlx::query(&sql(&format!(
                        "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    )))
                    .bind(account.sid.as_str())
                    .bind(account.org.as_str())
                    .bind(account.parent.as_ref().map(AccountSid::as_str))
                    .bind(&account.friendly_name)
                    .bind(&account.status)
                    .bind(account.owner.as_ref().map(UserSid::as_str))
                    .bind(account.date_created)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_event(&mut tx, &account_created_event(account, actor)).await?;
                    tx.commit()
                        .await
                        .map_err(db_error)
                        .inspect($crate::revisions::access_committed)
                }

                async fn account_in(
                    &self,
                    org: &OrgSid,
                    sid: &AccountSid,
                ) -> Result<Option<Account>> {
                    let row = sqlx::query(&sql(&format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE org_sid = ? AND sid = ?"
                    )))
                    .bind(org.as_str())
                    .bind(sid.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    row.as_ref().map(rows::account).transpose()
                }

                async fn list_accounts_in(
                    &self,
                    org: &OrgSid,
                    cursor: Option<&Cursor>,
                    limit: u32,
                ) -> Result<Vec<Account>> {
                    let (q, desc) = list_accounts_sql(org, cursor, limit);
                    let mut out = self.fetch_rows(q, |r| rows::account(r)).await?;
                    if desc {
                        out.reverse();
                    }
                    Ok(out)
                }

                async fn render_accounts_in(
                    &self,
                    org: &OrgSid,
                    cursor: Option<&Cursor>,
                    limit: u32,
                    render: RenderAccount,
                ) -> Result<RenderedRows> {
                    let (q, desc) = list_accounts_sql(org, cursor, limit);
                    self.render_by_sid(q, desc, &mut |r, out| {
                        let row = rows::account_columns(r)?;
                        out.push(row.sid.to_owned(), &row, render)
                    })
                    .await
                }

                async fn create_user_in(&self, user: &User, actor: &Actor) -> Result<()> {
                    let mut tx = self.write().await?;
                    bump(&mut tx, orgiam_domain::store::ACCESS_REVISION).await?;
                    sqlx::query(&sql(
                        "INSERT INTO users (sid, org_sid, email, friendly_name, date_created) \
                         VALUES (?, ?, ?, ?, ?)",
                    ))
                    .bind(user.sid.as_str())
                    .bind(user.org.as_str())
                    .bind(&user.email)
                    .bind(&user.friendly_name)
                    .bind(user.date_created)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match db_error(e) {
                        Error::Conflict(_) => Error::Conflict(format!(
                            "a user with email {} already exists",
                            user.email
                        )),
                        other => other,
                    })?;
                    scim_fill_user(&mut tx, user).await?;
                    insert_event(&mut tx, &user_created_event(user, actor)).await?;
                    tx.commit()
                        .await
                        .map_err(db_error)
                        .inspect($crate::revisions::access_committed)
                }

                async fn user_in(&self, org: &OrgSid, sid: &UserSid) -> Result<Option<User>> {
                    let row = sqlx::query(&sql(
                        "SELECT sid, email, friendly_name, date_created FROM users \
                         WHERE org_sid = ? AND sid = ?",
                    ))
                    .bind(org.as_str())
                    .bind(sid.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    row.map(|r| {
                        Ok(User {
                            sid: sid.clone(),
                            org: org.clone(),
                            email: r.try_get(1).map_err(db_error)?,
                            friendly_name: r.try_get(2).map_err(db_error)?,
                            date_created: r.try_get(3).map_err(db_error)?,
                        })
                    })
                    .transpose()
                }
            }

            /// A listing's statement, and whether its rows come in descending order.
            fn list_accounts_sql<'a>(
                org: &'a OrgSid,
                cursor: Option<&'a Cursor>,
                limit: u32,
            ) -> (ListSql<'a>, bool) {
                #[allow(unused_imports)] // SQLite builds a `Stmt`; PostgreSQL a `QueryBuilder`
                use $crate::sql::Sql as _;
                let mut q = ListSql::new(format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE org_sid = "
                ));
                q.push_bind(org.as_str());
                let desc = $crate::keyset::push_sid_keyset(&mut q, cursor, limit);
                (q, desc)
            }
        };
    };
}
pub(crate) use accounts_impl;
