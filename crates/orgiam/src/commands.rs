//! What each command does.

use std::net::SocketAddr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use orgiam_domain::model::{
    Account, Actor, AppStatus, AuditFilter, MAX_TOKEN_TTL, MIN_TOKEN_TTL, Org, User,
};
use orgiam_domain::policy::Policy;
use orgiam_domain::secret;
use orgiam_domain::sid::{AccountSid, AppSid, OrgSid, UserSid};
use orgiam_domain::time_fmt;
use orgiam_server::bootstrap::{self, Bootstrapped};
use orgiam_server::import::{self, ImportError};
use orgiam_server::manage;
use orgiam_server::{Application, ServerConfig};
use orgiam_store::{AppChange, DatabaseUrl, Directory, OpenMode};

use crate::cli::{
    AccountsCommand, AppRef, AppsCommand, Cli, Command, KeysCommand, OrgsCommand, RolesCommand,
    ServeArgs, TokenArgs, UsersCommand,
};
use crate::master;
use crate::settings::{ENV_SETTINGS, Settings};
use crate::shared::{
    app_json, audience_args, fail, org_json, parse_patterns, print, text_arg, user_json,
};

type CmdResult = Result<(), String>;

pub async fn run(cli: Cli) -> CmdResult {
    let url = DatabaseUrl::new(cli.database_url);
    match cli.command {
        Command::Serve(args) => serve(url, args).await,
        Command::Orgs(OrgsCommand::Create { name, json }) => create_org(&url, name, json).await,
        Command::Apps(cmd) => apps(&url, cmd).await,
        Command::Accounts(AccountsCommand::Create {
            org,
            name,
            parent,
            owner,
            json,
        }) => create_account(&url, &org, name, parent.as_deref(), owner.as_deref(), json).await,
        Command::Users(UsersCommand::Create {
            org,
            email,
            name,
            json,
            ..
        }) => create_user(&url, &org, email, name, json).await,
        Command::Roles(RolesCommand::Import { org, file, json }) => {
            import_roles(&url, &org, &file, json).await
        }
        Command::Keys(KeysCommand::Rotate { revoke_old, json }) => {
            rotate_key(&url, revoke_old, json).await
        }
        Command::Keys(KeysCommand::RotateMaster { new_key_file, json }) => {
            master::rotate_master(&url, &new_key_file, json).await
        }
        Command::Keys(KeysCommand::NewMasterKey { out, json }) => {
            master::new_master_key(&out, json)
        }
        Command::Audit {
            org,
            action,
            actor,
            target,
            limit,
            json,
        } => {
            for (flag, v) in [
                ("--action", &action),
                ("--actor", &actor),
                ("--target", &target),
            ] {
                if let Some(v) = v {
                    text_arg(flag, v)?;
                }
            }
            let filter = AuditFilter {
                action,
                actor,
                target,
                since: None,
                until: None,
                // The operator's view: the organization's events and the install-wide ones.
                install_wide: true,
            };
            audit(&url, &org, filter, limit, json).await
        }
        Command::Token(args) => token(args).await,
        // The look-up and maintenance commands (`crate::admin`) never reach here.
        _ => Err("this command is handled elsewhere".into()),
    }
}

fn settings(args: &ServeArgs) -> Result<Settings, String> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = &args.config {
        crate::validate::config_file(path)?;
        fig = fig.merge(Toml::file(path));
    }
    fig = fig.merge(Env::prefixed("ORGIAM_").only(ENV_SETTINGS));
    if let Ok(list) = std::env::var("ORGIAM_CORS_ALLOWED_ORIGINS") {
        let origins: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        fig = fig.merge(Serialized::default("cors_allowed_origins", origins));
    }
    let overrides: Vec<(&str, Option<&String>)> = vec![
        ("listen", args.listen.as_ref()),
        ("public_url", args.public_url.as_ref()),
        ("log_format", args.log_format.as_ref()),
    ];
    for (key, value) in overrides {
        if let Some(v) = value {
            fig = fig.merge(Serialized::default(key, v));
        }
    }
    fig.extract().map_err(|e| format!("invalid settings: {e}"))
}

/// Whether `--database-url` or `ORGIAM_DATABASE_URL` chose the store (a settings file may
/// then not).
fn database_url_given() -> bool {
    std::env::var_os("ORGIAM_DATABASE_URL").is_some()
        || std::env::args_os().any(|a| a.to_string_lossy().starts_with("--database-url"))
}

fn init_logging(format: &str) -> Result<(), String> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("ORGIAM_LOG") {
        Ok(value) if !value.trim().is_empty() => {
            crate::validate::log_filter(&value)?;
            EnvFilter::try_new(&value).map_err(|e| format!("ORGIAM_LOG: {e}"))?
        }
        _ => EnvFilter::new("info,sqlx=warn"),
    };
    // Colour only for a person at a terminal: never into files, pipes or journald, never with
    // NO_COLOR (https://no-color.org), never in JSON.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::stderr().is_terminal() && !no_color;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().with_ansi(false).init(),
        "text" => builder.init(),
        other => return Err(format!("log_format must be text or json, not '{other}'")),
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled, so a signal sent right after "listening on" is printed is a
/// graceful shutdown too.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// The base URL a person on this machine would use.
fn display_base(public_url: Option<&str>, addr: SocketAddr) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    format!("http://{host}")
}

fn print_bootstrap(b: &Bootstrapped, base: &str) {
    let token_cmd = format!(
        "curl -s -X POST '{base}/v2/token' -d grant_type=client_credentials -d client_id={} -d client_secret={}",
        b.client_id, b.client_secret
    );
    println!(
        "orgiam: this is a new install; bootstrapped organization {} with an OAuth app allowed everything.",
        b.org
    );
    println!("  client_id:     {}", b.client_id);
    println!("  client_secret: {}", b.client_secret);
    println!("The client secret is shown only this once: store it now.");
    println!();
    println!("Get an access token:");
    println!("  {token_cmd}");
    println!();
    println!("List roles with it:");
    println!(
        "  TOKEN=$({token_cmd} | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/') && curl -s '{base}/v2/Organizations/Roles' -H \"Authorization: Bearer $TOKEN\""
    );
    println!();
}

async fn serve(url: DatabaseUrl, args: ServeArgs) -> CmdResult {
    let settings = settings(&args)?;
    let url = match &settings.database_url {
        Some(from_file) if !database_url_given() => DatabaseUrl::new(from_file.clone()),
        _ => url,
    };
    init_logging(&settings.log_format)?;
    let listen: SocketAddr = settings.listen.parse().map_err(|_| {
        format!(
            "listen must be an address like 127.0.0.1:8080, not '{}'",
            settings.listen
        )
    })?;
    if let Some(u) = &settings.public_url {
        let ok = url::Url::parse(u)
            .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.has_host());
        if !ok {
            return Err(format!(
                "public_url must be an absolute http(s) URL, not '{u}'"
            ));
        }
    }
    for origin in &settings.cors_allowed_origins {
        orgiam_server::cors::check_origin(origin)?;
    }
    // Bind first: a start that cannot serve must not write anything (least of all bootstrap
    // credentials nobody would see).
    let listener = orgiam_server::bind(listen).await.map_err(fail)?;
    tracing::info!(database = %url, "opening the store");
    let mode = if args.no_migrate {
        OpenMode::Existing
    } else {
        OpenMode::Create
    };
    let store_options = orgiam_store::StoreOptions {
        statement_timeout: (settings.statement_timeout_ms > 0)
            .then(|| Duration::from_millis(settings.statement_timeout_ms)),
        ..Default::default()
    };
    let store: std::sync::Arc<dyn orgiam_store::Directory> =
        orgiam_store::open_with(&url, mode, &store_options)
            .await
            .map_err(fail)?;
    let key_config = master::configured()?.or_config_file(
        settings.master_key.clone().map(|k| k.0),
        settings.master_key_file.clone(),
        settings.previous_master_key.clone().map(|k| k.0),
        settings.previous_master_key_file.clone(),
    )?;
    let master_keys = master::resolve(&url, &key_config, store.as_ref()).await?;
    let bootstrapped = bootstrap::bootstrap(store.as_ref(), &master_keys)
        .await
        .map_err(fail)?;
    let config = ServerConfig {
        listen,
        public_url: settings.public_url.clone(),
        poll_interval: Duration::from_millis(settings.poll_interval_ms.max(10)),
        limits: settings.limits(),
        role_page_cache: settings.role_page_cache,
        decision_index: settings.decision_index,
        metrics_listen: match &settings.metrics_listen {
            None => None,
            Some(m) => Some(m.parse().map_err(|_| {
                format!("metrics_listen must be an address like 127.0.0.1:9090, not '{m}'")
            })?),
        },
        master_keys,
        cors_allowed_origins: settings.cors_allowed_origins.clone(),
    };
    let app = Application::build_on(listener, config, store)
        .await
        .map_err(fail)?;
    let shutdown = shutdown_signal();
    let base = display_base(settings.public_url.as_deref(), app.local_addr());
    match &bootstrapped {
        Some(b) => print_bootstrap(b, &base),
        None => println!("orgiam: store already initialized; no new credentials were created."),
    }
    // The address actually bound; and, when that is every interface, one to reach it here.
    let bound = app.local_addr();
    let local = display_base(None, bound);
    let reach = if bound.ip().is_unspecified() {
        format!("reach it here at {local}; ")
    } else {
        String::new()
    };
    match &settings.public_url {
        Some(public) => {
            println!(
                "orgiam: listening on http://{bound} ({reach}public URL {public}; store: {url})"
            )
        }
        None => println!("orgiam: listening on http://{bound} ({reach}store: {url})"),
    }
    app.run_until(shutdown).await.map_err(fail)?;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the store for an administrative command, with its keys in place.
async fn open(
    url: &DatabaseUrl,
) -> Result<(std::sync::Arc<dyn Directory>, secret::SecretHasher), String> {
    let (store, _, hasher) = open_keys(url).await?;
    Ok((store, hasher))
}

/// [`open`], with the master keys the store's keys are sealed with.
async fn open_keys(
    url: &DatabaseUrl,
) -> Result<
    (
        std::sync::Arc<dyn Directory>,
        orgiam_server::master_key::MasterKeys,
        secret::SecretHasher,
    ),
    String,
> {
    // Only `serve` and `init` create a store, and only they and `migrate` change its schema.
    let store: std::sync::Arc<dyn Directory> = orgiam_store::open(url, OpenMode::Existing)
        .await
        .map_err(fail)?;
    let master_keys = master::resolve(url, &master::configured()?, store.as_ref()).await?;
    let hasher = bootstrap::ensure_keys(store.as_ref(), &master_keys)
        .await
        .map_err(fail)?;
    Ok((store, master_keys, hasher))
}

async fn create_org(url: &DatabaseUrl, name: String, json: bool) -> CmdResult {
    if name.trim().is_empty() {
        return Err("--name must not be blank".into());
    }
    text_arg("--name", &name)?;
    let (store, _) = open(url).await?;
    let org = Org {
        sid: OrgSid::random(),
        friendly_name: name,
        date_created: time_fmt::now(),
    };
    store.create_org(&org, &Actor::cli()).await.map_err(fail)?;
    print(
        json,
        org_json(&org),
        format!("Created organization {} ({})", org.sid, org.friendly_name),
    );
    Ok(())
}

fn app_sid(raw: &str) -> Result<AppSid, String> {
    AppSid::parse(raw).map_err(|e| format!("--app {e}"))
}

async fn apps(url: &DatabaseUrl, cmd: AppsCommand) -> CmdResult {
    match cmd {
        AppsCommand::Create {
            org,
            name,
            allow,
            deny,
            ttl,
            description,
            audience,
            json,
        } => {
            let audiences = audience_args(&audience)?;
            let org = OrgSid::parse(&org).map_err(|e| format!("--org {e}"))?;
            text_arg("--name", &name)?;
            orgiam_domain::text::check_free("--description", &description).map_err(fail)?;
            if !(MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&ttl) {
                return Err(format!(
                    "--ttl must be between {MIN_TOKEN_TTL} and {MAX_TOKEN_TTL} seconds"
                ));
            }
            let policy = Policy {
                allow: parse_patterns("allow", &allow)?,
                deny: if deny.is_empty() {
                    None
                } else {
                    Some(parse_patterns("deny", &deny)?)
                },
            };
            let (store, hasher) = open(url).await?;
            let org = existing_org(store.as_ref(), url, org.as_str()).await?;
            let new = manage::NewApp {
                friendly_name: name,
                description,
                policy,
                access_token_ttl: ttl,
                audiences,
            };
            let (app, client_secret) = manage::create_app(
                store.as_ref(),
                &hasher,
                &catalog()?,
                &org,
                new,
                None,
                &Actor::cli(),
            )
            .await
            .map_err(fail)?;
            print(
                json,
                with_secret(&app, &client_secret),
                format!(
                    "Created OAuth app {} in {org}.\n  client_id:     {}\n  client_secret: {client_secret}\nThe client secret is shown only this once.",
                    app.friendly_name, app.sid
                ),
            );
            Ok(())
        }
        AppsCommand::Disable(r) => set_status(url, r, AppStatus::Disabled).await,
        AppsCommand::Enable(r) => set_status(url, r, AppStatus::Active).await,
        AppsCommand::Delete(r) => set_status(url, r, AppStatus::Deleted).await,
        AppsCommand::RotateSecret { app, grace } => {
            let sid = app_sid(&app.app)?;
            let (store, hasher) = open(url).await?;
            let (rotated, client_secret) = manage::rotate_secret(
                store.as_ref(),
                &hasher,
                &catalog()?,
                None,
                &sid,
                i64::from(grace),
                None,
                &Actor::cli(),
            )
            .await
            .map_err(fail)?;
            print(
                app.json,
                with_secret(&rotated, &client_secret),
                format!(
                    "Rotated the secret of {sid}; the old one works for {grace} more seconds.\n  client_id:     {sid}\n  client_secret: {client_secret}\nThe client secret is shown only this once."
                ),
            );
            Ok(())
        }
        // `list`, `show` and `update` are `crate::admin`'s.
        _ => Err("this command is handled elsewhere".into()),
    }
}

/// The built-in catalog (the management service names its permissions).
fn catalog() -> Result<orgiam_domain::catalog::Catalog, String> {
    orgiam_domain::catalog::Catalog::builtin()
}

/// The app object with the secret just issued (shown this once).
fn with_secret(app: &orgiam_domain::model::App, client_secret: &str) -> serde_json::Value {
    let mut v = app_json(app);
    v["client_secret"] = serde_json::Value::from(client_secret);
    v
}

async fn set_status(url: &DatabaseUrl, r: AppRef, status: AppStatus) -> CmdResult {
    let sid = app_sid(&r.app)?;
    let (store, _) = open(url).await?;
    let app = if status == AppStatus::Deleted {
        manage::delete_app(store.as_ref(), None, &sid, None, &Actor::cli()).await
    } else {
        manage::update_app(
            store.as_ref(),
            &catalog()?,
            None,
            &sid,
            AppChange::default(),
            Some(status),
            None,
            &Actor::cli(),
        )
        .await
        .map(|(app, _)| app)
    }
    .map_err(fail)?;
    print(
        r.json,
        app_json(&app),
        format!("OAuth app {} is now {}", app.sid, app.status.as_str()),
    );
    Ok(())
}

async fn token(args: TokenArgs) -> CmdResult {
    let endpoint = format!("{}/v2/token", args.url.trim_end_matches('/'));
    let res = reqwest::Client::new()
        .post(&endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", args.client_id.as_str()),
            ("client_secret", args.client_secret.as_str()),
        ])
        .send()
        .await
        .map_err(|e| format!("cannot reach {endpoint}: {e}"))?;
    let status = res.status();
    let body: serde_json::Value = res
        .json()
        .await
        .map_err(|e| format!("{endpoint} answered {status} without JSON: {e}"))?;
    if !status.is_success() {
        let why = body
            .get("error_description")
            .or_else(|| body.get("message"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        return Err(format!("the server refused ({status}): {why}"));
    }
    if args.json {
        println!("{body}");
    } else {
        println!(
            "{}",
            body.get("access_token")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// [`crate::shared::existing_org`], its failure as this module's message.
async fn existing_org(
    store: &dyn Directory,
    url: &DatabaseUrl,
    raw: &str,
) -> Result<OrgSid, String> {
    crate::shared::existing_org(store, url, raw)
        .await
        .map_err(|f| f.message)
}

async fn create_account(
    url: &DatabaseUrl,
    org: &str,
    name: String,
    parent: Option<&str>,
    owner: Option<&str>,
    json: bool,
) -> CmdResult {
    let parent = parent
        .map(AccountSid::parse)
        .transpose()
        .map_err(|e| format!("--parent {e}"))?;
    let owner = owner
        .map(UserSid::parse)
        .transpose()
        .map_err(|e| format!("--owner {e}"))?;
    if name.trim().is_empty() {
        return Err("--name must not be blank".into());
    }
    text_arg("--name", &name)?;
    if owner.is_none() && parent.is_none() {
        return Err(
            "--owner is required: an account is owned by a user of the organization (US...); a subaccount without --owner is owned by its parent's owner".into(),
        );
    }
    let (store, _) = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let parent_owner = match &parent {
        Some(p) => match store.account(&org, p).await.map_err(fail)? {
            Some(a) => a.owner,
            None => return Err(format!("--parent {p} is not an account of {org}")),
        },
        None => None,
    };
    if let Some(o) = &owner
        && store.user(&org, o).await.map_err(fail)?.is_none()
    {
        return Err(format!("--owner {o} is not a user of {org}"));
    }
    // A subaccount is owned by its parent's owner unless --owner says otherwise.
    let owner = owner.or(parent_owner);
    let account = Account {
        sid: AccountSid::random(),
        org,
        parent,
        friendly_name: name,
        status: "active".into(),
        owner,
        date_created: time_fmt::now(),
    };
    store
        .create_account(&account, &Actor::cli())
        .await
        .map_err(fail)?;
    let kind = if account.parent.is_some() {
        "subaccount"
    } else {
        "account"
    };
    print(
        json,
        orgiam_server::views::account_json(&account),
        format!(
            "Created {kind} {} ({}) in {}",
            account.sid, account.friendly_name, account.org
        ),
    );
    Ok(())
}

pub(crate) async fn create_user(
    url: &DatabaseUrl,
    org: &str,
    email: String,
    name: Option<String>,
    json: bool,
) -> CmdResult {
    // Emails are compared case-insensitively: stored lower-cased.
    let email = email.trim().to_lowercase();
    let valid = email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !email.contains(' '));
    if !valid {
        return Err(format!("--email '{email}' is not an email address"));
    }
    text_arg("--email", &email)?;
    if let Some(n) = &name {
        text_arg("--name", n)?;
    }
    let (store, _) = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let user = User {
        sid: UserSid::random(),
        org,
        friendly_name: name.unwrap_or_else(|| email.clone()),
        email,
        date_created: time_fmt::now(),
    };
    store
        .create_user(&user, &Actor::cli())
        .await
        .map_err(fail)?;
    print(
        json,
        user_json(&user),
        format!("Created user {} <{}> in {}", user.sid, user.email, user.org),
    );
    Ok(())
}

fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{what} [{{bar:40}}] {{human_pos}}/{{human_len}} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

async fn import_roles(
    url: &DatabaseUrl,
    org: &str,
    file: &std::path::Path,
    json: bool,
) -> CmdResult {
    let open_file = || {
        std::fs::File::open(file)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))
    };
    let (store, _) = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let started = std::time::Instant::now();
    let refused = |e: ImportError| match e {
        ImportError::Line(m) | ImportError::Open(m) | ImportError::Catalog(m) => m,
        ImportError::Empty => format!("{} holds no roles", file.display()),
        ImportError::Store(e) => fail(e),
    };
    let total = import::check_roles(&org, open_file).map_err(refused)?;
    let bar = progress(total, "importing");
    let counter = bar.clone();
    let imported = import::import_roles(
        store.as_ref(),
        &org,
        open_file()?,
        &Actor::cli(),
        move |n| counter.inc(n),
    )
    .await
    .map_err(refused)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = imported as f64 / secs.max(1e-9);
    print(
        json,
        serde_json::json!({"org": org, "imported": imported, "seconds": (secs * 1000.0).round() / 1000.0, "roles_per_second": rate.round()}),
        format!("Imported {imported} custom roles into {org} in {secs:.2} s ({rate:.0} roles/s)."),
    );
    Ok(())
}

async fn rotate_key(url: &DatabaseUrl, revoke_old: bool, json: bool) -> CmdResult {
    let (store, master_keys, _) = open_keys(url).await?;
    let key = orgiam_server::keys::generate_signing_key().map_err(fail)?;
    let sealed = master_keys.seal_signing_key(&key).map_err(fail)?;
    store
        .rotate_signing_key(&sealed, revoke_old, &Actor::cli())
        .await
        .map_err(fail)?;
    let old = if revoke_old {
        "revoked: their tokens stop working within a second"
    } else {
        "retired: they verify until their tokens expire"
    };
    print(
        json,
        serde_json::json!({"kid": key.kid, "previous_keys": if revoke_old { "revoked" } else { "retired" }}),
        format!("New signing key {}; previous keys {old}.", key.kid),
    );
    Ok(())
}

async fn audit(
    url: &DatabaseUrl,
    org: &str,
    filter: AuditFilter,
    limit: u32,
    json: bool,
) -> CmdResult {
    let (store, _) = open(url).await?;
    let org = existing_org(store.as_ref(), url, org).await?;
    let events = store
        .list_audit_events(&org, &filter, None, limit.clamp(1, 10_000))
        .await
        .map_err(fail)?;
    let views: Vec<serde_json::Value> = events
        .iter()
        .map(|(_, e)| orgiam_server::views::event_json(e))
        .collect();
    if json {
        println!("{}", serde_json::json!({"events": views}));
        return Ok(());
    }
    if events.is_empty() {
        println!("No audit events.");
    }
    for (_, e) in &events {
        println!(
            "{}  {:<24} {:<34} by {}{}",
            time_fmt::format(e.date_created),
            e.action,
            e.target,
            e.actor,
            e.request_id
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
