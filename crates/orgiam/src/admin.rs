//! The look-up and maintenance commands: `list` and `show` for every object kind, `apps
//! update`, `roles delete`, `assignments`, `users create` on a taken email, `init`, `migrate`
//! and `completions`. Every object prints as one JSON shape whatever the command (the object
//! as the HTTP API shows it, never a secret).

use serde_json::{Value, json};

use orgiam_domain::keyset::{ByName, BySid, CursorKey};
use orgiam_domain::model::{
    Actor, App, AssignmentFilter, MAX_TOKEN_TTL, MIN_TOKEN_TTL, RoleFilter, User, actions,
};
use orgiam_domain::page::{Cursor, Direction};
use orgiam_domain::policy::{Pattern, Policy};
use orgiam_domain::sid::{AccountSid, AppSid, AssignmentSid, OrgSid, RoleSid, UserSid};
use orgiam_domain::time_fmt;
use orgiam_server::assign::{CreateRequest, create_assignment};
use orgiam_server::bootstrap;
use orgiam_server::import::{self, Refusal};
use orgiam_server::manage;
use orgiam_server::views::account_json;
use orgiam_server::views::assignment_json;
use orgiam_server::views::role_json;
use orgiam_store::{AppChange, DatabaseUrl, OpenMode};

use crate::cli::{
    AccountsCommand, AppRef, AppsCommand, AssignmentsCommand, Cli, Command, OrgsCommand, Paging,
    RolesCommand, ShowOrgScoped, UsersCommand,
};
use crate::shared::{
    EXIT_EXISTS, Failure, app_json, audience_args, existing_org, not_found, open, org_json,
    parse_patterns, print, text_arg, user_json,
};

type Outcome = Result<(), Failure>;

/// Every action the audit trail records (a filter naming another one is a mistake, not an
/// empty result).
const AUDIT_ACTIONS: &[&str] = actions::ALL;

/// What [`run`] did with a command.
pub enum Dispatch {
    Done(Outcome),
    /// Not one of these commands: `commands::run` has it.
    Other(Box<Cli>),
}

/// Runs the command if it is one of this module's.
pub async fn run(cli: Cli) -> Dispatch {
    let url = DatabaseUrl::new(cli.database_url.clone());
    let done = match cli.command {
        Command::Init { json } => init(&url, json).await,
        Command::Migrate { json } => migrate(&url, json).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "orgiam", &mut std::io::stdout());
            Ok(())
        }
        Command::Assignments(cmd) => assignments(&url, cmd).await,
        Command::Orgs(OrgsCommand::List(paging)) => list_orgs(&url, paging).await,
        Command::Orgs(OrgsCommand::Show { sid, json }) => show_org(&url, &sid, json).await,
        Command::Apps(AppsCommand::List {
            org,
            deleted,
            paging,
        }) => list_apps(&url, org.as_deref(), deleted, paging).await,
        Command::Apps(AppsCommand::Show(r)) => show_app(&url, r).await,
        Command::Apps(AppsCommand::Update {
            app,
            name,
            description,
            allow,
            deny,
            ttl,
            audience,
            clear_audiences,
        }) => {
            let audiences = (clear_audiences || !audience.is_empty()).then_some(audience);
            update_app(&url, app, name, description, allow, deny, ttl, audiences).await
        }
        Command::Accounts(AccountsCommand::List { org, paging }) => {
            list_accounts(&url, &org, paging).await
        }
        Command::Accounts(AccountsCommand::Show(s)) => show_account(&url, s).await,
        Command::Users(UsersCommand::List { org, email, paging }) => {
            list_users(&url, &org, email, paging).await
        }
        Command::Users(UsersCommand::Show(s)) => show_user(&url, s).await,
        Command::Users(UsersCommand::Activate(r)) => crate::access::set_active(&url, r, true).await,
        Command::Users(UsersCommand::Deactivate(r)) => {
            crate::access::set_active(&url, r, false).await
        }
        Command::Users(UsersCommand::Delete(r)) => crate::access::delete_user(&url, r).await,
        Command::Check(args) => crate::access::check(&url, args).await,
        Command::Users(UsersCommand::Create {
            org,
            email,
            name,
            if_missing,
            json,
        }) => create_user(&url, org, email, name, if_missing, json).await,
        Command::Roles(RolesCommand::List {
            org,
            search,
            product_group,
            paging,
        }) => list_roles(&url, &org, search, product_group, paging).await,
        Command::Roles(RolesCommand::Show(s)) => show_role(&url, s).await,
        Command::Roles(RolesCommand::Delete(s)) => delete_role(&url, s).await,
        Command::Roles(RolesCommand::Create { org, role, json }) => {
            create_role(&url, &org, &role, json).await
        }
        Command::Roles(RolesCommand::Update {
            org,
            sid,
            set,
            if_match,
            json,
        }) => update_role(&url, &org, &sid, &set, if_match.as_deref(), json).await,
        Command::Roles(RolesCommand::Import { org, file, json }) => {
            match refuse_reimport(&url, &org, &file).await {
                Ok(()) => {
                    // The command put back together (the match took it apart).
                    return Dispatch::Other(Box::new(Cli {
                        command: Command::Roles(RolesCommand::Import { org, file, json }),
                        ..cli
                    }));
                }
                Err(e) => Err(e),
            }
        }
        Command::Audit {
            action: Some(ref action),
            ..
        } if !AUDIT_ACTIONS.contains(&action.as_str()) => Err(format!(
            "--action {action} is not an audit action; the actions are: {}",
            AUDIT_ACTIONS.join(", ")
        )
        .into()),
        other => {
            return Dispatch::Other(Box::new(Cli {
                database_url: cli.database_url,
                master_key_file: cli.master_key_file,
                previous_master_key_file: cli.previous_master_key_file,
                command: other,
            }));
        }
    };
    Dispatch::Done(done)
}

async fn init(url: &DatabaseUrl, json: bool) -> Outcome {
    let store = orgiam_store::open(url, OpenMode::Create).await?;
    let master_keys =
        crate::master::resolve(url, &crate::master::configured()?, store.as_ref()).await?;
    bootstrap::ensure_keys(store.as_ref(), &master_keys).await?;
    let version = orgiam_store::schema_version(url);
    print(
        json,
        json!({"store": url.to_string(), "schema_version": version}),
        format!(
            "Store {url} is ready (schema version {version}). Create an organization with `orgiam orgs create`, or start `orgiam serve` to bootstrap one with an app allowed everything."
        ),
    );
    Ok(())
}

async fn migrate(url: &DatabaseUrl, json: bool) -> Outcome {
    orgiam_store::open(url, OpenMode::Migrate).await?;
    let version = orgiam_store::schema_version(url);
    print(
        json,
        json!({"store": url.to_string(), "schema_version": version}),
        format!("Store {url} is at schema version {version}."),
    );
    Ok(())
}

/// Prints one page: JSON `{"<key>": [...], "next_after": SID|null}`, or one line per object
/// and the flag for the next page.
fn print_page(paging: &Paging, key: &str, items: Vec<(Value, String)>, last: Option<String>) {
    let next = (items.len() as u32 == paging.limit)
        .then_some(last)
        .flatten();
    if paging.json {
        let objects: Vec<Value> = items.into_iter().map(|(v, _)| v).collect();
        println!("{}", json!({ key: objects, "next_after": next }));
        return;
    }
    if items.is_empty() {
        println!("No {}.", key.replace('_', " "));
    }
    for (_, line) in &items {
        println!("{line}");
    }
    if let Some(n) = next {
        println!("(more: add --after {n})");
    }
}

async fn list_orgs(url: &DatabaseUrl, paging: Paging) -> Outcome {
    let store = open(url).await?;
    let orgs = store
        .list_orgs(paging.after.as_deref(), paging.limit)
        .await?;
    let last = orgs.last().map(|o| o.sid.to_string());
    let items = orgs
        .iter()
        .map(|o| {
            (
                org_json(o),
                format!(
                    "{}  {}  {}",
                    o.sid,
                    time_fmt::format(o.date_created),
                    o.friendly_name
                ),
            )
        })
        .collect();
    print_page(&paging, "organizations", items, last);
    Ok(())
}

async fn show_org(url: &DatabaseUrl, raw: &str, json: bool) -> Outcome {
    let sid = OrgSid::parse(raw).map_err(|e| format!("organization {e}"))?;
    let store = open(url).await?;
    let org = store.org(&sid).await?.ok_or_else(|| {
        not_found(format!(
            "organization {sid} does not exist in the store {url}"
        ))
    })?;
    let apps = store.list_apps(Some(&sid), false, None, 1000).await?;
    let users = store.list_users(&sid, None, 1000).await?;
    print(
        json,
        org_json(&org),
        format!(
            "{}\n  name:     {}\n  created:  {}\n  apps:     {}\n  users:    {}",
            org.sid,
            org.friendly_name,
            time_fmt::format(org.date_created),
            count(apps.len()),
            count(users.len()),
        ),
    );
    Ok(())
}

fn count(n: usize) -> String {
    if n >= 1000 {
        "1000 or more".into()
    } else {
        n.to_string()
    }
}

fn app_line(a: &App) -> String {
    format!(
        "{}  {}  {:<8}  ttl {:>7}  {}",
        a.sid,
        a.org,
        a.status.as_str(),
        a.access_token_ttl,
        a.friendly_name
    )
}

async fn list_apps(url: &DatabaseUrl, org: Option<&str>, deleted: bool, paging: Paging) -> Outcome {
    let store = open(url).await?;
    let org = match org {
        Some(raw) => Some(existing_org(store.as_ref(), url, raw).await?),
        None => None,
    };
    let apps = store
        .list_apps(org.as_ref(), deleted, paging.after.as_deref(), paging.limit)
        .await?;
    let last = apps.last().map(|a| a.sid.to_string());
    let items = apps.iter().map(|a| (app_json(a), app_line(a))).collect();
    print_page(&paging, "apps", items, last);
    Ok(())
}

fn app_details(a: &App) -> String {
    let patterns = |p: &[Pattern]| p.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ");
    format!(
        "{}\n  organization: {}\n  name:         {}\n  description:  {}\n  status:       {}\n  allow:        {}\n  deny:         {}\n  token ttl:    {} s\n  audiences:    {}\n  created:      {}\n  updated:      {}",
        a.sid,
        a.org,
        a.friendly_name,
        a.description,
        a.status.as_str(),
        patterns(&a.policy.allow),
        a.policy.deny.as_deref().map(patterns).unwrap_or_default(),
        a.access_token_ttl,
        if a.audiences.is_empty() {
            "(this server only)".to_owned()
        } else {
            format!("this server, {}", a.audiences.join(", "))
        },
        time_fmt::format(a.date_created),
        time_fmt::format(a.date_updated),
    )
}

async fn show_app(url: &DatabaseUrl, r: AppRef) -> Outcome {
    let sid = AppSid::parse(&r.app).map_err(|e| format!("--app {e}"))?;
    let store = open(url).await?;
    let app = store
        .app(&sid)
        .await?
        .ok_or_else(|| not_found(format!("OAuth app {sid} does not exist in the store {url}")))?;
    print(r.json, app_json(&app), app_details(&app));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn update_app(
    url: &DatabaseUrl,
    r: AppRef,
    name: Option<String>,
    description: Option<String>,
    allow: Vec<String>,
    deny: Vec<String>,
    ttl: Option<i64>,
    audiences: Option<Vec<String>>,
) -> Outcome {
    let sid = AppSid::parse(&r.app).map_err(|e| format!("--app {e}"))?;
    // `Some(empty)`: --clear-audiences.
    let audiences = audiences.map(|a| audience_args(&a)).transpose()?;
    for (flag, v) in [("--name", &name), ("--description", &description)] {
        if let Some(v) = v {
            text_arg(flag, v)?;
        }
    }
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err("--name must not be blank".into());
    }
    if let Some(t) = ttl
        && !(MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&t)
    {
        return Err(
            format!("--ttl must be between {MIN_TOKEN_TTL} and {MAX_TOKEN_TTL} seconds").into(),
        );
    }
    let policy = if allow.is_empty() {
        None
    } else {
        Some(Policy {
            allow: parse_patterns("allow", &allow)?,
            deny: if deny.is_empty() {
                None
            } else {
                Some(parse_patterns("deny", &deny)?)
            },
        })
    };
    if name.is_none()
        && description.is_none()
        && policy.is_none()
        && ttl.is_none()
        && audiences.is_none()
    {
        return Err(
            "nothing to change: give --name, --description, --allow (with --deny), --ttl, --audience or --clear-audiences".into(),
        );
    }
    let change = AppChange {
        friendly_name: name,
        description,
        policy,
        access_token_ttl: ttl,
        audiences,
    };
    let store = open(url).await?;
    let catalog = orgiam_domain::catalog::Catalog::builtin()?;
    let (app, changed) = manage::update_app(
        store.as_ref(),
        &catalog,
        None,
        &sid,
        change,
        None,
        None,
        &Actor::cli(),
    )
    .await?;
    let human = if changed {
        format!(
            "Updated OAuth app {}; servers apply it within a poll interval.\n{}",
            app.sid,
            app_details(&app)
        )
    } else {
        format!(
            "OAuth app {} already has these settings; nothing changed.",
            app.sid
        )
    };
    print(r.json, app_json(&app), human);
    Ok(())
}

fn sid_cursor(after: Option<&str>) -> Option<Cursor> {
    after.map(|a| BySid(a.to_owned()).cursor(Direction::Next))
}

async fn list_accounts(url: &DatabaseUrl, org: &str, paging: Paging) -> Outcome {
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let accounts = store
        .list_accounts(
            &org,
            sid_cursor(paging.after.as_deref()).as_ref(),
            paging.limit,
        )
        .await?;
    let last = accounts.last().map(|a| a.sid.to_string());
    let items = accounts
        .iter()
        .map(|a| {
            let parent = a
                .parent
                .as_ref()
                .map(|p| format!(" (subaccount of {p})"))
                .unwrap_or_default();
            (
                account_json(a),
                format!("{}  {:<8}  {}{parent}", a.sid, a.status, a.friendly_name),
            )
        })
        .collect();
    print_page(&paging, "accounts", items, last);
    Ok(())
}

async fn show_account(url: &DatabaseUrl, s: ShowOrgScoped) -> Outcome {
    let sid = AccountSid::parse(&s.sid).map_err(|e| format!("account {e}"))?;
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, &s.org).await?;
    let a = store.account(&org, &sid).await?.ok_or_else(|| {
        not_found(format!(
            "account {sid} is not an account of {org} in the store {url}"
        ))
    })?;
    print(
        s.json,
        account_json(&a),
        format!(
            "{}\n  name:    {}\n  status:  {}\n  parent:  {}\n  owner:   {}\n  created: {}",
            a.sid,
            a.friendly_name,
            a.status,
            a.parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            a.owner
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            time_fmt::format(a.date_created)
        ),
    );
    Ok(())
}

fn user_line(u: &User) -> String {
    format!("{}  {}  {}", u.sid, u.email, u.friendly_name)
}

async fn list_users(
    url: &DatabaseUrl,
    org: &str,
    email: Option<String>,
    paging: Paging,
) -> Outcome {
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let users = match email {
        Some(e) => store
            .user_by_email(&org, &e.trim().to_lowercase())
            .await?
            .into_iter()
            .collect(),
        None => {
            store
                .list_users(&org, paging.after.as_deref(), paging.limit)
                .await?
        }
    };
    let last = users.last().map(|u| u.sid.to_string());
    let items = users.iter().map(|u| (user_json(u), user_line(u))).collect();
    print_page(&paging, "users", items, last);
    Ok(())
}

async fn show_user(url: &DatabaseUrl, s: ShowOrgScoped) -> Outcome {
    let sid = UserSid::parse(&s.sid).map_err(|e| format!("user {e}"))?;
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, &s.org).await?;
    let u = store.user(&org, &sid).await?.ok_or_else(|| {
        not_found(format!(
            "user {sid} is not a user of {org} in the store {url}"
        ))
    })?;
    print(
        s.json,
        user_json(&u),
        format!(
            "{}\n  email:   {}\n  name:    {}\n  created: {}",
            u.sid,
            u.email,
            u.friendly_name,
            time_fmt::format(u.date_created)
        ),
    );
    Ok(())
}

/// `users create`: a taken email prints the existing user, and fails with [`EXIT_EXISTS`]
/// unless `--if-missing`.
async fn create_user(
    url: &DatabaseUrl,
    org: String,
    email: String,
    name: Option<String>,
    if_missing: bool,
    json: bool,
) -> Outcome {
    // Anything but a taken email (a bad --org or --email, a missing organization) is for
    // the create itself to report.
    text_arg("--email", &email)?;
    if let Ok(org_sid) = OrgSid::parse(&org) {
        let store = open(url).await?;
        let key = email.trim().to_lowercase();
        if let Some(u) = store.user_by_email(&org_sid, &key).await? {
            if if_missing {
                print(
                    json,
                    user_json(&u),
                    format!("User {} <{}> exists already in {}", u.sid, u.email, u.org),
                );
                return Ok(());
            }
            if json {
                println!("{}", user_json(&u));
            }
            return Err(Failure {
                code: EXIT_EXISTS,
                message: format!(
                    "a user with email {} already exists in {}: {} (with --if-missing this succeeds)",
                    u.email, u.org, u.sid
                ),
            });
        }
    }
    crate::commands::create_user(url, &org, email, name, json)
        .await
        .map_err(Failure::from)
}

fn role_line(r: &orgiam_domain::model::Role) -> String {
    let kind = if r.org.is_some() {
        "custom  "
    } else {
        "built-in"
    };
    format!(
        "{}  {kind}  {:<12}  {}",
        r.sid,
        r.lowest_level.as_str(),
        r.friendly_name
    )
}

async fn list_roles(
    url: &DatabaseUrl,
    org: &str,
    search: Option<String>,
    product_group: Option<String>,
    paging: Paging,
) -> Outcome {
    for (flag, v) in [("--search", &search), ("--product-group", &product_group)] {
        if let Some(v) = v {
            text_arg(flag, v)?;
        }
    }
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let cursor = match paging.after.as_deref() {
        Some(after) => {
            let sid = RoleSid::parse(after).map_err(|e| format!("--after {e}"))?;
            let role = store
                .role(&org, &sid)
                .await?
                .ok_or_else(|| format!("--after {sid} is not a role of {org}"))?;
            Some(ByName::of(&role).cursor(Direction::Next))
        }
        None => None,
    };
    let filter = RoleFilter {
        search: search
            .as_deref()
            .and_then(orgiam_domain::model::Search::new),
        product_group: product_group.filter(|s| !s.trim().is_empty()),
        resource_types: None,
    };
    let roles = store
        .list_roles(&org, &filter, cursor.as_ref(), paging.limit)
        .await?;
    let last = roles.last().map(|r| r.sid.to_string());
    let items = roles.iter().map(|r| (role_json(r), role_line(r))).collect();
    print_page(&paging, "roles", items, last);
    Ok(())
}

async fn show_role(url: &DatabaseUrl, s: ShowOrgScoped) -> Outcome {
    let sid = RoleSid::parse(&s.sid).map_err(|e| format!("role {e}"))?;
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, &s.org).await?;
    let r = store.role(&org, &sid).await?.ok_or_else(|| {
        not_found(format!(
            "role {sid} is not a role of {org} in the store {url}"
        ))
    })?;
    let patterns = |p: &[Pattern]| {
        p.iter()
            .map(|x| format!("\n    {}", x.as_str()))
            .collect::<String>()
    };
    print(
        s.json,
        role_json(&r),
        format!(
            "{}\n  name:          {}\n  kind:          {}\n  description:   {}\n  product group: {}\n  lowest level:  {}\n  allow:{}\n  deny:{}",
            r.sid,
            r.friendly_name,
            if r.org.is_some() {
                "custom"
            } else {
                "built-in"
            },
            r.external_description,
            r.product_group,
            r.lowest_level.as_str(),
            patterns(&r.policy.allow),
            r.policy.deny.as_deref().map(patterns).unwrap_or_default(),
        ),
    );
    Ok(())
}

async fn delete_role(url: &DatabaseUrl, s: ShowOrgScoped) -> Outcome {
    let sid = RoleSid::parse(&s.sid).map_err(|e| format!("role {e}"))?;
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, &s.org).await?;
    manage::delete_role(store.as_ref(), &org, &sid, &Actor::cli()).await?;
    print(
        s.json,
        json!({"sid": sid.as_str(), "deleted": true}),
        format!("Deleted custom role {sid} of {org}."),
    );
    Ok(())
}

/// A `--role`/`--set` JSON object, checked by the text rule as the HTTP body would be.
fn role_body(flag: &str, raw: &str) -> Result<Value, Failure> {
    let body: Value =
        serde_json::from_str(raw).map_err(|e| format!("{flag} is not valid JSON: {e}"))?;
    if !body.is_object() {
        return Err(format!("{flag} must be a JSON object").into());
    }
    orgiam_domain::text::check_json(&body, &["external_description"])?;
    Ok(body)
}

fn role_with_etag(r: &orgiam_domain::model::Role) -> Value {
    let mut v = role_json(r);
    v["etag"] = Value::from(orgiam_domain::role_edit::etag(r));
    v
}

async fn create_role(url: &DatabaseUrl, org: &str, raw: &str, json: bool) -> Outcome {
    let body = role_body("--role", raw)?;
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let catalog = orgiam_domain::catalog::Catalog::builtin()?;
    let role = manage::create_role(store.as_ref(), &catalog, &org, &body, &Actor::cli()).await?;
    print(
        json,
        role_with_etag(&role),
        format!(
            "Created custom role {} ({}) in {org}; ETag {}.",
            role.sid,
            role.friendly_name,
            orgiam_domain::role_edit::etag(&role)
        ),
    );
    Ok(())
}

async fn update_role(
    url: &DatabaseUrl,
    org: &str,
    sid: &str,
    raw: &str,
    if_match: Option<&str>,
    json: bool,
) -> Outcome {
    let sid = RoleSid::parse(sid).map_err(|e| format!("role {e}"))?;
    let body = role_body("--set", raw)?;
    if let Some(tag) = if_match {
        text_arg("--if-match", tag)?;
    }
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let catalog = orgiam_domain::catalog::Catalog::builtin()?;
    // The operator may change a role unconditionally.
    let (role, changed) = manage::update_role(
        store.as_ref(),
        &catalog,
        &org,
        &sid,
        &body,
        Some(if_match.unwrap_or("*")),
        &Actor::cli(),
    )
    .await?;
    let human = if changed {
        format!(
            "Updated custom role {sid}; ETag {}.",
            orgiam_domain::role_edit::etag(&role)
        )
    } else {
        format!("Custom role {sid} already has these settings; nothing changed.")
    };
    print(json, role_with_etag(&role), human);
    Ok(())
}

/// Refuses an import whose roles' names (the import's key, compared case-insensitively) the
/// organization already uses, or that repeats a name.
async fn refuse_reimport(url: &DatabaseUrl, org: &str, file: &std::path::Path) -> Outcome {
    let store = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    match import::refuse_reimport(store.as_ref(), &org, reader).await {
        Ok(()) => Ok(()),
        Err(Refusal::Read(e)) => Err(format!("cannot read {}: {e}", file.display()).into()),
        Err(Refusal::Store(e)) => Err(e.into()),
        Err(Refusal::Repeated(name)) => Err(format!(
            "{} names the role '{name}' more than once (a role's friendly name is its key); nothing was imported",
            file.display()
        )
        .into()),
        Err(Refusal::Taken(taken)) => {
            let shown: Vec<&str> = taken.iter().take(5).map(String::as_str).collect();
            Err(Failure {
                code: EXIT_EXISTS,
                message: format!(
                    "{} of the roles in {} exist already in {org} (same friendly name, case-insensitive), e.g. {}: nothing was imported. Remove them from the file (or delete them with `orgiam roles delete`) and import again",
                    taken.len(),
                    file.display(),
                    shown.join(", ")
                ),
            })
        }
    }
}

async fn assignments(url: &DatabaseUrl, cmd: AssignmentsCommand) -> Outcome {
    match cmd {
        AssignmentsCommand::Create {
            org,
            role,
            scope,
            identity,
            resource_type,
            resource_id,
            json,
        } => {
            let role_sid = RoleSid::parse(&role).map_err(|e| format!("--role {e}"))?;
            for (flag, v) in [
                ("--scope", Some(&scope)),
                ("--identity", Some(&identity)),
                ("--resource-type", resource_type.as_ref()),
                ("--resource-id", resource_id.as_ref()),
            ] {
                if let Some(v) = v {
                    text_arg(flag, v)?;
                }
            }
            let store = open(url).await?;
            let org = existing_org(store.as_ref(), url, &org).await?;
            let request = CreateRequest {
                role_sid,
                scope,
                identity,
                resource_type: resource_type.filter(|s| !s.is_empty()),
                resource_id: resource_id.filter(|s| !s.is_empty()),
            };
            let a = create_assignment(store.as_ref(), &org, request, &Actor::cli()).await?;
            print(
                json,
                assignment_json(&a),
                format!(
                    "Created role assignment {}: {} has {} at {}",
                    a.sid, a.identity, a.role, a.scope
                ),
            );
            Ok(())
        }
        AssignmentsCommand::Delete(s) => {
            let sid = AssignmentSid::parse(&s.sid).map_err(|e| format!("role assignment {e}"))?;
            let store = open(url).await?;
            let org = existing_org(store.as_ref(), url, &s.org).await?;
            if !store.delete_assignment(&org, &sid, &Actor::cli()).await? {
                return Err(not_found(format!(
                    "role assignment {sid} is not an assignment of {org} in the store {url}"
                )));
            }
            print(
                s.json,
                json!({"sid": sid.as_str(), "deleted": true}),
                format!("Deleted role assignment {sid}."),
            );
            Ok(())
        }
        AssignmentsCommand::List {
            org,
            identity,
            scope,
            paging,
        } => {
            for (flag, v) in [("--identity", &identity), ("--scope", &scope)] {
                if let Some(v) = v {
                    text_arg(flag, v)?;
                }
            }
            let store = open(url).await?;
            let org = existing_org(store.as_ref(), url, &org).await?;
            let filter = AssignmentFilter {
                identity: identity.filter(|s| !s.is_empty()),
                scope: scope.filter(|s| !s.is_empty()),
                resource_type: None,
                resource_id: None,
            };
            let rows = store
                .list_assignments(
                    &org,
                    &filter,
                    sid_cursor(paging.after.as_deref()).as_ref(),
                    paging.limit,
                )
                .await?;
            let last = rows.last().map(|a| a.sid.to_string());
            let items = rows
                .iter()
                .map(|a| {
                    let resource = match (&a.resource_type, &a.resource_id) {
                        (Some(t), Some(i)) => format!("  on {t} {i}"),
                        _ => String::new(),
                    };
                    (
                        assignment_json(a),
                        format!(
                            "{}  {}  {}  at {}{resource}",
                            a.sid, a.identity, a.role, a.scope
                        ),
                    )
                })
                .collect();
            print_page(&paging, "role_assignments", items, last);
            Ok(())
        }
    }
}
